/**
 * Claims cart reminders before anything is sent. One D1 batch (one transaction) inserts the
 * reminder rows, whose key is (cart, version, stage), then the e-mail claims and discount codes
 * of the rows this call won, so a cron pass and a delayed check racing for the same cart send one
 * e-mail between them, and a reminder never exists without its e-mail claim or code.
 */
import { sql } from "drizzle-orm";
import { runBatch } from "../db/batch";
import type { Database } from "../db/client";
import { jsonChunks } from "../db/json-chunks";
import { errorMessage, log } from "../lib/log";
import type { DueCart } from "./due-carts";

export interface ReminderClaim {
  cart: DueCart;
  key: string;
  linkId: string;
  linkExpiresAt: number;
  discount: { code: string; percentOff: number; expiresAt: number } | null;
}

export interface ClaimRequest {
  task: string;
  runId: number | null;
  /** When the e-mails go out: the reminder's time for cooldowns, impact and attribution. */
  sendAt: number;
  /** Real time: links and codes expire in real time whatever slot the run is for. */
  now: number;
  linkValidMs: number;
  /** No claim for an address reminded within this long of `sendAt` (0: no cooldown). */
  cooldownMs: number;
  /** A replay of a past slot: reminders claimed in the last `cooldownMs` of real time count. */
  replay: boolean;
}

/**
 * The e-mail key of a cart's stage: one per version of the cart (its last activity), so a cart
 * that changes starts its stages again.
 */
export function reminderKey(cartId: string, lastActivityAt: number, stage: number): string {
  return `cart-reminder:${cartId}:${new Date(lastActivityAt).toISOString()}:stage-${stage}`;
}

/** A reminder for each due cart, with its key, link id and code: what the claim will insert. */
export function proposeReminders(
  carts: readonly DueCart[],
  request: Pick<ClaimRequest, "now" | "linkValidMs">,
): ReminderClaim[] {
  return carts.map((cart) => proposal(cart, request));
}

/**
 * Claims the proposed reminders; answers the ones this call won. A code collision (50 random
 * bits) fails its chunk's transaction: those carts are left to the next pass, never sent with a
 * code that was not stored.
 */
export async function claimReminders(
  db: Database,
  proposed: readonly ReminderClaim[],
  request: ClaimRequest,
): Promise<ReminderClaim[]> {
  const won: ReminderClaim[] = [];
  for (const json of jsonChunks(proposed.map(row))) {
    try {
      const ids = await claimChunk(db, json, request);
      won.push(...proposed.filter((claim) => ids.has(claim.linkId)));
    } catch (error) {
      if (!String(error).includes("discount_codes.code")) throw error;
      log("warn", "cart_reminder.code_collision", { error: errorMessage(error) });
    }
  }
  return won;
}

async function claimChunk(db: Database, json: string, request: ClaimRequest) {
  const v = (name: string) => sql.raw(`json_extract(j.value, '$.${name}')`);
  const results = await runBatch(db, [
    sql`INSERT INTO cart_reminders (email_key, cart_id, cart_activity_at, stage, template,
        recipient, customer_id, reminded_at, run_id, link_id, link_expires_at, discount_code)
      SELECT ${v("key")}, ${v("cartId")}, ${v("activityAt")}, ${v("stage")}, ${v("template")},
        ${v("recipient")}, ${v("customerId")}, ${request.sendAt}, ${request.runId},
        ${v("linkId")}, ${v("linkExpiresAt")}, ${v("code")}
      FROM json_each(${json}) j
      -- The cooldown again, inside the transaction: a pass that reminded this address since
      -- the survey (a delayed check racing the cron) wins, and this claim is lost.
      WHERE ${request.cooldownMs} = 0 OR NOT EXISTS (SELECT 1 FROM cart_reminders o
        JOIN emails e ON e.idempotency_key = o.email_key AND e.status <> 'failed'
        WHERE o.recipient = ${v("recipient")}
          AND ((o.reminded_at > ${request.sendAt - request.cooldownMs}
              AND o.reminded_at < ${request.sendAt + request.cooldownMs})
            OR (${request.replay ? 1 : 0} = 1
              AND e.claimed_at > ${request.now - request.cooldownMs})))
      ON CONFLICT (email_key) DO NOTHING`,
    sql`INSERT INTO emails (idempotency_key, task, run_id, template, recipient, status,
        attempts, claimed_at)
      SELECT r.email_key, ${request.task}, ${request.runId}, r.template, r.recipient,
        'claimed', 0, ${request.now}
      FROM json_each(${json}) j JOIN cart_reminders r ON r.link_id = ${v("linkId")}
      WHERE true
      ON CONFLICT (idempotency_key) DO NOTHING`,
    sql`INSERT INTO discount_codes (code, cart_id, email_key, percent_off, created_at,
        expires_at)
      SELECT ${v("code")}, ${v("cartId")}, ${v("key")}, ${v("percentOff")}, ${request.now},
        ${v("codeExpiresAt")}
      FROM json_each(${json}) j JOIN cart_reminders r ON r.link_id = ${v("linkId")}
      WHERE ${v("code")} IS NOT NULL`,
    sql`SELECT r.link_id AS linkId FROM json_each(${json}) j
      JOIN cart_reminders r ON r.link_id = ${v("linkId")}`,
  ]);
  const rows = (results.at(-1)?.results ?? []) as { linkId: string }[];
  return new Set(rows.map((r) => r.linkId));
}

function proposal(
  cart: DueCart,
  request: Pick<ClaimRequest, "now" | "linkValidMs">,
): ReminderClaim {
  const discount = cart.stage.discount;
  return {
    cart,
    key: reminderKey(cart.id, cart.lastActivityAt, cart.stage.stage),
    linkId: randomId(16),
    linkExpiresAt: request.now + request.linkValidMs,
    discount: discount
      ? {
          code: discountCode(),
          percentOff: discount.percentOff,
          expiresAt: request.now + Math.round(discount.validDays * 86_400_000),
        }
      : null,
  };
}

function row(claim: ReminderClaim) {
  const { cart } = claim;
  return {
    key: claim.key,
    cartId: cart.id,
    activityAt: cart.lastActivityAt,
    stage: cart.stage.stage,
    template: cart.stage.template,
    recipient: cart.address,
    customerId: cart.customerId,
    linkId: claim.linkId,
    linkExpiresAt: claim.linkExpiresAt,
    code: claim.discount?.code ?? null,
    percentOff: claim.discount?.percentOff ?? null,
    codeExpiresAt: claim.discount?.expiresAt ?? null,
  };
}

/** Crockford's base32: no I, L, O or U, so a code read aloud or retyped is not misread. */
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** A unique, unguessable code: 10 random symbols, 50 bits. */
export function discountCode(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(10));
  return `COMEBACK-${[...bytes].map((b) => codeAlphabet[b % 32]).join("")}`;
}

function randomId(byteCount: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(byteCount));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll("+", "-")
    .replaceAll("/", "_")
    .replace(/=+$/, "");
}
