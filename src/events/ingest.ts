/**
 * Applies validated store events to D1 in one transaction per request, set-based: each event type
 * is one statement over a JSON array, never one statement per event.
 */
import { type SQL, sql } from "drizzle-orm";
import { runBatch } from "../db/batch";
import type { Database } from "../db/client";
import { jsonChunks } from "../db/json-chunks";
import { parseEvent, type StoreEvent } from "./contract";

export interface IngestOutcome {
  accepted: number;
  duplicates: number;
  rejected: { index: number; id: string | null; error: string }[];
  /** Accepted events that carried fields the contract does not know (ignored), by field. */
  ignored: { index: number; id: string; fields: string[] }[];
  /** The newest accepted `cart.updated` of each cart, for the delayed reminder check. */
  cartsUpdated: CartUpdate[];
}

export interface CartUpdate {
  cartId: string;
  /** When the cart last changed, ms. */
  at: number;
}

type EventOf<T extends StoreEvent["type"]> = Extract<StoreEvent, { type: T }>;

/**
 * Validates and applies a request's events. Idempotent by event id: an id seen before (in an
 * earlier request or earlier in this one) counts as a duplicate and changes nothing. Bad events
 * are rejected one by one; the good ones of the same request are still applied.
 */
export async function ingestEvents(
  db: Database,
  rawEvents: readonly unknown[],
  storeCurrency: string,
  receivedAt: number,
): Promise<IngestOutcome> {
  const rejected: IngestOutcome["rejected"] = [];
  const ignored: IngestOutcome["ignored"] = [];
  const valid: StoreEvent[] = [];
  const indexOf = new Map<StoreEvent, number>();
  rawEvents.forEach((raw, index) => {
    const parsed = parseEvent(raw, receivedAt);
    if (!parsed.ok) rejected.push({ index, id: rawId(raw), error: parsed.error });
    else {
      valid.push(parsed.event);
      indexOf.set(parsed.event, index);
      if (parsed.ignoredFields.length > 0) {
        ignored.push({ index, id: parsed.event.id, fields: parsed.ignoredFields });
      }
    }
  });

  // Two requests racing with the same ids: the loser's transaction fails on the events key and
  // is tried again, when it finds those ids already taken.
  for (let attempt = 1; ; attempt++) {
    try {
      const fresh = await withoutKnownIds(db, valid);
      const conflicts = await reusedOrderIds(db, fresh);
      const applied = fresh.filter((event) => !conflicts.has(event));
      if (applied.length > 0) await applyEvents(db, applied, storeCurrency, receivedAt);
      const refused = [...conflicts].map(([event, error]) => ({
        index: indexOf.get(event) ?? -1,
        id: event.id,
        error,
      }));
      const all = [...rejected, ...refused].sort((a, b) => a.index - b.index);
      return {
        accepted: applied.length,
        duplicates: valid.length - fresh.length,
        rejected: all,
        ignored,
        cartsUpdated: newestCartUpdates(applied),
      };
    } catch (error) {
      if (attempt >= 3 || !String(error).includes("UNIQUE constraint failed: events.id")) {
        throw error;
      }
    }
  }
}

function newestCartUpdates(applied: readonly StoreEvent[]): CartUpdate[] {
  const newest = new Map<string, number>();
  for (const event of applied) {
    if (event.type !== "cart.updated") continue;
    const at = newest.get(event.data.cartId);
    if (at === undefined || event.occurredAt > at) newest.set(event.data.cartId, event.occurredAt);
  }
  return [...newest].map(([cartId, at]) => ({ cartId, at }));
}

function rawId(raw: unknown): string | null {
  if (typeof raw !== "object" || raw === null || !("id" in raw)) return null;
  return typeof raw.id === "string" ? raw.id : null;
}

async function withoutKnownIds(db: Database, candidates: StoreEvent[]): Promise<StoreEvent[]> {
  const known = new Set<string>();
  for (const chunk of jsonChunks(candidates.map((event) => event.id))) {
    const rows = await db.all<{ id: string }>(
      sql`SELECT id FROM events WHERE id IN (SELECT value FROM json_each(${chunk}))`,
    );
    for (const row of rows) known.add(row.id);
  }
  const fresh: StoreEvent[] = [];
  for (const event of candidates) {
    if (known.has(event.id)) continue;
    known.add(event.id);
    fresh.push(event);
  }
  return fresh;
}

/**
 * An order id belongs to the first event that placed it. A later event with a new event id but
 * the same order id is refused with the reason, never silently dropped.
 */
async function reusedOrderIds(db: Database, fresh: StoreEvent[]): Promise<Map<StoreEvent, string>> {
  const placed = fresh.filter((event) => event.type === "order.placed");
  const conflicts = new Map<StoreEvent, string>();
  if (placed.length === 0) return conflicts;
  const ownerOf = new Map<string, string>();
  for (const chunk of jsonChunks(placed.map((event) => event.data.orderId))) {
    const rows = await db.all<{ id: string; eventId: string }>(
      sql`SELECT id, event_id AS eventId FROM orders
        WHERE id IN (SELECT value FROM json_each(${chunk}))`,
    );
    for (const row of rows) ownerOf.set(row.id, row.eventId);
  }
  for (const event of placed) {
    if (event.type !== "order.placed") continue;
    const owner = ownerOf.get(event.data.orderId);
    if (owner) {
      conflicts.set(
        event,
        `data.orderId: order "${event.data.orderId}" was already placed by event "${owner}"`,
      );
    } else ownerOf.set(event.data.orderId, event.id);
  }
  return conflicts;
}

async function applyEvents(
  db: Database,
  fresh: StoreEvent[],
  storeCurrency: string,
  receivedAt: number,
): Promise<void> {
  const ofType = <T extends StoreEvent["type"]>(type: T) =>
    fresh.filter((event): event is EventOf<T> => event.type === type);

  const statements: SQL[] = [
    ...recordEvents(fresh, receivedAt),
    ...upsertCustomers(ofType("customer.upserted")),
    ...upsertProducts(ofType("product.upserted"), storeCurrency),
    ...replaceCarts(ofType("cart.updated")),
    ...placeOrders(ofType("order.placed")),
    ...recordRefunds(ofType("order.refunded"), storeCurrency),
    ...touchSessions(ofType("session.touched")),
    ...subscribe(ofType("subscriber.subscribed")),
    ...unsubscribe(ofType("subscriber.unsubscribed")),
    ...recordBounces(ofType("email.bounced")),
  ];
  await runBatch(db, statements);
}

/** One statement per JSON chunk of rows. */
function each(rows: readonly unknown[], statement: (json: string) => SQL): SQL[] {
  return jsonChunks(rows).map(statement);
}

const field = (name: string) => sql.raw(`json_extract(value, '$.${name}')`);

function recordEvents(fresh: StoreEvent[], receivedAt: number): SQL[] {
  const rows = fresh.map(({ id, type, occurredAt }) => ({ id, type, occurredAt }));
  return each(
    rows,
    (json) => sql`INSERT INTO events (id, type, occurred_at, received_at)
      SELECT ${field("id")}, ${field("type")}, ${field("occurredAt")}, ${receivedAt}
      FROM json_each(${json})`,
  );
}

function upsertCustomers(upserts: EventOf<"customer.upserted">[]): SQL[] {
  const rows = upserts.map(({ occurredAt, data }) => ({ ...data, occurredAt }));
  return each(
    sortByTime(rows),
    (json) => sql`INSERT INTO customers
        (id, email, first_name, timezone, marketing_consent, updated_at)
      SELECT ${field("customerId")}, ${field("email")}, ${field("firstName")},
        ${field("timezone")}, ${field("marketingConsent")}, ${field("occurredAt")}
      FROM json_each(${json}) WHERE true
      ON CONFLICT (id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name,
        timezone = excluded.timezone, marketing_consent = excluded.marketing_consent,
        updated_at = excluded.updated_at
      WHERE excluded.updated_at >= customers.updated_at`,
  );
}

function upsertProducts(upserts: EventOf<"product.upserted">[], storeCurrency: string): SQL[] {
  const rows = upserts.map(({ occurredAt, data }) => ({ ...data, occurredAt }));
  return each(
    sortByTime(rows),
    (json) => sql`INSERT INTO products
        (id, name, category, price_cents, currency, in_stock, first_seen_at, updated_at)
      SELECT ${field("productId")}, ${field("name")}, ${field("category")},
        ${field("priceCents")}, coalesce(${field("currency")}, ${storeCurrency}),
        ${field("inStock")}, ${field("occurredAt")}, ${field("occurredAt")}
      FROM json_each(${json}) WHERE true
      ON CONFLICT (id) DO UPDATE SET
        first_seen_at = min(products.first_seen_at, excluded.first_seen_at),
        name = iif(excluded.updated_at >= products.updated_at, excluded.name, products.name),
        category = iif(excluded.updated_at >= products.updated_at,
          excluded.category, products.category),
        price_cents = iif(excluded.updated_at >= products.updated_at,
          excluded.price_cents, products.price_cents),
        currency = iif(excluded.updated_at >= products.updated_at,
          excluded.currency, products.currency),
        in_stock = iif(excluded.updated_at >= products.updated_at,
          excluded.in_stock, products.in_stock),
        updated_at = max(products.updated_at, excluded.updated_at)`,
  );
}

/**
 * A cart event carries the whole cart. Only the newest event of each cart is written, and only
 * when it is newer than what the cart already holds; a newer event reopens a converted cart.
 */
function replaceCarts(updates: EventOf<"cart.updated">[]): SQL[] {
  const newest = new Map<string, EventOf<"cart.updated">>();
  for (const update of updates) {
    const seen = newest.get(update.data.cartId);
    if (!seen || update.occurredAt >= seen.occurredAt) newest.set(update.data.cartId, update);
  }
  const cartRows = [...newest.values()].map(({ id, occurredAt, data }) => ({
    eventId: id,
    cartId: data.cartId,
    customerId: data.customerId,
    email: data.email,
    currency: data.currency,
    itemCount: data.items.reduce((sum, item) => sum + item.quantity, 0),
    totalCents: data.items.reduce((sum, item) => sum + item.quantity * item.unitPriceCents, 0),
    occurredAt,
  }));
  const itemRows = [...newest.values()].flatMap(({ id, data }) =>
    data.items.map((item, line) => ({ eventId: id, cartId: data.cartId, line, ...item })),
  );
  return [
    ...each(
      cartRows,
      (json) => sql`INSERT INTO carts (id, customer_id, email, currency, status, item_count,
          total_cents, last_activity_at, last_event_id)
        SELECT ${field("cartId")}, ${field("customerId")}, ${field("email")}, ${field("currency")},
          'open', ${field("itemCount")}, ${field("totalCents")}, ${field("occurredAt")},
          ${field("eventId")}
        FROM json_each(${json}) WHERE true
        ON CONFLICT (id) DO UPDATE SET customer_id = excluded.customer_id,
          email = excluded.email, currency = excluded.currency, status = 'open',
          item_count = excluded.item_count, total_cents = excluded.total_cents,
          last_activity_at = excluded.last_activity_at, last_event_id = excluded.last_event_id
        WHERE excluded.last_activity_at >= carts.last_activity_at`,
    ),
    ...each(
      cartRows,
      (json) => sql`DELETE FROM cart_items WHERE cart_id IN (
        SELECT c.id FROM carts c JOIN json_each(${json}) j
          ON c.id = json_extract(j.value, '$.cartId')
          AND c.last_event_id = json_extract(j.value, '$.eventId'))`,
    ),
    ...each(
      itemRows,
      (json) => sql`INSERT INTO cart_items
          (cart_id, line, product_id, name, category, quantity, unit_price_cents)
        SELECT ${field("cartId")}, ${field("line")}, ${field("productId")}, ${field("name")},
          ${field("category")}, ${field("quantity")}, ${field("unitPriceCents")}
        FROM json_each(${json})
        WHERE EXISTS (SELECT 1 FROM carts c WHERE c.id = ${field("cartId")}
          AND c.last_event_id = ${field("eventId")})`,
    ),
  ];
}

/** An order is written once, by the first event that names it; it converts its cart. */
function placeOrders(placed: EventOf<"order.placed">[]): SQL[] {
  const orderRows = placed.map(({ id, occurredAt, data }) => {
    const itemsCents = data.items.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0);
    const shippingCents = data.shippingCents ?? 0;
    const totalCents = itemsCents + shippingCents + (data.otherChargesCents ?? 0);
    return {
      eventId: id,
      ...data,
      items: undefined,
      itemsCents,
      shippingCents,
      totalCents,
      occurredAt,
    };
  });
  const itemRows = placed.flatMap(({ id, data }) =>
    data.items.map((item, line) => ({
      eventId: id,
      orderId: data.orderId,
      line,
      ...item,
      lineCents: item.quantity * item.unitPriceCents,
    })),
  );
  const redemptions = orderRows
    .filter((order) => order.discountCode !== undefined)
    .map(({ eventId, orderId, discountCode, occurredAt }) => ({
      eventId,
      orderId,
      code: discountCode,
      occurredAt,
    }));
  const conversions = orderRows
    .filter((order) => order.cartId !== undefined)
    .map(({ cartId, occurredAt }) => ({ cartId, occurredAt }));
  return [
    ...each(
      orderRows,
      (json) => sql`INSERT INTO orders (id, customer_id, email, cart_id, currency, items_cents,
          shipping_cents, total_cents, placed_at, event_id)
        SELECT ${field("orderId")}, ${field("customerId")}, ${field("email")}, ${field("cartId")},
          ${field("currency")}, ${field("itemsCents")}, ${field("shippingCents")},
          ${field("totalCents")}, ${field("occurredAt")}, ${field("eventId")}
        FROM json_each(${json}) WHERE true
        ON CONFLICT (id) DO NOTHING`,
    ),
    ...each(
      itemRows,
      (json) => sql`INSERT INTO order_items (order_id, line, product_id, name, category,
          quantity, unit_price_cents, line_cents)
        SELECT ${field("orderId")}, ${field("line")}, ${field("productId")}, ${field("name")},
          ${field("category")}, ${field("quantity")}, ${field("unitPriceCents")},
          ${field("lineCents")}
        FROM json_each(${json})
        WHERE EXISTS (SELECT 1 FROM orders o WHERE o.id = ${field("orderId")}
          AND o.event_id = ${field("eventId")})`,
    ),
    // A code is redeemed by the earliest order that used it between its issue and its expiry; a
    // later order with the same code is still recorded (it was placed) but redeems nothing.
    ...each(
      redemptions,
      (json) => sql`UPDATE discount_codes SET (redeemed_at, redeemed_order_id) = (
          SELECT ${field("occurredAt")}, ${field("orderId")} FROM json_each(${json})
          WHERE ${field("code")} = discount_codes.code
            AND ${field("occurredAt")} >= discount_codes.created_at
            AND ${field("occurredAt")} < discount_codes.expires_at
            AND EXISTS (SELECT 1 FROM orders o WHERE o.id = ${field("orderId")}
              AND o.event_id = ${field("eventId")})
          ORDER BY ${field("occurredAt")}, ${field("orderId")} LIMIT 1)
        WHERE redeemed_at IS NULL AND code IN (
          SELECT ${field("code")} FROM json_each(${json})
          WHERE ${field("occurredAt")} >= discount_codes.created_at
            AND ${field("occurredAt")} < discount_codes.expires_at
            AND EXISTS (SELECT 1 FROM orders o WHERE o.id = ${field("orderId")}
              AND o.event_id = ${field("eventId")}))`,
    ),
    ...each(
      conversions,
      (json) => sql`UPDATE carts SET status = 'converted',
          last_activity_at = max(carts.last_activity_at, o.placed_at)
        FROM (SELECT ${field("cartId")} AS cart_id, ${field("occurredAt")} AS placed_at
          FROM json_each(${json})) AS o
        WHERE carts.id = o.cart_id AND carts.last_activity_at <= o.placed_at`,
    ),
  ];
}

function recordRefunds(refunded: EventOf<"order.refunded">[], storeCurrency: string): SQL[] {
  const rows = refunded.map(({ id, occurredAt, data }) => ({ id, occurredAt, ...data }));
  return each(
    rows,
    (json) => sql`INSERT INTO refunds (id, order_id, currency, amount_cents, refunded_at)
      SELECT ${field("id")}, ${field("orderId")},
        coalesce((SELECT currency FROM orders WHERE id = ${field("orderId")}), ${storeCurrency}),
        ${field("amountCents")}, ${field("occurredAt")}
      FROM json_each(${json})`,
  );
}

function touchSessions(touches: EventOf<"session.touched">[]): SQL[] {
  const rows = touches.map(({ occurredAt, data }) => ({
    ...data,
    expiresAt: Date.parse(data.expiresAt),
    occurredAt,
  }));
  return each(
    sortByTime(rows),
    (json) => sql`INSERT INTO sessions (id, customer_id, last_seen_at, expires_at)
      SELECT ${field("sessionId")}, ${field("customerId")}, ${field("occurredAt")},
        ${field("expiresAt")}
      FROM json_each(${json}) WHERE true
      ON CONFLICT (id) DO UPDATE SET
        customer_id = coalesce(excluded.customer_id, sessions.customer_id),
        last_seen_at = excluded.last_seen_at, expires_at = excluded.expires_at
      WHERE excluded.last_seen_at >= sessions.last_seen_at`,
  );
}

function subscribe(subscriptions: EventOf<"subscriber.subscribed">[]): SQL[] {
  const rows = subscriptions.map(({ occurredAt, data }) => ({
    ...data,
    categories: JSON.stringify(data.categories),
    derived: data.derived ?? false,
    occurredAt,
  }));
  return each(
    sortByTime(rows),
    (json) => sql`INSERT INTO subscribers
        (email, categories, timezone, status, derived, updated_at, subscribed_at)
      SELECT ${field("email")}, ${field("categories")}, ${field("timezone")}, 'subscribed',
        ${field("derived")}, ${field("occurredAt")}, ${field("occurredAt")}
      FROM json_each(${json}) WHERE true
      ON CONFLICT (email) DO UPDATE SET categories = excluded.categories,
        timezone = excluded.timezone, status = 'subscribed', derived = excluded.derived,
        updated_at = excluded.updated_at,
        subscribed_at = coalesce(subscribers.subscribed_at, excluded.subscribed_at)
      WHERE excluded.updated_at >= subscribers.updated_at`,
  );
}

/** An opt-out is kept even for an address we never had, so a later import cannot undo it. */
function unsubscribe(optOuts: EventOf<"subscriber.unsubscribed">[]): SQL[] {
  const rows = optOuts.map(({ occurredAt, data }) => ({ ...data, occurredAt }));
  return each(
    sortByTime(rows),
    (json) => sql`INSERT INTO subscribers (email, categories, status, derived, updated_at)
      SELECT ${field("email")}, '[]', 'unsubscribed', 0, ${field("occurredAt")}
      FROM json_each(${json}) WHERE true
      ON CONFLICT (email) DO UPDATE SET status = 'unsubscribed', updated_at = excluded.updated_at
      WHERE excluded.updated_at >= subscribers.updated_at`,
  );
}

function recordBounces(bounced: EventOf<"email.bounced">[]): SQL[] {
  const rows = bounced.map(({ occurredAt, data }) => ({ ...data, occurredAt }));
  return each(
    rows,
    (json) => sql`INSERT INTO bounces (email, kind, count, last_at)
      SELECT ${field("email")}, ${field("kind")}, 1, ${field("occurredAt")}
      FROM json_each(${json}) WHERE true
      ON CONFLICT (email) DO UPDATE SET count = bounces.count + 1,
        kind = iif(bounces.kind = 'hard' OR excluded.kind = 'hard', 'hard', 'soft'),
        last_at = max(bounces.last_at, excluded.last_at)`,
  );
}

function sortByTime<T extends { occurredAt: number }>(rows: T[]): T[] {
  return [...rows].sort((a, b) => a.occurredAt - b.occurredAt);
}
