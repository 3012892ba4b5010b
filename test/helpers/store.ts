/** Hand-built store events for the cart tests: a customer, a cart, an order, all in GBP. */
import { expect } from "vitest";
import { event, postEvents } from "./worker";

/** One £8.00 mug: the line most test carts hold. */
export const mug = { productId: "mug", name: "Mug", quantity: 1, unitPriceCents: 800 };

/** A consenting customer at `<id>@example.test`, known since 1 June 2024. */
export const customer = (customerId: string, extra: Record<string, unknown> = {}) =>
  event("customer.upserted", "2024-06-01T00:00:00Z", {
    customerId,
    email: `${customerId}@example.test`,
    marketingConsent: true,
    ...extra,
  });

/** A cart last changed at `at`, owned by a customer id and/or an address. */
export const cart = (cartId: string, at: string, owner: Record<string, unknown>, items = [mug]) =>
  event("cart.updated", at, { cartId, currency: "GBP", items, ...owner });

export const order = (orderId: string, at: string, owner: Record<string, unknown>) =>
  event("order.placed", at, { orderId, currency: "GBP", items: [mug], ...owner });

/** Posts the events and expects every one accepted. */
export async function store(events: unknown[]) {
  const { body } = await postEvents(events);
  expect(body.rejected).toEqual([]);
  return body;
}
