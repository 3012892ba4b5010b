/**
 * The final reminder's discount codes: unique per cart, single use, with an expiry. The store's
 * checkout asks whether a code is good and redeems it; redeeming is one conditional UPDATE, so
 * two checkouts racing with the same code cannot both have it.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";

export interface DiscountCode {
  code: string;
  cartId: string;
  percentOff: number;
  createdAt: number;
  expiresAt: number;
  redeemedAt: number | null;
  redeemedOrderId: string | null;
}

export type Redemption =
  | { ok: true; code: DiscountCode }
  | { ok: false; reason: "unknown" | "expired" | "used"; code: DiscountCode | null };

/** Codes are shown upper-case; a shopper may type them in any case and with spaces. */
export function normalCode(typed: string): string {
  return typed.trim().toUpperCase();
}

export async function findCode(db: Database, typed: string): Promise<DiscountCode | null> {
  const rows = await db.all<DiscountCode>(sql`SELECT code, cart_id AS cartId,
      percent_off AS percentOff, created_at AS createdAt, expires_at AS expiresAt,
      redeemed_at AS redeemedAt, redeemed_order_id AS redeemedOrderId
    FROM discount_codes WHERE code = ${normalCode(typed)}`);
  return rows[0] ?? null;
}

/** Redeems a code for an order, once; the same order redeeming again is answered as done. */
export async function redeemCode(
  db: Database,
  typed: string,
  orderId: string,
  now: number,
): Promise<Redemption> {
  await db.run(sql`UPDATE discount_codes SET redeemed_at = ${now}, redeemed_order_id = ${orderId}
    WHERE code = ${normalCode(typed)} AND redeemed_at IS NULL AND expires_at > ${now}`);
  const code = await findCode(db, typed);
  if (!code) return { ok: false, reason: "unknown", code: null };
  if (code.redeemedOrderId === orderId) return { ok: true, code };
  if (code.redeemedAt !== null) return { ok: false, reason: "used", code };
  return { ok: false, reason: "expired", code };
}
