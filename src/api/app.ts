/**
 * The HTTP API: health, the event intake, task and run results, the e-mail log, and e-mail
 * link landings.
 */
import { sql } from "drizzle-orm";
import { Hono } from "hono";
import { database } from "../db/client";
import { alertsRoute } from "./alerts-route";
import { ApiError, onApiError } from "./api-error";
import { cartRecoveryRoute } from "./cart-recovery-route";
import { discountsRoute } from "./discounts-route";
import { emailsRoute } from "./emails-route";
import { eventsRoute } from "./events-route";
import { failedItemsRoute } from "./failed-items-route";
import { linksRoute } from "./links-route";
import { singleValuedQuery } from "./query";
import { requireToken } from "./require-token";
import { runsRoute } from "./runs-route";
import { tasksRoute } from "./tasks-route";

export const app = new Hono<{ Bindings: Env }>()
  .get("/health", async (c) => {
    await database(c.env).run(sql`SELECT 1`);
    return c.json({ status: "ok", time: new Date().toISOString() });
  })
  .route("/", linksRoute)
  .use("/api/*", requireToken)
  .use("/api/*", singleValuedQuery)
  .route("/api/events", eventsRoute)
  .route("/api/tasks/abandoned-cart-recovery", cartRecoveryRoute)
  .route("/api/tasks", tasksRoute)
  .route("/api/discounts", discountsRoute)
  .route("/api/runs", runsRoute)
  .route("/api/emails", emailsRoute)
  .route("/api/failed-items", failedItemsRoute)
  .route("/api/alerts", alertsRoute)
  .notFound(() => {
    throw new ApiError("not_found", "no such route");
  })
  .onError(onApiError);
