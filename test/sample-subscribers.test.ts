import { describe, expect, it } from "vitest";
import { deriveSubscribers, favouriteCategories } from "../src/sample/subscribers";

const spend = (entries: Array<[string, number]>) => new Map(entries);

describe("interests of derived subscribers", () => {
  it("keeps the three categories with the most revenue, most first", () => {
    const bought = spend([
      ["kitchen", 1_200],
      ["lighting", 5_000],
      ["bags", 300],
      ["seasonal", 2_500],
    ]);
    expect(favouriteCategories(bought, new Map())).toEqual(["lighting", "seasonal", "kitchen"]);
  });

  it("breaks ties by name", () => {
    const bought = spend([
      ["toys", 100],
      ["bags", 100],
      ["kitchen", 100],
      ["garden", 100],
    ]);
    expect(favouriteCategories(bought, new Map())).toEqual(["bags", "garden", "kitchen"]);
  });

  it("uses the carts only when nothing was bought", () => {
    const carted = spend([["electronics", 52_428]]);
    expect(favouriteCategories(new Map(), carted)).toEqual(["electronics"]);
    expect(favouriteCategories(spend([["apparel", 1]]), carted)).toEqual(["apparel"]);
    expect(favouriteCategories(new Map(), new Map())).toEqual([]);
  });

  it("makes one derived subscription per customer at their placeholder address", () => {
    const [event, ...rest] = deriveSubscribers([
      {
        eventId: "or-subscriber-17850",
        email: "customer-17850@example.test",
        since: Date.parse("2010-12-01T08:26:00Z"),
        bought: spend([["lighting", 5_000]]),
        carted: new Map(),
      },
    ]);
    expect(rest).toEqual([]);
    expect(event).toEqual({
      id: "or-subscriber-17850",
      type: "subscriber.subscribed",
      occurredAt: "2010-12-01T08:26:00.000Z",
      data: { email: "customer-17850@example.test", categories: ["lighting"], derived: true },
    });
  });
});
