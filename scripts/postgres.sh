#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on loopback, for tests and CI (DATABASE_URL=postgres://…). Everything
# lives under one directory; no system service, nothing under /etc or /var/lib/postgresql is used.
#
#   scripts/postgres.sh install        apt-get install postgresql unless /usr/lib/postgresql/*/bin/initdb exists
#   scripts/postgres.sh start [DIR]    initdb (first time) and start a server under DIR (default: a new
#                                      mktemp -d); prints KEY=VALUE lines (also written to DIR/env) on stdout
#   scripts/postgres.sh pause DIR      stop the server (fast shutdown) but keep its data and port:
#                                      `start DIR` brings it back (database outage tests)
#   scripts/postgres.sh stop DIR       stop the server at once (immediate) and remove DIR
#   scripts/postgres.sh status DIR     exit 0 if the server in DIR is up and accepts connections
#
# The KEY=VALUE lines: POSTGRES_DIR, POSTGRES_PORT, DATABASE_URL (postgres://postgres@127.0.0.1:PORT/postgres,
# trust authentication, superuser). The unix socket is in DIR too. Several clusters may run at once in
# different DIRs. `start` on a DIR whose server runs just prints its env again; on a paused (or
# crashed) one it restarts it with its data on the same port.
#
# Environment: POSTGRES_TIMEOUT (s, default 60), POSTGRES_PORT (fixed port instead of a free one),
# POSTGRES_MAX_CONNECTIONS (default 300: several gateways' pools and the tests share one cluster).
#
# initdb refuses to run as root: as root, the cluster belongs to the `postgres` user (created by the
# Debian package) and its commands run through runuser. Durability is off (fsync, synchronous_commit,
# full_page_writes): the data is throwaway, and tests run faster.
set -euo pipefail

MARKER=.postgres-cluster
TIMEOUT=${POSTGRES_TIMEOUT:-60}
MAX_CONNECTIONS=${POSTGRES_MAX_CONNECTIONS:-300}
ME=$(basename "$0")

log() { printf '[%s] %s\n' "$ME" "$*" >&2; }
die() {
  log "ERROR: $*"
  exit 1
}

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The newest installed server's binaries (Debian keeps them out of PATH, per major version).
find_bindir() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then
    echo "$dir"
    return 0
  fi
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return 0
  fi
  return 1
}

# ---------------------------------------------------------------------------------------------------
cmd_install() {
  local bindir
  if bindir=$(find_bindir); then
    log "PostgreSQL already installed: $("$bindir/postgres" --version)"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "install needs root (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # The package's own cluster and service are not used (and do not start without an init system).
  apt-get install -y -qq postgresql >&2
  bindir=$(find_bindir) || die "postgresql installed but no initdb under /usr/lib/postgresql/*/bin"
  log "installed: $("$bindir/postgres" --version)"
}

# ---------------------------------------------------------------------------------------------------
# as_owner CMD...: run CMD as the cluster's owner (postgres when we are root, else ourselves).
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

set_dir() {
  DIR=$(cd "$1" && pwd -P)
  DATA=$DIR/data
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local port
  for _ in $(seq 1 200); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free port found"
}

write_env() {
  cat >"$DIR/env.tmp" <<EOF
POSTGRES_DIR=$DIR
POSTGRES_PORT=$PORT
DATABASE_URL=postgres://postgres@127.0.0.1:$PORT/postgres
EOF
  mv "$DIR/env.tmp" "$DIR/env"
}

server_running() {
  [ -f "$DATA/PG_VERSION" ] || return 1
  as_owner "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

accepts_connections() {
  "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 3 >/dev/null 2>&1
}

# pg_start: start the server in DATA on PORT; false when it did not come up (the log says why).
pg_start() {
  as_owner "$BIN/pg_ctl" start -D "$DATA" -l "$DIR/log/postgres.log" -w -t "$TIMEOUT" -s \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=$MAX_CONNECTIONS" >&2
}

# ---------------------------------------------------------------------------------------------------
cmd_status() {
  [ -f "$DIR/$MARKER" ] || return 1
  [ -f "$DIR/env" ] || return 1
  PORT=$(sed -n 's/^POSTGRES_PORT=//p' "$DIR/env")
  server_running && accepts_connections
}

cmd_stop() {
  if [ ! -e "$DIR" ]; then
    log "$DIR does not exist; nothing to stop"
    return 0
  fi
  set_dir "$DIR"
  [ -f "$DIR/$MARKER" ] || die "$DIR is not a postgres.sh cluster directory (no $MARKER); refusing to remove it"
  if server_running; then
    # Throwaway data: no checkpoint, no waiting for clients.
    as_owner "$BIN/pg_ctl" stop -D "$DATA" -m immediate -w -t 30 -s >&2 || log "warning: pg_ctl stop failed"
  fi
  rm -rf "$DIR"
  log "stopped and removed $DIR"
}

cmd_pause() {
  set_dir "$DIR"
  [ -f "$DIR/$MARKER" ] || die "$DIR is not a postgres.sh cluster directory (no $MARKER)"
  if server_running; then
    # Fast: open connections are terminated (57P01), as when an administrator stops the server.
    as_owner "$BIN/pg_ctl" stop -D "$DATA" -m fast -w -t 30 -s >&2
  fi
  log "paused $DIR (start $DIR resumes it)"
}

cmd_start() {
  command -v runuser >/dev/null 2>&1 || [ "$(id -u)" != 0 ] || die "runuser not found (util-linux)"
  if [ -z "${DIR:-}" ]; then
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/postgres.XXXXXX")
  fi
  mkdir -p "$DIR"
  set_dir "$DIR"

  # Idempotency: a running server in DIR is reused, a stopped one restarted with its data on its
  # port; a non-empty directory that is not ours is refused.
  if [ -f "$DIR/$MARKER" ] && [ -f "$DATA/PG_VERSION" ] && [ -f "$DIR/env" ]; then
    PORT=$(sed -n 's/^POSTGRES_PORT=//p' "$DIR/env")
    if cmd_status; then
      log "server in $DIR already running"
      cat "$DIR/env"
      return 0
    fi
    # A crash (or kill -9) leaves postmaster.pid behind; pg_ctl start copes with a stale one.
    log "restarting the server in $DIR on port $PORT"
    pg_start || {
      tail -n 30 "$DIR/log/postgres.log" >&2 || true
      die "could not restart the server in $DIR"
    }
    cat "$DIR/env"
    return 0
  fi
  if [ -f "$DIR/$MARKER" ]; then
    log "incomplete cluster in $DIR: rebuilding"
    find "$DIR" -mindepth 1 -delete
  elif [ -n "$(ls -A "$DIR")" ]; then
    die "$DIR is not empty and not a postgres.sh cluster directory"
  fi
  touch "$DIR/$MARKER"
  mkdir -p "$DIR/log"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "no postgres user to own the cluster (run: $0 install)"
    chown -R postgres "$DIR"
  fi

  as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust --locale=C.UTF-8 -E UTF8 --no-sync >>"$DIR/log/initdb.log" 2>&1 || {
    tail -n 30 "$DIR/log/initdb.log" >&2 || true
    die "initdb failed"
  }
  cat >>"$DATA/postgresql.conf" <<EOF

# scripts/postgres.sh: throwaway test cluster.
fsync = off
synchronous_commit = off
full_page_writes = off
log_min_messages = warning
log_line_prefix = '%m [%p] '
EOF

  # The port was free a moment ago; if another process takes it first, retry with a new one.
  local attempt
  for attempt in 1 2 3 4; do
    PORT=${POSTGRES_PORT:-$(free_port)}
    if pg_start; then
      accepts_connections || die "server started but does not accept connections on 127.0.0.1:$PORT"
      write_env
      log "postgres up in $DIR on 127.0.0.1:$PORT"
      cat "$DIR/env"
      return 0
    fi
    if [ -n "${POSTGRES_PORT:-}" ] || ! grep -q 'could not bind\|Address already in use' "$DIR/log/postgres.log" 2>/dev/null; then
      break
    fi
    log "port $PORT taken (attempt $attempt); retrying"
  done
  tail -n 30 "$DIR/log/postgres.log" >&2 || true
  die "could not start postgres in $DIR (data and logs kept; remove with: $0 stop $DIR)"
}

# ---------------------------------------------------------------------------------------------------
case "${1:-}" in
install) cmd_install ;;
start | stop | pause | status)
  BIN=$(find_bindir) || die "PostgreSQL is not installed (run: $0 install)"
  case "$1" in
  start)
    DIR=${2:-}
    cmd_start
    ;;
  stop)
    [ -n "${2:-}" ] || die "usage: $ME stop DIR"
    DIR=$2
    cmd_stop
    ;;
  pause)
    [ -n "${2:-}" ] || die "usage: $ME pause DIR"
    DIR=$2
    cmd_pause
    ;;
  status)
    [ -n "${2:-}" ] || die "usage: $ME status DIR"
    [ -d "$2" ] || exit 1
    set_dir "$2"
    cmd_status
    ;;
  esac
  ;;
*) usage ;;
esac
