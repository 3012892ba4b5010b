/**
 * Whether a marketing e-mail claimed earlier may still go out when a retry or a replay comes
 * round, minutes or days later: not once its recipient opted out, nor a cart reminder once the
 * shopper ordered after the cart's last activity. Reports and alerts go to the shop's own people
 * and are always resent.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { optOutReason } from "./opt-outs";

/** Why the e-mail under `key` should no longer be sent, or null when it still should. */
export async function withdrawnBecause(db: Database, key: string): Promise<string | null> {
  const marketing = key.startsWith("cart-reminder:") || key.startsWith("newsletter:");
  if (!marketing) return null;
  const [row] = await db.all<{ optOut: string | null; ordered: number }>(sql`
    SELECT ${optOutReason("e.recipient", { customerId: "r.customer_id" })} AS optOut,
      EXISTS (SELECT 1 FROM orders o
        WHERE o.placed_at >= r.cart_activity_at
          AND (o.customer_id = r.customer_id OR o.email = r.recipient
            OR o.customer_id IN (SELECT oc.id FROM customers oc WHERE oc.email = r.recipient)))
        AS ordered
    FROM emails e LEFT JOIN cart_reminders r ON r.email_key = e.idempotency_key
    WHERE e.idempotency_key = ${key}`);
  if (!row) return null;
  if (row.optOut) return `the recipient opted out since (${row.optOut})`;
  if (row.ordered) return "the shopper ordered since the cart's last activity";
  return null;
}
