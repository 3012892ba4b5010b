import { describe, expect, it } from "vitest";
import { parseAmount } from "../src/sample/money";

describe("reading prices as integer minor units", () => {
  it("reads two, one and no decimals exactly", () => {
    expect(parseAmount("2.55")).toEqual({ cents: 255, rounded: false });
    expect(parseAmount("4.65")).toEqual({ cents: 465, rounded: false });
    expect(parseAmount("27.5")).toEqual({ cents: 2750, rounded: false });
    expect(parseAmount("18")).toEqual({ cents: 1800, rounded: false });
    expect(parseAmount("2574.07")).toEqual({ cents: 257407, rounded: false });
  });

  it("keeps the sign of the bad-debt adjustments", () => {
    expect(parseAmount("-11062.06")).toEqual({ cents: -1106206, rounded: false });
  });

  it("rounds digits below a penny half away from zero and says so", () => {
    // The four 0.001 prices of the data (PADS and BANK CHARGES lines).
    expect(parseAmount("0.001")).toEqual({ cents: 0, rounded: true });
    expect(parseAmount("0.005")).toEqual({ cents: 1, rounded: true });
    expect(parseAmount("1.999")).toEqual({ cents: 200, rounded: true });
    expect(parseAmount("-0.005")).toEqual({ cents: -1, rounded: true });
    expect(parseAmount("1.2500")).toEqual({ cents: 125, rounded: false });
  });

  it("refuses text that is not a plain decimal", () => {
    expect(parseAmount("")).toBeUndefined();
    expect(parseAmount("£2.55")).toBeUndefined();
    expect(parseAmount("1e3")).toBeUndefined();
  });
});
