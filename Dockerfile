# CloudStorage image: S3 gateway on :9000, dashboard API on :3000, state in /data.
#
# Node 22 LTS: better-sqlite3 12 built from source against Node >= 24.19 headers aborts the process
# when V8 collects a statement (nodejs/node#65446); the base moves to 24 with better-sqlite3 13,
# which needs Node >= 22 and so comes when Node 20 support ends (package.json "engines").
ARG NODE_IMAGE=node:22-bookworm-slim

# Build stage: compilers for better-sqlite3 (built here when no prebuilt binary matches), every
# dependency for the esbuild bundle, then the dependencies pruned to the production ones.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN node scripts/build.mjs && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: no compilers, no npm install, no build tools (esbuild, tsx); only the bundles, the
# production node_modules (with the native module built above, and pg), and the SQL migrations.
FROM ${NODE_IMAGE} AS runtime
# GLIBC_TUNABLES: malloc keeps streaming buffers mapped instead of faulting fresh pages for each
# one (src/lifecycle/allocator.ts; a proxied GET's gateway CPU per GiB fell by about 40 %).
ENV NODE_ENV=production \
    GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864:glibc.malloc.mmap_threshold=4194304 \
    DATA_DIR=/data \
    S3_PORT=9000 \
    API_PORT=3000
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
# The metadata migrations of both dialects: drizzle/ (SQLite), drizzle-pg/ (PostgreSQL, DATABASE_URL).
COPY --from=build /app/drizzle ./drizzle
COPY --from=build /app/drizzle-pg ./drizzle-pg
COPY --from=build /app/dist ./dist
# The official image's unprivileged `node` user owns the data volume; the code stays root-owned.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 9000 3000
# No curl in the slim image: node's fetch asks the gateway's status (503 while degraded or draining).
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + process.env.S3_PORT + '/_health/status').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The admin CLI: docker compose exec cloudstorage node dist/cli.mjs user create --email … --password …
CMD ["node", "dist/main.mjs"]
