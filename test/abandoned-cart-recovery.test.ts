import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { api, event, fireOne, postEvents, recordingEnv, runDirectly } from "./helpers/worker";

const cron = utcCrons["abandoned-cart-recovery"] ?? "";
const slot = "2024-06-10T12:00:00Z";

const customer = (customerId: string, email: string, marketingConsent = true, firstName?: string) =>
  event("customer.upserted", "2024-06-01T00:00:00Z", {
    customerId,
    email,
    marketingConsent,
    firstName,
  });
const cart = (cartId: string, at: string, extra: Record<string, unknown>, items?: unknown[]) =>
  event("cart.updated", at, {
    cartId,
    currency: "GBP",
    items: items ?? [{ productId: "mug", name: "Mug", quantity: 1, unitPriceCents: 800 }],
    ...extra,
  });

describe("abandoned-cart-recovery", () => {
  beforeEach(async () => {
    const { body } = await postEvents([
      customer("ann", "ann@example.test", true, "Ann"),
      customer("cid", "cid@example.test"),
      customer("dee", "dee@example.test", false),
      // Inactive exactly 2 h at the slot: abandoned.
      cart("A", "2024-06-10T10:00:00Z", { customerId: "ann" }, [
        {
          productId: "mug",
          name: "Mug <b>big</b>",
          category: "kitchen",
          quantity: 2,
          unitPriceCents: 1250,
        },
        {
          productId: "candle",
          name: "Candle",
          category: "lighting",
          quantity: 1,
          unitPriceCents: 499,
        },
      ]),
      // Inactive 1 h 59 min: not yet.
      cart("B", "2024-06-10T10:01:00Z", { email: "bob@example.test" }),
      // Ordered an hour after the cart's last activity.
      cart("C", "2024-06-10T08:00:00Z", { customerId: "cid" }),
      event("order.placed", "2024-06-10T09:00:00Z", {
        orderId: "o-cid",
        customerId: "cid",
        currency: "GBP",
        items: [{ productId: "mug", quantity: 1, unitPriceCents: 800 }],
      }),
      // Opted out: no marketing consent, or unsubscribed.
      cart("D", "2024-06-10T08:00:00Z", { customerId: "dee" }),
      cart("E", "2024-06-10T08:00:00Z", { email: "eve@example.test" }),
      event("subscriber.unsubscribed", "2024-06-05T00:00:00Z", { email: "eve@example.test" }),
      // No address at all.
      cart("F", "2024-06-10T08:00:00Z", {}),
      // Empty, and far too old: not abandoned carts.
      cart("G", "2024-06-10T08:00:00Z", { email: "gil@example.test" }, []),
      cart("H", "2024-05-20T08:00:00Z", { email: "hal@example.test" }),
      // Another currency.
      event("cart.updated", "2024-06-10T09:30:00Z", {
        cartId: "I",
        email: "ivy@example.test",
        currency: "USD",
        items: [
          {
            productId: "lamp",
            name: "Lamp",
            category: "lighting",
            quantity: 1,
            unitPriceCents: 10000,
          },
          {
            productId: "bulb",
            name: "Bulb",
            category: "lighting",
            quantity: 2,
            unitPriceCents: 250,
          },
        ],
      }),
    ]);
    expect(body.rejected).toEqual([]);
  });

  it("reminds carts idle 2 hours whose owner neither ordered nor opted out", async () => {
    const { env: testEnv, sent } = recordingEnv();
    const run = await fireOne(cron, slot, testEnv);

    expect(run.status).toBe("succeeded");
    expect(run.slotTime).toBe("2024-06-10T12:00:00.000Z");
    const { summary, details } = run.result;
    // Discovered: A, C, D, E, F, G, I (H is older than 7 days). Eligible: A and I.
    expect(summary).toEqual({
      processed: 7,
      emailsSent: 2,
      errors: 0,
      skipped: 5,
      skippedBy: {
        noAddress: 1,
        emptyCart: 1,
        zeroTotal: 0,
        orderedSince: 1,
        outOfStock: 0,
        unsubscribed: 1,
        bounced: 0,
        noConsent: 1,
        alreadyReminded: 0,
        cooldown: 0,
        quietHours: 0,
      },
    });
    expect(details.discoveredCarts).toBe(7);
    expect(details.eligibleForRecovery).toBe(2);
    expect(details.duplicatesPrevented).toBe(0);
    // A: 2 × 1250 + 499 = 2999 pence. I: 10000 + 2 × 250 = 10500 cents.
    expect(details.totalCartValue).toEqual({ GBP: 2999, USD: 10500 });
    expect(details.averageCartValue).toEqual({ GBP: 2999, USD: 10500 });
    expect(details.topCategories).toEqual([
      { category: "lighting", carts: 2 },
      { category: "kitchen", carts: 1 },
    ]);
    expect(details.emailTemplatesUsed).toEqual({ "cart-reminder-1": 2 });
    expect(run.result.nextRun).toBe("2024-06-10T12:30:00.000Z");
    expect(sent.map((mail) => mail.to).sort()).toEqual(["ann@example.test", "ivy@example.test"]);
  });

  it("puts the items, an escaped name and a signed recovery link in the reminder", async () => {
    const { env: testEnv, sent } = recordingEnv();
    await fireOne(cron, slot, testEnv);
    const mail = sent.find((m) => m.to === "ann@example.test");
    expect(mail?.text).toContain("Hello Ann,");
    expect(mail?.text).toContain("2 × Mug <b>big</b>: £25.00");
    expect(mail?.text).toContain("Total: £29.99");
    expect(mail?.html).toContain("Mug &lt;b&gt;big&lt;/b&gt;");
    expect(mail?.html).not.toContain("<b>big</b>");
    expect(mail?.headers?.["List-Unsubscribe-Post"]).toBe("List-Unsubscribe=One-Click");

    const link = /http:\/\/localhost:8787(\/r\/[\w.-]+)/.exec(mail?.text ?? "");
    expect(link?.[1]).toBeDefined();
    const followed = await api(link?.[1] ?? "", { redirect: "manual" });
    expect(followed.status).toBe(302);
    expect(followed.headers.get("Location")).toBe("https://shop.example.test/cart/A");
  });

  it("never reminds a cart twice for the same stage", async () => {
    const first = await fireOne(cron, slot, recordingEnv().env);
    expect(first.result.summary.emailsSent).toBe(2);

    // A second run 30 s later, past the slot claims, finds A and I already reminded.
    const { env: testEnv, sent } = recordingEnv();
    const again = await runDirectly("abandoned-cart-recovery", "2024-06-10T12:00:30Z", testEnv);
    expect(again.result.summary.emailsSent).toBe(0);
    expect(again.result.details.duplicatesPrevented).toBe(2);
    expect(sent).toEqual([]);

    // Half an hour later cart B has been idle 2 h 29 min and gets its first reminder.
    const later = recordingEnv();
    const next = await fireOne(cron, "2024-06-10T12:30:00Z", later.env);
    expect(next.result.summary.emailsSent).toBe(1);
    expect(later.sent.map((m) => m.to)).toEqual(["bob@example.test"]);
  });

  it("stops reminding an address that unsubscribed through the e-mail's link", async () => {
    const { env: testEnv, sent } = recordingEnv();
    await fireOne(cron, slot, testEnv);
    const mail = sent.find((m) => m.to === "ann@example.test");
    const path = /http:\/\/localhost:8787(\/unsubscribe\?token=[\w.-]+)/.exec(
      mail?.text ?? "",
    )?.[1];

    const confirm = await api(path ?? "");
    expect(confirm.status).toBe(200);
    const done = await api(path ?? "", { method: "POST" });
    expect(done.status).toBe(200);
    const row = await env.DB.prepare(
      "SELECT status FROM subscribers WHERE email = 'ann@example.test'",
    ).first();
    expect(row).toEqual({ status: "unsubscribed" });

    // Ann changes her cart, which starts its stages again; now she has unsubscribed.
    await postEvents([cart("A", "2024-06-10T12:10:00Z", { customerId: "ann" })]);
    const after = recordingEnv();
    const later = await fireOne(cron, "2024-06-10T14:30:00Z", after.env);
    // A and E unsubscribed; D has no consent. Only Bob (idle since 10:01) is reminded.
    expect(later.result.summary.skippedBy).toMatchObject({ unsubscribed: 2, noConsent: 1 });
    expect(after.sent.map((m) => m.to)).toEqual(["bob@example.test"]);
  });

  it("skips a guest cart whose address belongs to a customer without consent", async () => {
    // Dee (no consent) shops as a guest under her own address: the same opt-out applies.
    await postEvents([cart("J", "2024-06-10T08:00:00Z", { email: "dee@example.test" })]);
    const { env: testEnv, sent } = recordingEnv();
    const run = await fireOne(cron, slot, testEnv);
    // D and now J; E unsubscribed.
    expect(run.result.summary.skippedBy).toMatchObject({ noConsent: 2, unsubscribed: 1 });
    expect(sent.map((mail) => mail.to)).not.toContain("dee@example.test");
  });

  it("records a lasting send failure as an error and keeps the others", async () => {
    const { env: testEnv } = recordingEnv({
      EMAIL: {
        async send(message: { to: string }) {
          if (message.to === "ivy@example.test") throw new Error("recipient rejected");
          return { messageId: "ok" };
        },
      } as unknown as SendEmail,
    });
    const run = await fireOne(cron, slot, testEnv);
    expect(run.result.summary.emailsSent).toBe(1);
    expect(run.result.summary.errors).toBe(1);
    const failed = await env.DB.prepare("SELECT status, error FROM emails WHERE recipient = ?")
      .bind("ivy@example.test")
      .first();
    expect(failed).toEqual({ status: "failed", error: "recipient rejected" });
  });
});
