#!/usr/bin/env bash
# A throwaway single-node Ceph cluster (1 mon, 1 memstore OSD, no mgr) with a RADOS Gateway (S3) on
# loopback, for tests and CI. Everything lives under one directory; nothing in /etc/ceph or
# /var/lib/ceph is used.
#
#   scripts/ceph-rgw.sh install        apt-get install the Ceph packages unless radosgw is on PATH
#   scripts/ceph-rgw.sh start [DIR]    build and start a cluster under DIR (default: a new mktemp -d);
#                                      prints KEY=VALUE lines (also written to DIR/env) on stdout
#   scripts/ceph-rgw.sh stop DIR       kill the cluster's processes and remove DIR
#   scripts/ceph-rgw.sh status DIR     exit 0 if the cluster in DIR is up and answers S3
#
# `start` waits until RGW answers a SigV4-signed S3 request, at most CEPH_RGW_TIMEOUT seconds (default
# 90). Logs go to DIR/log and to stderr; stdout carries only the KEY=VALUE lines:
#   CEPH_RGW_DIR, BACKEND_S3_ENDPOINT, BACKEND_S3_ACCESS_KEY, BACKEND_S3_SECRET_KEY, BACKEND_S3_REGION,
#   CEPH_CONF (for `ceph -s` and friends)
# Several clusters may run at once in different DIRs (own ports, own fsid). `start` on a DIR whose
# cluster is running just prints its env again; a dead one is rebuilt.
#
# Environment: CEPH_RGW_TIMEOUT (s, default 90), CEPH_RGW_PORT (fixed S3 port instead of a free one),
# CEPH_RGW_KEEP_ON_FAIL=1 (leave the processes running when start fails, for debugging).
#
# The S3 endpoint is path-style only (no rgw dns name). Data lives in RAM (memstore, 8 GiB cap).
set -euo pipefail

MARKER=.ceph-rgw-cluster
TIMEOUT=${CEPH_RGW_TIMEOUT:-90}
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

# ---------------------------------------------------------------------------------------------------
cmd_install() {
  if command -v radosgw >/dev/null 2>&1; then
    log "radosgw already installed: $(radosgw --version 2>/dev/null | head -1)"
    return 0
  fi
  [ "$(id -u)" = 0 ] || die "install needs root (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  # With the recommended packages, as verified on a fresh machine (about a minute); a minimal set
  # would save some of that but has not been proven on a clean install.
  apt-get install -y -qq radosgw ceph-mon ceph-osd ceph-common >&2
  log "installed: $(radosgw --version | head -1)"
}

# ---------------------------------------------------------------------------------------------------
# Processes: each daemon runs in the foreground (-f) in its own session, with its pid in DIR/run/*.pid.

# pid_alive PIDFILE: true when the pid in PIDFILE runs and its command line names this cluster's conf.
pid_alive() {
  local pidfile=$1 pid
  [ -s "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$CONF" || return 1
}

kill_all() {
  local pidfile pid pids=()
  for pidfile in "$DIR"/run/*.pid; do
    [ -e "$pidfile" ] || continue
    if pid_alive "$pidfile"; then
      pid=$(cat "$pidfile")
      pids+=("$pid")
      kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$pidfile"
  done
  # Data is throwaway, so no graceful shutdown (memstore would dump every object to disk on SIGTERM).
  for _ in $(seq 1 100); do
    local left=0
    for pid in "${pids[@]}"; do
      [ -d "/proc/$pid" ] && left=1
    done
    [ "$left" = 0 ] && return 0
    sleep 0.1
  done
  log "warning: processes still alive after SIGKILL: ${pids[*]}"
}

set_dir() {
  DIR=$(cd "$1" && pwd -P)
  CONF=$DIR/ceph.conf
  export CEPH_CONF=$CONF
  # Never fall back to a system config or keyring.
  unset CEPH_ARGS
}

# ---------------------------------------------------------------------------------------------------
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

rand_str() { # rand_str LEN CHARSET
  local out=''
  while [ ${#out} -lt "$1" ]; do
    out+=$(head -c 256 /dev/urandom | LC_ALL=C tr -dc "$2" || true)
  done
  printf '%s' "${out:0:$1}"
}

remaining() { echo $((DEADLINE - SECONDS)); }

check_deadline() {
  [ "$SECONDS" -lt "$DEADLINE" ] || fail "timed out after ${TIMEOUT}s $1" "${2:-}"
}

# fail MESSAGE [LOGFILE...]: kill what was started, show the log tails, exit 1. DIR is kept for
# inspection.
fail() {
  log "ERROR: $1"
  shift
  local f
  for f in "$@" "$DIR"/log/*.out; do
    [ -s "$f" ] || continue
    log "---- last lines of $f ----"
    tail -n 30 "$f" >&2 || true
  done
  if [ -n "${CEPH_RGW_KEEP_ON_FAIL:-}" ]; then
    log "CEPH_RGW_KEEP_ON_FAIL set: processes left running in $DIR"
    exit 1
  fi
  kill_all
  log "cluster processes killed; logs kept in $DIR/log (remove everything with: $0 stop $DIR)"
  exit 1
}

# ceph_cli ARGS...: the ceph CLI against this cluster, bounded in time.
ceph_cli() {
  local t
  t=$(remaining)
  [ "$t" -gt 0 ] || t=1
  [ "$t" -lt 15 ] || t=15
  timeout "$t" ceph -c "$CONF" --connect-timeout "$t" "$@" 2>>"$DIR/log/ceph-cli.log"
}

# spawn NAME CMD...: start a daemon in the foreground in its own session, output to DIR/log/NAME.out.
spawn() {
  local name=$1
  shift
  setsid "$@" </dev/null >>"$DIR/log/$name.out" 2>&1 &
  echo $! >"$DIR/run/$name.pid"
  disown $!
}

s3_anon_ok() {
  curl -s -m 3 "$ENDPOINT/" 2>/dev/null | grep -q '<ListAllMyBucketsResult'
}

s3_signed_ok() { # s3_signed_ok REGION: a SigV4-signed ListBuckets as the created user
  # curl does not send x-amz-content-sha256 itself; RGW rejects SigV4 requests without it.
  curl -s -m 5 --fail --aws-sigv4 "aws:amz:$1:s3" --user "$ACCESS_KEY:$SECRET_KEY" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
    "$ENDPOINT/" 2>/dev/null | grep -q '<ListAllMyBucketsResult'
}

print_env() {
  cat "$DIR/env"
}

# ---------------------------------------------------------------------------------------------------
cmd_status() {
  [ -f "$DIR/$MARKER" ] || return 1
  [ -f "$DIR/env" ] || return 1
  local f
  for f in mon.a osd.0 rgw; do pid_alive "$DIR/run/$f.pid" || return 1; done
  ENDPOINT=$(sed -n 's/^BACKEND_S3_ENDPOINT=//p' "$DIR/env")
  s3_anon_ok
}

cmd_stop() {
  if [ ! -e "$DIR" ]; then
    log "$DIR does not exist; nothing to stop"
    return 0
  fi
  set_dir "$DIR"
  [ -f "$DIR/$MARKER" ] || die "$DIR is not a ceph-rgw.sh cluster directory (no $MARKER); refusing to remove it"
  kill_all
  rm -rf "$DIR"
  log "stopped and removed $DIR"
}

cmd_start() {
  for tool in monmaptool ceph-mon ceph-osd radosgw radosgw-admin ceph curl timeout setsid; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH (run: $0 install)"
  done
  DEADLINE=$((SECONDS + TIMEOUT))

  if [ -z "${DIR:-}" ]; then
    DIR=$(mktemp -d "${TMPDIR:-/tmp}/ceph-rgw.XXXXXX")
  fi
  mkdir -p "$DIR"
  set_dir "$DIR"

  # Idempotency: an already running cluster in DIR is reused; a dead one is wiped and rebuilt; a
  # non-empty directory that is not ours is refused.
  if [ -f "$DIR/$MARKER" ]; then
    if cmd_status; then
      log "cluster in $DIR already running"
      print_env
      return 0
    fi
    log "stale cluster in $DIR: killing leftovers and rebuilding"
    kill_all
    find "$DIR" -mindepth 1 -delete
  elif [ -n "$(ls -A "$DIR")" ]; then
    die "$DIR is not empty and not a ceph-rgw.sh cluster directory"
  fi
  touch "$DIR/$MARKER"
  mkdir -p "$DIR"/{run,log,mon,osd,rgw,crash,tmp}

  local fsid mon_port rgw_port
  fsid=$(cat /proc/sys/kernel/random/uuid)
  mon_port=$(free_port)
  rgw_port=${CEPH_RGW_PORT:-$(free_port)}
  while [ "$rgw_port" = "$mon_port" ]; do rgw_port=$(free_port); done
  ENDPOINT=http://127.0.0.1:$rgw_port
  log "dir=$DIR fsid=$fsid mon=127.0.0.1:$mon_port rgw=$ENDPOINT"

  # sun_path is 108 bytes: only give daemons an admin socket when the path fits.
  local asok="admin socket = $DIR/run/\$cluster-\$name.asok"
  [ ${#DIR} -lt 70 ] || asok="admin socket ="

  cat >"$CONF" <<EOF
# Generated by scripts/ceph-rgw.sh: throwaway single-node test cluster.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
ms bind msgr1 = false
ms bind msgr2 = true

auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
keyring = $DIR/keyring

run dir = $DIR/run
crash dir = $DIR/crash
tmp dir = $DIR/tmp
log file = $DIR/log/\$cluster-\$name.log
log to stderr = false
err to stderr = true
log to syslog = false
err to syslog = false
clog to syslog = false
mon cluster log file = $DIR/log/\$cluster.log
mon cluster log to syslog = false
pid file =
admin socket =
debug ms = 0
# radosgw defaults to a secure mon connection, which auth none cannot provide (EACCES).
ms mon client mode = crc

osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mon data avail warn = 1
mon data avail crit = 0
mon osd full ratio = .99
mon osd backfillfull ratio = .98
mon osd nearfull ratio = .97
osd failsafe full ratio = .995

[mon]
# Commit map changes right away instead of batching them for 1 s: RGW creates its pools one by one.
paxos propose interval = 0.01
paxos min wait = 0.001
mon data = $DIR/mon/\$cluster-\$id
mon initial members = a
$asok

[osd]
osd data = $DIR/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = 8589934592
osd memory target = 1073741824
osd op num shards = 2
osd op num threads per shard = 1
osd crush update on start = true
osd class load list = *
osd class default list = *
$asok

[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $DIR/rgw
rgw thread pool size = 64
rgw dns name =
rgw enable usage log = false
rgw dynamic resharding = false
rgw crypt require ssl = false
rgw init timeout = $TIMEOUT
rgw enable apis = s3, admin
# Deleted objects' tails are garbage-collected after 2 h by default; the data is in RAM, so reclaim soon.
rgw gc obj min wait = 30
rgw gc processor period = 30
$asok
EOF

  # --- monitor ------------------------------------------------------------------------------------
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >>"$DIR/log/setup.log" 2>&1 ||
    fail "monmaptool failed" "$DIR/log/setup.log"
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" >>"$DIR/log/setup.log" 2>&1 ||
    fail "ceph-mon --mkfs failed" "$DIR/log/setup.log"
  spawn mon.a ceph-mon -c "$CONF" -i a -f
  until ceph_cli mon stat >/dev/null; do
    pid_alive "$DIR/run/mon.a.pid" || fail "ceph-mon exited" "$DIR/log/ceph-mon.a.log"
    check_deadline "waiting for ceph-mon" "$DIR/log/ceph-mon.a.log"
    sleep 0.2
  done
  log "mon up after ${SECONDS}s"

  # --- OSD ----------------------------------------------------------------------------------------
  local osd_uuid osd_id
  osd_uuid=$(cat /proc/sys/kernel/random/uuid)
  osd_id=$(ceph_cli osd create "$osd_uuid") || fail "ceph osd create failed" "$DIR/log/ceph-cli.log"
  [ "$osd_id" = 0 ] || fail "unexpected osd id '$osd_id'"
  mkdir -p "$DIR/osd/ceph-0"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" --monmap "$DIR/monmap" >>"$DIR/log/setup.log" 2>&1 ||
    fail "ceph-osd --mkfs failed" "$DIR/log/setup.log"
  spawn osd.0 ceph-osd -c "$CONF" -i 0 -f
  until ceph_cli osd dump 2>/dev/null | grep -qE '^osd\.0 up +in'; do
    pid_alive "$DIR/run/osd.0.pid" || fail "ceph-osd exited" "$DIR/log/ceph-osd.0.log"
    check_deadline "waiting for ceph-osd to be up" "$DIR/log/ceph-osd.0.log"
    sleep 0.3
  done
  log "osd up after ${SECONDS}s"

  # --- RGW ----------------------------------------------------------------------------------------
  # The port was picked a few seconds ago and may have been taken meanwhile: on "failed to bind",
  # retry with a new one (unless CEPH_RGW_PORT fixes it).
  local rgw_log=$DIR/log/ceph-client.rgw.log attempt=1
  spawn rgw radosgw -c "$CONF" -n client.rgw -f
  # Ready when our radosgw (not some other server that took the port) logged serving GET / .
  until s3_anon_ok && grep -q '"GET / HTTP/1.1" 200' "$rgw_log" 2>/dev/null; do
    if ! pid_alive "$DIR/run/rgw.pid"; then
      if grep -q 'failed to bind address' "$rgw_log" 2>/dev/null && [ -z "${CEPH_RGW_PORT:-}" ] && [ "$attempt" -lt 4 ]; then
        attempt=$((attempt + 1))
        rgw_port=$(free_port)
        log "rgw port taken; retrying on $rgw_port"
        ENDPOINT=http://127.0.0.1:$rgw_port
        sed -i "s|^rgw frontends = .*|rgw frontends = beast endpoint=127.0.0.1:$rgw_port|" "$CONF"
        mv "$rgw_log" "$rgw_log.$attempt"
        spawn rgw radosgw -c "$CONF" -n client.rgw -f
        continue
      fi
      fail "radosgw exited" "$rgw_log"
    fi
    check_deadline "waiting for radosgw to answer on $ENDPOINT" "$rgw_log"
    sleep 0.3
  done
  log "rgw answering after ${SECONDS}s"

  ACCESS_KEY=$(rand_str 20 'A-Z0-9')
  SECRET_KEY=$(rand_str 40 'A-Za-z0-9')
  timeout "$(remaining)" radosgw-admin -c "$CONF" user create --uid=cloudstorage \
    --display-name="CloudStorage tests" --access-key="$ACCESS_KEY" --secret="$SECRET_KEY" \
    >>"$DIR/log/setup.log" 2>&1 || fail "radosgw-admin user create failed" "$DIR/log/setup.log"
  # The region to sign with: the zonegroup's api_name ("default"), which is also the only
  # LocationConstraint CreateBucket accepts besides none. RGW does not check the credential scope's
  # region, so us-east-1 signatures work as well.
  local region
  region=$(timeout "$(remaining)" radosgw-admin -c "$CONF" zonegroup get 2>>"$DIR/log/setup.log" |
    sed -n 's/^ *"api_name": "\(.*\)",$/\1/p' | head -1)
  [ -n "$region" ] || fail "could not read the zonegroup's api_name" "$DIR/log/setup.log"
  until s3_signed_ok "$region"; do
    check_deadline "waiting for a signed S3 request (region $region) to succeed" "$DIR/log/ceph-client.rgw.log"
    sleep 0.3
  done
  if s3_signed_ok us-east-1; then
    log "signed S3 requests OK (regions $region and us-east-1) after ${SECONDS}s"
  else
    log "signed S3 requests OK (region $region; us-east-1 rejected) after ${SECONDS}s"
  fi

  cat >"$DIR/env.tmp" <<EOF
CEPH_RGW_DIR=$DIR
BACKEND_S3_ENDPOINT=$ENDPOINT
BACKEND_S3_ACCESS_KEY=$ACCESS_KEY
BACKEND_S3_SECRET_KEY=$SECRET_KEY
BACKEND_S3_REGION=$region
CEPH_CONF=$CONF
EOF
  mv "$DIR/env.tmp" "$DIR/env"
  print_env
}

# ---------------------------------------------------------------------------------------------------
case "${1:-}" in
install) cmd_install ;;
start)
  DIR=${2:-}
  cmd_start
  ;;
stop)
  [ -n "${2:-}" ] || die "usage: $ME stop DIR"
  DIR=$2
  cmd_stop
  ;;
status)
  [ -n "${2:-}" ] || die "usage: $ME status DIR"
  [ -d "$2" ] || exit 1
  set_dir "$2"
  cmd_status
  ;;
*) usage ;;
esac
