/**
 * Maps the UCI "Online Retail" invoice lines (a UK gift shop, 2010-12 to 2011-12, GBP, UK local
 * times) to store events: customers, products, orders, refunds and derived subscribers.
 */
import { categorize } from "./categories";
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
import {
  parseWallTime,
  shiftByWeeks,
  storeTimeZone,
  toIsoInstant,
  wallTimeToInstant,
  weeksToShift,
} from "./timeline";

const columns = [
  "InvoiceNo",
  "StockCode",
  "Description",
  "Quantity",
  "InvoiceDate",
  "UnitPrice",
  "CustomerID",
] as const;

type InvoiceRow = Record<(typeof columns)[number], string>;

/** The currency of every online-retail amount. */
export const onlineRetailCurrency = "GBP";

/** What an invoice line sells: goods, postage, or another charge that is never a product. */
export type LineKind = "merchandise" | "shipping" | "other-charge";

/** Postage and carriage codes: they become the order's `shippingCents`. */
export const shippingCodes: readonly string[] = ["POST", "DOT", "C2"];

/**
 * Codes of fees, manual adjustments, discounts, samples, bad-debt lines, commission, a 0.1p
 * cushion-pad placeholder and gift vouchers (`GIFT_0001_*`): found by listing every code that is
 * not 5 digits and optional letters. They go to the order's signed `otherChargesCents`.
 */
export const otherChargeCodes: readonly string[] = [
  "M",
  "D",
  "S",
  "B",
  "BANK CHARGES",
  "AMAZONFEE",
  "CRUK",
  "PADS",
  "GIFT_0001_*",
];

/** Goods: 5 digits and optional letters (`85123A`), or the dotcom shop's `DCGS…` goods. */
const merchandiseCode = /^(\d{5}[A-Z]*|DCGS\w+)$/;

/**
 * Classifies a StockCode (case does not matter). A code that is neither goods nor postage is an
 * other charge, so an unknown code can never turn into a product.
 */
export function classifyStockCode(stockCode: string): LineKind {
  const code = stockCode.trim().toUpperCase();
  if (merchandiseCode.test(code)) return "merchandise";
  if (shippingCodes.includes(code)) return "shipping";
  return "other-charge";
}

function isListedOtherCharge(code: string): boolean {
  return otherChargeCodes.includes(code) || code.startsWith("GIFT_0001_");
}

/** One readable invoice line. */
interface InvoiceLine {
  code: string;
  kind: LineKind;
  description: string;
  quantity: number;
  unitPriceCents: number;
  at: number;
}

interface Invoice {
  invoiceNo: string;
  /** Without the `.0` the source writes, e.g. `17850`; undefined for a guest. */
  customerId: string | undefined;
  /** Its earliest line: 43 invoices have lines a few minutes apart. */
  at: number;
  lines: InvoiceLine[];
}

interface ProductSeen {
  firstAt: number;
  lastAt: number;
  lastPriceCents: number;
  descriptions: Map<string, number>;
}

/**
 * Maps the online-retail CSV text to events, deterministic for the same text and options:
 * - each normal invoice → `order.placed` (GBP; goods as items, postage as `shippingCents`, other
 *   codes as `otherChargesCents`); an invoice without a customer whose lines are all priced 0 is
 *   a stock adjustment and skipped;
 * - each `C` invoice → `order.refunded` for the whole credit, without `orderId` (the source does
 *   not say which order); `A` (bad-debt) invoices are skipped;
 * - each CustomerID → `customer.upserted` at `customer-<id>@example.test`, consenting, plus a
 *   derived `subscriber.subscribed`; each goods code → `product.upserted`.
 * Times are UK local and read with Europe/London's rules, then shifted (see `weeksToShift`).
 */
export function mapOnlineRetail(csvText: string, options: SampleImportOptions): SampleImport {
  const table = readCsv(csvText, columns);
  const skipped: Record<string, number> = {};
  const adjusted: Record<string, number> = {};
  if (table.malformedRows > 0) increment(skipped, "malformed CSV rows", table.malformedRows);

  const invoices = readInvoices(table.rows, skipped, adjusted);
  const orders: Invoice[] = [];
  const refunds: Array<{ invoice: Invoice; amountCents: number }> = [];
  const products = new Map<string, ProductSeen>();
  const customersFirstAt = new Map<string, number>();

  for (const invoice of invoices) {
    const kind = invoice.invoiceNo.charAt(0);
    if (kind === "A") {
      increment(skipped, "bad-debt (A) invoices", 1);
      increment(skipped, "rows of bad-debt (A) invoices", invoice.lines.length);
      continue;
    }
    if (kind === "C") {
      const amountCents = -sumLines(invoice.lines);
      if (amountCents <= 0) {
        increment(skipped, "C invoices crediting nothing", 1);
        continue;
      }
      refunds.push({ invoice, amountCents });
    } else {
      const isStockAdjustment =
        invoice.customerId === undefined && invoice.lines.every((l) => l.unitPriceCents === 0);
      if (isStockAdjustment) {
        increment(skipped, "stock-adjustment invoices (guest, every line priced 0)", 1);
        increment(skipped, "rows of stock-adjustment invoices", invoice.lines.length);
        continue;
      }
      const sold = invoice.lines.filter((line) => line.quantity > 0);
      if (sold.length < invoice.lines.length) {
        const dropped = invoice.lines.length - sold.length;
        increment(skipped, "order rows with a quantity of 0 or less", dropped);
      }
      orders.push({ ...invoice, lines: sold });
    }

    for (const line of invoice.lines) {
      if (line.kind === "merchandise") noteProduct(products, line);
      else if (line.kind === "other-charge" && !isListedOtherCharge(line.code)) {
        increment(adjusted, `unlisted code ${line.code} taken as an other charge`);
      }
    }
    if (invoice.customerId !== undefined) {
      const firstAt = customersFirstAt.get(invoice.customerId);
      if (firstAt === undefined || invoice.at < firstAt) {
        customersFirstAt.set(invoice.customerId, invoice.at);
      }
    }
  }

  // The shift: whole weeks of London wall-clock time, chosen from the last order or refund.
  const lastAt = [...orders, ...refunds.map((refund) => refund.invoice)].reduce(
    (last, invoice) => Math.max(last, invoice.at),
    Number.NEGATIVE_INFINITY,
  );
  const shiftWeeks =
    options.keepDates || !Number.isFinite(lastAt)
      ? 0
      : weeksToShift(lastAt, options.now, storeTimeZone);
  const shift = (at: number) => shiftByWeeks(at, shiftWeeks, storeTimeZone);

  const events: SampleEvent[] = [];
  const categories = new Map<string, string>();
  for (const [code, seen] of products) {
    const name = mostFrequent(seen.descriptions) ?? `product ${code}`;
    const category = categorize(name);
    categories.set(code, category);
    events.push({
      id: `or-product-${code}`,
      type: "product.upserted",
      occurredAt: toIsoInstant(shift(seen.firstAt)),
      data: { productId: code, name, category, priceCents: seen.lastPriceCents },
    });
  }

  const interests = new Map<string, CustomerInterests>();
  for (const [customerId, firstAt] of customersFirstAt) {
    const email = customerEmail(customerId);
    const since = shift(firstAt);
    events.push({
      id: `or-customer-${customerId}`,
      type: "customer.upserted",
      occurredAt: toIsoInstant(since),
      data: { customerId, email, marketingConsent: true },
    });
    interests.set(customerId, {
      eventId: `or-subscriber-${customerId}`,
      email,
      since,
      bought: new Map(),
      carted: new Map(),
    });
  }

  for (const order of orders) {
    const goods = order.lines.filter((line) => line.kind === "merchandise");
    const postage = order.lines.filter((line) => line.kind === "shipping");
    const charges = order.lines.filter((line) => line.kind === "other-charge");
    let shippingCents = sumLines(postage);
    let otherChargesCents = sumLines(charges);
    if (shippingCents < 0) {
      // The contract's shipping cannot be negative; a postage credit is still money, so keep it.
      otherChargesCents += shippingCents;
      shippingCents = 0;
      increment(adjusted, "orders with negative postage moved to other charges");
    }
    const items = goods.map((line) => ({
      productId: line.code,
      ...(line.description ? { name: line.description } : {}),
      category: categories.get(line.code),
      quantity: line.quantity,
      unitPriceCents: line.unitPriceCents,
    }));
    const customer = order.customerId === undefined ? undefined : interests.get(order.customerId);
    for (const item of items) {
      if (customer) addSpend(customer.bought, item.category, item.quantity * item.unitPriceCents);
    }
    events.push({
      id: `or-order-${order.invoiceNo}`,
      type: "order.placed",
      occurredAt: toIsoInstant(shift(order.at)),
      data: {
        orderId: order.invoiceNo,
        ...(order.customerId === undefined
          ? {}
          : { customerId: order.customerId, email: customerEmail(order.customerId) }),
        currency: onlineRetailCurrency,
        items,
        ...(postage.length > 0 ? { shippingCents } : {}),
        ...(charges.length > 0 ? { otherChargesCents } : {}),
      },
    });
  }

  for (const { invoice, amountCents } of refunds) {
    events.push({
      id: `or-refund-${invoice.invoiceNo}`,
      type: "order.refunded",
      occurredAt: toIsoInstant(shift(invoice.at)),
      data: { amountCents },
    });
  }

  events.push(...deriveSubscribers(interests.values()));
  const sorted = sortByTime(events);
  return {
    events: sorted,
    stats: {
      dataSet: "online-retail",
      rowsRead: table.rows.length + table.malformedRows,
      shiftWeeks,
      eventsByType: countByType(sorted),
      skipped,
      adjusted,
    },
  };
}

/** The placeholder address of an online-retail customer, at a reserved domain. */
export function customerEmail(customerId: string): string {
  return `customer-${customerId}@example.test`;
}

/** Groups rows into invoices in file order, reading every field; unreadable rows are counted. */
function readInvoices(
  rows: readonly InvoiceRow[],
  skipped: Record<string, number>,
  adjusted: Record<string, number>,
): Invoice[] {
  const invoices = new Map<string, Invoice>();
  const instants = new Map<string, number | undefined>();
  const spreadOut = new Set<string>();

  for (const row of rows) {
    const invoiceNo = row.InvoiceNo.trim();
    const quantity = /^-?\d+$/.test(row.Quantity.trim()) ? Number(row.Quantity) : undefined;
    const price = parseAmount(row.UnitPrice);
    let at = instants.get(row.InvoiceDate);
    if (!instants.has(row.InvoiceDate)) {
      const wall = parseWallTime(row.InvoiceDate);
      at = wall && wallTimeToInstant(wall, storeTimeZone);
      instants.set(row.InvoiceDate, at);
    }
    const customer = /^(\d+)(\.0+)?$/.exec(row.CustomerID.trim());
    if (!invoiceNo || quantity === undefined || !price || at === undefined) {
      increment(skipped, "rows with an unreadable invoice, quantity, price or date");
      continue;
    }
    if (price.rounded) increment(adjusted, "prices below a penny rounded to whole pence");
    if (row.CustomerID.trim() !== "" && !customer) {
      increment(adjusted, "unreadable CustomerIDs taken as guests");
    }

    const code = row.StockCode.trim().toUpperCase();
    const line: InvoiceLine = {
      code,
      kind: classifyStockCode(code),
      description: row.Description.trim(),
      quantity,
      unitPriceCents: price.cents,
      at,
    };
    const invoice = invoices.get(invoiceNo);
    if (invoice) {
      invoice.lines.push(line);
      if (at !== invoice.at) spreadOut.add(invoiceNo);
      invoice.at = Math.min(invoice.at, at);
    } else {
      invoices.set(invoiceNo, { invoiceNo, customerId: customer?.[1], at, lines: [line] });
    }
  }
  if (spreadOut.size > 0) {
    const key = "invoices with lines at several times (placed at the first)";
    increment(adjusted, key, spreadOut.size);
  }
  return [...invoices.values()];
}

function noteProduct(products: Map<string, ProductSeen>, line: InvoiceLine): void {
  let seen = products.get(line.code);
  if (!seen) {
    seen = {
      firstAt: line.at,
      lastAt: line.at,
      lastPriceCents: line.unitPriceCents,
      descriptions: new Map(),
    };
    products.set(line.code, seen);
  }
  seen.firstAt = Math.min(seen.firstAt, line.at);
  if (line.at >= seen.lastAt) {
    seen.lastAt = line.at;
    seen.lastPriceCents = line.unitPriceCents;
  }
  if (line.description) {
    seen.descriptions.set(line.description, (seen.descriptions.get(line.description) ?? 0) + 1);
  }
}

/** Signed sum of quantity × unit price over the lines, in pence. */
function sumLines(lines: readonly InvoiceLine[]): number {
  return lines.reduce((sum, line) => sum + line.quantity * line.unitPriceCents, 0);
}

/** The most counted key; among equal counts the one counted first. */
function mostFrequent(counts: Map<string, number>): string | undefined {
  let best: string | undefined;
  let bestCount = 0;
  for (const [key, count] of counts) {
    if (count > bestCount) {
      best = key;
      bestCount = count;
    }
  }
  return best;
}
