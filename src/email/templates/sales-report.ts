/** The daily sales report as an HTML e-mail (escaped by Hono's `html`) with a text part. */
import { html } from "hono/html";
import { formatMoney } from "../../lib/money";
import type { SalesFigures } from "../../tasks/daily-sales-report";

export async function salesReportEmail(storeName: string, figures: SalesFigures) {
  const money = (cents: number) => formatMoney(cents, figures.currency);
  const growth =
    figures.dayOverDayGrowth === "n/a"
      ? "n/a (no revenue the day before)"
      : `${figures.dayOverDayGrowth}%`;
  const retention =
    figures.customerRetentionRate === null ? "n/a" : `${figures.customerRetentionRate}%`;
  const rows: [string, string][] = [
    ["Revenue", money(figures.totalRevenue)],
    ["Orders", String(figures.totalOrders)],
    [
      "Average order value",
      figures.averageOrderValue === null ? "n/a" : money(figures.averageOrderValue),
    ],
    ["New customers", String(figures.newCustomers)],
    ["Returning customers", String(figures.returningCustomers)],
    ["Guest orders", String(figures.guestOrders)],
    ["Customer retention", retention],
    ["Refunds", `${figures.refunds.count} (${money(figures.refunds.totalCents)})`],
    ["Peak hour", figures.peakSalesHour ? figures.peakSalesHour.label : "n/a"],
    ["Day-over-day growth", growth],
  ];
  const subject = `${storeName} sales report for ${figures.date}`;
  const body = html`<!doctype html>
<html><body style="font-family:sans-serif">
<h1>${subject}</h1>
<table cellpadding="4">
${rows.map(([label, value]) => html`<tr><th align="left">${label}</th><td>${value}</td></tr>`)}
</table>
<h2>Top products</h2>
<ol>
${figures.topProducts.map(
  (product) => html`<li>${product.name}: ${money(product.revenue)} (${product.quantity} sold)</li>`,
)}
</ol>
${figures.otherCurrencies.map(
  (other) => html`<p>Also ${other.orders} orders in ${other.currency}, not included above.</p>`,
)}
</body></html>`;
  const text = [
    subject,
    "",
    ...rows.map(([label, value]) => `${label}: ${value}`),
    "",
    "Top products:",
    ...figures.topProducts.map((p) => `- ${p.name}: ${money(p.revenue)} (${p.quantity} sold)`),
  ].join("\n");
  return { subject, html: (await body).toString(), text };
}
