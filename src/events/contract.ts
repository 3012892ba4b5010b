/**
 * The one contract through which the store's data comes in: `POST /api/events` and the sample
 * importer both validate with these schemas. Money is integer minor units; instants are ISO-8601
 * with an offset or `Z`.
 */
import { z } from "zod";

const text = z.string().trim().min(1).max(500);
/** `.` and `..` are refused: in a link's path they would climb out of it (`/cart/..`). */
const id = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((value) => value !== "." && value !== "..", "must not be . or ..");
/**
 * Amounts stay far below 2^53 so that every sum over a day or a store is still an exact integer:
 * at most 10^11 minor units (a billion pounds) per price, 10^13 per cart or order.
 */
const maxPriceCents = 100_000_000_000;
const maxTotalCents = 10_000_000_000_000;
const totalMessage = { error: `Σ quantity × unitPriceCents must be at most ${maxTotalCents}` };
const cents = z.number().int().min(0).max(maxPriceCents);
const currency = z
  .string()
  .regex(/^[A-Z]{3}$/, { error: "must be an ISO 4217 code such as GBP", abort: true })
  .refine(isCurrency, "is not a currency this runtime knows (ISO 4217)");
/** Addresses are compared trimmed and lower-cased, so they are stored that way. */
const email = z
  .string()
  .trim()
  .toLowerCase()
  .max(254, "must be at most 254 characters (RFC 5321)")
  .pipe(z.email({ error: "must be an e-mail address" }));
const instant = z.iso.datetime({ offset: true, error: "must be an ISO-8601 instant" });
const timeZone = z
  .string()
  .max(64)
  .refine(isTimeZone, "must be an IANA time zone such as Europe/London")
  .transform(canonicalTimeZone);

const lineItem = z.object({
  productId: id,
  name: text.optional(),
  category: text.optional(),
  quantity: z.number().int().min(1).max(100_000),
  unitPriceCents: cents,
});

export const eventData = {
  "customer.upserted": z.object({
    customerId: id,
    email,
    firstName: text.optional(),
    timezone: timeZone.optional(),
    marketingConsent: z.boolean(),
  }),
  "product.upserted": z.object({
    productId: id,
    name: text,
    category: text.optional(),
    priceCents: cents,
    /** The currency of `priceCents`; the store's when absent. */
    currency: currency.optional(),
    inStock: z.boolean().optional(),
  }),
  "cart.updated": z.object({
    cartId: id,
    customerId: id.optional(),
    email: email.optional(),
    currency,
    items: z.array(lineItem).max(500).refine(withinTotal, totalMessage),
  }),
  "order.placed": z
    .object({
      orderId: id,
      customerId: id.optional(),
      email: email.optional(),
      cartId: id.optional(),
      currency,
      items: z.array(lineItem).max(2000).refine(withinTotal, totalMessage),
      shippingCents: cents.optional(),
      /**
       * Signed sum of the order's other non-merchandise lines (fees, manual adjustments, discounts,
       * vouchers): part of what the customer paid, never a product.
       */
      otherChargesCents: z.number().int().min(-maxPriceCents).max(maxPriceCents).optional(),
      /** A reminder's discount code used at checkout: the order redeems it, once. */
      discountCode: z
        .string()
        .trim()
        .toUpperCase()
        .regex(/^[A-Z0-9-]{1,64}$/, "must be letters, digits and dashes (at most 64)")
        .optional(),
    })
    .refine((order) => orderTotal(order) >= 0, {
      error: "the order's total (items + shipping + other charges) must not be negative",
    }),
  "order.refunded": z.object({
    orderId: id.optional(),
    amountCents: cents.refine((n) => n > 0, "must be above zero"),
  }),
  "session.touched": z.object({
    sessionId: id,
    customerId: id.optional(),
    expiresAt: instant,
  }),
  "subscriber.subscribed": z.object({
    email,
    categories: z.array(text).max(50),
    timezone: timeZone.optional(),
    /** Set by the sample importer only: the subscriber was derived from a customer. */
    derived: z.boolean().optional(),
  }),
  "subscriber.unsubscribed": z.object({ email }),
  "email.bounced": z.object({ email, kind: z.enum(["hard", "soft"]) }),
} as const;

export type EventType = keyof typeof eventData;
export const eventTypes = Object.keys(eventData) as EventType[];

const envelope = z.object({
  id,
  type: z.enum(eventTypes as [EventType, ...EventType[]], {
    error: `must be one of ${eventTypes.join(", ")}`,
  }),
  occurredAt: instant,
  data: z.unknown(),
});

export type StoreEvent = {
  [T in EventType]: {
    id: string;
    type: T;
    /** Milliseconds since the epoch. */
    occurredAt: number;
    data: z.output<(typeof eventData)[T]>;
  };
}[EventType];

export type ParsedEvent =
  | {
      ok: true;
      event: StoreEvent;
      /** Fields the contract does not know, e.g. `data.timeZone` for `data.timezone`: ignored. */
      ignoredFields: string[];
    }
  | { ok: false; error: string };

/** Clocks drift, but an event from further ahead than this would freeze state until then. */
export const maxFutureSkewMs = 24 * 3_600_000;

/**
 * Validates one raw event and says precisely which field is wrong when it is not valid. An event
 * dated more than a day after `receivedAt` is refused: since older events never overwrite newer
 * ones, a wrong clock could otherwise pin a customer's consent for years.
 */
export function parseEvent(raw: unknown, receivedAt = Date.now()): ParsedEvent {
  const head = envelope.safeParse(raw);
  if (!head.success) return { ok: false, error: describe(head.error) };
  if (Date.parse(head.data.occurredAt) > receivedAt + maxFutureSkewMs) {
    return { ok: false, error: "occurredAt: is more than a day in the future" };
  }
  const schema = eventData[head.data.type];
  const body = schema.safeParse(head.data.data);
  if (!body.success) return { ok: false, error: describe(body.error, "data") };
  const event = {
    id: head.data.id,
    type: head.data.type,
    occurredAt: Date.parse(head.data.occurredAt),
    data: body.data,
  } as StoreEvent;
  return { ok: true, event, ignoredFields: unknownFields(raw, schema, head.data.data) };
}

/** The names a sender used that the contract has no field for, so it can say so. */
function unknownFields(raw: unknown, schema: z.ZodType, data: unknown): string[] {
  const known = (shape: object, value: unknown, prefix: string) =>
    typeof value === "object" && value !== null && !Array.isArray(value)
      ? Object.keys(value)
          .filter((key) => !(key in shape))
          .map((key) => `${prefix}${key}`)
      : [];
  const shape = (schema as { shape?: object }).shape ?? {};
  return [...known(envelope.shape, raw, ""), ...known(shape, data, "data.")];
}

function describe(error: z.ZodError, prefix?: string): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => {
      const path = [prefix, ...issue.path].filter((p) => p !== undefined).join(".");
      return path ? `${path}: ${issue.message}` : issue.message;
    })
    .join("; ");
}

function orderTotal(order: {
  items: { quantity: number; unitPriceCents: number }[];
  shippingCents?: number;
  otherChargesCents?: number;
}): number {
  const items = order.items.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0);
  return items + (order.shippingCents ?? 0) + (order.otherChargesCents ?? 0);
}

function withinTotal(items: { quantity: number; unitPriceCents: number }[]): boolean {
  return items.reduce((sum, i) => sum + i.quantity * i.unitPriceCents, 0) <= maxTotalCents;
}

const knownCurrencies = new Set(
  typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("currency") : [],
);

function isCurrency(code: string): boolean {
  return knownCurrencies.size === 0 || knownCurrencies.has(code);
}

/** `europe/london` → `Europe/London`: zones are stored as the runtime spells them. */
function canonicalTimeZone(zone: string): string {
  return new Intl.DateTimeFormat("en-GB", { timeZone: zone }).resolvedOptions().timeZone;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-GB", { timeZone: zone });
    return zone.includes("/") || zone === "UTC";
  } catch {
    return false;
  }
}
