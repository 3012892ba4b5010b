/**
 * Revenue impact. An order by the reminded customer (same customer id, or the same address
 * directly or through the ordering customer's account) placed within the attribution window after
 * a sent reminder recovers that reminder's cart: the stage credited is the last reminder before
 * the order, preferring the cart the order names. Attribution is written to `cart_recoveries`
 * before anything reads it, so a late order event is still credited.
 */
import { sql } from "drizzle-orm";
import { readBatch } from "../db/batch";
import type { Database } from "../db/client";
import { jsonChunks } from "../db/json-chunks";
import type { CartRecoveryRules } from "./recovery-settings";

interface Candidate {
  orderId: string;
  placedAt: number;
  currency: string;
  totalCents: number;
  orderCartId: string | null;
  emailKey: string;
  cartId: string;
  cartActivityAt: number;
  stage: number;
  remindedAt: number;
}

/**
 * Credits the orders placed in (from, to] that follow a sent reminder; idempotent. Orders pick in
 * the order they were placed, so when two orders could recover the same cart the earlier one
 * does, whatever order the rows come in, and asking again gives the same answer.
 */
export async function attributeOrders(
  db: Database,
  rules: Pick<CartRecoveryRules, "attributionMs">,
  from: number,
  to: number,
): Promise<void> {
  const candidates = await db.all<Candidate>(sql`
    SELECT o.id AS orderId, o.placed_at AS placedAt, o.currency, o.total_cents AS totalCents,
      o.cart_id AS orderCartId, r.email_key AS emailKey, r.cart_id AS cartId,
      r.cart_activity_at AS cartActivityAt, r.stage, r.reminded_at AS remindedAt
    FROM orders o
      JOIN cart_reminders r ON (r.customer_id = o.customer_id OR r.recipient = o.email
        OR r.recipient = (SELECT oc.email FROM customers oc WHERE oc.id = o.customer_id))
      JOIN emails e ON e.idempotency_key = r.email_key AND e.status = 'sent'
    WHERE o.placed_at > ${from} AND o.placed_at <= ${to}
      AND r.reminded_at <= o.placed_at AND r.reminded_at > o.placed_at - ${rules.attributionMs}
      AND NOT EXISTS (SELECT 1 FROM cart_recoveries cr WHERE cr.order_id = o.id)
      AND NOT EXISTS (SELECT 1 FROM cart_recoveries cr
        WHERE cr.cart_id = r.cart_id AND cr.cart_activity_at = r.cart_activity_at)
    ORDER BY o.placed_at, o.id,
      (r.cart_id IS o.cart_id) DESC, r.reminded_at DESC, r.stage DESC, r.email_key`);

  // The first candidate of each order is its best reminder; a cart already taken by an earlier
  // order falls to the order's next best.
  const chosen = new Map<string, Candidate>();
  const takenCarts = new Set<string>();
  for (const candidate of candidates) {
    const cart = `${candidate.cartId}\u0000${candidate.cartActivityAt}`;
    if (chosen.has(candidate.orderId) || takenCarts.has(cart)) continue;
    chosen.set(candidate.orderId, candidate);
    takenCarts.add(cart);
  }
  for (const json of jsonChunks([...chosen.values()])) {
    const v = (name: keyof Candidate) => sql.raw(`json_extract(value, '$.${name}')`);
    await db.run(sql`
      INSERT INTO cart_recoveries (order_id, cart_id, cart_activity_at, email_key, stage,
        currency, amount_cents, reminded_at, ordered_at)
      SELECT ${v("orderId")}, ${v("cartId")}, ${v("cartActivityAt")}, ${v("emailKey")},
        ${v("stage")}, ${v("currency")}, ${v("totalCents")}, ${v("remindedAt")}, ${v("placedAt")}
      FROM json_each(${json}) WHERE true
      ON CONFLICT DO NOTHING`);
  }
}

export interface StageImpact {
  stage: number;
  template: string;
  /** Carts whose reminder of this stage was sent in the period. */
  reminded: number;
  /** Of those, the ones whose recovery link was opened at least once. */
  clicked: number;
  /** Of those, the ones an order recovered with this stage credited. */
  recovered: number;
  /** Per currency, minor units: never added across currencies. */
  recoveredRevenue: Record<string, number>;
}

/** Reminders sent in [from, to), by stage, with clicks and the recoveries credited to them. */
export async function impactByStage(
  db: Database,
  from: number,
  to: number,
): Promise<StageImpact[]> {
  const [counts, revenue] = await readBatch<
    [
      { stage: number; template: string; reminded: number; clicked: number; recovered: number },
      { stage: number; currency: string; cents: number },
    ]
  >(db, [
    sql`SELECT r.stage, min(r.template) AS template, count(*) AS reminded,
        sum(r.clicks > 0) AS clicked, count(cr.order_id) AS recovered
      FROM cart_reminders r
        JOIN emails e ON e.idempotency_key = r.email_key AND e.status = 'sent'
        LEFT JOIN cart_recoveries cr ON cr.email_key = r.email_key
      WHERE r.reminded_at >= ${from} AND r.reminded_at < ${to}
      GROUP BY r.stage ORDER BY r.stage`,
    sql`SELECT r.stage, cr.currency, sum(cr.amount_cents) AS cents
      FROM cart_reminders r
        JOIN emails e ON e.idempotency_key = r.email_key AND e.status = 'sent'
        JOIN cart_recoveries cr ON cr.email_key = r.email_key
      WHERE r.reminded_at >= ${from} AND r.reminded_at < ${to}
      GROUP BY r.stage, cr.currency ORDER BY r.stage, cr.currency`,
  ]);
  return counts.map((row) => ({
    ...row,
    recoveredRevenue: Object.fromEntries(
      revenue.filter((r) => r.stage === row.stage).map((r) => [r.currency, r.cents]),
    ),
  }));
}

/** Carts recovered by orders placed in (from, to], and their revenue per currency. */
export async function recoveredBetween(db: Database, from: number, to: number) {
  const rows = await db.all<{ currency: string; carts: number; cents: number }>(sql`
    SELECT currency, count(*) AS carts, sum(amount_cents) AS cents FROM cart_recoveries
    WHERE ordered_at > ${from} AND ordered_at <= ${to}
    GROUP BY currency ORDER BY currency`);
  return {
    recoveredCarts: rows.reduce((sum, row) => sum + row.carts, 0),
    recoveredRevenue: Object.fromEntries(rows.map((row) => [row.currency, row.cents])),
  };
}
