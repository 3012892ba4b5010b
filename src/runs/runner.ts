/**
 * Runs one task for one slot and records it: the run row is written before the task starts and
 * settled after, so a failure is always visible in the ledger with its error.
 */
import { database } from "../db/client";
import { appLogs } from "../db/schema";
import { countStatements } from "../db/statement-counter";
import { errorMessage, log } from "../lib/log";
import { storeFrom } from "../store";
import type { Task } from "../tasks/task";
import {
  cacheLatestRun,
  finishRun,
  type RunTrigger,
  type RunView,
  readRun,
  startRun,
} from "./ledger";

export async function runTask(
  env: Env,
  task: Task,
  slot: { slotTime: number; cron: string; trigger: RunTrigger },
): Promise<RunView> {
  const db = database(env);
  const store = storeFrom(env);
  const runId = await startRun(
    db,
    { task: task.name, cron: slot.cron, slotTime: slot.slotTime, trigger: slot.trigger },
    Date.now(),
  );
  const ids = { runId, task: task.name, slotTime: new Date(slot.slotTime).toISOString() };
  log("info", "run.started", { ...ids, trigger: slot.trigger });

  // The task gets a D1 binding that counts its statements; the ledger's own are not counted.
  const counted = countStatements(env.DB);
  const taskEnv = { ...env, DB: counted.d1 };
  try {
    const result = await task.run({
      env: taskEnv,
      db: database(taskEnv),
      store,
      slotTime: slot.slotTime,
      runId,
      cron: task.cron,
      dryRun: false,
    });
    const d1Statements = counted.statements();
    await finishRun(db, runId, { status: "succeeded", result, d1Statements }, Date.now());
    log("info", "run.succeeded", ids);
  } catch (error) {
    const message = errorMessage(error);
    const d1Statements = counted.statements();
    await finishRun(db, runId, { status: "failed", error: message, d1Statements }, Date.now());
    log("error", "run.failed", { ...ids, error: message });
  }

  const run = await readRun(db, runId);
  if (!run) throw new Error(`run ${runId} vanished from the ledger`);
  await cacheLatestRun(env.CACHE, run);
  await db.insert(appLogs).values({
    at: Date.now(),
    level: run.status === "failed" ? "error" : "info",
    event: `run.${run.status}`,
    runId,
    detail: run.error,
  });
  return run;
}

/** A cron that matches no task is an error to see, not to ignore: it is recorded as a run. */
export async function recordUnmatchedCron(
  env: Env,
  cron: string,
  slotTime: number,
): Promise<RunView | null> {
  const db = database(env);
  const now = Date.now();
  const runId = await startRun(
    db,
    { task: "unmatched-cron", cron, slotTime, trigger: "cron" },
    now,
  );
  const error = `no task is scheduled by cron "${cron}"`;
  await finishRun(db, runId, { status: "failed", error }, now);
  log("error", "cron.unmatched", { runId, cron });
  return readRun(db, runId);
}
