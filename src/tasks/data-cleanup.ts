/**
 * Every 6 hours: deletes expired sessions, stale temporary files, old log rows and failed uploads,
 * each in bounded batches so one run never outlives its time budget. What a run could not reach
 * is left for the next one and said in the result.
 */
import { type SQL, sql } from "drizzle-orm";
import { readBatch } from "../db/batch";
import type { Database } from "../db/client";
import { nextFireTime } from "../lib/cron";
import { dryRunResult } from "./dry-run";
import type { Task, TaskContext } from "./task";

const hour = 3_600_000;
const day = 24 * hour;
export const sessionIdleLimitMs = day;
export const temporaryFileAgeMs = hour;
export const logRetentionMs = 30 * day;
export const failedUploadAgeMs = day;
const rowsPerBatch = 500;
const maxBatches = 40;
/** The most rows of one table a run deletes. */
const rowBudget = rowsPerBatch * maxBatches;
/** R2 deletes at most 1,000 keys per call. */
const keysPerDelete = 1000;
const maxListPages = 10;
/** How many items of each category a dry run's plan lists. */
const planListSize = 100;

export const dataCleanup: Task = {
  name: "data-cleanup",
  description: "Deletes expired sessions, old temporary files, old log rows and failed uploads.",
  run: cleanUp,
};

/** What a run deleted, or a dry run would delete, in one category. */
interface Tally {
  count: number;
  bytes: number;
  /** The run stopped at its budget with more of the category left. */
  moreLeft: boolean;
}

interface CleanupTally {
  expiredSessions: Tally;
  temporaryFiles: Tally;
  oldLogs: Tally;
  failedUploads: Tally;
}

interface DatabaseSpace {
  sizeBytes: number | null;
  bytesFreed: number | null;
  note?: string;
}

async function cleanUp(context: TaskContext) {
  const { db, env, slotTime } = context;
  const started = Date.now();
  const sizeBefore = await databaseSize(db);

  // A dry run stops here: it counts and lists with reads, and deletes nothing.
  if (context.dryRun) {
    const { tally, deletions } = await planDeletions(context);
    const space = {
      sizeBytes: sizeBefore,
      bytesFreed: null,
      note: "a dry run deletes nothing, so D1 cannot measure the space it would free",
    };
    const sessionRows = (await countSessions(db)) - tally.expiredSessions.count;
    const result = cleanupResult(context, tally, space, sessionRows, started);
    const items = result.summary.totalItemsProcessed;
    return dryRunResult(
      result,
      `would delete ${items} items and free ${result.results.totalSpaceFreed} bytes of files.`,
      { deletions },
    );
  }

  const tally: CleanupTally = {
    expiredSessions: await deleteRows(db, "sessions", expiredSessions(slotTime)),
    temporaryFiles: await walkStaleTemporaryFiles(context, async (stale) => {
      if (stale.length > 0) await env.FILES.delete(stale.map((object) => object.key));
    }),
    oldLogs: await deleteRows(db, "app_logs", oldLogs(slotTime)),
    failedUploads: await deleteFailedUploads(context),
  };
  const sessionRows = await countSessions(db);
  const sizeAfter = await databaseSize(db);
  const space = {
    sizeBytes: sizeAfter,
    bytesFreed:
      sizeBefore !== null && sizeAfter !== null ? Math.max(0, sizeBefore - sizeAfter) : null,
  };
  return cleanupResult(context, tally, space, sessionRows, started);
}

function cleanupResult(
  { slotTime, cron, timeZone }: TaskContext,
  tally: CleanupTally,
  database: DatabaseSpace,
  sessionRows: number,
  started: number,
) {
  const { expiredSessions, temporaryFiles, oldLogs, failedUploads } = tally;
  const fileBytesFreed = temporaryFiles.bytes + failedUploads.bytes;
  const totalSpaceFreed = fileBytesFreed + (database.bytesFreed ?? 0);
  const totalItems =
    expiredSessions.count + temporaryFiles.count + oldLogs.count + failedUploads.count;
  const executionTime = Date.now() - started;

  return {
    message: `Deleted ${totalItems} items and freed ${totalSpaceFreed} bytes.`,
    timestamp: new Date(slotTime).toISOString(),
    results: {
      expiredSessions: expiredSessions.count,
      temporaryFiles: temporaryFiles.count,
      oldLogs: oldLogs.count,
      failedUploads: failedUploads.count,
      totalSpaceFreed,
      spaceFreedBreakdown: {
        fileBytes: fileBytesFreed,
        // SQLite keeps freed pages for reuse, so deleting rows rarely shrinks the file.
        databaseBytes: database.bytesFreed,
        ...(database.note ? { databaseBytesNote: database.note } : {}),
      },
      moreLeft: Object.values(tally).some((category) => category.moreLeft),
    },
    summary: {
      totalItemsProcessed: totalItems,
      spaceFreedMB: Math.round((totalSpaceFreed / 1_048_576) * 1000) / 1000,
      executionTime,
    },
    systemHealth: {
      databaseSizeBytes: database.sizeBytes,
      sessionTableRows: sessionRows,
      nextCleanupDue: nextFireTime(cron, new Date(slotTime), timeZone),
    },
  };
}

/**
 * The rows of a category in the order a run deletes them, at most `limit`: the same selection
 * feeds the delete and the dry run's count and list, so the two agree.
 */
type RowSelection = (limit: number) => SQL;

const expiredSessions =
  (slotTime: number): RowSelection =>
  (limit) =>
    sql`SELECT id FROM sessions
    WHERE expires_at <= ${slotTime} OR last_seen_at <= ${slotTime - sessionIdleLimitMs}
    ORDER BY id LIMIT ${limit}`;

const oldLogs =
  (slotTime: number): RowSelection =>
  (limit) =>
    sql`SELECT id FROM app_logs WHERE at < ${slotTime - logRetentionMs}
    ORDER BY id LIMIT ${limit}`;

interface FailedUpload {
  id: string;
  objectKey: string;
  sizeBytes: number | null;
}

const failedUploads =
  (slotTime: number): RowSelection =>
  (limit) =>
    sql`SELECT id, object_key AS objectKey, size_bytes AS sizeBytes FROM uploads
    WHERE status = 'failed' AND created_at < ${slotTime - failedUploadAgeMs}
    ORDER BY created_at, id LIMIT ${limit}`;

/** Repeats a `LIMIT`ed delete until it deletes less than a batch, or the batch budget is spent. */
async function deleteRows(db: Database, table: string, rows: RowSelection): Promise<Tally> {
  let count = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const result = await db.run(
      sql`DELETE FROM ${sql.identifier(table)} WHERE id IN (${rows(rowsPerBatch)})`,
    );
    count += result.meta.changes;
    if (result.meta.changes < rowsPerBatch) return { count, bytes: 0, moreLeft: false };
  }
  return { count, bytes: 0, moreLeft: true };
}

/** Uploads marked failed over a day before the slot: their R2 object, then their row. */
async function deleteFailedUploads({ env, db, slotTime }: TaskContext): Promise<Tally> {
  let count = 0;
  let bytes = 0;
  for (let batch = 0; batch < maxBatches; batch++) {
    const rows = await db.all<FailedUpload>(failedUploads(slotTime)(rowsPerBatch));
    if (rows.length > 0) {
      await env.FILES.delete(rows.map((row) => row.objectKey));
      await db.run(sql`DELETE FROM uploads
        WHERE id IN (SELECT value FROM json_each(${JSON.stringify(rows.map((row) => row.id))}))`);
    }
    count += rows.length;
    bytes += rows.reduce((sum, row) => sum + (row.sizeBytes ?? 0), 0);
    if (rows.length < rowsPerBatch) return { count, bytes, moreLeft: false };
  }
  return { count, bytes, moreLeft: true };
}

/**
 * Walks the objects under `tmp/` uploaded more than an hour before the slot, a listing page at a
 * time within the page budget, and hands each page's stale objects to `visit`.
 */
async function walkStaleTemporaryFiles(
  { env, slotTime }: TaskContext,
  visit: (stale: R2Object[]) => Promise<void>,
): Promise<Tally> {
  let count = 0;
  let bytes = 0;
  let cursor: string | undefined;
  for (let page = 0; page < maxListPages; page++) {
    const listing = await env.FILES.list({ prefix: "tmp/", cursor, limit: keysPerDelete });
    const stale = listing.objects.filter(
      (object) => object.uploaded.getTime() <= slotTime - temporaryFileAgeMs,
    );
    await visit(stale);
    count += stale.length;
    bytes += stale.reduce((sum, object) => sum + object.size, 0);
    if (!listing.truncated) return { count, bytes, moreLeft: false };
    cursor = listing.cursor;
  }
  return { count, bytes, moreLeft: true };
}

/**
 * What a run would delete, within the same budgets: each category counted with the selection
 * its delete uses, and its first items listed in deletion order. Reads only.
 */
async function planDeletions(context: TaskContext) {
  const { db, slotTime } = context;
  const counted = (rows: RowSelection) => sql`SELECT count(*) AS count FROM (${rows(rowBudget)})`;
  const [sessionCount, sessionIds, logCount, logIds, uploadCount, uploadList] = await readBatch<
    [
      { count: number },
      { id: string },
      { count: number },
      { id: number },
      { count: number; bytes: number },
      FailedUpload,
    ]
  >(db, [
    counted(expiredSessions(slotTime)),
    expiredSessions(slotTime)(planListSize),
    counted(oldLogs(slotTime)),
    oldLogs(slotTime)(planListSize),
    sql`SELECT count(*) AS count, coalesce(sum(sizeBytes), 0) AS bytes
      FROM (${failedUploads(slotTime)(rowBudget)})`,
    failedUploads(slotTime)(planListSize),
  ]);

  const staleFiles: { key: string; size: number }[] = [];
  const temporaryFiles = await walkStaleTemporaryFiles(context, async (stale) => {
    for (const { key, size } of stale.slice(0, planListSize - staleFiles.length)) {
      staleFiles.push({ key, size });
    }
  });

  const rowTally = (count: number, bytes = 0) => ({ count, bytes, moreLeft: count >= rowBudget });
  const tally: CleanupTally = {
    expiredSessions: rowTally(sessionCount[0]?.count ?? 0),
    temporaryFiles,
    oldLogs: rowTally(logCount[0]?.count ?? 0),
    failedUploads: rowTally(uploadCount[0]?.count ?? 0, uploadCount[0]?.bytes ?? 0),
  };
  const listed = <Item>(items: Item[], { count }: Tally) => ({
    items,
    truncated: count > items.length,
  });
  const deletions = {
    expiredSessions: listed(
      sessionIds.map((row) => row.id),
      tally.expiredSessions,
    ),
    temporaryFiles: listed(staleFiles, temporaryFiles),
    oldLogs: listed(
      logIds.map((row) => row.id),
      tally.oldLogs,
    ),
    failedUploads: listed(uploadList, tally.failedUploads),
  };
  return { tally, deletions };
}

async function countSessions(db: Database): Promise<number> {
  const [row] = await db.all<{ sessionRows: number }>(
    sql`SELECT count(*) AS sessionRows FROM sessions`,
  );
  return row?.sessionRows ?? 0;
}

/** D1 reports the database's size with every query's metadata. */
async function databaseSize(db: Database): Promise<number | null> {
  const result = await db.run(sql`SELECT 1`);
  const size = (result.meta as { size_after?: number }).size_after;
  return typeof size === "number" ? size : null;
}
