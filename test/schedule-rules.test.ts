import { describe, expect, it } from "vitest";
import { nextSlots, scheduleCron, slotsBetween } from "../src/schedule/task-schedule";

const iso = (slots: number[]) => slots.map((slot) => new Date(slot).toISOString());
const day = (expression: string, zone: string, from: string, to: string) =>
  iso(slotsBetween(expression, zone, Date.parse(from), Date.parse(to)));

describe("local-time schedules across daylight saving", () => {
  it("runs London's 08:00 at 07:00 UTC in summer and 08:00 UTC in winter", () => {
    expect(day("0 8 * * *", "Europe/London", "2024-06-10T00:00Z", "2024-06-11T00:00Z")).toEqual([
      "2024-06-10T07:00:00.000Z",
    ]);
    expect(day("0 8 * * *", "Europe/London", "2024-12-10T00:00Z", "2024-12-11T00:00Z")).toEqual([
      "2024-12-10T08:00:00.000Z",
    ]);
  });

  it("runs a time missing on spring-forward day once, at the next valid instant", () => {
    // London 2024-03-31: 01:00 GMT jumps to 02:00 BST, so 01:30 never happens; 02:00 BST is 01:00Z.
    expect(day("30 1 * * *", "Europe/London", "2024-03-30T12:00Z", "2024-03-31T12:00Z")).toEqual([
      "2024-03-31T01:00:00.000Z",
    ]);
    // New York 2024-03-10: 02:30 never happens; 03:00 EDT is 07:00Z.
    expect(day("30 2 * * *", "America/New_York", "2024-03-10T00:00Z", "2024-03-11T00:00Z")).toEqual(
      ["2024-03-10T07:00:00.000Z"],
    );
    // Sydney 2024-10-06: 02:00 AEST jumps to 03:00 AEDT; 03:00 AEDT is 16:00Z the day before.
    expect(day("30 2 * * *", "Australia/Sydney", "2024-10-05T10:00Z", "2024-10-06T10:00Z")).toEqual(
      ["2024-10-05T16:00:00.000Z"],
    );
  });

  it("runs a time that happens twice on fall-back day once, at its first occurrence", () => {
    // London 2024-10-27: 01:30 BST (00:30Z), then 01:30 GMT (01:30Z).
    expect(day("30 1 * * *", "Europe/London", "2024-10-26T12:00Z", "2024-10-27T12:00Z")).toEqual([
      "2024-10-27T00:30:00.000Z",
    ]);
    // New York 2024-11-03: 01:30 EDT is 05:30Z (01:30 EST would be 06:30Z).
    expect(day("30 1 * * *", "America/New_York", "2024-11-03T00:00Z", "2024-11-04T00:00Z")).toEqual(
      ["2024-11-03T05:30:00.000Z"],
    );
    // Sydney 2024-04-07: 02:30 AEDT is 15:30Z the day before (02:30 AEST would be 16:30Z).
    expect(day("30 2 * * *", "Australia/Sydney", "2024-04-06T10:00Z", "2024-04-07T10:00Z")).toEqual(
      ["2024-04-06T15:30:00.000Z"],
    );
  });

  it("keeps every real half hour: 46 on a 23-hour day, 50 on a 25-hour day", () => {
    const spring = slotsBetween(
      "rate(30 minutes)",
      "Europe/London",
      Date.parse("2024-03-31T00:00Z") - 1,
      Date.parse("2024-03-31T23:00Z") - 1,
    );
    const autumn = slotsBetween(
      "rate(30 minutes)",
      "Europe/London",
      Date.parse("2024-10-26T23:00Z") - 1,
      Date.parse("2024-10-28T00:00Z") - 1,
    );
    expect(spring).toHaveLength(46);
    expect(autumn).toHaveLength(50);
  });

  it("runs at the same UTC time every day in a zone without daylight saving", () => {
    expect(iso(nextSlots("0 8 * * *", "Asia/Tokyo", Date.parse("2024-03-30T00:00Z"), 3))).toEqual([
      "2024-03-30T23:00:00.000Z",
      "2024-03-31T23:00:00.000Z",
      "2024-04-01T23:00:00.000Z",
    ]);
  });
});

describe("Cloudflare's cron dialect", () => {
  const next = (expression: string, from: string) =>
    new Date(nextSlots(expression, "UTC", Date.parse(from), 1)[0] ?? 0).toISOString();

  it("counts day-of-week 1 as Sunday and 2 as Monday", () => {
    // 2024-06-08 is a Saturday.
    expect(next("0 9 * * 1", "2024-06-08T12:00Z")).toBe("2024-06-09T09:00:00.000Z");
    expect(next("0 9 * * 2", "2024-06-08T12:00Z")).toBe("2024-06-10T09:00:00.000Z");
    expect(next("0 9 * * MON", "2024-06-08T12:00Z")).toBe("2024-06-10T09:00:00.000Z");
  });

  it("understands L, W and #", () => {
    expect(next("0 9 L * *", "2024-02-10T00:00Z")).toBe("2024-02-29T09:00:00.000Z");
    // 2024-06-15 is a Saturday: the nearest weekday is Friday the 14th.
    expect(next("0 9 15W * *", "2024-06-01T00:00Z")).toBe("2024-06-14T09:00:00.000Z");
    // The second Monday (2#2) of July 2024 is the 8th.
    expect(next("0 9 * * 2#2", "2024-07-01T00:00Z")).toBe("2024-07-08T09:00:00.000Z");
    // The last Friday (6L) of June 2024 is the 28th.
    expect(next("0 9 * * 6L", "2024-06-01T00:00Z")).toBe("2024-06-28T09:00:00.000Z");
  });

  it("reads rate() schedules and refuses rates that do not divide the hour or day", () => {
    expect(scheduleCron("rate(30 minutes)")).toBe("*/30 * * * *");
    expect(scheduleCron("rate(6 hours)")).toBe("0 */6 * * *");
    expect(scheduleCron("rate(1 hour)")).toBe("0 * * * *");
    expect(() => scheduleCron("rate(7 minutes)")).toThrow(/must divide 60/);
  });
});
