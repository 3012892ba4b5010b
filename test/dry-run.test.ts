/**
 * Dry runs: each task is called directly with `dryRun: true` on a store built by hand, and must
 * answer its plan while leaving D1, R2, the mail binding and the Queue untouched.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { database } from "../src/db/client";
import { scheduleCron } from "../src/schedule/task-schedule";
import { storeFrom } from "../src/store";
import { abandonedCartRecovery } from "../src/tasks/abandoned-cart-recovery";
import { dailySalesReport } from "../src/tasks/daily-sales-report";
import { dataCleanup } from "../src/tasks/data-cleanup";
import { scheduledTask } from "../src/tasks/registry";
import type { Task, TaskContext } from "../src/tasks/task";
import { weeklyNewsletter } from "../src/tasks/weekly-newsletter";
import { event, postEvents, recordingEnv } from "./helpers/worker";

const hour = 3_600_000;
const day = 24 * hour;

/** The real bindings, with the mail binding and the Queue producer recording what they get. */
function watchedEnv(overrides: Partial<Env> = {}) {
  const recorded = recordingEnv(overrides);
  const enqueued: unknown[] = [];
  const WORK_QUEUE = {
    async send(body: unknown) {
      enqueued.push(body);
    },
    async sendBatch(messages: unknown[]) {
      enqueued.push(...messages);
    },
  } as unknown as Queue;
  return { env: { ...recorded.env, WORK_QUEUE }, sent: recorded.sent, enqueued };
}

/** What the runner would hand the task, for one slot. */
function contextFor(task: Task, testEnv: Env, slotTime: number, dryRun = true): TaskContext {
  const store = storeFrom(testEnv);
  // Built apart and returned, so the shape follows TaskContext as the runner's side grows it.
  const context = {
    env: testEnv,
    db: database(testEnv),
    store,
    slotTime,
    sendAt: slotTime,
    replay: false,
    runId: 0,
    cron: scheduleCron(scheduledTask(task.name)?.schedule.expression ?? ""),
    timeZone: store.timeZone,
    dryRun,
  };
  return context;
}

async function run(task: Task, testEnv: Env, slotTime: number, dryRun = true) {
  return (await task.run(contextFor(task, testEnv, slotTime, dryRun))) as Record<string, any>;
}

async function rows(query: string) {
  return (await env.DB.prepare(query).all()).results;
}

async function count(table: string): Promise<number> {
  const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table}`).first<{ n: number }>();
  return row?.n ?? 0;
}

/** Puts an e-mail key in the log as an earlier run would have left it. */
async function takenKey(key: string, recipient: string, status: "claimed" | "sent") {
  await env.DB.prepare(
    `INSERT INTO emails (idempotency_key, task, template, recipient, status, attempts, claimed_at)
      VALUES (?, 'earlier', 'earlier', ?, ?, 1, 0)`,
  )
    .bind(key, recipient, status)
    .run();
}

describe("abandoned-cart-recovery dry run", () => {
  const slot = Date.parse("2024-06-10T12:00:00Z");
  const jKey = "cart-reminder:J:2024-06-10T07:00:00.000Z:stage-1";
  const cart = (cartId: string, at: string, extra: Record<string, unknown>, items?: unknown[]) =>
    event("cart.updated", at, {
      cartId,
      currency: "GBP",
      items: items ?? [{ productId: "mug", name: "Mug", quantity: 1, unitPriceCents: 800 }],
      ...extra,
    });
  const customer = (customerId: string, email: string, marketingConsent: boolean) =>
    event("customer.upserted", "2024-06-01T00:00:00Z", { customerId, email, marketingConsent });

  async function buildStore() {
    const { body } = await postEvents([
      customer("ann", "ann@example.test", true),
      customer("cid", "cid@example.test", true),
      customer("dee", "dee@example.test", false),
      // Eligible: 2 × 1250 + 499 = 2999 p, 3 items.
      cart("A", "2024-06-10T10:00:00Z", { customerId: "ann" }, [
        { productId: "mug", name: "Mug", category: "kitchen", quantity: 2, unitPriceCents: 1250 },
        { productId: "candle", name: "Candle", quantity: 1, unitPriceCents: 499 },
      ]),
      // Ordered an hour after the cart's last activity.
      cart("C", "2024-06-10T08:00:00Z", { customerId: "cid" }),
      event("order.placed", "2024-06-10T09:00:00Z", {
        orderId: "o-cid",
        customerId: "cid",
        currency: "GBP",
        items: [{ productId: "mug", quantity: 1, unitPriceCents: 800 }],
      }),
      // No marketing consent.
      cart("D", "2024-06-10T08:00:00Z", { customerId: "dee" }),
      // No address.
      cart("F", "2024-06-10T08:00:00Z", {}),
      // Eligible, in dollars: 10,000 + 2 × 250 = 10,500 cents, 3 items.
      event("cart.updated", "2024-06-10T09:30:00Z", {
        cartId: "I",
        email: "ivy@example.test",
        currency: "USD",
        items: [
          { productId: "lamp", name: "Lamp", quantity: 1, unitPriceCents: 10000 },
          { productId: "bulb", name: "Bulb", quantity: 2, unitPriceCents: 250 },
        ],
      }),
      // Its stage-1 key was claimed by an earlier run.
      cart("J", "2024-06-10T07:00:00Z", { email: "jo@example.test" }),
      // Idle 1 h 59 min: not yet abandoned, so not discovered.
      cart("B", "2024-06-10T10:01:00Z", { email: "bob@example.test" }),
    ]);
    expect(body.rejected).toEqual([]);
    // An earlier run reminded J (idle since 07:00) of stage 1 at 09:00.
    await takenKey(jKey, "jo@example.test", "sent");
    await env.DB.prepare(
      `INSERT INTO cart_reminders (email_key, cart_id, cart_activity_at, stage, template,
        recipient, reminded_at, link_id, link_expires_at)
      VALUES (?, 'J', ?, 1, 'cart-reminder-1', 'jo@example.test', ?, 'link-j', ?)`,
    )
      .bind(jKey, Date.parse("2024-06-10T07:00:00Z"), Date.parse("2024-06-10T09:00:00Z"), slot)
      .run();
  }

  it("lists the reminders it would send and the carts it would skip, and sends none", async () => {
    await buildStore();
    const { env: testEnv, sent, enqueued } = watchedEnv();

    const result = await run(abandonedCartRecovery, testEnv, slot);

    expect(result.dryRun).toBe(true);
    expect(result.message).toBe("Dry run: would send 2 cart reminders and hold back 4 carts.");
    // Discovered, oldest activity first: J 07:00, C/D/F 08:00, I 09:30, A 10:00.
    expect(result.plan).toEqual({
      reminders: [
        {
          cartId: "I",
          recipient: "i***@example.test",
          stage: 1,
          template: "cart-reminder-1",
          discountPercent: null,
          cartTotalCents: 10500,
          currency: "USD",
          itemCount: 3,
        },
        {
          cartId: "A",
          recipient: "a***@example.test",
          stage: 1,
          template: "cart-reminder-1",
          discountPercent: null,
          cartTotalCents: 2999,
          currency: "GBP",
          itemCount: 3,
        },
      ],
      held: [
        { cartId: "J", reason: "alreadyReminded" },
        { cartId: "C", reason: "orderedSince" },
        { cartId: "D", reason: "noConsent" },
        { cartId: "F", reason: "noAddress" },
      ],
    });
    expect(result.summary).toEqual({
      processed: 6,
      emailsSent: 0,
      errors: 0,
      skipped: 4,
      skippedBy: expect.objectContaining({
        noAddress: 1,
        noConsent: 1,
        orderedSince: 1,
        alreadyReminded: 1,
        cooldown: 0,
        quietHours: 0,
      }),
    });
    expect(result.details).toMatchObject({
      discoveredCarts: 6,
      eligibleForRecovery: 2,
      duplicatesPrevented: 1,
      totalCartValue: { GBP: 2999, USD: 10500 },
      emailTemplatesUsed: {},
    });
    expect(result.performance.emailDeliveryTime).toBeNull();

    expect(sent).toEqual([]);
    expect(enqueued).toEqual([]);
    // Only the key the earlier run left: nothing claimed.
    expect(await rows("SELECT idempotency_key AS key FROM emails")).toEqual([{ key: jKey }]);
    expect(await rows("SELECT cart_id AS cartId FROM cart_reminders")).toEqual([{ cartId: "J" }]);
  });

  it("leaves the carts for a real run, which sends exactly the reminders it listed", async () => {
    await buildStore();
    const dry = await run(abandonedCartRecovery, watchedEnv().env, slot);
    const { env: testEnv, sent } = watchedEnv();

    const real = await run(abandonedCartRecovery, testEnv, slot, false);

    expect(real.summary.emailsSent).toBe(2);
    expect(sent.map((mail) => mail.to)).toEqual(
      expect.arrayContaining(["ivy@example.test", "ann@example.test"]),
    );
    expect(sent).toHaveLength(2);
    const listed = dry.plan.reminders.map((reminder: { cartId: string }) => reminder.cartId);
    const claimed = await rows(
      "SELECT idempotency_key AS key, status FROM emails WHERE task <> 'earlier' ORDER BY key",
    );
    expect(listed.sort()).toEqual(["A", "I"]);
    expect(claimed).toEqual([
      { key: "cart-reminder:A:2024-06-10T10:00:00.000Z:stage-1", status: "sent" },
      { key: "cart-reminder:I:2024-06-10T09:30:00.000Z:stage-1", status: "sent" },
    ]);
  });
});

describe("daily-sales-report dry run", () => {
  // 08:00 BST on 11 June: the report covers Monday 10 June, London time.
  const slot = Date.parse("2024-06-11T07:00:00Z");

  it("computes the figures, lists where it would store and whom it would mail", async () => {
    const { body } = await postEvents([
      // 10:00 BST: 2 × 1,000 + 300 shipping = 2,300 p, from a first-time customer.
      event("order.placed", "2024-06-10T09:00:00Z", {
        orderId: "o1",
        customerId: "new1",
        currency: "GBP",
        shippingCents: 300,
        items: [{ productId: "p-a", name: "Product A", quantity: 2, unitPriceCents: 1000 }],
      }),
      // 15:00 BST: a guest's 4,500 p.
      event("order.placed", "2024-06-10T14:00:00Z", {
        orderId: "o2",
        currency: "GBP",
        items: [{ productId: "p-b", name: "Product B", quantity: 1, unitPriceCents: 4500 }],
      }),
    ]);
    expect(body.rejected).toEqual([]);
    // The finance address already got the report for this date.
    await takenKey("daily-report:2024-06-10:finance@example.test", "finance@example.test", "sent");
    const {
      env: testEnv,
      sent,
      enqueued,
    } = watchedEnv({
      REPORT_RECIPIENTS: "owner@example.test, Finance@example.test",
    });

    const result = await run(dailySalesReport, testEnv, slot);

    expect(result.dryRun).toBe(true);
    expect(result.date).toBe("2024-06-10");
    expect(result.metrics).toMatchObject({
      totalRevenue: 6800,
      totalOrders: 2,
      averageOrderValue: 3400,
      newCustomers: 1,
      returningCustomers: 0,
      guestOrders: 1,
    });
    expect(result.insights.peakSalesHour).toEqual({
      hour: 15,
      label: "15:00–16:00",
      revenue: 4500,
    });
    expect(result.reportDetails).toMatchObject({
      reportId: "daily-2024-06-10",
      storedAt: null,
      recipients: 2,
      emailsSent: 0,
      emailErrors: 0,
      duplicatesPrevented: 1,
    });
    expect(result.plan).toEqual({
      report: {
        reportId: "daily-2024-06-10",
        storeAt: ["reports/daily/2024-06-10.html", "reports/daily/2024-06-10.json"],
        recipients: [
          { recipient: "o***@example.test", keyStatus: null, duplicate: false },
          { recipient: "f***@example.test", keyStatus: "sent", duplicate: true },
        ],
      },
    });

    expect(sent).toEqual([]);
    expect(enqueued).toEqual([]);
    expect(await env.FILES.head("reports/daily/2024-06-10.html")).toBeNull();
    expect(await env.FILES.head("reports/daily/2024-06-10.json")).toBeNull();
    expect(await count("reports")).toBe(0);
    expect(await count("emails")).toBe(1);
  });
});

describe("data-cleanup dry run", () => {
  it("counts and lists what it would delete and deletes nothing", async () => {
    await env.FILES.put("tmp/old-a.csv", "x".repeat(1000));
    await env.FILES.put("tmp/old-b.csv", "y".repeat(24));
    await env.FILES.put("reports/keep.html", "z".repeat(50));
    await env.FILES.put("uploads/failed.bin", "f".repeat(300));
    // R2 stamps uploads with the real clock: two hours later, the tmp files are stale.
    const slot = Date.now() + 2 * hour;
    const iso = (ms: number) => new Date(ms).toISOString();
    const { body } = await postEvents([
      // Expired an hour before the slot.
      event("session.touched", iso(slot - 2 * hour), {
        sessionId: "expired",
        expiresAt: iso(slot - hour),
      }),
      // Idle 24 h exactly.
      event("session.touched", iso(slot - day), { sessionId: "idle", expiresAt: iso(slot + day) }),
      // Idle 23 h 59 min: kept.
      event("session.touched", iso(slot - day + 60_000), {
        sessionId: "live",
        expiresAt: iso(slot + day),
      }),
    ]);
    expect(body.rejected).toEqual([]);
    const insertLog = env.DB.prepare(
      "INSERT INTO app_logs (id, at, level, event) VALUES (?, ?, 'info', 'test')",
    );
    await env.DB.batch([
      insertLog.bind(1, slot - 31 * day),
      insertLog.bind(2, slot - 30 * day + 1),
      insertLog.bind(3, slot - 40 * day),
    ]);
    await env.DB.prepare(
      `INSERT INTO uploads (id, object_key, status, size_bytes, created_at) VALUES
        ('u0', 'uploads/lost.bin', 'failed', NULL, ?),
        ('u1', 'uploads/failed.bin', 'failed', 300, ?),
        ('u2', 'uploads/recent.bin', 'failed', 10, ?),
        ('u3', 'uploads/done.bin', 'complete', 10, ?)`,
    )
      .bind(slot - 48 * hour, slot - 25 * hour, slot - 23 * hour, slot - 48 * hour)
      .run();
    const { env: testEnv, sent, enqueued } = watchedEnv();

    const result = await run(dataCleanup, testEnv, slot);

    expect(result.dryRun).toBe(true);
    // 1,000 + 24 tmp bytes + 300 recorded for u1 (u0 recorded no size).
    expect(result.message).toBe("Dry run: would delete 8 items and free 1324 bytes of files.");
    expect(result.results).toEqual({
      expiredSessions: 2,
      temporaryFiles: 2,
      oldLogs: 2,
      failedUploads: 2,
      totalSpaceFreed: 1324,
      spaceFreedBreakdown: {
        fileBytes: 1324,
        databaseBytes: null,
        databaseBytesNote:
          "a dry run deletes nothing, so D1 cannot measure the space it would free",
      },
      moreLeft: false,
    });
    expect(result.systemHealth.sessionTableRows).toBe(1);
    expect(result.plan).toEqual({
      deletions: {
        expiredSessions: { items: ["expired", "idle"], truncated: false },
        temporaryFiles: {
          items: [
            { key: "tmp/old-a.csv", size: 1000 },
            { key: "tmp/old-b.csv", size: 24 },
          ],
          truncated: false,
        },
        oldLogs: { items: [1, 3], truncated: false },
        failedUploads: {
          items: [
            { id: "u0", objectKey: "uploads/lost.bin", sizeBytes: null },
            { id: "u1", objectKey: "uploads/failed.bin", sizeBytes: 300 },
          ],
          truncated: false,
        },
      },
    });

    expect(sent).toEqual([]);
    expect(enqueued).toEqual([]);
    expect(await count("sessions")).toBe(3);
    expect(await count("app_logs")).toBe(3);
    expect(await count("uploads")).toBe(4);
    for (const key of ["tmp/old-a.csv", "tmp/old-b.csv", "uploads/failed.bin"]) {
      expect(await env.FILES.head(key)).not.toBeNull();
    }
  });

  it("stops at the same batch budget as a real run, which deletes what it listed", async () => {
    // 20,001 expired sessions, s00001 … s20001: one more than 40 batches of 500.
    const slot = Date.parse("2024-06-10T12:00:00Z");
    await env.DB.prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20001)
      INSERT INTO sessions (id, last_seen_at, expires_at)
      SELECT printf('s%05d', i), ?, ? FROM n`,
    )
      .bind(slot - 2 * day, slot - day)
      .run();

    const dry = await run(dataCleanup, watchedEnv().env, slot);

    expect(dry.results.expiredSessions).toBe(20000);
    expect(dry.results.moreLeft).toBe(true);
    expect(dry.systemHealth.sessionTableRows).toBe(1);
    const listed = dry.plan.deletions.expiredSessions;
    expect(listed.truncated).toBe(true);
    expect(listed.items).toHaveLength(100);
    expect(listed.items[0]).toBe("s00001");
    expect(listed.items[99]).toBe("s00100");
    expect(await count("sessions")).toBe(20001);

    const real = await run(dataCleanup, watchedEnv().env, slot, false);

    expect(real.results.expiredSessions).toBe(20000);
    expect(real.results.moreLeft).toBe(true);
    expect(await rows("SELECT id FROM sessions")).toEqual([{ id: "s20001" }]);
  });
});

describe("weekly-newsletter dry run", () => {
  const slot = Date.parse("2024-06-10T09:00:00Z"); // Monday, 10:00 in London
  const subscriber = (email: string, categories: string[]) =>
    event("subscriber.subscribed", "2024-05-01T00:00:00Z", { email, categories });

  async function buildStore(extra: unknown[] = []) {
    const { body } = await postEvents([
      event("product.upserted", "2024-01-01T00:00:00Z", {
        productId: "lamp",
        name: "Brass Lamp",
        category: "lighting",
        priceCents: 4500,
      }),
      // First seen on Wednesday of the past week: new.
      event("product.upserted", "2024-06-05T10:00:00Z", {
        productId: "tote",
        name: "Canvas Tote",
        category: "bags",
        priceCents: 1200,
      }),
      event("order.placed", "2024-06-06T10:00:00Z", {
        orderId: "w1",
        currency: "GBP",
        items: [{ productId: "lamp", quantity: 5, unitPriceCents: 4500 }],
      }),
      subscriber("bags@example.test", ["bags"]),
      subscriber("light@example.test", ["lighting"]),
      subscriber("gone@example.test", ["bags"]),
      event("subscriber.unsubscribed", "2024-06-01T00:00:00Z", { email: "gone@example.test" }),
      subscriber("hard@example.test", ["bags"]),
      event("email.bounced", "2024-06-02T00:00:00Z", { email: "hard@example.test", kind: "hard" }),
      // No categories of its own: gets the busiest ones.
      subscriber("soft@example.test", []),
      event("email.bounced", "2024-06-02T00:00:00Z", { email: "soft@example.test", kind: "soft" }),
      subscriber("noconsent@example.test", ["bags"]),
      event("customer.upserted", "2024-06-01T00:00:00Z", {
        customerId: "nc",
        email: "noconsent@example.test",
        marketingConsent: false,
      }),
      ...extra,
    ]);
    expect(body.rejected).toEqual([]);
  }

  it("shows the content, the audience and each sample recipient's sections", async () => {
    await buildStore();
    const { env: testEnv, sent, enqueued } = watchedEnv();

    const result = await run(weeklyNewsletter, testEnv, slot);

    expect(result.dryRun).toBe(true);
    expect(result).toMatchObject({
      campaignId: "newsletter-2024-06-10",
      weekOf: "2024-06-10",
      content: { categories: 2, newProducts: 1, bestSellers: 1 },
      // Left out: gone and noconsent (unsubscribed), hard (bounced).
      results: { emailsSent: 0, errors: 0, unsubscribes: 2, bounces: 1 },
      performance: { totalSubscribers: 3, batchesProcessed: 0, batchesTotal: 1 },
      status: "planned",
    });
    expect(result.plan.content).toEqual({
      categories: [
        {
          category: "bags",
          newProducts: [
            { productId: "tote", name: "Canvas Tote", priceCents: 1200, currency: "GBP" },
          ],
          bestSellers: [],
        },
        {
          category: "lighting",
          newProducts: [],
          bestSellers: [{ productId: "lamp", name: "Brass Lamp", unitsSold: 5 }],
        },
      ],
    });
    expect(result.plan.batches).toEqual({ messages: 1, sendBatchCalls: 1, subscribers: [3] });
    // soft has no categories: lighting (5 sold) before bags (0 sold).
    expect(result.plan.sample).toEqual([
      {
        recipient: "b***@example.test",
        categories: ["bags"],
        personalised: true,
        sections: ["bags"],
      },
      {
        recipient: "l***@example.test",
        categories: ["lighting"],
        personalised: true,
        sections: ["lighting"],
      },
      {
        recipient: "s***@example.test",
        categories: [],
        personalised: false,
        sections: ["lighting", "bags"],
      },
    ]);

    expect(enqueued).toEqual([]);
    expect(sent).toEqual([]);
    expect(await count("campaigns")).toBe(0);
    expect(await count("emails")).toBe(0);
  });

  it("cuts a larger audience into batches of 50 and samples the first 20", async () => {
    // 120 more readers, reader-000 … reader-119: 123 recipients in address order.
    const readers = Array.from({ length: 120 }, (_, i) =>
      subscriber(`reader-${String(i).padStart(3, "0")}@example.test`, ["lighting"]),
    );
    await buildStore(readers);
    const { env: testEnv, enqueued } = watchedEnv();

    const result = await run(weeklyNewsletter, testEnv, slot);

    expect(result.performance.totalSubscribers).toBe(123);
    expect(result.plan.batches).toEqual({
      messages: 3,
      sendBatchCalls: 1,
      subscribers: [50, 50, 23],
    });
    const sample = result.plan.sample as { recipient: string; sections: string[] }[];
    expect(sample).toHaveLength(20);
    expect(sample.slice(0, 2).map((entry) => entry.recipient)).toEqual([
      "b***@example.test",
      "l***@example.test",
    ]);
    // reader-000 … reader-017 fill the rest of the sample.
    expect(sample.slice(2).every((entry) => entry.recipient === "r***@example.test")).toBe(true);
    expect(sample.slice(2).every((entry) => entry.sections.join() === "lighting")).toBe(true);
    expect(enqueued).toEqual([]);
    expect(await count("campaigns")).toBe(0);
  });
});
