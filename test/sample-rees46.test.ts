import { describe, expect, it } from "vitest";
import { parseEvent } from "../src/events/contract";
import { mapRees46, productName } from "../src/sample/rees46";
import type { SampleEvent } from "../src/sample/sample-event";
import behaviourLog from "./fixtures/rees46-2019-10-01-first-17434-events.csv?raw";

const result = mapRees46(behaviourLog, {
  now: Date.parse("2026-12-04T15:57:00Z"),
  keepDates: true,
});

function ofType<T extends SampleEvent["type"]>(type: T) {
  return result.events.filter(
    (event): event is Extract<SampleEvent, { type: T }> => event.type === type,
  );
}

function cartUpdatesOf(userId: string) {
  return ofType("cart.updated").filter((event) => event.data.customerId === `r46-${userId}`);
}

function ordersOf(userId: string) {
  return ofType("order.placed").filter((event) => event.data.customerId === `r46-${userId}`);
}

/** A cart or order line as [product, quantity, unit price in cents]. */
const lines = (items: Array<{ productId: string; quantity: number; unitPriceCents: number }>) =>
  items.map((item) => [item.productId, item.quantity, item.unitPriceCents]);

describe("REES46 carts", () => {
  it("sends the whole cart each time and counts a product added again", () => {
    // User 555110488: cart 1004750 ($197.43) at 02:19:43, cart 1004856 ($130.76) at 02:24:07
    // and again at 02:24:12.
    const updates = cartUpdatesOf("555110488");
    expect(updates.map((event) => event.occurredAt)).toEqual([
      "2019-10-01T02:19:43.000Z",
      "2019-10-01T02:24:07.000Z",
      "2019-10-01T02:24:12.000Z",
    ]);
    expect(updates.map((event) => event.data.cartId)).toEqual(
      Array(3).fill("r46-cart-555110488-1"),
    );
    expect(updates.map((event) => lines(event.data.items))).toEqual([
      [["r46-1004750", 1, 19743]],
      [
        ["r46-1004750", 1, 19743],
        ["r46-1004856", 1, 13076],
      ],
      [
        ["r46-1004750", 1, 19743],
        ["r46-1004856", 2, 13076],
      ],
    ]);
    expect(updates[0]?.data).toMatchObject({
      email: "r46-555110488@example.test",
      currency: "USD",
    });
  });

  it("places one order per session at its last purchase, converting the open cart", () => {
    // Same user, session ce885079: purchases of 1004750 (02:22:11), 1004856 (02:25:04) and
    // 1004750 again (02:26:05) are one order.
    const [order, ...others] = ordersOf("555110488");
    expect(others).toEqual([]);
    expect(order?.id).toBe("r46-order-555110488-ce885079-4d92-4fe6-92a3-377c5a2d8291");
    expect(order?.occurredAt).toBe("2019-10-01T02:26:05.000Z");
    expect(order?.data.cartId).toBe("r46-cart-555110488-1");
    expect(order?.data.currency).toBe("USD");
    expect(lines(order?.data.items ?? [])).toEqual([
      ["r46-1004750", 2, 19743],
      ["r46-1004856", 1, 13076],
    ]);
  });

  it("keeps one cart through a session whose purchases come between cart additions", () => {
    // User 552408931: cart 1005104 at 02:27:23, buys it at 02:28:40, carts 1005109 at 02:32:15,
    // buys that at 02:32:59, all in one session: one cart, one order at 02:32:59.
    const updates = cartUpdatesOf("552408931");
    expect(updates.map((event) => event.data.cartId)).toEqual([
      "r46-cart-552408931-1",
      "r46-cart-552408931-1",
    ]);
    expect(lines(updates[1]?.data.items ?? [])).toEqual([
      ["r46-1005104", 1, 97557],
      ["r46-1005109", 1, 97557],
    ]);
    const [order] = ordersOf("552408931");
    expect(order?.occurredAt).toBe("2019-10-01T02:32:59.000Z");
    expect(order?.data.cartId).toBe("r46-cart-552408931-1");
  });

  it("starts a new cart when the user adds to cart after an order", () => {
    // User 512736046: cart 5100689 at 02:31:02, purchase at 02:32:07, cart again at 02:32:47.
    const updates = cartUpdatesOf("512736046");
    expect(updates.map((event) => [event.data.cartId, lines(event.data.items)])).toEqual([
      ["r46-cart-512736046-1", [["r46-5100689", 1, 38582]]],
      ["r46-cart-512736046-2", [["r46-5100689", 1, 38582]]],
    ]);
    expect(ordersOf("512736046")[0]?.data.cartId).toBe("r46-cart-512736046-1");
  });

  it("places an order without a cart when the user never added to one", () => {
    // User 551377651 bought an apple smartphone ($642.69) and headphones ($161.98).
    const [order] = ordersOf("551377651");
    expect(order?.data.cartId).toBeUndefined();
    expect(order?.occurredAt).toBe("2019-10-01T00:09:54.000Z");
    expect(lines(order?.data.items ?? [])).toEqual([
      ["r46-1002532", 1, 64269],
      ["r46-4804056", 1, 16198],
    ]);
  });
});

describe("REES46 sessions, products, customers and subscribers", () => {
  it("touches a session at its last row and lets it expire a day later", () => {
    const session = ofType("session.touched").find(
      (event) => event.data.sessionId === "ce885079-4d92-4fe6-92a3-377c5a2d8291",
    );
    // The session's last row is a view at 02:27:02.
    expect(session?.occurredAt).toBe("2019-10-01T02:27:02.000Z");
    expect(session?.data).toEqual({
      sessionId: "ce885079-4d92-4fe6-92a3-377c5a2d8291",
      customerId: "r46-555110488",
      expiresAt: "2019-10-02T02:27:02.000Z",
    });
  });

  it("names products by brand and kind, or by id when the row has neither", () => {
    expect(productName("1004750", "samsung", "electronics.smartphone")).toBe("samsung smartphone");
    expect(productName("3900821", "aqua", "appliances.environment.water_heater")).toBe(
      "aqua water heater",
    );
    expect(productName("44600062", "shiseido", "")).toBe("shiseido");
    const unnamed = ofType("product.upserted").find((event) => event.id === "r46-product-23100006");
    expect(unnamed?.data).toEqual({
      productId: "r46-23100006",
      name: "product 23100006",
      priceCents: 35779,
      currency: "USD",
    });
  });

  it("gives a customer who bought nothing the categories of their carts", () => {
    // User 536415846 put a samsung smartphone in the cart three times and never bought.
    const subscriber = ofType("subscriber.subscribed").find(
      (event) => event.data.email === "r46-536415846@example.test",
    );
    expect(subscriber?.data).toEqual({
      email: "r46-536415846@example.test",
      categories: ["electronics"],
      derived: true,
    });
    // User 513053986 only carted a xiaomi product without a category code.
    const uncategorised = ofType("subscriber.subscribed").find(
      (event) => event.data.email === "r46-513053986@example.test",
    );
    expect(uncategorised?.data.categories).toEqual([]);
  });

  it("counts what SOURCE.md counts, and every event is valid", () => {
    // SOURCE.md: 165 cart events, 5,066 sessions, 6,493 products, 111 users with a cart and
    // 193 buyers of whom 131 had no cart: 111 + 193 - 62 = 242 customers.
    expect(result.stats.rowsRead).toBe(17434);
    expect(result.stats.eventsByType).toEqual({
      "product.upserted": 6493,
      "customer.upserted": 242,
      "subscriber.subscribed": 242,
      "cart.updated": 165,
      "session.touched": 5066,
      "order.placed": 200,
    });
    for (const event of result.events) {
      expect(parseEvent(event)).toMatchObject({ ok: true, ignoredFields: [] });
    }
  });

  it("shifts the log to the last Tuesday 03:50 London time before now", () => {
    // The last row, 2019-10-01 02:50 UTC, is Tuesday 03:50 BST; before Friday 2026-12-04 the
    // last such Tuesday is 2026-12-01, when 03:50 is GMT: 374 weeks of London clock time.
    const shifted = mapRees46(behaviourLog, {
      now: Date.parse("2026-12-04T15:57:00Z"),
      keepDates: false,
    });
    expect(shifted.stats.shiftWeeks).toBe(374);
    expect(shifted.events.at(-1)?.occurredAt).toBe("2026-12-01T03:50:00.000Z");
    const session = shifted.events.find(
      (event) => event.id === "r46-session-ce885079-4d92-4fe6-92a3-377c5a2d8291",
    );
    // 02:27:02 UTC was 03:27:02 BST; it becomes 03:27:02 GMT, and expires 24 h later.
    expect(session?.occurredAt).toBe("2026-12-01T03:27:02.000Z");
    expect(session?.data).toMatchObject({ expiresAt: "2026-12-02T03:27:02.000Z" });
  });
});
