import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { event, fireOne, postEvents, recordingEnv, runDirectly } from "./helpers/worker";

const cron = utcCrons["daily-sales-report"] ?? "";

const order = (
  orderId: string,
  at: string,
  lines: [productId: string, quantity: number, unitPriceCents: number][],
  extra: Record<string, unknown> = {},
) =>
  event("order.placed", at, {
    orderId,
    currency: "GBP",
    items: lines.map(([productId, quantity, unitPriceCents]) => ({
      productId,
      name: `Product ${productId}`,
      quantity,
      unitPriceCents,
    })),
    ...extra,
  });

describe("daily-sales-report", () => {
  it("reports yesterday as a London calendar day, to the penny", async () => {
    await postEvents([
      order("o0", "2024-06-01T12:00:00Z", [["p-z", 1, 500]], { customerId: "ret1" }),
      // The day before: 10,000 p.
      order("prev", "2024-06-09T10:00:00Z", [["p-z", 1, 10000]], { customerId: "ret2" }),
      // 00:30 BST on 10 June: counts on the 10th although it is the 9th in UTC.
      order("o1", "2024-06-09T23:30:00Z", [["p-a", 2, 1000]], {
        customerId: "new1",
        shippingCents: 300,
      }),
      order("o2", "2024-06-10T22:30:00Z", [["p-b", 1, 4500]], { customerId: "ret1" }),
      // 00:30 BST on 11 June: not in the report.
      order("o3", "2024-06-10T23:30:00Z", [["p-b", 1, 9999]], { customerId: "new2" }),
      // A guest, with a 100 p discount line.
      order("o4", "2024-06-10T13:15:00Z", [["p-c", 3, 700]], { otherChargesCents: -100 }),
      order("o6", "2024-06-10T13:45:00Z", [["p-a", 1, 1500]], { customerId: "new1" }),
      event("order.placed", "2024-06-10T12:00:00Z", {
        orderId: "usd-1",
        currency: "USD",
        items: [{ productId: "p-u", quantity: 1, unitPriceCents: 5000 }],
      }),
      event("order.refunded", "2024-06-10T09:00:00Z", { orderId: "o1", amountCents: 700 }),
    ]);
    const { env: testEnv, sent } = recordingEnv();

    const run = await fireOne(cron, "2024-06-11T07:00:00Z", testEnv);

    expect(run.status).toBe("succeeded");
    const { result } = run;
    expect(result.date).toBe("2024-06-10");
    expect(result.window).toEqual({
      start: "2024-06-09T23:00:00.000Z",
      end: "2024-06-10T23:00:00.000Z",
    });
    // o1 2,300 + o2 4,500 + o4 2,000 + o6 1,500 = 10,300 p over 4 orders.
    expect(result.metrics).toEqual({
      totalRevenue: 10300,
      totalOrders: 4,
      averageOrderValue: 2575,
      newCustomers: 1,
      returningCustomers: 1,
      guestOrders: 1,
      refunds: { count: 1, totalCents: 700 },
      otherCurrencies: [{ currency: "USD", orders: 1, revenue: 5000 }],
    });
    expect(result.insights.topProducts).toEqual([
      { productId: "p-b", name: "Product p-b", revenue: 4500, quantity: 1 },
      { productId: "p-a", name: "Product p-a", revenue: 3500, quantity: 3 },
      { productId: "p-c", name: "Product p-c", revenue: 2100, quantity: 3 },
    ]);
    expect(result.insights.topSellingProduct.productId).toBe("p-b");
    // Local hours: 00 → 2,300; 14 → 3,500; 23 → 4,500.
    expect(result.insights.peakSalesHour).toEqual({
      hour: 23,
      label: "23:00–24:00",
      revenue: 4500,
    });
    expect(result.insights.customerRetentionRate).toBe(50);
    // (10,300 − 10,000) / 10,000 = 3 %.
    expect(result.insights.dayOverDayGrowth).toBe(3);
    expect(result.reportDetails).toMatchObject({
      reportId: "daily-2024-06-10",
      recipients: 1,
      emailsSent: 1,
    });

    expect(sent).toHaveLength(1);
    expect(sent[0]?.to).toBe("owner@example.test");
    expect(sent[0]?.text).toContain("Revenue: £103.00");
    const stored = await env.FILES.get("reports/daily/2024-06-10.html");
    expect(await stored?.text()).toContain("£103.00");
  });

  it("covers 25 hours on the day the clocks go back", async () => {
    await postEvents([
      order("in-1", "2024-10-26T23:30:00Z", [["p", 1, 100]]), // 00:30 BST, 27 Oct
      order("in-2", "2024-10-27T00:30:00Z", [["p", 1, 200]]), // 01:30 BST
      order("in-3", "2024-10-27T01:30:00Z", [["p", 1, 400]]), // 01:30 GMT, the second time
      order("in-4", "2024-10-27T23:30:00Z", [["p", 1, 800]]), // 23:30 GMT
      order("out", "2024-10-28T00:00:00Z", [["p", 1, 1600]]), // midnight, 28 Oct
    ]);
    const run = await fireOne(cron, "2024-10-28T08:00:00Z", recordingEnv().env);

    expect(run.result.window).toEqual({
      start: "2024-10-26T23:00:00.000Z",
      end: "2024-10-28T00:00:00.000Z",
    });
    expect(run.result.metrics.totalRevenue).toBe(1500);
    expect(run.result.metrics.totalOrders).toBe(4);
    // Both 01:30s are local hour 1: 200 + 400.
    expect(run.result.insights.peakSalesHour).toMatchObject({ hour: 23, revenue: 800 });
    expect(run.result.insights.dayOverDayGrowth).toBe("n/a");
    expect(run.result.insights.customerRetentionRate).toBeNull();
  });

  it("covers 23 hours on the day the clocks go forward", async () => {
    await postEvents([
      order("a", "2024-03-31T00:30:00Z", [["p", 1, 100]]), // 00:30 GMT
      order("b", "2024-03-31T01:30:00Z", [["p", 1, 200]]), // 02:30 BST
      order("c", "2024-03-31T22:59:00Z", [["p", 1, 400]]), // 23:59 BST
      order("d", "2024-03-31T23:00:00Z", [["p", 1, 800]]), // 00:00 BST, 1 April
    ]);
    const run = await fireOne(cron, "2024-04-01T07:00:00Z", recordingEnv().env);

    expect(run.result.window).toEqual({
      start: "2024-03-31T00:00:00.000Z",
      end: "2024-03-31T23:00:00.000Z",
    });
    expect(run.result.metrics.totalRevenue).toBe(700);
    expect(run.result.insights.peakSalesHour).toMatchObject({ hour: 23, revenue: 400 });
  });

  it("sends one report to a recipient listed twice in different case", async () => {
    await postEvents([order("x", "2024-06-10T10:00:00Z", [["p", 1, 100]])]);
    const { env: testEnv, sent } = recordingEnv({
      REPORT_RECIPIENTS: "owner@example.test, OWNER@example.test ,",
    });
    const run = await fireOne(cron, "2024-06-11T07:00:00Z", testEnv);
    expect(sent.map((mail) => mail.to)).toEqual(["owner@example.test"]);
    expect(run.result.reportDetails).toMatchObject({ recipients: 1, emailsSent: 1 });
  });

  it("e-mails a day's report once however often it runs", async () => {
    await postEvents([order("x", "2024-06-10T10:00:00Z", [["p", 1, 100]])]);
    const first = recordingEnv();
    const firstRun = await fireOne(cron, "2024-06-11T07:00:00Z", first.env);
    expect(firstRun.result.date).toBe("2024-06-10");
    // A second run later the same morning, past the slot claims, reports the same day.
    const second = recordingEnv();
    const again = await runDirectly("daily-sales-report", "2024-06-11T09:30:00Z", second.env);

    expect(first.sent).toHaveLength(1);
    expect(second.sent).toHaveLength(0);
    expect(again.result.reportDetails).toMatchObject({ emailsSent: 0, duplicatesPrevented: 1 });
  });
});
