/** Abandoned-cart reminders (first, second, final): HTML escaped by Hono's `html`, and text. */
import { html } from "hono/html";
import { formatMoney } from "../../lib/money";

export const cartTemplateNames = [
  "cart-reminder-1",
  "cart-reminder-2",
  "cart-reminder-final",
] as const;
export type CartTemplateName = (typeof cartTemplateNames)[number];

export interface ReminderItem {
  name: string;
  quantity: number;
  unitPriceCents: number;
  /** false when the product is known to be out of stock; null/true = available */
  inStock: boolean | null;
}

export interface ReminderDiscount {
  code: string;
  percentOff: number;
  /** epoch ms */
  expiresAt: number;
}

export interface ReminderContent {
  template: CartTemplateName;
  storeName: string;
  firstName: string | null;
  /** IANA zone in which to show the discount's expiry date/time, e.g. Europe/London */
  timeZone: string;
  cart: { currency: string; totalCents: number; items: ReminderItem[] };
  recoveryLink: string;
  unsubscribeLink: string;
  /** only for a stage configured with a discount; may be null for any template */
  discount: ReminderDiscount | null;
}

export interface ReminderMessage {
  subject: string;
  html: string;
  text: string;
}

/** What sets one reminder apart from the others; names passed in are already subject-safe. */
interface TemplateCopy {
  subject(firstName: string | null, storeName: string, discount: ReminderDiscount | null): string;
  lead(storeName: string): string;
  action: string;
}

const copies: Record<CartTemplateName, TemplateCopy> = {
  "cart-reminder-1": {
    subject: (firstName, storeName) =>
      firstName
        ? `${firstName}, you left something in your cart at ${storeName}`
        : `You left something in your cart at ${storeName}`,
    lead: (storeName) => `You left something in your cart at ${storeName}. Here it is:`,
    action: "Return to your cart",
  },
  "cart-reminder-2": {
    subject: (firstName, storeName) =>
      `Still thinking it over${firstName ? `, ${firstName}` : ""}? ` +
      `Your cart at ${storeName} is saved`,
    lead: (storeName) =>
      `Still thinking it over? We have saved your cart at ${storeName}, ready when you are:`,
    action: "Pick up where you left off",
  },
  "cart-reminder-final": {
    subject: (firstName, storeName, discount) =>
      `Last chance${firstName ? `, ${firstName}` : ""}: ` +
      (discount
        ? `${discount.percentOff}% off your cart at ${storeName}`
        : `your cart at ${storeName} is still waiting`),
    lead: (storeName) => `This is our last reminder about your cart at ${storeName}:`,
    action: "Complete your order",
  },
};

/** Long enough for real first names, short enough to leave the subject readable. */
const maxSubjectNameLength = 40;
/** Product names longer than this are cut in the e-mail: a line item, not a message. */
const maxItemNameLength = 120;

/**
 * Renders one abandoned-cart reminder; a pure function of `content`.
 * Throws when a link is not http(s) or `timeZone` is not an IANA zone: both are bugs upstream.
 */
export async function cartReminder(content: ReminderContent): Promise<ReminderMessage> {
  const { storeName, cart, discount } = content;
  const copy = copies[content.template];
  const recoveryLink = webLink(content.recoveryLink);
  const unsubscribeLink = webLink(content.unsubscribeLink);
  // One line of text: a name with a line break must not break the greeting either.
  const firstName = subjectSafe(content.firstName ?? "") || null;
  const greeting = firstName ? `Hello ${firstName},` : "Hello,";
  const money = (cents: number) => formatMoney(cents, cart.currency);
  // A product name is one line too, or it could start a line of its own in the text part.
  const lines = cart.items.map((item) => ({
    label: `${item.quantity} × ${cappedTo(subjectSafe(item.name), maxItemNameLength)}${
      item.inStock === false ? " (sold out)" : ""
    }`,
    price: money(item.quantity * item.unitPriceCents),
  }));
  const total = money(cart.totalCents);
  const expiry = discount && localDateTime(discount.expiresAt, content.timeZone);

  const subject = copy.subject(capped(firstName), subjectSafe(storeName), discount);

  const body = html`<!doctype html>
<html><body style="font-family:sans-serif">
<p>${greeting}</p>
<p>${copy.lead(storeName)}</p>
<table cellpadding="4">
${lines.map((line) => html`<tr><td>${line.label}</td><td>${line.price}</td></tr>`)}
<tr><td><strong>Total</strong></td><td><strong>${total}</strong></td></tr>
</table>
${
  discount &&
  html`<p style="font-size:1.2em">Use code
<strong style="font-family:monospace;font-size:1.4em">${discount.code}</strong>
for ${discount.percentOff}% off, valid until ${expiry}.</p>`
}
<p><a href="${recoveryLink}">${copy.action}</a></p>
<p style="font-size:small"><a href="${unsubscribeLink}">Unsubscribe</a> from these e-mails.</p>
</body></html>`;

  const text = [
    greeting,
    "",
    copy.lead(storeName),
    ...lines.map((line) => `- ${line.label}: ${line.price}`),
    `Total: ${total}`,
    ...(discount
      ? ["", `Use code ${discount.code} for ${discount.percentOff}% off, valid until ${expiry}.`]
      : []),
    "",
    `${copy.action}: ${recoveryLink}`,
    "",
    `Unsubscribe: ${unsubscribeLink}`,
  ].join("\n");

  return { subject, html: (await body).toString(), text };
}

/**
 * Makes text fit for a mail header: no line breaks or control characters (no header
 * injection), no invisible format characters (a right-to-left override would show a name
 * reversed), single spaces, trimmed. Non-ASCII and emoji pass through unchanged.
 */
export function subjectSafe(text: string): string {
  // \s covers CR, LF, tab, U+2028/2029 and other spaces; \p{Cc} the remaining C0/C1 controls.
  // \p{Cf} are the bidi overrides and isolates, zero-width spaces and BOMs; the zero-width
  // joiner (U+200D) stays, since emoji such as 👩‍💻 are built with it.
  return text
    .replace(/(?!\u200d)\p{Cf}/gu, "")
    .replace(/[\s\p{Cc}]+/gu, " ")
    .trim();
}

/** Caps a first name for the subject. */
function capped(name: string | null): string | null {
  return name === null ? null : cappedTo(name, maxSubjectNameLength);
}

/** Caps text by code points, so an emoji's surrogate pair is never split. */
function cappedTo(text: string, maxLength: number): string {
  const codePoints = Array.from(text);
  if (codePoints.length <= maxLength) return text;
  const kept = codePoints
    .slice(0, maxLength - 1)
    .join("")
    .trimEnd();
  return `${kept}…`;
}

/** e.g. "11 June 2024, 10:00 BST": the zone's name, since the reader may live elsewhere. */
function localDateTime(epochMs: number, timeZone: string): string {
  const date = new Intl.DateTimeFormat("en-GB", { dateStyle: "long", timeZone });
  const time = new Intl.DateTimeFormat("en-GB", {
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
    timeZone,
    timeZoneName: "short",
  });
  return `${date.format(epochMs)}, ${time.format(epochMs)}`;
}

/** Escaping keeps a link inside its attribute; this keeps `javascript:` and the like out. */
function webLink(link: string): string {
  const { protocol } = new URL(link);
  if (protocol !== "https:" && protocol !== "http:") {
    throw new Error(`cart reminder link must be http(s), got ${protocol}`);
  }
  return link;
}
