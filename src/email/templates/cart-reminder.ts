/** The first reminder for an abandoned cart, as HTML (escaped by Hono's `html`) and plain text. */
import { html } from "hono/html";
import { formatMoney } from "../../lib/money";

export interface ReminderCart {
  currency: string;
  totalCents: number;
  items: { name: string; quantity: number; unitPriceCents: number }[];
}

export interface ReminderMessage {
  subject: string;
  html: string;
  text: string;
}

export async function cartReminder(
  storeName: string,
  firstName: string | null,
  cart: ReminderCart,
  cartLink: string,
  unsubscribeLink: string,
): Promise<ReminderMessage> {
  const money = (cents: number) => formatMoney(cents, cart.currency);
  const greeting = firstName ? `Hello ${firstName},` : "Hello,";
  const subject = `You left something in your cart at ${storeName}`;
  const body = html`<!doctype html>
<html><body style="font-family:sans-serif">
<p>${greeting}</p>
<p>Your cart at ${storeName} is still waiting for you:</p>
<table cellpadding="4">
${cart.items.map((item) => {
  const line = money(item.quantity * item.unitPriceCents);
  return html`<tr><td>${item.quantity} × ${item.name}</td><td>${line}</td></tr>`;
})}
<tr><td><strong>Total</strong></td><td><strong>${money(cart.totalCents)}</strong></td></tr>
</table>
<p><a href="${cartLink}">Return to your cart</a></p>
<p style="font-size:small"><a href="${unsubscribeLink}">Unsubscribe</a> from these e-mails.</p>
</body></html>`;
  const lines = cart.items.map(
    (item) => `- ${item.quantity} x ${item.name}: ${money(item.quantity * item.unitPriceCents)}`,
  );
  const text = [
    greeting,
    "",
    `Your cart at ${storeName} is still waiting for you:`,
    ...lines,
    `Total: ${money(cart.totalCents)}`,
    "",
    `Return to your cart: ${cartLink}`,
    "",
    `Unsubscribe: ${unsubscribeLink}`,
  ].join("\n");
  return { subject, html: (await body).toString(), text };
}
