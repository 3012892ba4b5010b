/**
 * The Queue consumer decides per message: ack on success, retry with a growing delay on a fault.
 * After the last retry Cloudflare moves the message to the dead-letter queue, whose consumer
 * stores it in D1 for review and replay, so nothing is lost, and raises an alert.
 */
import { sql } from "drizzle-orm";
import { alertOnDeadLetters } from "../alerts/watch";
import { type CartCheck, isCartCheck, runCartCheck } from "../carts/cart-checks";
import { type Database, database } from "../db/client";
import { failedItems } from "../db/schema";
import { type EmailRetry, isEmailRetry } from "../email/outbox";
import { resendEmail } from "../email/resend";
import { errorMessage, log } from "../lib/log";
import type { NewsletterBatch } from "../newsletter/content";
import { sendNewsletterBatch } from "../newsletter/send-batch";
import { type DeferredSlot, runSlot } from "../runs/runner";
import { storeFrom } from "../store";
import { scheduledTask } from "../tasks/registry";
import { RetryLater } from "./retry-later";

export const deadLetterQueue = "shop-tasks-dead-letters";
const maxDelaySeconds = 3600;

export type WorkMessage = NewsletterBatch | DeferredSlot | EmailRetry | CartCheck;

export interface WorkContext {
  invocationId: string;
  /** Deliveries of this message so far, this one included. */
  attempts: number;
  /** An admin's replay of a dead letter, not a Queue delivery. */
  replay: boolean;
  /** The consumer's "now", ms; tests set it to play a delayed check at its due time. */
  now?: number;
}

export async function consumeBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue === deadLetterQueue) {
    await keepDeadLetters(batch, env);
    return;
  }
  const invocationId = crypto.randomUUID();
  for (const message of batch.messages) {
    try {
      const context = { invocationId, attempts: message.attempts, replay: false };
      await processWork(env, message.body, context);
      message.ack();
    } catch (error) {
      const delaySeconds = retryDelay(error, message.attempts);
      log("warn", "queue.message_retry", {
        queue: batch.queue,
        messageId: message.id,
        attempts: message.attempts,
        delaySeconds,
        error: errorMessage(error),
      });
      message.retry({ delaySeconds });
    }
  }
}

/**
 * Does the work one message asks for; throws when it should be tried again. The Queue consumer
 * and the replay of a dead letter both come through here, so both meet the same idempotency keys.
 * Answers why nothing was done when an e-mail retry found nothing to send, null otherwise.
 */
export async function processWork(
  env: Env,
  body: unknown,
  context: WorkContext,
): Promise<string | null> {
  const db = database(env);
  const work = body as WorkMessage | { kind?: unknown } | null;
  if (work?.kind === "newsletter-batch") {
    await sendNewsletterBatch(env, db, storeFrom(env), work as NewsletterBatch);
  } else if (work?.kind === "email-retry") {
    if (!isEmailRetry(work)) throw new Error("an email-retry message needs a key and an email");
    const outcome = await resendEmail(env, db, work, context);
    if (outcome === "failed")
      return "the e-mail failed for good (a lasting error) and was not sent";

    if (outcome === "not-resent") {
      return (
        "the e-mail was not sent: its key is not waiting for a retry " +
        "(claimed, failed or unknown)"
      );
    }
  } else if (work?.kind === "cart-check") {
    if (!isCartCheck(work)) throw new Error("a cart-check message needs a cartId and a dueAt");
    await runCartCheck(env, work, context.now);
  } else if (work?.kind === "run-slot" && "task" in work && "slotTime" in work) {
    const entry = scheduledTask(work.task);
    if (!entry) throw new Error(`no task named ${JSON.stringify(work.task)}`);
    const slot = { slotTime: work.slotTime, cron: null, invocationId: context.invocationId };
    await runSlot(env, entry, { ...slot, trigger: "retry", sendAt: Date.now() });
  } else {
    throw new Error(`unknown work message kind ${JSON.stringify(work?.kind)}`);
  }
  return null;
}

/** Exponential backoff with jitter: about 10 s, 20 s, 40 s … capped at an hour. */
export function retryDelay(error: unknown, attempts: number): number {
  if (error instanceof RetryLater) return error.delaySeconds;
  const base = Math.min(maxDelaySeconds, 10 * 2 ** Math.max(0, attempts - 1));
  return Math.round(base / 2 + Math.random() * (base / 2));
}

async function keepDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = database(env);
  for (const message of batch.messages) {
    try {
      await db.insert(failedItems).values({
        queue: batch.queue,
        payload: JSON.stringify(message.body),
        error: "delivery retries exhausted",
        attempts: message.attempts,
        failedAt: Date.now(),
      });
      await giveUpOnEmail(db, message.body);
      log("error", "queue.dead_letter_stored", { messageId: message.id });
      message.ack();
    } catch (error) {
      log("error", "queue.dead_letter_store_failed", {
        messageId: message.id,
        error: errorMessage(error),
      });
      message.retry({ delaySeconds: 60 });
    }
  }
  await alertOnDeadLetters(env);
}

/** A dead-lettered e-mail retry leaves its key `failed` (until a replay), not `retrying`. */
async function giveUpOnEmail(db: Database, body: unknown): Promise<void> {
  const work = body as { kind?: unknown; key?: unknown } | null;
  if (work?.kind !== "email-retry" || typeof work.key !== "string") return;
  await db.run(sql`UPDATE emails SET status = 'failed',
      error = 'Queue retries exhausted: ' || coalesce(error, 'unknown error')
    WHERE idempotency_key = ${work.key} AND status = 'retrying'`);
}
