import { describe, expect, it } from "vitest";
import {
  cartReminder,
  cartTemplateNames,
  type ReminderContent,
  subjectSafe,
} from "../src/email/templates/cart-reminder";

const recoveryLink = "https://shop.example/links/cart/c1?token=t1";
const unsubscribeLink = "https://shop.example/links/unsubscribe?token=u1";

/** 2 × £12.50 + 1 × £4.99 = £25.00 + £4.99 = £29.99. */
function content(overrides: Partial<ReminderContent> = {}): ReminderContent {
  return {
    template: "cart-reminder-1",
    storeName: "Sample Shop",
    firstName: "Zoë",
    timeZone: "Europe/London",
    cart: {
      currency: "GBP",
      totalCents: 2999,
      items: [
        { name: "Mug", quantity: 2, unitPriceCents: 1250, inStock: true },
        { name: "Tea towel", quantity: 1, unitPriceCents: 499, inStock: null },
      ],
    },
    recoveryLink,
    unsubscribeLink,
    discount: null,
    ...overrides,
  };
}

/** The subject of a reminder built from `content` with these changes. */
async function subjectOf(overrides: Partial<ReminderContent>): Promise<string> {
  return (await cartReminder(content(overrides))).subject;
}

const summer10 = { code: "SUMMER10", percentOff: 10, expiresAt: Date.UTC(2024, 5, 11, 9, 0) };

describe("cart reminder template", () => {
  it("escapes a hostile product name, first name and store name in the HTML", async () => {
    const message = await cartReminder(
      content({
        firstName: "<img src=x onerror=alert(1)>",
        storeName: "Fish & Chips",
        cart: {
          currency: "GBP",
          totalCents: 499,
          items: [
            { name: 'Tom & Jerry "Mug" <b>', quantity: 1, unitPriceCents: 499, inStock: true },
          ],
        },
      }),
    );

    expect(message.html).toContain("1 × Tom &amp; Jerry &quot;Mug&quot; &lt;b&gt;");
    expect(message.html).toContain("Hello &lt;img src=x onerror=alert(1)&gt;,");
    expect(message.html).toContain("Fish &amp; Chips");
    expect(message.html).not.toContain("<b>");
    expect(message.html).not.toContain("<img");
  });

  it("keeps a link with quotes and ampersands inside its href", async () => {
    const message = await cartReminder(
      content({ recoveryLink: `https://shop.example/links/cart/c1?token=a"b&x='y'` }),
    );

    expect(message.html).toContain(
      'href="https://shop.example/links/cart/c1?token=a&quot;b&amp;x=&#39;y&#39;"',
    );
    expect(message.html).not.toContain('a"b');
  });

  it("refuses a link that is not http(s)", async () => {
    await expect(cartReminder(content({ recoveryLink: "javascript:alert(1)" }))).rejects.toThrow(
      /http\(s\)/,
    );
  });

  it("writes raw names and no markup in the plain text", async () => {
    const message = await cartReminder(
      content({
        firstName: "<i>Ann</i>",
        cart: {
          currency: "GBP",
          totalCents: 499,
          items: [
            { name: 'Tom & Jerry "Mug" <b>', quantity: 1, unitPriceCents: 499, inStock: true },
          ],
        },
      }),
    );

    expect(message.text).toContain("Hello <i>Ann</i>,");
    expect(message.text).toContain('- 1 × Tom & Jerry "Mug" <b>: £4.99');
    expect(message.text).not.toContain("&amp;");
    expect(message.text).not.toMatch(/<(p|a|table|strong|html)\b/);
  });

  it("greets by first name when known, else plainly", async () => {
    expect((await cartReminder(content())).text.split("\n")[0]).toBe("Hello Zoë,");
    expect((await cartReminder(content({ firstName: null }))).text.split("\n")[0]).toBe("Hello,");
    expect((await cartReminder(content({ firstName: " \r\n " }))).html).toContain("<p>Hello,</p>");
  });

  it("shows each line price as quantity × unit price, and the cart total", async () => {
    const message = await cartReminder(content());

    expect(message.text).toContain("- 2 × Mug: £25.00\n- 1 × Tea towel: £4.99\nTotal: £29.99");
    expect(message.html).toContain("<td>2 × Mug</td><td>£25.00</td>");
    expect(message.html).toContain("<td>1 × Tea towel</td><td>£4.99</td>");
    expect(message.html).toContain("<strong>£29.99</strong>");
  });

  it("shows yen without decimals", async () => {
    // 3 × ¥1,200 + 1 × ¥500 = ¥4,100; yen have no minor unit, so 1200 means ¥1,200.
    const message = await cartReminder(
      content({
        cart: {
          currency: "JPY",
          totalCents: 4100,
          items: [
            { name: "Tenugui", quantity: 3, unitPriceCents: 1200, inStock: true },
            { name: "Chopsticks", quantity: 1, unitPriceCents: 500, inStock: true },
          ],
        },
      }),
    );

    expect(message.text).toContain("- 3 × Tenugui: JP¥3,600\n- 1 × Chopsticks: JP¥500");
    expect(message.text).toContain("Total: JP¥4,100");
    expect(message.text).not.toContain("JP¥3,600.00");
  });

  it("marks only the items known to be out of stock as sold out", async () => {
    const message = await cartReminder(
      content({
        cart: {
          currency: "GBP",
          totalCents: 4499,
          items: [
            { name: "Mug", quantity: 2, unitPriceCents: 1250, inStock: true },
            { name: "Tea towel", quantity: 1, unitPriceCents: 499, inStock: false },
            { name: "Apron", quantity: 1, unitPriceCents: 1500, inStock: null },
          ],
        },
      }),
    );

    expect(message.text).toContain(
      "- 2 × Mug: £25.00\n- 1 × Tea towel (sold out): £4.99\n- 1 × Apron: £15.00",
    );
    expect(message.html).toContain("<td>1 × Tea towel (sold out)</td>");
    expect(message.html.match(/\(sold out\)/g)).toHaveLength(1);
  });

  it("gives each template its own subject", async () => {
    const subjects = await Promise.all(
      cartTemplateNames.map((template) => subjectOf({ template })),
    );

    expect(subjects).toEqual([
      "Zoë, you left something in your cart at Sample Shop",
      "Still thinking it over, Zoë? Your cart at Sample Shop is saved",
      "Last chance, Zoë: your cart at Sample Shop is still waiting",
    ]);
  });

  it("leaves the name out of the subject when it is unknown", async () => {
    const subjects = await Promise.all(
      cartTemplateNames.map((template) => subjectOf({ template, firstName: null })),
    );

    expect(subjects).toEqual([
      "You left something in your cart at Sample Shop",
      "Still thinking it over? Your cart at Sample Shop is saved",
      "Last chance: your cart at Sample Shop is still waiting",
    ]);
  });

  it("names the discount in the final subject", async () => {
    const final = { template: "cart-reminder-final", discount: summer10 } as const;

    expect(await subjectOf({ ...final, firstName: "Zoë" })).toBe(
      "Last chance, Zoë: 10% off your cart at Sample Shop",
    );
    expect(await subjectOf({ ...final, firstName: null })).toBe(
      "Last chance: 10% off your cart at Sample Shop",
    );
  });

  it("keeps non-ASCII and emoji in the subject", async () => {
    const message = await cartReminder(content({ firstName: "Zoë 🎉", storeName: "Café José ☕" }));

    expect(message.subject).toBe("Zoë 🎉, you left something in your cart at Café José ☕");
  });

  it("keeps a header injected through the first name out of the subject", async () => {
    const message = await cartReminder(content({ firstName: "Ann\r\nBcc: evil@example.test" }));

    expect(message.subject).not.toMatch(/[\r\n]/);
    expect(message.subject).toBe(
      "Ann Bcc: evil@example.test, you left something in your cart at Sample Shop",
    );
  });

  it("caps an overlong first name without splitting an emoji", async () => {
    const message = await cartReminder(content({ firstName: "😀".repeat(45) }));

    // 39 emoji and the ellipsis make 40 characters.
    expect(message.subject).toBe(
      `${"😀".repeat(39)}…, you left something in your cart at Sample Shop`,
    );
    expect(message.subject).not.toMatch(/\p{Cs}/u);
  });

  it("shows the discount code, percent off and local expiry in the final reminder", async () => {
    // 09:00 UTC on 11 June 2024 is 10:00 in London, on summer time (BST, UTC+1).
    const message = await cartReminder(
      content({ template: "cart-reminder-final", discount: summer10 }),
    );

    expect(message.html).toMatch(/<strong[^>]*>SUMMER10<\/strong>\s+for 10% off/);
    expect(message.html).toContain("valid until 11 June 2024, 10:00 BST");
    expect(message.text).toContain(
      "Use code SUMMER10 for 10% off, valid until 11 June 2024, 10:00 BST.",
    );
  });

  it("shows the expiry in the given zone, on the local date", async () => {
    // 23:30 UTC on 1 December is 23:30 GMT in London, and 08:30 on 2 December in Tokyo (UTC+9).
    const discount = { ...summer10, expiresAt: Date.UTC(2024, 11, 1, 23, 30) };
    const london = await cartReminder(content({ discount }));
    const tokyo = await cartReminder(content({ discount, timeZone: "Asia/Tokyo" }));

    expect(london.text).toContain("valid until 1 December 2024, 23:30 GMT.");
    expect(tokyo.text).toContain("valid until 2 December 2024, 08:30 GMT+9.");
  });

  it("shows a discount given to an earlier reminder, and none when there is none", async () => {
    const withDiscount = await cartReminder(content({ discount: summer10 }));
    const without = await cartReminder(content({ template: "cart-reminder-final" }));

    expect(withDiscount.text).toContain("Use code SUMMER10 for 10% off");
    expect(withDiscount.html).toContain(">SUMMER10</strong>");
    expect(without.text).not.toContain("Use code");
    expect(without.html).not.toContain("Use code");
  });

  it("carries the recovery and unsubscribe links in both parts", async () => {
    for (const template of cartTemplateNames) {
      const message = await cartReminder(content({ template }));

      expect(message.html).toContain(`href="${recoveryLink}"`);
      expect(message.html).toContain(`href="${unsubscribeLink}"`);
      expect(message.text).toContain(recoveryLink);
      expect(message.text).toContain(`Unsubscribe: ${unsubscribeLink}`);
    }
  });
});

describe("subjectSafe", () => {
  it("turns line breaks and control characters into single spaces, trimmed", () => {
    expect(subjectSafe("a\u2028b\u2029c")).toBe("a b c");
    expect(subjectSafe("\u0000x\u0007\u007f\u0085y\t\tz \r\n")).toBe("x y z");
  });

  it("leaves non-ASCII and emoji alone", () => {
    expect(subjectSafe("José Zoë 🎉")).toBe("José Zoë 🎉");
  });

  it("drops bidi overrides and invisible characters but keeps emoji joiners", () => {
    // U+202E would show "evil.exe moc.elpmaxe" reversed; U+200B, U+FEFF, U+2066/2069 are unseen.
    expect(subjectSafe("\u202Eevil.exe\u200B \uFEFFmoc\u2066x\u2069")).toBe("evil.exe mocx");
    // 👩‍💻 is U+1F469 U+200D U+1F4BB.
    expect(subjectSafe("Ada 👩\u200D💻")).toBe("Ada 👩\u200D💻");
  });
});

describe("product names in the body", () => {
  it("keeps a product name on its own line item, cut at 120 characters", async () => {
    const phishing =
      "Plate\n\nYour account is locked, log in at http://evil.test/login\r\nX-Injected: 1";
    const long = "L".repeat(200);
    const message = await cartReminder(
      content({
        cart: {
          currency: "GBP",
          totalCents: 800,
          items: [
            { name: phishing, quantity: 1, unitPriceCents: 500, inStock: null },
            { name: long, quantity: 1, unitPriceCents: 300, inStock: null },
          ],
        },
      }),
    );
    const lines = message.text.split("\n");
    expect(lines).toContain(
      "- 1 × Plate Your account is locked, log in at http://evil.test/login X-Injected: 1: £5.00",
    );
    expect(lines.filter((line) => line.startsWith("Your account"))).toEqual([]);
    expect(message.text).not.toContain("\r");
    // 119 characters and an ellipsis.
    expect(lines).toContain(`- 1 × ${"L".repeat(119)}…: £3.00`);
  });
});
