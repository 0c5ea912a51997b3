CREATE TABLE `event_cursors` (
	`subscriber` text PRIMARY KEY NOT NULL,
	`seq` integer DEFAULT 0 NOT NULL,
	`updated_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL
);
--> statement-breakpoint
CREATE TABLE `events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`type` text NOT NULL,
	`time` text NOT NULL,
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
CREATE UNIQUE INDEX `events_id_unique` ON `events` (`id`);--> statement-breakpoint
CREATE INDEX `events_account_seq_idx` ON `events` (`account_id`,`seq`);--> statement-breakpoint
CREATE INDEX `events_account_bucket_seq_idx` ON `events` (`account_id`,`bucket`,`seq`);