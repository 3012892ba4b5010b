import { describe, expect, it } from "vitest";
import { categorize, categoryRules, fallbackCategory } from "../src/sample/categories";

describe("categories derived from online-retail descriptions", () => {
  it("matches whole words, so a T-LIGHT is lighting", () => {
    expect(categorize("WHITE HANGING HEART T-LIGHT HOLDER")).toBe("lighting");
    expect(categorize("WHITE METAL LANTERN")).toBe("lighting");
  });

  it("lets the first matching rule win", () => {
    // PAPER would make it stationery, but the season comes first.
    expect(categorize("PAPER CHAIN KIT 50'S CHRISTMAS ")).toBe("seasonal");
    // LUNCH would make it kitchen, but bags come first.
    expect(categorize("LUNCH BAG RED RETROSPOT")).toBe("bags");
    expect(categorize("POPPY'S PLAYHOUSE KITCHEN")).toBe("toys");
  });

  it("sorts common goods of the shop", () => {
    expect(categorize("JUMBO BAG RED RETROSPOT")).toBe("bags");
    expect(categorize("SET 7 BABUSHKA NESTING BOXES")).toBe("storage");
    expect(categorize("CREAM CUPID HEARTS COAT HANGER")).toBe("home-decor");
    expect(categorize("ANTIQUE OPAL WHITE FLOWER EARRINGS")).toBe("jewellery");
    expect(categorize("SAVE THE PLANET MUG")).toBe("kitchen");
    expect(categorize("CARD I LOVE LONDON ")).toBe("stationery");
  });

  it("does not match a word inside another word", () => {
    // STRING holds RING, CUPID holds CUP, BAGUETTE holds BAG: none of them counts.
    expect(categorize("STRING OF HEARTS")).toBe(fallbackCategory);
    expect(categorize("CUPID HEART")).toBe(fallbackCategory);
    expect(categorize("BAGUETTE DISH")).toBe(fallbackCategory);
  });

  it("falls back to gifts", () => {
    expect(categorize("KNITTED UNION FLAG HOT WATER BOTTLE")).toBe("gifts");
    expect(categorize("")).toBe("gifts");
  });

  it("has a short table of distinct categories", () => {
    const names = categoryRules.map((rule) => rule.category);
    expect(names.length).toBeGreaterThanOrEqual(10);
    expect(names.length).toBeLessThanOrEqual(15);
    expect(new Set(names).size).toBe(names.length);
    expect(names).not.toContain(fallbackCategory);
  });
});
