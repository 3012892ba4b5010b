/**
 * Whether a marketing e-mail claimed earlier may still go out when a retry or a replay comes
 * round, minutes or days later: not once its recipient opted out, and not a cart reminder once
 * the shopper ordered, the cart changed or closed, or a later stage of it was sent. Reports and
 * alerts go to the shop's own people and are always resent.
 */
import { sql } from "drizzle-orm";
import { orderedSince } from "../carts/ordered-since";
import type { Database } from "../db/client";
import { optOutReason } from "./opt-outs";

interface Facts {
  optOut: string | null;
  isCartReminder: number;
  ordered: number;
  cartChanged: number;
  laterStage: number;
}

/** Why the e-mail under `key` should no longer be sent, or null when it still should. */
export async function withdrawnBecause(db: Database, key: string): Promise<string | null> {
  const marketing = key.startsWith("cart-reminder:") || key.startsWith("newsletter:");
  if (!marketing) return null;
  const [facts] = await db.all<Facts>(sql`
    SELECT ${optOutReason("e.recipient", { customerId: "r.customer_id" })} AS optOut,
      r.email_key IS NOT NULL AS isCartReminder,
      ${orderedSince({
        cartId: "r.cart_id",
        customerId: "r.customer_id",
        address: "r.recipient",
        activityAt: "r.cart_activity_at",
      })} AS ordered,
      NOT EXISTS (SELECT 1 FROM carts c WHERE c.id = r.cart_id AND c.status = 'open'
        AND c.last_activity_at = r.cart_activity_at) AS cartChanged,
      EXISTS (SELECT 1 FROM cart_reminders l WHERE l.cart_id = r.cart_id
        AND l.cart_activity_at = r.cart_activity_at AND l.stage > r.stage) AS laterStage
    FROM emails e LEFT JOIN cart_reminders r ON r.email_key = e.idempotency_key
    WHERE e.idempotency_key = ${key}`);
  if (!facts) return null;
  if (facts.optOut) return `the recipient opted out (${facts.optOut})`;
  if (!facts.isCartReminder) return null;
  if (facts.ordered) return "the shopper ordered since the cart's last activity";
  if (facts.laterStage) return "a later reminder of the cart was sent";
  if (facts.cartChanged) return "the cart changed or closed since: the e-mail is stale";
  return null;
}
