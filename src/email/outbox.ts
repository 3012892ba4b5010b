/**
 * Claim-then-send for e-mails. The idempotency key says what an e-mail is (cart and stage,
 * campaign and subscriber, report date and recipient); inserting it is the claim, so a key that
 * is already claimed or sent is never sent again.
 *
 * A failed send is either lasting or passing (`isLastingSendError`). A lasting failure is marked
 * `failed` and never retried. A passing one is retried a couple of times within the run, after
 * short jittered waits; what still fails is marked `retrying` and handed to the Queue as an
 * `email-retry` message, whose consumer resends it under the same key with growing delays and,
 * after the last retry, leaves it in the dead-letter store for an admin to replay.
 *
 * The crash rule: a key left `claimed` (the process died between the claim and the outcome) is
 * never resent automatically, because the send may have happened. E-mails are therefore sent at
 * most once on the crash path, exactly once on every other path. Such keys stay visible in the
 * e-mail log (`GET /api/emails?status=claimed`) for a person to check. One gap remains: a send
 * that threw although the message went out (a timeout after delivery) is retried like any
 * passing failure and may arrive twice; the binding offers no way to ask what became of it.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { jsonChunks } from "../db/json-chunks";
import { errorMessage, log } from "../lib/log";

export interface EmailClaim {
  key: string;
  task: string;
  runId: number | null;
  campaignId?: string;
  template: string;
  recipient: string;
}

export interface EmailOutcome {
  key: string;
  /** `retrying`: a passing failure outlived the in-run retries and waits for the Queue. */
  status: "sent" | "failed" | "retrying";
  /** Sends tried for this outcome, in-run retries included. */
  attempts: number;
  error?: string;
}

/** Claims the keys not yet taken, all in one statement per chunk; answers the keys it won. */
export async function claimEmails(
  db: Database,
  claims: readonly EmailClaim[],
  claimedAt: number,
): Promise<Set<string>> {
  const won = new Set<string>();
  for (const json of jsonChunks(claims)) {
    const rows = await db.all<{ key: string }>(sql`INSERT INTO emails
        (idempotency_key, task, run_id, campaign_id, template, recipient, status, attempts,
         claimed_at)
      SELECT json_extract(value, '$.key'), json_extract(value, '$.task'),
        json_extract(value, '$.runId'), json_extract(value, '$.campaignId'),
        json_extract(value, '$.template'), json_extract(value, '$.recipient'), 'claimed', 0,
        ${claimedAt}
      FROM json_each(${json}) WHERE true
      ON CONFLICT (idempotency_key) DO NOTHING
      RETURNING idempotency_key AS key`);
    for (const row of rows) won.add(row.key);
  }
  return won;
}

/** Records how each claimed send ended, in one statement per chunk. */
export async function settleEmails(
  db: Database,
  outcomes: readonly EmailOutcome[],
  settledAt: number,
): Promise<void> {
  for (const json of jsonChunks(outcomes)) {
    await db.run(sql`UPDATE emails SET status = o.status, attempts = emails.attempts + o.attempts,
        sent_at = iif(o.status = 'sent', ${settledAt}, emails.sent_at), error = o.error
      FROM (SELECT json_extract(value, '$.key') AS key, json_extract(value, '$.status') AS status,
          json_extract(value, '$.attempts') AS attempts, json_extract(value, '$.error') AS error
        FROM json_each(${json})) AS o
      WHERE emails.idempotency_key = o.key`);
  }
}

export interface OutgoingEmail {
  key: string;
  to: string;
  subject: string;
  html: string;
  text: string;
  headers?: Record<string, string>;
}

export interface Delivery {
  outcomes: EmailOutcome[];
  /** Wall time from the first send to the last answer, ms. */
  elapsedMs: number;
}

export interface DeliveryOptions {
  concurrency?: number;
  /** The base wait before each in-run retry of a passing failure, ms; jitter takes up to half. */
  retryDelaysMs?: readonly number[];
}

/** Two in-run retries: at most 0.1 s + 0.4 s of waiting per e-mail, so a run stays short. */
export const inRunRetryDelaysMs: readonly number[] = [100, 400];

/**
 * A lasting failure is one that sending again cannot fix: the address is invalid or not allowed,
 * or the message itself was rejected (`invalid`, `not allowed`, `not verified`, `rejected` in the
 * error). Anything else (a timeout, a 5xx, the binding throwing, D1 busy) is passing.
 */
export function isLastingSendError(message: string): boolean {
  return /invalid|not allowed|not verified|rejected/i.test(message);
}

/**
 * Sends through the `send_email` binding, a few at a time, retrying passing failures within the
 * call after short jittered waits; never throws for one failure.
 */
export async function deliver(
  env: Pick<Env, "EMAIL">,
  from: string,
  messages: readonly OutgoingEmail[],
  options: DeliveryOptions = {},
): Promise<Delivery> {
  const { concurrency = 6, retryDelaysMs = inRunRetryDelaysMs } = options;
  const started = Date.now();
  const outcomes: EmailOutcome[] = [];
  // One send per key, even when a caller lists the same e-mail twice (a recipient twice).
  const unique = [...new Map(messages.map((message) => [message.key, message])).values()];
  let next = 0;
  const worker = async () => {
    while (next < unique.length) {
      const message = unique[next++];
      if (!message) break;
      outcomes.push(await sendWithRetries(env, from, message, retryDelaysMs));
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, unique.length) }, worker));
  return { outcomes, elapsedMs: Date.now() - started };
}

async function sendWithRetries(
  env: Pick<Env, "EMAIL">,
  from: string,
  message: OutgoingEmail,
  retryDelaysMs: readonly number[],
): Promise<EmailOutcome> {
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      await env.EMAIL.send({
        from,
        to: message.to,
        subject: message.subject,
        html: message.html,
        text: message.text,
        headers: message.headers,
      });
      return { key: message.key, status: "sent", attempts };
    } catch (failure) {
      const error = errorMessage(failure);
      const { key } = message;
      if (isLastingSendError(error)) return { key, status: "failed", attempts, error };
      const wait = retryDelaysMs[attempts - 1];
      if (wait === undefined) return { key, status: "retrying", attempts, error };
      await new Promise((resolve) => setTimeout(resolve, wait * (0.5 + Math.random() / 2)));
    }
  }
}

/** The Queue message that resends one e-mail under its key: all it needs is in the message. */
export interface EmailRetry {
  kind: "email-retry";
  key: string;
  from: string;
  email: OutgoingEmail;
}

export function isEmailRetry(body: unknown): body is EmailRetry {
  if (typeof body !== "object" || body === null) return false;
  const { kind, key, from, email } = body as Partial<Record<keyof EmailRetry, unknown>>;
  return (
    kind === "email-retry" &&
    typeof key === "string" &&
    typeof from === "string" &&
    typeof email === "object" &&
    email !== null &&
    typeof Reflect.get(email, "to") === "string"
  );
}

/** The first Queue retry waits 15–30 s; the consumer doubles it on each further failure. */
export const firstQueueRetrySeconds = 30;
const maxQueueRetrySeconds = 3600;
/** Queue messages are at most 128 KB, batches 100 messages and 256 KB. */
const maxRetryMessageBytes = 120_000;
const maxRetryBatchBytes = 240_000;

/** Exponential backoff with jitter for the `attempt`-th Queue retry of an e-mail, in seconds. */
export function emailRetryDelaySeconds(attempt: number): number {
  const base = Math.min(
    maxQueueRetrySeconds,
    firstQueueRetrySeconds * 2 ** Math.max(0, attempt - 1),
  );
  return Math.round(base / 2 + Math.random() * (base / 2));
}

/**
 * Sends claimed e-mails, hands passing failures to the Queue as `email-retry` messages and
 * records every outcome. An e-mail that cannot be queued is marked `failed` with the reason.
 */
export async function sendClaimedEmails(
  env: Pick<Env, "EMAIL" | "WORK_QUEUE">,
  db: Database,
  from: string,
  messages: readonly OutgoingEmail[],
  options: DeliveryOptions = {},
): Promise<Delivery> {
  const delivery = await deliver(env, from, messages, options);
  const retrying = new Set(
    delivery.outcomes.filter((outcome) => outcome.status === "retrying").map((o) => o.key),
  );
  const retries = messages.filter((message) => retrying.has(message.key));
  const unqueued = await queueEmailRetries(env, from, retries);
  const outcomes = delivery.outcomes.map((outcome) => {
    const reason = unqueued.get(outcome.key);
    if (reason === undefined) return outcome;
    return { ...outcome, status: "failed" as const, error: `${outcome.error}; ${reason}` };
  });
  await settleEmails(db, outcomes, Date.now());
  return { outcomes, elapsedMs: delivery.elapsedMs };
}

/** Queues one retry per e-mail, in batches within the Queue's limits; answers what failed. */
async function queueEmailRetries(
  env: Pick<Env, "WORK_QUEUE">,
  from: string,
  emails: readonly OutgoingEmail[],
): Promise<Map<string, string>> {
  const unqueued = new Map<string, string>();
  const batches: { body: EmailRetry; bytes: number }[][] = [];
  let current: { body: EmailRetry; bytes: number }[] = [];
  let bytes = 0;
  for (const email of emails) {
    const body: EmailRetry = { kind: "email-retry", key: email.key, from, email };
    const size = JSON.stringify(body).length;
    if (size > maxRetryMessageBytes) {
      unqueued.set(email.key, "too large to queue for a retry");
      continue;
    }
    if (current.length === 100 || bytes + size > maxRetryBatchBytes) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push({ body, bytes: size });
    bytes += size;
  }
  if (current.length > 0) batches.push(current);

  for (const batch of batches) {
    const delaySeconds = emailRetryDelaySeconds(1);
    try {
      await env.WORK_QUEUE.sendBatch(batch.map(({ body }) => ({ body, delaySeconds })));
    } catch (error) {
      const reason = `could not queue a retry: ${errorMessage(error)}`;
      for (const { body } of batch) unqueued.set(body.key, reason);
      log("error", "email.retry_queue_failed", { emails: batch.length, reason });
    }
  }
  return unqueued;
}

/**
 * Takes an e-mail back for a Queue retry: `retrying` becomes `claimed` again, atomically, so two
 * deliveries of the same retry never both send. A replay by an admin may also take a `failed`
 * key (one the dead-letter store gave up on). Answers whether this caller won, and otherwise the
 * key's status (null when the key is unknown).
 */
export async function reclaimForRetry(
  db: Database,
  key: string,
  options: { replay: boolean },
): Promise<{ won: true } | { won: false; status: string | null }> {
  const taking = options.replay ? sql`('retrying', 'failed')` : sql`('retrying')`;
  const [won] = await db.all<{ key: string }>(sql`UPDATE emails SET status = 'claimed'
    WHERE idempotency_key = ${key} AND status IN ${taking}
    RETURNING idempotency_key AS key`);
  if (won) return { won: true };
  const [row] = await db.all<{ status: string }>(
    sql`SELECT status FROM emails WHERE idempotency_key = ${key}`,
  );
  return { won: false, status: row?.status ?? null };
}
