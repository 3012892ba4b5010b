/**
 * Cron expressions read the way Cloudflare reads them: UTC, five fields, day-of-week 1 = Sunday,
 * with names, `L`, `W` and `#`. croner does the parsing; its Quartz weekday mode gives the
 * 1 = Sunday numbering.
 */
import { Cron } from "croner";

function parse(expression: string, timeZone = "UTC"): Cron {
  return new Cron(expression, {
    timezone: timeZone,
    mode: "5-part",
    alternativeWeekdays: true,
    paused: true,
  });
}

/** Throws with croner's reason when the expression is not a valid cron. */
export function assertCron(expression: string): void {
  parse(expression);
}

/** The next `count` fire times strictly after `after`. */
export function nextFireTimes(expression: string, after: Date, count: number): Date[] {
  return parse(expression).nextRuns(count, after);
}

/** The next fire time after `after`, of a cron read in `timeZone` (UTC by default). */
export function nextFireTime(expression: string, after: Date, timeZone = "UTC"): string | null {
  const next = parse(expression, timeZone).nextRun(after);
  return next ? next.toISOString() : null;
}

/** Crons compare by their fields, so `0  9 * * mon` finds the task written `0 9 * * MON`. */
export function normalizeCron(expression: string): string {
  return expression.trim().split(/\s+/).join(" ").toUpperCase();
}

/** The latest fire time at or before `at`. */
export function previousFireTime(expression: string, at: Date): Date | null {
  const [previous] = parse(expression).previousRuns(1, new Date(at.getTime() + 1000));
  return previous ?? null;
}
