/**
 * The fault table: one scenario per fault of issue 4, each driving the real Worker end to end
 * (its cron handler, its Queue consumer, the dead-letter consumer) with the Queue messages it
 * produced delivered until none is left. Each ends with one row, checked against values worked
 * out by hand and printed as `FAULT_ROW {...}` for `npm run faults`.
 */
import {
  createExecutionContext,
  createScheduledController,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import entry from "../src/index";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { capturingQueue, faultyMail } from "./helpers/faults";
import { api, deliverQueue, event, fireCron, fireOne, postEvents } from "./helpers/worker";

const cartCron = utcCrons["abandoned-cart-recovery"] ?? "";
const slot = "2024-06-10T12:00:00Z";
const work = "shop-tasks-work";
const deadLetters = "shop-tasks-dead-letters";
/** wrangler.toml's `max_retries = 5`: five deliveries, then the dead-letter queue (as in
 * fault-injection.test.ts, which dead-letters after the fifth with attempts 6). */
const maxDeliveries = 5;
const worker = entry as Required<Pick<ExportedHandler<Env>, "scheduled">>;

interface FaultRow {
  fault: string;
  expected: number;
  sent: number;
  duplicates: number;
  lost: number;
  failedItems: number;
  alerts: number;
  note?: string;
}

type Mail = ReturnType<typeof faultyMail>;
type CapturedQueue = ReturnType<typeof capturingQueue>;

const to = (name: string) => `${name}@example.test`;

/** One abandoned cart per name, idle since `at` (2 h 15 min before the 12:00 slot by default). */
async function carts(names: readonly string[], at = "2024-06-10T09:45:00Z") {
  const { body } = await postEvents(
    names.map((name) =>
      event("cart.updated", at, {
        cartId: name,
        email: to(name),
        currency: "GBP",
        items: [{ productId: "mug", name: "Mug", quantity: 1, unitPriceCents: 800 }],
      }),
    ),
  );
  expect(body.accepted).toBe(names.length);
}

/** Bindings with the faulty mail binding and a Queue that keeps what the Worker sends it. */
function faultEnv(mail: Mail, overrides: Partial<Env> = {}) {
  const queue = capturingQueue();
  const testEnv: Env = { ...env, EMAIL: mail.EMAIL, WORK_QUEUE: queue.WORK_QUEUE, ...overrides };
  return { queue, testEnv };
}

/** A raw cron delivery, as Cloudflare makes it: two of them may arrive at once. */
async function tick(cron: string, at: string, testEnv: Env) {
  const ctx = createExecutionContext();
  await worker.scheduled(
    createScheduledController({ cron, scheduledTime: Date.parse(at) }),
    testEnv,
    ctx,
  );
  await waitOnExecutionContext(ctx);
}

interface Pending {
  body: unknown;
  attempts: number;
}

/**
 * Delivers what the Worker queued, as the Queue would: messages it acks are done, those it
 * retries come back with one more attempt, and after the last delivery they go to the
 * dead-letter consumer. Messages queued meanwhile join in. Answers the deliveries made.
 */
async function drain(queue: CapturedQueue, testEnv: Env, start: Pending[] = []) {
  const taken = () => queue.queued.splice(0).map(({ body }) => ({ body, attempts: 1 }));
  let pending: Pending[] = [...start, ...taken()];
  let deliveries = 0;
  while (pending.length > 0) {
    const attempts = Math.min(...pending.map((message) => message.attempts));
    const batch = pending.filter((message) => message.attempts === attempts);
    pending = pending.filter((message) => message.attempts !== attempts);
    const bodies = batch.map((message) => message.body);
    const outcome = await deliverQueue(work, bodies, testEnv, attempts);
    deliveries++;
    const retried = new Set(outcome.retryMessages.map((retry) => retry.msgId));
    const again = batch.filter((_, i) => retried.has(`msg-${i}`));
    if (attempts >= maxDeliveries) {
      const dead = again.map((message) => message.body);
      if (dead.length > 0) await deliverQueue(deadLetters, dead, testEnv, attempts + 1);
    } else {
      pending.push(...again.map((message) => ({ body: message.body, attempts: attempts + 1 })));
    }
    pending.push(...taken());
  }
  return deliveries;
}

/**
 * The row for a fault. `sent`: successful sends the faulty binding counted. `duplicates`: sends
 * beyond one per recipient (each e-mail here has its own recipient and key). `lost`: expected
 * e-mails neither sent nor held, where held is a failed item, or an e-mail row `failed`, or
 * `claimed` (the crash rule: shown in the e-mail log for a person, never resent).
 */
async function rowFor(fault: string, expected: readonly string[], mail: Mail, note?: string) {
  const perRecipient = new Map<string, number>();
  for (const message of mail.sent) {
    perRecipient.set(message.to, (perRecipient.get(message.to) ?? 0) + 1);
  }
  const emails = await env.DB.prepare(
    "SELECT recipient FROM emails WHERE status IN ('failed', 'claimed')",
  ).all<{ recipient: string }>();
  const items = await env.DB.prepare("SELECT payload FROM failed_items").all<{
    payload: string;
  }>();
  const held = new Set(emails.results.map((row) => row.recipient));
  for (const item of items.results) {
    const payload = JSON.parse(item.payload) as any;
    if (typeof payload?.email?.to === "string") held.add(payload.email.to);
  }
  const alerts = await env.DB.prepare("SELECT count(*) AS n FROM alerts").first<{ n: number }>();
  const row: FaultRow = {
    fault,
    expected: expected.length,
    sent: mail.sent.length,
    duplicates: [...perRecipient.values()].reduce((sum, n) => sum + Math.max(0, n - 1), 0),
    lost: expected.filter((address) => !perRecipient.has(address) && !held.has(address)).length,
    failedItems: items.results.length,
    alerts: alerts?.n ?? 0,
    ...(note ? { note } : {}),
  };
  console.log(`FAULT_ROW ${JSON.stringify(row)}`);
  return row;
}

async function emailStatuses() {
  const { results } = await env.DB.prepare(
    "SELECT recipient, status FROM emails ORDER BY recipient",
  ).all<{ recipient: string; status: string }>();
  return results.map((row) => [row.recipient, row.status]);
}

async function alertList() {
  const { alerts } = (await (await api("/api/alerts")).json()) as { alerts: any[] };
  return alerts.map((alert) => [alert.incident, alert.state]);
}

describe("fault table", () => {
  it("(a) the mail binding fails every 3rd send", async () => {
    const names = ["a1", "a2", "a3", "a4", "a5", "a6"];
    await carts(names);
    const mail = faultyMail((send) => (send % 3 === 0 ? "503 service unavailable" : null));
    const { queue, testEnv } = faultEnv(mail);

    const run = await fireOne(cartCron, slot, testEnv);
    const deliveries = await drain(queue, testEnv);

    // Sends 3 and 6 fail; their in-run retries are sends 7 and 8 and go out.
    expect(run.result.summary).toMatchObject({ emailsSent: 6, errors: 0 });
    expect(mail.tries).toHaveLength(8);
    expect(deliveries).toBe(0);
    const row = await rowFor("mail fails every 3rd send", names.map(to), mail);
    expect(row).toEqual({
      fault: "mail fails every 3rd send",
      expected: 6,
      sent: 6,
      duplicates: 0,
      lost: 0,
      failedItems: 0,
      alerts: 0,
    });
  });

  it("(b) the mail binding fails once, then recovers", async () => {
    const names = ["b1", "b2", "b3"];
    await carts(names);
    const mail = faultyMail((send) => (send === 1 ? "503 service unavailable" : null));
    const { queue, testEnv } = faultEnv(mail);

    const run = await fireOne(cartCron, slot, testEnv);
    const deliveries = await drain(queue, testEnv);

    // The first send fails and its in-run retry goes out: 4 tries, 3 sends, nothing queued.
    expect(run.result.summary).toMatchObject({ emailsSent: 3, errors: 0 });
    expect(mail.tries).toHaveLength(4);
    expect(deliveries).toBe(0);
    const row = await rowFor("mail fails once, then recovers", names.map(to), mail);
    expect(row).toEqual({
      fault: "mail fails once, then recovers",
      expected: 3,
      sent: 3,
      duplicates: 0,
      lost: 0,
      failedItems: 0,
      alerts: 0,
    });
  });

  it("(c) the mail binding fails for good: Queue retries, then dead letters", async () => {
    const names = ["c1", "c2"];
    await carts(names);
    const state = { down: true };
    const mail = faultyMail(() => (state.down ? "503 service unavailable" : null));
    const { queue, testEnv } = faultEnv(mail);

    const run = await fireOne(cartCron, slot, testEnv);
    const deliveries = await drain(queue, testEnv);

    // Both retries ride one batch per delivery: 5 deliveries, then the dead-letter store.
    expect(run.result.details.retryQueued).toBe(2);
    expect(deliveries).toBe(5);
    // Per e-mail: 3 tries in the run and 3 in each of the 5 deliveries.
    expect(mail.tries).toHaveLength(36);
    expect(await emailStatuses()).toEqual([
      [to("c1"), "failed"],
      [to("c2"), "failed"],
    ]);
    expect(await alertList()).toEqual([["dead-letters", "raised"]]);
    const row = await rowFor(
      "mail fails for good",
      names.map(to),
      mail,
      "both held as failed items",
    );
    expect(row).toEqual({
      fault: "mail fails for good",
      expected: 2,
      sent: 0,
      duplicates: 0,
      lost: 0,
      failedItems: 2,
      alerts: 1,
      note: "both held as failed items",
    });

    // Once the service is back, replaying each item (twice) sends each e-mail once.
    state.down = false;
    for (const id of [1, 2, 1, 2]) {
      await api(`/api/failed-items/${id}/retry`, { method: "POST" }, testEnv);
    }
    expect(mail.sent.map((message) => message.to).sort()).toEqual(names.map(to));
    expect(await alertList()).toEqual([
      ["dead-letters", "recovered"],
      ["dead-letters", "raised"],
    ]);
  });

  it("(d) the same cron slot is delivered twice at once", async () => {
    // The 11:30 slot runs first with no carts, so nothing earlier is caught up at 12:00.
    await fireCron(cartCron, "2024-06-10T11:30:00Z");
    const names = ["d1", "d2", "d3"];
    await carts(names, "2024-06-10T09:00:00Z");
    const mail = faultyMail(() => null);
    const { queue, testEnv } = faultEnv(mail);

    await Promise.all([tick(cartCron, slot, testEnv), tick(cartCron, slot, testEnv)]);
    const deliveries = await drain(queue, testEnv);

    const { runs } = (await (await api("/api/runs?limit=100")).json()) as { runs: any[] };
    const atSlot = runs.filter((run) => run.slotTime === "2024-06-10T12:00:00.000Z");
    expect(atSlot.map((run) => run.status).sort()).toEqual(["duplicate", "succeeded"]);
    expect(deliveries).toBe(0);
    const row = await rowFor("same cron slot twice at once", names.map(to), mail);
    expect(row).toEqual({
      fault: "same cron slot twice at once",
      expected: 3,
      sent: 3,
      duplicates: 0,
      lost: 0,
      failedItems: 0,
      alerts: 0,
    });
  });

  it("(e) a run is killed between claim and send", async () => {
    const names = ["e1", "e2", "e3"];
    // Idle 1 h 45 min at 11:30 (nothing due), 2 h 15 min at 12:00.
    await carts(names);
    await fireCron(cartCron, "2024-06-10T11:30:00Z");
    const mail = faultyMail(() => null);
    const { queue, testEnv } = faultEnv(mail);

    // The 12:00 run claims all three keys; e1 and e3 go out, e2's send hangs. Then the process
    // is killed: from then on every binding of that invocation throws, so it records nothing.
    let kill = () => {};
    const killed = new Promise<void>((resolve) => {
      kill = resolve;
    });
    const state = { killed: false };
    const dead = (): never => {
      throw new Error("the process was killed");
    };
    const dyingEnv: Env = {
      ...testEnv,
      EMAIL: {
        async send(message: { to: string }) {
          if (state.killed) dead();
          if (message.to === to("e2")) {
            await killed;
            dead();
          }
          return mail.EMAIL.send(message as never);
        },
      } as unknown as SendEmail,
      WORK_QUEUE: { send: dead, sendBatch: dead } as unknown as Queue,
      DB: new Proxy(env.DB, {
        get(target, property) {
          if (state.killed) dead();
          const value = Reflect.get(target, property);
          return typeof value === "function" ? value.bind(target) : value;
        },
      }),
    };
    const dying = tick(cartCron, slot, dyingEnv).then(
      () => "finished",
      () => "died",
    );
    // Wait until e1 and e3 are out and e2's send is the one left hanging.
    for (let waited = 0; mail.sent.length < 2 && waited < 5000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(mail.sent).toHaveLength(2);
    state.killed = true;
    kill();
    expect(await dying).toBe("died");

    // Half an hour later its lease has run out: the next tick takes over and catches up 12:00.
    await env.DB.prepare("UPDATE task_locks SET lease_until = 0").run();
    const runs = await fireCron(cartCron, "2024-06-10T12:30:00Z", testEnv, { catchUp: true });
    // The next slot runs on time, which closes the missed-slot incident; by then the three
    // claims are 11 minutes old with no outcome, which raises the stuck e-mail incident.
    await env.DB.prepare("UPDATE emails SET claimed_at = claimed_at - 660000").run();
    const next = await fireOne(cartCron, "2024-06-10T13:00:00Z", testEnv);
    const deliveries = await drain(queue, testEnv);

    expect(next.status).toBe("succeeded");
    expect(runs.map((run) => [run.slotTime, run.trigger, run.status])).toEqual([
      ["2024-06-10T12:30:00.000Z", "cron", "succeeded"],
      ["2024-06-10T12:00:00.000Z", "cron", "missed"],
      ["2024-06-10T12:00:00.000Z", "catch-up", "succeeded"],
    ]);
    expect(deliveries).toBe(0);
    // By the crash rule (src/email/outbox.ts) a key left `claimed` is never resent, since its
    // send may have happened: at most once. All three stay `claimed` (the kill came before the
    // outcomes were recorded), and the e-mail log shows them for a person to check, so e2 is
    // counted as held, not lost. e1 and e3 went out once.
    expect(mail.sent.map((message) => message.to).sort()).toEqual([to("e1"), to("e3")]);
    expect(await emailStatuses()).toEqual(names.map((name) => [to(name), "claimed"]));
    const log = (await (await api("/api/emails?status=claimed")).json()) as { emails: any[] };
    expect(log.emails).toHaveLength(3);
    expect(await alertList()).toEqual([
      ["emails-stuck", "raised"],
      ["slot-missed:abandoned-cart-recovery", "recovered"],
      ["slot-missed:abandoned-cart-recovery", "raised"],
    ]);
    const note = "e2 held as `claimed` in the e-mail log: never resent (at most once)";
    const row = await rowFor("run killed between claim and send", names.map(to), mail, note);
    expect(row).toEqual({
      fault: "run killed between claim and send",
      expected: 3,
      sent: 2,
      duplicates: 0,
      lost: 0,
      failedItems: 0,
      alerts: 3,
      note,
    });
  });

  it("(f) a Queue batch of 10 where message 8 throws", async () => {
    const names = ["f1", "f2", "f3", "f4", "f5", "f6", "f7", "f8", "f9", "f10"];
    await carts(names);
    // Down for the whole run, so all ten e-mails are handed to the Queue; then only f8 fails.
    const state = { phase: "down" as "down" | "f8" | "up" };
    const mail = faultyMail((_, address) => {
      if (state.phase === "down") return "503 service unavailable";
      if (state.phase === "f8" && address === to("f8")) return "503 service unavailable";
      return null;
    });
    const { queue, testEnv } = faultEnv(mail);
    const run = await fireOne(cartCron, slot, testEnv);
    expect(run.result.details.retryQueued).toBe(10);

    // The ten retries in one batch, f1 … f10 in order.
    const order = (body: any) => names.map(to).indexOf(body.email.to);
    const bodies = queue.queued
      .splice(0)
      .map(({ body }) => body)
      .sort((x, y) => order(x) - order(y));
    expect(bodies.map((body) => body.email.to)).toEqual(names.map(to));
    state.phase = "f8";
    const first = await deliverQueue(work, bodies, testEnv);
    expect(first.explicitAcks).toEqual([0, 1, 2, 3, 4, 5, 6, 8, 9].map((i) => `msg-${i}`));
    expect(first.retryMessages.map((retry) => retry.msgId)).toEqual(["msg-7"]);

    // Only message 8 comes back; by then the service is up.
    state.phase = "up";
    const deliveries = await drain(queue, testEnv, [{ body: bodies[7], attempts: 2 }]);
    expect(deliveries).toBe(1);
    expect(await emailStatuses()).toEqual(
      names
        .map(to)
        .sort()
        .map((address) => [address, "sent"]),
    );
    const row = await rowFor("Queue batch of 10, message 8 throws", names.map(to), mail);
    expect(row).toEqual({
      fault: "Queue batch of 10, message 8 throws",
      expected: 10,
      sent: 10,
      duplicates: 0,
      lost: 0,
      failedItems: 0,
      alerts: 0,
    });
  });

  it("(g) a batch is redelivered after a successful send", async () => {
    const names = ["g1", "g2", "g3"];
    await carts(names);
    const state = { down: true };
    const mail = faultyMail(() => (state.down ? "503 service unavailable" : null));
    const { queue, testEnv } = faultEnv(mail);
    await fireOne(cartCron, slot, testEnv);

    state.down = false;
    const bodies = queue.queued.map(({ body }) => body);
    const deliveries = await drain(queue, testEnv);
    // The Queue delivers the same batch again (at-least-once): every key is already sent.
    const again = await deliverQueue(work, bodies, testEnv, 2);

    expect(deliveries).toBe(1);
    expect(again.explicitAcks).toEqual(["msg-0", "msg-1", "msg-2"]);
    expect(again.retryMessages).toEqual([]);
    const row = await rowFor("batch redelivered after a send", names.map(to), mail);
    expect(row).toEqual({
      fault: "batch redelivered after a send",
      expected: 3,
      sent: 3,
      duplicates: 0,
      lost: 0,
      failedItems: 0,
      alerts: 0,
    });
  });

  it("(h) D1 throws mid-batch", async () => {
    const names = ["h1", "h2", "h3", "h4"];
    await carts(names);
    const state = { down: true };
    const mail = faultyMail(() => (state.down ? "503 service unavailable" : null));
    const { queue, testEnv } = faultEnv(mail);
    await fireOne(cartCron, slot, testEnv);

    // The Queue's batch of four retries meets a busy D1 at the second message's first
    // statement (taking its key back for the resend); the rest of the batch carries on.
    state.down = false;
    let reclaims = 0;
    const busyDb = new Proxy(env.DB, {
      get(target, property) {
        if (property === "prepare") {
          return (query: string) => {
            if (/SET status = 'claimed'/.test(query) && ++reclaims === 2) {
              throw new Error("D1_ERROR: database is locked");
            }
            return target.prepare(query);
          };
        }
        const value = Reflect.get(target, property);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const busyEnv = { ...testEnv, DB: busyDb };
    const bodies = queue.queued.splice(0).map(({ body }) => body);
    const first = await deliverQueue(work, bodies, busyEnv);
    expect(first.explicitAcks).toEqual(["msg-0", "msg-2", "msg-3"]);
    expect(first.retryMessages.map((retry) => retry.msgId)).toEqual(["msg-1"]);
    const deliveries = await drain(queue, busyEnv, [{ body: bodies[1], attempts: 2 }]);

    expect(deliveries).toBe(1);
    expect((await emailStatuses()).every(([, status]) => status === "sent")).toBe(true);
    const row = await rowFor("D1 throws mid-batch", names.map(to), mail);
    expect(row).toEqual({
      fault: "D1 throws mid-batch",
      expected: 4,
      sent: 4,
      duplicates: 0,
      lost: 0,
      failedItems: 0,
      alerts: 0,
    });
  });
});
