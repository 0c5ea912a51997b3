CREATE TABLE `shares` (
	`id` text PRIMARY KEY NOT NULL,
	`code` text NOT NULL,
	`owner_id` text NOT NULL,
	`access_key_id` text,
	`bucket_id` text NOT NULL,
	`bucket` text NOT NULL,
	`object_key` text NOT NULL,
	`kind` text NOT NULL,
	`file_name` text NOT NULL,
	`password_hash` text,
	`expires_at` integer,
	`max_downloads` integer,
	`downloads` integer DEFAULT 0 NOT NULL,
	`views` integer DEFAULT 0 NOT NULL,
	`active` integer DEFAULT true NOT NULL,
	`created_at` integer DEFAULT (unixepoch('subsec') * 1000) NOT NULL,
	FOREIGN KEY (`owner_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `shares_code_unique` ON `shares` (`code`);--> statement-breakpoint
CREATE INDEX `shares_owner_idx` ON `shares` (`owner_id`,`created_at`);