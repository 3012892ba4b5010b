/**
 * Where links in e-mails land. Unsubscribing shows a confirmation page on GET (mail scanners
 * follow links) and acts on POST, which is also the RFC 8058 one-click request.
 */
import { Hono } from "hono";
import { html } from "hono/html";
import { database } from "../db/client";
import { ingestEvents } from "../events/ingest";
import { verifyLink } from "../links";

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
  .get("/links/cart/:cartId", async (c) => {
    const cartId = c.req.param("cartId");
    const signedFor = await verifyLink(c.env.LINK_SECRET, "cart", c.req.query("token") ?? "");
    if (signedFor !== cartId)
      return c.html(page("This cart link is not valid or has expired."), 400);
    const storefront = c.env.STOREFRONT_URL.replace(/\/+$/, "");
    return c.redirect(`${storefront}/cart/${encodeURIComponent(cartId)}`, 302);
  });

function page(message: string, extra: unknown = "") {
  return html`<!doctype html><html><body style="font-family:sans-serif">
<p>${message}</p>${extra}</body></html>`;
}
