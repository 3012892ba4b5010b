CREATE TABLE `app_logs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`at` integer NOT NULL,
	`level` text NOT NULL,
	`event` text NOT NULL,
	`run_id` integer,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `app_logs_at` ON `app_logs` (`at`);--> statement-breakpoint
CREATE TABLE `bounces` (
	`email` text PRIMARY KEY NOT NULL,
	`kind` text NOT NULL,
	`count` integer NOT NULL,
	`last_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `campaign_batches` (
	`campaign_id` text NOT NULL,
	`batch` integer NOT NULL,
	`finished_at` integer NOT NULL,
	PRIMARY KEY(`campaign_id`, `batch`)
);
--> statement-breakpoint
CREATE TABLE `campaigns` (
	`id` text PRIMARY KEY NOT NULL,
	`run_id` integer NOT NULL,
	`week_of` text NOT NULL,
	`content` text NOT NULL,
	`total_subscribers` integer NOT NULL,
	`batches_total` integer NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE TABLE `cart_items` (
	`cart_id` text NOT NULL,
	`line` integer NOT NULL,
	`product_id` text NOT NULL,
	`name` text,
	`category` text,
	`quantity` integer NOT NULL,
	`unit_price_cents` integer NOT NULL,
	PRIMARY KEY(`cart_id`, `line`)
);
--> statement-breakpoint
CREATE TABLE `carts` (
	`id` text PRIMARY KEY NOT NULL,
	`customer_id` text,
	`email` text,
	`currency` text NOT NULL,
	`status` text NOT NULL,
	`item_count` integer NOT NULL,
	`total_cents` integer NOT NULL,
	`last_activity_at` integer NOT NULL,
	`last_event_id` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `carts_open_activity` ON `carts` (`status`,`last_activity_at`);--> statement-breakpoint
CREATE TABLE `customers` (
	`id` text PRIMARY KEY NOT NULL,
	`email` text NOT NULL,
	`first_name` text,
	`timezone` text,
	`marketing_consent` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `customers_email` ON `customers` (`email`);--> statement-breakpoint
CREATE TABLE `emails` (
	`idempotency_key` text PRIMARY KEY NOT NULL,
	`task` text NOT NULL,
	`run_id` integer,
	`campaign_id` text,
	`template` text NOT NULL,
	`recipient` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`claimed_at` integer NOT NULL,
	`sent_at` integer,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `emails_run` ON `emails` (`run_id`);--> statement-breakpoint
CREATE INDEX `emails_campaign` ON `emails` (`campaign_id`,`status`);--> statement-breakpoint
CREATE TABLE `events` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`occurred_at` integer NOT NULL,
	`received_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `events_type_occurred` ON `events` (`type`,`occurred_at`);--> statement-breakpoint
CREATE TABLE `failed_items` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`queue` text NOT NULL,
	`payload` text NOT NULL,
	`error` text,
	`attempts` integer NOT NULL,
	`failed_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `order_items` (
	`order_id` text NOT NULL,
	`line` integer NOT NULL,
	`product_id` text NOT NULL,
	`name` text,
	`category` text,
	`quantity` integer NOT NULL,
	`unit_price_cents` integer NOT NULL,
	`line_cents` integer NOT NULL,
	PRIMARY KEY(`order_id`, `line`)
);
--> statement-breakpoint
CREATE INDEX `order_items_product` ON `order_items` (`product_id`);--> statement-breakpoint
CREATE TABLE `orders` (
	`id` text PRIMARY KEY NOT NULL,
	`customer_id` text,
	`email` text,
	`cart_id` text,
	`currency` text NOT NULL,
	`items_cents` integer NOT NULL,
	`shipping_cents` integer NOT NULL,
	`total_cents` integer NOT NULL,
	`placed_at` integer NOT NULL,
	`event_id` text NOT NULL
);
--> statement-breakpoint
CREATE INDEX `orders_placed` ON `orders` (`placed_at`);--> statement-breakpoint
CREATE INDEX `orders_customer_placed` ON `orders` (`customer_id`,`placed_at`);--> statement-breakpoint
CREATE INDEX `orders_email_placed` ON `orders` (`email`,`placed_at`);--> statement-breakpoint
CREATE TABLE `products` (
	`id` text PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`category` text,
	`price_cents` integer NOT NULL,
	`in_stock` integer,
	`first_seen_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `refunds` (
	`id` text PRIMARY KEY NOT NULL,
	`order_id` text,
	`currency` text NOT NULL,
	`amount_cents` integer NOT NULL,
	`refunded_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `refunds_at` ON `refunds` (`refunded_at`);--> statement-breakpoint
CREATE TABLE `reports` (
	`id` text PRIMARY KEY NOT NULL,
	`date` text NOT NULL,
	`run_id` integer NOT NULL,
	`html_key` text NOT NULL,
	`metrics` text NOT NULL,
	`created_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`task` text NOT NULL,
	`cron` text,
	`slot_time` integer NOT NULL,
	`trigger` text NOT NULL,
	`status` text NOT NULL,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	`result` text,
	`error` text,
	`d1_statements` integer
);
--> statement-breakpoint
CREATE INDEX `runs_task_id` ON `runs` (`task`,`id`);--> statement-breakpoint
CREATE INDEX `runs_status_id` ON `runs` (`status`,`id`);--> statement-breakpoint
CREATE TABLE `sessions` (
	`id` text PRIMARY KEY NOT NULL,
	`customer_id` text,
	`last_seen_at` integer NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `sessions_expires` ON `sessions` (`expires_at`);--> statement-breakpoint
CREATE INDEX `sessions_seen` ON `sessions` (`last_seen_at`);--> statement-breakpoint
CREATE TABLE `subscribers` (
	`email` text PRIMARY KEY NOT NULL,
	`categories` text NOT NULL,
	`timezone` text,
	`status` text NOT NULL,
	`derived` integer DEFAULT false NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `uploads` (
	`id` text PRIMARY KEY NOT NULL,
	`object_key` text NOT NULL,
	`status` text NOT NULL,
	`size_bytes` integer,
	`created_at` integer NOT NULL
);
