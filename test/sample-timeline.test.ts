import { describe, expect, it } from "vitest";
import {
  parseWallTime,
  shiftByWeeks,
  storeTimeZone,
  wallTimeToInstant,
  weeksToShift,
} from "../src/sample/timeline";

const london = storeTimeZone;

/** The instant the London clock shows `text` (`YYYY-MM-DD HH:MM:SS`), as an ISO string. */
function londonToUtc(text: string): string {
  const wall = parseWallTime(text);
  if (!wall) throw new Error(`not a wall time: ${text}`);
  return new Date(wallTimeToInstant(wall, london)).toISOString();
}

describe("London wall-clock time to instants", () => {
  it("reads winter times as GMT and summer times as BST", () => {
    expect(londonToUtc("2010-12-01 08:26:00")).toBe("2010-12-01T08:26:00.000Z");
    expect(londonToUtc("2011-07-01 12:00:00")).toBe("2011-07-01T11:00:00.000Z");
  });

  it("switches to BST at 01:00 UTC on 2011-03-27", () => {
    expect(londonToUtc("2011-03-27 00:59:00")).toBe("2011-03-27T00:59:00.000Z");
    expect(londonToUtc("2011-03-27 02:00:00")).toBe("2011-03-27T01:00:00.000Z");
    // Invoice 547834 was raised that Sunday at 10:16 BST.
    expect(londonToUtc("2011-03-27 10:16:00")).toBe("2011-03-27T09:16:00.000Z");
  });

  it("moves a time the clocks skipped forward by the hour they skipped", () => {
    expect(londonToUtc("2011-03-27 01:30:00")).toBe("2011-03-27T01:30:00.000Z");
  });

  it("takes the first of the two 01:30s on 2011-10-30, which is still BST", () => {
    expect(londonToUtc("2011-10-30 01:30:00")).toBe("2011-10-30T00:30:00.000Z");
    expect(londonToUtc("2011-10-30 00:59:00")).toBe("2011-10-29T23:59:00.000Z");
    expect(londonToUtc("2011-10-30 02:00:00")).toBe("2011-10-30T02:00:00.000Z");
    // Invoice 573319 was raised that Sunday at 10:18 GMT.
    expect(londonToUtc("2011-10-30 10:18:00")).toBe("2011-10-30T10:18:00.000Z");
  });

  it("rejects dates that do not exist and text that is not a date", () => {
    expect(parseWallTime("2011-02-29 10:00:00")).toBeUndefined();
    expect(parseWallTime("2011-03-01 24:00:00")).toBeUndefined();
    expect(parseWallTime("12/1/2010 8:26")).toBeUndefined();
  });
});

describe("shifting a timeline by whole weeks of London time", () => {
  // Friday 2026-12-04 15:57 UTC (GMT).
  const now = Date.parse("2026-12-04T15:57:00Z");

  it("moves online-retail's last invoice to the last Friday 12:50 before now", () => {
    // 2011-12-09 12:50 GMT, a Friday. To 2026-12-09 is 15 years with 4 leap days = 5,479 days;
    // 2026-12-04 is 5 days earlier: 5,474 days = 782 weeks, and 12:50 is before 15:57.
    const lastInvoice = Date.parse("2011-12-09T12:50:00Z");
    expect(weeksToShift(lastInvoice, now, london)).toBe(782);
    expect(new Date(shiftByWeeks(lastInvoice, 782, london)).toISOString()).toBe(
      "2026-12-04T12:50:00.000Z",
    );
  });

  it("keeps the weekday and local time when the shift crosses from BST to GMT", () => {
    // The last REES46 row, 2019-10-01 02:50 UTC, is Tuesday 03:50 BST. 2019-10-01 to 2026-10-01
    // is 7 years with 2 leap days = 2,557 days, plus 61 days to 2026-12-01 = 2,618 = 374 weeks.
    const lastRow = Date.parse("2019-10-01T02:50:00Z");
    expect(weeksToShift(lastRow, now, london)).toBe(374);
    const shifted = new Date(shiftByWeeks(lastRow, 374, london));
    // Tuesday 2026-12-01 03:50 GMT: the same clock time, one hour more than 374 weeks later.
    expect(shifted.toISOString()).toBe("2026-12-01T03:50:00.000Z");
    expect(shifted.getUTCDay()).toBe(2);
    expect(shifted.getTime() - lastRow).toBe(374 * 7 * 86_400_000 + 3_600_000);
  });

  it("keeps the last event strictly before now", () => {
    const lastInvoice = Date.parse("2011-12-09T12:50:00Z");
    expect(weeksToShift(lastInvoice, Date.parse("2026-12-04T12:50:00Z"), london)).toBe(781);
    expect(weeksToShift(lastInvoice, Date.parse("2026-12-04T12:50:01Z"), london)).toBe(782);
  });

  it("leaves an instant alone for a shift of zero weeks", () => {
    const at = Date.parse("2011-10-30T01:30:00Z");
    expect(shiftByWeeks(at, 0, london)).toBe(at);
  });
});
