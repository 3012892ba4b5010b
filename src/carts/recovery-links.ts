/** A shopper opening a reminder's recovery link: the click is counted and the cart found. */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";

export interface OpenedCart {
  cartId: string;
  discountCode: string | null;
}

/** The cart behind a link id, counting the click when `countClick`; null for an unknown id. */
export async function openRecoveryLink(
  db: Database,
  linkId: string,
  countClick: boolean,
): Promise<OpenedCart | null> {
  const now = Date.now();
  const rows = countClick
    ? await db.all<OpenedCart>(sql`UPDATE cart_reminders SET clicks = clicks + 1,
          first_clicked_at = coalesce(first_clicked_at, ${now})
        WHERE link_id = ${linkId}
        RETURNING cart_id AS cartId, discount_code AS discountCode`)
    : await db.all<OpenedCart>(sql`SELECT cart_id AS cartId, discount_code AS discountCode
        FROM cart_reminders WHERE link_id = ${linkId}`);
  return rows[0] ?? null;
}
