#!/usr/bin/env bash
# pg.sh: manage throw-away PostgreSQL clusters built from the machine's
# PostgreSQL server binaries (no Docker, no system service).
#
#   pg.sh start DATADIR PORT        init (if needed) and start a cluster
#   pg.sh stop DATADIR              fast shutdown; no error if not running
#   pg.sh status DATADIR            exit 0 and print the port if running, else exit 3
#   pg.sh destroy DATADIR           stop, then delete the cluster (and its relocated copy)
#   pg.sh ensure-db PORT DBNAME     create DBNAME (owner postgres) if missing
#   pg.sh has-binaries              exit 0 when the server binaries are there, else 3
#                                   (installs nothing)
#   pg.sh with-temp-cluster CMD...  run CMD against a fresh temporary cluster,
#                                   with TEST_DATABASE_URL exported; the cluster
#                                   is always stopped and removed afterwards
#
# Citus (README "Scaling out on Citus"): a coordinator and two workers, each a
# cluster of its own with the citus extension preloaded.
#   pg.sh citus-install             as root: ../shared/citus/install.sh (beside
#                                   the repository; a no-op when installed)
#   pg.sh citus-start DIR PORT      start DIR/coordinator on PORT, DIR/worker1
#                                   and DIR/worker2 on PORT+1 and PORT+2
#   pg.sh citus-stop DIR            stop the three
#   pg.sh citus-db PORT DBNAME      create DBNAME on the three nodes of
#                                   citus-start's PORT, CREATE EXTENSION citus
#                                   on each, citus_set_coordinator_host and
#                                   citus_add_node for both workers (idempotent)
#   pg.sh with-temp-citus CMD...    run CMD against a fresh temporary three-node
#                                   cluster: TEST_DATABASE_URL is the
#                                   coordinator, TEST_CITUS_WORKERS the workers
#                                   (host:port,host:port); all three are always
#                                   stopped and removed afterwards
#
# Clusters listen on 127.0.0.1 only (no Unix socket), trust local TCP
# connections and have the superuser "postgres". PG_FAST=1 turns durability
# off (fsync, synchronous_commit, full_page_writes) for tests; PG_CITUS=1
# (set by the citus commands) preloads citus.
#
# PostgreSQL refuses to run as root: as root, initdb/pg_ctl run as the
# "postgres" OS user. If that user cannot reach DATADIR (e.g. a checkout under
# /root, mode 700), the cluster lives in /var/tmp/sessiond-pg-<hash> and
# DATADIR becomes a symlink to it.
set -euo pipefail

PROG=pg.sh
log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() { printf '%s: error: %s\n' "$PROG" "$*" >&2; exit 1; }

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1
PG_OS_USER=postgres

# Run a command as the OS user that owns the clusters (from "/", so a cwd the
# postgres user cannot read does not matter).
as_pg() {
  if ((IS_ROOT)); then
    (cd / && runuser -u "$PG_OS_USER" -- "$@")
  else
    "$@"
  fi
}

# ---------------------------------------------------------------- binaries --

find_bindir() {
  local d
  if command -v pg_config >/dev/null 2>&1; then
    d=$(pg_config --bindir 2>/dev/null || true)
    if [[ -n $d && -x $d/initdb && -x $d/pg_ctl && -x $d/postgres ]]; then
      printf '%s\n' "$d"
      return 0
    fi
  fi
  d=$(shopt -s nullglob; for x in /usr/lib/postgresql/*/bin; do
        [[ -x $x/initdb && -x $x/pg_ctl && -x $x/postgres ]] && printf '%s\n' "$x"
      done | sort -V | tail -n 1)
  [[ -n $d ]] || return 1
  printf '%s\n' "$d"
}

install_postgres() {
  log "PostgreSQL server binaries not found; installing the Debian package 'postgresql'"
  command -v apt-get >/dev/null 2>&1 || die "apt-get not available; install PostgreSQL server binaries manually"
  # Keep the package's own service from starting a system cluster.
  local policy=/usr/sbin/policy-rc.d added_policy=0 rc=0
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && added_policy=1
  fi
  { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; } >&2 || rc=$?
  ((added_policy)) && rm -f "$policy"
  ((rc == 0)) || die "apt-get install postgresql failed (exit $rc)"
}

BINDIR=
ensure_bindir() {
  [[ -n $BINDIR ]] && return 0
  if BINDIR=$(find_bindir); then return 0; fi
  if ((IS_ROOT)); then
    install_postgres
    BINDIR=$(find_bindir) || die "PostgreSQL installed but server binaries (initdb, pg_ctl) still not found"
  else
    die "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found: no usable 'pg_config --bindir' and no /usr/lib/postgresql/*/bin. Install them (Debian: sudo apt-get install postgresql) or run as root to install automatically."
  fi
  id "$PG_OS_USER" >/dev/null 2>&1 || ((!IS_ROOT)) || die "OS user '$PG_OS_USER' does not exist"
}

psql_bin() {
  if command -v psql >/dev/null 2>&1; then
    command -v psql
  else
    ensure_bindir
    [[ -x $BINDIR/psql ]] || die "psql not found"
    printf '%s\n' "$BINDIR/psql"
  fi
}

# ---------------------------------------------------------------- data dir --

# resolve_datadir DATADIR: sets DATADIR (absolute) and PGDATA_REAL (the
# directory the server actually uses).
resolve_datadir() {
  [[ -n ${1:-} ]] || die "missing DATADIR"
  DATADIR=$(realpath -ms -- "$1")
  PGDATA_REAL=$DATADIR
  if [[ -L $DATADIR ]]; then
    PGDATA_REAL=$(readlink -f -- "$DATADIR" 2>/dev/null || readlink -- "$DATADIR")
  fi
}

relocated_dir() {
  printf '/var/tmp/sessiond-pg-%s\n' "$(printf '%s' "$DATADIR" | sha256sum | cut -c1-16)"
}

# prepare_datadir: make sure PGDATA_REAL exists, is owned by the cluster user
# and is reachable by it (relocating when root cannot hand it over).
prepare_datadir() {
  if [[ -L $DATADIR ]]; then
    # Relocated earlier; the target may have been cleaned up since.
    if [[ ! -d $PGDATA_REAL ]]; then
      PGDATA_REAL=$(readlink -- "$DATADIR")
      [[ $PGDATA_REAL == /* ]] || die "$DATADIR is a relative symlink; remove it"
      mkdir -p -- "$PGDATA_REAL"
    fi
  elif ((IS_ROOT)); then
    local parent
    parent=$(dirname -- "$DATADIR")
    mkdir -p -- "$parent"
    if ! runuser -u "$PG_OS_USER" -- test -x "$parent"; then
      [[ -e $DATADIR ]] && die "user '$PG_OS_USER' cannot reach $DATADIR and it already exists; remove it or use a reachable path"
      PGDATA_REAL=$(relocated_dir)
      mkdir -p -- "$PGDATA_REAL"
      ln -s -- "$PGDATA_REAL" "$DATADIR"
      log "note: user '$PG_OS_USER' cannot reach $parent; cluster lives in $PGDATA_REAL ($DATADIR is a symlink to it)"
    fi
  fi
  mkdir -p -- "$PGDATA_REAL"
  if ((IS_ROOT)); then
    chown "$PG_OS_USER:" -- "$PGDATA_REAL"
    runuser -u "$PG_OS_USER" -- test -w "$PGDATA_REAL" ||
      die "user '$PG_OS_USER' cannot write $PGDATA_REAL"
  fi
  chmod 700 -- "$PGDATA_REAL"
}

# is_running: pg_ctl status exits 0 when the server is running.
is_running() {
  [[ -f $PGDATA_REAL/PG_VERSION ]] || return 1
  ensure_bindir
  as_pg "$BINDIR/pg_ctl" -D "$PGDATA_REAL" status >/dev/null 2>&1
}

running_port() {
  # Line 4 of postmaster.pid is the port.
  sed -n 4p "$PGDATA_REAL/postmaster.pid" 2>/dev/null || true
}

write_config() {
  local port=$1 fast=${PG_FAST:-0}
  {
    echo "# Written by scripts/pg.sh on every start; do not edit."
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = ''"
    # Citus workers take the coordinator's connections on top of their own
    # clients (up to one per shard of a multi-shard statement).
    if [[ ${PG_CITUS:-0} == 1 ]]; then echo "max_connections = 400"; else echo "max_connections = 200"; fi
    if [[ $fast == 1 ]]; then
      echo "fsync = off"
      echo "synchronous_commit = off"
      echo "full_page_writes = off"
    fi
    if [[ ${PG_CITUS:-0} == 1 ]]; then
      echo "shared_preload_libraries = 'citus'"
      # No usage reports to citusdata.com: nothing leaves the machine.
      echo "citus.enable_statistics_collection = off"
      # Node-to-node connections stay on 127.0.0.1 here; a deployment uses
      # sslmode=verify-full (README "Scaling out on Citus").
      echo "citus.node_conninfo = 'sslmode=disable'"
      # Fewer shards than the default 32: each test database is distributed
      # anew, and 8 shards on two workers still spread every table across
      # both (multi-shard statements stay multi-shard).
      if [[ $fast == 1 ]]; then echo "citus.shard_count = 8"; fi
    fi
  } | as_pg tee "$PGDATA_REAL/sessiond.conf" >/dev/null
  if ! grep -q "^include_if_exists = 'sessiond.conf'" "$PGDATA_REAL/postgresql.conf"; then
    echo "include_if_exists = 'sessiond.conf'" | as_pg tee -a "$PGDATA_REAL/postgresql.conf" >/dev/null
  fi
  printf '%s\n' \
    "# Written by scripts/pg.sh: trust local TCP connections only." \
    "host all all 127.0.0.1/32 trust" \
    "host all all ::1/128 trust" |
    as_pg tee "$PGDATA_REAL/pg_hba.conf" >/dev/null
}

# ---------------------------------------------------------------- commands --

cmd_start() {
  (($# == 2)) || die "usage: $PROG start DATADIR PORT"
  local port=$2
  if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65535)); then
    die "invalid port: $port"
  fi
  resolve_datadir "$1"
  ensure_bindir
  if is_running; then
    log "cluster at $DATADIR already running (port $(running_port))"
    return 0
  fi
  prepare_datadir
  if [[ ! -f $PGDATA_REAL/PG_VERSION ]]; then
    log "initializing cluster in $PGDATA_REAL"
    local out
    out=$(as_pg "$BINDIR/initdb" -D "$PGDATA_REAL" -U postgres --auth=trust \
      --encoding=UTF8 --locale=C 2>&1) || {
      printf '%s\n' "$out" >&2
      die "initdb failed"
    }
  fi
  write_config "$port"
  log "starting cluster $DATADIR on 127.0.0.1:$port"
  if ! as_pg "$BINDIR/pg_ctl" -D "$PGDATA_REAL" -l "$PGDATA_REAL/server.log" -w -t 60 start >/dev/null; then
    log "pg_ctl start failed; last lines of $PGDATA_REAL/server.log:"
    tail -n 20 "$PGDATA_REAL/server.log" >&2 || true
    return 1
  fi
}

cmd_stop() {
  (($# == 1)) || die "usage: $PROG stop DATADIR"
  resolve_datadir "$1"
  if ! is_running; then
    log "cluster at $DATADIR not running"
    return 0
  fi
  log "stopping cluster $DATADIR"
  as_pg "$BINDIR/pg_ctl" -D "$PGDATA_REAL" -m fast -w -t 60 stop >/dev/null
}

cmd_status() {
  (($# == 1)) || die "usage: $PROG status DATADIR"
  resolve_datadir "$1"
  if is_running; then
    running_port
    return 0
  fi
  return 3
}

cmd_destroy() {
  (($# == 1)) || die "usage: $PROG destroy DATADIR"
  cmd_stop "$1"
  if [[ -L $DATADIR ]]; then
    rm -rf -- "$PGDATA_REAL"
    rm -f -- "$DATADIR"
  else
    rm -rf -- "$DATADIR"
  fi
  log "removed cluster $DATADIR"
}

cmd_ensure_db() {
  (($# == 2)) || die "usage: $PROG ensure-db PORT DBNAME"
  local port=$1 db=$2 psql
  psql=$(psql_bin)
  # \gexec runs the CREATE only when the SELECT returns a row.
  "$psql" -X -q -v ON_ERROR_STOP=1 -v "db=$db" -h 127.0.0.1 -p "$port" -U postgres -d postgres <<'SQL' >/dev/null
SELECT format('CREATE DATABASE %I OWNER postgres', :'db')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db')
\gexec
SQL
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

pick_port() {
  local p i
  for ((i = 0; i < 200; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
    port_in_use "$p" || { printf '%s\n' "$p"; return 0; }
  done
  die "no free TCP port found"
}

TEMP_DIR=
temp_cleanup() {
  local rc=$? d
  trap - EXIT INT TERM
  if [[ -n $TEMP_DIR ]]; then
    # Every cluster under TEMP_DIR: "data", or the three Citus nodes.
    for d in "$TEMP_DIR"/*/; do
      if [[ -f $d/postmaster.pid ]]; then
        as_pg "$BINDIR/pg_ctl" -D "${d%/}" -m immediate -w -t 60 stop >/dev/null 2>&1 || true
      fi
    done
    rm -rf -- "$TEMP_DIR"
  fi
  exit "$rc"
}

cmd_with_temp_cluster() {
  (($# >= 1)) || die "usage: $PROG with-temp-cluster CMD [ARGS...]"
  ensure_bindir
  TEMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-pgtest.XXXXXX")
  trap temp_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ((IS_ROOT)) && chown "$PG_OS_USER:" "$TEMP_DIR"
  local port attempt
  for attempt in 1 2 3 4 5; do
    port=$(pick_port)
    # A separate process, so that errexit stays in force inside "start".
    if PG_FAST=1 bash "${BASH_SOURCE[0]}" start "$TEMP_DIR/data" "$port"; then
      break
    fi
    ((attempt < 5)) || die "could not start temporary cluster"
    log "retrying on another port"
  done
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  log "TEST_DATABASE_URL=$TEST_DATABASE_URL"
  local rc=0
  "$@" || rc=$?
  exit "$rc"
}


# ------------------------------------------------------------------ citus --

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The Citus source and its build script live beside the repository (a CI
# checkout has shared/ next to it), not in it.
CITUS_INSTALL=$REPO_ROOT/../shared/citus/install.sh
CITUS_NODES=(coordinator worker1 worker2)

citus_installed() {
  ensure_bindir
  local lib
  lib=$("$BINDIR/pg_config" --pkglibdir 2>/dev/null || printf '%s/lib' "$(dirname "$BINDIR")")
  [[ -f $lib/citus.so ]]
}

cmd_citus_install() {
  ensure_bindir
  if ((IS_ROOT)); then
    if [[ -f $CITUS_INSTALL ]]; then
      bash "$CITUS_INSTALL" >&2 || die "$CITUS_INSTALL failed"
    elif citus_installed; then
      log "note: $CITUS_INSTALL not found; using the citus extension already installed"
    else
      die "the citus extension is not installed and $CITUS_INSTALL is missing: check out the shared/ folder (Citus source and install.sh) beside the repository, or install Citus 13.2 for $BINDIR"
    fi
  fi
  citus_installed || die "the citus extension is not installed for $BINDIR: as root, $CITUS_INSTALL builds it (needs ../shared/citus beside the repository)"
}

# citus_start_nodes DIR PORT: the three nodes, started in parallel.
citus_start_nodes() {
  local dir=$1 port=$2 i rc=0
  local -a pids=()
  for i in 0 1 2; do
    PG_CITUS=1 bash "${BASH_SOURCE[0]}" start "$dir/${CITUS_NODES[i]}" "$((port + i))" &
    pids+=($!)
  done
  for i in 0 1 2; do
    wait "${pids[i]}" || rc=1
  done
  return "$rc"
}

cmd_citus_start() {
  (($# == 2)) || die "usage: $PROG citus-start DIR PORT"
  local port=$2
  if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65533)); then
    die "invalid port: $port"
  fi
  cmd_citus_install
  mkdir -p -- "$1"
  citus_start_nodes "$(realpath -ms -- "$1")" "$port"
}

cmd_citus_stop() {
  (($# == 1)) || die "usage: $PROG citus-stop DIR"
  local n rc=0
  for n in "${CITUS_NODES[@]}"; do
    bash "${BASH_SOURCE[0]}" stop "$1/$n" || rc=1
  done
  return "$rc"
}

# psql_on PORT DB ARGS...: psql as the superuser, stopping at the first error.
psql_on() {
  local port=$1 db=$2
  shift 2
  "$(psql_bin)" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres -d "$db" "$@"
}

cmd_citus_db() {
  (($# == 2)) || die "usage: $PROG citus-db PORT DBNAME"
  local port=$1 db=$2 p
  # The database and the extension on the workers first: citus_add_node
  # connects to the same database on each worker and expects citus there.
  for p in $((port + 1)) $((port + 2)) "$port"; do
    cmd_ensure_db "$p" "$db"
    PGOPTIONS='-c client_min_messages=warning' psql_on "$p" "$db" -c 'CREATE EXTENSION IF NOT EXISTS citus' >/dev/null
  done
  psql_on "$port" "$db" -v "port=$port" -v "w1=$((port + 1))" -v "w2=$((port + 2))" >/dev/null <<'SQL'
SELECT citus_set_coordinator_host('127.0.0.1', :port);
SELECT citus_add_node('127.0.0.1', :w1);
SELECT citus_add_node('127.0.0.1', :w2);
SQL
}

cmd_with_temp_citus() {
  (($# >= 1)) || die "usage: $PROG with-temp-citus CMD [ARGS...]"
  cmd_citus_install
  TEMP_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-citustest.XXXXXX")
  trap temp_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  ((IS_ROOT)) && chown "$PG_OS_USER:" "$TEMP_DIR"
  local port attempt n
  for attempt in 1 2 3 4 5; do
    port=$(pick_port)
    if ! port_in_use "$((port + 1))" && ! port_in_use "$((port + 2))" &&
      PG_FAST=1 citus_start_nodes "$TEMP_DIR" "$port"; then
      break
    fi
    ((attempt < 5)) || die "could not start the temporary Citus cluster"
    log "retrying on other ports"
    for n in "${CITUS_NODES[@]}"; do
      [[ -f $TEMP_DIR/$n/postmaster.pid ]] &&
        as_pg "$BINDIR/pg_ctl" -D "$TEMP_DIR/$n" -m immediate -w -t 60 stop >/dev/null 2>&1
      rm -rf -- "${TEMP_DIR:?}/$n"
    done
  done
  export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  export TEST_CITUS_WORKERS="127.0.0.1:$((port + 1)),127.0.0.1:$((port + 2))"
  log "TEST_DATABASE_URL=$TEST_DATABASE_URL (Citus coordinator)"
  log "TEST_CITUS_WORKERS=$TEST_CITUS_WORKERS"
  local rc=0
  "$@" || rc=$?
  exit "$rc"
}

usage() {
  local rc=${1:-2}
  sed -n '2,36p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "$rc"
}

main() {
  (($# >= 1)) || usage
  local cmd=$1
  shift
  case $cmd in
    start) cmd_start "$@" ;;
    has-binaries) find_bindir >/dev/null || exit 3 ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    destroy) cmd_destroy "$@" ;;
    ensure-db) cmd_ensure_db "$@" ;;
    with-temp-cluster) cmd_with_temp_cluster "$@" ;;
    citus-install) cmd_citus_install "$@" ;;
    citus-start) cmd_citus_start "$@" ;;
    citus-stop) cmd_citus_stop "$@" ;;
    citus-db) cmd_citus_db "$@" ;;
    with-temp-citus) cmd_with_temp_citus "$@" ;;
    -h | --help | help) usage 0 ;;
    *) log "unknown command: $cmd"; usage ;;
  esac
}

main "$@"
