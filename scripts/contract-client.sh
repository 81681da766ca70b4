#!/usr/bin/env bash
# shellcheck disable=SC2317  # the trap handler is reached indirectly
# contract-client.sh (make contract-client): the frontend's view of the
# contract. Generates TypeScript types from openapi.yaml (openapi-typescript),
# type-checks the typed client clients/contract/flow.ts (tsc --noEmit),
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
BIN=clients/node_modules/.bin
[[ -x $BIN/tsc && -x $BIN/openapi-typescript ]] || die "client tooling missing: run make clients-deps"

# 1. Types from the spec. Run from the repository root: from
#    clients/contract/, openapi-typescript would lint with
#    clients/contract/redocly.yaml, which is make spec-lint's job.
log "generating types from openapi.yaml"
"$BIN/openapi-typescript" openapi.yaml --output clients/contract/generated/schema.d.ts >/dev/null

# 2. Type-check (a spec change that breaks the client fails here), then
#    emit JavaScript under clients/contract/.out, so node resolves the
#    packages from the workspace's clients/node_modules.
log "tsc --noEmit"
"$BIN/tsc" -p clients/contract --noEmit
rm -rf clients/contract/.out
"$BIN/tsc" -p clients/contract --noCheck

# 3. A server of our own on a private database.
# shellcheck source=scripts/lib/live-server.sh
source scripts/lib/live-server.sh
live_init contract
start_server COOKIE_SECURE=false

# 4. The client's flow.
log "running the typed client"
SESSIOND_URL=$URL node clients/contract/.out/flow.js
