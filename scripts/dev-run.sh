#!/usr/bin/env bash
# shellcheck disable=SC2317  # trap handlers are reached indirectly
# dev-run.sh (make run): run sessiond locally.
#
# With DATABASE_URL set: migrate (MIGRATION_DATABASE_URL if set, else
# DATABASE_URL; the binary reads both itself), then serve.
#
# Without DATABASE_URL: start a private cluster at .data/pg on port
# ${DEV_PG_PORT:-54329}, ensure database "sessiond", migrate as "postgres",
# serve as the runtime role "sessiond_app" (created by the migrations) with
# development settings. Ctrl-C stops the server, then the cluster (unless the
# cluster was already running before this script started it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'dev-run: %s\n' "$*" >&2; }

if [[ -n ${DATABASE_URL:-} ]]; then
  log "using DATABASE_URL from the environment"
  go run ./cmd/sessiond migrate
  exec go run ./cmd/sessiond serve
fi

PG=scripts/pg.sh
DATADIR=.data/pg
PORT=${DEV_PG_PORT:-54329}
STARTED_CLUSTER=0
SERVER_PID=

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if ((STARTED_CLUSTER)); then
    "$PG" stop "$DATADIR" || true
  fi
  exit "$rc"
}
trap cleanup EXIT

# While the server runs, a signal is forwarded to it and we wait for it to
# exit; before that, a signal simply ends the script (cleanup runs on EXIT).
on_signal() {
  local code=$1
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
  else
    exit "$code"
  fi
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

mkdir -p .data/bin

if running_port=$("$PG" status "$DATADIR"); then
  log "cluster at $DATADIR already running on port $running_port; leaving it running afterwards"
  PORT=$running_port
else
  STARTED_CLUSTER=1
  "$PG" start "$DATADIR" "$PORT"
fi
"$PG" ensure-db "$PORT" sessiond

export MIGRATION_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/sessiond?sslmode=disable"
export DATABASE_URL="postgres://sessiond_app@127.0.0.1:$PORT/sessiond?sslmode=disable"
export SIGNING_KEYS_FILE=${SIGNING_KEYS_FILE:-.data/jwks.private.json}
export DEV_MODE=true
export COOKIE_SECURE=${COOKIE_SECURE:-false}

log "building .data/bin/sessiond"
go build -o .data/bin/sessiond ./cmd/sessiond

log "migrating (MIGRATION_DATABASE_URL=$MIGRATION_DATABASE_URL)"
.data/bin/sessiond migrate

log "serving (DATABASE_URL=$DATABASE_URL, HTTP_ADDR=${HTTP_ADDR:-:8080}); Ctrl-C to stop"
.data/bin/sessiond serve &
SERVER_PID=$!
rc=0
wait "$SERVER_PID" || rc=$?
# wait returns early (status > 128) when a trapped signal arrives; keep
# waiting until the server has really exited.
while kill -0 "$SERVER_PID" 2>/dev/null; do
  rc=0
  wait "$SERVER_PID" || rc=$?
done
SERVER_PID=
exit "$rc"
