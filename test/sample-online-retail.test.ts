import { describe, expect, it } from "vitest";
import { parseEvent } from "../src/events/contract";
import { classifyStockCode, mapOnlineRetail } from "../src/sample/online-retail";
import type { SampleEvent } from "../src/sample/sample-event";
import firstWeek from "./fixtures/online-retail-2010-12-01-to-07.csv?raw";
import dstSundays from "./fixtures/online-retail-dst-sundays-2011.csv?raw";

const keepDates = { now: Date.parse("2026-12-04T15:57:00Z"), keepDates: true };
const week = mapOnlineRetail(firstWeek, keepDates);

function find<T extends SampleEvent["type"]>(events: SampleEvent[], type: T, id: string) {
  const event = events.find((candidate) => candidate.id === id);
  if (!event || event.type !== type) throw new Error(`no ${type} event ${id}`);
  return event as Extract<SampleEvent, { type: T }>;
}

const itemsCents = (items: Array<{ quantity: number; unitPriceCents: number }>) =>
  items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0);

describe("online-retail orders", () => {
  it("maps invoice 536365 of customer 17850 to an order in pence at GMT", () => {
    const order = find(week.events, "order.placed", "or-order-536365");
    expect(order.occurredAt).toBe("2010-12-01T08:26:00.000Z");
    expect(order.data).toMatchObject({
      orderId: "536365",
      customerId: "17850",
      email: "customer-17850@example.test",
      currency: "GBP",
    });
    // 6×2.55 + 6×3.39 + 8×2.75 + 6×3.39 + 6×3.39 + 2×7.65 + 6×4.25 = £139.12
    expect(order.data.items).toHaveLength(7);
    expect(itemsCents(order.data.items)).toBe(13912);
    expect(order.data.items[0]).toEqual({
      productId: "85123A",
      name: "WHITE HANGING HEART T-LIGHT HOLDER",
      category: "lighting",
      quantity: 6,
      unitPriceCents: 255,
    });
    expect(order.data.shippingCents).toBeUndefined();
    expect(order.data.otherChargesCents).toBeUndefined();
  });

  it("takes postage out of the items into shippingCents (invoice 536370)", () => {
    const order = find(week.events, "order.placed", "or-order-536370");
    // 19 goods lines worth £801.86, and POST 3 × £18.00.
    expect(order.data.items).toHaveLength(19);
    expect(itemsCents(order.data.items)).toBe(80186);
    expect(order.data.shippingCents).toBe(5400);
    expect(order.data.items.map((item) => item.productId)).not.toContain("POST");
  });

  it("sums manual lines into otherChargesCents, never into products (invoice 536569)", () => {
    const order = find(week.events, "order.placed", "or-order-536569");
    // M £1.25 and M £18.95.
    expect(order.data.otherChargesCents).toBe(2020);
    expect(order.data.items.map((item) => item.productId)).not.toContain("M");
    expect(week.events.some((event) => event.id === "or-product-M")).toBe(false);
  });

  it("keeps a guest order without customer or address, upper-casing its codes (536865)", () => {
    const order = find(week.events, "order.placed", "or-order-536865");
    expect(order.data.customerId).toBeUndefined();
    expect(order.data.email).toBeUndefined();
    expect(order.data.shippingCents).toBe(49847);
    expect(order.data.otherChargesCents).toBe(255);
    expect(order.data.items.map((item) => item.productId)).toContain("15056BL");
  });

  it("keeps an invoice of bank charges only as an order without items (536779)", () => {
    const order = find(week.events, "order.placed", "or-order-536779");
    expect(order.data.items).toEqual([]);
    expect(order.data.otherChargesCents).toBe(1500);
  });

  it("skips guest invoices whose lines are all priced 0, which adjust stock (536414)", () => {
    expect(week.events.some((event) => event.id === "or-order-536414")).toBe(false);
    // Counted in the fixture with Python's csv module: 67 such invoices of one line each.
    expect(week.stats.skipped["stock-adjustment invoices (guest, every line priced 0)"]).toBe(67);
    expect(week.stats.skipped["rows of stock-adjustment invoices"]).toBe(67);
  });
});

describe("online-retail cancellations", () => {
  it("refunds a C invoice's whole credit, even a discount line (C536379)", () => {
    const refund = find(week.events, "order.refunded", "or-refund-C536379");
    expect(refund.occurredAt).toBe("2010-12-01T09:41:00.000Z");
    expect(refund.data).toEqual({ amountCents: 2750 });
  });

  it("adds up every line of a multi-line credit (C536391)", () => {
    // 12×1.65 + 3×(24×0.29) + 12×3.45 + 12×1.65 + 24×1.65 = £141.48
    const refund = find(week.events, "order.refunded", "or-refund-C536391");
    expect(refund.data).toEqual({ amountCents: 14148 });
  });
});

describe("online-retail customers and products", () => {
  it("upserts each customer once, at their first invoice, with a placeholder address", () => {
    const customer = find(week.events, "customer.upserted", "or-customer-17850");
    expect(customer.occurredAt).toBe("2010-12-01T08:26:00.000Z");
    expect(customer.data).toEqual({
      customerId: "17850",
      email: "customer-17850@example.test",
      marketingConsent: true,
    });
    const ids = week.events.filter((event) => event.type === "customer.upserted").map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("gives a product its first sighting and its last price (85123A)", () => {
    const product = find(week.events, "product.upserted", "or-product-85123A");
    expect(product.occurredAt).toBe("2010-12-01T08:26:00.000Z");
    // Its last line of the week: invoice 537666, 2010-12-07 18:36, £5.91.
    expect(product.data).toEqual({
      productId: "85123A",
      name: "WHITE HANGING HEART T-LIGHT HOLDER",
      category: "lighting",
      priceCents: 591,
    });
  });

  it("subscribes every customer, derived, at the placeholder address", () => {
    const subscriber = find(week.events, "subscriber.subscribed", "or-subscriber-17850");
    expect(subscriber.data.email).toBe("customer-17850@example.test");
    expect(subscriber.data.derived).toBe(true);
    const customers = week.events.filter((event) => event.type === "customer.upserted");
    const subscribers = week.events.filter((event) => event.type === "subscriber.subscribed");
    expect(subscribers).toHaveLength(customers.length);
  });

  it("classifies the data's non-product codes", () => {
    for (const code of ["POST", "DOT", "C2"]) expect(classifyStockCode(code)).toBe("shipping");
    for (const code of ["M", "m", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "PADS"]) {
      expect(classifyStockCode(code)).toBe("other-charge");
    }
    expect(classifyStockCode("gift_0001_20")).toBe("other-charge");
    expect(classifyStockCode("85123A")).toBe("merchandise");
    expect(classifyStockCode("15056bl")).toBe("merchandise");
    expect(classifyStockCode("DCGSSGIRL")).toBe("merchandise");
  });
});

describe("online-retail as a whole", () => {
  it("reads every line and makes only valid events with unique ids, in time order", () => {
    // The week has 678 normal invoices (67 skipped), 79 C invoices and 452 customers.
    expect(week.stats.rowsRead).toBe(16985);
    expect(week.stats.eventsByType).toMatchObject({
      "order.placed": 611,
      "order.refunded": 79,
      "customer.upserted": 452,
      "subscriber.subscribed": 452,
    });
    const ids = new Set(week.events.map((event) => event.id));
    expect(ids.size).toBe(week.events.length);
    for (const event of week.events) {
      expect(parseEvent(event)).toMatchObject({ ok: true, ignoredFields: [] });
    }
    const times = week.events.map((event) => Date.parse(event.occurredAt));
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it("makes the same events from the same text, so a second import only finds duplicates", () => {
    expect(mapOnlineRetail(firstWeek, keepDates).events).toEqual(week.events);
  });

  it("reads the invoices of the two clock-change Sundays with London's rules", () => {
    const { events } = mapOnlineRetail(dstSundays, keepDates);
    expect(find(events, "order.placed", "or-order-547834").occurredAt).toBe(
      "2011-03-27T09:16:00.000Z",
    );
    expect(find(events, "order.placed", "or-order-573319").occurredAt).toBe(
      "2011-10-30T10:18:00.000Z",
    );
  });

  it("shifts to the last matching weekday and London time before now", () => {
    // The week ends Tuesday 2010-12-07 18:36 GMT. The last Tuesday 18:36 before Wednesday
    // 2026-07-01 12:00 UTC is 2026-06-30 18:36 BST: 5,684 days = 812 weeks later.
    const now = Date.parse("2026-07-01T12:00:00Z");
    const shifted = mapOnlineRetail(firstWeek, { now, keepDates: false });
    expect(shifted.stats.shiftWeeks).toBe(812);
    const last = shifted.events.at(-1);
    expect(last?.occurredAt).toBe("2026-06-30T17:36:00.000Z");
    // Wednesday 2010-12-01 08:26 GMT becomes Wednesday 2026-06-24 08:26 BST.
    const order = find(shifted.events, "order.placed", "or-order-536365");
    expect(order.occurredAt).toBe("2026-06-24T07:26:00.000Z");
  });
});
