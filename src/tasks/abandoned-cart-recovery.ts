/**
 * Every 30 minutes: reminds shoppers of carts they left, in stages (by default 2 h, 24 h and
 * 72 h after the cart's last activity, the last with a discount code). Each run sends each cart
 * only the stage due now; the rules on who gets nothing are in src/carts/due-carts.ts, the
 * claims that keep a stage to one e-mail in src/carts/reminder-claims.ts.
 */

import type { DueCart } from "../carts/due-carts";
import { attributeOrders, recoveredBetween } from "../carts/recoveries";
import { cartRecoveryRules } from "../carts/recovery-settings";
import { type CartLine, type RecoveryOutcome, remindCarts } from "../carts/remind-carts";
import { nextFireTime } from "../lib/cron";
import { maskEmail } from "../lib/log";
import { divideRounded } from "../lib/money";
import { dryRunResult } from "./dry-run";
import type { Task, TaskContext } from "./task";

const maxPlanItems = 1000;

export const abandonedCartRecovery: Task = {
  name: "abandoned-cart-recovery",
  description:
    "E-mails staged reminders (by default 2 h, 24 h and 72 h with a discount) for carts left idle.",
  run: recoverAbandonedCarts,
};

async function recoverAbandonedCarts(context: TaskContext) {
  const started = Date.now();
  const { env, db, store, slotTime, sendAt, replay, runId, dryRun } = context;
  const rules = cartRecoveryRules(env);
  const pass = { env, db, store, rules, clock: slotTime, sendAt, replay, runId, dryRun };
  const outcome = await remindCarts(pass);
  // Orders that followed reminders are credited before the result reads them (not in a dry run,
  // which writes nothing).
  if (!dryRun) {
    const since = slotTime - rules.attributionMs - rules.giveUpAfterMs;
    await attributeOrders(db, rules, since, slotTime);
  }
  const recovery = {
    attributionDays: rules.attributionMs / 86_400_000,
    windowStart: new Date(slotTime - rules.attributionMs).toISOString(),
    windowEnd: new Date(slotTime).toISOString(),
    ...(await recoveredBetween(db, slotTime - rules.attributionMs, slotTime)),
  };
  const result = recoveryResult(context, rules.stages, outcome, recovery, started);
  if (!dryRun) return result;
  const { due, held } = outcome.survey;
  // The plan is kept in the run's D1 row (2 MB at most): long lists are cut and say so.
  return dryRunResult(
    result,
    `would send ${due.length} cart reminders and hold back ${held.length} carts.`,
    {
      reminders: due.slice(0, maxPlanItems).map(plannedReminder),
      held: held.slice(0, maxPlanItems),
      ...(due.length > maxPlanItems || held.length > maxPlanItems
        ? { truncated: `each list shows its first ${maxPlanItems} carts` }
        : {}),
    },
  );
}

function recoveryResult(
  { slotTime, cron, timeZone }: TaskContext,
  stages: ReturnType<typeof cartRecoveryRules>["stages"],
  { survey, lines, delivery }: RecoveryOutcome,
  recovery: object,
  started: number,
) {
  const { found, due, heldBy } = survey;
  const { sent, failed, retryQueued, lostClaims, deliveryMs, sentByStage } = delivery;
  const executionTime = Date.now() - started;
  const templatesUsed: Record<string, number> = {};
  for (const stage of stages) {
    const count = sentByStage.get(stage.stage) ?? 0;
    if (count > 0) templatesUsed[stage.template] = (templatesUsed[stage.template] ?? 0) + count;
  }
  return {
    message:
      `Sent ${sent} of ${due.length} due cart reminders (${failed} failed); ` +
      `${found.length - due.length} carts held back.`,
    timestamp: new Date(slotTime).toISOString(),
    summary: {
      processed: found.length,
      emailsSent: sent,
      errors: failed,
      skipped: found.length - due.length + lostClaims,
      skippedBy: heldBy,
    },
    details: {
      discoveredCarts: found.length,
      eligibleForRecovery: due.length,
      duplicatesPrevented: heldBy.alreadyReminded + lostClaims,
      retryQueued,
      ...cartValues(due),
      topCategories: topCategories(lines),
      emailTemplatesUsed: templatesUsed,
      stages: stages.map((stage) => ({
        stage: stage.stage,
        template: stage.template,
        afterHours: stage.afterHours,
        discountPercent: stage.discount?.percentOff ?? null,
        due: due.filter((cart) => cart.stage.stage === stage.stage).length,
        sent: sentByStage.get(stage.stage) ?? 0,
      })),
      recovery,
    },
    performance: {
      executionTime,
      cartsPerSecond:
        executionTime > 0 ? Math.round((found.length / executionTime) * 1000 * 10) / 10 : null,
      ...(executionTime > 0 ? {} : { cartsPerSecondNote: "run too short to time (0 ms)" }),
      emailDeliveryTime: deliveryMs,
      ...(deliveryMs !== null ? {} : { emailDeliveryTimeNote: "no e-mail was sent" }),
    },
    nextRun: nextFireTime(cron, new Date(slotTime), timeZone),
  };
}

/** A reminder a dry run would send; the address is masked, as in logs. */
function plannedReminder(cart: DueCart) {
  return {
    cartId: cart.id,
    recipient: maskEmail(cart.address),
    stage: cart.stage.stage,
    template: cart.stage.template,
    discountPercent: cart.stage.discount?.percentOff ?? null,
    cartTotalCents: cart.totalCents,
    currency: cart.currency,
    itemCount: cart.itemCount,
  };
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

function topCategories(lines: Map<string, CartLine[]>) {
  const carts = new Map<string, number>();
  for (const list of lines.values()) {
    for (const category of new Set(list.map((line) => line.category ?? "uncategorised"))) {
      carts.set(category, (carts.get(category) ?? 0) + 1);
    }
  }
  return [...carts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, 5)
    .map(([category, cartCount]) => ({ category, carts: cartCount }));
}
