import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { mapRees46 } from "../src/sample/rees46";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import sample from "./fixtures/rees46-2019-10-01-first-17434-events.csv?raw";
import { type ExpectedCartRun, expectedCartRun } from "./helpers/rees46-cart-expectations";
import { fireOne, postEvents, recordingEnv } from "./helpers/worker";

/*
 * The first 17,434 rows of the REES46 log (2019-10-01, UTC; the carts' last activity falls
 * between 00:05 and 02:50) go in through the events API with their dates kept, and the
 * abandoned-cart cron is fired at run clocks days apart. Each run is compared with
 * test/helpers/rees46-cart-expectations.ts, which reads the raw CSV apart from src/ and is
 * cross-checked by scripts/check-rees46-carts.py; the literal figures are that script's output.
 * London is on BST (UTC+1) in early October, so 21:30Z is 22:30 local, inside quiet hours.
 */

const cron = utcCrons["abandoned-cart-recovery"] ?? "";
const stageNumbers = [1, 2, 3] as const;

/** The cart holds the sample's 53 carts still open at the end of the log. */
const openCarts = 53;
const openCartsValueCents = 2_555_333;
const openCartsUnits = 69;

async function importSample(): Promise<void> {
  const { events } = mapRees46(sample, { now: Date.now(), keepDates: true });
  for (let i = 0; i < events.length; i += 1000) {
    const { status, body } = await postEvents(events.slice(i, i + 1000));
    expect(body.rejected).toEqual([]);
    expect(status).toBeLessThan(300);
  }
}

interface Reminder {
  cartId: string;
  stage: number;
  recipient: string;
  discountCode: string | null;
}

/** Fires the cart cron at `slot` and answers the run, its e-mails and the reminders it wrote. */
async function runAt(slot: string) {
  const { env: testEnv, sent } = recordingEnv();
  const run = await fireOne(cron, slot, testEnv);
  const { results } = await env.DB.prepare(
    `SELECT cart_id AS cartId, stage, recipient, discount_code AS discountCode
      FROM cart_reminders WHERE run_id = ? ORDER BY cart_id`,
  )
    .bind(run.id)
    .all<Reminder>();
  return { run, sent, reminders: results };
}

/** Units in the given carts, as the store holds them. */
async function unitsIn(cartIds: string[]): Promise<number> {
  const row = await env.DB.prepare(
    `SELECT coalesce(sum(item_count), 0) AS units FROM carts
      WHERE id IN (SELECT value FROM json_each(?))`,
  )
    .bind(JSON.stringify(cartIds))
    .first<{ units: number }>();
  return row?.units ?? 0;
}

/** The address the sample mapping gives the owner of `r46-cart-<user>-<n>`. */
function ownerAddress(cartId: string): string {
  const user = /^r46-cart-(\d+)-\d+$/.exec(cartId)?.[1];
  return `r46-${user}@example.test`;
}

/**
 * Checks a run against the independent expectation. `alreadyReminded` is the number of
 * candidates the task must hold because an earlier run of this test reminded them at the stage
 * due now; the expectation knows nothing of earlier runs, and the task checks that rule before
 * quiet hours, so those carts move from the expectation's send or quiet-hours count to it.
 */
async function expectRunMatches(
  outcome: Awaited<ReturnType<typeof runAt>>,
  expected: ExpectedCartRun,
  alreadyReminded = 0,
) {
  const { run, sent, reminders } = outcome;
  const result = run.result;
  expect(run.status).toBe("succeeded");

  expect(result.summary.processed).toBe(expected.candidates);
  expect(result.details.discoveredCarts).toBe(expected.candidates);
  expect(result.summary.emailsSent).toBe(expected.toSend);
  expect(result.summary.errors).toBe(0);
  expect(result.summary.skippedBy).toEqual({
    noAddress: 0,
    emptyCart: 0,
    zeroTotal: expected.skippedBy.zeroTotal,
    orderedSince: expected.skippedBy.orderedSince,
    outOfStock: 0,
    unsubscribed: 0,
    bounced: 0,
    noConsent: 0,
    alreadyReminded,
    cooldown: 0,
    quietHours: expected.skippedBy.quietHours,
  });
  expect(result.details.eligibleForRecovery).toBe(expected.toSend);
  expect(result.details.totalCartValue).toEqual(
    expected.toSend > 0 ? { USD: expected.totalCartValueCents } : {},
  );

  // Per stage: all candidates are sent or none is (true of every clock here), so the stage
  // counts of the e-mails are the expectation's stage counts of the candidates, or zero.
  if (expected.toSend !== 0 && expected.toSend !== expected.candidates) {
    throw new Error("expectation sends some candidates only: per-stage counts undetermined");
  }
  const sendsAll = expected.toSend > 0;
  expect(
    result.details.stages.map((s: { stage: number; due: number; sent: number }) => ({
      stage: s.stage,
      due: s.due,
      sent: s.sent,
    })),
  ).toEqual(
    stageNumbers.map((stage) => ({
      stage,
      due: sendsAll ? expected.dueByStage[stage] : 0,
      sent: sendsAll ? expected.dueByStage[stage] : 0,
    })),
  );

  // The carts reminded, each at the stage due, and the e-mails that went to their owners.
  expect(reminders.map((r) => r.cartId)).toEqual(expected.cartIds);
  const dueStage = stageNumbers.find((s) => expected.dueByStage[s] === expected.candidates);
  for (const reminder of reminders) {
    expect(reminder.stage).toBe(dueStage);
    expect(reminder.recipient).toBe(ownerAddress(reminder.cartId));
  }
  expect(await unitsIn(expected.cartIds)).toBe(expected.itemUnits);
  expect(sent).toHaveLength(expected.toSend);
  const recipients = sent.map((email) => email.to);
  expect(new Set(recipients).size).toBe(recipients.length);
  expect([...recipients].sort()).toEqual(expected.cartIds.map(ownerAddress).sort());
}

describe("abandoned-cart recovery on the real REES46 sample", () => {
  it("reminds the 53 open carts at stages 1, 2 and 3 and none twice", async () => {
    await importSample();

    // 2019-10-01 10:00Z (11:00 BST): every open cart idle 7-10 h, stage 1.
    const first = expectedCartRun(sample, Date.parse("2019-10-01T10:00:00Z"));
    expect(first).toMatchObject({
      candidates: openCarts,
      dueByStage: { 1: openCarts, 2: 0, 3: 0 },
      skippedBy: { zeroTotal: 0, orderedSince: 0, quietHours: 0 },
      toSend: openCarts,
      totalCartValueCents: openCartsValueCents,
      itemUnits: openCartsUnits,
    });
    const stage1 = await runAt("2019-10-01T10:00:00Z");
    await expectRunMatches(stage1, first);
    expect(stage1.run.result.summary.emailsSent).toBe(53);
    expect(stage1.run.result.details.totalCartValue).toEqual({ USD: 2_555_333 });
    expect(stage1.reminders).toHaveLength(53);

    // 21:30Z (22:30 BST) the same day: the same 53 carts, still at stage 1. The expectation
    // holds them for quiet hours; here each was reminded at stage 1 at 10:00, and the task
    // checks that before quiet hours, so all 53 are held as already reminded.
    const quiet = expectedCartRun(sample, Date.parse("2019-10-01T21:30:00Z"));
    expect(quiet).toMatchObject({
      candidates: 53,
      dueByStage: { 1: 53, 2: 0, 3: 0 },
      skippedBy: { zeroTotal: 0, orderedSince: 0, quietHours: 53 },
      toSend: 0,
    });
    const repeat = await runAt("2019-10-01T21:30:00Z");
    await expectRunMatches(
      repeat,
      { ...quiet, skippedBy: { ...quiet.skippedBy, quietHours: 0 } },
      quiet.candidates,
    );
    expect(repeat.run.result.summary.skippedBy.alreadyReminded).toBe(53);

    // 2019-10-02 10:00Z: idle 31-34 h, stage 2.
    const second = expectedCartRun(sample, Date.parse("2019-10-02T10:00:00Z"));
    expect(second).toMatchObject({
      candidates: 53,
      dueByStage: { 1: 0, 2: 53, 3: 0 },
      toSend: 53,
      totalCartValueCents: 2_555_333,
      itemUnits: 69,
    });
    const stage2 = await runAt("2019-10-02T10:00:00Z");
    await expectRunMatches(stage2, second);
    expect(stage2.run.result.details.stages[1]).toMatchObject({ stage: 2, due: 53, sent: 53 });
    expect(stage2.reminders.map((r) => r.cartId)).toEqual(stage1.reminders.map((r) => r.cartId));

    // 2019-10-04 10:00Z: idle 79-82 h, stage 3, each e-mail with its own discount code.
    const third = expectedCartRun(sample, Date.parse("2019-10-04T10:00:00Z"));
    expect(third).toMatchObject({
      candidates: 53,
      dueByStage: { 1: 0, 2: 0, 3: 53 },
      toSend: 53,
      totalCartValueCents: 2_555_333,
      itemUnits: 69,
    });
    const stage3 = await runAt("2019-10-04T10:00:00Z");
    await expectRunMatches(stage3, third);
    expect(stage3.run.result.details.stages[2]).toMatchObject({ stage: 3, due: 53, sent: 53 });
    expect(stage3.run.result.details.totalCartValue).toEqual({ USD: 2_555_333 });

    const codeByAddress = new Map<string, string>();
    for (const email of stage3.sent) {
      const inText = email.text.match(/COMEBACK-[0-9A-Z]{10}/g) ?? [];
      const inHtml = email.html.match(/COMEBACK-[0-9A-Z]{10}/g) ?? [];
      expect(new Set(inText).size).toBe(1);
      expect(new Set(inHtml)).toEqual(new Set(inText));
      codeByAddress.set(email.to, inText[0] ?? "");
    }
    const codes = [...codeByAddress.values()];
    expect(new Set(codes).size).toBe(53);
    // Each e-mail carries the code claimed for its cart.
    for (const reminder of stage3.reminders) {
      expect(reminder.discountCode).toMatch(/^COMEBACK-[0-9A-Z]{10}$/);
      expect(codeByAddress.get(reminder.recipient)).toBe(reminder.discountCode);
    }
    for (const earlier of [...stage1.sent, ...stage2.sent]) {
      expect(earlier.text).not.toContain("COMEBACK-");
    }

    // Three reminders per cart over the four runs, one per stage.
    const { results } = await env.DB.prepare(
      `SELECT cart_id AS cartId, group_concat(stage) AS stages
        FROM cart_reminders GROUP BY cart_id`,
    ).all<{ cartId: string; stages: string }>();
    expect(results).toHaveLength(53);
    for (const row of results) {
      expect(row.stages.split(",").map(Number).sort()).toEqual([1, 2, 3]);
    }
  });

  it("holds all 53 carts for quiet hours at 22:30 BST in a store that sent none", async () => {
    await importSample();
    const expected = expectedCartRun(sample, Date.parse("2019-10-01T21:30:00Z"));
    const quiet = await runAt("2019-10-01T21:30:00Z");
    await expectRunMatches(quiet, expected);
    expect(quiet.run.result.summary).toMatchObject({
      processed: 53,
      emailsSent: 0,
      skippedBy: { quietHours: 53, alreadyReminded: 0 },
    });
    expect(quiet.sent).toEqual([]);
    expect(quiet.reminders).toEqual([]);
  });
});
