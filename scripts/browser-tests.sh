#!/usr/bin/env bash
# shellcheck disable=SC2317  # the trap handler is reached indirectly
# browser-tests.sh (make browser-test): the browser tests in clients/browser-tests/
# (node --test, playwright-core driving Debian's Chromium) against a live
# sessiond built from this tree, on a private database, with development
# signing keys and rate limits off.
#
# Runs under `scripts/pg.sh with-temp-cluster` (TEST_DATABASE_URL is the
# superuser URL of a throwaway cluster); the server and its temporary files
# are removed on exit, the cluster by pg.sh. Extra node --test flags come
# from BROWSER_TEST_FLAGS (e.g. --test-name-pattern=docs); test files from
# the arguments (default: every clients/browser-tests/*.test.js).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf 'browser-tests: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -n ${TEST_DATABASE_URL:-} ]] || die "TEST_DATABASE_URL is not set: run via make browser-test"
[[ -d clients/node_modules/playwright-core ]] || die "clients/node_modules missing: run make clients-deps"
CHROMIUM=$(scripts/ensure-chromium.sh)
export CHROMIUM

if (($#)); then
  TESTS=("$@")
else
  shopt -s nullglob
  TESTS=(clients/browser-tests/*.test.js)
  shopt -u nullglob
fi
((${#TESTS[@]})) || die "no browser tests found"

# shellcheck source=scripts/lib/live-server.sh
source scripts/lib/live-server.sh
live_init browser
start_server COOKIE_SECURE=false DOCS_ENABLED=true

log "running ${TESTS[*]} with $CHROMIUM"
# shellcheck disable=SC2086  # BROWSER_TEST_FLAGS is a list of flags
SESSIOND_URL=$URL node --test --test-concurrency=1 ${BROWSER_TEST_FLAGS:-} "${TESTS[@]}"
