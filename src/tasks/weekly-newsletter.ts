/**
 * Monday 09:00: picks the past week's new and best-selling products by category and fans the
 * campaign out through the Queue, one message per batch of subscribers. The consumer sends the
 * e-mails and moves the run's result as batches finish.
 */
import { sql } from "drizzle-orm";
import { readBatch } from "../db/batch";
import { campaigns } from "../db/schema";
import { nextFireTime } from "../lib/cron";
import { localDate, localDay } from "../lib/local-day";
import { campaignResult } from "../newsletter/campaign-result";
import type { NewsletterBatch, WeeklyContent } from "../newsletter/content";
import type { Task, TaskContext } from "./task";

export const subscribersPerBatch = 50;
/** `sendBatch` takes at most 100 messages per call. */
const messagesPerSend = 100;
const productsPerCategory = 3;

export const weeklyNewsletter: Task = {
  name: "weekly-newsletter",
  cron: "0 9 * * MON",
  description:
    "Sends each subscriber the week's new and best-selling products in their categories.",
  run: startCampaign,
};

async function startCampaign(context: TaskContext) {
  const { db, env, store, slotTime, runId } = context;

  const weekOf = localDate(slotTime, store.timeZone);
  const week = {
    start: localDay(weekOf, store.timeZone, -7).start,
    end: localDay(weekOf, store.timeZone).start,
  };
  const campaignId = `newsletter-${weekOf}`;
  const content = await weeklyContent(context, week);

  const audience = await db.all<{ email: string; blocked: string | null }>(sql`
    SELECT s.email,
      CASE WHEN s.status = 'unsubscribed' THEN 'unsubscribed'
        WHEN EXISTS (SELECT 1 FROM bounces b WHERE b.email = s.email AND b.kind = 'hard')
          THEN 'bounced'
        WHEN EXISTS (SELECT 1 FROM customers c
          WHERE c.email = s.email AND c.marketing_consent = 0) THEN 'unsubscribed'
      END AS blocked
    FROM subscribers s ORDER BY s.email`);
  const recipients = audience.filter((row) => row.blocked === null).map((row) => row.email);
  const unsubscribes = audience.filter((row) => row.blocked === "unsubscribed").length;
  const bounces = audience.filter((row) => row.blocked === "bounced").length;

  const batches: NewsletterBatch[] = [];
  for (let i = 0; i < recipients.length; i += subscribersPerBatch) {
    batches.push({
      kind: "newsletter-batch",
      campaignId,
      runId,
      batch: batches.length,
      emails: recipients.slice(i, i + subscribersPerBatch),
    });
  }

  const fannedOutAt = Date.now();
  // A second run for the same week reuses the campaign; its e-mail keys stop any resend.
  await db
    .insert(campaigns)
    .values({
      id: campaignId,
      runId,
      weekOf,
      content: JSON.stringify(content),
      totalSubscribers: recipients.length,
      batchesTotal: batches.length,
      startedAt: fannedOutAt,
      finishedAt: batches.length === 0 ? fannedOutAt : null,
    })
    .onConflictDoUpdate({
      target: campaigns.id,
      set: { runId, totalSubscribers: recipients.length, batchesTotal: batches.length },
    });
  for (let i = 0; i < batches.length; i += messagesPerSend) {
    await env.WORK_QUEUE.sendBatch(
      batches.slice(i, i + messagesPerSend).map((body) => ({ body, contentType: "json" })),
    );
  }

  const progress = await campaignResult(db, campaignId);
  return {
    message: `Campaign ${campaignId} queued for ${recipients.length} subscribers in ${batches.length} batches.`,
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
    results: { ...progress.results, unsubscribes, bounces },
    performance: progress.performance,
    status: progress.status,
    nextCampaign: nextFireTime(context.cron, new Date(slotTime)),
  };
}

/** New products (first seen in the week) and best sellers (units sold in the week), by category. */
async function weeklyContent(
  { db }: TaskContext,
  week: { start: number; end: number },
): Promise<WeeklyContent> {
  const [fresh, sellers] = await readBatch<
    [
      { category: string; productId: string; name: string; priceCents: number },
      { category: string; productId: string; name: string; unitsSold: number },
    ]
  >(db, [
    sql`
      SELECT coalesce(category, 'other') AS category, id AS productId, name,
        price_cents AS priceCents
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
