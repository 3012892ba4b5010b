/** `GET /api/runs` (newest first, cursor-paged) and `GET /api/runs/:id`. */
import { Hono } from "hono";
import { z } from "zod";
import { database } from "../db/client";
import { listRuns, readRun, runStatuses } from "../runs/ledger";
import { taskNamed, tasks } from "../tasks/registry";
import { ApiError } from "./api-error";
import { pageFields, pageOf, parseQuery, positiveId } from "./query";

const listQuery = z
  .object({
    task: z
      .string()
      .refine((name) => taskNamed(name) !== undefined || name === "unmatched-cron", {
        error: `must be one of ${tasks.map((t) => t.name).join(", ")}`,
      })
      .optional(),
    status: z.enum(runStatuses).optional(),
    ...pageFields,
  })
  .strict();

export const runsRoute = new Hono<{ Bindings: Env }>()
  .get("/", async (c) => {
    const query = parseQuery(listQuery, c.req.queries());
    const runs = await listRuns(database(c.env), {
      task: query.task,
      status: query.status,
      before: query.cursor,
      limit: query.limit + 1,
    });
    const { page, nextCursor } = pageOf(runs, query.limit);
    return c.json({ runs: page, nextCursor });
  })
  .get("/:id", async (c) => {
    const id = positiveId().safeParse(c.req.param("id"));
    if (!id.success) throw new ApiError("bad_request", "id: a run id is a positive integer");
    const run = await readRun(database(c.env), id.data);
    if (!run) throw new ApiError("not_found", `run ${id.data} does not exist`);
    return c.json(run);
  });
