/** `POST /api/events`: the store's data comes in here, 1 to 1,000 events per request. */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { scheduleCartChecks } from "../carts/cart-checks";
import { database } from "../db/client";
import { ingestEvents } from "../events/ingest";
import { ApiError } from "./api-error";

export const maxEventsPerRequest = 1000;

export const eventsRoute = new Hono<{ Bindings: Env }>().post(
  "/",
  bodyLimit({
    maxSize: 8 * 1024 * 1024,
    onError: () => {
      throw new ApiError("payload_too_large", "the request body is over 8 MiB; send fewer events");
    },
  }),
  async (c) => {
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw new ApiError("bad_request", "the body is not valid JSON");
    }
    const events =
      typeof body === "object" && body !== null && "events" in body ? body.events : undefined;
    if (!Array.isArray(events)) {
      throw new ApiError("bad_request", 'the body must be an object {"events": [...]}');
    }
    if (events.length < 1 || events.length > maxEventsPerRequest) {
      throw new ApiError(
        "bad_request",
        `events: send 1 to ${maxEventsPerRequest} events per request, not ${events.length}`,
      );
    }
    const now = Date.now();
    const { cartsUpdated, ignored, ...outcome } = await ingestEvents(
      database(c.env),
      events,
      c.env.STORE_CURRENCY,
      now,
    );
    await scheduleCartChecks(c.env, cartsUpdated, now);
    // Unknown fields are named, not fatal: a sender's extra data never costs it the event.
    const answer = ignored.length > 0 ? { ...outcome, ignored } : outcome;
    if (outcome.accepted + outcome.duplicates > 0) return c.json(answer);
    throw new ApiError("unprocessable", "no event of the request was accepted", outcome.rejected);
  },
);
