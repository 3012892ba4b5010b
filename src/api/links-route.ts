/**
 * Where links in e-mails land. Unsubscribing shows a confirmation page on GET (mail scanners
 * follow links) and acts on POST, which is also the RFC 8058 one-click request.
 */
import { Hono } from "hono";
import { html } from "hono/html";
import { openRecoveryLink } from "../carts/recovery-links";
import { database } from "../db/client";
import { ingestEvents } from "../events/ingest";
import { checkLink, verifyLink } from "../links";

export const linksRoute = new Hono<{ Bindings: Env }>()
  .get("/unsubscribe", async (c) => {
    const token = c.req.query("token") ?? "";
    const address = await verifyLink(c.env.LINK_SECRET, "unsubscribe", token);
    if (!address) return c.html(page("This unsubscribe link is not valid."), 400);
    return c.html(
      page(
        "Unsubscribe from our e-mails?",
        html`<form method="post"><input type="hidden" name="token" value="${token}">
<button type="submit">Unsubscribe</button></form>`,
      ),
    );
  })
  .post("/unsubscribe", async (c) => {
    const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
    const token = c.req.query("token") ?? (typeof form.token === "string" ? form.token : "");
    const address = await verifyLink(c.env.LINK_SECRET, "unsubscribe", token);
    if (!address) return c.html(page("This unsubscribe link is not valid."), 400);
    const now = Date.now();
    const event = {
      id: `unsubscribe-link:${address}:${now}`,
      type: "subscriber.unsubscribed",
      occurredAt: new Date(now).toISOString(),
      data: { email: address },
    };
    await ingestEvents(database(c.env), [event], c.env.STORE_CURRENCY, now);
    return c.html(page("You are unsubscribed. You will get no more of these e-mails."));
  })
  .get("/r/:token", async (c) => {
    const check = await checkLink(c.env.LINK_SECRET, "cart-recovery", c.req.param("token"));
    const storefront = c.env.STOREFRONT_URL.replace(/\/+$/, "");
    const back = html`<p><a href="${storefront}">Go to ${c.env.STORE_NAME}</a></p>`;
    if (!check.ok && check.reason === "expired") {
      return c.html(
        page("This cart link has expired. Your cart may still be in the shop.", back),
        410,
      );
    }
    if (!check.ok) return c.html(page("This cart link is not valid.", back), 400);
    // A HEAD (a link checker) follows the redirect but is not a shopper's click.
    const cart = await openRecoveryLink(database(c.env), check.subject, c.req.method !== "HEAD");
    if (!cart) return c.html(page("This cart link is no longer known.", back), 404);
    const discount = cart.discountCode ? `?discount=${encodeURIComponent(cart.discountCode)}` : "";
    return c.redirect(`${storefront}/cart/${encodeURIComponent(cart.cartId)}${discount}`, 302);
  });

function page(message: string, extra: unknown = "") {
  return html`<!doctype html><html><body style="font-family:sans-serif">
<p>${message}</p>${extra}</body></html>`;
}
