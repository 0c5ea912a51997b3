CREATE TABLE "access_keys" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"user_id" text COLLATE "C" NOT NULL,
	"access_key_id" text COLLATE "C" NOT NULL,
	"secret_encrypted" text COLLATE "C" NOT NULL,
	"name" text COLLATE "C" DEFAULT '' NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp (3) with time zone,
	"scope_buckets" jsonb,
	"scope_prefix" text COLLATE "C",
	"permission" text DEFAULT 'readwrite' NOT NULL,
	"expires_at" timestamp (3) with time zone
);
--> statement-breakpoint
CREATE TABLE "buckets" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"user_id" text COLLATE "C" NOT NULL,
	"name" text COLLATE "C" NOT NULL,
	"backend_name" text COLLATE "C" NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"acl" text DEFAULT 'private' NOT NULL,
	"cors" jsonb,
	"public_name" boolean DEFAULT false NOT NULL,
	"internal" boolean DEFAULT false NOT NULL
);
--> statement-breakpoint
CREATE TABLE "event_cursors" (
	"subscriber" text COLLATE "C" PRIMARY KEY NOT NULL,
	"seq" bigint DEFAULT 0 NOT NULL,
	"updated_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"seq" bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "events_seq_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 9223372036854775807 START WITH 1 CACHE 1),
	"id" text COLLATE "C" NOT NULL,
	"type" text COLLATE "C" NOT NULL,
	"time" text COLLATE "C" NOT NULL,
	"account_id" text COLLATE "C" NOT NULL,
	"actor_kind" text COLLATE "C" NOT NULL,
	"actor_id" text COLLATE "C" NOT NULL,
	"client_address" text COLLATE "C",
	"bucket" text COLLATE "C",
	"key" text COLLATE "C",
	"size" bigint,
	"etag" text COLLATE "C",
	"content_type" text COLLATE "C",
	"version_id" text COLLATE "C",
	"detail" jsonb
);
--> statement-breakpoint
CREATE TABLE "object_acls" (
	"bucket_id" text COLLATE "C" NOT NULL,
	"key" text COLLATE "C" NOT NULL,
	"acl" text NOT NULL,
	CONSTRAINT "object_acls_bucket_id_key_pk" PRIMARY KEY("bucket_id","key")
);
--> statement-breakpoint
CREATE TABLE "sessions" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"user_id" text COLLATE "C" NOT NULL,
	"token_hash" text COLLATE "C" NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	"expires_at" timestamp (3) with time zone NOT NULL
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"email" text COLLATE "C" NOT NULL,
	"password_hash" text COLLATE "C" NOT NULL,
	"is_admin" boolean DEFAULT false NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"quota_bytes" bigint,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "activity" (
	"event_id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"seq" bigint NOT NULL,
	"type" text COLLATE "C" NOT NULL,
	"time" timestamp (3) with time zone NOT NULL,
	"account_id" text COLLATE "C" NOT NULL,
	"actor_kind" text COLLATE "C" NOT NULL,
	"actor_id" text COLLATE "C" NOT NULL,
	"client_address" text COLLATE "C",
	"bucket" text COLLATE "C",
	"key" text COLLATE "C",
	"size" bigint,
	"etag" text COLLATE "C",
	"content_type" text COLLATE "C",
	"version_id" text COLLATE "C",
	"detail" jsonb
);
--> statement-breakpoint
CREATE TABLE "shares" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"code" text COLLATE "C" NOT NULL,
	"owner_id" text COLLATE "C" NOT NULL,
	"access_key_id" text COLLATE "C",
	"bucket_id" text COLLATE "C" NOT NULL,
	"bucket" text COLLATE "C" NOT NULL,
	"object_key" text COLLATE "C" NOT NULL,
	"kind" text NOT NULL,
	"file_name" text COLLATE "C" NOT NULL,
	"password_hash" text COLLATE "C",
	"expires_at" timestamp (3) with time zone,
	"max_downloads" bigint,
	"downloads" bigint DEFAULT 0 NOT NULL,
	"views" bigint DEFAULT 0 NOT NULL,
	"active" boolean DEFAULT true NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "bucket_retention" (
	"bucket_id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"max_versions" bigint NOT NULL,
	"max_age_days" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "trash" (
	"id" text COLLATE "C" PRIMARY KEY NOT NULL,
	"user_id" text COLLATE "C" NOT NULL,
	"bucket_id" text COLLATE "C" NOT NULL,
	"bucket" text COLLATE "C" NOT NULL,
	"key" text COLLATE "C" NOT NULL,
	"size" bigint NOT NULL,
	"content_type" text COLLATE "C",
	"trashed_at" timestamp (3) with time zone NOT NULL,
	"location" text NOT NULL,
	"version_id" text COLLATE "C",
	"trash_key" text COLLATE "C"
);
--> statement-breakpoint
CREATE TABLE "version_counters" (
	"bucket_id" text COLLATE "C" NOT NULL,
	"key" text COLLATE "C" NOT NULL,
	"last_number" bigint NOT NULL,
	CONSTRAINT "version_counters_bucket_id_key_pk" PRIMARY KEY("bucket_id","key")
);
--> statement-breakpoint
CREATE TABLE "version_numbers" (
	"bucket_id" text COLLATE "C" NOT NULL,
	"key" text COLLATE "C" NOT NULL,
	"version_id" text COLLATE "C" NOT NULL,
	"modified_at" bigint NOT NULL,
	"number" bigint NOT NULL,
	CONSTRAINT "version_numbers_bucket_id_key_version_id_pk" PRIMARY KEY("bucket_id","key","version_id")
);
--> statement-breakpoint
ALTER TABLE "access_keys" ADD CONSTRAINT "access_keys_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "buckets" ADD CONSTRAINT "buckets_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "object_acls" ADD CONSTRAINT "object_acls_bucket_id_buckets_id_fk" FOREIGN KEY ("bucket_id") REFERENCES "public"."buckets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "sessions" ADD CONSTRAINT "sessions_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "shares" ADD CONSTRAINT "shares_owner_id_users_id_fk" FOREIGN KEY ("owner_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "bucket_retention" ADD CONSTRAINT "bucket_retention_bucket_id_buckets_id_fk" FOREIGN KEY ("bucket_id") REFERENCES "public"."buckets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "trash" ADD CONSTRAINT "trash_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "version_counters" ADD CONSTRAINT "version_counters_bucket_id_buckets_id_fk" FOREIGN KEY ("bucket_id") REFERENCES "public"."buckets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "version_numbers" ADD CONSTRAINT "version_numbers_bucket_id_buckets_id_fk" FOREIGN KEY ("bucket_id") REFERENCES "public"."buckets"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "access_keys_access_key_id_unique" ON "access_keys" USING btree ("access_key_id");--> statement-breakpoint
CREATE INDEX "access_keys_user_id_idx" ON "access_keys" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "buckets_user_name_unique" ON "buckets" USING btree ("user_id","name");--> statement-breakpoint
CREATE UNIQUE INDEX "buckets_public_name_unique" ON "buckets" USING btree ("name") WHERE public_name = true;--> statement-breakpoint
CREATE UNIQUE INDEX "buckets_backend_name_unique" ON "buckets" USING btree ("backend_name");--> statement-breakpoint
CREATE INDEX "buckets_name_idx" ON "buckets" USING btree ("name");--> statement-breakpoint
CREATE UNIQUE INDEX "events_id_unique" ON "events" USING btree ("id");--> statement-breakpoint
CREATE INDEX "events_account_seq_idx" ON "events" USING btree ("account_id","seq");--> statement-breakpoint
CREATE INDEX "events_account_bucket_seq_idx" ON "events" USING btree ("account_id","bucket","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "sessions_token_hash_unique" ON "sessions" USING btree ("token_hash");--> statement-breakpoint
CREATE INDEX "sessions_user_id_idx" ON "sessions" USING btree ("user_id");--> statement-breakpoint
CREATE INDEX "sessions_expires_at_idx" ON "sessions" USING btree ("expires_at");--> statement-breakpoint
CREATE UNIQUE INDEX "users_email_unique" ON "users" USING btree ("email");--> statement-breakpoint
CREATE INDEX "activity_account_seq_idx" ON "activity" USING btree ("account_id","seq");--> statement-breakpoint
CREATE INDEX "activity_account_time_idx" ON "activity" USING btree ("account_id","time");--> statement-breakpoint
CREATE INDEX "activity_account_bucket_key_idx" ON "activity" USING btree ("account_id","bucket","key");--> statement-breakpoint
CREATE INDEX "activity_seq_idx" ON "activity" USING btree ("seq");--> statement-breakpoint
CREATE UNIQUE INDEX "shares_code_unique" ON "shares" USING btree ("code");--> statement-breakpoint
CREATE INDEX "shares_owner_idx" ON "shares" USING btree ("owner_id","created_at");--> statement-breakpoint
CREATE INDEX "trash_user_idx" ON "trash" USING btree ("user_id","trashed_at");--> statement-breakpoint
CREATE INDEX "trash_trashed_at_idx" ON "trash" USING btree ("trashed_at");--> statement-breakpoint
CREATE INDEX "trash_bucket_key_idx" ON "trash" USING btree ("bucket_id","key");