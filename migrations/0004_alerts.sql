CREATE TABLE `alerts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`incident` text NOT NULL,
	`kind` text NOT NULL,
	`state` text NOT NULL,
	`summary` text NOT NULL,
	`detail` text NOT NULL,
	`at` integer NOT NULL,
	`emailed` integer DEFAULT 0 NOT NULL,
	`webhook` text
);
--> statement-breakpoint
CREATE INDEX `alerts_incident` ON `alerts` (`incident`,`id`);--> statement-breakpoint
CREATE TABLE `incidents` (
	`key` text PRIMARY KEY NOT NULL,
	`opened_at` integer NOT NULL,
	`resolved_at` integer
);
