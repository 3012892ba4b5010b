/**
 * Every 6 hours: deletes expired sessions, stale temporary files, old log rows and failed uploads,
 * each in bounded batches so one run never outlives its time budget. What a run could not reach
 * is left for the next one and said in the result.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { nextFireTime } from "../lib/cron";
import type { Task, TaskContext } from "./task";

const hour = 3_600_000;
const day = 24 * hour;
export const sessionIdleLimitMs = day;
export const temporaryFileAgeMs = hour;
export const logRetentionMs = 30 * day;
export const failedUploadAgeMs = day;
const rowsPerBatch = 500;
const maxBatches = 40;
/** R2 deletes at most 1,000 keys per call. */
const keysPerDelete = 1000;
const maxListPages = 10;

export const dataCleanup: Task = {
  name: "data-cleanup",
  cron: "0 */6 * * *",
  description: "Deletes expired sessions, old temporary files, old log rows and failed uploads.",
  run: cleanUp,
};

async function cleanUp(context: TaskContext) {
  const { db, slotTime } = context;
  const started = Date.now();
  const sizeBefore = await databaseSize(db);

  const expiredSessions = await deleteInBatches(
    db,
    (limit) => sql`DELETE FROM sessions WHERE id IN (SELECT id FROM sessions
      WHERE expires_at <= ${slotTime} OR last_seen_at <= ${slotTime - sessionIdleLimitMs}
      LIMIT ${limit})`,
  );
  const temporaryFiles = await deleteTemporaryFiles(context);
  const oldLogs = await deleteInBatches(
    db,
    (limit) => sql`DELETE FROM app_logs WHERE id IN (SELECT id FROM app_logs
      WHERE at < ${slotTime - logRetentionMs} LIMIT ${limit})`,
  );
  const failedUploads = await deleteFailedUploads(context);

  const [health] = await db.all<{ sessionRows: number }>(
    sql`SELECT count(*) AS sessionRows FROM sessions`,
  );
  const sizeAfter = await databaseSize(db);
  const databaseBytesFreed =
    sizeBefore !== null && sizeAfter !== null ? Math.max(0, sizeBefore - sizeAfter) : null;
  const fileBytesFreed = temporaryFiles.bytes + failedUploads.bytes;
  const totalSpaceFreed = fileBytesFreed + (databaseBytesFreed ?? 0);
  const totalItems =
    expiredSessions.deleted + temporaryFiles.deleted + oldLogs.deleted + failedUploads.deleted;
  const executionTime = Date.now() - started;

  return {
    message: `Deleted ${totalItems} items and freed ${totalSpaceFreed} bytes.`,
    timestamp: new Date(slotTime).toISOString(),
    results: {
      expiredSessions: expiredSessions.deleted,
      temporaryFiles: temporaryFiles.deleted,
      oldLogs: oldLogs.deleted,
      failedUploads: failedUploads.deleted,
      totalSpaceFreed,
      spaceFreedBreakdown: {
        fileBytes: fileBytesFreed,
        // SQLite keeps freed pages for reuse, so deleting rows rarely shrinks the file.
        databaseBytes: databaseBytesFreed,
      },
      moreLeft: expiredSessions.moreLeft || oldLogs.moreLeft || temporaryFiles.moreLeft,
    },
    summary: {
      totalItemsProcessed: totalItems,
      spaceFreedMB: Math.round((totalSpaceFreed / 1_048_576) * 1000) / 1000,
      executionTime,
    },
    systemHealth: {
      databaseSizeBytes: sizeAfter,
      sessionTableRows: health?.sessionRows ?? 0,
      nextCleanupDue: nextFireTime(context.cron, new Date(slotTime)),
    },
  };
}

/** Repeats a `LIMIT`ed delete until it deletes less than a batch, or the batch budget is spent. */
async function deleteInBatches(db: Database, statement: (limit: number) => ReturnType<typeof sql>) {
  let deleted = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const result = await db.run(statement(rowsPerBatch));
    deleted += result.meta.changes;
    if (result.meta.changes < rowsPerBatch) return { deleted, moreLeft: false };
  }
  return { deleted, moreLeft: true };
}

/** Objects under `tmp/` uploaded more than an hour before the slot. */
async function deleteTemporaryFiles({ env, slotTime }: TaskContext) {
  let deleted = 0;
  let bytes = 0;
  let cursor: string | undefined;
  for (let page = 0; page < maxListPages; page++) {
    const listing = await env.FILES.list({ prefix: "tmp/", cursor, limit: keysPerDelete });
    const stale = listing.objects.filter(
      (object) => object.uploaded.getTime() <= slotTime - temporaryFileAgeMs,
    );
    if (stale.length > 0) await env.FILES.delete(stale.map((object) => object.key));
    deleted += stale.length;
    bytes += stale.reduce((sum, object) => sum + object.size, 0);
    if (!listing.truncated) return { deleted, bytes, moreLeft: false };
    cursor = listing.cursor;
  }
  return { deleted, bytes, moreLeft: true };
}

/** Uploads marked failed over a day before the slot: their R2 object, then their row. */
async function deleteFailedUploads({ env, db, slotTime }: TaskContext) {
  let deleted = 0;
  let bytes = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const rows = await db.all<{ id: string; objectKey: string; sizeBytes: number | null }>(sql`
      SELECT id, object_key AS objectKey, size_bytes AS sizeBytes FROM uploads
      WHERE status = 'failed' AND created_at < ${slotTime - failedUploadAgeMs}
      ORDER BY created_at LIMIT ${rowsPerBatch}`);
    if (rows.length === 0) break;
    await env.FILES.delete(rows.map((row) => row.objectKey));
    await db.run(sql`DELETE FROM uploads
      WHERE id IN (SELECT value FROM json_each(${JSON.stringify(rows.map((row) => row.id))}))`);
    deleted += rows.length;
    bytes += rows.reduce((sum, row) => sum + (row.sizeBytes ?? 0), 0);
    if (rows.length < rowsPerBatch) break;
  }
  return { deleted, bytes };
}

/** D1 reports the database's size with every query's metadata. */
async function databaseSize(db: Database): Promise<number | null> {
  const result = await db.run(sql`SELECT 1`);
  const size = (result.meta as { size_after?: number }).size_after;
  return typeof size === "number" ? size : null;
}
