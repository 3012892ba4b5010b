/** `GET /api/alerts`: every alert raised or recovered, newest first, cursor-paged. */
import { Hono } from "hono";
import { z } from "zod";
import { listAlerts } from "../alerts/incidents";
import { database } from "../db/client";
import { pageFields, pageOf, parseQuery } from "./query";

const listQuery = z
  .object({
    ...pageFields,
  })
  .strict();

export const alertsRoute = new Hono<{ Bindings: Env }>().get("/", async (c) => {
  const query = parseQuery(listQuery, c.req.queries());
  const alerts = await listAlerts(database(c.env), {
    before: query.cursor,
    limit: query.limit + 1,
  });
  const { page, nextCursor } = pageOf(alerts, query.limit);
  return c.json({ alerts: page, nextCursor });
});
