/**
 * The one rule for "this shopper ordered since the cart's last activity", shared by the survey
 * that holds a cart back and by the retry that withdraws a reminder: an order by the same
 * customer id, or to the same address, given on the order or through the ordering customer's
 * account (a guest cart, then an order with an account). An order that names the cart counts even
 * when stamped a little before the cart's last change: two systems' clocks rarely agree.
 */
import { type SQL, sql } from "drizzle-orm";

const orderClockSkewMs = 5 * 60_000;

/** SQL, true when an order followed the cart; arguments are column expressions. */
export function orderedSince(cart: {
  cartId: string;
  customerId: string;
  address: string;
  activityAt: string;
}): SQL {
  const [id, customer, address, since] = [
    cart.cartId,
    cart.customerId,
    cart.address,
    cart.activityAt,
  ].map((column) => sql.raw(column));
  // Four EXISTS rather than one OR, so each can use its own index.
  return sql`(EXISTS (SELECT 1 FROM orders o WHERE o.cart_id = ${id}
        AND o.placed_at >= ${since} - ${orderClockSkewMs})
      OR EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = ${customer}
        AND o.placed_at >= ${since})
      OR EXISTS (SELECT 1 FROM orders o WHERE o.email = ${address} AND o.placed_at >= ${since})
      OR EXISTS (SELECT 1 FROM customers oc JOIN orders o ON o.customer_id = oc.id
        WHERE oc.email = ${address} AND o.placed_at >= ${since}))`;
}
