/**
 * Monday 09:00: picks the past week's new and best-selling products by category and fans the
 * campaign out through the Queue, one message per batch of subscribers. The consumer sends the
 * e-mails and moves the run's result as batches finish.
 */
import { sql } from "drizzle-orm";
import { readBatch } from "../db/batch";
import type { Database } from "../db/client";
import { campaigns } from "../db/schema";
import { optOutReason } from "../email/opt-outs";
import { nextFireTime } from "../lib/cron";
import { localDay, localWeekStart } from "../lib/local-day";
import { maskEmail } from "../lib/log";
import { type CampaignProgress, campaignResult } from "../newsletter/campaign-result";
import { type NewsletterBatch, sectionsFor, type WeeklyContent } from "../newsletter/content";
import { dryRunResult } from "./dry-run";
import type { Task, TaskContext } from "./task";

export const subscribersPerBatch = 50;
/** `sendBatch` takes at most 100 messages per call. */
const messagesPerSend = 100;
const productsPerCategory = 3;
/** How many recipients a dry run's plan shows with the sections each would get. */
const sampleSize = 20;

export const weeklyNewsletter: Task = {
  name: "weekly-newsletter",
  description:
    "Sends each subscriber the week's new and best-selling products in their categories.",
  run: startCampaign,
};

/** How far a campaign got; a dry run's never started. */
type Progress = Omit<CampaignProgress, "status"> & {
  status: CampaignProgress["status"] | "planned";
};

async function startCampaign(context: TaskContext) {
  const { db, store, slotTime } = context;

  // One campaign per local week (Monday to Sunday), whichever day it runs on.
  const weekOf = localWeekStart(slotTime, store.timeZone);
  const week = {
    start: localDay(weekOf, store.timeZone, -7).start,
    end: localDay(weekOf, store.timeZone).start,
  };
  const campaignId = `newsletter-${weekOf}`;
  const content = await weeklyContent(context, week);
  const audience = await newsletterAudience(db);
  const batches = batchesOf(context, campaignId, audience.recipients);
  const campaign: Campaign = { campaignId, weekOf, week, content, audience, batches };

  // A dry run stops here: no campaign row, nothing enqueued; it shows what would go out.
  if (context.dryRun) {
    return dryRunResult(
      campaignSummary(context, campaign, plannedProgress(campaign)),
      `would queue campaign ${campaignId} for ${audience.recipients.length} subscribers in ` +
        `${batches.length} batches.`,
      campaignPlan(campaign),
    );
  }

  await saveCampaign(context, campaign);
  await enqueue(context, batches);
  const progress = await campaignResult(db, campaignId);
  return campaignSummary(context, campaign, progress);
}

interface Campaign {
  campaignId: string;
  weekOf: string;
  week: { start: number; end: number };
  content: WeeklyContent;
  audience: Audience;
  batches: NewsletterBatch[];
}

interface Audience {
  /** Subscribers who may get the newsletter, in address order. */
  recipients: { email: string; categories: string[] }[];
  unsubscribes: number;
  bounces: number;
}

type SubscriberRow = { email: string; categories: string; blocked: string | null };

/** Every subscriber, sorted into those who may get the newsletter and those left out, and why. */
async function newsletterAudience(db: Database): Promise<Audience> {
  const subscribers = await db.all<SubscriberRow>(sql`
    SELECT s.email, s.categories,
      ${optOutReason("s.email")} AS blocked
    FROM subscribers s
    WHERE s.subscribed_at IS NOT NULL
    ORDER BY s.email`);
  return {
    recipients: subscribers
      .filter((row) => row.blocked === null)
      .map((row) => ({ email: row.email, categories: JSON.parse(row.categories) as string[] })),
    // Refused consent counts with the opt-outs: either way the person said no.
    unsubscribes: subscribers.filter(
      (row) => row.blocked === "unsubscribed" || row.blocked === "noConsent",
    ).length,
    bounces: subscribers.filter((row) => row.blocked === "bounced").length,
  };
}

/** The Queue messages of a campaign: its recipients cut into batches, in address order. */
function batchesOf(
  { runId }: TaskContext,
  campaignId: string,
  recipients: Audience["recipients"],
): NewsletterBatch[] {
  const batches: NewsletterBatch[] = [];
  for (let i = 0; i < recipients.length; i += subscribersPerBatch) {
    batches.push({
      kind: "newsletter-batch",
      campaignId,
      runId,
      batch: batches.length,
      emails: recipients.slice(i, i + subscribersPerBatch).map((recipient) => recipient.email),
    });
  }
  return batches;
}

/**
 * Records the campaign. A second run for the same week reuses it, and its e-mail keys stop any
 * resend.
 */
async function saveCampaign(
  { db, runId }: TaskContext,
  { campaignId, weekOf, content, audience, batches }: Campaign,
): Promise<void> {
  const fannedOutAt = Date.now();
  const totalSubscribers = audience.recipients.length;
  const batchesTotal = batches.length;
  await db
    .insert(campaigns)
    .values({
      id: campaignId,
      runId,
      weekOf,
      content: JSON.stringify(content),
      totalSubscribers,
      batchesTotal,
      startedAt: fannedOutAt,
      finishedAt: batchesTotal === 0 ? fannedOutAt : null,
    })
    .onConflictDoUpdate({
      target: campaigns.id,
      set: { runId, totalSubscribers, batchesTotal },
    });
}

async function enqueue({ env }: TaskContext, batches: NewsletterBatch[]): Promise<void> {
  for (let i = 0; i < batches.length; i += messagesPerSend) {
    await env.WORK_QUEUE.sendBatch(
      batches.slice(i, i + messagesPerSend).map((body) => ({ body, contentType: "json" })),
    );
  }
}

function campaignSummary(
  { slotTime, cron, timeZone }: TaskContext,
  { campaignId, weekOf, week, content, audience, batches }: Campaign,
  progress: Progress,
) {
  const subscribers = audience.recipients.length;
  const batchesTotal = batches.length;
  return {
    message:
      `Campaign ${campaignId} queued for ${subscribers} subscribers ` +
      `in ${batchesTotal} batches.`,
    campaignId,
    weekOf,
    contentWindow: {
      start: new Date(week.start).toISOString(),
      end: new Date(week.end).toISOString(),
    },
    content: {
      categories: content.categories.length,
      newProducts: content.categories.reduce((n, c) => n + c.newProducts.length, 0),
      bestSellers: content.categories.reduce((n, c) => n + c.bestSellers.length, 0),
    },
    results: {
      ...progress.results,
      unsubscribes: audience.unsubscribes,
      bounces: audience.bounces,
    },
    performance: progress.performance,
    status: progress.status,
    nextCampaign: nextFireTime(cron, new Date(slotTime), timeZone),
  };
}

/** A campaign that was only planned: every counter of what the consumer does is 0. */
function plannedProgress({ audience, batches }: Campaign): Progress {
  return {
    status: "planned",
    results: { emailsSent: 0, errors: 0, skippedAtSend: 0 },
    performance: {
      totalSubscribers: audience.recipients.length,
      successRate: null,
      deliveryTime: null,
      batchesProcessed: 0,
      batchesTotal: batches.length,
    },
  };
}

/**
 * What a real run would send: the content, the Queue messages with their sizes, and the first
 * recipients (masked) with the sections each would get.
 */
function campaignPlan({ content, audience, batches }: Campaign) {
  return {
    content,
    batches: {
      messages: batches.length,
      sendBatchCalls: Math.ceil(batches.length / messagesPerSend),
      subscribers: batches.map((batch) => batch.emails.length),
    },
    sample: audience.recipients.slice(0, sampleSize).map((recipient) => {
      const { personalised, sections } = sectionsFor(content, recipient.categories);
      return {
        recipient: maskEmail(recipient.email),
        categories: recipient.categories,
        personalised,
        sections: sections.map((section) => section.category),
      };
    }),
  };
}

/** New products (first seen in the week) and best sellers (units sold in the week), by category. */
async function weeklyContent(
  { db, store }: TaskContext,
  week: { start: number; end: number },
): Promise<WeeklyContent> {
  const [fresh, sellers] = await readBatch<
    [
      { category: string; productId: string; name: string; priceCents: number; currency: string },
      { category: string; productId: string; name: string; unitsSold: number },
    ]
  >(db, [
    sql`
      SELECT coalesce(category, 'other') AS category, id AS productId, name,
        price_cents AS priceCents, coalesce(currency, ${store.currency}) AS currency
      FROM (SELECT *, row_number() OVER (PARTITION BY coalesce(category, 'other')
          ORDER BY first_seen_at DESC, id) AS rank
        FROM products WHERE first_seen_at >= ${week.start} AND first_seen_at < ${week.end})
      WHERE rank <= ${productsPerCategory}`,
    sql`
      SELECT category, productId, name, unitsSold FROM (
        SELECT coalesce(p.category, oi.category, 'other') AS category, oi.product_id AS productId,
          coalesce(p.name, max(oi.name), oi.product_id) AS name, sum(oi.quantity) AS unitsSold,
          row_number() OVER (PARTITION BY coalesce(p.category, oi.category, 'other')
            ORDER BY sum(oi.quantity) DESC, oi.product_id) AS rank
        FROM order_items oi JOIN orders o ON o.id = oi.order_id
        LEFT JOIN products p ON p.id = oi.product_id
        WHERE o.placed_at >= ${week.start} AND o.placed_at < ${week.end}
        GROUP BY oi.product_id)
      WHERE rank <= ${productsPerCategory}`,
  ]);
  const byCategory = new Map<string, WeeklyContent["categories"][number]>();
  const entry = (category: string) => {
    const found = byCategory.get(category);
    if (found) return found;
    const created = { category, newProducts: [], bestSellers: [] };
    byCategory.set(category, created);
    return created;
  };
  for (const { category, ...product } of fresh) entry(category).newProducts.push(product);
  for (const { category, ...product } of sellers) entry(category).bestSellers.push(product);
  const categories = [...byCategory.values()].sort((a, b) => a.category.localeCompare(b.category));
  return { categories };
}
