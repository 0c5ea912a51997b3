CREATE TABLE `activity` (
	`event_id` text PRIMARY KEY NOT NULL,
	`seq` integer NOT NULL,
	`type` text NOT NULL,
	`time` integer NOT NULL,
	`account_id` text NOT NULL,
	`actor_kind` text NOT NULL,
	`actor_id` text NOT NULL,
	`client_address` text,
	`bucket` text,
	`key` text,
	`size` integer,
	`etag` text,
	`content_type` text,
	`version_id` text,
	`detail` text
);
--> statement-breakpoint
CREATE INDEX `activity_account_seq_idx` ON `activity` (`account_id`,`seq`);--> statement-breakpoint
CREATE INDEX `activity_account_time_idx` ON `activity` (`account_id`,`time`);--> statement-breakpoint
CREATE INDEX `activity_account_bucket_key_idx` ON `activity` (`account_id`,`bucket`,`key`);--> statement-breakpoint
CREATE INDEX `activity_seq_idx` ON `activity` (`seq`);