import { afterEach, describe, expect, it, vi } from "vitest";
import { log, maskAddressesIn, maskEmail } from "../src/lib/log";

afterEach(() => {
  vi.restoreAllMocks();
});

describe("logs never carry a customer's address", () => {
  it("masks an address to its first letter and domain", () => {
    expect(maskEmail("jane@example.test")).toBe("j***@example.test");
    expect(maskAddressesIn("newsletter:n-2024-06-10:jane.doe@example.test")).toBe(
      "newsletter:n-2024-06-10:j***@example.test",
    );
    expect(maskAddressesIn("email to bob@example.test not allowed")).toBe(
      "email to b***@example.test not allowed",
    );
    expect(maskAddressesIn("cart-reminder:A:stage-1")).toBe("cart-reminder:A:stage-1");
  });

  it("masks an address whose local part holds an apostrophe", () => {
    expect(maskAddressesIn("newsletter:n1:mary.o'connell@example.test")).toBe(
      "newsletter:n1:m***@example.test",
    );
  });

  it("masks addresses in every string field of a log line, nested ones too", () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => {
      lines.push(line);
    });
    log("info", "email.retry_done", {
      key: "newsletter:n1:victim@example.test",
      detail: { error: "rejected: ann@example.test" },
    });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("victim@");
    expect(lines[0]).not.toContain("ann@");
    expect(JSON.parse(lines[0] ?? "{}")).toMatchObject({
      key: "newsletter:n1:v***@example.test",
      detail: { error: "rejected: a***@example.test" },
    });
  });
});
