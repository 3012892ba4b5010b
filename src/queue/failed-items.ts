/**
 * The dead-letter store seen by a person: failed items listed newest first, with addresses
 * masked and e-mail bodies left out, and replayed one at a time through the consumer's own path,
 * so a replay meets the same idempotency keys and can never send an e-mail twice.
 */

import { and, desc, eq, lt, type SQL, sql } from "drizzle-orm";
import { alertOnDeadLetters } from "../alerts/watch";
import type { Database } from "../db/client";
import { failedItems } from "../db/schema";
import { errorMessage, log, maskEmail } from "../lib/log";
import { processWork } from "./consumer";

export interface FailedItemView {
  id: number;
  queue: string;
  /** The message's `kind` (`newsletter-batch`, `email-retry`, `run-slot`), or null. */
  kind: string | null;
  /** The stored message with addresses masked and e-mail bodies shortened to their size. */
  payload: unknown;
  error: string | null;
  attempts: number;
  failedAt: string;
  replays: number;
  replayedAt: string | null;
  replayError: string | null;
}

/** A page of failed items, newest first, older than `before` when given. */
export async function listFailedItems(
  db: Database,
  filter: { before?: number; limit: number },
): Promise<FailedItemView[]> {
  const conditions: SQL[] = [];
  if (filter.before !== undefined) conditions.push(lt(failedItems.id, filter.before));
  const rows = await db
    .select()
    .from(failedItems)
    .where(and(...conditions))
    .orderBy(desc(failedItems.id))
    .limit(filter.limit);
  return rows.map(viewOf);
}

/** One failed item as the API shows it, or null. */
export async function readFailedItem(db: Database, id: number): Promise<FailedItemView | null> {
  const [row] = await db.select().from(failedItems).where(eq(failedItems.id, id)).limit(1);
  return row ? viewOf(row) : null;
}

/**
 * Replays a failed item's message through the consumer's path. Answers the item afterwards and,
 * when the replay failed, why; the item stays for another try either way.
 */
export async function replayFailedItem(
  env: Env,
  db: Database,
  id: number,
): Promise<{ item: FailedItemView; replayed: boolean; error: string | null } | null> {
  const [row] = await db.select().from(failedItems).where(eq(failedItems.id, id)).limit(1);
  if (!row) return null;

  let error: string | null = null;
  try {
    const context = { invocationId: crypto.randomUUID(), attempts: row.attempts, replay: true };
    // A replay that sent nothing keeps the item waiting, with the reason.
    error = await processWork(env, JSON.parse(row.payload), context);
  } catch (failure) {
    error = errorMessage(failure);
  }

  const now = Date.now();
  await db
    .update(failedItems)
    .set({
      replays: sql`${failedItems.replays} + 1`,
      replayError: error,
      ...(error === null ? { replayedAt: now } : {}),
    })
    .where(eq(failedItems.id, id));
  log(error === null ? "info" : "warn", "failed_item.replayed", { id, error });
  if (error === null) await alertOnDeadLetters(env);
  const item = await readFailedItem(db, id);
  if (!item) throw new Error(`failed item ${id} vanished during its replay`);
  return { item, replayed: error === null, error };
}

function viewOf(row: typeof failedItems.$inferSelect): FailedItemView {
  const payload: unknown = JSON.parse(row.payload);
  const kind =
    typeof payload === "object" && payload !== null && "kind" in payload ? payload.kind : null;
  return {
    id: row.id,
    queue: row.queue,
    kind: typeof kind === "string" ? kind : null,
    payload: redact(payload),
    error: row.error,
    attempts: row.attempts,
    failedAt: new Date(row.failedAt).toISOString(),
    replays: row.replays,
    replayedAt: row.replayedAt === null ? null : new Date(row.replayedAt).toISOString(),
    replayError: row.replayError,
  };
}

const address = /^[^\s@]+@[^\s@]+$/;
const bodies = new Set(["html", "text"]);

/**
 * Masks each address, alone or ending a key (`newsletter:c:jane@…`); shortens bodies to their
 * size and headers to their names, since an unsubscribe link's token carries the address.
 */
function redact(value: unknown, field?: string): unknown {
  if (field === "headers" && typeof value === "object" && value !== null) {
    return Object.keys(value);
  }
  if (typeof value === "string") {
    if (field && bodies.has(field)) return `(${value.length} characters)`;
    const colon = value.lastIndexOf(":");
    const tail = value.slice(colon + 1);
    return address.test(tail) ? `${value.slice(0, colon + 1)}${maskEmail(tail)}` : value;
  }
  if (Array.isArray(value)) return value.map((entry) => redact(entry));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redact(v, k)]));
  }
  return value;
}
