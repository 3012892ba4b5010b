/**
 * The store's tables in D1. Instants are integer milliseconds since the epoch (UTC); money is
 * integer minor units with its ISO currency code beside it.
 */
import {
  index,
  integer,
  primaryKey,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

/** Every event ever accepted, by its id: the key that makes `POST /api/events` idempotent. */
export const events = sqliteTable(
  "events",
  {
    id: text("id").primaryKey(),
    type: text("type").notNull(),
    occurredAt: integer("occurred_at").notNull(),
    receivedAt: integer("received_at").notNull(),
  },
  (t) => [index("events_type_occurred").on(t.type, t.occurredAt)],
);

export const customers = sqliteTable(
  "customers",
  {
    id: text("id").primaryKey(),
    email: text("email").notNull(),
    firstName: text("first_name"),
    timezone: text("timezone"),
    marketingConsent: integer("marketing_consent", { mode: "boolean" }).notNull(),
    updatedAt: integer("updated_at").notNull(),
  },
  (t) => [index("customers_email").on(t.email)],
);

export const products = sqliteTable("products", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  category: text("category"),
  priceCents: integer("price_cents").notNull(),
  /** The currency of `priceCents`; the store's when the event did not say. */
  currency: text("currency"),
  inStock: integer("in_stock", { mode: "boolean" }),
  /** When the store first told us of the product: "new this week" reads it. */
  firstSeenAt: integer("first_seen_at").notNull(),
  updatedAt: integer("updated_at").notNull(),
});

export const carts = sqliteTable(
  "carts",
  {
    id: text("id").primaryKey(),
    customerId: text("customer_id"),
    email: text("email"),
    currency: text("currency").notNull(),
    /** `open` while the shopper may come back; `converted` once an order took it over. */
    status: text("status", { enum: ["open", "converted"] }).notNull(),
    itemCount: integer("item_count").notNull(),
    totalCents: integer("total_cents").notNull(),
    lastActivityAt: integer("last_activity_at").notNull(),
    /** The event that wrote the current contents; older events never overwrite newer ones. */
    lastEventId: text("last_event_id").notNull(),
  },
  (t) => [index("carts_open_activity").on(t.status, t.lastActivityAt)],
);

export const cartItems = sqliteTable(
  "cart_items",
  {
    cartId: text("cart_id").notNull(),
    line: integer("line").notNull(),
    productId: text("product_id").notNull(),
    name: text("name"),
    category: text("category"),
    quantity: integer("quantity").notNull(),
    unitPriceCents: integer("unit_price_cents").notNull(),
  },
  (t) => [primaryKey({ columns: [t.cartId, t.line] })],
);

export const orders = sqliteTable(
  "orders",
  {
    id: text("id").primaryKey(),
    customerId: text("customer_id"),
    email: text("email"),
    cartId: text("cart_id"),
    currency: text("currency").notNull(),
    itemsCents: integer("items_cents").notNull(),
    shippingCents: integer("shipping_cents").notNull(),
    /** What the order charged: its lines plus shipping. */
    totalCents: integer("total_cents").notNull(),
    placedAt: integer("placed_at").notNull(),
    /** The event that created the order: a later event with the same order id changes nothing. */
    eventId: text("event_id").notNull(),
  },
  (t) => [
    index("orders_placed").on(t.placedAt),
    index("orders_customer_placed").on(t.customerId, t.placedAt),
    index("orders_email_placed").on(t.email, t.placedAt),
  ],
);

export const orderItems = sqliteTable(
  "order_items",
  {
    orderId: text("order_id").notNull(),
    line: integer("line").notNull(),
    productId: text("product_id").notNull(),
    name: text("name"),
    category: text("category"),
    quantity: integer("quantity").notNull(),
    unitPriceCents: integer("unit_price_cents").notNull(),
    lineCents: integer("line_cents").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.orderId, t.line] }),
    index("order_items_product").on(t.productId),
  ],
);

export const refunds = sqliteTable(
  "refunds",
  {
    /** The id of the `order.refunded` event: a refund has no id of its own. */
    id: text("id").primaryKey(),
    orderId: text("order_id"),
    currency: text("currency").notNull(),
    amountCents: integer("amount_cents").notNull(),
    refundedAt: integer("refunded_at").notNull(),
  },
  (t) => [index("refunds_at").on(t.refundedAt)],
);

export const sessions = sqliteTable(
  "sessions",
  {
    id: text("id").primaryKey(),
    customerId: text("customer_id"),
    lastSeenAt: integer("last_seen_at").notNull(),
    expiresAt: integer("expires_at").notNull(),
  },
  (t) => [index("sessions_expires").on(t.expiresAt), index("sessions_seen").on(t.lastSeenAt)],
);

export const subscribers = sqliteTable("subscribers", {
  email: text("email").primaryKey(),
  /** JSON array of category names the subscriber wants to hear about. */
  categories: text("categories").notNull(),
  timezone: text("timezone"),
  status: text("status", { enum: ["subscribed", "unsubscribed"] }).notNull(),
  /** True for subscribers the sample importer derived from customers, not real sign-ups. */
  derived: integer("derived", { mode: "boolean" }).notNull().default(false),
  updatedAt: integer("updated_at").notNull(),
  /** Null for an address that only ever opted out: it was never on the list. */
  subscribedAt: integer("subscribed_at"),
});

export const bounces = sqliteTable("bounces", {
  email: text("email").primaryKey(),
  /** `hard` once any hard bounce arrived: such an address gets nothing more. */
  kind: text("kind", { enum: ["hard", "soft"] }).notNull(),
  count: integer("count").notNull(),
  lastAt: integer("last_at").notNull(),
});

/**
 * One row per attempt to run a task for a slot, including the ones that did not run: a second
 * delivery (`duplicate`), a slot nobody ran in time (`missed`), a paused or overlapping task
 * (`skipped`) and a run that died holding its lease (`abandoned`).
 */
export const runs = sqliteTable(
  "runs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    task: text("task").notNull(),
    cron: text("cron"),
    slotTime: integer("slot_time").notNull(),
    trigger: text("trigger", { enum: ["cron", "manual", "retry", "catch-up"] }).notNull(),
    status: text("status", {
      enum: ["running", "succeeded", "failed", "duplicate", "missed", "skipped", "abandoned"],
    }).notNull(),
    startedAt: integer("started_at").notNull(),
    finishedAt: integer("finished_at"),
    result: text("result"),
    error: text("error"),
    /** D1 statements the task sent, counted by the runner. */
    d1Statements: integer("d1_statements"),
    /** The Worker invocation that made this row (one id per `scheduled`, `queue` or request). */
    invocationId: text("invocation_id"),
    /** How long after its slot the run started, ms. */
    lateByMs: integer("late_by_ms"),
    dryRun: integer("dry_run", { mode: "boolean" }).notNull().default(false),
    heartbeatAt: integer("heartbeat_at"),
    /** Why a run did not run: the claim it found, the pause, the overlapping run. */
    note: text("note"),
  },
  (t) => [index("runs_task_id").on(t.task, t.id), index("runs_status_id").on(t.status, t.id)],
);

/** The claim on a (task, slot): inserting it is the atomic "this slot is mine". */
export const slotClaims = sqliteTable(
  "slot_claims",
  {
    task: text("task").notNull(),
    slotTime: integer("slot_time").notNull(),
    runId: integer("run_id"),
    claimedAt: integer("claimed_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.task, t.slotTime] })],
);

/** At most one running run per task; a lease not renewed by heartbeats can be taken over. */
export const taskLocks = sqliteTable("task_locks", {
  task: text("task").primaryKey(),
  runId: integer("run_id").notNull(),
  slotTime: integer("slot_time").notNull(),
  leaseUntil: integer("lease_until").notNull(),
});

/** What an admin changed without a redeploy. */
export const taskState = sqliteTable("task_state", {
  task: text("task").primaryKey(),
  paused: integer("paused", { mode: "boolean" }).notNull().default(false),
  changedAt: integer("changed_at").notNull(),
});

/**
 * Every e-mail the tasks meant to send, keyed by what it is (cart and stage, campaign and
 * subscriber, report date and recipient). Inserting the key is the claim: a second claim of the
 * same key finds it taken.
 */
export const emails = sqliteTable(
  "emails",
  {
    idempotencyKey: text("idempotency_key").primaryKey(),
    task: text("task").notNull(),
    runId: integer("run_id"),
    campaignId: text("campaign_id"),
    template: text("template").notNull(),
    recipient: text("recipient").notNull(),
    /**
     * `claimed` while a send is in flight (or was lost with its process), `retrying` after a
     * passing failure while a Queue retry is pending, `sent`, `failed` for good, or `skipped`.
     */
    status: text("status", {
      enum: ["claimed", "retrying", "sent", "failed", "skipped"],
    }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    claimedAt: integer("claimed_at").notNull(),
    sentAt: integer("sent_at"),
    error: text("error"),
  },
  (t) => [index("emails_run").on(t.runId), index("emails_campaign").on(t.campaignId, t.status)],
);

export const reports = sqliteTable("reports", {
  id: text("id").primaryKey(),
  /** The store-local calendar day the report covers, `YYYY-MM-DD`. */
  date: text("date").notNull(),
  runId: integer("run_id").notNull(),
  htmlKey: text("html_key").notNull(),
  metrics: text("metrics").notNull(),
  createdAt: integer("created_at").notNull(),
});

/** A weekly newsletter send, whose counters the Queue consumer moves as batches finish. */
export const campaigns = sqliteTable("campaigns", {
  id: text("id").primaryKey(),
  runId: integer("run_id").notNull(),
  weekOf: text("week_of").notNull(),
  /** JSON: the week's products by category, computed once when the campaign starts. */
  content: text("content").notNull(),
  totalSubscribers: integer("total_subscribers").notNull(),
  batchesTotal: integer("batches_total").notNull(),
  startedAt: integer("started_at").notNull(),
  finishedAt: integer("finished_at"),
});

/** Each newsletter batch the consumer finished: a redelivered batch is not counted twice. */
export const campaignBatches = sqliteTable(
  "campaign_batches",
  {
    campaignId: text("campaign_id").notNull(),
    batch: integer("batch").notNull(),
    finishedAt: integer("finished_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.campaignId, t.batch] })],
);

/** Files written to R2 by uploads; a failed one is cleaned after a day. */
export const uploads = sqliteTable("uploads", {
  id: text("id").primaryKey(),
  objectKey: text("object_key").notNull(),
  status: text("status", { enum: ["pending", "complete", "failed"] }).notNull(),
  sizeBytes: integer("size_bytes"),
  createdAt: integer("created_at").notNull(),
});

/** The app's own operational log, kept 30 days (never with a customer's address or name). */
export const appLogs = sqliteTable(
  "app_logs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    at: integer("at").notNull(),
    level: text("level").notNull(),
    event: text("event").notNull(),
    runId: integer("run_id"),
    detail: text("detail"),
  },
  (t) => [index("app_logs_at").on(t.at)],
);

/** Dead-lettered Queue messages, kept for review and replay. */
export const failedItems = sqliteTable("failed_items", {
  id: integer("id").primaryKey({ autoIncrement: true }),
  queue: text("queue").notNull(),
  payload: text("payload").notNull(),
  error: text("error"),
  attempts: integer("attempts").notNull(),
  failedAt: integer("failed_at").notNull(),
  /** Replays an admin asked for, successful or not. */
  replays: integer("replays").notNull().default(0),
  /** When a replay last went through; null until one does. */
  replayedAt: integer("replayed_at"),
  /** Why the last replay failed; null after a successful one. */
  replayError: text("replay_error"),
});

/**
 * An incident, open from its first alert until its recovery. Opening an incident that is
 * already open changes nothing, so a person hears of it once, not once per item.
 */
export const incidents = sqliteTable("incidents", {
  /** What is wrong, e.g. `run-failed:daily-sales-report` or `dead-letters`. */
  key: text("key").primaryKey(),
  openedAt: integer("opened_at").notNull(),
  /** Null while the incident is open. */
  resolvedAt: integer("resolved_at"),
});

/** Every alert sent: an incident raised or its recovery, and how the notices went out. */
export const alerts = sqliteTable(
  "alerts",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    incident: text("incident").notNull(),
    kind: text("kind", {
      enum: ["run-failed", "run-errors", "slot-missed", "dead-letters", "emails-stuck"],
    }).notNull(),
    state: text("state", { enum: ["raised", "recovered"] }).notNull(),
    summary: text("summary").notNull(),
    /** JSON: the run, slot or counts behind the alert. */
    detail: text("detail").notNull(),
    at: integer("at").notNull(),
    /** Alert recipients the e-mail went to. */
    emailed: integer("emailed").notNull().default(0),
    /** `sent`, `not configured`, or why the POST failed. */
    webhook: text("webhook"),
  },
  (t) => [index("alerts_incident").on(t.incident, t.id)],
);

/**
 * Each cart reminder claimed: one per cart version (its last activity) and stage. Inserting it
 * is the claim that keeps a stage to one e-mail; it carries the opaque id
 * the recovery link is signed for, the discount code if the stage has one, and the clicks.
 */
export const cartReminders = sqliteTable(
  "cart_reminders",
  {
    /** The e-mail's idempotency key in `emails`. */
    emailKey: text("email_key").primaryKey(),
    cartId: text("cart_id").notNull(),
    /** The cart's last activity the reminder is for: a cart that changes starts again. */
    cartActivityAt: integer("cart_activity_at").notNull(),
    stage: integer("stage").notNull(),
    template: text("template").notNull(),
    recipient: text("recipient").notNull(),
    customerId: text("customer_id"),
    /** The run's clock when the reminder was claimed (its slot, or the delayed check's time). */
    remindedAt: integer("reminded_at").notNull(),
    runId: integer("run_id"),
    /** Random; the recovery link's token is signed for it, so no cart id travels in clear. */
    linkId: text("link_id").notNull().unique(),
    linkExpiresAt: integer("link_expires_at").notNull(),
    discountCode: text("discount_code"),
    clicks: integer("clicks").notNull().default(0),
    firstClickedAt: integer("first_clicked_at"),
  },
  (t) => [
    index("cart_reminders_cart").on(t.cartId, t.cartActivityAt, t.stage),
    index("cart_reminders_recipient").on(t.recipient, t.remindedAt),
    index("cart_reminders_customer").on(t.customerId, t.remindedAt),
    index("cart_reminders_at").on(t.remindedAt),
  ],
);

/** Discount codes of final reminders: unique per cart, single use, with an expiry. */
export const discountCodes = sqliteTable("discount_codes", {
  code: text("code").primaryKey(),
  cartId: text("cart_id").notNull(),
  emailKey: text("email_key").notNull().unique(),
  percentOff: integer("percent_off").notNull(),
  createdAt: integer("created_at").notNull(),
  expiresAt: integer("expires_at").notNull(),
  redeemedAt: integer("redeemed_at"),
  redeemedOrderId: text("redeemed_order_id"),
});

/**
 * A cart recovered: an order by the reminded customer or address within the attribution window
 * after a sent reminder. One per order and one per cart version.
 */
export const cartRecoveries = sqliteTable(
  "cart_recoveries",
  {
    orderId: text("order_id").primaryKey(),
    cartId: text("cart_id").notNull(),
    cartActivityAt: integer("cart_activity_at").notNull(),
    /** The last reminder sent before the order, and its stage. */
    emailKey: text("email_key").notNull(),
    stage: integer("stage").notNull(),
    currency: text("currency").notNull(),
    amountCents: integer("amount_cents").notNull(),
    remindedAt: integer("reminded_at").notNull(),
    orderedAt: integer("ordered_at").notNull(),
  },
  (t) => [
    uniqueIndex("cart_recoveries_cart").on(t.cartId, t.cartActivityAt),
    index("cart_recoveries_reminded").on(t.remindedAt),
  ],
);
