/** `GET /api/emails`: the e-mail log, newest claim first, cursor-paged, addresses masked. */
import { Hono } from "hono";
import { z } from "zod";
import { database } from "../db/client";
import { emailStatuses, listEmails } from "../email/email-log";
import { tasks } from "../tasks/registry";
import { pageFields, parseQuery, positiveId } from "./query";

/** Alert e-mails are logged under the task `alerts`. */
const taskNames: string[] = [...tasks.map((task) => task.name), "alerts"];

const listQuery = z
  .object({
    task: z
      .string()
      .refine((name) => taskNames.includes(name), {
        error: `must be one of ${taskNames.join(", ")}`,
      })
      .optional(),
    runId: positiveId("a run id (a positive integer)").optional(),
    status: z.enum(emailStatuses).optional(),
    ...pageFields,
  })
  .strict();

export const emailsRoute = new Hono<{ Bindings: Env }>().get("/", async (c) => {
  const query = parseQuery(listQuery, c.req.queries());
  const page = await listEmails(database(c.env), {
    task: query.task,
    runId: query.runId,
    status: query.status,
    before: query.cursor,
    limit: query.limit,
  });
  return c.json(page);
});
