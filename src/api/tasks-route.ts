/** `GET /api/tasks`, `GET /api/tasks/:name` and `GET /api/tasks/:name/latest`. */
import { Hono } from "hono";
import { database } from "../db/client";
import { nextFireTime, nextFireTimes } from "../lib/cron";
import { latestRun, type RunView } from "../runs/ledger";
import { taskNamed, tasks } from "../tasks/registry";
import type { Task } from "../tasks/task";
import { ApiError } from "./api-error";

export const tasksRoute = new Hono<{ Bindings: Env }>()
  .get("/", async (c) => {
    const db = database(c.env);
    const now = new Date();
    const views = await Promise.all(
      tasks.map(async (task) => ({
        ...describe(task),
        nextRun: nextFireTime(task.cron, now),
        lastRun: summary(await latestRun(db, c.env.CACHE, task.name)),
      })),
    );
    return c.json({ tasks: views });
  })
  .get("/:name", async (c) => {
    const task = known(c.req.param("name"));
    const last = await latestRun(database(c.env), c.env.CACHE, task.name);
    return c.json({
      ...describe(task),
      timeZone: "UTC",
      nextRuns: nextFireTimes(task.cron, new Date(), 5).map((date) => date.toISOString()),
      lastRun: summary(last),
    });
  })
  .get("/:name/latest", async (c) => {
    const task = known(c.req.param("name"));
    const run = await latestRun(database(c.env), c.env.CACHE, task.name);
    if (!run) throw new ApiError("not_found", `task ${task.name} has not run yet`);
    return c.json(run);
  });

function known(name: string): Task {
  const task = taskNamed(name);
  if (!task) {
    const names = tasks.map((t) => t.name).join(", ");
    throw new ApiError("not_found", `unknown task "${name}"; tasks are ${names}`);
  }
  return task;
}

function describe(task: Task) {
  return { name: task.name, cron: task.cron, description: task.description };
}

function summary(run: RunView | null) {
  if (!run) return null;
  const { id, status, slotTime, startedAt, finishedAt, error } = run;
  return { id, status, slotTime, startedAt, finishedAt, error };
}
