ALTER TABLE `access_keys` ADD `scope_buckets` text;--> statement-breakpoint
ALTER TABLE `access_keys` ADD `scope_prefix` text;--> statement-breakpoint
ALTER TABLE `access_keys` ADD `permission` text DEFAULT 'readwrite' NOT NULL;--> statement-breakpoint
ALTER TABLE `access_keys` ADD `expires_at` integer;