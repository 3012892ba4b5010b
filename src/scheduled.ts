/** Dispatches each cron trigger to the task(s) it schedules. */
import { recordUnmatchedCron, runTask } from "./runs/runner";
import { tasksForCron } from "./tasks/registry";

export async function dispatchCron(controller: ScheduledController, env: Env): Promise<void> {
  const tasks = tasksForCron(controller.cron);
  if (tasks.length === 0) {
    await recordUnmatchedCron(env, controller.cron, controller.scheduledTime);
    return;
  }
  for (const task of tasks) {
    await runTask(env, task, {
      slotTime: controller.scheduledTime,
      cron: controller.cron,
      trigger: "cron",
    });
  }
}
