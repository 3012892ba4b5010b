/**
 * When the runner, the dispatcher and the dead-letter store raise or close an incident. Each
 * call catches its own failures: alerting never fails the work it watches.
 *
 * - `run-failed:<task>`: a run failed; closed by the task's next successful run.
 * - `run-errors:<task>`: a run's result reports more lasting errors than `ALERT_ERRORS_ABOVE`;
 *   closed by a run at or under it. The newsletter's errors arrive later, from the Queue, so only
 *   its failed run is watched.
 * - A cron that matches no task raises `run-failed:unmatched-cron`, which no run ever closes.
 * - `slot-missed:<task>`: a slot nobody ran in time; closed by the task's next successful run.
 * - `dead-letters`: failed items wait for review; closed once every one was replayed.
 */
import { isNull, sql } from "drizzle-orm";
import { database } from "../db/client";
import { failedItems } from "../db/schema";
import { errorMessage, log } from "../lib/log";
import type { RunView } from "../runs/ledger";
import { raiseIncident, resolveIncident } from "./incidents";

/** Raises or closes the task's run incidents after a run finished. */
export async function alertOnRun(env: Env, run: RunView): Promise<void> {
  await guarded("run", async () => {
    const detail = { runId: run.id, task: run.task, slotTime: run.slotTime };
    if (run.status === "failed") {
      await raiseIncident(env, {
        key: `run-failed:${run.task}`,
        kind: "run-failed",
        summary: `${run.task} failed: ${run.error ?? "no error message"}`,
        detail: { ...detail, error: run.error },
      });
      return;
    }
    if (run.status !== "succeeded") return;

    const errors = reportedErrors(run.result);
    const threshold = errorThreshold(env);
    if (errors > threshold) {
      await raiseIncident(env, {
        key: `run-errors:${run.task}`,
        kind: "run-errors",
        summary: `${run.task} reported ${errors} errors (alerting above ${threshold})`,
        detail: { ...detail, errors, threshold },
      });
    } else {
      await resolveIncident(env, {
        key: `run-errors:${run.task}`,
        kind: "run-errors",
        summary: `${run.task} is back to ${errors} errors`,
        detail,
      });
    }
    await resolveIncident(env, {
      key: `run-failed:${run.task}`,
      kind: "run-failed",
      summary: `${run.task} succeeded again`,
      detail,
    });
    // Catch-up runs do not close it: the task is back when a slot runs on time again.
    if (run.trigger !== "cron") return;
    await resolveIncident(env, {
      key: `slot-missed:${run.task}`,
      kind: "slot-missed",
      summary: `${run.task} ran its slot on time again`,
      detail,
    });
  });
}

/** Raises the task's missed-slot incident, once for all the slots one tick found missed. */
export async function alertOnMissedSlots(
  env: Env,
  task: string,
  slotTimes: readonly number[],
): Promise<void> {
  if (slotTimes.length === 0) return;
  const slots = slotTimes.map((slot) => new Date(slot).toISOString());
  const summary =
    slots.length === 1
      ? `${task} missed its slot at ${slots[0]}`
      : `${task} missed ${slots.length} slots, ${slots[0]} to ${slots.at(-1)}`;
  await guarded("missed_slot", () =>
    raiseIncident(env, {
      key: `slot-missed:${task}`,
      kind: "slot-missed",
      summary,
      detail: { task, slotTime: slots[0], slotTimes: slots },
    }),
  );
}

/** A claim older than this with no outcome was left by an invocation that died mid-send. */
export const stuckClaimAfterMs = 10 * 60_000;

/**
 * Raises an incident while e-mails sit `claimed` with no outcome (the crash path, where they are
 * never resent by themselves), so a person looks at them; closes it once none is left.
 */
export async function alertOnStuckEmails(env: Env): Promise<void> {
  await guarded("stuck_emails", async () => {
    const [row] = await database(env).all<{ stuck: number }>(
      sql`SELECT count(*) AS stuck FROM emails
        WHERE status = 'claimed' AND claimed_at < ${Date.now() - stuckClaimAfterMs}`,
    );
    const stuck = row?.stuck ?? 0;
    if (stuck > 0) {
      await raiseIncident(env, {
        key: "emails-stuck",
        kind: "emails-stuck",
        summary:
          `${stuck} e-mail${stuck === 1 ? "" : "s"} claimed but never settled: ` +
          "see /api/emails?status=claimed",
        detail: { stuck },
      });
    } else {
      await resolveIncident(env, {
        key: "emails-stuck",
        kind: "emails-stuck",
        summary: "no e-mail is left claimed without an outcome",
      });
    }
  });
}

/** Raises the dead-letter incident while items wait, and closes it once none does. */
export async function alertOnDeadLetters(env: Env): Promise<void> {
  await guarded("dead_letters", async () => {
    const [row] = await database(env)
      .select({ waiting: sql<number>`count(*)` })
      .from(failedItems)
      .where(isNull(failedItems.replayedAt));
    const waiting = row?.waiting ?? 0;
    if (waiting > 0) {
      await raiseIncident(env, {
        key: "dead-letters",
        kind: "dead-letters",
        summary: `${waiting} failed item${waiting === 1 ? " waits" : "s wait"} for review`,
        detail: { waiting },
      });
    } else {
      await resolveIncident(env, {
        key: "dead-letters",
        kind: "dead-letters",
        summary: "every failed item was replayed",
      });
    }
  });
}

/**
 * The errors a task's result reports that no retry will mend: failed e-mails of the cart
 * reminders (`summary.errors`) and of the sales report (`reportDetails.emailErrors`), less those
 * handed to the Queue for a resend (`retryQueued`), which alert only if they end as dead letters.
 */
export function reportedErrors(result: unknown): number {
  const errors =
    numberAt(result, "summary", "errors") + numberAt(result, "reportDetails", "emailErrors");
  const queued =
    numberAt(result, "details", "retryQueued") + numberAt(result, "reportDetails", "retryQueued");
  return Math.max(0, errors - queued);
}

function numberAt(value: unknown, ...path: string[]): number {
  let current = value;
  for (const field of path) {
    current = typeof current === "object" && current !== null ? Reflect.get(current, field) : null;
  }
  return typeof current === "number" ? current : 0;
}

function errorThreshold(env: Env): number {
  const threshold = Number(env.ALERT_ERRORS_ABOVE);
  return Number.isFinite(threshold) && threshold >= 0 ? threshold : 0;
}

async function guarded(watch: string, check: () => Promise<unknown>): Promise<void> {
  try {
    await check();
  } catch (error) {
    log("error", "alert.check_failed", { watch, error: errorMessage(error) });
  }
}

/**
 * `check-errors:abandoned-cart-recovery`: a delayed cart check (which sends outside any run)
 * failed to send reminders for good; closed by a later check that sent without a failure.
 */
export async function alertOnCartCheck(env: Env, sent: number, failedForGood: number) {
  await guarded("cart-check", async () => {
    const key = "check-errors:abandoned-cart-recovery";
    if (failedForGood > 0) {
      await raiseIncident(env, {
        key,
        kind: "run-errors",
        summary: `a delayed cart check could not send ${failedForGood} reminder(s)`,
        detail: { task: "abandoned-cart-recovery", failed: failedForGood },
      });
    } else if (sent > 0) {
      await resolveIncident(env, {
        key,
        kind: "run-errors",
        summary: "delayed cart checks send again",
        detail: { task: "abandoned-cart-recovery", sent },
      });
    }
  });
}
