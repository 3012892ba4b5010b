/** `GET /api/alerts`: every alert raised or recovered, newest first, cursor-paged. */
import { Hono } from "hono";
import { z } from "zod";
import { listAlerts } from "../alerts/incidents";
import { database } from "../db/client";
import { parseQuery } from "./query";

const listQuery = z
  .object({
    limit: z
      .string()
      .regex(/^(100|[1-9]\d?)$/, "must be a whole number from 1 to 100")
      .transform(Number)
      .default(20),
    cursor: z
      .string()
      .regex(/^[1-9]\d{0,15}$/, "must be the nextCursor of an earlier page")
      .transform(Number)
      .optional(),
  })
  .strict();

export const alertsRoute = new Hono<{ Bindings: Env }>().get("/", async (c) => {
  const query = parseQuery(listQuery, c.req.query());
  const alerts = await listAlerts(database(c.env), {
    before: query.cursor,
    limit: query.limit + 1,
  });
  const page = alerts.slice(0, query.limit);
  const last = page.at(-1);
  const nextCursor = alerts.length > query.limit && last ? String(last.id) : null;
  return c.json({ alerts: page, nextCursor });
});
