#!/usr/bin/env bash
# fuzz-smoke.sh (make fuzz-smoke): a short run of every Go fuzz target in
# the module, one after the other (go test fuzzes one target per run).
# Targets are found by their `func FuzzXxx(f *testing.F)` declarations, so a
# new one is picked up without editing this script.
#
# Budgets are execution counts (-fuzztime Nx), sized to about 5 s per target
# on the project's 2-core machines, not durations: a duration budget trips a
# race in Go's fuzz coordinator (golang/go#75804, unfixed in go1.26) that
# fails a clean run with a bare "context deadline exceeded" at the deadline.
# FUZZ_MULTIPLIER (default 1) scales every budget for a longer run.
#
# Runs under `scripts/pg.sh with-temp-cluster`: FuzzRequestBodies needs
# TEST_DATABASE_URL. A failing input is written to
# <package>/testdata/fuzz/<Target>/ by go test: commit it, it becomes a
# regression seed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MULT=${FUZZ_MULTIPLIER:-1}
[[ $MULT =~ ^[1-9][0-9]*$ ]] || { echo "fuzz-smoke: FUZZ_MULTIPLIER must be a positive integer" >&2; exit 2; }

# budget NAME: executions for one smoke run of the target.
budget() {
  local n
  case $1 in
    FuzzRequestBodies) n=3000 ;;    # real HTTP + PostgreSQL: ~600/s
    FuzzSignInHeaders) n=1000 ;;    # two sign-ins (argon2, a session row) per input
    FuzzDecideRefresh) n=200000 ;;  # pure function: ~55k/s
    *) n=40000 ;;                   # token parsing and the like: ~10k/s
  esac
  echo $((n * MULT))
}

summary=()
out=$(mktemp)
trap 'rm -f "$out"' EXIT
total_start=$SECONDS

while IFS= read -r line; do
  file=${line%%:*}
  name=$(sed -E 's/^.*func (Fuzz[A-Za-z0-9_]+)\(.*$/\1/' <<<"$line")
  pkg=./$(dirname "$file")
  n=$(budget "$name")
  start=$SECONDS
  printf 'fuzz-smoke: %s (%s), %d executions\n' "$name" "$pkg" "$n" >&2
  if ! go test -run '^$' -fuzz "^${name}\$" -fuzztime "${n}x" -fuzzminimizetime 500x "$pkg" 2>&1 | tee "$out"; then
    printf 'fuzz-smoke: %s FAILED; the failing input is under %s/testdata/fuzz/%s/\n' "$name" "$pkg" "$name" >&2
    exit 1
  fi
  corpus=$(grep -oE 'total: [0-9]+' "$out" | tail -n 1 | grep -oE '[0-9]+' || echo "?")
  summary+=("$(printf '%-18s %-16s %7d execs in %3ds (build included), corpus %s' "$name" "$pkg" "$n" $((SECONDS - start)) "$corpus")")
done < <(grep -rEn --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git --exclude-dir=.data \
  '^func Fuzz[A-Za-z0-9_]+\(f \*testing\.F\)' . | sed 's#^\./##' | sort)

((${#summary[@]} > 0)) || { echo "fuzz-smoke: no fuzz targets found" >&2; exit 1; }
printf 'fuzz-smoke: %s\n' "${summary[@]}"
printf 'fuzz-smoke: all %d targets in %ds\n' "${#summary[@]}" $((SECONDS - total_start))
printf 'fuzz-smoke: %d passed, 0 failed\n' "${#summary[@]}"
