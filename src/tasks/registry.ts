/**
 * Every task by name with its schedule in local time and what to do when it overlaps or misses
 * a slot. `wrangler.toml` carries the UTC crons that cover these schedules: after changing one,
 * run `npm run crons` (a test fails while they disagree).
 */
import type { TaskSchedule } from "../schedule/task-schedule";
import { abandonedCartRecovery } from "./abandoned-cart-recovery";
import { dailySalesReport } from "./daily-sales-report";
import { dataCleanup } from "./data-cleanup";
import type { Task, TaskName } from "./task";
import { weeklyNewsletter } from "./weekly-newsletter";

const hour = 3_600_000;

export interface ScheduledTask {
  task: Task;
  schedule: TaskSchedule;
  /** While a run is going: `skip` this slot, or `queue-one` retry of it for later. */
  overlap: "skip" | "queue-one";
  /** A slot nobody ran (an outage, a deploy gap): `run` it late, or `skip` it. */
  missedSlots: "run" | "skip";
  /** How far back a tick looks for missed slots. */
  catchUpWindowMs: number;
}

export const scheduledTasks: readonly ScheduledTask[] = [
  {
    task: abandonedCartRecovery,
    schedule: { expression: "rate(30 minutes)" },
    overlap: "skip",
    missedSlots: "run",
    catchUpWindowMs: 2 * hour,
  },
  {
    task: dailySalesReport,
    schedule: { expression: "0 8 * * *" },
    overlap: "queue-one",
    missedSlots: "run",
    catchUpWindowMs: 48 * hour,
  },
  {
    task: dataCleanup,
    schedule: { expression: "rate(6 hours)" },
    overlap: "skip",
    missedSlots: "run",
    catchUpWindowMs: 12 * hour,
  },
  {
    task: weeklyNewsletter,
    schedule: { expression: "0 9 * * MON" },
    overlap: "queue-one",
    missedSlots: "run",
    catchUpWindowMs: 24 * hour,
  },
];

export const tasks: readonly Task[] = scheduledTasks.map((entry) => entry.task);

export function scheduledTask(name: string): ScheduledTask | undefined {
  return scheduledTasks.find((entry) => entry.task.name === name);
}

export function taskNamed(name: string): Task | undefined {
  return scheduledTask(name)?.task;
}

export function zoneOf(entry: ScheduledTask, storeTimeZone: string): string {
  return entry.schedule.timeZone ?? storeTimeZone;
}

export type { TaskName };
