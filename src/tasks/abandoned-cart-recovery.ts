/**
 * Every 30 minutes: finds open carts left alone for two hours or more and sends each one first
 * reminder. A cart is reminded at most once per stage, because the reminder's key is claimed in
 * D1 before it is sent.
 */
import { sql } from "drizzle-orm";
import { jsonChunks } from "../db/json-chunks";
import { optOutReason } from "../email/opt-outs";
import { claimEmails, type OutgoingEmail, sendClaimedEmails } from "../email/outbox";
import { cartReminder } from "../email/templates/cart-reminder";
import { unsubscribeLink } from "../email/unsubscribe-link";
import { nextFireTime } from "../lib/cron";
import { maskEmail } from "../lib/log";
import { divideRounded } from "../lib/money";
import { signLink } from "../links";
import { dryRunResult } from "./dry-run";
import type { Task, TaskContext } from "./task";

const hour = 3_600_000;
/** A cart counts as abandoned after this much inactivity. */
export const abandonedAfterMs = 2 * hour;
/** Older carts are past saving: reminding them weeks later reads as spam. */
export const remindWithinMs = 14 * 24 * hour;
const stage = 1;
const template = `cart-reminder-${stage}`;

interface CandidateCart {
  id: string;
  customerId: string | null;
  address: string | null;
  firstName: string | null;
  currency: string;
  totalCents: number;
  itemCount: number;
  optedOut: number;
  orderedSince: number;
  reminded: number;
}

type EligibleCart = CandidateCart & { address: string };
type SkipReason = "noAddress" | "optedOut" | "orderedSince" | "alreadyReminded";

/** The carts a run found, sorted into those it may remind and those it skips, with why. */
interface CartSurvey {
  candidates: CandidateCart[];
  eligible: EligibleCart[];
  skipped: { cartId: string; reason: SkipReason }[];
  skippedBy: Record<SkipReason, number>;
  items: Map<string, ReminderItem[]>;
}

/** What sending the reminders came to; a dry run sends none. */
interface ReminderDelivery {
  sent: number;
  failed: number;
  /** Of the failed, those with a passing fault, handed to the Queue for a later resend. */
  retryQueued: number;
  /** Keys another run claimed between the survey and this run's claim. */
  lostClaims: number;
  /** Wall time of the sends, or null when nothing was sent. */
  deliveryMs: number | null;
}

const nothingSent: ReminderDelivery = {
  sent: 0,
  failed: 0,
  retryQueued: 0,
  lostClaims: 0,
  deliveryMs: null,
};

export const abandonedCartRecovery: Task = {
  name: "abandoned-cart-recovery",
  description: "E-mails a first reminder for carts left inactive for 2 hours or more.",
  run: recoverAbandonedCarts,
};

async function recoverAbandonedCarts(context: TaskContext) {
  const started = Date.now();
  const survey = await surveyCarts(context);

  // A dry run stops here: it claims no key and sends nothing, and lists what it would send.
  if (context.dryRun) {
    const result = recoveryResult(context, survey, nothingSent, started);
    const { eligible, skipped } = survey;
    return dryRunResult(
      result,
      `would send ${eligible.length} cart reminders and skip ${skipped.length} carts.`,
      { reminders: eligible.map(plannedReminder), skipped },
    );
  }

  const delivery = await sendReminders(context, survey);
  return recoveryResult(context, survey, delivery, started);
}

/** Finds the abandoned carts, sorts them into eligible and skipped, and reads their items. */
async function surveyCarts(context: TaskContext): Promise<CartSurvey> {
  const candidates = await findAbandonedCarts(context);
  const skippedBy: Record<SkipReason, number> = {
    noAddress: 0,
    optedOut: 0,
    orderedSince: 0,
    alreadyReminded: 0,
  };
  const eligible: EligibleCart[] = [];
  const skipped: CartSurvey["skipped"] = [];
  for (const cart of candidates) {
    const reason = skipReason(cart);
    if (reason) {
      skippedBy[reason]++;
      skipped.push({ cartId: cart.id, reason });
    } else if (cart.address) {
      eligible.push({ ...cart, address: cart.address });
    }
  }
  const items = await cartItems(
    context,
    eligible.map((cart) => cart.id),
  );
  return { candidates, eligible, skipped, skippedBy, items };
}

/** Claims each eligible cart's reminder key, sends those it won and records how each send went. */
async function sendReminders(
  { db, env, store, runId }: TaskContext,
  { eligible, items }: CartSurvey,
): Promise<ReminderDelivery> {
  const claims = eligible.map((cart) => ({
    key: reminderKey(cart.id),
    task: abandonedCartRecovery.name,
    runId,
    template,
    recipient: cart.address,
  }));
  const won = await claimEmails(db, claims, Date.now());

  const messages: OutgoingEmail[] = [];
  for (const cart of eligible) {
    const key = reminderKey(cart.id);
    if (!won.has(key)) continue;
    // Links expire in real time, whatever slot the run is for.
    const cartToken = await signLink(env.LINK_SECRET, "cart", cart.id, Date.now());
    const unsubscribe = await unsubscribeLink(
      store.publicUrl,
      env.LINK_SECRET,
      cart.address,
      Date.now(),
    );
    const message = await cartReminder(
      store.name,
      cart.firstName,
      { currency: cart.currency, totalCents: cart.totalCents, items: items.get(cart.id) ?? [] },
      `${store.publicUrl}/links/cart/${encodeURIComponent(cart.id)}?token=${cartToken}`,
      unsubscribe.link,
    );
    messages.push({ key, to: cart.address, ...message, headers: unsubscribe.headers });
  }
  const delivery = await sendClaimedEmails(env, db, store.senderAddress, messages);

  const sent = delivery.outcomes.filter((outcome) => outcome.status === "sent").length;
  return {
    sent,
    failed: delivery.outcomes.length - sent,
    retryQueued: delivery.outcomes.filter((outcome) => outcome.status === "retrying").length,
    lostClaims: eligible.length - won.size,
    deliveryMs: messages.length > 0 ? delivery.elapsedMs : null,
  };
}

function recoveryResult(
  { slotTime, cron, timeZone }: TaskContext,
  { candidates, eligible, skippedBy, items }: CartSurvey,
  { sent, failed, retryQueued, lostClaims, deliveryMs }: ReminderDelivery,
  started: number,
) {
  const executionTime = Date.now() - started;
  return {
    message: `Sent ${sent} of ${eligible.length} cart reminders (${failed} failed).`,
    timestamp: new Date(slotTime).toISOString(),
    summary: {
      processed: candidates.length,
      emailsSent: sent,
      errors: failed,
      skipped: candidates.length - eligible.length + lostClaims,
      skippedBy,
    },
    details: {
      discoveredCarts: candidates.length,
      eligibleForRecovery: eligible.length,
      duplicatesPrevented: skippedBy.alreadyReminded + lostClaims,
      retryQueued,
      ...cartValues(eligible),
      topCategories: topCategories(items),
      emailTemplatesUsed: sent > 0 ? { [template]: sent } : {},
    },
    performance: {
      executionTime,
      cartsPerSecond:
        executionTime > 0 ? Math.round((candidates.length / executionTime) * 1000 * 10) / 10 : null,
      ...(executionTime > 0 ? {} : { cartsPerSecondNote: "run too short to time (0 ms)" }),
      emailDeliveryTime: deliveryMs,
      ...(deliveryMs !== null ? {} : { emailDeliveryTimeNote: "no e-mail was sent" }),
    },
    nextRun: nextFireTime(cron, new Date(slotTime), timeZone),
  };
}

/** A reminder a dry run would send; the address is masked, as in logs. */
function plannedReminder(cart: EligibleCart) {
  return {
    cartId: cart.id,
    recipient: maskEmail(cart.address),
    template,
    stage,
    cartTotalCents: cart.totalCents,
    currency: cart.currency,
    itemCount: cart.itemCount,
  };
}

const reminderKey = (cartId: string) => `cart-reminder:${cartId}:stage-${stage}`;

function skipReason(cart: CandidateCart): SkipReason | null {
  if (!cart.address) return "noAddress";
  if (cart.optedOut) return "optedOut";
  if (cart.orderedSince) return "orderedSince";
  if (cart.reminded) return "alreadyReminded";
  return null;
}

/**
 * Open, non-empty carts inactive between 2 hours and 14 days at the slot, each with the facts
 * that decide whether it may be reminded. One query for all carts.
 */
async function findAbandonedCarts({ db, slotTime }: TaskContext): Promise<CandidateCart[]> {
  return db.all<CandidateCart>(sql`
    WITH abandoned AS (
      SELECT c.id, c.customer_id, coalesce(c.email, cu.email) AS address, cu.first_name,
        cu.marketing_consent, c.currency, c.total_cents, c.item_count, c.last_activity_at
      FROM carts c LEFT JOIN customers cu ON cu.id = c.customer_id
      WHERE c.status = 'open' AND c.item_count > 0
        AND c.last_activity_at <= ${slotTime - abandonedAfterMs}
        AND c.last_activity_at > ${slotTime - remindWithinMs}
    )
    SELECT a.id, a.customer_id AS customerId, a.address, a.first_name AS firstName,
      a.currency, a.total_cents AS totalCents, a.item_count AS itemCount,
      (a.marketing_consent = 0 OR ${optOutReason("a.address")} IS NOT NULL) AS optedOut,
      (EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = a.customer_id
          AND o.placed_at >= a.last_activity_at AND o.placed_at <= ${slotTime})
        OR EXISTS (SELECT 1 FROM orders o WHERE o.email = a.address
          AND o.placed_at >= a.last_activity_at AND o.placed_at <= ${slotTime})
      ) AS orderedSince,
      EXISTS (SELECT 1 FROM emails e
        WHERE e.idempotency_key = 'cart-reminder:' || a.id || ${`:stage-${stage}`}) AS reminded
    FROM abandoned a
    ORDER BY a.last_activity_at, a.id`);
}

interface ReminderItem {
  name: string;
  category: string | null;
  quantity: number;
  unitPriceCents: number;
}

async function cartItems(
  { db }: TaskContext,
  cartIds: string[],
): Promise<Map<string, ReminderItem[]>> {
  const byCart = new Map<string, ReminderItem[]>();
  for (const json of jsonChunks(cartIds)) {
    const rows = await db.all<ReminderItem & { cartId: string }>(sql`
      SELECT ci.cart_id AS cartId, coalesce(ci.name, p.name, ci.product_id) AS name,
        coalesce(ci.category, p.category) AS category, ci.quantity,
        ci.unit_price_cents AS unitPriceCents
      FROM cart_items ci LEFT JOIN products p ON p.id = ci.product_id
      WHERE ci.cart_id IN (SELECT value FROM json_each(${json}))
      ORDER BY ci.cart_id, ci.line`);
    for (const { cartId, ...item } of rows) {
      const list = byCart.get(cartId) ?? [];
      list.push(item);
      byCart.set(cartId, list);
    }
  }
  return byCart;
}

/** Cart values per currency: carts in different currencies are never added together. */
function cartValues(carts: { currency: string; totalCents: number }[]) {
  const total: Record<string, number> = {};
  const count: Record<string, number> = {};
  for (const cart of carts) {
    total[cart.currency] = (total[cart.currency] ?? 0) + cart.totalCents;
    count[cart.currency] = (count[cart.currency] ?? 0) + 1;
  }
  const average: Record<string, number> = {};
  for (const [currency, cents] of Object.entries(total)) {
    average[currency] = divideRounded(cents, count[currency] ?? 0);
  }
  return { totalCartValue: total, averageCartValue: average };
}

function topCategories(items: Map<string, ReminderItem[]>) {
  const carts = new Map<string, number>();
  for (const list of items.values()) {
    for (const category of new Set(list.map((item) => item.category ?? "uncategorised"))) {
      carts.set(category, (carts.get(category) ?? 0) + 1);
    }
  }
  return [...carts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 5)
    .map(([category, cartCount]) => ({ category, carts: cartCount }));
}
