CREATE TABLE `bucket_retention` (
	`bucket_id` text PRIMARY KEY NOT NULL,
	`max_versions` integer NOT NULL,
	`max_age_days` integer NOT NULL,
	FOREIGN KEY (`bucket_id`) REFERENCES `buckets`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `trash` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`bucket_id` text NOT NULL,
	`bucket` text NOT NULL,
	`key` text NOT NULL,
	`size` integer NOT NULL,
	`content_type` text,
	`trashed_at` integer NOT NULL,
	`location` text NOT NULL,
	`version_id` text,
	`trash_key` text,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `trash_user_idx` ON `trash` (`user_id`,`trashed_at`);--> statement-breakpoint
CREATE INDEX `trash_trashed_at_idx` ON `trash` (`trashed_at`);--> statement-breakpoint
CREATE INDEX `trash_bucket_key_idx` ON `trash` (`bucket_id`,`key`);--> statement-breakpoint
CREATE TABLE `version_counters` (
	`bucket_id` text NOT NULL,
	`key` text NOT NULL,
	`last_number` integer NOT NULL,
	PRIMARY KEY(`bucket_id`, `key`),
	FOREIGN KEY (`bucket_id`) REFERENCES `buckets`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE TABLE `version_numbers` (
	`bucket_id` text NOT NULL,
	`key` text NOT NULL,
	`version_id` text NOT NULL,
	`modified_at` integer NOT NULL,
	`number` integer NOT NULL,
	PRIMARY KEY(`bucket_id`, `key`, `version_id`),
	FOREIGN KEY (`bucket_id`) REFERENCES `buckets`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `buckets` ADD `internal` integer DEFAULT false NOT NULL;