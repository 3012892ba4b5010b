/**
 * Which carts are due a reminder at a clock instant, and which are not and why. One set-based
 * pass reads every open cart idle between the first stage's delay and the give-up age, with the
 * stage due now and every fact a suppression rule needs; the rules themselves read top to bottom
 * in `holdReason`.
 */
import { TZDate } from "@date-fns/tz";
import { type SQL, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { optOutReason } from "../email/opt-outs";
import { orderedSince } from "./ordered-since";
import type { CartRecoveryRules, RecoveryStage } from "./recovery-settings";

/** Why a cart got no e-mail this time. Some are for good, some only wait (quiet hours). */
export const holdReasons = [
  "noAddress",
  "emptyCart",
  "zeroTotal",
  "orderedSince",
  "outOfStock",
  "unsubscribed",
  "bounced",
  "noConsent",
  "alreadyReminded",
  "cooldown",
  "quietHours",
] as const;
export type HoldReason = (typeof holdReasons)[number];

/** A cart found by the pass, with the facts the rules read. */
export interface FoundCart {
  id: string;
  customerId: string | null;
  address: string | null;
  firstName: string | null;
  timeZone: string | null;
  currency: string;
  totalCents: number;
  itemCount: number;
  /** The cart's version: its stages start again when it changes. */
  lastActivityAt: number;
  /** The stage due now: the last one whose delay has passed. */
  dueStage: number;
  /** The highest stage already claimed for this version, 0 for none. */
  stageReached: number;
  optOut: "unsubscribed" | "bounced" | "noConsent" | null;
  orderedSince: number;
  lines: number;
  linesInStock: number;
  /** The last reminder to the same address within the cooldown, if any. */
  lastReminderToAddressAt: number | null;
}

export type DueCart = FoundCart & { address: string; stage: RecoveryStage };

export interface CartSurvey {
  found: FoundCart[];
  due: DueCart[];
  held: { cartId: string; reason: HoldReason }[];
  heldBy: Record<HoldReason, number>;
}

/** When and for which carts a survey asks. */
export interface SurveyScope {
  /** The pass's "now": which stage is due is read at it. */
  clock: number;
  /**
   * When the e-mails would go out: quiet hours and the cooldown are read at it, and reminders
   * are dated by it (the tick's time for a late run).
   */
  sendAt: number;
  /** The zone of quiet hours for a customer whose own is unknown. */
  storeTimeZone: string;
  /** The delayed check of one cart looks at that cart alone. */
  onlyCartId?: string;
  /** A replay of a past slot sends now: the cooldown also counts reminders sent in real time. */
  replay?: boolean;
}

export async function surveyCarts(
  db: Database,
  rules: CartRecoveryRules,
  { clock, sendAt, storeTimeZone, onlyCartId, replay = false }: SurveyScope,
): Promise<CartSurvey> {
  const scope = { clock, sendAt, now: Date.now(), replay, onlyCartId };
  const found = await findCarts(db, rules, scope);
  const heldBy = Object.fromEntries(holdReasons.map((r) => [r, 0])) as Record<HoldReason, number>;
  const due: DueCart[] = [];
  const held: CartSurvey["held"] = [];
  // Two carts of one address due in the same pass: only the first (oldest) is sent now.
  const addressesThisPass = new Set<string>();
  for (const cart of found) {
    const reason = holdReason(cart, rules, sendAt, storeTimeZone, addressesThisPass);
    const stage = rules.stages[cart.dueStage - 1];
    if (reason || !cart.address || !stage) {
      const why = reason ?? "noAddress";
      heldBy[why]++;
      held.push({ cartId: cart.id, reason: why });
      continue;
    }
    if (rules.cooldownMs > 0) addressesThisPass.add(cart.address);
    due.push({ ...cart, address: cart.address, stage });
  }
  return { found, due, held, heldBy };
}

/** The first rule that holds a cart back, or null when it may be reminded now. */
function holdReason(
  cart: FoundCart,
  rules: CartRecoveryRules,
  sendAt: number,
  storeTimeZone: string,
  addressesThisPass: ReadonlySet<string>,
): HoldReason | null {
  if (!cart.address) return "noAddress";
  if (cart.itemCount === 0 || cart.lines === 0) return "emptyCart";
  if (cart.totalCents === 0) return "zeroTotal";
  if (cart.orderedSince) return "orderedSince";
  if (cart.linesInStock === 0) return "outOfStock";
  if (cart.optOut) return cart.optOut;
  if (cart.stageReached >= cart.dueStage) return "alreadyReminded";
  if (cart.lastReminderToAddressAt !== null || addressesThisPass.has(cart.address)) {
    return "cooldown";
  }
  if (inQuietHours(rules, sendAt, cart.timeZone ?? storeTimeZone)) return "quietHours";
  return null;
}

/** Whether `clock` falls in the quiet hours, read on the wall clock of `timeZone`. */
function inQuietHours(rules: CartRecoveryRules, clock: number, timeZone: string): boolean {
  const quiet = rules.quietHours;
  if (!quiet || quiet.from === quiet.until) return false;
  const local = new TZDate(clock, timeZone);
  const minute = local.getHours() * 60 + local.getMinutes();
  return quiet.from < quiet.until
    ? minute >= quiet.from && minute < quiet.until
    : minute >= quiet.from || minute < quiet.until;
}

/**
 * The open carts idle at least the first stage's delay and less than the give-up age at `clock`.
 * A cart's address is its own, else its customer's; its zone its customer's, else that of a
 * customer or subscriber at the same address. An order "since" is any order we know of
 * placed from the cart's last activity on (a pass for an older slot run late still sees it), by
 * the same customer id, or to the same address directly or through the ordering customer's
 * account (a guest cart then an order with an account). The cooldown looks both ways from the
 * send time, so a pass for an older slot run after a newer one keeps the distance too; a replay
 * of a past slot, which sends now, also counts the reminders claimed in the last 16 h of real
 * time.
 */
async function findCarts(
  db: Database,
  rules: CartRecoveryRules,
  {
    clock,
    sendAt,
    now,
    replay,
    onlyCartId,
  }: Pick<SurveyScope, "clock" | "sendAt" | "onlyCartId"> & { now: number; replay: boolean },
): Promise<FoundCart[]> {
  const first = rules.stages[0]?.afterMs ?? 0;
  const only = onlyCartId === undefined ? sql`` : sql`AND c.id = ${onlyCartId}`;
  return db.all<FoundCart>(sql`
    WITH found AS (
      SELECT c.id, c.customer_id,
        coalesce(c.email, cu.email) AS address, cu.first_name,
        coalesce(cu.timezone, (SELECT ca.timezone FROM customers ca
          WHERE ca.email = coalesce(c.email, cu.email) AND ca.timezone IS NOT NULL
          ORDER BY ca.updated_at DESC LIMIT 1), (SELECT s.timezone FROM subscribers s
          WHERE s.email = coalesce(c.email, cu.email))) AS timezone,
        c.currency, c.total_cents, c.item_count, c.last_activity_at,
        ${dueStage(rules.stages, clock)} AS due_stage
      FROM carts c LEFT JOIN customers cu ON cu.id = c.customer_id
      WHERE c.status = 'open'
        AND c.last_activity_at <= ${clock - first}
        AND c.last_activity_at > ${clock - rules.giveUpAfterMs}
        ${only}
    )
    SELECT f.id, f.customer_id AS customerId, f.address, f.first_name AS firstName,
      f.timezone AS timeZone, f.currency, f.total_cents AS totalCents,
      f.item_count AS itemCount, f.last_activity_at AS lastActivityAt, f.due_stage AS dueStage,
      coalesce((SELECT max(r.stage) FROM cart_reminders r
        WHERE r.cart_id = f.id AND r.cart_activity_at = f.last_activity_at), 0)
        AS stageReached,
      ${optOutReason("f.address", { customerId: "f.customer_id", consent: rules.consent })}
        AS optOut,
      ${orderedSince({
        cartId: "f.id",
        customerId: "f.customer_id",
        address: "f.address",
        activityAt: "f.last_activity_at",
      })} AS orderedSince,
      (SELECT count(*) FROM cart_items ci WHERE ci.cart_id = f.id) AS lines,
      (SELECT count(*) FROM cart_items ci LEFT JOIN products p ON p.id = ci.product_id
        WHERE ci.cart_id = f.id AND coalesce(p.in_stock, 1) = 1) AS linesInStock,
      (SELECT max(r.reminded_at) FROM cart_reminders r
        JOIN emails e ON e.idempotency_key = r.email_key AND e.status <> 'failed'
        WHERE r.recipient = f.address
          AND ((r.reminded_at > ${sendAt - rules.cooldownMs}
              AND r.reminded_at < ${sendAt + rules.cooldownMs})
            OR (${replay ? 1 : 0} = 1 AND e.claimed_at > ${now - rules.cooldownMs})))
        AS lastReminderToAddressAt
    FROM found f
    ORDER BY f.last_activity_at, f.id`);
}

/** SQL for the stage due at `clock`: the last stage whose delay the cart's idle time reached. */
function dueStage(stages: readonly RecoveryStage[], clock: number): SQL {
  const cases = [...stages]
    .reverse()
    .map((s) => sql`WHEN ${clock} - c.last_activity_at >= ${s.afterMs} THEN ${s.stage}`);
  return sql`CASE ${sql.join(cases, sql` `)} ELSE 0 END`;
}
