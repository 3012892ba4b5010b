/**
 * The e-mail log: every claimed e-mail, newest claim first, with its recipient masked. The
 * table's implicit rowid orders claims and is the page cursor.
 */
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { maskAddressesIn, maskEmail } from "../lib/log";

export const emailStatuses = ["claimed", "retrying", "sent", "failed", "skipped"] as const;
export type EmailStatus = (typeof emailStatuses)[number];

export interface EmailLogEntry {
  idempotencyKey: string;
  task: string;
  runId: number | null;
  campaignId: string | null;
  template: string;
  status: EmailStatus;
  attempts: number;
  claimedAt: string;
  sentAt: string | null;
  error: string | null;
  /** Masked (`j***@example.test`): the log never shows an address in full. */
  recipient: string;
}

export interface EmailLogFilter {
  task?: string;
  runId?: number;
  status?: EmailStatus;
  /** Only claims older than this cursor (an earlier page's `nextCursor`). */
  before?: number;
  limit: number;
}

interface EmailRow {
  position: number;
  idempotencyKey: string;
  task: string;
  runId: number | null;
  campaignId: string | null;
  template: string;
  status: EmailStatus;
  attempts: number;
  claimedAt: number;
  sentAt: number | null;
  error: string | null;
  recipient: string;
}

/** One page of the log and the cursor of the next, or null on the last page. */
export async function listEmails(
  db: Database,
  filter: EmailLogFilter,
): Promise<{ emails: EmailLogEntry[]; nextCursor: string | null }> {
  const conditions: SQL[] = [sql`true`];
  if (filter.task !== undefined) conditions.push(sql`task = ${filter.task}`);
  if (filter.runId !== undefined) conditions.push(sql`run_id = ${filter.runId}`);
  if (filter.status !== undefined) conditions.push(sql`status = ${filter.status}`);
  if (filter.before !== undefined) conditions.push(sql`rowid < ${filter.before}`);
  const rows = await db.all<EmailRow>(sql`
    SELECT rowid AS position, idempotency_key AS idempotencyKey, task, run_id AS runId,
      campaign_id AS campaignId, template, status, attempts, claimed_at AS claimedAt,
      sent_at AS sentAt, error, recipient
    FROM emails WHERE ${sql.join(conditions, sql` AND `)}
    ORDER BY rowid DESC LIMIT ${filter.limit + 1}`);
  const page = rows.slice(0, filter.limit);
  const last = page.at(-1);
  const nextCursor = rows.length > filter.limit && last ? String(last.position) : null;
  return { emails: page.map(entryOf), nextCursor };
}

function entryOf({ position: _position, ...row }: EmailRow): EmailLogEntry {
  return {
    ...row,
    // Keys of newsletters, reports and alerts hold the address: masked like the recipient.
    idempotencyKey: maskAddressesIn(row.idempotencyKey),
    claimedAt: new Date(row.claimedAt).toISOString(),
    sentAt: row.sentAt === null ? null : new Date(row.sentAt).toISOString(),
    // The mail service may quote the address in its error.
    error: row.error === null ? null : maskAddressesIn(row.error),
    recipient: maskEmail(row.recipient),
  };
}
