/**
 * Sends one batch of a newsletter campaign. Addresses are checked again at send time, so someone
 * who unsubscribed or hard-bounced after the fan-out gets nothing; each e-mail's key is claimed
 * before it is sent, so a redelivered batch sends nothing twice.
 */
import { eq, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { jsonChunks } from "../db/json-chunks";
import { campaignBatches, campaigns } from "../db/schema";
import { optOutReason } from "../email/opt-outs";
import { claimEmails, type OutgoingEmail, sendClaimedEmails } from "../email/outbox";
import { newsletterEmail } from "../email/templates/newsletter";
import { unsubscribeLink } from "../email/unsubscribe-link";
import { RetryLater } from "../queue/retry-later";
import type { Store } from "../store";
import { patchCampaignRun } from "./campaign-result";
import { type NewsletterBatch, sectionsFor, type WeeklyContent } from "./content";

export async function sendNewsletterBatch(
  env: Env,
  db: Database,
  store: Store,
  message: NewsletterBatch,
): Promise<void> {
  const [campaign] = await db
    .select()
    .from(campaigns)
    .where(eq(campaigns.id, message.campaignId))
    .limit(1);
  if (!campaign) throw new Error(`campaign ${message.campaignId} does not exist`);
  const [run] = await db.all<{ status: string }>(
    sql`SELECT status FROM runs WHERE id = ${campaign.runId}`,
  );
  // The run's own result is written when the cron returns; counting before then would be lost.
  if (run?.status === "running") throw new RetryLater("the campaign's run is still starting");
  const content = JSON.parse(campaign.content) as WeeklyContent;
  const now = Date.now();

  const audience: { email: string; categories: string; blocked: number }[] = [];
  for (const json of jsonChunks(message.emails)) {
    audience.push(
      ...(await db.all<{ email: string; categories: string; blocked: number }>(sql`
        SELECT s.email, s.categories,
          ${optOutReason("s.email")} IS NOT NULL AS blocked
        FROM subscribers s WHERE s.email IN (SELECT value FROM json_each(${json}))`)),
    );
  }
  const reachable = audience.filter((subscriber) => !subscriber.blocked);

  const claims = reachable.map((subscriber) => ({
    key: `newsletter:${campaign.id}:${subscriber.email}`,
    task: "weekly-newsletter",
    runId: message.runId,
    campaignId: campaign.id,
    template: "weekly-newsletter",
    recipient: subscriber.email,
  }));
  const won = await claimEmails(db, claims, now);
  const outgoing: OutgoingEmail[] = [];
  for (const subscriber of reachable) {
    const key = `newsletter:${campaign.id}:${subscriber.email}`;
    if (!won.has(key)) continue;
    const unsubscribe = await unsubscribeLink(
      store.publicUrl,
      env.LINK_SECRET,
      subscriber.email,
      now,
    );
    const interests = JSON.parse(subscriber.categories) as string[];
    const { sections } = sectionsFor(content, interests);
    const email = await newsletterEmail(store.name, campaign.weekOf, sections, unsubscribe.link);
    outgoing.push({ key, to: subscriber.email, ...email, headers: unsubscribe.headers });
  }
  await sendClaimedEmails(env, db, store.senderAddress, outgoing);

  await db
    .insert(campaignBatches)
    .values({ campaignId: campaign.id, batch: message.batch, finishedAt: Date.now() })
    .onConflictDoNothing();
  await db.run(sql`UPDATE campaigns SET finished_at = ${Date.now()}
    WHERE id = ${campaign.id} AND finished_at IS NULL
      AND (SELECT count(*) FROM campaign_batches WHERE campaign_id = ${campaign.id})
        >= batches_total`);
  await patchCampaignRun(db, campaign.id, campaign.runId);
}
