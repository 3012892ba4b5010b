/**
 * The store's checkout checks a reminder's discount code (`GET /api/discounts/:code`) and redeems
 * it for an order (`POST /api/discounts/:code/redeem` with `{"orderId": "..."}`), once.
 */
import { Hono } from "hono";
import { z } from "zod";
import { type DiscountCode, findCode, redeemCode } from "../carts/discount-codes";
import { database } from "../db/client";
import { ApiError } from "./api-error";

const codeParam = z
  .string()
  .trim()
  .min(1)
  .max(64, "must be at most 64 characters")
  .regex(/^[A-Za-z0-9-]+$/, "must be letters, digits and dashes");
const redeemBody = z.object({ orderId: z.string().trim().min(1).max(200) }).strict();

export const discountsRoute = new Hono<{ Bindings: Env }>()
  .get("/:code", async (c) => {
    const typed = codeOf(c.req.param("code"));
    const code = await findCode(database(c.env), typed);
    if (!code) throw new ApiError("not_found", `code: no discount code "${typed}"`);
    const now = Date.now();
    const state = code.redeemedAt !== null ? "used" : code.expiresAt <= now ? "expired" : "valid";
    return c.json({ ...view(code), state });
  })
  .post("/:code/redeem", async (c) => {
    const typed = codeOf(c.req.param("code"));
    const raw = await c.req.json().catch(() => {
      throw new ApiError("bad_request", 'the body must be JSON: {"orderId": "..."}');
    });
    const body = redeemBody.safeParse(raw);
    if (!body.success) {
      const problem = body.error.issues[0];
      const where = problem?.path.join(".") || "body";
      throw new ApiError("bad_request", `${where}: ${problem?.message ?? "is not valid"}`);
    }
    const outcome = await redeemCode(database(c.env), typed, body.data.orderId, Date.now());
    if (outcome.ok) return c.json({ ...view(outcome.code), state: "used" });
    if (outcome.reason === "unknown") {
      throw new ApiError("not_found", `code: no discount code "${typed}"`);
    }
    if (outcome.reason === "used") {
      throw new ApiError("conflict", `code: "${typed}" was already used by another order`);
    }
    throw new ApiError("gone", `code: "${typed}" has expired`);
  });

function codeOf(raw: string): string {
  const parsed = codeParam.safeParse(raw);
  if (!parsed.success) {
    throw new ApiError("bad_request", `code: ${parsed.error.issues[0]?.message ?? "is not valid"}`);
  }
  return parsed.data.toUpperCase();
}

function view(code: DiscountCode) {
  return {
    code: code.code,
    percentOff: code.percentOff,
    expiresAt: new Date(code.expiresAt).toISOString(),
    redeemedAt: code.redeemedAt === null ? null : new Date(code.redeemedAt).toISOString(),
    redeemedOrderId: code.redeemedOrderId,
  };
}
