/**
 * 08:00 daily: reports yesterday, a calendar day in the store's time zone, e-mails it to the
 * report recipients and stores it in R2 and D1. Figures are in the store's currency; orders in
 * other currencies are listed apart, never added in.
 */
import { sql } from "drizzle-orm";
import { readBatch } from "../db/batch";
import { reports } from "../db/schema";
import { claimEmails, sendClaimedEmails } from "../email/outbox";
import { salesReportEmail } from "../email/templates/sales-report";
import { nextFireTime } from "../lib/cron";
import { dayBefore, type LocalDay, localDay, localHour } from "../lib/local-day";
import { maskEmail } from "../lib/log";
import { divideRounded, formatMoney } from "../lib/money";
import { dryRunResult, takenEmailKeys } from "./dry-run";
import type { Task, TaskContext } from "./task";

export const dailySalesReport: Task = {
  name: "daily-sales-report",
  description: "Reports yesterday's sales in the store's time zone and e-mails the report.",
  run: reportYesterday,
};

export interface SalesFigures {
  date: string;
  currency: string;
  dayStart: string;
  dayEnd: string;
  totalRevenue: number;
  totalOrders: number;
  averageOrderValue: number | null;
  newCustomers: number;
  returningCustomers: number;
  guestOrders: number;
  refunds: { count: number; totalCents: number };
  topProducts: { productId: string; name: string; revenue: number; quantity: number }[];
  peakSalesHour: { hour: number; label: string; revenue: number } | null;
  customerRetentionRate: number | null;
  previousDayRevenue: number;
  dayOverDayGrowth: number | "n/a";
  otherCurrencies: { currency: string; orders: number; revenue: number }[];
}

/** How e-mailing the report went; a dry run sends nothing. */
interface ReportDelivery {
  sent: number;
  failed: number;
  /** Of the failed, those with a passing fault, handed to the Queue for a later resend. */
  retryQueued: number;
  /** Recipients whose key for the date was already taken: not e-mailed again. */
  duplicatesPrevented: number;
}

async function reportYesterday(context: TaskContext) {
  const { store } = context;
  const started = Date.now();

  const day = dayBefore(context.slotTime, store.timeZone);
  const figures = await salesFigures(context, day);
  const report = reportPlan(context, figures);

  // A dry run stops here: nothing stored, no key claimed, nothing e-mailed.
  if (context.dryRun) {
    const recipients = await plannedRecipients(context, report);
    const duplicatesPrevented = recipients.filter((recipient) => recipient.duplicate).length;
    const delivery = { sent: 0, failed: 0, retryQueued: 0, duplicatesPrevented, storedAt: null };
    const { reportId, htmlKey, jsonKey } = report;
    return dryRunResult(
      reportResult(context, figures, report, delivery, started),
      `would store the report for ${figures.date} and e-mail it to ` +
        `${recipients.length - duplicatesPrevented} of ${recipients.length} recipients.`,
      { report: { reportId, storeAt: [htmlKey, jsonKey], recipients } },
    );
  }

  const message = await salesReportEmail(store.name, figures);
  await storeReport(context, figures, report, message.html);
  const delivery = await emailReport(context, report, message);
  const stored = { ...delivery, storedAt: report.htmlKey };
  return reportResult(context, figures, report, stored, started);
}

/** Where the day's report goes: its id, its R2 keys and one e-mail key per recipient. */
function reportPlan({ store, runId }: TaskContext, figures: SalesFigures) {
  return {
    reportId: `daily-${figures.date}`,
    htmlKey: `reports/daily/${figures.date}.html`,
    jsonKey: `reports/daily/${figures.date}.json`,
    claims: store.reportRecipients.map((recipient) => ({
      key: `daily-report:${figures.date}:${recipient}`,
      task: dailySalesReport.name,
      runId,
      template: "daily-sales-report",
      recipient,
    })),
  };
}

type ReportPlan = ReturnType<typeof reportPlan>;

/**
 * Each recipient (masked) with the status of their key for the date, if already taken: such a
 * recipient would be a prevented duplicate. Reads only.
 */
async function plannedRecipients({ db }: TaskContext, { claims }: ReportPlan) {
  const taken = await takenEmailKeys(
    db,
    claims.map((claim) => claim.key),
  );
  return claims.map((claim) => ({
    recipient: maskEmail(claim.recipient),
    keyStatus: taken.get(claim.key) ?? null,
    duplicate: taken.has(claim.key),
  }));
}

/** Stores the report in R2 (HTML and JSON) and D1; a rerun for the same date replaces it. */
async function storeReport(
  { db, env, runId, slotTime }: TaskContext,
  figures: SalesFigures,
  report: ReportPlan,
  html: string,
): Promise<void> {
  await env.FILES.put(report.htmlKey, html, {
    httpMetadata: { contentType: "text/html; charset=utf-8" },
  });
  await env.FILES.put(report.jsonKey, JSON.stringify(figures), {
    httpMetadata: { contentType: "application/json" },
  });
  const record = {
    id: report.reportId,
    date: figures.date,
    runId,
    htmlKey: report.htmlKey,
    metrics: JSON.stringify(figures),
    createdAt: slotTime,
  };
  await db
    .insert(reports)
    .values(record)
    .onConflictDoUpdate({ target: reports.id, set: { ...record, id: undefined } });
}

/** E-mails the report once per recipient and date: each key is claimed before its send. */
async function emailReport(
  { db, env, store }: TaskContext,
  { claims }: ReportPlan,
  message: { subject: string; html: string; text: string },
): Promise<ReportDelivery> {
  const won = await claimEmails(db, claims, Date.now());
  const delivery = await sendClaimedEmails(
    env,
    db,
    store.senderAddress,
    claims
      .filter((claim) => won.has(claim.key))
      .map((claim) => ({ key: claim.key, to: claim.recipient, ...message })),
  );
  const sent = delivery.outcomes.filter((outcome) => outcome.status === "sent").length;
  return {
    sent,
    failed: delivery.outcomes.length - sent,
    retryQueued: delivery.outcomes.filter((outcome) => outcome.status === "retrying").length,
    duplicatesPrevented: claims.length - won.size,
  };
}

function reportResult(
  { store, slotTime, cron, timeZone }: TaskContext,
  figures: SalesFigures,
  { reportId }: ReportPlan,
  delivery: ReportDelivery & { storedAt: string | null },
  started: number,
) {
  const { sent, failed } = delivery;
  const recipients = store.reportRecipients.length;
  return {
    message:
      `Sales report for ${figures.date}: ${figures.totalOrders} orders, ` +
      `${formatMoney(figures.totalRevenue, figures.currency)}; e-mailed to ${sent} of ` +
      `${recipients} recipients${failed > 0 ? ` (${failed} failed)` : ""}.`,
    date: figures.date,
    timeZone: store.timeZone,
    currency: figures.currency,
    window: { start: figures.dayStart, end: figures.dayEnd },
    metrics: {
      totalRevenue: figures.totalRevenue,
      totalOrders: figures.totalOrders,
      averageOrderValue: figures.averageOrderValue,
      newCustomers: figures.newCustomers,
      returningCustomers: figures.returningCustomers,
      guestOrders: figures.guestOrders,
      refunds: figures.refunds,
      otherCurrencies: figures.otherCurrencies,
    },
    reportDetails: {
      reportId,
      storedAt: delivery.storedAt,
      recipients,
      emailsSent: sent,
      emailErrors: failed,
      duplicatesPrevented: delivery.duplicatesPrevented,
      retryQueued: delivery.retryQueued,
      generationTime: Date.now() - started,
    },
    insights: {
      topSellingProduct: figures.topProducts[0] ?? null,
      topProducts: figures.topProducts,
      peakSalesHour: figures.peakSalesHour,
      customerRetentionRate: figures.customerRetentionRate,
      dayOverDayGrowth: figures.dayOverDayGrowth,
      previousDayRevenue: figures.previousDayRevenue,
    },
    nextReportDue: nextFireTime(cron, new Date(slotTime), timeZone),
  };
}

/**
 * The day's figures from one round trip of set-based queries. New customer: their first order
 * ever falls on the day; returning: they ordered on an earlier day; guests are neither.
 */
export async function salesFigures(
  { db, store }: TaskContext,
  day: LocalDay,
): Promise<SalesFigures> {
  const { start, end } = day;
  const previous = localDay(day.date, store.timeZone, -1);
  const inDay = sql`o.placed_at >= ${start} AND o.placed_at < ${end}`;
  const currency = store.currency;

  const [totals, customers, buckets, products, refunds, previousDay, others] = await readBatch<
    [
      { orders: number; revenue: number; guests: number },
      { newCustomers: number; returningCustomers: number },
      { bucket: number; revenue: number },
      { productId: string; name: string; revenue: number; quantity: number },
      { count: number; total: number },
      { revenue: number },
      { currency: string; orders: number; revenue: number },
    ]
  >(db, [
    sql`
      SELECT count(*) AS orders, coalesce(sum(o.total_cents), 0) AS revenue,
        count(*) FILTER (WHERE o.customer_id IS NULL) AS guests
      FROM orders o WHERE ${inDay} AND o.currency = ${currency}`,
    sql`
      WITH buyers AS (
        SELECT DISTINCT o.customer_id AS id FROM orders o
        WHERE ${inDay} AND o.currency = ${currency} AND o.customer_id IS NOT NULL
      )
      SELECT
        count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM orders p
          WHERE p.customer_id = b.id AND p.placed_at < ${start})) AS newCustomers,
        count(*) FILTER (WHERE EXISTS (SELECT 1 FROM orders p
          WHERE p.customer_id = b.id AND p.placed_at < ${start})) AS returningCustomers
      FROM buyers b`,
    // Quarter-hour buckets: every zone's offset is a multiple of 15 minutes, so each bucket
    // falls inside one local hour.
    sql`
      SELECT o.placed_at / 900000 AS bucket, sum(o.total_cents) AS revenue
      FROM orders o WHERE ${inDay} AND o.currency = ${currency}
      GROUP BY bucket`,
    sql`
      SELECT oi.product_id AS productId, coalesce(p.name, max(oi.name), oi.product_id) AS name,
        sum(oi.line_cents) AS revenue, sum(oi.quantity) AS quantity
      FROM order_items oi JOIN orders o ON o.id = oi.order_id
      LEFT JOIN products p ON p.id = oi.product_id
      WHERE ${inDay} AND o.currency = ${currency}
      GROUP BY oi.product_id ORDER BY revenue DESC, oi.product_id LIMIT 5`,
    sql`
      SELECT count(*) AS count, coalesce(sum(amount_cents), 0) AS total FROM refunds
      WHERE refunded_at >= ${start} AND refunded_at < ${end} AND currency = ${currency}`,
    sql`
      SELECT coalesce(sum(total_cents), 0) AS revenue FROM orders
      WHERE placed_at >= ${previous.start} AND placed_at < ${previous.end}
        AND currency = ${currency}`,
    sql`
      SELECT o.currency, count(*) AS orders, sum(o.total_cents) AS revenue
      FROM orders o WHERE ${inDay} AND o.currency <> ${currency}
      GROUP BY o.currency ORDER BY o.currency`,
  ]);

  const revenue = totals[0]?.revenue ?? 0;
  const orders = totals[0]?.orders ?? 0;
  const newCustomers = customers[0]?.newCustomers ?? 0;
  const returningCustomers = customers[0]?.returningCustomers ?? 0;
  const previousDayRevenue = previousDay[0]?.revenue ?? 0;
  return {
    date: day.date,
    currency,
    dayStart: new Date(start).toISOString(),
    dayEnd: new Date(end).toISOString(),
    totalRevenue: revenue,
    totalOrders: orders,
    averageOrderValue: orders > 0 ? divideRounded(revenue, orders) : null,
    newCustomers,
    returningCustomers,
    guestOrders: totals[0]?.guests ?? 0,
    refunds: { count: refunds[0]?.count ?? 0, totalCents: refunds[0]?.total ?? 0 },
    topProducts: products,
    peakSalesHour: peakHour(buckets, store.timeZone),
    customerRetentionRate: percent(returningCustomers, newCustomers + returningCustomers),
    previousDayRevenue,
    dayOverDayGrowth:
      previousDayRevenue > 0
        ? Math.round(((revenue - previousDayRevenue) / previousDayRevenue) * 1000) / 10
        : "n/a",
    otherCurrencies: others,
  };
}

/** The local hour with the most revenue; on a tie, the earlier hour. */
function peakHour(buckets: { bucket: number; revenue: number }[], timeZone: string) {
  const byHour = new Map<number, number>();
  for (const { bucket, revenue } of buckets) {
    const hour = localHour(bucket * 900_000, timeZone);
    byHour.set(hour, (byHour.get(hour) ?? 0) + revenue);
  }
  let peak: { hour: number; label: string; revenue: number } | null = null;
  for (const [hour, revenue] of [...byHour.entries()].sort((a, b) => a[0] - b[0])) {
    if (revenue > 0 && (!peak || revenue > peak.revenue)) {
      const label = `${String(hour).padStart(2, "0")}:00–${String(hour + 1).padStart(2, "0")}:00`;
      peak = { hour, label, revenue };
    }
  }
  return peak;
}

/** Percentage with one decimal, or null when there is nothing to divide by. */
function percent(part: number, whole: number): number | null {
  return whole > 0 ? Math.round((part / whole) * 1000) / 10 : null;
}
