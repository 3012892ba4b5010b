/** Small helpers for cron strings; the calendar work lives in `schedule/task-schedule.ts`. */
import { nextSlot } from "../schedule/task-schedule";

/** The next fire time after `after`, of a cron read in `timeZone` (UTC by default). */
export function nextFireTime(expression: string, after: Date, timeZone = "UTC"): string | null {
  const next = nextSlot(expression, timeZone, after.getTime());
  return next === null ? null : new Date(next).toISOString();
}

/** Crons compare by their fields, so `0  9 * * mon` finds the task written `0 9 * * MON`. */
export function normalizeCron(expression: string): string {
  return expression.trim().split(/\s+/).join(" ").toUpperCase();
}
