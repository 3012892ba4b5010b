import { createExecutionContext, createScheduledController } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import entry from "../src/index";
import type { RunView } from "../src/runs/ledger";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { tickTask } from "../src/scheduled";
import { scheduledTask } from "../src/tasks/registry";
import {
  api,
  deliverQueue,
  event,
  fireCron,
  fireOne,
  postEvents,
  recordingEnv,
} from "./helpers/worker";

const reportCron = utcCrons["daily-sales-report"] ?? "";
const cartCron = utcCrons["abandoned-cart-recovery"] ?? "";
const worker = entry as Required<Pick<ExportedHandler<Env>, "scheduled">>;

async function allRuns(): Promise<RunView[]> {
  const { runs } = (await (await api("/api/runs?limit=100")).json()) as { runs: RunView[] };
  return runs.reverse();
}

function deliver(cron: string, slot: string, testEnv: Env = env) {
  const controller = createScheduledController({ cron, scheduledTime: Date.parse(slot) });
  return worker.scheduled(controller, testEnv, createExecutionContext());
}

describe("the dispatcher runs each task once per local slot", () => {
  it("runs the 08:00 report on the tick that is 08:00 in London, not the other", async () => {
    // Winter: 07:00 UTC is 07:00 in London (nothing due), 08:00 UTC is the slot.
    expect(await fireCron(reportCron, "2024-12-10T07:00:00Z")).toEqual([]);
    const [run] = await fireCron(reportCron, "2024-12-10T08:00:00Z");
    expect(run).toMatchObject({ slotTime: "2024-12-10T08:00:00.000Z", status: "succeeded" });
    // Summer: 07:00 UTC is 08:00 BST.
    const [summer] = await fireCron(reportCron, "2024-06-10T07:00:00Z");
    expect(summer).toMatchObject({ slotTime: "2024-06-10T07:00:00.000Z", status: "succeeded" });
    expect(await fireCron(reportCron, "2024-06-10T08:00:00Z")).toEqual([]);
  });

  it("records a second delivery of a slot as a duplicate, even arriving at once", async () => {
    await fireCron(reportCron, "2024-06-09T07:00:00Z"); // earlier slots done
    const { env: testEnv, sent } = recordingEnv();
    await Promise.all([
      deliver(reportCron, "2024-06-10T07:00:00Z", testEnv),
      deliver(reportCron, "2024-06-10T07:00:00Z", testEnv),
    ]);

    const runs = (await allRuns()).filter((r) => r.slotTime === "2024-06-10T07:00:00.000Z");
    expect(runs.map((r) => r.status).sort()).toEqual(["duplicate", "succeeded"]);
    const duplicate = runs.find((r) => r.status === "duplicate");
    const winner = runs.find((r) => r.status === "succeeded");
    expect(duplicate?.note).toMatch(/^the slot was already claimed/);
    expect(winner?.slotTime).toBe("2024-06-10T07:00:00.000Z");
    expect(sent).toHaveLength(1);
  });

  it("answers 409 when a manual run races the cron for the same slot", async () => {
    await fireOne(reportCron, "2024-06-10T07:00:00Z");
    const response = await api("/api/tasks/daily-sales-report/run?at=2024-06-10T07:00:00Z", {
      method: "POST",
    });
    expect(response.status).toBe(409);
    expect(await response.json()).toMatchObject({ status: "duplicate", trigger: "manual" });
  });

  it("records which invocation ran a slot and how late it started", async () => {
    const run = await fireOne(reportCron, "2024-06-10T07:00:00Z");
    expect(run.invocationId).toMatch(/^[0-9a-f-]{36}$/);
    // The slot is in 2024 and the run started now.
    expect(run.lateByMs).toBe(Date.parse(run.startedAt) - Date.parse("2024-06-10T07:00:00Z"));
  });
});

describe("leases: a run that died never blocks its task", () => {
  it("takes over after the lease, marks the dead run abandoned, sends nothing twice", async () => {
    await postEvents([
      // Idle 1 h 45 min at 11:30, 2 h 15 min at 12:00.
      event("cart.updated", "2024-06-10T09:45:00Z", {
        cartId: "k1",
        email: "kim@example.test",
        currency: "GBP",
        items: [{ productId: "p", name: "Vase", quantity: 1, unitPriceCents: 1500 }],
      }),
    ]);
    // The mail binding hangs: the run is stuck mid-way, holding its lock, as if it had died.
    let release = () => {};
    const hanging = new Promise<void>((resolve) => {
      release = resolve;
    });
    const sent: string[] = [];
    const stuckEnv: Env = {
      ...env,
      EMAIL: {
        async send(message: { to: string }) {
          sent.push(message.to);
          await hanging;
          return { messageId: "late" };
        },
      } as unknown as SendEmail,
    };
    await fireCron(cartCron, "2024-06-10T11:30:00Z");
    const stuck = deliver(cartCron, "2024-06-10T12:00:00Z", stuckEnv);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect((await allRuns()).at(-1)).toMatchObject({ status: "running" });

    // Half an hour later the lock is still held, but its lease has run out with no heartbeat.
    await env.DB.prepare("UPDATE task_locks SET lease_until = 0").run();
    const later = recordingEnv();
    const runs = await fireCron(cartCron, "2024-06-10T12:30:00Z", later.env, { catchUp: true });

    const all = await allRuns();
    const dead = all.find((r) => r.slotTime === "2024-06-10T12:00:00.000Z" && r.trigger === "cron");
    expect(dead?.status).toBe("abandoned");
    expect(runs.map((r) => [r.slotTime, r.trigger, r.status])).toEqual([
      ["2024-06-10T12:30:00.000Z", "cron", "succeeded"],
      ["2024-06-10T12:00:00.000Z", "cron", "missed"],
      ["2024-06-10T12:00:00.000Z", "catch-up", "succeeded"],
    ]);
    // The dead run claimed k1's reminder before it hung: nobody sends it again.
    expect(sent).toEqual(["kim@example.test"]);
    expect(later.sent).toEqual([]);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM task_locks").first()).toEqual({ n: 0 });

    // The dead run wakes up: it changes nothing in the ledger.
    release();
    await stuck;
    const after = await allRuns();
    expect(after.find((r) => r.id === dead?.id)?.status).toBe("abandoned");
  });

  it("applies the overlap policy while another run holds the task", async () => {
    await env.DB.prepare(
      "INSERT INTO task_locks (task, run_id, slot_time, lease_until) VALUES (?, 99, 0, ?)",
    )
      .bind("daily-sales-report", Date.now() + 60_000)
      .run();
    const queued: unknown[] = [];
    const WORK_QUEUE = {
      async send(body: unknown) {
        queued.push(body);
      },
    } as unknown as Queue;

    const [run] = await fireCron(reportCron, "2024-06-10T07:00:00Z", { ...env, WORK_QUEUE });

    expect(run).toMatchObject({
      status: "skipped",
      note: "run 99 of this task was still running; one retry is queued",
    });
    expect(queued).toEqual([
      { kind: "run-slot", task: "daily-sales-report", slotTime: Date.parse("2024-06-10T07:00Z") },
    ]);
  });
});

describe("missed slots and steering", () => {
  it("records slots nobody ran and runs them late when the task's policy says so", async () => {
    // A fresh Worker ticks on 12 June: 11 June's slot (in the 48 h window) was never run.
    const runs = await fireCron(reportCron, "2024-06-12T07:00:00Z", env, { catchUp: true });
    expect(runs.map((r) => [r.slotTime, r.trigger, r.status])).toEqual([
      ["2024-06-12T07:00:00.000Z", "cron", "succeeded"],
      ["2024-06-11T07:00:00.000Z", "cron", "missed"],
      ["2024-06-11T07:00:00.000Z", "catch-up", "succeeded"],
    ]);
    const reported = runs
      .filter((r) => r.status === "succeeded")
      .map((r) => (r.result as { date: string }).date);
    expect(reported).toEqual(["2024-06-11", "2024-06-10"]);

    // The next tick finds nothing more to catch up.
    const next = await fireCron(reportCron, "2024-06-13T07:00:00Z", env, { catchUp: true });
    expect(next.map((r) => r.status)).toEqual(["succeeded"]);
  });

  it("records missed slots without running them when the task's policy is skip", async () => {
    const cleanup = scheduledTask("data-cleanup");
    if (!cleanup) throw new Error("no data-cleanup task");
    const skipping = { ...cleanup, missedSlots: "skip" as const };
    // 12:00 BST; the 06:00 BST slot (05:00Z) lies in the 12-hour window and was never run.
    await tickTask(env, skipping, Date.parse("2024-06-10T11:00:00Z"), "test", "inv-1");

    const runs = await allRuns();
    expect(runs.map((r) => [r.slotTime, r.status, r.note])).toEqual([
      ["2024-06-10T11:00:00.000Z", "succeeded", null],
      [
        "2024-06-10T05:00:00.000Z",
        "missed",
        "no run took this slot in time; skipped by the task's policy",
      ],
    ]);
  });

  it("runs a queued retry of an overlapping slot once the task is free", async () => {
    const outcome = await deliverQueue("shop-tasks-work", [
      { kind: "run-slot", task: "daily-sales-report", slotTime: Date.parse("2024-06-10T07:00Z") },
    ]);
    expect(outcome.explicitAcks).toEqual(["msg-0"]);
    const [run] = await allRuns();
    expect(run).toMatchObject({
      trigger: "retry",
      status: "succeeded",
      slotTime: "2024-06-10T07:00:00.000Z",
    });
  });

  it("records a paused task's slots as skipped until it is resumed", async () => {
    const paused = await api("/api/tasks/daily-sales-report/pause", { method: "POST" });
    expect(await paused.json()).toEqual({ task: "daily-sales-report", paused: true });
    const [skipped] = await fireCron(reportCron, "2024-06-10T07:00:00Z");
    expect(skipped).toMatchObject({ status: "skipped", note: "the task is paused" });

    await api("/api/tasks/daily-sales-report/resume", { method: "POST" });
    const run = await fireOne(reportCron, "2024-06-11T07:00:00Z");
    expect(run.status).toBe("succeeded");
  });

  it("shows the schedule in local and UTC terms with the next five runs", async () => {
    const response = await api("/api/tasks/daily-sales-report");
    const task = (await response.json()) as {
      schedule: Record<string, string>;
      nextRuns: { utc: string; local: string }[];
    };
    expect(task.schedule).toEqual({
      expression: "0 8 * * *",
      timeZone: "Europe/London",
      localCron: "0 8 * * *",
      utcCron: "0 7,8 * * *",
    });
    expect(task.nextRuns).toHaveLength(5);
    for (const { utc, local } of task.nextRuns) {
      expect(local).toMatch(/T08:00:00\.000\+0[01]:00$/);
      expect(Date.parse(local)).toBe(Date.parse(utc));
    }
  });

  it("runs a dry run without claiming the slot or sending anything", async () => {
    await postEvents([
      event("cart.updated", "2024-06-10T09:00:00Z", {
        cartId: "k9",
        email: "dry@example.test",
        currency: "GBP",
        items: [{ productId: "p", quantity: 2, unitPriceCents: 300 }],
      }),
    ]);
    const { env: testEnv, sent } = recordingEnv();
    const response = await api(
      "/api/tasks/abandoned-cart-recovery/run?at=2024-06-10T12:00:00Z&dryRun=true",
      { method: "POST" },
      testEnv,
    );
    expect(response.status).toBe(201);
    const dry = (await response.json()) as RunView & {
      result: { plan: { reminders: { cartId: string; recipient: string }[] } };
    };
    expect(dry).toMatchObject({ dryRun: true, trigger: "manual", status: "succeeded" });
    expect(dry.result.plan.reminders).toMatchObject([
      { cartId: "k9", recipient: "d***@example.test", cartTotalCents: 600 },
    ]);
    expect(sent).toEqual([]);

    // The real slot is still free: the cron runs it and sends the reminder the plan listed.
    const real = recordingEnv();
    const run = await fireOne(cartCron, "2024-06-10T12:00:00Z", real.env);
    expect(run.dryRun).toBe(false);
    expect(real.sent.map((mail) => mail.to)).toEqual(["dry@example.test"]);
    const logs = await env.DB.prepare("SELECT run_id AS runId FROM app_logs").all();
    expect(logs.results).toEqual([{ runId: run.id }]);
  });

  it("refuses a manual run for a slot whose time has not come, or before 2000", async () => {
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const future = await api(`/api/tasks/daily-sales-report/run?at=${tomorrow}`, {
      method: "POST",
    });
    expect(future.status).toBe(400);
    expect(await future.text()).toContain("at: is in the future");
    const ancient = await api("/api/tasks/daily-sales-report/run?at=0099-06-02T08:00:00Z", {
      method: "POST",
    });
    expect(ancient.status).toBe(400);
    expect(await ancient.text()).toContain("at: must be in the year 2000 or later");
  });

  it("reads a manual run's `at` as the latest slot at or before it", async () => {
    await fireOne(reportCron, "2024-06-10T07:00:00Z");
    // A millisecond after 08:00 BST, and 09:30 BST: both name the 08:00 slot, already run.
    for (const at of ["2024-06-10T07:00:00.001Z", "2024-06-10T08:30:00Z"]) {
      const response = await api(`/api/tasks/daily-sales-report/run?at=${at}`, {
        method: "POST",
      });
      expect(response.status).toBe(409);
      expect(await response.json()).toMatchObject({ slotTime: "2024-06-10T07:00:00.000Z" });
    }
  });

  it("keeps a slot skipped while paused skipped after the resume", async () => {
    await fireCron(reportCron, "2024-06-09T07:00:00Z");
    await api("/api/tasks/daily-sales-report/pause", { method: "POST" });
    await fireCron(reportCron, "2024-06-10T07:00:00Z", env, { catchUp: true });
    await api("/api/tasks/daily-sales-report/resume", { method: "POST" });

    const runs = await fireCron(reportCron, "2024-06-11T07:00:00Z", env, { catchUp: true });
    // Only the 11 June slot runs; 10 June stays skipped, nothing is caught up.
    expect(runs.map((r) => [r.slotTime, r.status])).toEqual([
      ["2024-06-11T07:00:00.000Z", "succeeded"],
    ]);
  });

  it("leaves a finished run's slot alone when only its lock was left behind", async () => {
    const run = await fireOne(reportCron, "2024-06-10T07:00:00Z");
    // The run finished, then its invocation died before dropping the lock.
    await env.DB.prepare(
      "INSERT INTO task_locks (task, run_id, slot_time, lease_until) VALUES (?, ?, ?, 0)",
    )
      .bind("daily-sales-report", run.id, Date.parse("2024-06-10T07:00:00Z"))
      .run();

    const next = await fireCron(reportCron, "2024-06-11T07:00:00Z", env, { catchUp: true });
    expect(next.map((r) => [r.slotTime, r.status])).toEqual([
      ["2024-06-11T07:00:00.000Z", "succeeded"],
    ]);
    const first = (await allRuns()).find((r) => r.id === run.id);
    expect(first?.status).toBe("succeeded");
  });

  it("frees a claim whose invocation died before it could start the run", async () => {
    await env.DB.prepare(
      "INSERT INTO slot_claims (task, slot_time, run_id, claimed_at) VALUES (?, ?, NULL, ?)",
    )
      .bind("daily-sales-report", Date.parse("2024-06-10T07:00:00Z"), Date.now() - 3 * 60_000)
      .run();
    const run = await fireOne(reportCron, "2024-06-10T07:00:00Z");
    expect(run.status).toBe("succeeded");
  });

  it("validates a manual run's slot", async () => {
    const response = await api("/api/tasks/daily-sales-report/run?at=yesterday", {
      method: "POST",
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("at: must be an ISO-8601 instant");
  });
});
