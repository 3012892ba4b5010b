/** Every task by name, with the cron that fires it. `wrangler.toml` must list the same crons. */
import { normalizeCron } from "../lib/cron";
import { abandonedCartRecovery } from "./abandoned-cart-recovery";
import { dailySalesReport } from "./daily-sales-report";
import { dataCleanup } from "./data-cleanup";
import type { Task } from "./task";
import { weeklyNewsletter } from "./weekly-newsletter";

export const tasks: readonly Task[] = [
  abandonedCartRecovery,
  dailySalesReport,
  dataCleanup,
  weeklyNewsletter,
];

export function taskNamed(name: string): Task | undefined {
  return tasks.find((task) => task.name === name);
}

export function tasksForCron(cron: string): Task[] {
  const wanted = normalizeCron(cron);
  return tasks.filter((task) => normalizeCron(task.cron) === wanted);
}
