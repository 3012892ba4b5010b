/**
 * `GET /api/tasks/abandoned-cart-recovery/impact?from=&to=`: carts reminded, clicked and
 * recovered, and the recovered revenue, by stage, for the reminders sent in the period.
 */
import { Hono } from "hono";
import { z } from "zod";
import { attributeOrders, impactByStage } from "../carts/recoveries";
import { cartRecoveryRules } from "../carts/recovery-settings";
import { database } from "../db/client";
import { localDay } from "../lib/local-day";
import { storeFrom } from "../store";
import { ApiError } from "./api-error";
import { parseQuery } from "./query";

const day = 86_400_000;
const maxPeriodMs = 400 * day;

/** An ISO instant, or a `YYYY-MM-DD` read as that day in the store's zone. */
const boundary = z
  .string()
  .refine(
    (v) => /^\d{4}-\d{2}-\d{2}$/.test(v) || z.iso.datetime({ offset: true }).safeParse(v).success,
    {
      error: "must be a date (YYYY-MM-DD, the store's local day) or an ISO-8601 instant",
      abort: true,
    },
  )
  .refine((v) => /^2\d{3}-/.test(v), { error: "must be in the years 2000 to 2999", abort: true })
  .refine((v) => v.length !== 10 || isCalendarDate(v), { error: "is not a real date" });

const impactQuery = z.object({ from: boundary.optional(), to: boundary.optional() }).strict();

export const cartRecoveryRoute = new Hono<{ Bindings: Env }>().get("/impact", async (c) => {
  const query = parseQuery(impactQuery, c.req.queries());
  const zone = storeFrom(c.env).timeZone;
  const now = Date.now();
  // A date `to` includes that whole day; a date `from` starts at its local midnight.
  const to = query.to === undefined ? now : instantOf(query.to, zone, "end");
  const from = query.from === undefined ? to - 30 * day : instantOf(query.from, zone, "start");
  if (from >= to) throw new ApiError("bad_request", "from: must be before to");
  if (to - from > maxPeriodMs) {
    throw new ApiError("bad_request", "from: the period may span at most 400 days");
  }

  const db = database(c.env);
  const rules = cartRecoveryRules(c.env);
  // Orders placed up to a window after the period can still recover its reminders; orders from
  // as far back as a cart can be reminded compete with them for the same carts, and attribution
  // goes in the order placed, so they are credited first whatever period is asked.
  const since = from - rules.attributionMs - rules.giveUpAfterMs;
  await attributeOrders(db, rules, since, Math.min(now, to + rules.attributionMs));
  // Every configured stage is listed, with zeros where nothing was sent; a stage removed from
  // the settings since still shows what it did.
  const measured = await impactByStage(db, from, to);
  const stages = [
    ...rules.stages.map(
      (stage) =>
        measured.find((row) => row.stage === stage.stage) ?? {
          stage: stage.stage,
          template: stage.template,
          reminded: 0,
          clicked: 0,
          recovered: 0,
          recoveredRevenue: {},
        },
    ),
    ...measured.filter((row) => row.stage > rules.stages.length),
  ];
  const revenue: Record<string, number> = {};
  for (const stage of stages) {
    for (const [currency, cents] of Object.entries(stage.recoveredRevenue)) {
      revenue[currency] = (revenue[currency] ?? 0) + cents;
    }
  }
  const sum = (field: "reminded" | "clicked" | "recovered") =>
    stages.reduce((total, stage) => total + stage[field], 0);
  return c.json({
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    timeZone: zone,
    attributionDays: rules.attributionMs / day,
    stages,
    total: {
      reminded: sum("reminded"),
      clicked: sum("clicked"),
      recovered: sum("recovered"),
      recoveredRevenue: revenue,
    },
  });
});

function isCalendarDate(date: string): boolean {
  const at = Date.parse(`${date}T00:00:00Z`);
  return !Number.isNaN(at) && new Date(at).toISOString().slice(0, 10) === date;
}

function instantOf(value: string, zone: string, edge: "start" | "end"): number {
  if (value.length !== 10) return Date.parse(value);
  const local = localDay(value, zone);
  return edge === "start" ? local.start : local.end;
}
