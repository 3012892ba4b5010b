/**
 * Store time for the sample data: local wall-clock times read with the zone's rules, and the
 * shift that moves a data set's timeline to recent weeks while keeping weekday and local time.
 */
import { tzOffset } from "@date-fns/tz";

/** The sample store's zone: online-retail's times are local to it, and shifts keep its clock. */
export const storeTimeZone = "Europe/London";

const minuteMs = 60_000;
const dayMs = 86_400_000;
const weekMs = 7 * dayMs;

/** A local date and time without a zone, e.g. the `InvoiceDate` `2010-12-01 08:26:00`. */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

const wallTimeText = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/;

/** Reads `YYYY-MM-DD HH:MM[:SS]`; returns undefined for anything else or an impossible date. */
export function parseWallTime(text: string): WallTime | undefined {
  const match = wallTimeText.exec(text.trim());
  if (!match) return undefined;
  const part = (index: number) => Number(match[index] ?? 0);
  const wall: WallTime = {
    year: part(1),
    month: part(2),
    day: part(3),
    hour: part(4),
    minute: part(5),
    second: part(6),
  };
  const asUtc = new Date(wallAsUtc(wall));
  const sameDate =
    asUtc.getUTCFullYear() === wall.year &&
    asUtc.getUTCMonth() + 1 === wall.month &&
    asUtc.getUTCDate() === wall.day;
  if (!sameDate || wall.hour > 23 || wall.minute > 59 || wall.second > 59) return undefined;
  return wall;
}

/**
 * The instant (ms since the epoch) at which the zone's clocks show `wall`. A time shown twice
 * (clocks going back) takes its first occurrence; a time never shown (clocks going forward) is
 * moved forward by the gap, so 01:30 on 2011-03-27 in London becomes 02:30 BST, as Temporal's
 * "compatible" rule does. Assumes the zone's transitions are more than a day apart.
 */
export function wallTimeToInstant(wall: WallTime, zone: string): number {
  const naive = wallAsUtc(wall);
  const offsetBefore = offsetMinutes(zone, naive - dayMs);
  const offsetAfter = offsetMinutes(zone, naive + dayMs);
  const candidates = [offsetBefore, offsetAfter]
    .map((offset) => naive - offset * minuteMs)
    .filter((at) => wallAsUtc(instantToWallTime(at, zone)) === naive);

  if (candidates.length > 0) return Math.min(...candidates);
  // In a gap: read the wall time with the offset in force before the gap, which lands after it.
  return naive - offsetBefore * minuteMs;
}

/** The zone's wall-clock time at instant `at`. */
export function instantToWallTime(at: number, zone: string): WallTime {
  const local = new Date(at + offsetMinutes(zone, at) * minuteMs);
  return {
    year: local.getUTCFullYear(),
    month: local.getUTCMonth() + 1,
    day: local.getUTCDate(),
    hour: local.getUTCHours(),
    minute: local.getUTCMinutes(),
    second: local.getUTCSeconds(),
  };
}

/**
 * Moves instant `at` by whole weeks of the zone's wall-clock time: the result shows the same
 * weekday and local time of day, and is recomputed with the zone's rules, so across a daylight
 * saving difference it is a week multiple plus or minus an hour of elapsed time.
 */
export function shiftByWeeks(at: number, weeks: number, zone: string): number {
  if (weeks === 0) return at;
  const shifted = new Date(wallAsUtc(instantToWallTime(at, zone)) + weeks * weekMs);
  return wallTimeToInstant(
    {
      year: shifted.getUTCFullYear(),
      month: shifted.getUTCMonth() + 1,
      day: shifted.getUTCDate(),
      hour: shifted.getUTCHours(),
      minute: shifted.getUTCMinutes(),
      second: shifted.getUTCSeconds(),
    },
    zone,
  );
}

/**
 * The largest whole number of weeks by which a timeline ending at `lastAt` can be shifted
 * (`shiftByWeeks`) so that its last event stays strictly before `now`. Negative when the
 * timeline ends after `now`.
 */
export function weeksToShift(lastAt: number, now: number, zone: string): number {
  let weeks = Math.floor((now - lastAt) / weekMs);
  while (shiftByWeeks(lastAt, weeks + 1, zone) < now) weeks += 1;
  while (shiftByWeeks(lastAt, weeks, zone) >= now) weeks -= 1;
  return weeks;
}

/** Formats an instant the way the event contract wants it: ISO-8601 in UTC. */
export function toIsoInstant(at: number): string {
  return new Date(at).toISOString();
}

function wallAsUtc(wall: WallTime): number {
  return Date.UTC(wall.year, wall.month - 1, wall.day, wall.hour, wall.minute, wall.second);
}

function offsetMinutes(zone: string, at: number): number {
  return tzOffset(zone, new Date(at));
}
