import { applyD1Migrations } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { processWork } from "../src/queue/consumer";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { capturingQueue, faultyMail } from "./helpers/faults";
import { cart, customer, mug, store } from "./helpers/store";
import { api, deliverQueue, event, fireOne, recordingEnv } from "./helpers/worker";

/* Defects a code review found in the staged reminders, each with the value it should give. */
const cron = utcCrons["abandoned-cart-recovery"] ?? "";
const halfHour = 30 * 60_000;
const hour = 3_600_000;

describe("an upgrade from single reminders", () => {
  it("carries a reminder sent under the old key over, so its stage is not sent again", async () => {
    await store([customer("u"), cart("U", "2024-06-10T10:00:00Z", { customerId: "u" })]);
    // What the first version wrote at the 12:00 slot, before migration 0006 ran.
    const at = Date.parse("2024-06-10T12:00:00Z");
    await env.DB.batch([
      env.DB.prepare(
        `INSERT INTO emails (idempotency_key, task, run_id, template, recipient, status,
          attempts, claimed_at, sent_at) VALUES ('cart-reminder:U:stage-1',
          'abandoned-cart-recovery', 1, 'cart-reminder-1', 'u@example.test', 'sent', 1, ?, ?)`,
      ).bind(at, at),
      env.DB.prepare("DELETE FROM cart_reminders"),
      env.DB.prepare("DELETE FROM d1_migrations WHERE name LIKE '0006%'"),
    ]);
    await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);

    const { env: testEnv, sent } = recordingEnv();
    const run = await fireOne(cron, "2024-06-10T12:30:00Z", testEnv);
    expect(run.result.summary.skippedBy.alreadyReminded).toBe(1);
    expect(sent).toEqual([]);
  });
});

describe("a retry that comes round later", () => {
  it("is withdrawn once the shopper unsubscribed or ordered", async () => {
    await store([customer("busy"), cart("B", "2024-06-10T09:00:00Z", { customerId: "busy" })]);
    const state = { up: false };
    const mail = faultyMail(() => (state.up ? null : "503 service unavailable"));
    const queue = capturingQueue();
    const testEnv = { ...env, EMAIL: mail.EMAIL, WORK_QUEUE: queue.WORK_QUEUE };
    await fireOne(cron, "2024-06-10T12:00:00Z", testEnv);
    expect(queue.queued).toHaveLength(1);
    await store([
      event("order.placed", "2024-06-10T12:00:06Z", {
        orderId: "ob",
        customerId: "busy",
        currency: "GBP",
        items: [mug],
      }),
    ]);
    state.up = true;
    await deliverQueue(
      "shop-tasks-work",
      queue.queued.map((q) => q.body),
      testEnv,
    );
    expect(mail.sent).toEqual([]);
    const row = await env.DB.prepare("SELECT status, error FROM emails").first();
    expect(row).toEqual({
      status: "skipped",
      error: "the shopper ordered since the cart's last activity",
    });
  });
});

describe("a delayed check whose send fails for good", () => {
  it("raises its own alert, which the next cron run does not close", async () => {
    await store([customer("x"), cart("X", "2024-06-10T10:00:00Z", { customerId: "x" })]);
    const mail = faultyMail(() => "invalid recipient address");
    const due = Date.parse("2024-06-10T12:00:00Z");
    const check = { kind: "cart-check", cartId: "X", dueAt: due };
    const context = { invocationId: "t", attempts: 1, replay: false, now: due };
    await processWork({ ...env, EMAIL: mail.EMAIL }, check, context);
    await fireOne(cron, "2024-06-10T12:30:00Z");
    const { results } = await env.DB.prepare(
      "SELECT incident, state, summary FROM alerts ORDER BY id",
    ).all();
    expect(results).toEqual([
      {
        incident: "check-errors:abandoned-cart-recovery",
        state: "raised",
        summary: "a delayed cart check could not send 1 reminder(s)",
      },
    ]);
  });
});

describe("a manual replay of an old slot", () => {
  it("keeps the cooldown around the real time it sends at", async () => {
    const CART_RECOVERY = { quietHours: null };
    const slot = Math.floor(Date.now() / halfHour) * halfHour;
    const iso = (ms: number) => new Date(ms).toISOString();
    await store([customer("k"), cart("A", iso(slot - 2 * hour), { customerId: "k" })]);
    const first = recordingEnv({ CART_RECOVERY });
    await fireOne(cron, iso(slot), first.env);
    expect(first.sent).toHaveLength(1);

    // Another cart of k@, and a replay of the slot a day back, when it was 2 h 10 min idle.
    await store([cart("B", iso(slot - 26 * hour - 10 * 60_000), { email: "k@example.test" })]);
    const replay = recordingEnv({ CART_RECOVERY });
    const response = await api(
      `/api/tasks/abandoned-cart-recovery/run?at=${iso(slot - 24 * hour)}`,
      { method: "POST" },
      replay.env,
    );
    const run = (await response.json()) as { result: { summary: { skippedBy: object } } };
    expect(run.result.summary.skippedBy).toMatchObject({ cooldown: 1 });
    expect(replay.sent).toEqual([]);
  });
});

describe("a message that cannot be built", () => {
  it("fails the run with nothing claimed, so the next good run sends it", async () => {
    await store([customer("r"), cart("R", "2024-06-10T10:00:00Z", { customerId: "r" })]);
    const broken = recordingEnv({ PUBLIC_URL: "ftp://shop.example.test" });
    const run = await fireOne(cron, "2024-06-10T12:00:00Z", broken.env);
    expect(run.status).toBe("failed");
    const counts = await env.DB.prepare(
      "SELECT (SELECT count(*) FROM emails) AS emails, (SELECT count(*) FROM cart_reminders) AS r",
    ).first();
    expect(counts).toEqual({ emails: 0, r: 0 });
    const good = recordingEnv();
    await fireOne(cron, "2024-06-10T12:30:00Z", good.env);
    expect(good.sent.map((m) => m.to)).toEqual(["r@example.test"]);
  });
});

describe("a dry run over many carts", () => {
  it("cuts its plan at 1,000 carts per list and says so", async () => {
    const carts = Array.from({ length: 1001 }, (_, n) =>
      cart(`c${n}`, "2024-06-10T10:00:00Z", { email: `c${n}@example.test` }),
    );
    await store(carts.slice(0, 1000));
    await store(carts.slice(1000));
    const response = await api(
      "/api/tasks/abandoned-cart-recovery/run?at=2024-06-10T12:00:00Z&dryRun=true",
      { method: "POST" },
    );
    const run = (await response.json()) as {
      result: { message: string; plan: { reminders: unknown[]; truncated?: string } };
    };
    expect(run.result.message).toBe(
      "Dry run: would send 1001 cart reminders and hold back 0 carts.",
    );
    expect(run.result.plan.reminders).toHaveLength(1000);
    expect(run.result.plan.truncated).toBe("each list shows its first 1000 carts");
  });
});

describe("attribution asked for a later period first", () => {
  it("still credits the earliest order that followed the reminder", async () => {
    await store([customer("ann"), cart("A", "2024-06-10T10:00:00Z", { customerId: "ann" })]);
    await fireOne(cron, "2024-06-10T12:00:00Z", recordingEnv().env);
    const order = (id: string, at: string) =>
      event("order.placed", at, { orderId: id, customerId: "ann", currency: "GBP", items: [mug] });
    await store([order("o-1", "2024-06-11T09:00:00Z"), order("o-2", "2024-06-12T09:00:00Z")]);
    // A period that starts after o-1 is asked first.
    await api("/api/tasks/abandoned-cart-recovery/impact?from=2024-06-11T12:00:00Z&to=2024-06-13");
    const { results } = await env.DB.prepare(
      "SELECT order_id AS orderId, cart_id AS cartId FROM cart_recoveries",
    ).all();
    expect(results).toEqual([{ orderId: "o-1", cartId: "A" }]);
  });
});

describe("a third hostile review", () => {
  it("counts an order naming the cart though stamped just before its last change", async () => {
    await store([
      customer("o"),
      cart("O", "2024-06-10T10:00:01Z", { customerId: "o" }),
      event("order.placed", "2024-06-10T10:00:00Z", {
        orderId: "oo",
        cartId: "O",
        currency: "GBP",
        items: [mug],
      }),
    ]);
    const { env: testEnv, sent } = recordingEnv();
    const run = await fireOne(cron, "2024-06-10T12:30:00Z", testEnv);
    expect(run.result.summary.skippedBy.orderedSince).toBe(1);
    expect(sent).toEqual([]);
  });

  it("withdraws a retried stage once a later stage of the cart was sent", async () => {
    await store([customer("s"), cart("S", "2024-06-10T09:00:00Z", { customerId: "s" })]);
    const state = { up: false };
    const mail = faultyMail(() => (state.up ? null : "503 service unavailable"));
    const queue = capturingQueue();
    const testEnv = { ...env, EMAIL: mail.EMAIL, WORK_QUEUE: queue.WORK_QUEUE };
    await fireOne(cron, "2024-06-10T12:00:00Z", testEnv);
    state.up = true;
    // Stage 2 goes out the next day; the stage-1 retry comes round after it.
    await fireOne(cron, "2024-06-11T09:00:00Z", testEnv);
    expect(mail.sent.map((m) => m.subject)).toEqual([
      "Still thinking it over? Your cart at Sample Gift Shop is saved",
    ]);
    await deliverQueue(
      "shop-tasks-work",
      queue.queued.map((q) => q.body),
      testEnv,
    );
    expect(mail.sent).toHaveLength(1);
    const row = await env.DB.prepare(
      "SELECT status, error FROM emails WHERE idempotency_key LIKE '%stage-1'",
    ).first();
    expect(row).toEqual({ status: "skipped", error: "a later reminder of the cart was sent" });
  });

  it("refuses a repeated parameter on a route without a query schema", async () => {
    const response = await api("/api/tasks/abandoned-cart-recovery/pause?x=1&x=1", {
      method: "POST",
    });
    expect(response.status).toBe(400);
    const state = await (await api("/api/tasks/abandoned-cart-recovery")).json();
    expect(state).toMatchObject({ paused: false });
  });
});
