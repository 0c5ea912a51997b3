FROM node:22-bookworm-slim
WORKDIR /app
# better-sqlite3 builds from source when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev
COPY . .
RUN node scripts/build.mjs
ENV DATA_DIR=/data
VOLUME /data
EXPOSE 9000 3000
CMD ["node", "dist/main.mjs"]
