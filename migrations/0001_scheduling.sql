CREATE TABLE `slot_claims` (
	`task` text NOT NULL,
	`slot_time` integer NOT NULL,
	`run_id` integer,
	`claimed_at` integer NOT NULL,
	PRIMARY KEY(`task`, `slot_time`)
);
--> statement-breakpoint
CREATE TABLE `task_locks` (
	`task` text PRIMARY KEY NOT NULL,
	`run_id` integer NOT NULL,
	`slot_time` integer NOT NULL,
	`lease_until` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `task_state` (
	`task` text PRIMARY KEY NOT NULL,
	`paused` integer DEFAULT false NOT NULL,
	`changed_at` integer NOT NULL
);
--> statement-breakpoint
ALTER TABLE `runs` ADD `invocation_id` text;--> statement-breakpoint
ALTER TABLE `runs` ADD `late_by_ms` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `dry_run` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `runs` ADD `heartbeat_at` integer;--> statement-breakpoint
ALTER TABLE `runs` ADD `note` text;