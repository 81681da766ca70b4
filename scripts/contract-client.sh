#!/usr/bin/env bash
# shellcheck disable=SC2317  # the trap handler is reached indirectly
# contract-client.sh (make contract-client): the frontend's view of the
# contract. Generates TypeScript types from openapi.yaml (openapi-typescript),
# type-checks the typed client contract/client/flow.ts (tsc --noEmit),
# compiles it, then runs it with node against a live sessiond built from
# this tree: register → login → me → sessions → refresh → policy → logout.
#
# Runs under `scripts/pg.sh with-temp-cluster` (TEST_DATABASE_URL is the
# superuser URL of a throwaway cluster); the server and its temporary files
# are removed on exit, the cluster by pg.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'contract-client: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -n ${TEST_DATABASE_URL:-} ]] || die "TEST_DATABASE_URL is not set: run via make contract-client"
BIN=contract/node_modules/.bin
[[ -x $BIN/tsc ]] || die "contract tooling missing: run make contract-deps"

# 1. Types from the spec. Run from the repository root: from contract/,
#    openapi-typescript would lint with contract/redocly.yaml, which is
#    make spec-lint's job.
log "generating types from openapi.yaml"
"$BIN/openapi-typescript" openapi.yaml --output contract/client/generated/schema.d.ts >/dev/null

# 2. Type-check (a spec change that breaks the client fails here), then
#    emit JavaScript next to contract/node_modules so node resolves the
#    packages.
log "tsc --noEmit"
"$BIN/tsc" -p contract/client --noEmit
rm -rf contract/client/.out
"$BIN/tsc" -p contract/client --noCheck

# 3. A server of our own on a private database.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-contract.XXXXXX")
SERVER_PID=
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if ((rc != 0)) && [[ -s $WORK/server.log ]]; then
    log "last lines of the server log:"
    tail -n 30 "$WORK/server.log" >&2 || true
  fi
  rm -rf -- "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PG_PORT=$(sed -E 's#^.*@[^:/]+:([0-9]+)/.*$#\1#' <<<"$TEST_DATABASE_URL")
[[ $PG_PORT =~ ^[0-9]+$ ]] || die "cannot read the port of TEST_DATABASE_URL"
DB=sessiond_contract
scripts/pg.sh ensure-db "$PG_PORT" "$DB"

log "building sessiond"
go build -o "$WORK/sessiond" ./cmd/sessiond

log "migrating $DB"
MIGRATION_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB?sslmode=disable" \
  DEV_MODE=true LOG_LEVEL=warn "$WORK/sessiond" migrate

HTTP_PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
URL="http://127.0.0.1:$HTTP_PORT"
log "serving on $URL"
DATABASE_URL="postgres://sessiond_app@127.0.0.1:$PG_PORT/$DB?sslmode=disable" \
  HTTP_ADDR="127.0.0.1:$HTTP_PORT" DEV_MODE=true SIGNING_KEYS_FILE="$WORK/jwks.private.json" \
  COOKIE_SECURE=false RATE_LIMIT_ENABLED=false LOG_LEVEL=warn \
  "$WORK/sessiond" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

ready=0
for _ in $(seq 1 150); do
  kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited before it was ready"
  if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$URL/readyz"; then
    ready=1
    break
  fi
  sleep 0.2
done
((ready)) || die "the server did not become ready within 30 s"

# 4. The client's flow.
log "running the typed client"
SESSIOND_URL=$URL node contract/client/.out/flow.js
