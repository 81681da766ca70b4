#!/usr/bin/env bash
# shellcheck disable=SC2317  # the trap handler is reached indirectly
# browser-tests.sh (make browser-test): the browser tests in browser-tests/
# (node --test, playwright-core driving Debian's Chromium) against a live
# sessiond built from this tree, on a private database, with development
# signing keys and rate limits off.
#
# Runs under `scripts/pg.sh with-temp-cluster` (TEST_DATABASE_URL is the
# superuser URL of a throwaway cluster); the server and its temporary files
# are removed on exit, the cluster by pg.sh. Extra node --test flags come
# from BROWSER_TEST_FLAGS (e.g. --test-name-pattern=docs); test files from
# the arguments (default: every browser-tests/*.test.js).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'browser-tests: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -n ${TEST_DATABASE_URL:-} ]] || die "TEST_DATABASE_URL is not set: run via make browser-test"
[[ -d browser-tests/node_modules/playwright-core ]] || die "browser-tests/node_modules missing: run make browser-deps"
CHROMIUM=$(scripts/ensure-chromium.sh)
export CHROMIUM

if (($#)); then
  TESTS=("$@")
else
  shopt -s nullglob
  TESTS=(browser-tests/*.test.js)
  shopt -u nullglob
fi
((${#TESTS[@]})) || die "no browser tests found"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-browser.XXXXXX")
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
DB=sessiond_browser
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
  COOKIE_SECURE=false RATE_LIMIT_ENABLED=false DOCS_ENABLED=true LOG_LEVEL=warn \
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

log "running ${TESTS[*]} with $CHROMIUM"
# shellcheck disable=SC2086  # BROWSER_TEST_FLAGS is a list of flags
SESSIOND_URL=$URL node --test --test-concurrency=1 ${BROWSER_TEST_FLAGS:-} "${TESTS[@]}"
