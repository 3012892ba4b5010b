CREATE TABLE `cart_recoveries` (
	`order_id` text PRIMARY KEY NOT NULL,
	`cart_id` text NOT NULL,
	`cart_activity_at` integer NOT NULL,
	`email_key` text NOT NULL,
	`stage` integer NOT NULL,
	`currency` text NOT NULL,
	`amount_cents` integer NOT NULL,
	`reminded_at` integer NOT NULL,
	`ordered_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cart_recoveries_cart` ON `cart_recoveries` (`cart_id`,`cart_activity_at`);--> statement-breakpoint
CREATE INDEX `cart_recoveries_reminded` ON `cart_recoveries` (`reminded_at`);--> statement-breakpoint
CREATE TABLE `cart_reminders` (
	`email_key` text PRIMARY KEY NOT NULL,
	`cart_id` text NOT NULL,
	`cart_activity_at` integer NOT NULL,
	`stage` integer NOT NULL,
	`template` text NOT NULL,
	`recipient` text NOT NULL,
	`customer_id` text,
	`reminded_at` integer NOT NULL,
	`run_id` integer,
	`link_id` text NOT NULL,
	`link_expires_at` integer NOT NULL,
	`discount_code` text,
	`clicks` integer DEFAULT 0 NOT NULL,
	`first_clicked_at` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `cart_reminders_link_id_unique` ON `cart_reminders` (`link_id`);--> statement-breakpoint
CREATE INDEX `cart_reminders_cart` ON `cart_reminders` (`cart_id`,`cart_activity_at`,`stage`);--> statement-breakpoint
CREATE INDEX `cart_reminders_recipient` ON `cart_reminders` (`recipient`,`reminded_at`);--> statement-breakpoint
CREATE INDEX `cart_reminders_customer` ON `cart_reminders` (`customer_id`,`reminded_at`);--> statement-breakpoint
CREATE INDEX `cart_reminders_at` ON `cart_reminders` (`reminded_at`);--> statement-breakpoint
CREATE TABLE `discount_codes` (
	`code` text PRIMARY KEY NOT NULL,
	`cart_id` text NOT NULL,
	`email_key` text NOT NULL,
	`percent_off` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	`redeemed_at` integer,
	`redeemed_order_id` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `discount_codes_email_key_unique` ON `discount_codes` (`email_key`);