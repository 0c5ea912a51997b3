CREATE TABLE `object_acls` (
	`bucket_id` text NOT NULL,
	`key` text NOT NULL,
	`acl` text NOT NULL,
	PRIMARY KEY(`bucket_id`, `key`),
	FOREIGN KEY (`bucket_id`) REFERENCES `buckets`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
ALTER TABLE `buckets` ADD `acl` text DEFAULT 'private' NOT NULL;--> statement-breakpoint
ALTER TABLE `buckets` ADD `cors` text;--> statement-breakpoint
ALTER TABLE `buckets` ADD `public_name` integer DEFAULT false NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `buckets_public_name_unique` ON `buckets` (`name`) WHERE public_name = 1;