/**
 * Maps the REES46 / Open CDP behaviour log (a multi-category store, UTC times, prices presumably
 * USD) to store events: products, customers, carts, orders, sessions and derived subscribers.
 */
import { readCsv } from "./csv";
import { parseAmount } from "./money";
import {
  countByType,
  increment,
  type SampleEvent,
  type SampleImport,
  type SampleImportOptions,
  sortByTime,
} from "./sample-event";
import { addSpend, type CustomerInterests, deriveSubscribers } from "./subscribers";
import { parseWallTime, shiftByWeeks, storeTimeZone, toIsoInstant, weeksToShift } from "./timeline";

const columns = [
  "event_time",
  "event_type",
  "product_id",
  "category_code",
  "brand",
  "price",
  "user_id",
  "user_session",
] as const;

type BehaviourRow = Record<(typeof columns)[number], string>;

/** The publisher does not state the currency; the prices read as US dollars. */
export const rees46Currency = "USD";

/** How long a session lasts after its last event. */
export const sessionLifetimeMs = 24 * 60 * 60 * 1000;

/** One readable row of the log. */
interface Behaviour {
  at: number;
  type: "view" | "cart" | "purchase";
  productId: string;
  categoryCode: string;
  brand: string;
  priceCents: number;
  userId: string;
  sessionId: string;
}

interface LineItem {
  productId: string;
  name: string;
  category?: string;
  quantity: number;
  unitPriceCents: number;
}

interface OpenCart {
  cartId: string;
  items: LineItem[];
  updates: number;
}

/**
 * Maps the REES46 CSV text to events, deterministic for the same text and options:
 * - every product seen → `product.upserted` (name from brand and category, category = the first
 *   segment of `category_code`, price of its last row);
 * - every user with a cart or purchase row → `customer.upserted` at `r46-<user>@example.test`,
 *   consenting, at their first row, plus a derived `subscriber.subscribed`;
 * - each `cart` row → `cart.updated` with the whole cart so far (a product added again counts
 *   one more); a user has one open cart `r46-cart-<user>-<n>` until an order converts it;
 * - the `purchase` rows of one user in one session → one `order.placed` (USD) at the last of
 *   them, converting the cart open at that moment;
 * - every session → `session.touched` at its last row, expiring 24 h later.
 * Times are UTC; the timeline is shifted like the store's (see `weeksToShift`).
 */
export function mapRees46(csvText: string, options: SampleImportOptions): SampleImport {
  const table = readCsv(csvText, columns);
  const skipped: Record<string, number> = {};
  const adjusted: Record<string, number> = {};
  if (table.malformedRows > 0) increment(skipped, "malformed CSV rows", table.malformedRows);

  const behaviours = readBehaviours(table.rows, skipped);
  const lastAt = behaviours.reduce((last, row) => Math.max(last, row.at), Number.NEGATIVE_INFINITY);
  const shiftWeeks =
    options.keepDates || !Number.isFinite(lastAt)
      ? 0
      : weeksToShift(lastAt, options.now, storeTimeZone);
  const shift = (at: number) => shiftByWeeks(at, shiftWeeks, storeTimeZone);

  // What the walk below needs up front: who is a customer, and each order's last purchase row.
  const firstSeen = new Map<string, number>();
  const customers = new Set<string>();
  const lastPurchaseRow = new Map<string, number>();
  behaviours.forEach((row, position) => {
    if (!firstSeen.has(row.userId)) firstSeen.set(row.userId, row.at);
    if (row.type !== "view") customers.add(row.userId);
    if (row.type === "purchase") lastPurchaseRow.set(orderKey(row), position);
  });

  const events: SampleEvent[] = [];
  events.push(...productEvents(behaviours, shift));

  const interests = new Map<string, CustomerInterests>();
  for (const userId of customers) {
    const since = shift(firstSeen.get(userId) ?? 0);
    events.push({
      id: `r46-customer-${userId}`,
      type: "customer.upserted",
      occurredAt: toIsoInstant(since),
      data: {
        customerId: customerId(userId),
        email: customerEmail(userId),
        marketingConsent: true,
      },
    });
    interests.set(userId, {
      eventId: `r46-subscriber-${userId}`,
      email: customerEmail(userId),
      since,
      bought: new Map(),
      carted: new Map(),
    });
  }

  const openCarts = new Map<string, OpenCart>();
  const cartsByUser = new Map<string, OpenCart[]>();
  const ordersBuilding = new Map<string, LineItem[]>();
  const sessions = new Map<string, { lastAt: number; userId: string; users: Set<string> }>();

  behaviours.forEach((row, position) => {
    const session = sessions.get(row.sessionId);
    if (session) {
      session.lastAt = row.at;
      session.userId = row.userId;
      session.users.add(row.userId);
    } else {
      const users = new Set([row.userId]);
      sessions.set(row.sessionId, { lastAt: row.at, userId: row.userId, users });
    }

    if (row.type === "cart") {
      let cart = openCarts.get(row.userId);
      if (!cart) {
        const carts = cartsByUser.get(row.userId) ?? [];
        cart = { cartId: `r46-cart-${row.userId}-${carts.length + 1}`, items: [], updates: 0 };
        cartsByUser.set(row.userId, [...carts, cart]);
        openCarts.set(row.userId, cart);
      }
      addOne(cart.items, row);
      cart.updates += 1;
      events.push({
        id: `${cart.cartId}-update-${cart.updates}`,
        type: "cart.updated",
        occurredAt: toIsoInstant(shift(row.at)),
        data: {
          cartId: cart.cartId,
          customerId: customerId(row.userId),
          email: customerEmail(row.userId),
          currency: rees46Currency,
          items: cart.items.map((item) => ({ ...item })),
        },
      });
    }

    if (row.type === "purchase") {
      const key = orderKey(row);
      const items = ordersBuilding.get(key) ?? [];
      ordersBuilding.set(key, items);
      addOne(items, row);
      if (lastPurchaseRow.get(key) !== position) return;

      // The session's last purchase row completes the order, which converts the open cart.
      const cart = openCarts.get(row.userId);
      openCarts.delete(row.userId);
      const customer = interests.get(row.userId);
      for (const item of items) {
        if (customer) addSpend(customer.bought, item.category, item.quantity * item.unitPriceCents);
      }
      events.push({
        id: `r46-order-${row.userId}-${row.sessionId}`,
        type: "order.placed",
        occurredAt: toIsoInstant(shift(row.at)),
        data: {
          orderId: `r46-${row.userId}-${row.sessionId}`,
          customerId: customerId(row.userId),
          email: customerEmail(row.userId),
          ...(cart ? { cartId: cart.cartId } : {}),
          currency: rees46Currency,
          items,
        },
      });
    }
  });

  // What a customer who bought nothing put in carts still says what they are interested in.
  for (const [userId, carts] of cartsByUser) {
    const customer = interests.get(userId);
    for (const item of carts.flatMap((cart) => cart.items)) {
      if (customer) addSpend(customer.carted, item.category, item.quantity * item.unitPriceCents);
    }
  }

  for (const [sessionId, session] of sessions) {
    if (session.users.size > 1) increment(adjusted, "sessions of several users (last user kept)");
    const lastAt = shift(session.lastAt);
    events.push({
      id: `r46-session-${sessionId}`,
      type: "session.touched",
      occurredAt: toIsoInstant(lastAt),
      data: {
        sessionId,
        ...(customers.has(session.userId) ? { customerId: customerId(session.userId) } : {}),
        expiresAt: toIsoInstant(lastAt + sessionLifetimeMs),
      },
    });
  }

  events.push(...deriveSubscribers(interests.values()));
  const sorted = sortByTime(events);
  return {
    events: sorted,
    stats: {
      dataSet: "rees46",
      rowsRead: table.rows.length + table.malformedRows,
      shiftWeeks,
      eventsByType: countByType(sorted),
      skipped,
      adjusted,
    },
  };
}

/** The store's id of a REES46 user: prefixed, so it never meets an online-retail id. */
export function customerId(userId: string): string {
  return `r46-${userId}`;
}

/** The placeholder address of a REES46 user, at a reserved domain. */
export function customerEmail(userId: string): string {
  return `r46-${userId}@example.test`;
}

/** A product's name: brand and the last segment of its category, e.g. `lenovo notebook`. */
export function productName(productId: string, brand: string, categoryCode: string): string {
  const kind = categoryCode.split(".").at(-1)?.replaceAll("_", " ") ?? "";
  const name = [brand, kind].filter((part) => part !== "").join(" ");
  return name || `product ${productId}`;
}

/** A product's category: the first segment of its category code, none when it has no code. */
export function productCategory(categoryCode: string): string | undefined {
  return categoryCode.split(".")[0] || undefined;
}

function productEvents(
  behaviours: readonly Behaviour[],
  shift: (at: number) => number,
): SampleEvent[] {
  const products = new Map<string, { firstAt: number; last: Behaviour }>();
  for (const row of behaviours) {
    const seen = products.get(row.productId);
    if (seen) seen.last = row;
    else products.set(row.productId, { firstAt: row.at, last: row });
  }
  return [...products].map(([productId, { firstAt, last }]) => {
    const category = productCategory(last.categoryCode);
    return {
      id: `r46-product-${productId}`,
      type: "product.upserted",
      occurredAt: toIsoInstant(shift(firstAt)),
      data: {
        productId: `r46-${productId}`,
        name: productName(productId, last.brand, last.categoryCode),
        ...(category ? { category } : {}),
        priceCents: last.priceCents,
        currency: rees46Currency,
      },
    };
  });
}

/** Puts one unit of the row's product in `items`: a new line, or one more of the same price. */
function addOne(items: LineItem[], row: Behaviour): void {
  const productId = `r46-${row.productId}`;
  const line = items.find((item) => item.productId === productId);
  if (line && line.unitPriceCents === row.priceCents) {
    line.quantity += 1;
    return;
  }
  const category = productCategory(row.categoryCode);
  items.push({
    productId,
    name: productName(row.productId, row.brand, row.categoryCode),
    ...(category ? { category } : {}),
    quantity: 1,
    unitPriceCents: row.priceCents,
  });
}

function orderKey(row: Behaviour): string {
  return `${row.userId} ${row.sessionId}`;
}

/** Reads every row, sorted by time (stable), and counts the ones that cannot be mapped. */
function readBehaviours(rows: readonly BehaviourRow[], skipped: Record<string, number>) {
  const behaviours: Behaviour[] = [];
  for (const row of rows) {
    const type = row.event_type.trim();
    if (type !== "view" && type !== "cart" && type !== "purchase") {
      increment(skipped, `rows of event type ${type || "(empty)"}`);
      continue;
    }
    const wall = parseWallTime(row.event_time.replace(/ UTC$/, ""));
    const price = parseAmount(row.price);
    const productId = row.product_id.trim();
    const userId = row.user_id.trim();
    const sessionId = row.user_session.trim();
    const readable =
      wall && price && price.cents >= 0 && /^\d+$/.test(productId) && /^\d+$/.test(userId);
    if (!readable || !sessionId) {
      increment(skipped, "rows with an unreadable time, price, product, user or session");
      continue;
    }
    behaviours.push({
      at: Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second),
      type,
      productId,
      categoryCode: row.category_code.trim(),
      brand: row.brand.trim(),
      priceCents: price.cents,
      userId,
      sessionId,
    });
  }
  return behaviours.sort((a, b) => a.at - b.at);
}
