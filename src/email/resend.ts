/**
 * The Queue's side of an e-mail retry: resends one e-mail under its idempotency key, so a retry
 * delivered twice, or replayed after it was sent, never sends it again.
 */
import { sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { log, maskAddressesIn } from "../lib/log";
import { patchCampaignRun } from "../newsletter/campaign-result";
import { RetryLater } from "../queue/retry-later";
import {
  type DeliveryOptions,
  deliver,
  type EmailRetry,
  emailRetryDelaySeconds,
  reclaimForRetry,
  settleEmails,
} from "./outbox";
import { withdrawnBecause } from "./still-wanted";

/**
 * `sent`: sent now. `duplicate`: the key was already sent (a prevented duplicate). `failed`: a
 * lasting failure, not retried. `not-resent`: the key is `claimed` (a send in flight, or one lost
 * with its process, which by the crash rule is never resent), `failed` outside a replay,
 * `skipped`, or unknown. `withdrawn`: not sent because it is no longer wanted (the recipient
 * opted out, or the shopper ordered, since the first try); the key is marked `skipped` with the
 * reason, and nothing is left to do (a replay of it counts as done).
 */
export type ResendOutcome = "sent" | "duplicate" | "failed" | "not-resent" | "withdrawn";

/**
 * Resends a queued e-mail if its key is still waiting for a retry. A passing failure throws
 * `RetryLater` with a delay that doubles with `attempts`, so the Queue tries again and, after its
 * last retry, dead-letters the message; the key stays `retrying` meanwhile.
 */
export async function resendEmail(
  env: Pick<Env, "EMAIL">,
  db: Database,
  retry: EmailRetry,
  context: { attempts: number; replay: boolean },
  options: DeliveryOptions = {},
): Promise<ResendOutcome> {
  const taken = await reclaimForRetry(db, retry.key, { replay: context.replay });
  if (!taken.won) {
    const outcome = taken.status === "sent" ? "duplicate" : "not-resent";
    log("info", "email.retry_not_sent", { key: retry.key, status: taken.status, outcome });
    return outcome;
  }

  const withdrawn = await withdrawnBecause(db, retry.key);
  if (withdrawn) {
    await db.run(sql`UPDATE emails SET status = 'skipped', error = ${withdrawn}
      WHERE idempotency_key = ${retry.key}`);
    await refreshCampaign(db, retry.key);
    log("info", "email.retry_withdrawn", { key: retry.key, reason: withdrawn });
    return "withdrawn";
  }

  const { outcomes } = await deliver(env, retry.from, [retry.email], options);
  const [outcome] = outcomes;
  if (!outcome) throw new Error(`no outcome for e-mail ${retry.key}`);
  await settleEmails(db, outcomes, Date.now());
  await refreshCampaign(db, retry.key);
  if (outcome.status === "retrying") {
    const delaySeconds = emailRetryDelaySeconds(context.attempts + 1);
    const key = maskAddressesIn(retry.key);
    throw new RetryLater(`e-mail ${key} failed again: ${outcome.error}`, delaySeconds);
  }
  log("info", "email.retry_done", { key: retry.key, status: outcome.status });
  return outcome.status;
}

/** A newsletter e-mail's outcome moves its campaign's counters in the run's result. */
async function refreshCampaign(db: Database, key: string): Promise<void> {
  const [campaign] = await db.all<{ id: string; runId: number }>(sql`
    SELECT c.id, c.run_id AS runId FROM emails e JOIN campaigns c ON c.id = e.campaign_id
    WHERE e.idempotency_key = ${key}`);
  if (campaign) await patchCampaignRun(db, campaign.id, campaign.runId);
}
