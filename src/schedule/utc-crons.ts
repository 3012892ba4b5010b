/**
 * Cloudflare fires crons in UTC only. For a schedule in local time this finds a UTC cron that
 * fires at every one of its slots, in summer and winter offsets alike, by walking the real slots
 * over the next two years. The UTC cron may fire more often than needed (the other offset's
 * hour); the dispatcher runs a task only for the local slot that is due.
 */
import { scheduleCron, slotsBetween } from "./task-schedule";

const dayNames = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const coverDays = 731;

export function coveringUtcCron(expression: string, timeZone: string, from: number): string {
  const [, , dayOfMonth = "*", month = "*", dayOfWeek = "*"] =
    scheduleCron(expression).split(/\s+/);
  const slots = slotsBetween(expression, timeZone, from, from + coverDays * 86_400_000, 100_000);
  if (slots.length === 0) throw new Error(`${expression} never fires in ${timeZone}`);
  const minutes = new Set<number>();
  const hours = new Set<number>();
  const weekdays = new Set<number>();
  let sameCalendarDay = true;
  const localDate = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
  });
  for (const slot of slots) {
    const utc = new Date(slot);
    minutes.add(utc.getUTCMinutes());
    hours.add(utc.getUTCHours());
    weekdays.add(utc.getUTCDay());
    if (localDate.format(utc) !== utc.toISOString().slice(0, 10)) sameCalendarDay = false;
  }
  // Day fields carry over only when no slot crosses midnight between the zone and UTC.
  const keepDays = sameCalendarDay;
  const utcDayOfWeek =
    dayOfWeek === "*"
      ? "*"
      : keepDays
        ? dayOfWeek
        : [...weekdays]
            .sort()
            .map((d) => dayNames[d])
            .join(",");
  return [
    field([...minutes], 60),
    field([...hours], 24),
    dayOfMonth === "*" || keepDays ? dayOfMonth : "*",
    month === "*" || keepDays ? month : "*",
    utcDayOfWeek,
  ].join(" ");
}

/** A sorted list, `*`, or `*\/n` when the values are exactly every n-th from 0. */
function field(values: number[], size: number): string {
  const sorted = [...new Set(values)].sort((a, b) => a - b);
  if (sorted.length === size) return "*";
  const step = sorted[1] !== undefined ? sorted[1] - (sorted[0] ?? 0) : 0;
  const everyNth =
    sorted[0] === 0 &&
    step > 1 &&
    size % step === 0 &&
    sorted.length === size / step &&
    sorted.every((value, i) => value === i * step);
  return everyNth ? `*/${step}` : sorted.join(",");
}
