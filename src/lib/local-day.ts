/**
 * Calendar days in the store's time zone. A day runs from local midnight to the next local
 * midnight, so it lasts 23 or 25 hours on daylight-saving changes.
 */
import { TZDate } from "@date-fns/tz";

export interface LocalDay {
  /** `YYYY-MM-DD` in the zone. */
  date: string;
  /** First instant of the day, ms. */
  start: number;
  /** First instant of the next day, ms (exclusive end). */
  end: number;
}

/** The local calendar date of an instant, `YYYY-MM-DD`. */
export function localDate(instant: number, timeZone: string): string {
  const local = new TZDate(instant, timeZone);
  return [local.getFullYear(), local.getMonth() + 1, local.getDate()]
    .map((part, i) => String(part).padStart(i === 0 ? 4 : 2, "0"))
    .join("-");
}

/** The local day that holds `date` (`YYYY-MM-DD`) shifted by `offsetDays`. */
export function localDay(date: string, timeZone: string, offsetDays = 0): LocalDay {
  const [year, month, day] = date.split("-").map(Number) as [number, number, number];
  const start = new TZDate(year, month - 1, day + offsetDays, timeZone);
  const next = new TZDate(year, month - 1, day + offsetDays + 1, timeZone);
  return {
    date: localDate(start.getTime(), timeZone),
    start: start.getTime(),
    end: next.getTime(),
  };
}

/** The local day before the one that holds `instant`: the report's "yesterday". */
export function dayBefore(instant: number, timeZone: string): LocalDay {
  return localDay(localDate(instant, timeZone), timeZone, -1);
}

/** The Monday (`YYYY-MM-DD`) of the local week that holds `instant`. */
export function localWeekStart(instant: number, timeZone: string): string {
  const local = new TZDate(instant, timeZone);
  const daysSinceMonday = (local.getDay() + 6) % 7;
  return localDay(localDate(instant, timeZone), timeZone, -daysSinceMonday).date;
}

/** The local hour (0–23) of an instant. */
export function localHour(instant: number, timeZone: string): number {
  return new TZDate(instant, timeZone).getHours();
}
