import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { api, event, postEvents } from "./helpers/worker";

const customer = (id: string, email: string, at = "2024-06-01T10:00:00Z") => ({
  id: `cust-${id}-${at}`,
  type: "customer.upserted",
  occurredAt: at,
  data: { customerId: id, email, marketingConsent: true },
});

describe("POST /api/events", () => {
  it("keeps the good events of a request and rejects each bad one with its reason", async () => {
    const { status, body } = await postEvents([
      customer("c1", "  Jane@Example.TEST "),
      { id: "bad-1", type: "order.placed", occurredAt: "2024-06-01T10:00:00Z", data: {} },
      { id: "bad-2", type: "cart.exploded", occurredAt: "2024-06-01T10:00:00Z", data: {} },
      {
        id: "bad-3",
        type: "product.upserted",
        occurredAt: "yesterday",
        data: { productId: "p1", name: "Mug", priceCents: 250 },
      },
      {
        id: "bad-4",
        type: "product.upserted",
        occurredAt: "2024-06-01T10:00:00Z",
        data: { productId: "p1", name: "Mug", priceCents: 2.5 },
      },
      "not an object",
    ]);

    expect(status).toBe(200);
    expect(body.accepted).toBe(1);
    expect(body.duplicates).toBe(0);
    expect(body.rejected.map((r) => [r.index, r.id])).toEqual([
      [1, "bad-1"],
      [2, "bad-2"],
      [3, "bad-3"],
      [4, "bad-4"],
      [5, null],
    ]);
    expect(body.rejected[0]?.error).toContain("data.orderId");
    expect(body.rejected[0]?.error).toContain("data.currency");
    expect(body.rejected[1]?.error).toContain("type: must be one of");
    expect(body.rejected[2]?.error).toContain("occurredAt: must be an ISO-8601 instant");
    expect(body.rejected[3]?.error).toContain("data.priceCents");

    const stored = await env.DB.prepare("SELECT email FROM customers WHERE id = 'c1'").first();
    expect(stored).toEqual({ email: "jane@example.test" });
  });

  it("counts a repeated id as a duplicate and applies it once", async () => {
    const order = {
      id: "order-event-1",
      type: "order.placed",
      occurredAt: "2024-06-01T10:00:00Z",
      data: {
        orderId: "o1",
        currency: "GBP",
        items: [{ productId: "p1", quantity: 2, unitPriceCents: 125 }],
        shippingCents: 395,
      },
    };
    const first = await postEvents([order, order]);
    const second = await postEvents([order]);

    expect(first.body).toMatchObject({ accepted: 1, duplicates: 1 });
    expect(second.body).toMatchObject({ accepted: 0, duplicates: 1 });
    const row = await env.DB.prepare(
      "SELECT total_cents AS total, (SELECT count(*) FROM order_items) AS lines FROM orders",
    ).first();
    // 2 × 125 p + 395 p shipping, one line.
    expect(row).toEqual({ total: 645, lines: 1 });
  });

  it("never lets an older cart event overwrite a newer one", async () => {
    const items = (quantity: number) => [{ productId: "p1", quantity, unitPriceCents: 1000 }];
    await postEvents([
      event("cart.updated", "2024-06-01T12:00:00Z", {
        cartId: "k1",
        currency: "GBP",
        items: items(3),
      }),
      event("cart.updated", "2024-06-01T11:00:00Z", {
        cartId: "k1",
        currency: "GBP",
        items: items(1),
      }),
    ]);
    await postEvents([
      event("cart.updated", "2024-06-01T10:00:00Z", {
        cartId: "k1",
        currency: "GBP",
        items: items(5),
      }),
    ]);

    const cart = await env.DB.prepare(
      "SELECT item_count AS items, total_cents AS total FROM carts WHERE id = 'k1'",
    ).first();
    expect(cart).toEqual({ items: 3, total: 3000 });
    const lines = await env.DB.prepare("SELECT quantity FROM cart_items").all();
    expect(lines.results).toEqual([{ quantity: 3 }]);
  });

  it("marks a cart converted by the order that names it", async () => {
    await postEvents([
      event("cart.updated", "2024-06-01T10:00:00Z", {
        cartId: "k2",
        currency: "GBP",
        items: [{ productId: "p1", quantity: 1, unitPriceCents: 500 }],
      }),
      event("order.placed", "2024-06-01T10:30:00Z", {
        orderId: "o2",
        cartId: "k2",
        currency: "GBP",
        items: [{ productId: "p1", quantity: 1, unitPriceCents: 500 }],
      }),
    ]);
    const cart = await env.DB.prepare("SELECT status FROM carts WHERE id = 'k2'").first();
    expect(cart).toEqual({ status: "converted" });
  });

  it("keeps an opt-out even for an address it never saw subscribe", async () => {
    await postEvents([
      event("subscriber.unsubscribed", "2024-06-02T10:00:00Z", { email: "Out@Example.test" }),
      event("subscriber.subscribed", "2024-06-01T10:00:00Z", {
        email: "out@example.test",
        categories: ["bags"],
      }),
    ]);
    const row = await env.DB.prepare("SELECT status FROM subscribers").first();
    expect(row).toEqual({ status: "unsubscribed" });
  });

  it("answers 400 saying what is wrong with the request as a whole", async () => {
    const notJson = await api("/api/events", { method: "POST", body: "{oops" });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toMatchObject({
      error: { code: "bad_request", message: "the body is not valid JSON" },
    });

    const empty = await api("/api/events", { method: "POST", json: { events: [] } });
    expect(empty.status).toBe(400);
    expect(await empty.text()).toContain("send 1 to 1000 events per request, not 0");

    const tooMany = Array.from({ length: 1001 }, (_, i) => customer(`c${i}`, `c${i}@example.test`));
    const over = await api("/api/events", { method: "POST", json: { events: tooMany } });
    expect(over.status).toBe(400);
    expect(await over.text()).toContain("not 1001");

    const shape = await api("/api/events", { method: "POST", json: [1, 2] });
    expect(shape.status).toBe(400);
  });

  it("refuses a wrong token", async () => {
    const response = await api("/api/events", {
      method: "POST",
      headers: { Authorization: "Bearer wrong" },
      json: { events: [customer("c9", "x@example.test")] },
    });
    expect(response.status).toBe(401);
  });
});

describe("POST /api/events refuses what would corrupt the store", () => {
  const now = new Date().toISOString();
  const order = (id: string, orderId: string, data: Record<string, unknown> = {}) => ({
    id,
    type: "order.placed",
    occurredAt: now,
    data: {
      orderId,
      currency: "GBP",
      items: [{ productId: "p", quantity: 1, unitPriceCents: 500 }],
      ...data,
    },
  });

  it("refuses an event dated more than a day ahead, which would pin state until then", async () => {
    const { body } = await postEvents([
      {
        id: "future",
        type: "customer.upserted",
        occurredAt: "9999-01-01T00:00:00Z",
        data: { customerId: "c", email: "c@example.test", marketingConsent: true },
      },
    ]);
    expect(body).toMatchObject({ error: { code: "unprocessable" } });
    const { rejected } = await postEvents([
      {
        id: "future-2",
        type: "subscriber.unsubscribed",
        occurredAt: new Date(Date.now() + 25 * 3_600_000).toISOString(),
        data: { email: "x@example.test" },
      },
      order("ok", "o-ok"),
    ]).then((r) => r.body);
    expect(rejected).toEqual([
      { index: 0, id: "future-2", error: "occurredAt: is more than a day in the future" },
    ]);
  });

  it("keeps every amount an exact integer: prices and totals are bounded", async () => {
    const { status, body } = await postEvents([
      order("huge-price", "o1", {
        items: [{ productId: "p", quantity: 1, unitPriceCents: 2 ** 53 }],
      }),
      order("huge-total", "o2", {
        items: [{ productId: "p", quantity: 100_000, unitPriceCents: 100_000_000_000 }],
      }),
      order("negative", "o3", { otherChargesCents: -501 }),
      order("fine", "o4", { otherChargesCents: -500 }),
    ]);
    expect(status).toBe(200);
    expect(body.accepted).toBe(1);
    expect(body.rejected.map((r) => r.id)).toEqual(["huge-price", "huge-total", "negative"]);
    expect(body.rejected[0]?.error).toContain("data.items.0.unitPriceCents");
    expect(body.rejected[1]?.error).toContain("must be at most 10000000000000");
    expect(body.rejected[2]?.error).toContain("must not be negative");
  });

  it("refuses a second order with an order id that is already placed", async () => {
    await postEvents([order("first", "o-same")]);
    const { body } = await postEvents([
      order("second", "o-same", { customerId: "someone-else" }),
      order("third", "o-new"),
      order("fourth", "o-new"),
    ]);
    expect(body.accepted).toBe(1);
    expect(body.rejected).toEqual([
      {
        index: 0,
        id: "second",
        error: 'data.orderId: order "o-same" was already placed by event "first"',
      },
      {
        index: 2,
        id: "fourth",
        error: 'data.orderId: order "o-new" was already placed by event "third"',
      },
    ]);
  });

  it("checks addresses, currencies and zones; stores zones as spelled by the runtime", async () => {
    const customer = (id: string, data: Record<string, unknown>) => ({
      id,
      type: "customer.upserted",
      occurredAt: now,
      data: { customerId: id, email: `${id}@example.test`, marketingConsent: true, ...data },
    });
    const { body } = await postEvents([
      customer("long", { email: `${"a".repeat(250)}@example.test` }),
      customer("zone", { timezone: "europe/london" }),
      customer("mars", { timezone: "Mars/Olympus" }),
      order("zzz", "o-zzz", { currency: "ZZZ" }),
    ]);
    expect(body.rejected.map((r) => [r.id, r.error])).toEqual([
      ["long", "data.email: must be at most 254 characters (RFC 5321)"],
      ["mars", "data.timezone: must be an IANA time zone such as Europe/London"],
      ["zzz", "data.currency: is not a currency this runtime knows (ISO 4217)"],
    ]);
    const row = await env.DB.prepare("SELECT timezone FROM customers WHERE id = 'zone'").first();
    expect(row).toEqual({ timezone: "Europe/London" });
  });

  it("answers 422 in the error shape when no event of a request is accepted", async () => {
    const response = await api("/api/events", {
      method: "POST",
      json: { events: [{ id: "x", type: "nope", occurredAt: now, data: {} }] },
    });
    expect(response.status).toBe(422);
    expect(await response.json()).toMatchObject({
      error: {
        code: "unprocessable",
        message: "no event of the request was accepted",
        details: [{ index: 0, id: "x", error: expect.stringContaining("type: must be one of") }],
      },
    });
  });
});
