/**
 * A task's schedule as a shop owner writes it: a cron in a time zone (the store's by default),
 * or `rate(30 minutes)` / `rate(6 hours)`. Crons use Cloudflare's dialect: day-of-week 1 = Sunday,
 * names, `L`, `W` and `#`. croner does the calendar work, including daylight saving: a fixed time
 * that does not exist on spring-forward day fires once at the next valid instant, and one that
 * happens twice on fall-back day fires once, at its first occurrence.
 */
import { Cron } from "croner";

export interface TaskSchedule {
  /** A five-field cron or `rate(N minutes|hours)`, read in `timeZone`. */
  expression: string;
  /** IANA zone; the store's zone when absent. */
  timeZone?: string;
}

/** The schedule as a cron: `rate()` becomes the equivalent cron anchored at local midnight. */
export function scheduleCron(expression: string): string {
  const rate = /^rate\(\s*(\d+)\s+(minute|minutes|hour|hours)\s*\)$/i.exec(expression.trim());
  if (!rate) return expression.trim();
  const every = Number(rate[1]);
  const unit = rate[2]?.toLowerCase().startsWith("minute") ? "minute" : "hour";
  const whole = unit === "minute" ? 60 : 24;
  if (every < 1 || whole % every !== 0) {
    throw new Error(
      `${expression}: the ${unit}s of a rate must divide ${whole} evenly (as 15, 30 or 6 do)`,
    );
  }
  if (unit === "minute") return every === 1 ? "* * * * *" : `*/${every} * * * *`;
  return every === 1 ? "0 * * * *" : `0 */${every} * * *`;
}

function job(expression: string, timeZone: string): Cron {
  return new Cron(scheduleCron(expression), {
    timezone: timeZone,
    mode: "5-part",
    alternativeWeekdays: true,
    paused: true,
  });
}

/** Throws with the reason when the schedule or its zone is not valid. */
export function assertSchedule(expression: string, timeZone: string): void {
  job(expression, timeZone);
}

/** The next `count` slots strictly after `after`. */
export function nextSlots(
  expression: string,
  timeZone: string,
  after: number,
  count: number,
): number[] {
  return job(expression, timeZone)
    .nextRuns(count, new Date(after))
    .map((date) => date.getTime());
}

export function nextSlot(expression: string, timeZone: string, after: number): number | null {
  return nextSlots(expression, timeZone, after, 1)[0] ?? null;
}

/** Every slot in `(from, to]`, oldest first; at most `limit`. */
export function slotsBetween(
  expression: string,
  timeZone: string,
  from: number,
  to: number,
  limit = 500,
): number[] {
  const schedule = job(expression, timeZone);
  const slots: number[] = [];
  let cursor = new Date(from);
  while (slots.length < limit) {
    const next = schedule.nextRun(cursor);
    if (!next || next.getTime() > to) break;
    slots.push(next.getTime());
    cursor = next;
  }
  return slots;
}

/** The latest slot at or before `at`, looking back at most `lookBackMs`. */
export function latestSlot(
  expression: string,
  timeZone: string,
  at: number,
  lookBackMs: number,
): number | null {
  return slotsBetween(expression, timeZone, at - lookBackMs, at).at(-1) ?? null;
}
