/**
 * One pass of cart recovery at a clock instant: survey the carts, claim the reminders that are
 * due, render and send them. The cron's run and the delayed check of one cart both come here, so
 * they meet the same claims. A dry run stops after the survey.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { jsonChunks } from "../db/json-chunks";
import { type OutgoingEmail, sendClaimedEmails } from "../email/outbox";
import { cartReminder, type ReminderItem } from "../email/templates/cart-reminder";
import { unsubscribeLink } from "../email/unsubscribe-link";
import { signLink } from "../links";
import type { Store } from "../store";
import { type CartSurvey, surveyCarts } from "./due-carts";
import type { CartRecoveryRules } from "./recovery-settings";
import { claimReminders, proposeReminders, type ReminderClaim } from "./reminder-claims";

export const cartRecoveryTask = "abandoned-cart-recovery";

export interface RecoveryPass {
  env: Env;
  db: Database;
  store: Store;
  rules: CartRecoveryRules;
  /** The pass's "now": the slot of a cron run, the due time of a delayed check. */
  clock: number;
  /** When the e-mails go out, for quiet hours (see TaskContext.sendAt). */
  sendAt: number;
  /** A manual run for a past slot (see TaskContext.replay). */
  replay?: boolean;
  runId: number | null;
  dryRun: boolean;
  /** The delayed check of one cart looks at that cart only. */
  onlyCartId?: string;
}

export interface CartLine extends ReminderItem {
  category: string | null;
}

/** What sending came to; a dry run sends none. */
export interface ReminderDelivery {
  /** Sent e-mails by stage number. */
  sentByStage: Map<number, number>;
  sent: number;
  failed: number;
  /** Of the failed, those with a passing fault, handed to the Queue for a later resend. */
  retryQueued: number;
  /** Reminders another pass claimed between this pass's survey and its claim. */
  lostClaims: number;
  /** Wall time of the sends, or null when nothing was sent. */
  deliveryMs: number | null;
}

export interface RecoveryOutcome {
  survey: CartSurvey;
  lines: Map<string, CartLine[]>;
  delivery: ReminderDelivery;
}

export async function remindCarts(pass: RecoveryPass): Promise<RecoveryOutcome> {
  const { db, rules, clock, store } = pass;
  const survey = await surveyCarts(db, rules, {
    clock,
    sendAt: pass.sendAt,
    storeTimeZone: store.timeZone,
    replay: pass.replay ?? false,
    ...(pass.onlyCartId === undefined ? {} : { onlyCartId: pass.onlyCartId }),
  });
  const lines = await cartLines(
    db,
    survey.due.map((cart) => cart.id),
  );
  if (pass.dryRun) return { survey, lines, delivery: nothingSent() };

  const request = {
    task: cartRecoveryTask,
    runId: pass.runId,
    sendAt: pass.sendAt,
    now: Date.now(),
    linkValidMs: rules.linkValidMs,
    cooldownMs: rules.cooldownMs,
    replay: pass.replay ?? false,
  };
  // Rendered before the claim: a message that cannot be built fails the pass with nothing
  // claimed, instead of leaving claimed reminders that are never sent.
  const proposed = proposeReminders(survey.due, request);
  const rendered = new Map<string, OutgoingEmail>();
  for (const claim of proposed) rendered.set(claim.key, await reminderEmail(pass, claim, lines));
  const claims = await claimReminders(db, proposed, request);
  const messages = claims.flatMap((claim) => rendered.get(claim.key) ?? []);
  const delivery = await sendClaimedEmails(pass.env, db, store.senderAddress, messages);

  const stageOf = new Map(claims.map((claim) => [claim.key, claim.cart.stage.stage]));
  const sentByStage = new Map<number, number>();
  for (const outcome of delivery.outcomes) {
    const stage = stageOf.get(outcome.key);
    if (outcome.status === "sent" && stage !== undefined) {
      sentByStage.set(stage, (sentByStage.get(stage) ?? 0) + 1);
    }
  }
  const sent = delivery.outcomes.filter((outcome) => outcome.status === "sent").length;
  return {
    survey,
    lines,
    delivery: {
      sentByStage,
      sent,
      failed: delivery.outcomes.length - sent,
      retryQueued: delivery.outcomes.filter((outcome) => outcome.status === "retrying").length,
      lostClaims: survey.due.length - claims.length,
      deliveryMs: messages.length > 0 ? delivery.elapsedMs : null,
    },
  };
}

function nothingSent(): ReminderDelivery {
  return {
    sentByStage: new Map(),
    sent: 0,
    failed: 0,
    retryQueued: 0,
    lostClaims: 0,
    deliveryMs: null,
  };
}

async function reminderEmail(
  { env, store }: RecoveryPass,
  claim: ReminderClaim,
  lines: Map<string, CartLine[]>,
): Promise<OutgoingEmail> {
  const { cart } = claim;
  const now = Date.now();
  const token = await signLink(
    env.LINK_SECRET,
    "cart-recovery",
    claim.linkId,
    now,
    claim.linkExpiresAt,
  );
  const unsubscribe = await unsubscribeLink(store.publicUrl, env.LINK_SECRET, cart.address, now);
  const message = await cartReminder({
    template: cart.stage.template,
    storeName: store.name,
    firstName: cart.firstName,
    timeZone: cart.timeZone ?? store.timeZone,
    cart: { currency: cart.currency, totalCents: cart.totalCents, items: lines.get(cart.id) ?? [] },
    recoveryLink: `${store.publicUrl}/r/${token}`,
    unsubscribeLink: unsubscribe.link,
    discount: claim.discount,
  });
  return { key: claim.key, to: cart.address, ...message, headers: unsubscribe.headers };
}

/** Each cart's lines with the product's name, category and stock as the store knows them now. */
async function cartLines(db: Database, cartIds: string[]): Promise<Map<string, CartLine[]>> {
  const byCart = new Map<string, CartLine[]>();
  for (const json of jsonChunks(cartIds)) {
    const rows = await db.all<CartLine & { cartId: string; inStock: number | null }>(sql`
      SELECT ci.cart_id AS cartId, coalesce(ci.name, p.name, ci.product_id) AS name,
        coalesce(ci.category, p.category) AS category, ci.quantity,
        ci.unit_price_cents AS unitPriceCents, p.in_stock AS inStock
      FROM cart_items ci LEFT JOIN products p ON p.id = ci.product_id
      WHERE ci.cart_id IN (SELECT value FROM json_each(${json}))
      ORDER BY ci.cart_id, ci.line`);
    for (const { cartId, inStock, ...line } of rows) {
      const list = byCart.get(cartId) ?? [];
      list.push({ ...line, inStock: inStock === null ? null : inStock === 1 });
      byCart.set(cartId, list);
    }
  }
  return byCart;
}
