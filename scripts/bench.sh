#!/usr/bin/env bash
# shellcheck disable=SC2317  # trap handlers are reached indirectly
# bench.sh (make bench): build the server and cmd/authbench, start a private
# PostgreSQL cluster (fsync on: durable, unlike the test clusters), migrate,
# start the server with production settings (real argon2id, a real Ed25519
# signing key, rate limits off, log level warn), seed, measure the floors,
# run the scenarios and print the table. Everything started here is stopped
# on exit, whatever happens.
#
#   scripts/bench.sh [authbench flags...]     e.g. -scenario refresh -c 32 -d 20s -sessions 1000000
#
#   scripts/bench.sh -scenario flood          flood-solo then flood (sign-in storm), with their ratios
#
#   scripts/bench.sh -scenario login,login-totp   sign-in without and with TOTP, side by side
#
# Extra server settings pass through the environment (e.g. DB_MAX_CONNS=40,
# or HASH_CONCURRENCY / HASH_QUEUE / HASH_QUEUE_WAIT for the hashing
# admission control that flood exercises).
# See bench/README.md.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

log() { printf 'bench: %s\n' "$*" >&2; }

PG=scripts/pg.sh
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-bench.XXXXXX")
PGDIR=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-bench-pg.XXXXXX")
DATADIR=$PGDIR/data
SERVER_PID=
BENCH_PID=
PG_STARTED=0

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $BENCH_PID ]] && kill -0 "$BENCH_PID" 2>/dev/null; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if ((rc != 0)) && [[ -s $WORK/server.log ]]; then
    log "last lines of the server log:"
    tail -n 20 "$WORK/server.log" >&2 || true
  fi
  if ((PG_STARTED)); then
    "$PG" destroy "$DATADIR" >/dev/null 2>&1 || true
  fi
  rm -rf -- "$WORK" "$PGDIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pick_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 30000))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  log "no free TCP port found"
  return 1
}

log "building sessiond and authbench"
go build -o "$WORK/sessiond" ./cmd/sessiond
go build -o "$WORK/authbench" ./cmd/authbench

# The cluster user must be able to reach its data directory.
if [[ $(id -u) -eq 0 ]]; then chown postgres: "$PGDIR"; fi
PG_PORT=$(pick_port)
# Durable settings: PG_FAST (fsync off) is for tests only.
PG_STARTED=1
env -u PG_FAST "$PG" start "$DATADIR" "$PG_PORT"
"$PG" ensure-db "$PG_PORT" sessiond
PG_PID=$(head -n 1 "$DATADIR/postmaster.pid")

export MIGRATION_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/sessiond?sslmode=disable"
export DATABASE_URL="postgres://sessiond_app@127.0.0.1:$PG_PORT/sessiond?sslmode=disable"
log "migrating"
LOG_LEVEL=warn "$WORK/sessiond" migrate

HTTP_PORT=$(pick_port)
# BENCH_PROFILE=1: the server serves pprof on a loopback port and authbench
# captures a CPU profile of each scenario's measured window (bench/results).
PPROF_ENV=() PPROF_ARGS=()
if [[ -n ${BENCH_PROFILE:-} ]]; then
  PPROF_PORT=$(pick_port)
  PPROF_ENV=(PPROF_ADDR="127.0.0.1:$PPROF_PORT")
  PPROF_ARGS=(-pprof "http://127.0.0.1:$PPROF_PORT")
fi
"$WORK/authbench" -keygen "$WORK/jwks.private.json"
# webhook-delivery (named only, not in "all"): the server's own delivery
# worker posts to authbench's receiver on 127.0.0.1, so the server gets a
# secrets key, trusts the receiver's throwaway certificate and lifts the
# SSRF guard's public-address rule (WEBHOOK_ALLOW_PRIVATE_TARGETS, the
# development setting). Without it, no webhook settings at all.
WEBHOOK_ENV=() WEBHOOK_ARGS=()
if [[ " $* " == *webhook-delivery* ]]; then
  "$WORK/authbench" -receiver-cert "$WORK/receiver"
  WEBHOOK_ENV=(WEBHOOK_SECRETS_KEY="$(head -c 32 /dev/urandom | base64)" WEBHOOK_ALLOW_PRIVATE_TARGETS=true
    WEBHOOK_CA_FILE="$WORK/receiver/cert.pem")
  WEBHOOK_ARGS=(-receiver "$WORK/receiver")
fi
# The key that seals TOTP secrets: the server's, and authbench's to seal the
# factors it seeds for the login-totp scenario.
MFA_ENCRYPTION_KEY=$(head -c 32 /dev/urandom | base64)
export MFA_ENCRYPTION_KEY
log "starting sessiond on 127.0.0.1:$HTTP_PORT (production settings, rate limits off)"
env DEV_MODE=false \
  SIGNING_KEYS_FILE="$WORK/jwks.private.json" \
  MFA_ENCRYPTION_KEY="$MFA_ENCRYPTION_KEY" \
  HTTP_ADDR="127.0.0.1:$HTTP_PORT" \
  RATE_LIMIT_ENABLED=false \
  METRICS_ADDR="${METRICS_ADDR:-off}" \
  LOG_LEVEL="${LOG_LEVEL:-warn}" \
  "${PPROF_ENV[@]}" "${WEBHOOK_ENV[@]}" \
  "$WORK/sessiond" serve 2>"$WORK/server.log" &
SERVER_PID=$!

"$WORK/authbench" -base "http://127.0.0.1:$HTTP_PORT" \
  -server-pid "$SERVER_PID" -pg-pids "$PG_PID" \
  -db "$MIGRATION_DATABASE_URL" -app-db "$DATABASE_URL" \
  -out "$ROOT/bench/results" "${PPROF_ARGS[@]}" "${WEBHOOK_ARGS[@]}" "$@" &
# In the background, so that a signal reaches the trap at once.
BENCH_PID=$!
rc=0
wait "$BENCH_PID" || rc=$?
BENCH_PID=
exit "$rc"
