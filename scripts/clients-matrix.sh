#!/usr/bin/env bash
# shellcheck disable=SC2317  # the trap handler is reached indirectly
# clients-matrix.sh: what frontend and Go teams get from openapi.yaml.
#
#   scripts/clients-matrix.sh matrix    (make clients-matrix)
#     Generates a client with each common generator and its documented config
#     (clients/README.md) — openapi-typescript + openapi-fetch, @hey-api/openapi-ts
#     (client-fetch), orval (fetch, headers on), oapi-codegen's Go client — type-
#     checks them unedited (tsc --noEmit --strict, go build), and runs each one's
#     flow against a live server: register → login → me → sessions → refresh →
#     policy read/patch/clear-with-null → JWKS → logout. Zero hand edits: the
#     TypeScript output is generated here (clients/gen, gitignored); the Go
#     client is committed and must equal a fresh generation.
#
#   scripts/clients-matrix.sh browser   (make browser-client-tests)
#     Bundles the browser client clients/typescript with esbuild and drives
#     Debian's Chromium (playwright-core; scripts/ensure-chromium.sh installs
#     the package when missing) through clients/browser/run.mjs against a
#     live server with a 4-second access-token lifetime, plain-HTTP cookies and
#     ALLOWED_ORIGINS set to the test page's origin.
#
# Runs under `scripts/pg.sh with-temp-cluster` (TEST_DATABASE_URL is the
# superuser URL of a throwaway cluster). Servers and temporary files are
# removed on exit, the cluster by pg.sh.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODE=${1:-matrix}
log() { printf 'clients-%s: %s\n' "$MODE" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -n ${TEST_DATABASE_URL:-} ]] || die "TEST_DATABASE_URL is not set: run via make clients-matrix / make browser-client-tests"
BIN=clients/node_modules/.bin
[[ -x $BIN/tsc ]] || die "clients tooling missing: run make clients-deps"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-clients.XXXXXX")
PIDS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local p
  for p in "${PIDS[@]}"; do
    if kill -0 "$p" 2>/dev/null; then
      kill -TERM "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
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
DB=sessiond_clients_$MODE

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

wait_ready() { # url pid
  local _
  for _ in $(seq 1 150); do
    kill -0 "$2" 2>/dev/null || die "the server exited before it was ready"
    if node -e 'fetch(process.argv[1]).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))' "$1"; then
      return 0
    fi
    sleep 0.2
  done
  die "$1 did not become ready within 30 s"
}

# start_server VAR=value ... : builds, migrates and serves sessiond on a free
# loopback port with development keys and rate limits off; sets URL.
start_server() {
  scripts/pg.sh ensure-db "$PG_PORT" "$DB"
  log "building sessiond"
  go build -o "$WORK/sessiond" ./cmd/sessiond
  MIGRATION_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB?sslmode=disable" \
    DEV_MODE=true LOG_LEVEL=warn "$WORK/sessiond" migrate
  local port
  port=$(free_port)
  URL="http://127.0.0.1:$port"
  log "serving on $URL"
  env DATABASE_URL="postgres://sessiond_app@127.0.0.1:$PG_PORT/$DB?sslmode=disable" \
    HTTP_ADDR="127.0.0.1:$port" DEV_MODE=true SIGNING_KEYS_FILE="$WORK/jwks.private.json" \
    RATE_LIMIT_ENABLED=false LOG_LEVEL=warn "$@" \
    "$WORK/sessiond" serve >"$WORK/server.log" 2>&1 &
  PIDS+=($!)
  wait_ready "$URL/readyz" "$!"
}

matrix() {
  # 1. Generate, each with its documented config (clients/README.md).
  rm -rf clients/gen clients/.out
  log "generating: openapi-typescript, @hey-api/openapi-ts, orval"
  (cd clients && node_modules/.bin/openapi-typescript ../openapi.yaml -o gen/openapi-typescript/schema.d.ts) >"$WORK/gen.log" 2>&1 ||
    { cat "$WORK/gen.log" >&2; die "openapi-typescript failed"; }
  (cd clients && node_modules/.bin/openapi-ts -f openapi-ts.config.mjs) >>"$WORK/gen.log" 2>&1 ||
    { cat "$WORK/gen.log" >&2; die "@hey-api/openapi-ts failed"; }
  (cd clients && node_modules/.bin/orval --config orval.config.cjs) >>"$WORK/gen.log" 2>&1 ||
    { cat "$WORK/gen.log" >&2; die "orval failed"; }
  log "oapi-codegen Go client: the committed one must equal a fresh generation"
  sed "s#^output: .*#output: $WORK/client.gen.go#" clients/go/oapi-codegen.yaml >"$WORK/oapi-codegen.yaml"
  go tool -modfile=tools/go.mod oapi-codegen -config "$WORK/oapi-codegen.yaml" openapi.yaml
  cmp -s "$WORK/client.gen.go" clients/go/client/client.gen.go ||
    die "clients/go/client is stale: run make generate and commit"

  # 2. Compile, unedited.
  log "tsc --noEmit --strict (generated clients and flows)"
  "$BIN/tsc" -p clients --noEmit --strict
  log "go build (oapi-codegen client and its flow)"
  go build -o "$WORK/go-flow" ./clients/go/flow
  local f
  for f in openapi-fetch hey-api orval; do
    "$BIN/esbuild" "clients/flows/$f.flow.ts" --bundle --platform=node --format=esm --target=node20 \
      --log-level=warning --outfile="clients/.out/$f.mjs"
  done

  # 3. Run against a live server (Secure cookies on, as in production: the
  #    hey-api client's cookie scheme then really reaches the server).
  start_server
  local failed=0 results=()
  for f in openapi-fetch hey-api orval; do
    if SESSIOND_URL=$URL node "clients/.out/$f.mjs"; then results+=("$f: ok"); else results+=("$f: FAILED"); failed=1; fi
  done
  if SESSIOND_URL=$URL "$WORK/go-flow"; then results+=("oapi-codegen-go: ok"); else results+=("oapi-codegen-go: FAILED"); failed=1; fi
  log "results:"
  printf '  %s\n' "${results[@]}" >&2
  ((failed == 0)) || die "a generated client failed against the live server"
}

browser() {
  local chromium
  chromium=$(scripts/ensure-chromium.sh)
  rm -rf clients/gen/openapi-typescript clients/.out/browser
  (cd clients && node_modules/.bin/openapi-typescript ../openapi.yaml -o gen/openapi-typescript/schema.d.ts) >"$WORK/gen.log" 2>&1 ||
    { cat "$WORK/gen.log" >&2; die "openapi-typescript failed"; }
  log "tsc --noEmit --strict (browser client)"
  "$BIN/tsc" -p clients/typescript --noEmit --strict
  log "esbuild: bundling the browser client"
  "$BIN/esbuild" clients/typescript/src/browser-entry.ts --bundle --format=iife --global-name=SessiondClient \
    --target=chrome120 --log-level=warning --outfile=clients/.out/browser/sessiond-client.js
  local page_port other_port
  page_port=$(free_port)
  other_port=$(free_port)
  while [[ $other_port == "$page_port" ]]; do other_port=$(free_port); done
  start_server ACCESS_TOKEN_TTL=4s COOKIE_SECURE=false ALLOWED_ORIGINS="http://127.0.0.1:$page_port" REFRESH_GRACE_WINDOW=10s
  log "driving $chromium"
  SESSIOND_URL=$URL PAGE_PORT=$page_port OTHER_PORT=$other_port CHROMIUM=$chromium \
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB?sslmode=disable" \
    BUNDLE=clients/.out/browser/sessiond-client.js USER_DATA_ROOT="$WORK" \
    node clients/browser/run.mjs
}

case $MODE in
  matrix) matrix ;;
  browser) browser ;;
  *) die "usage: $0 matrix|browser" ;;
esac
