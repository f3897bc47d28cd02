#!/usr/bin/env bash
# A throw-away single-node Ceph cluster with radosgw (S3 + IAM + STS) on
# loopback, for testing amplifybackendd against a stricter target than the
# embedded gateway.
#
#   scripts/ceph.sh start DIR   install Debian's ceph-mon, ceph-osd, radosgw
#                               and ceph-common if missing, start one monitor,
#                               one memstore OSD and radosgw under DIR, create
#                               an admin user, write DIR/env and print it
#   scripts/ceph.sh stop DIR    stop the daemons started under DIR (by the pid
#                               files in DIR/run) and the watchdog
#
# DIR/env is shell-sourceable:
#   CEPH_ENDPOINT=http://127.0.0.1:PORT   S3, IAM and STS on one port
#   CEPH_ACCESS_KEY=... CEPH_SECRET_KEY=...   the admin user (uid "admin")
#   CEPH_CONF=DIR/ceph.conf               for radosgw-admin -c "$CEPH_CONF"
#   CEPH_ADMIN_UID=admin
#
# start is idempotent: when the cluster under DIR is up it only prints DIR/env;
# when it is half up or stale (memstore keeps nothing across a restart) it is
# stopped, wiped and created afresh. When CEPH_WATCH_PID is set, a detached
# watchdog stops the cluster once that process is gone, so a test binary that
# dies (timeout panic, kill -9) leaves no daemons behind.
#
# Every daemon binds 127.0.0.1 only: the monitor (msgr2 only) and radosgw on
# free ports picked at start, the OSD on the first free ports from 6800 on
# (public_addr = cluster_addr = 127.0.0.1). Authentication inside
# the cluster is off (auth_* = none); radosgw still checks S3/IAM/STS
# signatures against its users. There is no mgr and no systemd.
#
# Measured on the 2-core development machine (Debian 12, Ceph 16.2.15, five
# runs): start with the packages installed takes 1.4-2.0 s (monitor up at
# 0.3-0.4 s, OSD up at 0.7-1.1 s, radosgw answering at 1.4-1.8 s, then the
# admin user); design.md's ~15 s was before paxos_propose_interval was cut
# (each of radosgw's pool creations waited a 1 s proposal round). Installing
# the packages once (apt-get update + install) took 18 s. A repeated start
# of a running cluster takes 0.01 s; stop takes 2-2.6 s.
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd)
RUN=$DIR/run
CONF=$DIR/ceph.conf
ENVFILE=$DIR/env
DAEMONS=(client.rgw osd.0 mon.a) # stop order

log() { echo "ceph.sh: $*" >&2; }
die() { log "$*"; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"; fi
}

install_packages() {
  local missing=()
  command -v ceph-mon >/dev/null || missing+=(ceph-mon)
  command -v ceph-osd >/dev/null || missing+=(ceph-osd)
  command -v radosgw >/dev/null || missing+=(radosgw)
  { command -v ceph >/dev/null && command -v monmaptool >/dev/null; } || missing+=(ceph-common)
  [ ${#missing[@]} -eq 0 ] && return 0
  log "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    ceph-mon ceph-osd radosgw ceph-common >/dev/null
}

# alive NAME: the daemon whose pid file is DIR/run/NAME.pid is running.
alive() {
  local f=$RUN/$1.pid pid
  [ -s "$f" ] || return 1
  pid=$(cat "$f")
  kill -0 "$pid" 2>/dev/null
}

# ours PID NEEDLE: the process's command line holds NEEDLE (the daemons name
# DIR/ceph.conf, the watchdog DIR), so a stale pid file never gets an
# unrelated process killed.
ours() {
  [ -r "/proc/$1/cmdline" ] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF -- "$2"
}

# stop_all: SIGTERM every daemon at once, SIGKILL what is left after 1 s (the
# cluster is throw-away; radosgw alone would wait up to 2 minutes for its
# requests), and return only when all are gone. The watchdog goes last: it
# may be the one calling.
stop_all() {
  local d f pid pids=() i alive_any
  for d in "${DAEMONS[@]}"; do
    f=$RUN/$d.pid
    if [ -s "$f" ]; then
      pid=$(cat "$f")
      if kill -0 "$pid" 2>/dev/null && ours "$pid" " $CONF "; then
        pids+=("$pid")
      fi
    fi
    rm -f "$f"
  done
  if [ ${#pids[@]} -gt 0 ]; then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for i in $(seq 1 40); do
      if [ "$i" -eq 10 ]; then kill -KILL "${pids[@]}" 2>/dev/null || true; fi
      alive_any=0
      for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then alive_any=1; fi
      done
      if [ $alive_any -eq 0 ]; then break; fi
      sleep 0.1
    done
  fi
  f=$RUN/watchdog.pid
  if [ -s "$f" ]; then
    pid=$(cat "$f")
    if [ "$pid" != "${WATCHDOG_SELF:-}" ] && kill -0 "$pid" 2>/dev/null && ours "$pid" " $DIR "; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
    rm -f "$f"
  fi
}

# free_port: a TCP port on 127.0.0.1 nobody listens on.
free_port() {
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  die "no free port found"
}

# wait_for WHAT SECONDS COMMAND...: poll COMMAND every 0.2 s.
wait_for() {
  local what=$1 secs=$2 i
  shift 2
  for i in $(seq 1 $((secs * 5))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  log "timed out after ${secs}s waiting for $what; logs in $DIR/log"
  tail -n 20 "$DIR"/log/*.log >&2 2>/dev/null || true
  return 1
}

# rgw_answers PORT: radosgw answers an anonymous GET / with 200 (bash's
# /dev/tcp, so that curl is not needed).
rgw_answers() {
  local line
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  IFS= read -r -t 5 line <&3 || line=
  exec 3<&- 3>&-
  [[ $line == "HTTP/1."?" 200"* ]]
}
uuid() { cat /proc/sys/kernel/random/uuid; }
osd_up() { ceph -c "$CONF" --connect-timeout 5 osd dump 2>/dev/null | grep -q '^osd.0 up'; }

print_env() { cat "$ENVFILE"; }
elapsed() { awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

start() {
  if alive mon.a && alive osd.0 && alive client.rgw && [ -s "$ENVFILE" ]; then
    # shellcheck disable=SC1090
    . "$ENVFILE"
    if rgw_answers "${CEPH_ENDPOINT##*:}"; then
      print_env
      return 0
    fi
  fi
  install_packages
  stop_all
  rm -rf "$DIR/mon" "$DIR/osd" "$DIR/log" "$RUN" "$ENVFILE" "$DIR/monmap"
  mkdir -p "$DIR/mon/ceph-a" "$DIR/osd/ceph-0" "$DIR/log" "$RUN"
  t0=$EPOCHREALTIME
  local fsid mon_port rgw_port sts_key
  fsid=$(uuid)
  mon_port=$(free_port)
  rgw_port=$(free_port)
  while [ "$rgw_port" = "$mon_port" ]; do rgw_port=$(free_port); done
  sts_key=$(head -c 64 /dev/urandom | tr -dc 'A-Za-z0-9' | head -c 16)
  [ ${#sts_key} -eq 16 ] || sts_key=abcdefghijklmnop

  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon_initial_members = a
mon_host = v2:127.0.0.1:$mon_port
public_addr = 127.0.0.1
cluster_addr = 127.0.0.1
public_network = 127.0.0.0/8
ms_bind_ipv6 = false
ms_bind_msgr1 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
auth_supported = none
# No session keys without cephx, so no "secure" messenger mode either; daemons
# such as radosgw otherwise insist on it towards the monitor (EACCES, -13).
ms_mon_client_mode = crc
ms_mon_service_mode = crc
ms_mon_cluster_mode = crc
ms_client_mode = crc
ms_service_mode = crc
ms_cluster_mode = crc
run_dir = $RUN
admin_socket = $RUN/\$name.asok
pid_file = $RUN/\$name.pid
log_file = $DIR/log/\$name.log
mon_data = $DIR/mon/\$cluster-\$id
osd_data = $DIR/osd/\$cluster-\$id
osd_objectstore = memstore
memstore_device_bytes = 1073741824
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
osd_crush_chooseleaf_type = 0
mon_allow_pool_size_one = true
mon_warn_on_pool_no_redundancy = false
mon_max_pg_per_osd = 1000
# Every pool radosgw creates is a monitor proposal; the default 1 s batching
# interval made start-up ~9 s slower.
paxos_propose_interval = 0.05
paxos_min_wait = 0.01

[client]
rgw_frontends = beast endpoint=127.0.0.1:$rgw_port
rgw_enable_apis = s3, admin, sts, iam
rgw_s3_auth_use_sts = true
rgw_sts_key = $sts_key
rgw_zone = default
EOF

  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" >"$DIR/log/mkfs-mon.log" 2>&1 ||
    { cat "$DIR/log/mkfs-mon.log" >&2; die "ceph-mon --mkfs failed"; }
  ceph-mon -c "$CONF" -i a >>"$DIR/log/daemons.log" 2>&1
  wait_for "the monitor" 20 ceph -c "$CONF" --connect-timeout 2 mon stat || die "monitor did not start"
  log "monitor up after $(elapsed)s"

  local osd_uuid id
  osd_uuid=$(uuid)
  id=$(ceph -c "$CONF" osd new "$osd_uuid")
  [ "$id" = 0 ] || die "expected OSD id 0, got $id"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$DIR/log/mkfs-osd.log" 2>&1 ||
    { cat "$DIR/log/mkfs-osd.log" >&2; die "ceph-osd --mkfs failed"; }
  ceph-osd -c "$CONF" -i 0 >>"$DIR/log/daemons.log" 2>&1
  wait_for "the OSD" 30 osd_up || die "OSD did not come up"
  log "OSD up after $(elapsed)s"

  radosgw -c "$CONF" -n client.rgw >>"$DIR/log/daemons.log" 2>&1
  wait_for "radosgw" 60 rgw_answers "$rgw_port" || die "radosgw did not answer"
  log "radosgw up after $(elapsed)s"

  local out access secret
  out=$(radosgw-admin -c "$CONF" user create --uid admin --display-name "amplifybackendd test admin" \
    --caps "roles=*;users=*;user-policy=*;buckets=*;metadata=*;usage=*;zone=*;oidc-provider=*")
  access=$(printf '%s' "$out" | sed -n 's/.*"access_key": "\([^"]*\)".*/\1/p' | head -n1)
  secret=$(printf '%s' "$out" | sed -n 's/.*"secret_key": "\([^"]*\)".*/\1/p' | head -n1)
  [ -n "$access" ] && [ -n "$secret" ] || die "could not read the admin user's keys"
  cat >"$ENVFILE" <<EOF
CEPH_ENDPOINT=http://127.0.0.1:$rgw_port
CEPH_ACCESS_KEY=$access
CEPH_SECRET_KEY=$secret
CEPH_CONF=$CONF
CEPH_ADMIN_UID=admin
EOF
  log "cluster ready after $(elapsed)s"

  if [ -n "${CEPH_WATCH_PID:-}" ]; then
    start_watchdog "$CEPH_WATCH_PID"
  fi
  print_env
}

# start_watchdog PID: stop the cluster once PID is gone. Detached (setsid, no
# inherited output) so it outlives the caller and holds no pipes open.
start_watchdog() {
  local owner=$1 self
  self=$(readlink -f "$0")
  setsid bash -c '
    echo $$ >"$1/run/watchdog.pid"
    while kill -0 "$2" 2>/dev/null; do sleep 1; done
    WATCHDOG_SELF=$$ "$3" stop "$1"
  ' watchdog "$DIR" "$owner" "$self" </dev/null >>"$DIR/log/watchdog.log" 2>&1 &
}

case $cmd in
start) start ;;
stop) stop_all ;;
*) usage ;;
esac
