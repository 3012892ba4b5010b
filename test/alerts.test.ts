import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { alertOnStuckEmails, reportedErrors } from "../src/alerts/watch";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { tickTask } from "../src/scheduled";
import { scheduledTask } from "../src/tasks/registry";
import { faultyMail } from "./helpers/faults";
import { api, deliverQueue, event, fireOne, postEvents, recordingEnv } from "./helpers/worker";

const reportCron = utcCrons["daily-sales-report"] ?? "";
const cartCron = utcCrons["abandoned-cart-recovery"] ?? "";
const webhookUrl = "https://alerts.example.test/hook";

/** A fake `fetch` in place of the global one: it keeps each POST and answers `status`. */
function fakeWebhook(status = 200) {
  const posts: { url: string; body: any }[] = [];
  vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
    posts.push({ url, body: JSON.parse(String(init.body)) });
    return new Response(null, { status });
  });
  return posts;
}

/** Bindings that alert ops@ by e-mail and the fake webhook, keeping every e-mail sent. */
function alertingEnv(overrides: Partial<Env> = {}) {
  return recordingEnv({
    ALERT_RECIPIENTS: "ops@example.test",
    ALERT_WEBHOOK_URL: webhookUrl,
    ...overrides,
  });
}

const brokenFiles = {
  async put() {
    throw new Error("R2 unavailable");
  },
} as unknown as R2Bucket;

async function alerts() {
  const response = await api("/api/alerts");
  return ((await response.json()) as { alerts: any[] }).alerts;
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("alerts", () => {
  it("alerts once for a failing task and announces its recovery once", async () => {
    const posts = fakeWebhook();
    const broken = alertingEnv({ FILES: brokenFiles });
    const healthy = alertingEnv();

    await fireOne(reportCron, "2024-06-10T07:00:00Z", broken.env);
    await fireOne(reportCron, "2024-06-11T07:00:00Z", broken.env);
    await fireOne(reportCron, "2024-06-12T07:00:00Z", healthy.env);
    await fireOne(reportCron, "2024-06-13T07:00:00Z", healthy.env);

    const listed = await alerts();
    expect(listed.map((alert) => [alert.incident, alert.state, alert.summary])).toEqual([
      ["run-failed:daily-sales-report", "recovered", "daily-sales-report succeeded again"],
      ["run-failed:daily-sales-report", "raised", "daily-sales-report failed: R2 unavailable"],
    ]);
    expect(listed[1]).toMatchObject({
      kind: "run-failed",
      detail: { runId: 1, task: "daily-sales-report", error: "R2 unavailable" },
      emailed: 1,
      webhook: "sent",
    });

    const toOps = [...broken.sent, ...healthy.sent].filter((m) => m.to === "ops@example.test");
    expect(toOps.map((mail) => mail.subject)).toEqual([
      "[Sample Gift Shop] ALERT: daily-sales-report failed: R2 unavailable",
      "[Sample Gift Shop] Recovered: daily-sales-report succeeded again",
    ]);
    expect(posts.map((post) => post.url)).toEqual([webhookUrl, webhookUrl]);
    expect(posts[0]?.body).toMatchObject({
      incident: "run-failed:daily-sales-report",
      kind: "run-failed",
      state: "raised",
      summary: "daily-sales-report failed: R2 unavailable",
    });
    expect(posts[1]?.body).toMatchObject({ state: "recovered" });

    const logged = await (await api("/api/emails?task=alerts")).json();
    expect(logged).toMatchObject({
      emails: [
        { template: "alert-recovered", status: "sent", recipient: "o***@example.test" },
        { template: "alert-raised", status: "sent", recipient: "o***@example.test" },
      ],
    });
  });

  it("alerts when a run reports more errors than the threshold, and not at it", async () => {
    fakeWebhook();
    await postEvents(
      ["a", "b"].map((id) =>
        event("cart.updated", "2024-06-10T09:00:00Z", {
          cartId: id,
          email: `${id}@example.test`,
          currency: "GBP",
          items: [{ productId: "mug", quantity: 1, unitPriceCents: 800 }],
        }),
      ),
    );
    const mail = faultyMail((_, to) => (to === "ops@example.test" ? null : "invalid address"));

    const atThreshold = { EMAIL: mail.EMAIL, ALERT_ERRORS_ABOVE: "2" };
    const run = await fireOne(cartCron, "2024-06-10T12:00:00Z", alertingEnv(atThreshold).env);
    expect(run.result.summary.errors).toBe(2);
    expect(await alerts()).toEqual([]);

    await env.DB.batch([
      env.DB.prepare("DELETE FROM emails"),
      env.DB.prepare("DELETE FROM cart_reminders"),
    ]);
    const above = { EMAIL: mail.EMAIL, ALERT_ERRORS_ABOVE: "1" };
    await fireOne(cartCron, "2024-06-10T12:30:00Z", alertingEnv(above).env);
    const [raised] = await alerts();
    expect(raised).toMatchObject({
      incident: "run-errors:abandoned-cart-recovery",
      summary: "abandoned-cart-recovery reported 2 errors (alerting above 1)",
      detail: { errors: 2, threshold: 1 },
    });
  });

  it("alerts once for missed slots and says when the task ran again", async () => {
    fakeWebhook();
    const cleanup = scheduledTask("data-cleanup");
    if (!cleanup) throw new Error("no data-cleanup task");
    const skipping = { ...cleanup, missedSlots: "skip" as const };
    const { env: testEnv } = alertingEnv();

    // 18:00 BST: the 12:00 BST slot lies in the 12-hour window and was never run.
    // The on-time run goes first, so the incident opened after it stays open.
    await tickTask(testEnv, skipping, Date.parse("2024-06-10T17:00:00Z"), "test", "inv-1");
    expect((await alerts()).map((alert) => [alert.state, alert.summary])).toEqual([
      ["raised", "data-cleanup missed its slot at 2024-06-10T11:00:00.000Z"],
    ]);

    // 00:00 BST: nothing missed, and the run closes the incident.
    await tickTask(testEnv, skipping, Date.parse("2024-06-10T23:00:00Z"), "test", "inv-2");
    expect((await alerts()).map((alert) => [alert.state, alert.summary])).toEqual([
      ["recovered", "data-cleanup ran its slot on time again"],
      ["raised", "data-cleanup missed its slot at 2024-06-10T11:00:00.000Z"],
    ]);
  });

  it("raises one alert for the slots a tick finds missed; catch-ups do not close it", async () => {
    fakeWebhook();
    const carts = scheduledTask("abandoned-cart-recovery");
    if (!carts) throw new Error("no abandoned-cart-recovery task");
    const { env: testEnv } = alertingEnv();

    // 12:00Z with a 2-hour window (10:00Z excluded): 10:30, 11:00 and 11:30 were never run.
    await tickTask(testEnv, carts, Date.parse("2024-06-10T12:00:00Z"), "test", "inv-1");

    expect((await alerts()).map((alert) => [alert.state, alert.summary])).toEqual([
      [
        "raised",
        "abandoned-cart-recovery missed 3 slots, " +
          "2024-06-10T10:30:00.000Z to 2024-06-10T11:30:00.000Z",
      ],
    ]);
  });

  it("alerts while e-mails sit claimed with no outcome, and once none is left", async () => {
    fakeWebhook();
    const { env: testEnv } = alertingEnv();
    const elevenMinutesAgo = Date.now() - 11 * 60_000;
    await env.DB.prepare(
      `INSERT INTO emails (idempotency_key, task, template, recipient, status, claimed_at)
        VALUES ('k1', 'abandoned-cart-recovery', 'cart-reminder-1', 'a@example.test', 'claimed', ?),
          ('k2', 'abandoned-cart-recovery', 'cart-reminder-1', 'b@example.test', 'claimed', ?)`,
    )
      .bind(elevenMinutesAgo, Date.now())
      .run();

    await alertOnStuckEmails(testEnv);
    await alertOnStuckEmails(testEnv);
    // Only k1 is older than ten minutes; asking twice raises once.
    expect((await alerts()).map((alert) => [alert.state, alert.summary])).toEqual([
      ["raised", "1 e-mail claimed but never settled: see /api/emails?status=claimed"],
    ]);

    await env.DB.prepare("UPDATE emails SET status = 'failed' WHERE idempotency_key = 'k1'").run();
    await alertOnStuckEmails(testEnv);
    expect((await alerts())[0]).toMatchObject({ state: "recovered", kind: "emails-stuck" });
  });

  it("alerts once as dead letters pile up and once when all were replayed", async () => {
    const posts = fakeWebhook();
    const { env: testEnv } = alertingEnv();
    // Retries of e-mails waiting in `retrying`: replaying one sends it.
    await env.DB.prepare(
      `INSERT INTO emails (idempotency_key, task, template, recipient, status, attempts, claimed_at)
        VALUES ('k1', 'abandoned-cart-recovery', 't', 'x@example.test', 'retrying', 3, 0),
          ('k2', 'abandoned-cart-recovery', 't', 'x@example.test', 'retrying', 3, 0)`,
    ).run();
    const retry = (key: string) => ({
      kind: "email-retry",
      key,
      from: "shop@example.test",
      email: { key, to: "x@example.test", subject: "s", html: "", text: "t" },
    });

    await deliverQueue("shop-tasks-dead-letters", [retry("k1")], testEnv, 6);
    await deliverQueue("shop-tasks-dead-letters", [retry("k2")], testEnv, 6);
    await api("/api/failed-items/1/retry", { method: "POST" }, testEnv);
    expect(await alerts()).toHaveLength(1);
    await api("/api/failed-items/2/retry", { method: "POST" }, testEnv);

    expect((await alerts()).map((alert) => [alert.state, alert.summary])).toEqual([
      ["recovered", "every failed item was replayed"],
      ["raised", "1 failed item waits for review"],
    ]);
    expect(posts).toHaveLength(2);
  });

  it("records a webhook that failed, and never calls one that is not configured", async () => {
    const posts = fakeWebhook(500);
    const broken = { FILES: brokenFiles };
    await fireOne(reportCron, "2024-06-10T07:00:00Z", alertingEnv(broken).env);
    const [failed] = await alerts();
    expect(failed.webhook).toBe("failed: HTTP 500");
    expect(posts).toHaveLength(1);

    const silent = alertingEnv({ ...broken, ALERT_WEBHOOK_URL: "" });
    await fireOne(reportCron, "2024-06-11T07:00:00Z", silent.env);
    await fireOne(utcCrons["data-cleanup"] ?? "", "2024-06-11T11:00:00Z", silent.env);
    await env.DB.prepare("UPDATE incidents SET resolved_at = 1").run();
    await fireOne(reportCron, "2024-06-12T07:00:00Z", silent.env);
    const [latest] = await alerts();
    expect(latest.webhook).toBe("not configured");
    expect(posts).toHaveLength(1);
  });

  it("counts the errors each task's result reports, less those queued for a resend", () => {
    expect(reportedErrors({ summary: { errors: 3 } })).toBe(3);
    expect(reportedErrors({ summary: { errors: 3 }, details: { retryQueued: 2 } })).toBe(1);
    expect(reportedErrors({ reportDetails: { emailErrors: 1 } })).toBe(1);
    expect(reportedErrors({ reportDetails: { emailErrors: 1, retryQueued: 1 } })).toBe(0);
    expect(reportedErrors({ results: { errors: 4 } })).toBe(0);
    expect(reportedErrors(null)).toBe(0);
  });

  it("pages the alert list and names a bad parameter", async () => {
    const response = await api("/api/alerts?cursor=0");
    expect(response.status).toBe(400);
    expect(((await response.json()) as any).error.details[0].parameter).toBe("cursor");
  });
});
