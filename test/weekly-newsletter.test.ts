import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { retryDelay } from "../src/queue/consumer";
import { RetryLater } from "../src/queue/retry-later";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import {
  api,
  deliverQueue,
  event,
  fireOne,
  postEvents,
  recordingEnv,
  runDirectly,
} from "./helpers/worker";

const cron = utcCrons["weekly-newsletter"] ?? "";
const slot = "2024-06-10T08:00:00Z"; // Monday 09:00 in London (BST)

/** The real bindings, with the queue producer replaced by one that keeps what was sent. */
function capturingQueue() {
  const queued: unknown[] = [];
  const recorded = recordingEnv();
  const WORK_QUEUE = {
    async send(body: unknown) {
      queued.push(body);
    },
    async sendBatch(messages: { body: unknown }[]) {
      for (const message of messages) queued.push(message.body);
    },
  } as unknown as Queue;
  return { env: { ...recorded.env, WORK_QUEUE }, sent: recorded.sent, queued };
}

const subscriber = (email: string, categories: string[]) =>
  event("subscriber.subscribed", "2024-05-01T00:00:00Z", { email, categories });

describe("weekly-newsletter", () => {
  beforeEach(async () => {
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
      subscriber("soft@example.test", []),
      event("email.bounced", "2024-06-02T00:00:00Z", { email: "soft@example.test", kind: "soft" }),
      subscriber("noconsent@example.test", ["bags"]),
      event("customer.upserted", "2024-06-01T00:00:00Z", {
        customerId: "nc",
        email: "noconsent@example.test",
        marketingConsent: false,
      }),
    ]);
    expect(body.rejected).toEqual([]);
  });

  it("fans out to reachable subscribers and fills in the result as batches finish", async () => {
    const { env: testEnv, sent, queued } = capturingQueue();
    const run = await fireOne(cron, slot, testEnv);

    expect(run.status).toBe("succeeded");
    expect(run.result).toMatchObject({
      campaignId: "newsletter-2024-06-10",
      weekOf: "2024-06-10",
      contentWindow: { start: "2024-06-02T23:00:00.000Z", end: "2024-06-09T23:00:00.000Z" },
      results: { emailsSent: 0, errors: 0, unsubscribes: 2, bounces: 1 },
      performance: { totalSubscribers: 3, batchesProcessed: 0, batchesTotal: 1 },
      status: "sending",
      nextCampaign: "2024-06-17T08:00:00.000Z",
    });
    expect(queued).toHaveLength(1);

    const outcome = await deliverQueue("shop-tasks-work", queued, testEnv);
    expect(outcome.explicitAcks).toEqual(["msg-0"]);
    expect(sent.map((mail) => mail.to).sort()).toEqual([
      "bags@example.test",
      "light@example.test",
      "soft@example.test",
    ]);
    const bags = sent.find((mail) => mail.to === "bags@example.test");
    expect(bags?.text).toContain("- new: Canvas Tote (£12.00)");
    expect(bags?.text).not.toContain("Brass Lamp");
    const light = sent.find((mail) => mail.to === "light@example.test");
    expect(light?.text).toContain("- best seller: Brass Lamp");
    expect(light?.text).toMatch(/Unsubscribe: http:\/\/localhost:8787\/unsubscribe\?token=/);

    const updated = (await (await api(`/api/runs/${run.id}`)).json()) as typeof run;
    expect(updated.result).toMatchObject({
      results: { emailsSent: 3, errors: 0, unsubscribes: 2, bounces: 1 },
      performance: { totalSubscribers: 3, successRate: 100, batchesProcessed: 1 },
      status: "complete",
    });
    expect(updated.result.performance.deliveryTime).toEqual(expect.any(Number));
  });

  it("sends nothing twice when the Queue delivers a batch again", async () => {
    const { env: testEnv, sent, queued } = capturingQueue();
    const run = await fireOne(cron, slot, testEnv);
    await deliverQueue("shop-tasks-work", queued, testEnv);
    await deliverQueue("shop-tasks-work", queued, testEnv, 2);

    expect(sent).toHaveLength(3);
    const updated = (await (await api(`/api/runs/${run.id}`)).json()) as typeof run;
    expect(updated.result.results.emailsSent).toBe(3);
    expect(updated.result.performance.batchesProcessed).toBe(1);
  });

  it("skips someone who unsubscribed after the fan-out", async () => {
    const { env: testEnv, sent, queued } = capturingQueue();
    await fireOne(cron, slot, testEnv);
    await postEvents([
      event("subscriber.unsubscribed", "2024-06-10T08:01:00Z", { email: "light@example.test" }),
    ]);
    await deliverQueue("shop-tasks-work", queued, testEnv);

    expect(sent.map((mail) => mail.to).sort()).toEqual(["bags@example.test", "soft@example.test"]);
  });

  it("sends one campaign per week, however many days it runs in that week", async () => {
    const { env: testEnv, sent, queued } = capturingQueue();
    await fireOne(cron, slot, testEnv);
    await deliverQueue("shop-tasks-work", queued, testEnv);
    // A run on Tuesday of the same week, past the slot claims.
    const again = await runDirectly("weekly-newsletter", "2024-06-11T08:00:00Z", testEnv);
    expect(again.result.campaignId).toBe("newsletter-2024-06-10");
    await deliverQueue("shop-tasks-work", queued.slice(1), testEnv);
    expect(sent).toHaveLength(3);
  });

  it("counts as unsubscribes only subscribers who left, not bare opt-outs", async () => {
    await postEvents([
      event("subscriber.unsubscribed", "2024-06-03T00:00:00Z", { email: "never@example.test" }),
    ]);
    const run = await fireOne(cron, slot, capturingQueue().env);
    // gone@ unsubscribed and noconsent@ has no consent; never@ was never on the list.
    expect(run.result.results.unsubscribes).toBe(2);
  });

  it("shows each product's price in its own currency", async () => {
    await postEvents([
      event("product.upserted", "2024-06-06T10:00:00Z", {
        productId: "usd-bag",
        name: "Travel Bag",
        category: "bags",
        priceCents: 770,
        currency: "USD",
      }),
    ]);
    const { env: testEnv, sent, queued } = capturingQueue();
    await fireOne(cron, slot, testEnv);
    await deliverQueue("shop-tasks-work", queued, testEnv);
    const bags = sent.find((mail) => mail.to === "bags@example.test");
    expect(bags?.text).toContain("- new: Travel Bag (US$7.70)");
    expect(bags?.text).toContain("- new: Canvas Tote (£12.00)");
  });

  it("retries a message it cannot handle instead of dropping it", async () => {
    const outcome = await deliverQueue("shop-tasks-work", [{ kind: "mystery" }], env, 3);
    expect(outcome.explicitAcks).toEqual([]);
    expect(outcome.retryMessages.map((m) => m.msgId)).toEqual(["msg-0"]);
  });

  it("waits longer after each failed delivery", () => {
    // Base 10 s doubling per attempt, with jitter between half the base and the base.
    for (const [attempts, low, high] of [
      [1, 5, 10],
      [3, 20, 40],
      [20, 1800, 3600],
    ] as const) {
      const delay = retryDelay(new Error("D1 busy"), attempts);
      expect(delay).toBeGreaterThanOrEqual(low);
      expect(delay).toBeLessThanOrEqual(high);
    }
    expect(retryDelay(new RetryLater("run still starting", 5), 4)).toBe(5);
  });

  it("keeps dead letters in D1 with their payload", async () => {
    const outcome = await deliverQueue("shop-tasks-dead-letters", [{ kind: "mystery" }], env, 6);
    expect(outcome.explicitAcks).toEqual(["msg-0"]);
    const row = await env.DB.prepare("SELECT payload, attempts FROM failed_items").first();
    expect(row).toEqual({ payload: '{"kind":"mystery"}', attempts: 6 });
  });
});
