import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { processWork } from "../src/queue/consumer";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { cart, customer, mug, store } from "./helpers/store";
import {
  api,
  event,
  fireCron,
  fireOne,
  postEvents,
  recordingEnv,
  runDirectly,
} from "./helpers/worker";

/*
 * Defects a hostile review found in the staged reminders, each with the value it should give.
 * June 2024: London is on BST (UTC+1); quiet hours 21:00–08:00 London are 20:00Z–07:00Z.
 */
const cron = utcCrons["abandoned-cart-recovery"] ?? "";

async function reminderCount(): Promise<number> {
  const row = await env.DB.prepare("SELECT count(*) AS n FROM cart_reminders").first<{
    n: number;
  }>();
  return row?.n ?? 0;
}

describe("a pass for an older slot run late", () => {
  it("sees an order placed after its slot and reminds nobody who ordered", async () => {
    await store([
      customer("os"),
      cart("C", "2024-06-10T10:00:00Z", { customerId: "os" }),
      // Ordered at 12:40, after the 12:30 slot, with no cart id.
      event("order.placed", "2024-06-10T12:40:00Z", {
        orderId: "o1",
        customerId: "os",
        currency: "GBP",
        items: [mug],
      }),
    ]);
    const { env: testEnv, sent } = recordingEnv();
    const late = await runDirectly("abandoned-cart-recovery", "2024-06-10T12:30:00Z", testEnv);
    expect(late.result.summary.skippedBy.orderedSince).toBe(1);
    expect(sent).toEqual([]);
  });

  it("keeps the cooldown when it runs after a newer slot", async () => {
    await store([
      customer("k"),
      cart("A", "2024-06-10T11:00:00Z", { customerId: "k" }),
      cart("B", "2024-06-10T11:30:00Z", { email: "k@example.test" }),
    ]);
    const newer = recordingEnv();
    await fireOne(cron, "2024-06-10T14:00:00Z", newer.env);
    expect(newer.sent).toHaveLength(1);
    // A pass as of 13:30:30 (past the claims of earlier slots), run afterwards: B is due, but
    // k@ was reminded 29.5 min after it.
    const older = recordingEnv();
    const run = await runDirectly("abandoned-cart-recovery", "2024-06-10T13:30:30Z", older.env);
    expect(run.result.summary.skippedBy.cooldown).toBe(1);
    expect(older.sent).toEqual([]);
  });

  it("judges quiet hours at the tick that runs it, not at the missed slot", async () => {
    await store([customer("q"), cart("Q", "2024-06-10T17:00:00Z", { customerId: "q" })]);
    // Nobody ran the 19:00–20:00 slots (20:00–21:00 in London); the 20:30Z tick (21:30 in
    // London, quiet) runs its own slot and catches up 19:00, 19:30 and 20:00.
    const { env: testEnv, sent } = recordingEnv();
    const runs = await fireCron(cron, "2024-06-10T20:30:00Z", testEnv, { catchUp: true });
    const ran = runs.filter((r) => r.status === "succeeded");
    expect(ran.map((r) => r.trigger).sort()).toEqual(["catch-up", "catch-up", "catch-up", "cron"]);
    for (const run of ran) {
      expect(
        (run.result as { summary: { skippedBy: { quietHours: number } } }).summary,
      ).toMatchObject({ skippedBy: { quietHours: 1 } });
    }
    expect(sent).toEqual([]);
    // At 08:00 in London it goes out.
    const morning = recordingEnv();
    await fireOne(cron, "2024-06-11T07:00:00Z", morning.env);
    expect(morning.sent.map((m) => m.to)).toEqual(["q@example.test"]);
  });
});

describe("a paused task", () => {
  it("sends nothing from a delayed check until it is resumed", async () => {
    await store([customer("p"), cart("P", "2024-06-10T10:00:00Z", { customerId: "p" })]);
    const { env: testEnv, sent } = recordingEnv({ CART_RECOVERY: { quietHours: null } });
    const check = { kind: "cart-check", cartId: "P", dueAt: Date.parse("2024-06-10T12:00:00Z") };
    const context = { invocationId: "t", attempts: 1, replay: false, now: check.dueAt };

    expect((await api("/api/tasks/abandoned-cart-recovery/pause", { method: "POST" })).ok).toBe(
      true,
    );
    await processWork(testEnv, check, context);
    expect(sent).toEqual([]);
    expect(await reminderCount()).toBe(0);

    await api("/api/tasks/abandoned-cart-recovery/resume", { method: "POST" });
    await processWork(testEnv, check, context);
    expect(sent.map((m) => m.to)).toEqual(["p@example.test"]);
  });
});

describe("quiet hours for a guest", () => {
  it("reads the zone of a subscriber at the cart's address", async () => {
    await store([
      event("subscriber.subscribed", "2024-06-01T00:00:00Z", {
        email: "tk@example.test",
        categories: [],
        timezone: "Asia/Tokyo",
      }),
      cart("T", "2024-06-10T10:00:00Z", { email: "tk@example.test" }),
    ]);
    // 12:00Z is 21:00 in Tokyo.
    const { env: testEnv, sent } = recordingEnv();
    const run = await fireOne(cron, "2024-06-10T12:00:00Z", testEnv);
    expect(run.result.summary.skippedBy.quietHours).toBe(1);
    expect(sent).toEqual([]);
  });
});

describe("what a sender gets told", () => {
  it("refuses a cart id of . or .., which would climb out of the cart link", async () => {
    const { status, body } = await postEvents([
      cart("..", "2024-06-10T10:00:00Z", { email: "d@example.test" }),
      cart("ok", "2024-06-10T10:00:00Z", { email: "d@example.test" }),
    ]);
    expect(status).toBe(200);
    expect(body.accepted).toBe(1);
    expect(body.rejected).toEqual([
      { index: 0, id: expect.any(String), error: "data.cartId: must not be . or .." },
    ]);
  });

  it("names the fields it ignored, and keeps the event", async () => {
    const { status, body } = await postEvents([
      customer("z", { timeZone: "Asia/Tokyo" }),
      { ...customer("y"), source: "shop" },
    ]);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      accepted: 2,
      ignored: [
        { index: 0, fields: ["data.timeZone"] },
        { index: 1, fields: ["source"] },
      ],
    });
  });
});

describe("a second hostile review", () => {
  it("dates a caught-up reminder by the tick that sent it, not by the missed slot", async () => {
    await store([customer("c"), cart("C", "2024-06-10T09:00:00Z", { customerId: "c" })]);
    // A tick at 12:10, off any slot: 11:00, 11:30 and 12:00 were missed and are caught up.
    const { env: testEnv, sent } = recordingEnv();
    await fireCron(cron, "2024-06-10T12:10:00Z", testEnv, { catchUp: true });
    expect(sent).toHaveLength(1);
    const row = await env.DB.prepare("SELECT reminded_at AS at FROM cart_reminders").first();
    expect(row).toEqual({ at: Date.parse("2024-06-10T12:10:00Z") });
  });

  it("refuses quiet hours that start when they end, naming the field", async () => {
    await store([customer("q"), cart("Q", "2024-06-10T10:00:00Z", { customerId: "q" })]);
    const { env: testEnv, sent } = recordingEnv({
      CART_RECOVERY: { quietHours: { from: "08:00", until: "08:00" } },
    });
    const run = await fireOne(cron, "2024-06-10T12:00:00Z", testEnv);
    expect(run.status).toBe("failed");
    expect(run.error).toContain("CART_RECOVERY.quietHours: from and until must differ");
    expect(sent).toEqual([]);
  });

  it("refuses a recovery token signed without an expiry", async () => {
    const { sign } = await import("hono/jwt");
    const token = await sign({ sub: "any", purpose: "cart-recovery" }, "test-link-secret", "HS256");
    const response = await api(`/r/${token}`);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("This cart link is not valid.");
  });

  it("answers years outside 2000–2999 and ids past 2^53 with 400", async () => {
    const early = await api(
      "/api/tasks/abandoned-cart-recovery/impact?from=0000-01-01&to=0000-01-02",
    );
    expect(early.status).toBe(400);
    expect(await early.text()).toContain("from: must be in the years 2000 to 2999");
    const late = await api("/api/tasks/abandoned-cart-recovery/impact?to=9999-12-31");
    expect(late.status).toBe(400);
    const run = await api("/api/runs/9007199254740993");
    expect(run.status).toBe(400);
  });
});

describe("validation messages", () => {
  it("says once what is wrong with a lower-case currency", async () => {
    const { body } = await postEvents([
      event("order.placed", "2024-06-10T10:00:00Z", { orderId: "x", currency: "gbp", items: [] }),
      customer("fine"),
    ]);
    expect(body.rejected).toEqual([
      {
        index: 0,
        id: expect.any(String),
        error: "data.currency: must be an ISO 4217 code such as GBP",
      },
    ]);
  });
});

describe("repeated query parameters", () => {
  it("are refused, naming the parameter, instead of taking the first value", async () => {
    const runs = await api("/api/runs?limit=5&limit=7");
    expect(runs.status).toBe(400);
    expect(await runs.json()).toMatchObject({
      error: { details: [{ parameter: "limit", problem: "is given more than once" }] },
    });
    const run = await api("/api/tasks/abandoned-cart-recovery/run?dryRun=false&dryRun=true", {
      method: "POST",
    });
    expect(run.status).toBe(400);
    expect(await reminderCount()).toBe(0);
  });
});
