import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { signLink } from "../src/links";
import { processWork } from "../src/queue/consumer";
import { utcCrons } from "../src/schedule/utc-crons.generated";
import { capturingQueue, faultyMail } from "./helpers/faults";
import {
  api,
  event,
  fireOne,
  postEvents,
  recordingEnv,
  runDirectly,
  type SentEmail,
} from "./helpers/worker";

const cron = utcCrons["abandoned-cart-recovery"] ?? "";
const hour = 3_600_000;
const day = 24 * hour;

const customer = (customerId: string, email: string, firstName?: string) =>
  event("customer.upserted", "2024-06-01T00:00:00Z", {
    customerId,
    email,
    marketingConsent: true,
    firstName,
  });
const cart = (cartId: string, at: string, extra: Record<string, unknown>) =>
  event("cart.updated", at, {
    cartId,
    currency: "GBP",
    items: [{ productId: "mug", name: "Mug", quantity: 2, unitPriceCents: 1250 }],
    ...extra,
  });
/** 2 × 1250 + shipping 399 = 2899 pence unless the items say otherwise. */
const order = (orderId: string, at: string, extra: Record<string, unknown>) =>
  event("order.placed", at, {
    orderId,
    currency: "GBP",
    items: [{ productId: "mug", quantity: 2, unitPriceCents: 1250 }],
    shippingCents: 399,
    ...extra,
  });

async function post(events: unknown[], testEnv?: Env) {
  const { status, body } = await postEvents(events, testEnv);
  expect(body.rejected).toEqual([]);
  expect(status).toBe(200);
}

interface ReminderRow {
  cartId: string;
  stage: number;
  template: string;
  recipient: string;
  customerId: string | null;
  remindedAt: number;
  runId: number | null;
  linkId: string;
  discountCode: string | null;
  clicks: number;
  firstClickedAt: number | null;
}

async function reminders(): Promise<ReminderRow[]> {
  const { results } = await env.DB.prepare(
    `SELECT cart_id AS cartId, stage, template, recipient, customer_id AS customerId,
       reminded_at AS remindedAt, run_id AS runId, link_id AS linkId,
       discount_code AS discountCode, clicks, first_clicked_at AS firstClickedAt
     FROM cart_reminders ORDER BY cart_id, stage`,
  ).all<ReminderRow>();
  return results;
}

/** The token of the recovery link in an e-mail; the HTML must carry the same link. */
function recoveryToken(mail: SentEmail | undefined): string {
  const token = /http:\/\/localhost:8787\/r\/([\w.-]+)/.exec(mail?.text ?? "")?.[1];
  if (!token) throw new Error("no recovery link in the e-mail");
  expect(mail?.html).toContain(`href="http://localhost:8787/r/${token}"`);
  return token;
}

function base64UrlDecode(part: string): string {
  const b64 = part.replaceAll("-", "+").replaceAll("_", "/");
  return atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, "="));
}

function base64UrlEncode(text: string): string {
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function payloadOf(token: string): Record<string, unknown> {
  return JSON.parse(base64UrlDecode(token.split(".")[1] ?? ""));
}

const base64UrlAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The string with its `index`-th character replaced by another base64url character. */
function changeChar(text: string, index: number): string {
  const replacement = text[index] === "A" ? "B" : "A";
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

/** A friendly HTML page: the message, a way back to the shop, no JSON, no stack trace. */
async function expectPage(response: Response, status: number, message: string) {
  expect(response.status).toBe(status);
  expect(response.headers.get("Content-Type")).toContain("text/html");
  expect(response.headers.get("Location")).toBeNull();
  const body = await response.text();
  expect(body).toContain(message);
  expect(body).toContain('<a href="https://shop.example.test">Go to Sample Gift Shop</a>');
  expect(body).not.toMatch(/"error"|stack|Error|at \w+ \(/);
}

interface StageImpact {
  stage: number;
  template: string;
  reminded: number;
  clicked: number;
  recovered: number;
  recoveredRevenue: Record<string, number>;
}

interface ImpactBody {
  from: string;
  to: string;
  timeZone: string;
  attributionDays: number;
  stages: StageImpact[];
  total: Omit<StageImpact, "stage" | "template">;
}

/** The stages of an impact answer that sent anything (it lists every configured stage). */
function sentStages(body: ImpactBody): StageImpact[] {
  return body.stages.filter((stage) => stage.reminded > 0);
}

async function impact(query: string) {
  const response = await api(`/api/tasks/abandoned-cart-recovery/impact?${query}`);
  return { status: response.status, body: (await response.json()) as ImpactBody };
}

async function recoveries() {
  const { results } = await env.DB.prepare(
    `SELECT order_id AS orderId, cart_id AS cartId, stage, currency, amount_cents AS amountCents,
       reminded_at AS remindedAt, ordered_at AS orderedAt
     FROM cart_recoveries ORDER BY order_id`,
  ).all();
  return results;
}

describe("recovery links", () => {
  /** Ann's cart, idle since 10:00 UTC (11:00 in London), gets its first reminder at 12:00. */
  async function remindAnn() {
    await post([
      customer("cust-ann", "ann@example.test", "Ann"),
      cart("cart-ann-1", "2024-06-10T10:00:00Z", { customerId: "cust-ann" }),
    ]);
    const { env: testEnv, sent } = recordingEnv();
    const before = Date.now();
    const run = await fireOne(cron, "2024-06-10T12:00:00Z", testEnv);
    const after = Date.now();
    expect(run.result.summary.emailsSent).toBe(1);
    expect(sent.map((mail) => mail.to)).toEqual(["ann@example.test"]);
    return { token: recoveryToken(sent[0]), before, after };
  }

  it("redirects to the cart and counts a click, but not a HEAD", async () => {
    const { token } = await remindAnn();
    expect(await reminders()).toMatchObject([{ cartId: "cart-ann-1", stage: 1, clicks: 0 }]);

    const clickedFrom = Date.now();
    const followed = await api(`/r/${token}`, { redirect: "manual" });
    const clickedTo = Date.now();
    expect(followed.status).toBe(302);
    expect(followed.headers.get("Location")).toBe("https://shop.example.test/cart/cart-ann-1");
    const [first] = await reminders();
    expect(first?.clicks).toBe(1);
    expect(first?.firstClickedAt).toBeGreaterThanOrEqual(clickedFrom);
    expect(first?.firstClickedAt).toBeLessThanOrEqual(clickedTo);

    // A link checker's HEAD gets the same redirect, and is no click.
    const head = await api(`/r/${token}`, { method: "HEAD", redirect: "manual" });
    expect(head.status).toBe(302);
    expect(head.headers.get("Location")).toBe("https://shop.example.test/cart/cart-ann-1");
    expect((await reminders())[0]?.clicks).toBe(1);

    // A second click counts; the first click's time stays.
    const again = await api(`/r/${token}`, { redirect: "manual" });
    expect(again.status).toBe(302);
    const [second] = await reminders();
    expect(second?.clicks).toBe(2);
    expect(second?.firstClickedAt).toBe(first?.firstClickedAt);
  });

  it("signs a random link id, never the cart, the customer or the address", async () => {
    const { token, before, after } = await remindAnn();
    const [header, , signature] = token.split(".");
    expect(JSON.parse(base64UrlDecode(header ?? ""))).toEqual({ alg: "HS256", typ: "JWT" });
    expect(signature).toMatch(/^[\w-]{43}$/);

    const payload = payloadOf(token);
    expect(Object.keys(payload).sort()).toEqual(["exp", "iat", "purpose", "sub"]);
    expect(payload.purpose).toBe("cart-recovery");
    const [row] = await reminders();
    expect(payload.sub).toBe(row?.linkId);
    expect(payload.sub).toMatch(/^[\w-]{22}$/);
    const decoded = JSON.stringify(payload);
    for (const secret of ["cart-ann-1", "cust-ann", "ann@example.test", "@"]) {
      expect(decoded).not.toContain(secret);
    }
    // Valid 14 days from the real time of sending, not from the 2024 slot.
    const iat = payload.iat as number;
    const exp = payload.exp as number;
    expect(iat).toBeGreaterThanOrEqual(Math.floor(before / 1000));
    expect(iat).toBeLessThanOrEqual(Math.floor(after / 1000));
    expect(exp).toBeGreaterThanOrEqual(Math.floor((before + 14 * day) / 1000));
    expect(exp).toBeLessThanOrEqual(Math.floor((after + 14 * day) / 1000));
  });

  it("answers a tampered or forged token with a friendly 400 page", async () => {
    const { token } = await remindAnn();
    const [header = "", payload = "", signature = ""] = token.split(".");

    const signatureChanged = `${header}.${payload}.${changeChar(signature, 10)}`;
    await expectPage(await api(`/r/${signatureChanged}`), 400, "This cart link is not valid.");
    // 32 bytes in 43 characters: the last one has 2 unused bits. Setting one spells the same
    // signature differently, which is refused as well.
    const last = base64UrlAlphabet.indexOf(signature.at(-1) ?? "");
    expect(last % 4).toBe(0);
    const respelt = `${signature.slice(0, -1)}${base64UrlAlphabet[last + 1]}`;
    const lastChanged = `${header}.${payload}.${respelt}`;
    await expectPage(await api(`/r/${lastChanged}`), 400, "This cart link is not valid.");

    const payloadChanged = `${header}.${changeChar(payload, 40)}.${signature}`;
    await expectPage(await api(`/r/${payloadChanged}`), 400, "This cart link is not valid.");
    // Someone else's link id in the payload, the original signature kept.
    const otherSub = base64UrlEncode(JSON.stringify({ ...payloadOf(token), sub: "someone-else" }));
    await expectPage(
      await api(`/r/${header}.${otherSub}.${signature}`),
      400,
      "This cart link is not valid.",
    );

    // Signed with another secret; and a token that is no JWT at all.
    const [row] = await reminders();
    const now = Date.now();
    const forged = await signLink(
      "not-the-secret",
      "cart-recovery",
      row?.linkId ?? "",
      now,
      now + day,
    );
    await expectPage(await api(`/r/${forged}`), 400, "This cart link is not valid.");
    await expectPage(await api("/r/not-a-token"), 400, "This cart link is not valid.");

    // None of these was a click.
    expect((await reminders())[0]?.clicks).toBe(0);
  });

  it("answers a forged token that claims to have expired with 400, not 410", async () => {
    await remindAnn();
    const [row] = await reminders();
    const now = Date.now();
    const forged = await signLink(
      "not-the-secret",
      "cart-recovery",
      row?.linkId ?? "",
      now - 20 * day,
      now - day,
    );
    await expectPage(await api(`/r/${forged}`), 400, "This cart link is not valid.");
  });

  it("answers an expired link with 410, an unknown link id with 404", async () => {
    await remindAnn();
    const [row] = await reminders();
    const now = Date.now();
    const expired = await signLink(
      env.LINK_SECRET,
      "cart-recovery",
      row?.linkId ?? "",
      now - 20 * day,
      now - 6 * day,
    );
    await expectPage(
      await api(`/r/${expired}`),
      410,
      "This cart link has expired. Your cart may still be in the shop.",
    );

    const unknown = await signLink(
      env.LINK_SECRET,
      "cart-recovery",
      "no-such-link",
      now,
      now + day,
    );
    await expectPage(await api(`/r/${unknown}`), 404, "This cart link is no longer known.");
    expect((await reminders())[0]?.clicks).toBe(0);
  });

  it("refuses a token signed for another purpose", async () => {
    await remindAnn();
    const [row] = await reminders();
    const now = Date.now();
    const unsubscribe = await signLink(env.LINK_SECRET, "unsubscribe", row?.linkId ?? "", now);
    await expectPage(await api(`/r/${unsubscribe}`), 400, "This cart link is not valid.");
    const withExpiry = await signLink(
      env.LINK_SECRET,
      "unsubscribe",
      row?.linkId ?? "",
      now,
      now + day,
    );
    await expectPage(await api(`/r/${withExpiry}`), 400, "This cart link is not valid.");

    // And the other way round: a cart link does not unsubscribe anyone.
    const cartLink = await signLink(env.LINK_SECRET, "cart-recovery", "ann@example.test", now);
    const page = await api(`/unsubscribe?token=${cartLink}`);
    expect(page.status).toBe(400);
    expect(await page.text()).toContain("This unsubscribe link is not valid.");
    expect((await reminders())[0]?.clicks).toBe(0);
  });
});

describe("discount codes", () => {
  const codePattern = /^COMEBACK-[0-9A-HJKMNP-TV-Z]{10}$/;

  /**
   * Kim's and Lee's carts, idle since 2024-06-07 10:00 UTC, are 72 h idle at the 2024-06-10
   * 10:00 UTC slot (11:00 in London): that run sends the final stage only.
   */
  async function finalReminders() {
    await post([
      customer("cust-kim", "kim@example.test", "Kim"),
      event("cart.updated", "2024-06-07T10:00:00Z", {
        cartId: "K",
        customerId: "cust-kim",
        currency: "GBP",
        items: [{ productId: "lamp", name: "Lamp", quantity: 1, unitPriceCents: 4000 }],
      }),
      cart("L", "2024-06-07T10:00:00Z", { email: "lee@example.test" }),
    ]);
    const { env: testEnv, sent } = recordingEnv();
    const before = Date.now();
    const run = await fireOne(cron, "2024-06-10T10:00:00Z", testEnv);
    const after = Date.now();
    const { results: codes } = await env.DB.prepare(
      `SELECT code, cart_id AS cartId, email_key AS emailKey, percent_off AS percentOff,
         created_at AS createdAt, expires_at AS expiresAt, redeemed_at AS redeemedAt,
         redeemed_order_id AS redeemedOrderId
       FROM discount_codes ORDER BY cart_id`,
    ).all<{
      code: string;
      cartId: string;
      emailKey: string;
      percentOff: number;
      createdAt: number;
      expiresAt: number;
      redeemedAt: number | null;
      redeemedOrderId: string | null;
    }>();
    const mailTo = (to: string) => sent.find((mail) => mail.to === to);
    return {
      run,
      sent,
      codes,
      before,
      after,
      kim: mailTo("kim@example.test"),
      lee: mailTo("lee@example.test"),
    };
  }

  it("gives each final reminder its own 10% code, valid 7 days from the real send", async () => {
    const { run, sent, codes, before, after, kim, lee } = await finalReminders();
    expect(run.result.summary.emailsSent).toBe(2);
    expect(run.result.details.emailTemplatesUsed).toEqual({ "cart-reminder-final": 2 });
    expect(
      run.result.details.stages.map((s: { due: number; sent: number }) => [s.due, s.sent]),
    ).toEqual([
      [0, 0],
      [0, 0],
      [2, 2],
    ]);
    expect(sent).toHaveLength(2);
    // Stage 3 only: no reminder rows for stages 1 and 2.
    const rows = await reminders();
    expect(rows.map((r) => [r.cartId, r.stage, r.template])).toEqual([
      ["K", 3, "cart-reminder-final"],
      ["L", 3, "cart-reminder-final"],
    ]);

    expect(codes.map((c) => c.cartId)).toEqual(["K", "L"]);
    const [kimCode, leeCode] = codes;
    if (!kimCode || !leeCode) throw new Error("two codes expected");
    expect(kimCode.code).toMatch(codePattern);
    expect(leeCode.code).toMatch(codePattern);
    expect(kimCode.code).not.toBe(leeCode.code);
    for (const code of codes) {
      expect(code.percentOff).toBe(10);
      expect(code.emailKey).toBe(`cart-reminder:${code.cartId}:2024-06-07T10:00:00.000Z:stage-3`);
      expect(code.createdAt).toBeGreaterThanOrEqual(before);
      expect(code.createdAt).toBeLessThanOrEqual(after);
      expect(code.expiresAt).toBe(code.createdAt + 7 * day);
      expect(code.redeemedAt).toBeNull();
      expect(code.redeemedOrderId).toBeNull();
    }
    expect(rows.map((r) => r.discountCode)).toEqual([kimCode.code, leeCode.code]);

    // Each e-mail shows its own code, in HTML and text, and not the other's.
    expect(kim?.subject).toBe("Last chance, Kim: 10% off your cart at Sample Gift Shop");
    expect(lee?.subject).toBe("Last chance: 10% off your cart at Sample Gift Shop");
    for (const [mail, own, other] of [
      [kim, kimCode.code, leeCode.code],
      [lee, leeCode.code, kimCode.code],
    ] as const) {
      expect(mail?.html).toContain(`>${own}</strong>`);
      expect(mail?.html).toContain("for 10% off, valid until");
      expect(mail?.text).toMatch(
        new RegExp(`Use code ${own} for 10% off, valid until \\d{1,2} \\w+ \\d{4}, \\d\\d:\\d\\d`),
      );
      expect(mail?.text).not.toContain(other);
      expect(mail?.html).not.toContain(other);
    }
    expect(lee?.text).toContain("Total: £25.00");
    expect(kim?.text).toContain("Total: £40.00");
  });

  it("carries the code in the final reminder's redirect", async () => {
    const { codes, kim, lee } = await finalReminders();
    const leeLink = await api(`/r/${recoveryToken(lee)}`, { redirect: "manual" });
    expect(leeLink.status).toBe(302);
    expect(leeLink.headers.get("Location")).toBe(
      `https://shop.example.test/cart/L?discount=${codes[1]?.code}`,
    );
    const kimLink = await api(`/r/${recoveryToken(kim)}`, { redirect: "manual" });
    expect(kimLink.headers.get("Location")).toBe(
      `https://shop.example.test/cart/K?discount=${codes[0]?.code}`,
    );
  });

  it("redeems a code once, for one order", async () => {
    const { codes } = await finalReminders();
    const code = codes[0]?.code ?? "";
    const redeem = (typed: string, json: unknown) =>
      api(`/api/discounts/${typed}/redeem`, { method: "POST", json });

    const valid = await api(`/api/discounts/${code}`);
    expect(valid.status).toBe(200);
    expect(await valid.json()).toEqual({
      code,
      percentOff: 10,
      expiresAt: new Date(codes[0]?.expiresAt ?? 0).toISOString(),
      redeemedAt: null,
      redeemedOrderId: null,
      state: "valid",
    });

    // Typed in lower case: the same code.
    const before = Date.now();
    const first = await redeem(code.toLowerCase(), { orderId: "order-1" });
    const after = Date.now();
    expect(first.status).toBe(200);
    const used = (await first.json()) as Record<string, unknown>;
    expect(used).toMatchObject({ code, percentOff: 10, state: "used" });
    expect(used.redeemedOrderId).toBe("order-1");
    const redeemedAt = Date.parse(String(used.redeemedAt));
    expect(redeemedAt).toBeGreaterThanOrEqual(before);
    expect(redeemedAt).toBeLessThanOrEqual(after);

    // The same order again (a checkout retrying): done, nothing changes.
    const again = await redeem(code, { orderId: "order-1" });
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(used);

    // Another order: refused, and the code still belongs to the first.
    const other = await redeem(code, { orderId: "order-2" });
    expect(other.status).toBe(409);
    const conflict = (await other.json()) as { error: { code: string; message: string } };
    expect(conflict.error.code).toBe("conflict");
    expect(conflict.error.message).toContain(code);
    const state = await api(`/api/discounts/${code.toLowerCase()}`);
    expect(await state.json()).toEqual(used);
  });

  it("lets the first order that names a code redeem it, once, before it expires", async () => {
    const { codes } = await finalReminders();
    const [kimCode, leeCode] = codes.map((c) => c.code);
    const now = Date.now();
    const at = (offsetMs: number) => new Date(now + offsetMs).toISOString();
    // Two orders of one request use Kim's code (typed in lower case): the earlier one has it.
    // Lee's code is used after its expiry, moved into the past here. An order dated before a
    // code was issued cannot have used it: o-early redeems nothing.
    await env.DB.prepare("UPDATE discount_codes SET expires_at = ? WHERE code = ?")
      .bind(now - 60_000, leeCode ?? "")
      .run();
    await post([
      order("o-early", at(-3_600_000), { email: "e@example.test", discountCode: kimCode }),
      order("o-late", at(2_000), { email: "x@example.test", discountCode: kimCode }),
      order("o-first", at(1_000), {
        customerId: "cust-kim",
        discountCode: ` ${kimCode?.toLowerCase()} `,
      }),
      order("o-lee", at(1_000), { email: "lee@example.test", discountCode: leeCode }),
    ]);
    const kim = await api(`/api/discounts/${kimCode}`);
    expect(await kim.json()).toMatchObject({
      state: "used",
      redeemedOrderId: "o-first",
      redeemedAt: at(1_000),
    });
    const lee = await api(`/api/discounts/${leeCode}`);
    expect(await lee.json()).toMatchObject({ state: "expired", redeemedOrderId: null });
    // A later order with the used code changes nothing.
    await post([order("o-again", at(3_000), { email: "y@example.test", discountCode: kimCode })]);
    expect(await (await api(`/api/discounts/${kimCode}`)).json()).toMatchObject({
      redeemedOrderId: "o-first",
    });
  });

  it("refuses an expired code with 410 and an unknown one with 404", async () => {
    const { codes } = await finalReminders();
    const code = codes[1]?.code ?? "";
    const lower = await api(`/api/discounts/${code.toLowerCase()}`);
    expect(lower.status).toBe(200);
    expect(await lower.json()).toMatchObject({ code, state: "valid" });

    await env.DB.prepare("UPDATE discount_codes SET expires_at = ? WHERE code = ?")
      .bind(Date.now() - 1000, code)
      .run();
    const expired = await api(`/api/discounts/${code}/redeem`, {
      method: "POST",
      json: { orderId: "order-1" },
    });
    expect(expired.status).toBe(410);
    expect(((await expired.json()) as { error: { code: string } }).error.code).toBe("gone");
    const view = await api(`/api/discounts/${code}`);
    expect(await view.json()).toMatchObject({
      code,
      redeemedAt: null,
      redeemedOrderId: null,
      state: "expired",
    });

    const unknownGet = await api("/api/discounts/COMEBACK-0000000000");
    expect(unknownGet.status).toBe(404);
    const unknown = await api("/api/discounts/COMEBACK-0000000000/redeem", {
      method: "POST",
      json: { orderId: "order-1" },
    });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe("not_found");
  });

  it("answers a bad request with 400 and a missing token with 401", async () => {
    const { codes } = await finalReminders();
    const code = codes[0]?.code ?? "";
    const message = async (response: Response) =>
      ((await response.json()) as { error: { message: string } }).error.message;

    const missing = await api(`/api/discounts/${code}/redeem`, { method: "POST", json: {} });
    expect(missing.status).toBe(400);
    expect(await message(missing)).toMatch(/^orderId: /);
    const blank = await api(`/api/discounts/${code}/redeem`, {
      method: "POST",
      json: { orderId: "  " },
    });
    expect(blank.status).toBe(400);
    expect(await message(blank)).toMatch(/^orderId: /);
    const redeemPath = `/api/discounts/${code}/redeem`;
    const notJson = await api(redeemPath, { method: "POST", body: "order-1" });
    expect(notJson.status).toBe(400);
    const badCode = await api("/api/discounts/COMEBACK_1");
    expect(badCode.status).toBe(400);
    expect(await message(badCode)).toMatch(/^code: /);

    const noToken = { Authorization: "" };
    expect((await api(`/api/discounts/${code}`, { headers: noToken })).status).toBe(401);
    const redeemWithoutToken = await api(`/api/discounts/${code}/redeem`, {
      method: "POST",
      headers: { Authorization: "Bearer wrong-token" },
      json: { orderId: "order-1" },
    });
    expect(redeemWithoutToken.status).toBe(401);

    // None of these redeemed the code.
    const view = await api(`/api/discounts/${code}`);
    expect(await view.json()).toMatchObject({ redeemedOrderId: null, state: "valid" });
  });
});

describe("attribution and impact", () => {
  /** Ann (a customer) and Gus (a guest) leave carts at 10:00 UTC; both reminded at 12:00. */
  async function remindAt12(mail?: SendEmail) {
    await post([
      customer("cust-ann", "ann@example.test", "Ann"),
      cart("A", "2024-06-10T10:00:00Z", { customerId: "cust-ann" }),
      cart("G", "2024-06-10T10:00:00Z", { email: "gus@example.test" }),
    ]);
    const { env: testEnv, sent } = recordingEnv(mail ? { EMAIL: mail } : {});
    const run = await fireOne(cron, "2024-06-10T12:00:00Z", testEnv);
    return { run, sent };
  }

  it("credits an order by the reminded customer to the stage-1 reminder", async () => {
    const { sent } = await remindAt12();
    const annMail = sent.find((mail) => mail.to === "ann@example.test");
    // Ann clicks (and a link checker sends a HEAD, which is no click).
    expect((await api(`/r/${recoveryToken(annMail)}`)).status).toBe(302);
    await api(`/r/${recoveryToken(annMail)}`, { method: "HEAD" });
    // She orders two days later: 2 × 1250 + 399 shipping = 2899.
    await post([order("o-ann", "2024-06-12T09:00:00Z", { customerId: "cust-ann" })]);

    // The run after the order credits it: orders of the 7 days up to its slot.
    const { env: testEnv, sent: later } = recordingEnv();
    const run = await fireOne(cron, "2024-06-12T09:30:00Z", testEnv);
    expect(run.result.details.recovery).toEqual({
      attributionDays: 7,
      windowStart: "2024-06-05T09:30:00.000Z",
      windowEnd: "2024-06-12T09:30:00.000Z",
      recoveredCarts: 1,
      recoveredRevenue: { GBP: 2899 },
    });
    // Ann ordered since: no second stage for her cart. Gus's cart, idle 47 h 30 min, gets it.
    expect(later.map((mail) => [mail.to, mail.subject])).toEqual([
      ["gus@example.test", "Still thinking it over? Your cart at Sample Gift Shop is saved"],
    ]);
    expect(await recoveries()).toEqual([
      {
        orderId: "o-ann",
        cartId: "A",
        stage: 1,
        currency: "GBP",
        amountCents: 2899,
        remindedAt: Date.parse("2024-06-10T12:00:00Z"),
        orderedAt: Date.parse("2024-06-12T09:00:00Z"),
      },
    ]);

    // 10 June in London: 09 June 23:00 UTC to 10 June 23:00 UTC (BST).
    const nothing = { reminded: 0, clicked: 0, recovered: 0, recoveredRevenue: {} };
    const expected: ImpactBody = {
      from: "2024-06-09T23:00:00.000Z",
      to: "2024-06-10T23:00:00.000Z",
      timeZone: "Europe/London",
      attributionDays: 7,
      stages: [
        {
          stage: 1,
          template: "cart-reminder-1",
          reminded: 2,
          clicked: 1,
          recovered: 1,
          recoveredRevenue: { GBP: 2899 },
        },
        { ...nothing, stage: 2, template: "cart-reminder-2" },
        { ...nothing, stage: 3, template: "cart-reminder-final" },
      ],
      total: { reminded: 2, clicked: 1, recovered: 1, recoveredRevenue: { GBP: 2899 } },
    };
    const { status, body } = await impact("from=2024-06-10&to=2024-06-10");
    expect(status).toBe(200);
    expect(body).toEqual(expected);
    // Asking again changes nothing.
    expect((await impact("from=2024-06-10&to=2024-06-10")).body).toEqual(expected);
    // The 11th holds no reminder.
    const nextDay = await impact("from=2024-06-11&to=2024-06-11");
    // Every configured stage is listed, at zero.
    expect(nextDay.body.stages).toEqual(
      ["cart-reminder-1", "cart-reminder-2", "cart-reminder-final"].map((template, i) => ({
        stage: i + 1,
        template,
        reminded: 0,
        clicked: 0,
        recovered: 0,
        recoveredRevenue: {},
      })),
    );
    expect(nextDay.body.total).toEqual({
      reminded: 0,
      clicked: 0,
      recovered: 0,
      recoveredRevenue: {},
    });
  });

  it("credits the impact endpoint's own attribution, with ISO instants", async () => {
    await remindAt12();
    await post([order("o-ann", "2024-06-12T09:00:00Z", { customerId: "cust-ann" })]);
    // No run since the order: the impact endpoint writes the attribution itself.
    expect(await recoveries()).toEqual([]);
    const { status, body } = await impact("from=2024-06-10T12:00:00Z&to=2024-06-10T12:00:00.001Z");
    expect(status).toBe(200);
    expect(body.from).toBe("2024-06-10T12:00:00.000Z");
    expect(body.to).toBe("2024-06-10T12:00:00.001Z");
    expect(body.total).toEqual({
      reminded: 2,
      clicked: 0,
      recovered: 1,
      recoveredRevenue: { GBP: 2899 },
    });
    // [from, to): a period ending at the slot holds none of its reminders.
    const before = await impact("from=2024-06-10T11:00:00Z&to=2024-06-10T12:00:00Z");
    expect(before.body.total.reminded).toBe(0);
  });

  it("credits a guest cart to an order by an account with its address, or to it", async () => {
    await post([
      customer("cust-ann", "ann@example.test"),
      customer("cust-gus", "gus@example.test"),
      // Two guest carts: Gus later orders with his account, Gia as a guest with her address.
      cart("G", "2024-06-10T10:00:00Z", { email: "gus@example.test" }),
      cart("H", "2024-06-10T10:00:00Z", { email: "gia@example.test" }),
    ]);
    const run = await fireOne(cron, "2024-06-10T12:00:00Z", recordingEnv().env);
    expect(run.result.summary.emailsSent).toBe(2);
    await post([
      order("o-gus", "2024-06-12T09:00:00Z", { customerId: "cust-gus" }),
      // 1 × 4000, no shipping.
      event("order.placed", "2024-06-13T18:00:00Z", {
        orderId: "o-gia",
        email: "GIA@example.test",
        currency: "GBP",
        items: [{ productId: "lamp", quantity: 1, unitPriceCents: 4000 }],
      }),
    ]);
    const { body } = await impact("from=2024-06-10&to=2024-06-10");
    expect(sentStages(body)).toEqual([
      {
        stage: 1,
        template: "cart-reminder-1",
        reminded: 2,
        clicked: 0,
        recovered: 2,
        recoveredRevenue: { GBP: 6899 },
      },
    ]);
    expect((await recoveries()).map((r) => [r.orderId, r.cartId])).toEqual([
      ["o-gia", "H"],
      ["o-gus", "G"],
    ]);
  });

  it("credits no order placed after the window or by someone else", async () => {
    await remindAt12();
    await post([
      customer("cust-zed", "zed@example.test"),
      // Someone else, the day after.
      order("o-zed", "2024-06-11T09:00:00Z", { customerId: "cust-zed" }),
      order("o-zoe", "2024-06-11T10:00:00Z", { email: "zoe@example.test" }),
      // Ann 8 days after her reminder.
      order("o-ann", "2024-06-18T12:00:00Z", { customerId: "cust-ann" }),
    ]);
    const { body } = await impact("from=2024-06-10&to=2024-06-20");
    expect(sentStages(body)).toEqual([
      {
        stage: 1,
        template: "cart-reminder-1",
        reminded: 2,
        clicked: 0,
        recovered: 0,
        recoveredRevenue: {},
      },
    ]);
    expect(await recoveries()).toEqual([]);
  });

  it("credits an order just inside the 7-day window, not one at 7 days", async () => {
    await remindAt12();
    await post([
      order("o-gus", "2024-06-17T11:59:59Z", { email: "gus@example.test" }),
      order("o-ann", "2024-06-17T12:00:00Z", { customerId: "cust-ann" }),
    ]);
    const { body } = await impact("from=2024-06-10&to=2024-06-10");
    expect(body.total).toMatchObject({ recovered: 1, recoveredRevenue: { GBP: 2899 } });
    expect((await recoveries()).map((r) => [r.orderId, r.cartId])).toEqual([["o-gus", "G"]]);
  });

  it("credits the last stage before the order, once per cart version", async () => {
    await post([
      customer("cust-ann", "ann@example.test"),
      cart("A", "2024-06-10T10:00:00Z", { customerId: "cust-ann" }),
    ]);
    const first = recordingEnv();
    await fireOne(cron, "2024-06-10T12:00:00Z", first.env);
    // 24 h after the last activity (11:00 in London): the second stage.
    const second = recordingEnv();
    const run = await fireOne(cron, "2024-06-11T10:00:00Z", second.env);
    expect(run.result.details.emailTemplatesUsed).toEqual({ "cart-reminder-2": 1 });
    expect([...first.sent, ...second.sent].map((m) => m.to)).toEqual([
      "ann@example.test",
      "ann@example.test",
    ]);

    await post([order("o-1", "2024-06-12T09:00:00Z", { customerId: "cust-ann" })]);
    const expectedStages = [
      {
        stage: 1,
        template: "cart-reminder-1",
        reminded: 1,
        clicked: 0,
        recovered: 0,
        recoveredRevenue: {},
      },
      {
        stage: 2,
        template: "cart-reminder-2",
        reminded: 1,
        clicked: 0,
        recovered: 1,
        recoveredRevenue: { GBP: 2899 },
      },
    ];
    const { body } = await impact("from=2024-06-10&to=2024-06-11");
    expect(sentStages(body)).toEqual(expectedStages);
    expect(body.total).toEqual({
      reminded: 2,
      clicked: 0,
      recovered: 1,
      recoveredRevenue: { GBP: 2899 },
    });

    // A second order by Ann recovers nothing more: the cart version is recovered already.
    await post([order("o-2", "2024-06-13T09:00:00Z", { customerId: "cust-ann" })]);
    expect(sentStages((await impact("from=2024-06-10&to=2024-06-11")).body)).toEqual(
      expectedStages,
    );
    expect((await recoveries()).map((r) => [r.orderId, r.cartId, r.stage])).toEqual([
      ["o-1", "A", 2],
    ]);
  });

  it("neither counts nor credits a reminder whose send failed", async () => {
    const mail = faultyMail((_send, to) =>
      to === "ann@example.test" ? "invalid recipient" : null,
    );
    const { run } = await remindAt12(mail.EMAIL);
    expect(run.result.summary).toMatchObject({ emailsSent: 1, errors: 1 });
    expect(mail.sent.map((m) => m.to)).toEqual(["gus@example.test"]);
    // Both reminders were claimed; Ann's e-mail failed for good.
    expect((await reminders()).map((r) => r.cartId)).toEqual(["A", "G"]);

    await post([
      order("o-ann", "2024-06-12T09:00:00Z", { customerId: "cust-ann" }),
      // 3 × 1000 + 399 = 3399.
      event("order.placed", "2024-06-12T10:00:00Z", {
        orderId: "o-gus",
        email: "gus@example.test",
        currency: "GBP",
        items: [{ productId: "mug", quantity: 3, unitPriceCents: 1000 }],
        shippingCents: 399,
      }),
    ]);
    const { body } = await impact("from=2024-06-10&to=2024-06-10");
    expect(sentStages(body)).toEqual([
      {
        stage: 1,
        template: "cart-reminder-1",
        reminded: 1,
        clicked: 0,
        recovered: 1,
        recoveredRevenue: { GBP: 3399 },
      },
    ]);
    expect((await recoveries()).map((r) => [r.orderId, r.cartId])).toEqual([["o-gus", "G"]]);
  });

  it("credits two orders of one request the same way however often it is asked", async () => {
    const CART_RECOVERY = { stages: [{ afterHours: 2, template: "cart-reminder-1" }] };
    await post([
      customer("cust-ann", "ann@example.test"),
      cart("A", "2024-06-10T10:00:00Z", { customerId: "cust-ann" }),
      cart("B", "2024-06-11T10:00:00Z", { customerId: "cust-ann" }),
    ]);
    await fireOne(cron, "2024-06-10T12:00:00Z", recordingEnv({ CART_RECOVERY }).env);
    await fireOne(cron, "2024-06-11T12:00:00Z", recordingEnv({ CART_RECOVERY }).env);
    await post([
      order("o-1", "2024-06-12T09:00:00Z", { customerId: "cust-ann" }),
      order("o-2", "2024-06-12T10:00:00Z", { customerId: "cust-ann" }),
    ]);
    // The earlier order takes the latest reminder before it (B); the next takes A.
    for (let ask = 0; ask < 2; ask++) {
      const { body } = await impact("from=2024-06-10&to=2024-06-11");
      expect(body.total).toMatchObject({ recovered: 2, recoveredRevenue: { GBP: 5798 } });
    }
    expect((await recoveries()).map((r) => [r.orderId, r.cartId])).toEqual([
      ["o-1", "B"],
      ["o-2", "A"],
    ]);
  });

  it("names the parameter of a bad impact query", async () => {
    const problem = async (query: string) => {
      const response = await api(`/api/tasks/abandoned-cart-recovery/impact?${query}`);
      expect(response.status).toBe(400);
      const body = (await response.json()) as {
        error: { code: string; message: string; details?: { parameter: string }[] };
      };
      expect(body.error.code).toBe("bad_request");
      return body.error;
    };

    const notADate = await problem("from=2024-02-31");
    expect(notADate.message).toContain("from: is not a real date");
    expect(notADate.details?.map((d) => d.parameter)).toEqual(["from"]);

    const reversed = await problem("from=2024-06-11&to=2024-06-10");
    expect(reversed.message).toBe("from: must be before to");

    const yesterday = await problem("from=yesterday");
    expect(yesterday.message).toContain("from: must be a date (YYYY-MM-DD");
    expect(yesterday.details?.map((d) => d.parameter)).toEqual(["from"]);

    const badTo = await problem("to=2024-13-01");
    expect(badTo.details?.map((d) => d.parameter)).toEqual(["to"]);

    const unknown = await problem("from=2024-06-10&stage=1");
    expect(unknown.message).toContain("stage");
    expect(unknown.details?.map((d) => d.parameter)).toEqual(["stage"]);

    const tooLong = await problem("from=2023-01-01&to=2024-06-10");
    expect(tooLong.message).toContain("400 days");
  });
});

describe("delayed cart check", () => {
  it("queues a check for the 2-hour mark and sends the first stage once when due", async () => {
    const queue = capturingQueue();
    // Quiet hours off: whatever the real time of this run, the check may send.
    const { env: testEnv, sent } = recordingEnv({
      WORK_QUEUE: queue.WORK_QUEUE,
      CART_RECOVERY: { quietHours: null },
    });
    const occurredAt = new Date(Date.now() - 60_000).toISOString();
    const dueAt = Date.parse(occurredAt) + 2 * hour;
    await post([cart("Q", occurredAt, { email: "quinn@example.test" })], testEnv);
    expect(queue.queued).toHaveLength(1);
    expect(queue.queued[0]?.body).toEqual({ kind: "cart-check", cartId: "Q", dueAt });
    // 2 h less the minute since the activity, less the request's own time, rounded up.
    expect(queue.queued[0]?.delaySeconds).toBeGreaterThanOrEqual(7138);
    expect(queue.queued[0]?.delaySeconds).toBeLessThanOrEqual(7141);

    // A cart last changed more than 2 h ago is the cron's: no check.
    const old = new Date(Date.now() - 2 * hour - 60_000).toISOString();
    await post([cart("R", old, { email: "rae@example.test" })], testEnv);
    expect(queue.queued).toHaveLength(1);

    const body = queue.queued[0]?.body;
    const context = (now: number) => ({ invocationId: "test", attempts: 1, replay: false, now });

    // Delivered 10 minutes early: the check queues itself again for the rest.
    expect(await processWork(testEnv, body, context(dueAt - 600_000))).toBeNull();
    expect(queue.queued).toHaveLength(2);
    expect(queue.queued[1]).toEqual({
      body: { kind: "cart-check", cartId: "Q", dueAt },
      delaySeconds: 600,
    });
    expect(sent).toEqual([]);
    expect(await reminders()).toEqual([]);

    // Half a second early (delays are whole seconds): it runs as of its due time, for this
    // cart only (R waits for the cron).
    expect(await processWork(testEnv, body, context(dueAt - 500))).toBeNull();
    expect(sent.map((mail) => [mail.to, mail.subject])).toEqual([
      ["quinn@example.test", "You left something in your cart at Sample Gift Shop"],
    ]);
    expect(await reminders()).toMatchObject([
      {
        cartId: "Q",
        stage: 1,
        template: "cart-reminder-1",
        recipient: "quinn@example.test",
        remindedAt: dueAt,
        runId: null,
      },
    ]);
    const email = await env.DB.prepare(
      "SELECT task, status, run_id AS runId FROM emails WHERE recipient = 'quinn@example.test'",
    ).first();
    expect(email).toEqual({ task: "abandoned-cart-recovery", status: "sent", runId: null });

    // Redelivered: the claim is taken, no second e-mail.
    await processWork(testEnv, body, context(dueAt));
    await processWork(testEnv, body, context(dueAt + 5 * 60_000));
    expect(sent).toHaveLength(1);
    expect(queue.queued).toHaveLength(2);

    // The next cron pass meets the same claim: Quinn is already reminded; Rae is now due.
    const slot = new Date(dueAt + 30 * 60_000).toISOString();
    const run = await runDirectly("abandoned-cart-recovery", slot, testEnv);
    expect(run.result.summary.skippedBy.alreadyReminded).toBe(1);
    expect(sent.map((mail) => mail.to)).toEqual(["quinn@example.test", "rae@example.test"]);
    expect((await reminders()).map((r) => [r.cartId, r.stage])).toEqual([
      ["Q", 1],
      ["R", 1],
    ]);
  });
});
