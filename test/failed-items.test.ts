import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { capturingQueue, emailRows, faultyMail } from "./helpers/faults";
import { api, deliverQueue, event, fireOne, postEvents } from "./helpers/worker";

const cartCron = utcCrons["abandoned-cart-recovery"] ?? "";

const store = (payload: unknown, failedAt: string, attempts = 6) =>
  env.DB.prepare(
    `INSERT INTO failed_items (queue, payload, error, attempts, failed_at)
     VALUES ('shop-tasks-dead-letters', ?, 'delivery retries exhausted', ?, ?)`,
  ).bind(JSON.stringify(payload), attempts, Date.parse(failedAt));

async function call(path: string, init: RequestInit = {}, testEnv: Env = env) {
  const response = await api(path, init, testEnv);
  return { status: response.status, body: (await response.json()) as any };
}

describe("GET /api/failed-items", () => {
  it("lists dead letters newest first, paged, masked, with bodies shortened", async () => {
    await env.DB.batch([
      store(
        {
          kind: "newsletter-batch",
          campaignId: "c1",
          runId: 1,
          batch: 0,
          emails: ["jane@x.test"],
        },
        "2024-06-10T09:00:00Z",
      ),
      store(
        {
          kind: "email-retry",
          key: "newsletter:c1:jane@x.test",
          from: "shop@example.test",
          email: {
            key: "newsletter:c1:jane@x.test",
            to: "jane@x.test",
            html: "<p>hi</p>",
            text: "hi",
            headers: { "List-Unsubscribe": "<http://shop.test/unsubscribe?token=eyJzdWIi>" },
          },
        },
        "2024-06-10T10:00:00Z",
      ),
    ]);

    const first = await call("/api/failed-items?limit=1");
    expect(first.status).toBe(200);
    expect(first.body).toEqual({
      failedItems: [
        {
          id: 2,
          queue: "shop-tasks-dead-letters",
          kind: "email-retry",
          payload: {
            kind: "email-retry",
            key: "newsletter:c1:j***@x.test",
            from: "s***@example.test",
            email: {
              key: "newsletter:c1:j***@x.test",
              to: "j***@x.test",
              html: "(9 characters)",
              text: "(2 characters)",
              headers: ["List-Unsubscribe"],
            },
          },
          error: "delivery retries exhausted",
          attempts: 6,
          failedAt: "2024-06-10T10:00:00.000Z",
          replays: 0,
          replayedAt: null,
          replayError: null,
        },
      ],
      nextCursor: "2",
    });

    const second = await call("/api/failed-items?limit=1&cursor=2");
    expect(second.body.failedItems.map((item: { id: number }) => item.id)).toEqual([1]);
    expect(second.body.failedItems[0].payload.emails).toEqual(["j***@x.test"]);
    expect(second.body.nextCursor).toBeNull();
  });

  it("answers 400 naming the parameter at fault", async () => {
    const { status, body } = await call("/api/failed-items?limit=500");
    expect(status).toBe(400);
    expect(body.error.details[0].parameter).toBe("limit");
  });
});

describe("POST /api/failed-items/:id/retry", () => {
  it("replays a dead-lettered e-mail once, and a second replay sends nothing", async () => {
    await postEvents([
      event("cart.updated", "2024-06-10T09:00:00Z", {
        cartId: "busy",
        email: "busy@example.test",
        currency: "GBP",
        items: [{ productId: "mug", name: "Mug", quantity: 1, unitPriceCents: 800 }],
      }),
    ]);
    const down = faultyMail(() => "503 service unavailable");
    const queue = capturingQueue();
    const downEnv = { ...env, EMAIL: down.EMAIL, WORK_QUEUE: queue.WORK_QUEUE };
    await fireOne(cartCron, "2024-06-10T12:00:00Z", downEnv);
    const bodies = queue.queued.map((queued) => queued.body);
    await deliverQueue("shop-tasks-dead-letters", bodies, downEnv, 6);
    expect(down.sent).toEqual([]);

    const up = faultyMail(() => null);
    const upEnv = { ...env, EMAIL: up.EMAIL };
    const first = await call("/api/failed-items/1/retry", { method: "POST" }, upEnv);
    const second = await call("/api/failed-items/1/retry", { method: "POST" }, upEnv);

    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      replayed: true,
      error: null,
      failedItem: { id: 1, kind: "email-retry", replays: 1, replayError: null },
    });
    expect(first.body.failedItem.replayedAt).toEqual(expect.any(String));
    expect(second.body).toMatchObject({ replayed: true, failedItem: { replays: 2 } });
    expect(up.sent.map((mail) => mail.to)).toEqual(["busy@example.test"]);
    expect(await emailRows()).toEqual([
      {
        key: "cart-reminder:busy:2024-06-10T09:00:00.000Z:stage-1",
        status: "sent",
        attempts: 4,
        error: null,
      },
    ]);
  });

  it("keeps the item with the reason when its replay fails", async () => {
    await store({ kind: "mystery" }, "2024-06-10T10:00:00Z").run();

    const { status, body } = await call("/api/failed-items/1/retry", { method: "POST" });

    expect(status).toBe(200);
    expect(body).toMatchObject({
      replayed: false,
      error: 'unknown work message kind "mystery"',
      failedItem: {
        id: 1,
        replays: 1,
        replayedAt: null,
        replayError: 'unknown work message kind "mystery"',
      },
    });
  });

  it("keeps an item whose replay found nothing to send, with the reason", async () => {
    const retry = {
      kind: "email-retry",
      key: "cart-reminder:ghost:stage-1",
      from: "shop@example.test",
      email: { key: "cart-reminder:ghost:stage-1", to: "g@example.test", subject: "s", text: "t" },
    };
    await deliverQueue("shop-tasks-dead-letters", [retry], env, 6);

    const response = await api("/api/failed-items/1/retry", { method: "POST" });
    const body = (await response.json()) as { replayed: boolean; error: string | null };
    expect(body.replayed).toBe(false);
    expect(body.error).toContain("its key is not waiting for a retry");
    const row = await env.DB.prepare("SELECT replayed_at AS replayedAt FROM failed_items").first();
    expect(row).toEqual({ replayedAt: null });
  });

  it("answers 404 for an unknown item and 400 for a malformed id", async () => {
    expect((await call("/api/failed-items/7/retry", { method: "POST" })).status).toBe(404);
    expect((await call("/api/failed-items/x/retry", { method: "POST" })).status).toBe(400);
  });
});
