#!/usr/bin/env bash
# shellcheck disable=SC2317  # trap handlers are reached indirectly
# dev-run.sh (make run, make run-citus): run sessiond locally, with
# development settings (DEV_MODE=true: signing keys generated into
# SIGNING_KEYS_FILE, default .data/jwks.private.json, when missing;
# COOKIE_SECURE=false for plain local HTTP), each overridable.
#
# With DATABASE_URL set (the runtime role sessiond_app): migrate with
# MIGRATION_DATABASE_URL (the schema owner) when it is set, else leave the
# schema as it is (the runtime role cannot migrate), then serve.
#
# Without DATABASE_URL: start a private cluster at .data/pg on port
# ${DEV_PG_PORT:-54329}, ensure database "sessiond", migrate as "postgres",
# serve as the runtime role "sessiond_app" (created by the migrations).
#
# --citus (make run-citus): the same on a private Citus cluster at
# .data/citus, a coordinator on ${DEV_CITUS_PORT:-54330} and two workers on
# the next two ports (README "Scaling out on Citus"): database "sessiond" on
# every node with the citus extension, the workers added, migrated on the
# coordinator, distributed by migrations/citus/distribute.sql (once), served
# against the coordinator.
#
# Ctrl-C stops the server, then the cluster (unless the cluster was already
# running before this script started it).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'dev-run: %s\n' "$*" >&2; }
die() { printf 'dev-run: error: %s\n' "$*" >&2; exit 1; }

CITUS=0
case ${1:-} in
  --citus) CITUS=1 ;;
  "") ;;
  *) die "unknown argument: $1 (usage: dev-run.sh [--citus])" ;;
esac

PG=scripts/pg.sh
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
    if ((CITUS)); then
      "$PG" citus-stop "$DATADIR" || true
    else
      "$PG" stop "$DATADIR" || true
    fi
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

if [[ -n ${DATABASE_URL:-} ]]; then
  ((CITUS == 0)) || die "--citus starts its own cluster: unset DATABASE_URL"
  log "using DATABASE_URL from the environment"
elif ((CITUS)); then
  DATADIR=.data/citus
  PORT=${DEV_CITUS_PORT:-54330}
  if running_port=$("$PG" status "$DATADIR/coordinator"); then
    log "Citus cluster at $DATADIR already running (coordinator on port $running_port); leaving it running afterwards"
    PORT=$running_port
  else
    STARTED_CLUSTER=1
    "$PG" citus-start "$DATADIR" "$PORT"
  fi
  "$PG" citus-db "$PORT" sessiond
  export MIGRATION_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/sessiond?sslmode=disable"
  export DATABASE_URL="postgres://sessiond_app@127.0.0.1:$PORT/sessiond?sslmode=disable"
else
  DATADIR=.data/pg
  PORT=${DEV_PG_PORT:-54329}
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
fi

export SIGNING_KEYS_FILE=${SIGNING_KEYS_FILE:-.data/jwks.private.json}
export DEV_MODE=${DEV_MODE:-true}
export COOKIE_SECURE=${COOKIE_SECURE:-false}

log "building .data/bin/sessiond"
go build -o .data/bin/sessiond ./cmd/sessiond

if [[ -n ${MIGRATION_DATABASE_URL:-} ]]; then
  log "migrating (MIGRATION_DATABASE_URL)"
  .data/bin/sessiond migrate
else
  log "MIGRATION_DATABASE_URL is not set: not migrating (the runtime role of DATABASE_URL cannot); set it to the schema owner's URL to migrate first"
fi

if ((CITUS)); then
  PSQL=$(command -v psql || compgen -G '/usr/lib/postgresql/*/bin/psql' | sort -V | tail -n 1) || die "psql not found"
  # distribute.sql runs once: on a database whose tables are distributed,
  # later migrations reach the shards through Citus.
  distributed=$("$PSQL" -X -At -v ON_ERROR_STOP=1 -d "$MIGRATION_DATABASE_URL" \
    -c "SELECT count(*) FROM pg_dist_partition WHERE logicalrelid = 'public.accounts'::regclass")
  if [[ $distributed == 0 ]]; then
    log "distributing (migrations/citus/distribute.sql)"
    "$PSQL" -X -q -v ON_ERROR_STOP=1 -d "$MIGRATION_DATABASE_URL" -f migrations/citus/distribute.sql
  else
    log "already distributed"
  fi
fi

log "serving (HTTP_ADDR=${HTTP_ADDR:-:8080}); Ctrl-C to stop"
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
