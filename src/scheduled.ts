/**
 * The cron dispatcher. Cloudflare fires UTC crons that cover each task's local schedule; on each
 * tick a task runs only for the local slot that is due, once. The same tick looks back over the
 * task's catch-up window for slots nobody ran (an outage, a deploy gap), records each as
 * `missed`, and runs it late or skips it as the task's policy says.
 */
import { alertOnMissedSlots } from "./alerts/watch";
import { database } from "./db/client";
import { normalizeCron } from "./lib/cron";
import { log } from "./lib/log";
import { recordNonRun } from "./runs/ledger";
import { recordUnmatchedCron, runSlot } from "./runs/runner";
import { claimSlot, dropStaleClaims, isPaused, unclaimedSlots } from "./runs/slot-claims";
import { slotsBetween } from "./schedule/task-schedule";
import { utcCrons } from "./schedule/utc-crons.generated";
import { storeFrom } from "./store";
import { type ScheduledTask, scheduledTasks, zoneOf } from "./tasks/registry";

/** A tick this close after a slot is that slot's own delivery, not a catch-up. */
export const onTimeToleranceMs = 60_000;
const maxCatchUpsPerTick = 3;

export function tasksForUtcCron(cron: string): ScheduledTask[] {
  const wanted = normalizeCron(cron);
  return scheduledTasks.filter(
    (entry) => normalizeCron(utcCrons[entry.task.name] ?? "") === wanted,
  );
}

export async function dispatchCron(
  controller: ScheduledController,
  env: Env,
  invocationId: string = crypto.randomUUID(),
): Promise<void> {
  const entries = tasksForUtcCron(controller.cron);
  if (entries.length === 0) {
    await recordUnmatchedCron(env, controller.cron, controller.scheduledTime, invocationId);
    return;
  }
  for (const entry of entries) {
    await tickTask(env, entry, controller.scheduledTime, controller.cron, invocationId);
  }
}

/** One task's share of a tick: its due slot, then the missed slots of its catch-up window. */
export async function tickTask(
  env: Env,
  entry: ScheduledTask,
  tickTime: number,
  cron: string,
  invocationId: string,
): Promise<void> {
  const zone = zoneOf(entry, storeFrom(env).timeZone);
  const expression = entry.schedule.expression;
  const slots = slotsBetween(expression, zone, tickTime - entry.catchUpWindowMs, tickTime);
  const due = slots.at(-1);
  const onTime = due !== undefined && tickTime - due < onTimeToleranceMs;
  if (onTime) await runSlot(env, entry, { slotTime: due, cron, trigger: "cron", invocationId });

  const db = database(env);
  // While paused nothing is caught up: slots missed before the pause wait for the resume.
  if (await isPaused(db, entry.task.name)) return;
  const earlier = onTime ? slots.slice(0, -1) : slots;
  await dropStaleClaims(db, entry.task.name, Date.now());
  const missed = await unclaimedSlots(db, entry.task.name, earlier);
  // Claiming first means two ticks never both record, or both run, the same missed slot.
  const claimed: number[] = [];
  for (const slotTime of missed.slice(-maxCatchUpsPerTick)) {
    if (await claimSlot(db, entry.task.name, slotTime, Date.now())) claimed.push(slotTime);
  }
  const policy =
    entry.missedSlots === "run" ? "running it now (catch-up)" : "skipped by the task's policy";
  for (const slotTime of claimed) {
    const request = {
      task: entry.task.name,
      cron,
      slotTime,
      trigger: "cron" as const,
      invocationId,
    };
    const note = `no run took this slot in time; ${policy}`;
    await recordNonRun(db, request, "missed", note, Date.now());
    log("warn", "slot.missed", { task: entry.task.name, slotTime, policy: entry.missedSlots });
  }
  await alertOnMissedSlots(env, entry.task.name, claimed);
  if (entry.missedSlots !== "run") return;
  for (const slotTime of claimed) {
    await runSlot(env, entry, {
      slotTime,
      cron,
      trigger: "catch-up",
      invocationId,
      alreadyClaimed: true,
      // A late run's e-mails go out now, at the tick, not at the missed slot's time.
      sendAt: tickTime,
    });
  }
}
