SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Generators are pinned in tools/go.mod (Go "tool" directives).
TOOL := go tool -modfile=tools/go.mod

# Directories that hold generated code (checked for untracked files).
GENERATED_DIRS ?= adapters/http/api adapters/postgres/internal/dbsqlc cmd/sessiond adapters/http/docs/dist clients/go/client

DEV_PG_DIR  ?= .data/pg
DEV_PG_PORT ?= 54329
DEV_CITUS_PORT ?= 54330
TEST_FLAGS  ?=
BENCH_FLAGS ?=
BENCH_ARGS  ?=
# Scales the execution budget of every target in make fuzz-smoke (part of
# make test; 1 ≈ 5 s per target).
FUZZ_MULTIPLIER ?= 1

.PHONY: all generate check-generated run run-citus db-start db-stop db-destroy \
        test test-go test-citus test-short bench bench-go lint build clean tools \
        contract-deps spec-lint contract-client fuzz-smoke docs-assets \
        browser-deps browser-test clients-deps clients-matrix clients-webhooks browser-client-tests

all: build

## Code generation ------------------------------------------------------------

generate: docs-assets
	$(TOOL) oapi-codegen -config adapters/http/api/oapi-codegen.yaml openapi.yaml
	$(TOOL) oapi-codegen -config clients/go/oapi-codegen.yaml openapi.yaml
	$(TOOL) sqlc generate
	$(TOOL) wire gen ./cmd/sessiond

# Swagger UI for /docs: the files of the swagger-ui-dist version pinned in
# adapters/http/docs/npm/package-lock.json, copied verbatim (npm ci into a
# temporary directory) into adapters/http/docs/dist, which is embedded.
docs-assets:
	scripts/docs-assets.sh

check-generated: generate
	@if ! git diff --exit-code --stat; then \
		echo "generated code is out of date: run make generate and commit" >&2; exit 1; \
	fi
	@if ! go mod tidy -diff >/dev/null; then \
		echo "go.mod/go.sum are not tidy: run go mod tidy and commit" >&2; exit 1; \
	fi
	@untracked="$$(git status --porcelain --untracked-files=all -- $(GENERATED_DIRS))"; \
	if [[ -n "$$untracked" ]]; then \
		echo "$$untracked" >&2; \
		echo "generated code is out of date: run make generate and commit" >&2; exit 1; \
	fi

# Build the pinned generators once (go tool caches them afterwards).
tools:
	$(TOOL) oapi-codegen --version
	$(TOOL) sqlc version
	$(TOOL) wire help >/dev/null 2>&1 || true

## Running ---------------------------------------------------------------------

run:
	scripts/dev-run.sh

# A local Citus cluster (coordinator on $(DEV_CITUS_PORT), workers on the next
# two ports, under .data/citus), the database distributed, the server on it.
run-citus:
	DEV_CITUS_PORT=$(DEV_CITUS_PORT) scripts/dev-run.sh --citus

db-start:
	scripts/pg.sh start $(DEV_PG_DIR) $(DEV_PG_PORT)
	scripts/pg.sh ensure-db $(DEV_PG_PORT) sessiond

db-stop:
	scripts/pg.sh stop $(DEV_PG_DIR)

db-destroy:
	scripts/pg.sh destroy $(DEV_PG_DIR)

## Client-side code (Node, from the npm registry) ----------------------------
# clients/ is one npm workspace with one lock file, clients/package-lock.json:
# matrix/ (the generator matrix), typescript/ (@sessiond/client) with
# browser/ and vite-app/, webhooks/, contract/ (Redocly lint, the typed
# client) and browser-tests/. npm ci installs every workspace into
# clients/node_modules only (no global installs). The stamp makes a second
# run a no-op until a package.json or the lock file changes. Works as root
# (CI) as well.

NPM_ENV := npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# Redocly: no usage telemetry, no update banner.
REDOCLY_ENV := REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
CLIENTS_STAMP := clients/node_modules/.installed
CLIENTS_MANIFESTS := clients/package.json clients/package-lock.json \
	clients/typescript/package.json clients/contract/package.json clients/browser-tests/package.json

clients-deps: $(CLIENTS_STAMP)
# The former per-folder installs, kept as names for the one install.
contract-deps browser-deps: clients-deps

$(CLIENTS_STAMP): $(CLIENTS_MANIFESTS)
	$(NPM_ENV) npm ci --prefix clients --no-audit --no-fund --loglevel=error
	@touch $@

# Lint openapi.yaml with Redocly CLI (clients/contract/redocly.yaml:
# recommended rules plus stricter ones; zero errors, zero warnings).
spec-lint: $(CLIENTS_STAMP)
	cd clients/contract && $(REDOCLY_ENV) ../node_modules/.bin/redocly lint --config redocly.yaml --max-problems 200 ../../openapi.yaml

## Tests -----------------------------------------------------------------------
# make test is the whole gate, in this order, stopping at the first failure:
#   spec-lint        Redocly lint of openapi.yaml
#   test-go          unit, integration, contract-validation, attack and
#                    isolation tests, fuzz seeds (go test -race)
#   contract-client  TypeScript types from the spec, tsc --noEmit, and the
#                    typed client's flow against a live server
#   browser-test     Debian's Chromium (playwright-core) against a live
#                    server: clients/browser-tests/*.test.js
#   clients-matrix   openapi-fetch, hey-api, orval, oapi-codegen's and ogen's
#                    Go clients, generated unedited, compiled, run live
#   clients-webhooks the README's TypeScript webhook receiver
#                    (clients/webhooks, the standardwebhooks package)
#                    verifying real deliveries of a live server
#   browser-client-tests  @sessiond/client packed and installed into a fresh
#                    Vite app (tsc, vite build), then the deployment matrix
#                    (same origin, sibling subdomains, localhost port) in
#                    Debian's Chromium against the server in production
#                    configuration behind cmd/tlsproxy
#   fuzz-smoke       every fuzz target, about 5 s each
# Each step that needs PostgreSQL gets its own temporary cluster
# (TEST_DATABASE_URL), stopped and removed afterwards.

test:
	$(MAKE) --no-print-directory spec-lint
	$(MAKE) --no-print-directory test-go
	$(MAKE) --no-print-directory contract-client
	$(MAKE) --no-print-directory browser-test
	$(MAKE) --no-print-directory clients-matrix
	$(MAKE) --no-print-directory clients-webhooks
	$(MAKE) --no-print-directory browser-client-tests
	$(MAKE) --no-print-directory fuzz-smoke

# TEST_TIMEOUT bounds each package's test binary in wall time. go test's
# default (10m) is about four times what the HTTP package takes under -race
# on a quiet 2-core box (~2.5 min), and a loaded one (make bench beside
# it) stretches it past that: the bound is for a hung test, not for a slow
# machine.
TEST_TIMEOUT ?= 30m

test-go:
	scripts/pg.sh with-temp-cluster go test -race -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./...

# The Go suite on a throwaway Citus cluster (a coordinator and two workers):
# every test database is distributed as production is (README "Scaling out
# on Citus"); the tests that are about one node say so in their skip
# message or run their Citus variant. No -race (make test-go has it).
# As root it first runs ../shared/citus/install.sh (a no-op when installed).
test-citus:
	scripts/pg.sh with-temp-citus go test -count=1 -timeout $(TEST_TIMEOUT) $(TEST_FLAGS) ./...

contract-client: $(CLIENTS_STAMP)
	scripts/pg.sh with-temp-cluster scripts/contract-client.sh

# Browser tests (clients/browser-tests): playwright-core pinned in
# clients/package-lock.json (never a downloaded browser), driving Debian's
# chromium (scripts/ensure-chromium.sh). BROWSER_TEST_FLAGS go to
# node --test (e.g. --test-name-pattern=docs).
BROWSER_TEST_FLAGS ?=

browser-test: $(CLIENTS_STAMP)
	scripts/pg.sh with-temp-cluster env BROWSER_TEST_FLAGS="$(BROWSER_TEST_FLAGS)" scripts/browser-tests.sh

clients-matrix: $(CLIENTS_STAMP)
	scripts/pg.sh with-temp-cluster scripts/clients-matrix.sh matrix

clients-webhooks: $(CLIENTS_STAMP)
	scripts/pg.sh with-temp-cluster scripts/clients-matrix.sh webhooks

# SKIP_VITE_APP=1 skips the Vite app (no npm install) while iterating.
browser-client-tests: $(CLIENTS_STAMP)
	scripts/pg.sh with-temp-cluster scripts/clients-matrix.sh browser

fuzz-smoke:
	scripts/pg.sh with-temp-cluster env FUZZ_MULTIPLIER=$(FUZZ_MULTIPLIER) scripts/fuzz-smoke.sh

test-short:
	scripts/pg.sh with-temp-cluster go test -short -count=1 $(TEST_FLAGS) ./...

# Go micro-benchmarks (go test -bench) against a temporary cluster.
bench-go:
	scripts/pg.sh with-temp-cluster go test -run '^$$' -bench . -benchmem $(BENCH_FLAGS) ./...

# The load harness (bench/README.md): builds the server, starts a private
# durable cluster and the server with production settings, seeds, measures
# the floors and runs the scenarios, e.g.
#   make bench BENCH_ARGS="-scenario refresh -c 32 -d 20s -sessions 1000000"
bench:
	scripts/bench.sh $(BENCH_ARGS)

## Quality ---------------------------------------------------------------------

lint:
	go vet ./...
	@unformatted="$$(find . \( -path ./.git -o -path ./.data -o -path ./node_modules -o -path ./bin \) -prune \
		-o -name '*.go' -print | xargs -r gofmt -l)"; \
	if [[ -n "$$unformatted" ]]; then \
		echo "gofmt needed on:" >&2; echo "$$unformatted" >&2; exit 1; \
	fi

build:
	go build -o bin/sessiond ./cmd/sessiond

clean:
	rm -rf bin
