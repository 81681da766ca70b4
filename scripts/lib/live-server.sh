# shellcheck shell=bash disable=SC2317  # the trap handler is reached indirectly
# live-server.sh: sourced by the scripts that drive a client against a live
# sessiond built from this tree (contract-client.sh, browser-tests.sh,
# clients-matrix.sh), so that starting and stopping the server is written
# once.
#
# The caller defines log and die, runs under `scripts/pg.sh
# with-temp-cluster` (TEST_DATABASE_URL is the superuser URL of a throwaway
# cluster), and calls `live_init NAME` first: it makes the work directory
# WORK and sets PG_PORT and DB (sessiond_NAME); on exit every process in
# PIDS is stopped, the server log is shown if the script failed, and WORK
# is removed. The cluster itself is pg.sh's to remove.

live_init() { # NAME
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-$1.XXXXXX")
  PIDS=()
  trap live_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  PG_PORT=$(sed -E 's#^.*@[^:/]+:([0-9]+)/.*$#\1#' <<<"$TEST_DATABASE_URL")
  [[ $PG_PORT =~ ^[0-9]+$ ]] || die "cannot read the port of TEST_DATABASE_URL"
  DB=sessiond_$1
}

live_cleanup() {
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

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

wait_ready() { # URL PID
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

# start_server [VAR=value ...]: builds, migrates and serves sessiond on a
# free loopback port of its own database, with development keys, rate
# limits off and no metrics listener (its default port, 127.0.0.1:9090, is
# one per machine and several servers may run at once; the arguments add or
# override settings), waits for /readyz
# and sets URL.
start_server() {
  scripts/pg.sh ensure-db "$PG_PORT" "$DB"
  log "building sessiond"
  go build -o "$WORK/sessiond" ./cmd/sessiond
  log "migrating $DB"
  MIGRATION_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/$DB?sslmode=disable" \
    DEV_MODE=true LOG_LEVEL=warn "$WORK/sessiond" migrate
  local port
  port=$(free_port)
  URL="http://127.0.0.1:$port"
  log "serving on $URL"
  env DATABASE_URL="postgres://sessiond_app@127.0.0.1:$PG_PORT/$DB?sslmode=disable" \
    HTTP_ADDR="127.0.0.1:$port" DEV_MODE=true SIGNING_KEYS_FILE="$WORK/jwks.private.json" \
    RATE_LIMIT_ENABLED=false METRICS_ADDR=off LOG_LEVEL=warn EMAIL_VERIFICATION=off MEMBER_PASSWORDS=on "$@" \
    "$WORK/sessiond" serve >"$WORK/server.log" 2>&1 &
  PIDS+=($!)
  wait_ready "$URL/readyz" "$!"
}
