/**
 * What the abandoned-cart-recovery task should do on the REES46 sample log, worked out
 * independently of src/: the log is read here, turned into carts and orders by the store's
 * data contract, and the task's rules are applied at a run clock. Cross-checked by
 * scripts/check-rees46-carts.py.
 *
 * Contract: rows in time order (stable); `cart` rows add one unit to the user's single open
 * cart (`r46-cart-<user>-<n>`); the purchase rows of a (user, session) are one order placed at
 * the last of them, which converts the user's open cart. Rules at clock T: candidates are
 * carts open at T with last activity in (T - 168 h, T - 2 h]; stage = highest of 2/24/72 h
 * reached; skips, first reason wins: zero total, ordered since, quiet hours (21:00-08:00
 * Europe/London).
 */

export interface ExpectedCartRun {
  candidates: number;
  dueByStage: Record<1 | 2 | 3, number>;
  skippedBy: { zeroTotal: number; orderedSince: number; quietHours: number };
  toSend: number;
  /** USD cents, summed over the carts that get an e-mail. */
  totalCartValueCents: number;
  /** Units over the carts that get an e-mail. */
  itemUnits: number;
  /** Sorted ids of the carts that get an e-mail. */
  cartIds: string[];
}

const HOUR = 3_600_000;
const STAGE_DELAYS: readonly [1 | 2 | 3, number][] = [
  [1, 2 * HOUR],
  [2, 24 * HOUR],
  [3, 72 * HOUR],
];
const MIN_IDLE = 2 * HOUR;
const MAX_IDLE = 168 * HOUR;
const QUIET_FROM_HOUR = 21;
const QUIET_UNTIL_HOUR = 8;
const STORE_ZONE = "Europe/London";

type EventType = "view" | "cart" | "purchase";

interface Row {
  index: number;
  time: number;
  type: EventType;
  productId: string;
  cents: number;
  userId: string;
  session: string;
}

interface Line {
  productId: string;
  unitCents: number;
  quantity: number;
}

interface Cart {
  id: string;
  userId: string;
  lines: Line[];
  totalCents: number;
  lastActivity: number;
  convertedAt: number | null;
}

/** Splits CSV text into records; handles double-quoted fields and "" escapes. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let field = "";
  let record: string[] = [];
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else field += ch;
      i += 1;
      continue;
    }
    if (ch === '"') quoted = true;
    else if (ch === ",") {
      record.push(field);
      field = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i += 1;
      record.push(field);
      records.push(record);
      record = [];
      field = "";
    } else field += ch;
    i += 1;
  }
  if (field !== "" || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  return records.filter((r) => !(r.length === 1 && r[0] === ""));
}

/** "2019-10-01 00:00:00 UTC" (the " UTC" is optional) to epoch ms, or null. */
function parseTime(value: string): number | null {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?: ?UTC|Z)?$/.exec(value.trim());
  if (m === null) return null;
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    return null;
  }
  return ms;
}

/** A non-negative decimal string to whole cents, half up, without floating point. */
function parseCents(value: string): number | null {
  const m = /^(\d+)(?:\.(\d*))?$/.exec(value.trim());
  if (m === null) return null;
  const whole = m[1] ?? "0";
  const frac = (m[2] ?? "").padEnd(3, "0");
  let cents = Number(whole) * 100 + Number(frac.slice(0, 2));
  if (Number(frac[2]) >= 5) cents += 1;
  return Number.isSafeInteger(cents) ? cents : null;
}

function readRows(csvText: string): Row[] {
  const [header, ...records] = parseCsv(csvText);
  if (header === undefined) return [];
  const col = (name: string): number => header.findIndex((h) => h.trim() === name);
  const at = {
    time: col("event_time"),
    type: col("event_type"),
    product: col("product_id"),
    price: col("price"),
    user: col("user_id"),
    session: col("user_session"),
  };
  const rows: Row[] = [];
  records.forEach((rec, index) => {
    const get = (i: number): string => (i >= 0 ? (rec[i] ?? "") : "").trim();
    const type = get(at.type);
    if (type !== "view" && type !== "cart" && type !== "purchase") return;
    const time = parseTime(get(at.time));
    const cents = parseCents(get(at.price));
    const productId = get(at.product);
    const userId = get(at.user);
    const session = get(at.session);
    if (time === null || cents === null) return;
    if (!/^\d+$/.test(productId) || !/^\d+$/.test(userId) || session === "") return;
    rows.push({ index, time, type, productId, cents, userId, session });
  });
  // Array.prototype.sort is stable: ties keep file order.
  return rows.sort((a, b) => a.time - b.time);
}

interface Store {
  carts: Cart[];
  /** Placement times of each user's orders. */
  ordersByUser: Map<string, number[]>;
}

/** Replays the rows that have happened by `clock` into carts and orders. */
function replay(rows: Row[], clock: number): Store {
  // The order of a (user, session) is placed at its last purchase row in the whole log.
  const lastPurchase = new Map<string, Row>();
  for (const row of rows) {
    if (row.type === "purchase") lastPurchase.set(`${row.userId}\u0000${row.session}`, row);
  }
  const carts: Cart[] = [];
  const open = new Map<string, Cart>();
  const cartCount = new Map<string, number>();
  const ordersByUser = new Map<string, number[]>();
  for (const row of rows) {
    if (row.time > clock) break;
    if (row.type === "cart") {
      let cart = open.get(row.userId);
      if (cart === undefined) {
        const n = (cartCount.get(row.userId) ?? 0) + 1;
        cartCount.set(row.userId, n);
        cart = {
          id: `r46-cart-${row.userId}-${n}`,
          userId: row.userId,
          lines: [],
          totalCents: 0,
          lastActivity: row.time,
          convertedAt: null,
        };
        open.set(row.userId, cart);
        carts.push(cart);
      }
      const line = cart.lines.find(
        (l) => l.productId === row.productId && l.unitCents === row.cents,
      );
      if (line === undefined) {
        cart.lines.push({ productId: row.productId, unitCents: row.cents, quantity: 1 });
      } else line.quantity += 1;
      cart.totalCents += row.cents;
      cart.lastActivity = row.time;
    } else if (row.type === "purchase") {
      if (lastPurchase.get(`${row.userId}\u0000${row.session}`) !== row) continue;
      const placed = ordersByUser.get(row.userId) ?? [];
      placed.push(row.time);
      ordersByUser.set(row.userId, placed);
      const cart = open.get(row.userId);
      if (cart !== undefined) {
        cart.convertedAt = row.time;
        open.delete(row.userId);
      }
    }
  }
  return { carts, ordersByUser };
}

/** Local wall-clock hour of `instant` in the store's zone. */
function storeHour(instant: number): number {
  const parts = new Intl.DateTimeFormat("en-GB", {
    timeZone: STORE_ZONE,
    hour: "2-digit",
    hourCycle: "h23",
  }).formatToParts(new Date(instant));
  const hour = parts.find((p) => p.type === "hour");
  return Number(hour?.value);
}

function inQuietHours(instant: number): boolean {
  const hour = storeHour(instant);
  return hour >= QUIET_FROM_HOUR || hour < QUIET_UNTIL_HOUR;
}

/** The figures a run of abandoned-cart recovery at `clock` (epoch ms) should produce. */
export function expectedCartRun(csvText: string, clock: number): ExpectedCartRun {
  const { carts, ordersByUser } = replay(readRows(csvText), clock);
  const result: ExpectedCartRun = {
    candidates: 0,
    dueByStage: { 1: 0, 2: 0, 3: 0 },
    skippedBy: { zeroTotal: 0, orderedSince: 0, quietHours: 0 },
    toSend: 0,
    totalCartValueCents: 0,
    itemUnits: 0,
    cartIds: [],
  };
  const quiet = inQuietHours(clock);
  for (const cart of carts) {
    if (cart.convertedAt !== null && cart.convertedAt <= clock) continue;
    const idle = clock - cart.lastActivity;
    if (idle < MIN_IDLE || idle >= MAX_IDLE) continue;
    result.candidates += 1;
    let stage: 1 | 2 | 3 = 1;
    for (const [s, delay] of STAGE_DELAYS) if (delay <= idle) stage = s;
    result.dueByStage[stage] += 1;
    const units = cart.lines.reduce((sum, l) => sum + l.quantity, 0);
    const orders = ordersByUser.get(cart.userId) ?? [];
    if (units === 0 || cart.totalCents === 0) {
      result.skippedBy.zeroTotal += 1;
    } else if (orders.some((t) => t >= cart.lastActivity && t <= clock)) {
      result.skippedBy.orderedSince += 1;
    } else if (quiet) {
      result.skippedBy.quietHours += 1;
    } else {
      result.toSend += 1;
      result.totalCartValueCents += cart.totalCents;
      result.itemUnits += units;
      result.cartIds.push(cart.id);
    }
  }
  result.cartIds.sort();
  return result;
}
