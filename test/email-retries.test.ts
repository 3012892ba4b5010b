import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { database } from "../src/db/client";
import { deliver, emailRetryDelaySeconds, isLastingSendError } from "../src/email/outbox";
import { resendEmail } from "../src/email/resend";
import { RetryLater } from "../src/queue/retry-later";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { capturingQueue, emailRows, faultyMail } from "./helpers/faults";
import { deliverQueue, event, fireOne, postEvents } from "./helpers/worker";

const cartCron = utcCrons["abandoned-cart-recovery"] ?? "";
const slot = "2024-06-10T12:00:00Z";
const work = "shop-tasks-work";
const message = (key: string) => ({
  key,
  to: `${key}@example.test`,
  subject: "s",
  html: "",
  text: "t",
});
const fast = { retryDelaysMs: [1, 1] };

describe("which send errors are lasting", () => {
  it("treats a refused address or message as lasting and everything else as passing", () => {
    expect(isLastingSendError("invalid recipient address")).toBe(true);
    expect(isLastingSendError("destination address not verified")).toBe(true);
    expect(isLastingSendError("sending to this domain is not allowed")).toBe(true);
    expect(isLastingSendError("message rejected: content policy")).toBe(true);
    expect(isLastingSendError("503 service unavailable")).toBe(false);
    expect(isLastingSendError("Network connection lost.")).toBe(false);
  });
});

describe("the Queue retry delay", () => {
  it("doubles per attempt, with up to half taken off as jitter, and stops at an hour", () => {
    for (let i = 0; i < 20; i++) {
      expect(emailRetryDelaySeconds(1)).toBeGreaterThanOrEqual(15);
      expect(emailRetryDelaySeconds(1)).toBeLessThanOrEqual(30);
      expect(emailRetryDelaySeconds(3)).toBeGreaterThanOrEqual(60);
      expect(emailRetryDelaySeconds(3)).toBeLessThanOrEqual(120);
      expect(emailRetryDelaySeconds(12)).toBeGreaterThanOrEqual(1800);
      expect(emailRetryDelaySeconds(12)).toBeLessThanOrEqual(3600);
    }
  });
});

describe("delivery within a run", () => {
  it("retries a passing failure and sends the e-mail once it recovers", async () => {
    const mail = faultyMail((send) => (send === 1 ? "503 service unavailable" : null));
    const { outcomes } = await deliver(mail, "shop@example.test", [message("a")], fast);

    expect(outcomes).toEqual([{ key: "a", status: "sent", attempts: 2 }]);
    expect(mail.sent.map((mail) => mail.to)).toEqual(["a@example.test"]);
  });

  it("does not retry a lasting failure", async () => {
    const mail = faultyMail(() => "invalid recipient address");
    const { outcomes } = await deliver(mail, "shop@example.test", [message("a")], fast);

    expect(outcomes).toEqual([
      { key: "a", status: "failed", attempts: 1, error: "invalid recipient address" },
    ]);
    expect(mail.tries).toHaveLength(1);
  });

  it("gives a failure that outlives two retries to the Queue", async () => {
    const mail = faultyMail(() => "503 service unavailable");
    const { outcomes } = await deliver(mail, "shop@example.test", [message("a")], fast);

    expect(outcomes).toEqual([
      { key: "a", status: "retrying", attempts: 3, error: "503 service unavailable" },
    ]);
  });

  it("sends every 3rd failure again at once, so all arrive once within the run", async () => {
    const mail = faultyMail((send) => (send % 3 === 0 ? "temporary failure" : null));
    const batch = ["a", "b", "c", "d", "e", "f"].map(message);
    const { outcomes } = await deliver(mail, "shop@example.test", batch, {
      ...fast,
      concurrency: 1,
    });

    expect(outcomes.every((outcome) => outcome.status === "sent")).toBe(true);
    // Sends 3 (c's first) and 6 (e's first) fail and are retried at once: 8 sends in all.
    expect(mail.tries).toEqual(
      ["a", "b", "c", "c", "d", "e", "e", "f"].map((name) => `${name}@example.test`),
    );
    expect(mail.sent.map((mail) => mail.to).sort()).toEqual(batch.map((email) => email.to).sort());
  });
});

describe("retries through the Queue", () => {
  const cart = (cartId: string, email: string) =>
    event("cart.updated", "2024-06-10T09:00:00Z", {
      cartId,
      email,
      currency: "GBP",
      items: [{ productId: "mug", name: "Mug", quantity: 1, unitPriceCents: 800 }],
    });

  beforeEach(async () => {
    const { body } = await postEvents([
      cart("ok", "ok@example.test"),
      cart("bad", "bad@example.test"),
      cart("busy", "busy@example.test"),
    ]);
    expect(body.accepted).toBe(3);
  });

  /** The cart run with `busy` failing passingly (until `recovered`) and `bad` lastingly. */
  async function runWithFaults() {
    const state = { recovered: false };
    const mail = faultyMail((_, to) => {
      if (to === "bad@example.test") return "invalid recipient address";
      if (to === "busy@example.test" && !state.recovered) return "503 service unavailable";
      return null;
    });
    const queue = capturingQueue();
    const testEnv = { ...env, EMAIL: mail.EMAIL, WORK_QUEUE: queue.WORK_QUEUE };
    const run = await fireOne(cartCron, slot, testEnv);
    return { run, mail, queue, testEnv, state };
  }

  it("marks a lasting failure failed and queues a passing one with a delay", async () => {
    const { run, mail, queue } = await runWithFaults();

    expect(run.result.summary).toMatchObject({ emailsSent: 1, errors: 2 });
    expect(run.result.details.retryQueued).toBe(1);
    expect(mail.sent.map((mail) => mail.to)).toEqual(["ok@example.test"]);
    // busy: one send and two in-run retries; bad: one send.
    expect(mail.tries.filter((to) => to === "busy@example.test")).toHaveLength(3);
    expect(mail.tries.filter((to) => to === "bad@example.test")).toHaveLength(1);
    expect(queue.queued).toHaveLength(1);
    const [retry] = queue.queued;
    expect(retry?.body).toMatchObject({
      kind: "email-retry",
      key: "cart-reminder:busy:2024-06-10T09:00:00.000Z:stage-1",
      from: "shop@example.test",
      email: { to: "busy@example.test", subject: expect.stringContaining("cart") },
    });
    // The first Queue retry waits 15–30 s.
    expect(retry?.delaySeconds).toBeGreaterThanOrEqual(15);
    expect(retry?.delaySeconds).toBeLessThanOrEqual(30);
    expect(await emailRows()).toEqual([
      {
        key: "cart-reminder:bad:2024-06-10T09:00:00.000Z:stage-1",
        status: "failed",
        attempts: 1,
        error: "invalid recipient address",
      },
      {
        key: "cart-reminder:busy:2024-06-10T09:00:00.000Z:stage-1",
        status: "retrying",
        attempts: 3,
        error: "503 service unavailable",
      },
      {
        key: "cart-reminder:ok:2024-06-10T09:00:00.000Z:stage-1",
        status: "sent",
        attempts: 1,
        error: null,
      },
    ]);
  });

  it("resends a queued e-mail once it recovers, and never on redelivery", async () => {
    const { mail, queue, testEnv, state } = await runWithFaults();
    state.recovered = true;
    const bodies = queue.queued.map((queued) => queued.body);

    const first = await deliverQueue(work, bodies, testEnv);
    const again = await deliverQueue(work, bodies, testEnv, 2);

    expect(first.explicitAcks).toEqual(["msg-0"]);
    expect(again.explicitAcks).toEqual(["msg-0"]);
    expect(mail.sent.map((mail) => mail.to).sort()).toEqual([
      "busy@example.test",
      "ok@example.test",
    ]);
    const busy = (await emailRows()).find(
      (row) => row.key === "cart-reminder:busy:2024-06-10T09:00:00.000Z:stage-1",
    );
    expect(busy).toEqual({
      key: "cart-reminder:busy:2024-06-10T09:00:00.000Z:stage-1",
      status: "sent",
      attempts: 4,
      error: null,
    });
  });

  it("counts a retry of a key already sent as a prevented duplicate", async () => {
    const { mail, queue, testEnv, state } = await runWithFaults();
    state.recovered = true;
    const [retry] = queue.queued.map((queued) => queued.body);
    const context = { attempts: 1, replay: false };

    expect(await resendEmail(testEnv, database(testEnv), retry, context)).toBe("sent");
    expect(await resendEmail(testEnv, database(testEnv), retry, context)).toBe("duplicate");
    expect(mail.sent.filter((mail) => mail.to === "busy@example.test")).toHaveLength(1);
  });

  it("sends once when the same retry is delivered twice at once", async () => {
    const { mail, queue, testEnv, state } = await runWithFaults();
    state.recovered = true;
    const bodies = queue.queued.map((queued) => queued.body);

    await Promise.all([deliverQueue(work, bodies, testEnv), deliverQueue(work, bodies, testEnv)]);

    expect(mail.sent.filter((mail) => mail.to === "busy@example.test")).toHaveLength(1);
  });

  it("asks the Queue to retry later, with a longer delay, while sends still fail", async () => {
    const { queue, testEnv } = await runWithFaults();
    const bodies = queue.queued.map((queued) => queued.body);

    const outcome = await deliverQueue(work, bodies, testEnv, 1);
    expect(outcome.explicitAcks).toEqual([]);
    expect(outcome.retryMessages.map((retry) => retry.msgId)).toEqual(["msg-0"]);
    // The test harness does not keep the delay, so the resend is asked directly: after its
    // first Queue delivery (attempts 1) the e-mail's second Queue retry waits 30–60 s.
    const again = resendEmail(testEnv, database(testEnv), bodies[0], {
      attempts: 1,
      replay: false,
    });
    const error = await again.then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(RetryLater);
    const delay = error instanceof RetryLater ? error.delaySeconds : 0;
    expect(delay).toBeGreaterThanOrEqual(30);
    expect(delay).toBeLessThanOrEqual(60);
    // 3 sends in the run, 3 in each of the two Queue deliveries.
    const busy = (await emailRows()).find(
      (row) => row.key === "cart-reminder:busy:2024-06-10T09:00:00.000Z:stage-1",
    );
    expect(busy).toMatchObject({ status: "retrying", attempts: 9 });
  });

  it("keeps a retry out of attempts as a failed item and marks the e-mail failed", async () => {
    const { queue, testEnv } = await runWithFaults();
    const bodies = queue.queued.map((queued) => queued.body);

    await deliverQueue("shop-tasks-dead-letters", bodies, testEnv, 6);

    const item = await env.DB.prepare("SELECT payload, attempts FROM failed_items").first<{
      payload: string;
      attempts: number;
    }>();
    expect(JSON.parse(item?.payload ?? "{}").key).toBe(
      "cart-reminder:busy:2024-06-10T09:00:00.000Z:stage-1",
    );
    expect(item?.attempts).toBe(6);
    const busy = (await emailRows()).find(
      (row) => row.key === "cart-reminder:busy:2024-06-10T09:00:00.000Z:stage-1",
    );
    expect(busy).toMatchObject({
      status: "failed",
      error: "Queue retries exhausted: 503 service unavailable",
    });
  });

  it("retries a malformed e-mail retry toward the dead-letter store, sending nothing", async () => {
    const mail = faultyMail(() => null);
    const malformed = { kind: "email-retry", key: "k" };

    const outcome = await deliverQueue(work, [malformed], { ...env, EMAIL: mail.EMAIL });

    expect(outcome.retryMessages.map((retry) => retry.msgId)).toEqual(["msg-0"]);
    expect(mail.tries).toEqual([]);
  });

  it("never resends a key left claimed by a run that died before its send finished", async () => {
    await env.DB.prepare(
      `INSERT INTO emails (idempotency_key, task, template, recipient, status, attempts,
        claimed_at) VALUES ('cart-reminder:gone:stage-1', 'abandoned-cart-recovery',
        'cart-reminder-1', 'gone@example.test', 'claimed', 0, 0)`,
    ).run();
    const mail = faultyMail(() => null);
    const retry = {
      kind: "email-retry",
      key: "cart-reminder:gone:stage-1",
      from: "shop@example.test",
      email: { ...message("gone"), key: "cart-reminder:gone:stage-1" },
    };

    const outcome = await deliverQueue(work, [retry], { ...env, EMAIL: mail.EMAIL });

    expect(outcome.explicitAcks).toEqual(["msg-0"]);
    expect(mail.tries).toEqual([]);
    const [row] = await emailRows();
    expect(row).toMatchObject({ status: "claimed", attempts: 0 });
  });
});
