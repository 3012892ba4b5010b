/**
 * The Queue consumer decides per message: ack on success, retry with a growing delay on a fault.
 * After the last retry Cloudflare moves the message to the dead-letter queue, whose consumer
 * stores it in D1 for review, so nothing is lost.
 */
import { database } from "../db/client";
import { failedItems } from "../db/schema";
import { errorMessage, log } from "../lib/log";
import type { NewsletterBatch } from "../newsletter/content";
import { sendNewsletterBatch } from "../newsletter/send-batch";
import { type DeferredSlot, runSlot } from "../runs/runner";
import { storeFrom } from "../store";
import { scheduledTask } from "../tasks/registry";
import { RetryLater } from "./retry-later";

export const deadLetterQueue = "shop-tasks-dead-letters";
const maxDelaySeconds = 3600;

export type WorkMessage = NewsletterBatch | DeferredSlot;

export async function consumeBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = database(env);
  if (batch.queue === deadLetterQueue) {
    await keepDeadLetters(batch, env);
    return;
  }
  const store = storeFrom(env);
  const invocationId = crypto.randomUUID();
  for (const message of batch.messages) {
    try {
      const work = message.body as WorkMessage | { kind?: unknown } | null;
      if (work?.kind === "newsletter-batch") {
        await sendNewsletterBatch(env, db, store, work as NewsletterBatch);
      } else if (work?.kind === "run-slot" && "task" in work && "slotTime" in work) {
        const entry = scheduledTask(work.task);
        if (!entry) throw new Error(`no task named ${JSON.stringify(work.task)}`);
        const slot = { slotTime: work.slotTime, cron: null, invocationId };
        await runSlot(env, entry, { ...slot, trigger: "retry" });
      } else {
        throw new Error(`unknown work message kind ${JSON.stringify(work?.kind)}`);
      }
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
}
