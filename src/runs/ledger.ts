/**
 * The run ledger: one D1 row per task invocation, and the last result of each task cached in KV
 * for fast reads (KV may lag by a minute; D1 stays the record).
 */
import { and, desc, eq, inArray, lt, type SQL } from "drizzle-orm";
import type { Database } from "../db/client";
import { runs } from "../db/schema";

export type RunTrigger = "cron" | "manual" | "retry" | "catch-up";
export type RunStatus =
  | "running"
  | "succeeded"
  | "failed"
  | "duplicate"
  | "missed"
  | "skipped"
  | "abandoned";
export const runStatuses: readonly RunStatus[] = [
  "running",
  "succeeded",
  "failed",
  "duplicate",
  "missed",
  "skipped",
  "abandoned",
];

/** Who asked for a run: the slot, how, and which Worker invocation. */
export interface RunRequest {
  task: string;
  cron: string | null;
  slotTime: number;
  trigger: RunTrigger;
  invocationId: string;
  dryRun?: boolean;
}

export interface RunView {
  id: number;
  task: string;
  cron: string | null;
  slotTime: string;
  trigger: RunTrigger;
  status: RunStatus;
  startedAt: string;
  finishedAt: string | null;
  result: unknown;
  error: string | null;
  /** Why it did not run, for `duplicate`, `missed`, `skipped` and `abandoned`. */
  note: string | null;
  dryRun: boolean;
  invocationId: string | null;
  /** How long after its slot it started, ms. */
  lateByMs: number | null;
  heartbeatAt: string | null;
  /** What the run cost: wall time and D1 statements (null while running). */
  metrics: { durationMs: number | null; d1Statements: number | null };
}

export async function startRun(db: Database, run: RunRequest, startedAt: number): Promise<number> {
  return insertRun(db, run, { status: "running", startedAt });
}

/** A slot that was not run, recorded with the reason: it is as visible as a run. */
export async function recordNonRun(
  db: Database,
  run: RunRequest,
  status: "duplicate" | "missed" | "skipped",
  note: string,
  at: number,
): Promise<number> {
  return insertRun(db, run, { status, startedAt: at, finishedAt: at, note });
}

async function insertRun(
  db: Database,
  run: RunRequest,
  outcome: { status: RunStatus; startedAt: number; finishedAt?: number; note?: string },
): Promise<number> {
  const [row] = await db
    .insert(runs)
    .values({
      task: run.task,
      cron: run.cron,
      slotTime: run.slotTime,
      trigger: run.trigger,
      invocationId: run.invocationId,
      dryRun: run.dryRun ?? false,
      lateByMs: outcome.startedAt - run.slotTime,
      ...outcome,
    })
    .returning({ id: runs.id });
  if (!row) throw new Error("the run ledger did not return the new run's id");
  return row.id;
}

export async function finishRun(
  db: Database,
  id: number,
  outcome: {
    status: "succeeded" | "failed" | "skipped";
    result?: unknown;
    error?: string;
    note?: string;
    d1Statements?: number;
  },
  finishedAt: number,
): Promise<void> {
  await db
    .update(runs)
    .set({
      status: outcome.status,
      finishedAt,
      result: outcome.result === undefined ? null : JSON.stringify(outcome.result),
      error: outcome.error ?? null,
      d1Statements: outcome.d1Statements ?? null,
      note: outcome.note ?? null,
    })
    .where(and(eq(runs.id, id), eq(runs.status, "running")));
}

/** Replaces a finished run's result, for tasks whose work completes later (the newsletter). */
export async function updateRunResult(db: Database, id: number, result: unknown): Promise<void> {
  await db
    .update(runs)
    .set({ result: JSON.stringify(result) })
    .where(eq(runs.id, id));
}

export async function readRun(db: Database, id: number): Promise<RunView | null> {
  const [row] = await db.select().from(runs).where(eq(runs.id, id)).limit(1);
  return row ? viewOf(row) : null;
}

export async function listRuns(
  db: Database,
  filter: { task?: string; status?: RunStatus; before?: number; limit: number },
): Promise<RunView[]> {
  const conditions: SQL[] = [];
  if (filter.task) conditions.push(eq(runs.task, filter.task));
  if (filter.status) conditions.push(eq(runs.status, filter.status));
  if (filter.before !== undefined) conditions.push(lt(runs.id, filter.before));
  const rows = await db
    .select()
    .from(runs)
    .where(and(...conditions))
    .orderBy(desc(runs.id))
    .limit(filter.limit);
  return rows.map(viewOf);
}

const latestKey = (task: string) => `latest-run:${task}`;

export async function cacheLatestRun(cache: KVNamespace, run: RunView): Promise<void> {
  await cache.put(latestKey(run.task), JSON.stringify(run));
}

/** The last finished run of a task: KV first, D1 when KV has nothing yet. */
export async function latestRun(
  db: Database,
  cache: KVNamespace,
  task: string,
): Promise<RunView | null> {
  const cached = await cache.get<RunView>(latestKey(task), "json");
  if (cached) return cached;
  // As in the cache: the last run that did the task, not a duplicate, a miss or a dry run.
  const [row] = await db
    .select()
    .from(runs)
    .where(
      and(
        eq(runs.task, task),
        inArray(runs.status, ["running", "succeeded", "failed"]),
        eq(runs.dryRun, false),
      ),
    )
    .orderBy(desc(runs.id))
    .limit(1);
  return row ? viewOf(row) : null;
}

function viewOf(row: typeof runs.$inferSelect): RunView {
  return {
    id: row.id,
    task: row.task,
    cron: row.cron,
    slotTime: new Date(row.slotTime).toISOString(),
    trigger: row.trigger,
    status: row.status,
    startedAt: new Date(row.startedAt).toISOString(),
    finishedAt: row.finishedAt === null ? null : new Date(row.finishedAt).toISOString(),
    result: row.result === null ? null : JSON.parse(row.result),
    error: row.error,
    note: row.note,
    dryRun: row.dryRun,
    invocationId: row.invocationId,
    lateByMs: row.lateByMs,
    heartbeatAt: row.heartbeatAt === null ? null : new Date(row.heartbeatAt).toISOString(),
    metrics: {
      durationMs: row.finishedAt === null ? null : row.finishedAt - row.startedAt,
      d1Statements: row.d1Statements,
    },
  };
}
