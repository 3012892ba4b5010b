/**
 * Event-driven reminders. A `cart.updated` also queues a check of that cart for when its first
 * stage falls due, so a reminder can go out near the 2-hour mark rather than at the next
 * 30-minute tick. The check runs the same pass as the cron on that one cart, so both meet the
 * same claims and a cart is never reminded twice; the cron pass still covers a lost message.
 */
import { alertOnCartCheck } from "../alerts/watch";
import { database } from "../db/client";
import type { CartUpdate } from "../events/ingest";
import { errorMessage, log } from "../lib/log";
import { isPaused } from "../runs/slot-claims";
import { storeFrom } from "../store";
import { cartRecoveryRules } from "./recovery-settings";
import { cartRecoveryTask, remindCarts } from "./remind-carts";

export interface CartCheck {
  kind: "cart-check";
  cartId: string;
  /** When the cart's first stage falls due, ms. */
  dueAt: number;
}

/** The Queue's longest delay: a later check is sent again from the consumer. */
const maxDelaySeconds = 12 * 3600;

export function isCartCheck(body: unknown): body is CartCheck {
  const check = body as Partial<CartCheck> | null;
  return (
    check?.kind === "cart-check" &&
    typeof check.cartId === "string" &&
    typeof check.dueAt === "number" &&
    Number.isFinite(check.dueAt)
  );
}

/**
 * Queues a check for each updated cart whose first stage is still ahead; an older cart is the
 * cron's. Never throws: the events are stored already, and the cron pass covers a lost check.
 */
export async function scheduleCartChecks(
  env: Pick<Env, "WORK_QUEUE" | "CART_RECOVERY">,
  updates: readonly CartUpdate[],
  now: number,
): Promise<void> {
  try {
    const first = cartRecoveryRules(env).stages[0]?.afterMs ?? 0;
    const checks = updates
      .map(({ cartId, at }) => ({ kind: "cart-check" as const, cartId, dueAt: at + first }))
      .filter((check) => check.dueAt > now);
    for (let i = 0; i < checks.length; i += 100) {
      await env.WORK_QUEUE.sendBatch(
        checks
          .slice(i, i + 100)
          .map((body) => ({ body, delaySeconds: delayUntil(body.dueAt, now) })),
      );
    }
  } catch (error) {
    log("warn", "cart_check.schedule_failed", {
      carts: updates.length,
      error: errorMessage(error),
    });
  }
}

/** Runs a delivered check at the real time; one delivered early is queued again for later. */
export async function runCartCheck(env: Env, check: CartCheck, now = Date.now()): Promise<void> {
  if (check.dueAt > now + 1000) {
    await env.WORK_QUEUE.send(check, { delaySeconds: delayUntil(check.dueAt, now) });
    return;
  }
  const db = database(env);
  // A paused task sends nothing, not even from a check; the cron pass after the resume covers it.
  if (await isPaused(db, cartRecoveryTask)) {
    log("info", "cart_check.paused", {});
    return;
  }
  const rules = cartRecoveryRules(env);
  // Delays are whole seconds: a check up to a second early runs as of its due time.
  const clock = Math.max(now, check.dueAt);
  const { delivery, survey } = await remindCarts({
    env,
    db,
    store: storeFrom(env),
    rules,
    clock,
    sendAt: clock,
    runId: null,
    dryRun: false,
    onlyCartId: check.cartId,
  });
  // Nothing watches a check's result as it does a run's: its failures raise their own alert.
  await alertOnCartCheck(env, delivery.sent, delivery.failed - delivery.retryQueued);
  log("info", "cart_check.done", {
    due: survey.due.length,
    held: survey.held.map((h) => h.reason),
    sent: delivery.sent,
    failed: delivery.failed,
  });
}

function delayUntil(dueAt: number, now: number): number {
  return Math.min(maxDelaySeconds, Math.max(0, Math.ceil((dueAt - now) / 1000)));
}
