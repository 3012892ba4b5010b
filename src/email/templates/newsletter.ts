/** The weekly newsletter for one subscriber (HTML escaped by Hono's `html`, plus text). */
import { html } from "hono/html";
import { formatMoney } from "../../lib/money";
import type { WeeklyContent } from "../../newsletter/content";

export async function newsletterEmail(
  storeName: string,
  weekOf: string,
  sections: WeeklyContent["categories"],
  unsubscribeLink: string,
) {
  const subject = `${storeName}: this week's picks (week of ${weekOf})`;
  const body = html`<!doctype html>
<html><body style="font-family:sans-serif">
<h1>This week at ${storeName}</h1>
${sections.map(
  (section) => html`<h2>${section.category}</h2>
${list(
  "New",
  section.newProducts.map((p) => `${p.name} – ${formatMoney(p.priceCents, p.currency)}`),
)}
${list(
  "Best sellers",
  section.bestSellers.map((p) => p.name),
)}`,
)}
<p style="font-size:small">You get this because you subscribed at ${storeName}.
<a href="${unsubscribeLink}">Unsubscribe</a>.</p>
</body></html>`;
  const text = [
    `This week at ${storeName}`,
    ...sections.flatMap((section) => [
      "",
      section.category,
      ...section.newProducts.map(
        (p) => `- new: ${p.name} (${formatMoney(p.priceCents, p.currency)})`,
      ),
      ...section.bestSellers.map((p) => `- best seller: ${p.name}`),
    ]),
    "",
    `Unsubscribe: ${unsubscribeLink}`,
  ].join("\n");
  return { subject, html: (await body).toString(), text };
}

/** A headed list, or nothing when it is empty. */
function list(heading: string, entries: string[]) {
  if (entries.length === 0) return "";
  return html`<p>${heading}:</p><ul>${entries.map((entry) => html`<li>${entry}</li>`)}</ul>`;
}
