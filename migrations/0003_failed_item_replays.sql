ALTER TABLE `failed_items` ADD `replays` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `failed_items` ADD `replayed_at` integer;--> statement-breakpoint
ALTER TABLE `failed_items` ADD `replay_error` text;