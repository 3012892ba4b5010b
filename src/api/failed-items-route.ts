/**
 * `GET /api/failed-items` (dead letters, newest first, cursor-paged) and
 * `POST /api/failed-items/:id/retry`, which replays one through the Queue consumer's path.
 */
import { Hono } from "hono";
import { z } from "zod";
import { database } from "../db/client";
import { listFailedItems, replayFailedItem } from "../queue/failed-items";
import { ApiError } from "./api-error";
import { pageFields, pageOf, parseQuery, positiveId } from "./query";

const listQuery = z
  .object({
    ...pageFields,
  })
  .strict();

export const failedItemsRoute = new Hono<{ Bindings: Env }>()
  .get("/", async (c) => {
    const query = parseQuery(listQuery, c.req.queries());
    const items = await listFailedItems(database(c.env), {
      before: query.cursor,
      limit: query.limit + 1,
    });
    const { page, nextCursor } = pageOf(items, query.limit);
    return c.json({ failedItems: page, nextCursor });
  })
  // Answers 200 whether or not the replay went through: `replayed` and `error` say which.
  .post("/:id/retry", async (c) => {
    const id = positiveId().safeParse(c.req.param("id"));
    if (!id.success)
      throw new ApiError("bad_request", "id: a failed item id is a positive integer");
    const outcome = await replayFailedItem(c.env, database(c.env), id.data);
    if (!outcome) throw new ApiError("not_found", `failed item ${id.data} does not exist`);
    return c.json({ failedItem: outcome.item, replayed: outcome.replayed, error: outcome.error });
  });
