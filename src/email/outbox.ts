/**
 * Claim-then-send for e-mails. The idempotency key says what an e-mail is (cart and stage,
 * campaign and subscriber, report date and recipient); inserting it is the claim, so a key that
 * is already claimed or sent is never sent again.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { jsonChunks } from "../db/json-chunks";
import { errorMessage } from "../lib/log";

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
  status: "sent" | "failed";
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
    await db.run(sql`UPDATE emails SET status = o.status, attempts = emails.attempts + 1,
        sent_at = iif(o.status = 'sent', ${settledAt}, emails.sent_at), error = o.error
      FROM (SELECT json_extract(value, '$.key') AS key, json_extract(value, '$.status') AS status,
          json_extract(value, '$.error') AS error FROM json_each(${json})) AS o
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

/** Sends through the `send_email` binding, a few at a time, and never throws for one failure. */
export async function deliver(
  env: Pick<Env, "EMAIL">,
  from: string,
  messages: readonly OutgoingEmail[],
  concurrency = 6,
): Promise<Delivery> {
  const started = Date.now();
  const outcomes: EmailOutcome[] = [];
  let next = 0;
  const worker = async () => {
    while (next < messages.length) {
      const message = messages[next++];
      if (!message) break;
      try {
        await env.EMAIL.send({
          from,
          to: message.to,
          subject: message.subject,
          html: message.html,
          text: message.text,
          headers: message.headers,
        });
        outcomes.push({ key: message.key, status: "sent" });
      } catch (error) {
        outcomes.push({ key: message.key, status: "failed", error: errorMessage(error) });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, messages.length) }, worker));
  return { outcomes, elapsedMs: Date.now() - started };
}
