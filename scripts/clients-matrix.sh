#!/usr/bin/env bash
# shellcheck disable=SC2317  # the trap handler is reached indirectly
# clients-matrix.sh: what frontend and Go teams get from openapi.yaml.
#
#   scripts/clients-matrix.sh matrix    (make clients-matrix)
#     Generates a client with each common generator and its documented config
#     (clients/README.md) — openapi-typescript + openapi-fetch, @hey-api/openapi-ts
#     (client-fetch), orval (fetch, headers on), oapi-codegen's Go client, ogen's
#     Go client — type-checks them unedited (tsc --noEmit --strict, go build),
#     and runs each one's flow against a live server: register → login → me →
#     sessions → refresh → policy read/patch/clear-with-null → JWKS → logout
#     (ogen's also members, audit filters and paging, and typed 503s from a
#     second server whose database cannot answer). Zero hand edits: the
#     TypeScript output and the ogen client are generated here (clients/matrix/gen,
#     clients/matrix/ogen/client, gitignored); the oapi-codegen client is committed
#     and must equal a fresh generation.
#
#   scripts/clients-matrix.sh browser   (make browser-client-tests)
#     Builds and packs @sessiond/client (clients/typescript), installs the
#     tarball into a fresh Vite + React + TypeScript app (tsc --noEmit and
#     vite build, unedited), then drives Debian's Chromium (playwright-core;
#     scripts/ensure-chromium.sh installs the package when missing) through
#     clients/browser/matrix.mjs: the three deployment layouts (same origin
#     and sibling subdomains against sessiond in production configuration
#     behind cmd/tlsproxy, other port on localhost against the development
#     configuration) × the client's cells, the insecure-context fallback and
#     the Vite app, all with a 4-second access-token lifetime.
#
#   scripts/clients-matrix.sh webhooks  (make clients-webhooks)
#     The README's TypeScript webhook receiver (clients/webhooks/receiver.ts,
#     standardwebhooks' Webhook.verify) against real deliveries of a live
#     server: several event types and a secret rotation verify; a tampered
#     body, a tampered id and a wrong secret are rejected.
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
NPM_ENV="env npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false"
[[ -x $BIN/tsc ]] || die "clients tooling missing: run make clients-deps"

# shellcheck source=scripts/lib/live-server.sh
source scripts/lib/live-server.sh
live_init "clients_$MODE"

matrix() {
  # 1. Generate, each with its documented config (clients/README.md).
  rm -rf clients/matrix/gen clients/matrix/.out
  log "generating: openapi-typescript, @hey-api/openapi-ts, orval"
  (cd clients/matrix && ../node_modules/.bin/openapi-typescript ../../openapi.yaml -o gen/openapi-typescript/schema.d.ts) >"$WORK/gen.log" 2>&1 ||
    { cat "$WORK/gen.log" >&2; die "openapi-typescript failed"; }
  (cd clients/matrix && ../node_modules/.bin/openapi-ts -f openapi-ts.config.mjs) >>"$WORK/gen.log" 2>&1 ||
    { cat "$WORK/gen.log" >&2; die "@hey-api/openapi-ts failed"; }
  (cd clients/matrix && ../node_modules/.bin/orval --config orval.config.cjs) >>"$WORK/gen.log" 2>&1 ||
    { cat "$WORK/gen.log" >&2; die "orval failed"; }
  log "oapi-codegen Go client: the committed one must equal a fresh generation"
  sed "s#^output: .*#output: $WORK/client.gen.go#" clients/go/oapi-codegen.yaml >"$WORK/oapi-codegen.yaml"
  go tool -modfile=tools/go.mod oapi-codegen -config "$WORK/oapi-codegen.yaml" openapi.yaml
  cmp -s "$WORK/client.gen.go" clients/go/client/client.gen.go ||
    die "clients/go/client is stale: run make generate and commit"
  log "ogen Go client (pinned in clients/matrix/ogen/go.mod, config clients/matrix/ogen/ogen.yml)"
  (cd clients/matrix/ogen && go tool ogen -config ogen.yml -package client -target client -clean ../../../openapi.yaml) >"$WORK/ogen.log" 2>&1 ||
    { cat "$WORK/ogen.log" >&2; die "ogen failed"; }

  # 2. Compile, unedited.
  log "tsc --noEmit --strict (generated clients and flows)"
  "$BIN/tsc" -p clients/matrix --noEmit --strict
  log "go build (oapi-codegen client and its flow)"
  go build -o "$WORK/go-flow" ./clients/go/flow
  log "go build (ogen client and its flow)"
  (cd clients/matrix/ogen && go build -o "$WORK/ogen-flow" ./flow)
  local f
  for f in openapi-fetch hey-api orval; do
    "$BIN/esbuild" "clients/matrix/flows/$f.flow.ts" --bundle --platform=node --format=esm --target=node20 \
      --log-level=warning --outfile="clients/matrix/.out/$f.mjs"
  done

  # 3. Run against a live server (Secure cookies on, as in production: the
  #    hey-api client's cookie scheme then really reaches the server).
  start_server
  local failed=0 results=()
  for f in openapi-fetch hey-api orval; do
    if SESSIOND_URL=$URL node "clients/matrix/.out/$f.mjs"; then results+=("$f: ok"); else results+=("$f: FAILED"); failed=1; fi
  done
  if SESSIOND_URL=$URL "$WORK/go-flow"; then results+=("oapi-codegen-go: ok"); else results+=("oapi-codegen-go: FAILED"); failed=1; fi
  start_fault_server
  if SESSIOND_URL=$URL SESSIOND_FAULT_URL=$FAULT_URL "$WORK/ogen-flow"; then results+=("ogen-go: ok"); else results+=("ogen-go: FAILED"); failed=1; fi
  log "results:"
  printf '  %s\n' "${results[@]}" >&2
  ((failed == 0)) || die "a generated client failed against the live server"
}

# start_fault_server: a second server with the same signing keys on a
# database of its own whose sessions table a psql session holds locked,
# with a 100 ms statement timeout: every bearer request's session read
# times out, so every owner operation answers 503 service_unavailable (a
# real fault path, not a stub). Sets FAULT_URL.
start_fault_server() {
  local db=${DB}_fault port admin
  scripts/pg.sh ensure-db "$PG_PORT" "$db"
  admin="postgres://postgres@127.0.0.1:$PG_PORT/$db?sslmode=disable"
  MIGRATION_DATABASE_URL=$admin DEV_MODE=true LOG_LEVEL=warn "$WORK/sessiond" migrate
  port=$(free_port)
  FAULT_URL="http://127.0.0.1:$port"
  env DATABASE_URL="postgres://sessiond_app@127.0.0.1:$PG_PORT/$db?sslmode=disable" \
    HTTP_ADDR="127.0.0.1:$port" DEV_MODE=true SIGNING_KEYS_FILE="$WORK/jwks.private.json" \
    RATE_LIMIT_ENABLED=false LOG_LEVEL=error DB_STATEMENT_TIMEOUT=100ms EMAIL_VERIFICATION=off MEMBER_PASSWORDS=on \
    "$WORK/sessiond" serve >"$WORK/fault-server.log" 2>&1 &
  PIDS+=($!)
  wait_ready "$FAULT_URL/readyz" "$!"
  # Locked once the server is up (it prepares statements on sessions when
  # it connects): from now on its session reads wait for the lock until
  # the statement timeout.
  psql -q -X "$admin" -c "BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120);" >/dev/null 2>&1 &
  PIDS+=($!)
  local _ locked=0
  for _ in $(seq 1 50); do
    if [[ $(psql -X -At "$admin" -c "SELECT count(*) FROM pg_locks WHERE relation = 'sessions'::regclass AND mode = 'AccessExclusiveLock' AND granted") == 1 ]]; then
      locked=1
      break
    fi
    sleep 0.1
  done
  ((locked)) || die "could not lock the fault server's sessions table"
  log "fault server on $FAULT_URL (its sessions table locked, DB_STATEMENT_TIMEOUT=100ms)"
}

browser() {
  local chromium
  chromium=$(scripts/ensure-chromium.sh)
  local pkg=clients/typescript
  rm -rf clients/.out/browser
  mkdir -p clients/.out/browser

  # 1. The package: its generated types must equal a fresh generation; the
  #    ESM build with declarations (tsc --strict), then npm pack.
  log "openapi-typescript: the package's types must be fresh"
  (cd clients && node_modules/.bin/openapi-typescript ../openapi.yaml -o "$WORK/schema.ts") >"$WORK/gen.log" 2>&1 ||
    { cat "$WORK/gen.log" >&2; die "openapi-typescript failed"; }
  cmp -s "$WORK/schema.ts" "$pkg/src/generated/schema.ts" ||
    die "$pkg/src/generated/schema.ts is stale: run (cd $pkg && npm run generate) and commit"
  log "npm pack $pkg (prepack: tsc build, ESM + .d.ts)"
  (cd "$pkg" && npm pack --pack-destination "$WORK" --loglevel=error >"$WORK/pack.log" 2>&1) ||
    { cat "$WORK/pack.log" >&2; die "npm pack failed"; }
  local tarball
  tarball=$(ls "$WORK"/sessiond-client-*.tgz)
  "$BIN/esbuild" "$pkg/dist/index.js" --bundle --minify --format=esm --external:openapi-fetch \
    --log-level=warning --outfile="$WORK/size.js"
  log "package size: $(wc -c <"$WORK/size.js") B min, $(gzip -9c "$WORK/size.js" | wc -c) B min+gzip (without openapi-fetch); tarball $(wc -c <"$tarball") B"
  log "esbuild: the test page's bundle"
  "$BIN/esbuild" "$pkg/src/browser-entry.ts" --bundle --format=iife --global-name=SessiondClient \
    --target=chrome120 --log-level=warning --outfile=clients/.out/browser/sessiond-client.js

  # 2. A fresh Vite + React + TypeScript app (create-vite pinned in
  #    clients/package.json, its dependencies pinned by
  #    clients/vite-app/package-lock.json), the tarball installed as a user
  #    would, App.tsx the only file of ours; tsc --noEmit and its own build,
  #    both unedited. SKIP_VITE_APP=1 skips it while iterating.
  local vite_dist=""
  if [[ ${SKIP_VITE_APP:-} != 1 ]]; then
    log "create-vite react-ts app, npm ci, npm install the tarball"
    (cd "$WORK" && node "$OLDPWD/clients/node_modules/create-vite/index.js" sessiond-vite-app --template react-ts --no-interactive) >"$WORK/vite.log" 2>&1 ||
      { cat "$WORK/vite.log" >&2; die "create-vite failed"; }
    local app="$WORK/sessiond-vite-app"
    cp clients/vite-app/package-lock.json "$app/"
    (cd "$app" && $NPM_ENV npm ci --no-audit --no-fund --loglevel=error &&
      $NPM_ENV npm install --no-audit --no-fund --loglevel=error "$tarball" openapi-fetch@0.17.0) >>"$WORK/vite.log" 2>&1 ||
      { cat "$WORK/vite.log" >&2; die "installing the app or the tarball failed"; }
    cp clients/vite-app/src/App.tsx "$app/src/App.tsx"
    log "tsc --noEmit (the app's tsconfig) and npm run build (tsc -b && vite build)"
    (cd "$app" && node_modules/.bin/tsc --noEmit -p tsconfig.app.json && VITE_SESSIOND_API=https://api.example.test npm run build) >>"$WORK/vite.log" 2>&1 ||
      { cat "$WORK/vite.log" >&2; die "the Vite app does not type-check or build"; }
    vite_dist="$app/dist"
  fi

  # 3. Servers: development (plain HTTP, as make run; it also makes the
  #    signing keys) and production behind the TLS proxy.
  scripts/pg.sh ensure-db "$PG_PORT" "$DB"
  log "building sessiond and the TLS proxy"
  # SESSIOND_TREE / PAGE_BUNDLE: another checkout's server and client
  # bundle (to see the matrix fail on an older version); default this tree.
  (cd "${SESSIOND_TREE:-.}" && go build -o "$WORK/sessiond" ./cmd/sessiond)
  go build -o "$WORK/tlsproxy" ./cmd/tlsproxy
  MIGRATION_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB?sslmode=disable" \
    DEV_MODE=true LOG_LEVEL=warn "$WORK/sessiond" migrate
  local page_port other_port dev_port prod_port metrics_port
  page_port=$(free_port)
  other_port=$(free_port)
  dev_port=$(free_port)
  prod_port=$(free_port)
  metrics_port=$(free_port)
  local app_db="postgres://sessiond_app@127.0.0.1:$PG_PORT/$DB?sslmode=disable"
  log "development server on http://localhost:$dev_port"
  env DATABASE_URL="$app_db" HTTP_ADDR="127.0.0.1:$dev_port" DEV_MODE=true COOKIE_SECURE=false \
    SIGNING_KEYS_FILE="$WORK/jwks.private.json" RATE_LIMIT_ENABLED=false LOG_LEVEL=warn ACCESS_TOKEN_TTL=4s EMAIL_VERIFICATION=off MEMBER_PASSWORDS=on \
    ALLOWED_ORIGINS="http://localhost:$page_port,http://devbox.test:$page_port" \
    "$WORK/sessiond" serve >"$WORK/server.log" 2>&1 &
  PIDS+=($!)
  wait_ready "http://127.0.0.1:$dev_port/readyz" "$!"
  log "production server on 127.0.0.1:$prod_port (DEV_MODE=false, COOKIE_SECURE=true, metrics on 127.0.0.1:$metrics_port)"
  env DATABASE_URL="$app_db" HTTP_ADDR="127.0.0.1:$prod_port" DEV_MODE=false COOKIE_SECURE=true \
    MFA_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)" \
    METRICS_ADDR="127.0.0.1:$metrics_port" TRUSTED_PROXIES=127.0.0.1/32 \
    SIGNING_KEYS_FILE="$WORK/jwks.private.json" RATE_LIMIT_ENABLED=false LOG_LEVEL=warn ACCESS_TOKEN_TTL=4s EMAIL_VERIFICATION=off MEMBER_PASSWORDS=on \
    ALLOWED_ORIGINS="https://app.example.test,https://vite.example.test" \
    "$WORK/sessiond" serve >>"$WORK/server.log" 2>&1 &
  PIDS+=($!)
  wait_ready "http://127.0.0.1:$prod_port/readyz" "$!"
  local page="http://127.0.0.1:$page_port" prod="http://127.0.0.1:$prod_port"
  "$WORK/tlsproxy" -listen 127.0.0.1:0 -hosts "*.example.test,evil.test" -spki-out "$WORK/spki" \
    -route "app.example.test/api=$prod" -route "app.example.test=$page" -route "api.example.test=$prod" \
    -route "vite.example.test=$page" -route "evil.example.test=$page" -route "evil.test=$page" \
    >"$WORK/proxy.out" 2>>"$WORK/server.log" &
  PIDS+=($!)
  local proxy_addr="" _
  for _ in $(seq 1 50); do
    proxy_addr=$(sed -n 's/^listening on //p' "$WORK/proxy.out")
    [[ -n $proxy_addr ]] && break
    sleep 0.1
  done
  [[ -n $proxy_addr ]] || die "the TLS proxy did not start"
  log "TLS proxy on $proxy_addr; driving $chromium"
  CHROMIUM=$chromium SPKI=$(cat "$WORK/spki") PROXY_PORT=${proxy_addr##*:} PROD_DIRECT=$prod \
    METRICS_URL="http://127.0.0.1:$metrics_port/metrics" DEV_PORT=$dev_port PAGE_PORT=$page_port OTHER_PORT=$other_port \
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB?sslmode=disable" \
    BUNDLE=${PAGE_BUNDLE:-clients/.out/browser/sessiond-client.js} VITE_DIST=$vite_dist USER_DATA_ROOT="$WORK" \
    node clients/browser/matrix.mjs
}

# webhooks: the README's TypeScript receiver (clients/webhooks/receiver.ts,
# the official standardwebhooks package) against real deliveries: the
# server's own delivery worker signs and posts to it over TLS on 127.0.0.1
# (WEBHOOK_ALLOW_PRIVATE_TARGETS, the guard's development setting, and
# WEBHOOK_CA_FILE trusting the receiver's throwaway certificate, made by Go's
# own generate_cert.go); clients/webhooks/deliveries.test.ts drives the
# events and checks every delivery verifies and that tampered ones do not.
webhooks() {
  log "tsc --noEmit --strict (clients/webhooks)"
  "$BIN/tsc" -p clients/webhooks --noEmit --strict
  mkdir -p clients/.out
  "$BIN/esbuild" clients/webhooks/deliveries.test.ts --bundle --platform=node --format=esm --target=node20 \
    --log-level=warning --outfile=clients/.out/webhooks.test.mjs
  log "receiver certificate for 127.0.0.1 (generate_cert.go, ECDSA P-256, 1 h)"
  (cd "$WORK" && go run "$(go env GOROOT)/src/crypto/tls/generate_cert.go" --host 127.0.0.1 --ecdsa-curve P256 --duration 1h) 2>"$WORK/cert.log" ||
    { cat "$WORK/cert.log" >&2; die "generate_cert.go failed"; }
  # Production settings (DEV_MODE=false: Secure cookies, no development
  # keys, so a signing key is made here as make bench makes it) but for the
  # one guard setting that lets the receiver be loopback.
  go run ./cmd/authbench -keygen "$WORK/jwks.private.json"
  start_server DEV_MODE=false MFA_ENCRYPTION_KEY="$(head -c 32 /dev/urandom | base64)" \
    WEBHOOK_SECRETS_KEY="$(head -c 32 /dev/urandom | base64)" WEBHOOK_ALLOW_PRIVATE_TARGETS=true \
    WEBHOOK_CA_FILE="$WORK/cert.pem" WEBHOOK_POLL_INTERVAL=50ms WEBHOOK_TIMEOUT=2s
  SESSIOND_URL=$URL WEBHOOK_RECEIVER_CERT="$WORK/cert.pem" WEBHOOK_RECEIVER_KEY="$WORK/key.pem" \
    node clients/.out/webhooks.test.mjs
}

case $MODE in
  matrix) matrix ;;
  browser) browser ;;
  webhooks) webhooks ;;
  *) die "usage: $0 matrix|browser|webhooks" ;;
esac
