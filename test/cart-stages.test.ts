import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { surveyCarts } from "../src/carts/due-carts";
import { cartRecoveryRules } from "../src/carts/recovery-settings";
import { claimReminders, proposeReminders } from "../src/carts/reminder-claims";
import { database } from "../src/db/client";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { cart, customer, mug, order, store } from "./helpers/store";
import { event, fireOne, recordingEnv } from "./helpers/worker";

/*
 * Staged reminders on hand-built carts. June 2024: London is on BST (UTC+1), so the default quiet
 * hours 21:00–08:00 London are 20:00Z–07:00Z. Default stages: 2 h, 24 h, 72 h (with 10% off).
 */
const cron = utcCrons["abandoned-cart-recovery"] ?? "";

async function runAt(slot: string, overrides: Partial<Env> = {}) {
  const { env: testEnv, sent } = recordingEnv(overrides);
  const run = await fireOne(cron, slot, testEnv);
  expect(run.status).toBe("succeeded");
  return { result: run.result, sent };
}

async function reminders() {
  const { results } = await env.DB.prepare(
    `SELECT cart_id AS cartId, stage, template, email_key AS emailKey FROM cart_reminders
     ORDER BY reminded_at, cart_id`,
  ).all();
  return results;
}

describe("reminder stages", () => {
  it("sends each stage once, at 2 h, 24 h and 72 h of idleness, and stops at 7 days", async () => {
    await store([
      customer("sam", { firstName: "Sam" }),
      cart("S", "2024-06-10T10:00:00Z", { customerId: "sam" }),
    ]);

    const early = await runAt("2024-06-10T11:30:00Z");
    expect(early.result.summary.processed).toBe(0);

    const first = await runAt("2024-06-10T12:00:00Z");
    expect(first.sent.map((m) => m.to)).toEqual(["sam@example.test"]);
    expect(first.result.details.emailTemplatesUsed).toEqual({ "cart-reminder-1": 1 });
    expect(first.result.details.stages.map((s: { sent: number }) => s.sent)).toEqual([1, 0, 0]);

    const again = await runAt("2024-06-10T12:30:00Z");
    expect(again.sent).toEqual([]);
    expect(again.result.summary.skippedBy.alreadyReminded).toBe(1);
    expect(again.result.details.duplicatesPrevented).toBe(1);
    // 23 h 30 min: stage 1 is still the one due, and it is done.
    expect((await runAt("2024-06-11T09:30:00Z")).sent).toEqual([]);

    const second = await runAt("2024-06-11T10:00:00Z");
    expect(second.result.details.emailTemplatesUsed).toEqual({ "cart-reminder-2": 1 });
    expect((await runAt("2024-06-13T09:30:00Z")).sent).toEqual([]);

    const final = await runAt("2024-06-13T10:00:00Z");
    expect(final.result.details.emailTemplatesUsed).toEqual({ "cart-reminder-final": 1 });
    const code = /COMEBACK-[0-9A-Z]{10}/.exec(final.sent[0]?.text ?? "")?.[0];
    expect(code).toBeDefined();
    expect(final.sent[0]?.subject).toContain("10% off");

    // 167 h 30 min: still looked at, all stages done; 168 h: past saving.
    const late = await runAt("2024-06-17T09:30:00Z");
    expect(late.result.summary).toMatchObject({ processed: 1, emailsSent: 0 });
    expect((await runAt("2024-06-17T10:00:00Z")).result.summary.processed).toBe(0);

    expect(await reminders()).toEqual([
      expect.objectContaining({ cartId: "S", stage: 1, template: "cart-reminder-1" }),
      expect.objectContaining({ cartId: "S", stage: 2, template: "cart-reminder-2" }),
      expect.objectContaining({
        cartId: "S",
        stage: 3,
        template: "cart-reminder-final",
        emailKey: "cart-reminder:S:2024-06-10T10:00:00.000Z:stage-3",
      }),
    ]);
    const stored = await env.DB.prepare(
      "SELECT code, cart_id AS cartId, percent_off AS percentOff FROM discount_codes",
    ).all();
    expect(stored.results).toEqual([{ code, cartId: "S", percentOff: 10 }]);
  });

  it("sends a late run only the stage due now, never the ones it missed", async () => {
    await store([customer("lou"), cart("L", "2024-06-10T10:00:00Z", { customerId: "lou" })]);

    // First run 72 h 30 min after the cart's last activity: stage 3 only.
    const late = await runAt("2024-06-13T10:30:00Z");
    expect(late.sent).toHaveLength(1);
    expect(late.result.details.emailTemplatesUsed).toEqual({ "cart-reminder-final": 1 });
    expect((await runAt("2024-06-13T11:00:00Z")).sent).toEqual([]);
    expect((await reminders()).map((r) => (r as { stage: number }).stage)).toEqual([3]);
  });

  it("starts the stages again when the cart changes", async () => {
    await store([customer("rae"), cart("R", "2024-06-10T10:00:00Z", { customerId: "rae" })]);
    expect((await runAt("2024-06-10T12:00:00Z")).sent).toHaveLength(1);

    await store([
      cart("R", "2024-06-11T09:00:00Z", { customerId: "rae" }, [
        mug,
        { productId: "tea", name: "Tea", quantity: 2, unitPriceCents: 350 },
      ]),
    ]);
    // 24 h after the old version, but the cart changed an hour ago: no stage 2.
    const changed = await runAt("2024-06-11T10:00:00Z");
    expect(changed.result.summary.processed).toBe(0);
    // 2 h after the change: stage 1 of the new version, with both lines: 800 + 2 × 350 = £15.00.
    const restarted = await runAt("2024-06-11T11:00:00Z");
    expect(restarted.result.details.emailTemplatesUsed).toEqual({ "cart-reminder-1": 1 });
    expect(restarted.sent[0]?.text).toContain("2 × Tea: £7.00");
    expect(restarted.sent[0]?.text).toContain("Total: £15.00");
    expect((await reminders()).map((r) => (r as { emailKey: string }).emailKey)).toEqual([
      "cart-reminder:R:2024-06-10T10:00:00.000Z:stage-1",
      "cart-reminder:R:2024-06-11T09:00:00.000Z:stage-1",
    ]);
  });

  it("follows the stages, templates and discount of the configuration", async () => {
    const CART_RECOVERY = {
      stages: [
        { afterHours: 1, template: "cart-reminder-1" },
        {
          afterHours: 4,
          template: "cart-reminder-final",
          discount: { percentOff: 15, validDays: 2 },
        },
      ],
      quietHours: null,
      cooldownHours: 0,
    };
    await store([customer("cy"), cart("C", "2024-06-10T10:00:00Z", { customerId: "cy" })]);
    const first = await runAt("2024-06-10T11:00:00Z", { CART_RECOVERY });
    expect(first.result.details.emailTemplatesUsed).toEqual({ "cart-reminder-1": 1 });
    const last = await runAt("2024-06-10T14:00:00Z", { CART_RECOVERY });
    expect(last.result.details.emailTemplatesUsed).toEqual({ "cart-reminder-final": 1 });
    expect(last.sent[0]?.subject).toContain("15% off");
    const code = await env.DB.prepare(
      "SELECT percent_off AS p, expires_at - created_at AS ms FROM discount_codes",
    ).first();
    expect(code).toEqual({ p: 15, ms: 2 * 86_400_000 });
  });

  it("fails the run with the field's path when the settings are wrong", async () => {
    await store([customer("al"), cart("A", "2024-06-10T10:00:00Z", { customerId: "al" })]);
    const stages = (second: { afterHours: number; template: string }) => ({
      CART_RECOVERY: { stages: [{ afterHours: 24, template: "cart-reminder-1" }, second] },
    });
    const unknown = recordingEnv(stages({ afterHours: 48, template: "cart-reminder-9" }));
    const run = await fireOne(cron, "2024-06-10T12:00:00Z", unknown.env);
    expect(run.status).toBe("failed");
    expect(run.error).toContain("CART_RECOVERY.stages.1.template");

    const backwards = recordingEnv(stages({ afterHours: 2, template: "cart-reminder-2" }));
    const next = await fireOne(cron, "2024-06-10T12:30:00Z", backwards.env);
    expect(next.error).toContain("CART_RECOVERY.stages: each stage must come later");
    expect([...unknown.sent, ...backwards.sent]).toEqual([]);
  });
});

describe("who gets nothing", () => {
  it("holds back each kind of cart and counts it by reason", async () => {
    await store([
      customer("oc"),
      customer("gacc", { email: "gina@example.test" }),
      customer("bef"),
      customer("dee", { marketingConsent: false }),
      event("product.upserted", "2024-06-01T00:00:00Z", {
        productId: "gone",
        name: "Gone",
        priceCents: 500,
        inStock: false,
      }),
      // Ordered after the cart's last activity: by customer id; a guest who then ordered with an
      // account at the same address; a guest whose order gives the address in another case.
      cart("ord", "2024-06-10T10:00:00Z", { customerId: "oc" }),
      order("o1", "2024-06-10T11:00:00Z", { customerId: "oc" }),
      cart("guest", "2024-06-10T10:00:00Z", { email: "gina@example.test" }),
      order("o2", "2024-06-10T11:00:00Z", { customerId: "gacc" }),
      cart("case", "2024-06-10T10:00:00Z", { email: "kim@example.test" }),
      order("o3", "2024-06-10T11:00:00Z", { email: "  KIM@Example.TEST " }),
      // Ordered before the cart's last activity: still reminded.
      order("o4", "2024-06-10T09:00:00Z", { customerId: "bef" }),
      cart("before", "2024-06-10T10:00:00Z", { customerId: "bef" }),
      cart("empty", "2024-06-10T10:00:00Z", { email: "em@example.test" }, []),
      cart("zero", "2024-06-10T10:00:00Z", { email: "zo@example.test" }, [
        { productId: "free", name: "Free", quantity: 1, unitPriceCents: 0 },
      ]),
      cart("stock", "2024-06-10T10:00:00Z", { email: "st@example.test" }, [
        { productId: "gone", name: "Gone", quantity: 1, unitPriceCents: 500 },
      ]),
      cart("mixed", "2024-06-10T10:00:00Z", { email: "mi@example.test" }, [
        { productId: "gone", name: "Gone", quantity: 1, unitPriceCents: 500 },
        mug,
      ]),
      cart("unsub", "2024-06-10T10:00:00Z", { email: "un@example.test" }),
      event("subscriber.unsubscribed", "2024-06-05T00:00:00Z", { email: "un@example.test" }),
      cart("hard", "2024-06-10T10:00:00Z", { email: "hb@example.test" }),
      event("email.bounced", "2024-06-05T00:00:00Z", { email: "hb@example.test", kind: "hard" }),
      cart("soft", "2024-06-10T10:00:00Z", { email: "sb@example.test" }),
      event("email.bounced", "2024-06-05T00:00:00Z", { email: "sb@example.test", kind: "soft" }),
      cart("nocon", "2024-06-10T10:00:00Z", { customerId: "dee" }),
    ]);

    const { result, sent } = await runAt("2024-06-10T12:00:00Z");

    expect(sent.map((m) => m.to).sort()).toEqual([
      "bef@example.test",
      "mi@example.test",
      "sb@example.test",
    ]);
    expect(result.summary).toEqual({
      processed: 12,
      emailsSent: 3,
      errors: 0,
      skipped: 9,
      skippedBy: {
        noAddress: 0,
        emptyCart: 1,
        zeroTotal: 1,
        orderedSince: 3,
        outOfStock: 1,
        unsubscribed: 1,
        bounced: 1,
        noConsent: 1,
        alreadyReminded: 0,
        cooldown: 0,
        quietHours: 0,
      },
    });
    // The sold-out line is marked in the e-mail of the cart that still has one in stock.
    expect(sent.find((m) => m.to === "mi@example.test")?.text).toContain("(sold out)");
  });

  it("needs consent where the store requires it", async () => {
    await store([
      customer("yes"),
      cart("Y", "2024-06-10T10:00:00Z", { customerId: "yes" }),
      cart("G", "2024-06-10T10:00:00Z", { email: "guest@example.test" }),
      cart("S", "2024-06-10T10:00:00Z", { email: "sub@example.test" }),
      event("subscriber.subscribed", "2024-06-01T00:00:00Z", {
        email: "sub@example.test",
        categories: [],
      }),
    ]);
    const { result, sent } = await runAt("2024-06-10T12:00:00Z", {
      CART_RECOVERY: { consent: "required" },
    });
    expect(sent.map((m) => m.to).sort()).toEqual(["sub@example.test", "yes@example.test"]);
    expect(result.summary.skippedBy.noConsent).toBe(1);
  });

  it("keeps 16 hours between reminders to one address, across its carts", async () => {
    await store([
      customer("cat"),
      cart("X1", "2024-06-10T10:00:00Z", { customerId: "cat" }),
      cart("X2", "2024-06-10T10:30:00Z", { email: "cat@example.test" }),
    ]);
    // Both due at 12:30; the older cart goes first and the other waits.
    const both = await runAt("2024-06-10T12:30:00Z");
    expect(both.sent).toHaveLength(1);
    expect(both.result.summary.skippedBy.cooldown).toBe(1);
    // 15 h later (04:30 BST) the cooldown still holds, before quiet hours are even asked.
    const within = await runAt("2024-06-11T03:30:00Z");
    expect(within.result.summary.skippedBy).toMatchObject({ cooldown: 1, alreadyReminded: 1 });
    // 18 h 30 min later, at 08:00 BST: X2, idle 20 h 30 min, gets its first reminder.
    const after = await runAt("2024-06-11T07:00:00Z");
    expect(after.sent.map((m) => m.to)).toEqual(["cat@example.test"]);
    expect((await reminders()).map((r) => (r as { cartId: string }).cartId)).toEqual(["X1", "X2"]);
  });

  it("waits through the night in the customer's own time zone", async () => {
    await store([
      customer("tok", { timezone: "Asia/Tokyo" }),
      customer("lon"),
      customer("ny", { timezone: "America/New_York" }),
      cart("T", "2024-06-10T10:00:00Z", { customerId: "tok" }),
      cart("L", "2024-06-10T10:00:00Z", { customerId: "lon" }),
      cart("N", "2024-06-10T10:00:00Z", { customerId: "ny" }),
      // A guest: the store's zone applies.
      cart("G", "2024-06-10T19:00:00Z", { email: "guest@example.test" }),
    ]);
    // 12:00Z is 21:00 in Tokyo (quiet), 13:00 in London, 08:00 in New York (quiet ends).
    const noon = await runAt("2024-06-10T12:00:00Z");
    expect(noon.sent.map((m) => m.to).sort()).toEqual(["lon@example.test", "ny@example.test"]);
    expect(noon.result.summary.skippedBy.quietHours).toBe(1);
    // 21:00Z: 22:00 in London, so the guest waits; 06:00 in Tokyo, still night.
    const night = await runAt("2024-06-10T21:00:00Z");
    expect(night.sent).toEqual([]);
    expect(night.result.summary.skippedBy.quietHours).toBe(2);
    // 23:00Z: 08:00 in Tokyo.
    const tokyoMorning = await runAt("2024-06-10T23:00:00Z");
    expect(tokyoMorning.sent.map((m) => m.to)).toEqual(["tok@example.test"]);
    // 06:30Z is 07:30 in London; 07:00Z is 08:00.
    expect((await runAt("2024-06-11T06:30:00Z")).sent).toEqual([]);
    const londonMorning = await runAt("2024-06-11T07:00:00Z");
    expect(londonMorning.sent.map((m) => m.to)).toEqual(["guest@example.test"]);
  });
});

describe("the reminder e-mail through the real mail binding", () => {
  it("keeps non-ASCII names and emoji in the subject and lets no header in", async () => {
    await store([
      customer("zoe", { firstName: "Zoë 🎉" }),
      customer("eve", { firstName: "Eve\r\nBcc: all@example.test" }),
      cart("Z", "2024-06-10T10:00:00Z", { customerId: "zoe" }, [
        { productId: "tj", name: 'Tom & Jerry "Mug" <b>', quantity: 1, unitPriceCents: 1099 },
      ]),
      cart("E", "2024-06-10T10:00:00Z", { customerId: "eve" }),
    ]);
    const { result, sent } = await runAt("2024-06-10T12:00:00Z");
    // Both went through the local send_email binding, which validates each message.
    expect(result.summary).toMatchObject({ emailsSent: 2, errors: 0 });
    const zoe = sent.find((m) => m.to === "zoe@example.test");
    expect(zoe?.subject).toBe("Zoë 🎉, you left something in your cart at Sample Gift Shop");
    expect(zoe?.html).toContain("Tom &amp; Jerry &quot;Mug&quot; &lt;b&gt;");
    expect(zoe?.text).toContain('1 × Tom & Jerry "Mug" <b>: £10.99');
    const eve = sent.find((m) => m.to === "eve@example.test");
    expect(eve?.subject).toBe(
      "Eve Bcc: all@example.test, you left something in your cart at Sample Gift Shop",
    );
    expect(eve?.subject).not.toMatch(/[\r\n]/);
  });
});

describe("two passes racing for one address", () => {
  it("lets the claim that comes second lose to the cooldown", async () => {
    await store([
      customer("cat"),
      cart("X1", "2024-06-10T10:00:00Z", { customerId: "cat" }),
      cart("X2", "2024-06-10T10:00:00Z", { email: "cat@example.test" }),
    ]);
    const clock = Date.parse("2024-06-10T12:00:00Z");
    const rules = cartRecoveryRules(env);
    const db = database(env);
    // A delayed check of X2 surveys it and finds it due...
    const scope = { clock, sendAt: clock, storeTimeZone: "Europe/London", onlyCartId: "X2" };
    const check = await surveyCarts(db, rules, scope);
    expect(check.due.map((c) => c.id)).toEqual(["X2"]);
    // ...while the cron pass reminds X1 (the older cart goes first there).
    const cronPass = await runAt("2024-06-10T12:00:00Z");
    expect(cronPass.sent).toHaveLength(1);
    expect(cronPass.result.summary.skippedBy.cooldown).toBe(1);
    // The check's claim now meets the cooldown inside its transaction: nothing claimed.
    const request = {
      task: "t",
      runId: null,
      sendAt: clock,
      now: Date.now(),
      linkValidMs: 1,
      cooldownMs: rules.cooldownMs,
      replay: false,
    };
    const proposed = proposeReminders(check.due, request);
    expect(await claimReminders(db, proposed, request)).toEqual([]);
    expect((await reminders()).map((r) => (r as { cartId: string }).cartId)).toEqual(["X1"]);
  });
});
