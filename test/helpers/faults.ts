/** Bindings that fail on purpose: a mail binding driven by a plan, a Queue that keeps messages. */
import { env } from "cloudflare:workers";
import type { SentEmail } from "./worker";

/**
 * A mail binding that asks `fault` before each send (numbered from 1): an error message makes
 * the send throw it, null lets it through. `sent` holds what went out, `tries` every attempt.
 */
export function faultyMail(fault: (send: number, to: string) => string | null) {
  const sent: SentEmail[] = [];
  const tries: string[] = [];
  const EMAIL = {
    async send(message: SentEmail) {
      tries.push(message.to);
      const error = fault(tries.length, message.to);
      if (error !== null) throw new Error(error);
      sent.push(message);
      return env.EMAIL.send(message as never);
    },
  } as unknown as SendEmail;
  return { EMAIL, sent, tries };
}

/** A Queue producer that keeps each message with the delay it was sent with. */
export function capturingQueue() {
  const queued: { body: any; delaySeconds?: number }[] = [];
  const WORK_QUEUE = {
    async send(body: unknown, options?: { delaySeconds?: number }) {
      queued.push({ body, delaySeconds: options?.delaySeconds });
    },
    async sendBatch(messages: { body: unknown; delaySeconds?: number }[]) {
      for (const message of messages) queued.push(message);
    },
  } as unknown as Queue;
  return { WORK_QUEUE, queued };
}

/** The e-mail log's rows as D1 holds them, by key. */
export async function emailRows() {
  const { results } = await env.DB.prepare(
    "SELECT idempotency_key AS key, status, attempts, error FROM emails ORDER BY key",
  ).all<{ key: string; status: string; attempts: number; error: string | null }>();
  return results;
}
