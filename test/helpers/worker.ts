/** Drives the real Worker inside the test runtime: its fetch, its crons and its queue. */
import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import entry from "../../src/index";
import type { RunView } from "../../src/runs/ledger";
import { runSlot } from "../../src/runs/runner";
import { slotsBetween } from "../../src/schedule/task-schedule";
import { tasksForUtcCron } from "../../src/scheduled";
import { scheduledTask } from "../../src/tasks/registry";

export const token = "test-api-token";

/** The Worker as the runtime sees it: every handler takes (input, env, ctx). */
const worker = entry as Required<Pick<ExportedHandler<Env>, "fetch" | "scheduled" | "queue">>;

export interface SentEmail {
  to: string;
  subject: string;
  html: string;
  text: string;
  headers?: Record<string, string>;
}

/** The real bindings, with the mail binding wrapped to keep a copy of what was sent. */
export function recordingEnv(overrides: Partial<Env> = {}) {
  const sent: SentEmail[] = [];
  const testEnv: Env = {
    ...env,
    EMAIL: {
      async send(message: SentEmail) {
        sent.push(message);
        return env.EMAIL.send(message as never);
      },
    } as SendEmail,
    ...overrides,
  };
  return { env: testEnv, sent };
}

export async function api(
  path: string,
  init: RequestInit & { json?: unknown } = {},
  testEnv: Env = env,
): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("Authorization")) headers.set("Authorization", `Bearer ${token}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set("Content-Type", "application/json");
    body = JSON.stringify(init.json);
  }
  const ctx = createExecutionContext();
  const request = new Request(`http://shop.test${path}`, { ...init, headers, body });
  const incoming = request as Request<unknown, IncomingRequestCfProperties>;
  const response = await worker.fetch(incoming, testEnv, ctx);
  await waitOnExecutionContext(ctx);
  return response;
}

export async function postEvents(events: unknown[], testEnv: Env = env) {
  const response = await api("/api/events", { method: "POST", json: { events } }, testEnv);
  return {
    status: response.status,
    body: (await response.json()) as {
      accepted: number;
      duplicates: number;
      rejected: { index: number; id: string | null; error: string }[];
    },
  };
}

/**
 * Fires a cron as Cloudflare would and answers the runs it recorded. Unless `catchUp` is set, the
 * slots before this one in each task's catch-up window count as done, as on a Worker that has been
 * running all along, so a test sees only the slot it fires.
 */
export async function fireCron(
  cron: string,
  slot: string,
  testEnv: Env = env,
  options: { catchUp?: boolean } = {},
): Promise<RunView[]> {
  if (!options.catchUp) await markEarlierSlotsDone(cron, Date.parse(slot));
  const before = await latestRunId();
  const controller = createScheduledController({ cron, scheduledTime: Date.parse(slot) });
  const ctx = createExecutionContext();
  await worker.scheduled(controller, testEnv, ctx);
  await waitOnExecutionContext(ctx);
  const response = await api(`/api/runs?limit=100`);
  const { runs } = (await response.json()) as { runs: RunView[] };
  return runs.filter((run) => run.id > before).reverse();
}

/** Fires a cron and answers the one run that executed a task (not a duplicate or a miss). */
export async function fireOne(
  cron: string,
  slot: string,
  testEnv: Env = env,
  options: { catchUp?: boolean } = {},
) {
  const runs = await fireCron(cron, slot, testEnv, options);
  const run = runs.find((r) => r.status === "succeeded" || r.status === "failed");
  if (!run) throw new Error(`cron ${cron} recorded no run`);
  return run as RunView & { result: Record<string, any> };
}

async function markEarlierSlotsDone(cron: string, tickTime: number): Promise<void> {
  for (const entry of tasksForUtcCron(cron)) {
    const zone = entry.schedule.timeZone ?? env.STORE_TIMEZONE;
    const window = tickTime - entry.catchUpWindowMs;
    const earlier = slotsBetween(entry.schedule.expression, zone, window, tickTime - 60_000);
    for (const slotTime of earlier) {
      await env.DB.prepare(
        // Run 0 stands for "a run before this test".
        `INSERT INTO slot_claims (task, slot_time, run_id, claimed_at) VALUES (?, ?, 0, 0)
          ON CONFLICT DO NOTHING`,
      )
        .bind(entry.task.name, slotTime)
        .run();
    }
  }
}

async function latestRunId(): Promise<number> {
  const row = await env.DB.prepare("SELECT max(id) AS id FROM runs").first<{ id: number | null }>();
  return row?.id ?? 0;
}

/** Delivers queue messages to the Worker's consumer and answers what it acked and retried. */
export async function deliverQueue(
  queue: string,
  bodies: unknown[],
  testEnv: Env = env,
  attempts = 1,
) {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, testEnv, ctx);
  return getQueueResult(batch, ctx);
}

/** Builds an event with an id and an ISO instant. */
let counter = 0;
export function event(type: string, occurredAt: string, data: Record<string, unknown>) {
  counter += 1;
  return { id: `test-${type}-${counter}`, type, occurredAt, data };
}

/**
 * Runs a task for a slot straight through the runner, past the API's slot snapping: how a
 * second run of the same work would look if the slot layer ever let one through.
 */
export async function runDirectly(taskName: string, slot: string, testEnv: Env = env) {
  const entry = scheduledTask(taskName);
  if (!entry) throw new Error(`no task ${taskName}`);
  const run = await runSlot(testEnv, entry, {
    slotTime: Date.parse(slot),
    cron: null,
    trigger: "manual",
    invocationId: "test",
  });
  return run as RunView & { result: Record<string, any> };
}
