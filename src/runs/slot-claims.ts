/**
 * Exactly one run per (task, slot), and at most one running run per task. Both are rows with a
 * unique key in D1 (KV is only eventually consistent, so it can never be a lock): inserting the
 * row is the claim, and `meta.changes` or `RETURNING` says who won.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";

/** How long a run holds its task's lock without a heartbeat before others may take it over. */
export const leaseMs = 2 * 60_000;
export const heartbeatEveryMs = 30_000;

export async function claimSlot(db: Database, task: string, slotTime: number, now: number) {
  const result = await db.run(sql`INSERT INTO slot_claims (task, slot_time, claimed_at)
    VALUES (${task}, ${slotTime}, ${now}) ON CONFLICT (task, slot_time) DO NOTHING`);
  return result.meta.changes === 1;
}

export async function slotOwner(db: Database, task: string, slotTime: number) {
  const [row] = await db.all<{ runId: number | null }>(sql`SELECT run_id AS runId
    FROM slot_claims WHERE task = ${task} AND slot_time = ${slotTime}`);
  return row ?? null;
}

export async function bindClaim(db: Database, task: string, slotTime: number, runId: number) {
  await db.run(sql`UPDATE slot_claims SET run_id = ${runId}
    WHERE task = ${task} AND slot_time = ${slotTime}`);
}

export async function releaseSlot(db: Database, task: string, slotTime: number) {
  await db.run(sql`DELETE FROM slot_claims WHERE task = ${task} AND slot_time = ${slotTime}`);
}

/**
 * A claim with no run after a whole lease was left by an invocation that died between claiming
 * and starting: it is dropped so that the slot can be claimed again.
 */
export async function dropStaleClaims(db: Database, task: string, now: number) {
  await db.run(sql`DELETE FROM slot_claims
    WHERE task = ${task} AND run_id IS NULL AND claimed_at < ${now - leaseMs}`);
}

/** The slots of `task` among `slotTimes` that nobody has claimed. */
export async function unclaimedSlots(
  db: Database,
  task: string,
  slotTimes: readonly number[],
): Promise<number[]> {
  if (slotTimes.length === 0) return [];
  const claimed = await db.all<{ slotTime: number }>(sql`SELECT slot_time AS slotTime
    FROM slot_claims WHERE task = ${task}
      AND slot_time IN (SELECT value FROM json_each(${JSON.stringify(slotTimes)}))`);
  const taken = new Set(claimed.map((row) => row.slotTime));
  return slotTimes.filter((slot) => !taken.has(slot));
}

/**
 * A run whose lease ran out died without finishing (the Worker was killed, the isolate crashed):
 * it is marked `abandoned`, its lock is dropped and its slot released, so the next tick can run
 * the task and the catch-up can run that slot again. Answers the abandoned run's id.
 */
export async function reapExpiredLock(
  db: Database,
  task: string,
  now: number,
): Promise<number | null> {
  const [dead] = await db.all<{ runId: number; slotTime: number }>(
    sql`SELECT run_id AS runId, slot_time AS slotTime FROM task_locks
      WHERE task = ${task} AND lease_until < ${now}`,
  );
  if (!dead) return null;
  const marked = await db.run(sql`UPDATE runs SET status = 'abandoned', finished_at = ${now},
      note = 'its lease expired without a heartbeat'
    WHERE id = ${dead.runId} AND status = 'running'`);
  // A run that finished but died before dropping its lock keeps its slot: it did its work.
  if (marked.meta.changes === 1) {
    await db.run(sql`DELETE FROM slot_claims
      WHERE task = ${task} AND slot_time = ${dead.slotTime} AND run_id = ${dead.runId}`);
  }
  await db.run(sql`DELETE FROM task_locks
    WHERE task = ${task} AND run_id = ${dead.runId} AND lease_until < ${now}`);
  return dead.runId;
}

/** Takes the task's lock for `runId`; answers the holder's run id when it is taken. */
export async function acquireTaskLock(
  db: Database,
  task: string,
  runId: number,
  slotTime: number,
  now: number,
): Promise<{ acquired: true } | { acquired: false; heldBy: number }> {
  const result = await db.run(sql`INSERT INTO task_locks (task, run_id, slot_time, lease_until)
    VALUES (${task}, ${runId}, ${slotTime}, ${now + leaseMs}) ON CONFLICT (task) DO NOTHING`);
  if (result.meta.changes === 1) return { acquired: true };
  const [holder] = await db.all<{ runId: number }>(
    sql`SELECT run_id AS runId FROM task_locks WHERE task = ${task}`,
  );
  return { acquired: false, heldBy: holder?.runId ?? -1 };
}

export async function renewLease(db: Database, task: string, runId: number, now: number) {
  await db.run(sql`UPDATE task_locks SET lease_until = ${now + leaseMs}
    WHERE task = ${task} AND run_id = ${runId}`);
  await db.run(sql`UPDATE runs SET heartbeat_at = ${now} WHERE id = ${runId}`);
}

export async function releaseTaskLock(db: Database, task: string, runId: number) {
  await db.run(sql`DELETE FROM task_locks WHERE task = ${task} AND run_id = ${runId}`);
}

export async function isPaused(db: Database, task: string): Promise<boolean> {
  const [row] = await db.all<{ paused: number }>(
    sql`SELECT paused FROM task_state WHERE task = ${task}`,
  );
  return row?.paused === 1;
}

export async function setPaused(db: Database, task: string, paused: boolean, now: number) {
  await db.run(sql`INSERT INTO task_state (task, paused, changed_at)
    VALUES (${task}, ${paused ? 1 : 0}, ${now})
    ON CONFLICT (task) DO UPDATE SET paused = excluded.paused, changed_at = excluded.changed_at`);
}
