/**
 * Runs one task for one slot, at most once: it claims the slot, takes the task's lock (or applies
 * the overlap policy), keeps the lock's lease alive with heartbeats, and records every outcome
 * in the ledger, including the runs that did not happen and why. A failed run, or one whose
 * result reports too many errors, raises an alert; a good run closes them.
 */
import { alertOnRun, alertOnStuckEmails } from "../alerts/watch";
import { database } from "../db/client";
import { appLogs } from "../db/schema";
import { countStatements } from "../db/statement-counter";
import { errorMessage, log } from "../lib/log";
import { scheduleCron } from "../schedule/task-schedule";
import { storeFrom } from "../store";
import { type ScheduledTask, zoneOf } from "../tasks/registry";
import {
  cacheLatestRun,
  finishRun,
  type RunRequest,
  type RunView,
  readRun,
  recordNonRun,
  startRun,
} from "./ledger";
import {
  acquireTaskLock,
  bindClaim,
  claimSlot,
  dropStaleClaims,
  heartbeatEveryMs,
  isPaused,
  reapExpiredLock,
  releaseSlot,
  releaseTaskLock,
  renewLease,
  slotOwner,
} from "./slot-claims";

export interface SlotRequest {
  slotTime: number;
  cron: string | null;
  trigger: RunRequest["trigger"];
  invocationId: string;
  dryRun?: boolean;
  /** The caller already holds the slot's claim (a catch-up of a missed slot). */
  alreadyClaimed?: boolean;
  /** When the run's e-mails go out (see TaskContext.sendAt); the slot's time by default. */
  sendAt?: number;
  /** A manual run for a past slot (see TaskContext.replay). */
  replay?: boolean;
}

/** A slot the task could not run now because another run holds the task. */
export interface DeferredSlot {
  kind: "run-slot";
  task: string;
  slotTime: number;
}

export async function runSlot(env: Env, entry: ScheduledTask, slot: SlotRequest): Promise<RunView> {
  const db = database(env);
  const task = entry.task;
  const { alreadyClaimed, sendAt = slot.slotTime, replay = false, ...requested } = slot;
  const timing = { sendAt, replay };
  const request: RunRequest = { task: task.name, ...requested };
  const now = Date.now();

  if (slot.dryRun) return execute(env, entry, request, timing);

  if (slot.trigger !== "manual" && (await isPaused(db, task.name))) {
    // The slot is claimed as skipped, so no catch-up runs it after the task is resumed.
    const claimed = alreadyClaimed || (await claimSlot(db, task.name, slot.slotTime, now));
    const note = claimed ? "the task is paused" : "the task is paused (slot already claimed)";
    const id = await recordNonRun(db, request, "skipped", note, now);
    if (claimed) await bindClaim(db, task.name, slot.slotTime, id);
    return settled(db, id);
  }

  await dropStaleClaims(db, task.name, now);
  const abandoned = await reapExpiredLock(db, task.name, now);
  if (abandoned !== null) {
    log("warn", "run.abandoned", { runId: abandoned, task: task.name, takenOverAt: now });
  }

  if (!alreadyClaimed && !(await claimSlot(db, task.name, slot.slotTime, now))) {
    const owner = await slotOwner(db, task.name, slot.slotTime);
    const note = owner?.runId
      ? `the slot was already claimed by run ${owner.runId}`
      : "the slot was already claimed";
    const id = await recordNonRun(db, request, "duplicate", note, now);
    log("info", "run.duplicate", { runId: id, task: task.name, slotTime: slot.slotTime });
    return settled(db, id);
  }

  const runId = await startRun(db, request, now);
  await bindClaim(db, task.name, slot.slotTime, runId);
  const lock = await acquireTaskLock(db, task.name, runId, slot.slotTime, now);
  if (!lock.acquired) return handleOverlap(env, entry, request, runId, lock.heldBy);

  try {
    return await execute(env, entry, request, timing, runId);
  } finally {
    await releaseTaskLock(db, task.name, runId);
  }
}

/** Another run of the task is going: skip this slot, or queue one retry of it. */
async function handleOverlap(
  env: Env,
  entry: ScheduledTask,
  request: RunRequest,
  runId: number,
  heldBy: number,
): Promise<RunView> {
  const db = database(env);
  let note = `run ${heldBy} of this task was still running`;
  if (entry.overlap === "queue-one") {
    // The slot is released so that the queued retry can claim it.
    await releaseSlot(db, request.task, request.slotTime);
    const retry: DeferredSlot = {
      kind: "run-slot",
      task: request.task,
      slotTime: request.slotTime,
    };
    await env.WORK_QUEUE.send(retry, { delaySeconds: 60 });
    note += "; one retry is queued";
  }
  await finishRun(db, runId, { status: "skipped", note }, Date.now());
  log("warn", "run.overlap", { runId, task: request.task, heldBy, policy: entry.overlap });
  return settled(db, runId);
}

/** Runs the task with a D1 binding that counts its statements, and records the outcome. */
async function execute(
  env: Env,
  entry: ScheduledTask,
  request: RunRequest,
  { sendAt, replay }: { sendAt: number; replay: boolean },
  claimedRunId?: number,
): Promise<RunView> {
  const db = database(env);
  const store = storeFrom(env);
  const runId = claimedRunId ?? (await startRun(db, request, Date.now()));
  const ids = { runId, task: request.task, slotTime: new Date(request.slotTime).toISOString() };
  log("info", "run.started", { ...ids, trigger: request.trigger, dryRun: request.dryRun });

  const heartbeat = claimedRunId
    ? setInterval(() => {
        renewLease(db, request.task, runId, Date.now()).catch((error) =>
          log("warn", "run.heartbeat_failed", { ...ids, error: errorMessage(error) }),
        );
      }, heartbeatEveryMs)
    : null;
  const counted = countStatements(env.DB);
  const taskEnv = { ...env, DB: counted.d1 };
  try {
    const result = await entry.task.run({
      env: taskEnv,
      db: database(taskEnv),
      store,
      slotTime: request.slotTime,
      runId,
      sendAt,
      replay,
      cron: scheduleCron(entry.schedule.expression),
      timeZone: zoneOf(entry, store.timeZone),
      dryRun: request.dryRun ?? false,
    });
    const d1Statements = counted.statements();
    await finishRun(db, runId, { status: "succeeded", result, d1Statements }, Date.now());
    log("info", "run.succeeded", ids);
  } catch (error) {
    const message = errorMessage(error);
    const d1Statements = counted.statements();
    await finishRun(db, runId, { status: "failed", error: message, d1Statements }, Date.now());
    log("error", "run.failed", { ...ids, error: message });
  } finally {
    if (heartbeat) clearInterval(heartbeat);
  }

  const run = await settled(db, runId);
  if (!run.dryRun) {
    await cacheLatestRun(env.CACHE, run);
    await alertOnRun(env, run);
    await alertOnStuckEmails(env);
  }
  if (run.dryRun) return run;
  await db.insert(appLogs).values({
    at: Date.now(),
    level: run.status === "failed" ? "error" : "info",
    event: `run.${run.status}`,
    runId,
    detail: run.error,
  });
  return run;
}

async function settled(db: ReturnType<typeof database>, runId: number): Promise<RunView> {
  const run = await readRun(db, runId);
  if (!run) throw new Error(`run ${runId} vanished from the ledger`);
  return run;
}

/** A cron that matches no task is an error to see, not to ignore: it is recorded as a run. */
export async function recordUnmatchedCron(
  env: Env,
  cron: string,
  slotTime: number,
  invocationId: string,
): Promise<RunView> {
  const db = database(env);
  const now = Date.now();
  const request: RunRequest = {
    task: "unmatched-cron",
    cron,
    slotTime,
    trigger: "cron",
    invocationId,
  };
  const runId = await startRun(db, request, now);
  const error = `no task is scheduled by cron "${cron}"`;
  await finishRun(db, runId, { status: "failed", error }, now);
  log("error", "cron.unmatched", { runId, cron });
  const run = await settled(db, runId);
  await alertOnRun(env, run);
  return run;
}
