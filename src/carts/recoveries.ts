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
import type { CartRecoveryRules } from "./recovery-settings";

/** Credits the orders placed in (from, to] that follow a sent reminder; idempotent. */
export async function attributeOrders(
  db: Database,
  rules: Pick<CartRecoveryRules, "attributionMs">,
  from: number,
  to: number,
): Promise<void> {
  await db.run(sql`
    INSERT INTO cart_recoveries (order_id, cart_id, cart_activity_at, email_key, stage,
      currency, amount_cents, reminded_at, ordered_at)
    SELECT o.id, r.cart_id, r.cart_activity_at, r.email_key, r.stage, o.currency, o.total_cents,
      r.reminded_at, o.placed_at
    FROM orders o JOIN cart_reminders r ON r.email_key = (
      SELECT r2.email_key FROM cart_reminders r2
        JOIN emails e ON e.idempotency_key = r2.email_key AND e.status = 'sent'
      WHERE (r2.customer_id = o.customer_id OR r2.recipient = o.email
          OR r2.recipient = (SELECT oc.email FROM customers oc WHERE oc.id = o.customer_id))
        AND r2.reminded_at <= o.placed_at
        AND r2.reminded_at > o.placed_at - ${rules.attributionMs}
        AND NOT EXISTS (SELECT 1 FROM cart_recoveries cr
          WHERE cr.cart_id = r2.cart_id AND cr.cart_activity_at = r2.cart_activity_at)
      ORDER BY (r2.cart_id IS o.cart_id) DESC, r2.reminded_at DESC, r2.stage DESC
      LIMIT 1)
    WHERE o.placed_at > ${from} AND o.placed_at <= ${to}
      AND NOT EXISTS (SELECT 1 FROM cart_recoveries cr WHERE cr.order_id = o.id)
    ON CONFLICT DO NOTHING`);
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
