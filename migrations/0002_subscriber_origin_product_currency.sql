ALTER TABLE `products` ADD `currency` text;--> statement-breakpoint
ALTER TABLE `subscribers` ADD `subscribed_at` integer;