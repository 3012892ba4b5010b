/** Faults injected into the mail binding, the Queue and D1: nothing is lost or sent twice. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { capturingQueue, emailRows, faultyMail } from "./helpers/faults";
import { api, deliverQueue, event, fireOne, postEvents } from "./helpers/worker";

const cartCron = utcCrons["abandoned-cart-recovery"] ?? "";
const names = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "m9", "m10"];

/** A key waiting for its Queue retry, and the message that resends it. */
function waitingRetry(name: string) {
  const key = `cart-reminder:${name}:stage-1`;
  const to = `${name}@example.test`;
  const claim = env.DB.prepare(
    `INSERT INTO emails (idempotency_key, task, template, recipient, status, attempts,
      claimed_at, error) VALUES (?, 'abandoned-cart-recovery', 'cart-reminder-1', ?,
      'retrying', 3, 0, '503 service unavailable')`,
  ).bind(key, to);
  const email = { key, to, subject: `for ${name}`, html: "<p>hi</p>", text: "hi" };
  return { claim, message: { kind: "email-retry", key, from: "shop@example.test", email } };
}

/** A D1 binding whose statements matching `failing` throw, as a busy database would. */
function failingD1(failing: RegExp): D1Database {
  return new Proxy(env.DB, {
    get(target, property) {
      if (property === "prepare") {
        return (query: string) => {
          if (failing.test(query)) throw new Error("D1_ERROR: database is locked");
          return target.prepare(query);
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

describe("fault injection", () => {
  it("retries only message 8 of a batch of 10, and each e-mail goes out once", async () => {
    const retries = names.map(waitingRetry);
    await env.DB.batch(retries.map((retry) => retry.claim));
    const bodies = retries.map((retry) => retry.message);
    const state = { recovered: false };
    const mail = faultyMail((_, to) =>
      to === "m8@example.test" && !state.recovered ? "503 service unavailable" : null,
    );
    const testEnv = { ...env, EMAIL: mail.EMAIL };

    const first = await deliverQueue("shop-tasks-work", bodies, testEnv);
    expect(first.explicitAcks).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9].map((i) => `msg-${i}`));
    expect(first.retryMessages.map((retry) => retry.msgId)).toEqual(["msg-7"]);

    // The Queue may deliver the whole batch again: only message 8 is sent this time.
    state.recovered = true;
    const again = await deliverQueue("shop-tasks-work", bodies, testEnv, 2);
    expect(again.explicitAcks).toHaveLength(10);

    const sentTo = mail.sent.map((sent) => sent.to);
    expect(sentTo.sort()).toEqual(names.map((name) => `${name}@example.test`).sort());
    const rows = await emailRows();
    expect(rows.every((row) => row.status === "sent")).toBe(true);
    // m8: 3 sends before the Queue, 3 in the first delivery, 1 in the second.
    expect(rows.find((row) => row.key === "cart-reminder:m8:stage-1")?.attempts).toBe(7);
  });

  it("sends nothing twice when D1 fails after the send, and alerts on the run", async () => {
    await postEvents([
      event("cart.updated", "2024-06-10T09:00:00Z", {
        cartId: "c1",
        email: "c1@example.test",
        currency: "GBP",
        items: [{ productId: "mug", quantity: 1, unitPriceCents: 800 }],
      }),
    ]);
    const mail = faultyMail(() => null);
    const broken = {
      ...env,
      EMAIL: mail.EMAIL,
      DB: failingD1(/^UPDATE emails SET status = o\.status/),
      ALERT_RECIPIENTS: "",
    };

    const failed = await fireOne(cartCron, "2024-06-10T12:00:00Z", broken);
    const later = await fireOne(cartCron, "2024-06-10T12:30:00Z", { ...env, EMAIL: mail.EMAIL });

    expect(failed).toMatchObject({ status: "failed", error: "D1_ERROR: database is locked" });
    expect(later.status).toBe("succeeded");
    expect(later.result.details.duplicatesPrevented).toBe(1);
    expect(mail.sent.map((sent) => sent.to)).toEqual(["c1@example.test"]);
    // The outcome was never recorded: the key stays `claimed`, and by the crash rule it is
    // never sent again; the e-mail log shows it for a person to check.
    expect(await emailRows()).toEqual([
      {
        key: "cart-reminder:c1:2024-06-10T09:00:00.000Z:stage-1",
        status: "claimed",
        attempts: 0,
        error: null,
      },
    ]);
    const { alerts } = (await (await api("/api/alerts")).json()) as { alerts: any[] };
    expect(alerts.map((alert) => [alert.incident, alert.state])).toEqual([
      ["run-failed:abandoned-cart-recovery", "recovered"],
      ["run-failed:abandoned-cart-recovery", "raised"],
    ]);
  });

  it("keeps an e-mail refused for good, alerts, and sends it once on replay", async () => {
    await postEvents([
      event("cart.updated", "2024-06-10T09:00:00Z", {
        cartId: "c1",
        email: "c1@example.test",
        currency: "GBP",
        items: [{ productId: "mug", quantity: 1, unitPriceCents: 800 }],
      }),
    ]);
    const state = { down: true };
    const mail = faultyMail(() => (state.down ? "503 service unavailable" : null));
    const queue = capturingQueue();
    const testEnv = {
      ...env,
      EMAIL: mail.EMAIL,
      WORK_QUEUE: queue.WORK_QUEUE,
      ALERT_RECIPIENTS: "",
    };

    // The run hands the e-mail to the Queue; five deliveries fail; the sixth is a dead letter.
    await fireOne(cartCron, "2024-06-10T12:00:00Z", testEnv);
    const bodies = queue.queued.map((queued) => queued.body);
    for (let attempts = 1; attempts <= 5; attempts++) {
      const outcome = await deliverQueue("shop-tasks-work", bodies, testEnv, attempts);
      expect(outcome.retryMessages).toHaveLength(1);
    }
    await deliverQueue("shop-tasks-dead-letters", bodies, testEnv, 6);

    expect(mail.sent).toEqual([]);
    // 3 sends in the run and 3 in each of the 5 Queue deliveries.
    expect(mail.tries).toHaveLength(18);
    expect(await emailRows()).toEqual([
      {
        key: "cart-reminder:c1:2024-06-10T09:00:00.000Z:stage-1",
        status: "failed",
        attempts: 18,
        error: "Queue retries exhausted: 503 service unavailable",
      },
    ]);
    const listed = (await (await api("/api/failed-items")).json()) as any;
    expect(listed.failedItems).toHaveLength(1);

    state.down = false;
    await api("/api/failed-items/1/retry", { method: "POST" }, testEnv);
    await api("/api/failed-items/1/retry", { method: "POST" }, testEnv);

    expect(mail.sent.map((sent) => sent.to)).toEqual(["c1@example.test"]);
    const { alerts } = (await (await api("/api/alerts")).json()) as { alerts: any[] };
    expect(alerts.map((alert) => [alert.incident, alert.state])).toEqual([
      ["dead-letters", "recovered"],
      ["dead-letters", "raised"],
    ]);
  });
});
