import type { Database } from "../db/client";
import type { Store } from "../store";

export type TaskName =
  | "abandoned-cart-recovery"
  | "daily-sales-report"
  | "data-cleanup"
  | "weekly-newsletter";

/** What a task is given: the bindings, the store, and the slot it runs for. */
export interface TaskContext {
  env: Env;
  db: Database;
  store: Store;
  /**
   * The slot's instant in ms: the task's "now", so a late or repeated run sees the same windows.
   */
  slotTime: number;
  runId: number;
  /**
   * When the run's e-mails go out, for rules about the moment of sending (quiet hours, the
   * cooldown between reminders): the slot for a run on time or a manual run (a replay of the slot),
   * the tick's time for a catch-up, the real time for a retry.
   */
  sendAt: number;
  /**
   * A manual run for a slot in the past: it decides as of the slot, but its e-mails go out now,
   * so rules about real recipients (the cooldown between cart reminders) also look at real time.
   */
  replay: boolean;
  /** The cron the task is scheduled by, read in `timeZone`, for its `nextRun`. */
  cron: string;
  timeZone: string;
  /**
   * A dry run has no side effects (no e-mail, no deleted row or file, nothing enqueued or
   * stored) and returns, in `plan`, what it would have done item by item.
   */
  dryRun: boolean;
}

export interface Task {
  name: TaskName;
  description: string;
  run(context: TaskContext): Promise<object>;
}
