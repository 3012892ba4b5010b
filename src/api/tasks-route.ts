/**
 * `GET /api/tasks`, `GET /api/tasks/:name` (the schedule in local and UTC terms and the next five
 * runs), `GET /api/tasks/:name/latest`, and the admin actions: run now (or for a slot, or as a
 * dry run), pause and resume.
 */
import { TZDate } from "@date-fns/tz";
import { Hono } from "hono";
import { z } from "zod";
import { database } from "../db/client";
import { latestRun, type RunView } from "../runs/ledger";
import { runSlot } from "../runs/runner";
import { isPaused, setPaused } from "../runs/slot-claims";
import { latestSlot, nextSlots, scheduleCron } from "../schedule/task-schedule";
import { utcCrons } from "../schedule/utc-crons.generated";
import { storeFrom } from "../store";
import { type ScheduledTask, scheduledTask, scheduledTasks, zoneOf } from "../tasks/registry";
import { ApiError } from "./api-error";
import { parseQuery } from "./query";

const runQuery = z
  .object({
    at: z.iso
      .datetime({ offset: true, error: "must be an ISO-8601 instant such as 2024-06-10T08:00:00Z" })
      .transform((at) => Date.parse(at))
      .refine((at) => at >= earliestSlot, "must be in the year 2000 or later")
      .refine((at) => at <= Date.now() + 60_000, {
        error: "is in the future: a slot can only run once its time has come",
      })
      .optional(),
    dryRun: z.enum(["true", "false"], { error: "must be true or false" }).optional(),
  })
  .strict();

export const tasksRoute = new Hono<{ Bindings: Env }>()
  .get("/", async (c) => {
    const db = database(c.env);
    const zone = storeFrom(c.env).timeZone;
    const views = await Promise.all(
      scheduledTasks.map(async (entry) => ({
        ...describe(entry, zone),
        nextRun: nextRuns(entry, zone, 1)[0] ?? null,
        paused: await isPaused(db, entry.task.name),
        lastRun: summary(await latestRun(db, c.env.CACHE, entry.task.name)),
      })),
    );
    return c.json({ tasks: views });
  })
  .get("/:name", async (c) => {
    const entry = known(c.req.param("name"));
    const db = database(c.env);
    const zone = storeFrom(c.env).timeZone;
    return c.json({
      ...describe(entry, zone),
      paused: await isPaused(db, entry.task.name),
      nextRuns: nextRuns(entry, zone, 5),
      lastRun: summary(await latestRun(db, c.env.CACHE, entry.task.name)),
    });
  })
  .get("/:name/latest", async (c) => {
    const entry = known(c.req.param("name"));
    const run = await latestRun(database(c.env), c.env.CACHE, entry.task.name);
    if (!run) throw new ApiError("not_found", `task ${entry.task.name} has not run yet`);
    return c.json(run);
  })
  .post("/:name/run", async (c) => {
    const entry = known(c.req.param("name"));
    const query = parseQuery(runQuery, c.req.queries());
    // A run for a past slot (`at`) is that slot's run, replayed: it decides as of the slot,
    // quiet hours included, so its dry run and its real run agree, whatever the hour now.
    const dryRun = query.dryRun === "true";
    const slotTime = query.at === undefined ? Date.now() : slotAtOrBefore(entry, c.env, query.at);
    const run = await runSlot(c.env, entry, {
      slotTime,
      cron: null,
      trigger: "manual",
      invocationId: crypto.randomUUID(),
      dryRun,
      replay: query.at !== undefined && Date.now() - slotTime > replayAfterMs,
    });
    // A slot that another run already took is a conflict, shown with the record it made.
    return c.json(run, run.status === "duplicate" ? 409 : 201);
  })
  .post("/:name/pause", async (c) => {
    const entry = known(c.req.param("name"));
    await setPaused(database(c.env), entry.task.name, true, Date.now());
    return c.json({ task: entry.task.name, paused: true });
  })
  .post("/:name/resume", async (c) => {
    const entry = known(c.req.param("name"));
    await setPaused(database(c.env), entry.task.name, false, Date.now());
    return c.json({ task: entry.task.name, paused: false });
  });

const earliestSlot = Date.UTC(2000, 0, 1);
/** A manual run for a slot older than this is a replay of the past (see TaskContext.replay). */
const replayAfterMs = 5 * 60_000;
const slotLookBackMs = 8 * 86_400_000;

/**
 * `at` names a slot: the schedule's latest slot at or before it, so `08:00:00.001` is the 08:00
 * slot and cannot run it a second time.
 */
function slotAtOrBefore(entry: ScheduledTask, env: Env, at: number): number {
  const zone = zoneOf(entry, storeFrom(env).timeZone);
  const slot = latestSlot(entry.schedule.expression, zone, at, slotLookBackMs);
  if (slot === null) {
    throw new ApiError(
      "bad_request",
      `at: the schedule "${entry.schedule.expression}" has no slot in the 8 days before it`,
    );
  }
  return slot;
}

function known(name: string): ScheduledTask {
  const entry = scheduledTask(name);
  if (!entry) {
    const names = scheduledTasks.map((t) => t.task.name).join(", ");
    throw new ApiError("not_found", `unknown task "${name}"; tasks are ${names}`);
  }
  return entry;
}

function describe(entry: ScheduledTask, storeZone: string) {
  const zone = zoneOf(entry, storeZone);
  return {
    name: entry.task.name,
    description: entry.task.description,
    schedule: {
      expression: entry.schedule.expression,
      timeZone: zone,
      localCron: scheduleCron(entry.schedule.expression),
      utcCron: utcCrons[entry.task.name] ?? null,
    },
    overlap: entry.overlap,
    missedSlots: entry.missedSlots,
    catchUpWindowHours: entry.catchUpWindowMs / 3_600_000,
  };
}

/** The next slots in UTC and as the store's local time with its offset. */
function nextRuns(entry: ScheduledTask, storeZone: string, count: number) {
  const zone = zoneOf(entry, storeZone);
  return nextSlots(entry.schedule.expression, zone, Date.now(), count).map((slot) => ({
    utc: new Date(slot).toISOString(),
    local: new TZDate(slot, zone).toISOString(),
  }));
}

function summary(run: RunView | null) {
  if (!run) return null;
  const { id, status, slotTime, startedAt, finishedAt, error } = run;
  return { id, status, slotTime, startedAt, finishedAt, error };
}
