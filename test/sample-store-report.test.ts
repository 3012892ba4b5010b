import { describe, expect, it } from "vitest";
import { mapOnlineRetail } from "../src/sample/online-retail";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import firstWeek from "./fixtures/online-retail-2010-12-01-to-07.csv?raw";
import { fireOne, postEvents, recordingEnv } from "./helpers/worker";

/*
 * The real first week of the UK shop (2010-12-01..07) goes in through the events API, and the
 * report for Tuesday 2010-12-07 is checked against figures computed apart from this code, with a
 * short Python script over the same CSV lines: orders are the day's non-C, non-A invoices (less
 * guest invoices priced 0 throughout, which the importer drops as stock adjustments), revenue is
 * Σ quantity × pence over all their lines, customers are new when their first invoice in the data
 * is on the day. London is on GMT in December, so local hours are UTC hours.
 */
describe("the daily report on the real sample store", () => {
  it("matches independently computed figures for 2010-12-07", async () => {
    const { events } = mapOnlineRetail(firstWeek, { now: Date.now(), keepDates: true });
    for (let i = 0; i < events.length; i += 1000) {
      const { body } = await postEvents(events.slice(i, i + 1000));
      expect(body.rejected).toEqual([]);
    }

    const run = await fireOne(
      utcCrons["daily-sales-report"] ?? "",
      "2010-12-08T08:00:00Z",
      recordingEnv().env,
    );

    expect(run.status).toBe("succeeded");
    expect(run.result.date).toBe("2010-12-07");
    expect(run.result.metrics).toMatchObject({
      totalRevenue: 9_961_820,
      totalOrders: 84,
      averageOrderValue: 118_593,
      newCustomers: 50,
      returningCustomers: 15,
      guestOrders: 13,
      refunds: { count: 18, totalCents: 5_455_915 },
    });
    expect(run.result.insights.peakSalesHour).toMatchObject({ hour: 15, revenue: 4_252_567 });
    expect(run.result.insights.topProducts.slice(0, 3)).toMatchObject([
      { productId: "21623", revenue: 645_142, quantity: 1009 },
      { productId: "82484", revenue: 520_023, quantity: 1083 },
      { productId: "22189", revenue: 477_717, quantity: 2043 },
    ]);
    // 15 / (50 + 15) = 23.08 %; (9,961,820 − 5,483,046) / 5,483,046 = 81.68 %.
    expect(run.result.insights.customerRetentionRate).toBe(23.1);
    expect(run.result.insights.dayOverDayGrowth).toBe(81.7);
  });
});
