#!/usr/bin/env bash
# shellcheck disable=SC2317  # the trap handler is reached indirectly
# docs-assets.sh (make docs-assets, run by make generate): refreshes the
# Swagger UI files embedded at /docs from the swagger-ui-dist npm package
# pinned in adapters/http/docs/npm/package-lock.json.
#
# The package is installed with `npm ci --ignore-scripts` into a temporary
# directory (nothing lands in the source tree but the copied files; the
# install scripts are skipped, which also keeps swagger-ui-dist's
# @scarf/scarf dependency from phoning home), then the files the page
# needs are copied verbatim into adapters/http/docs/dist. The copy is
# byte-for-byte the published package, so make check-generated stays clean.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SRC=adapters/http/docs/npm
DST=adapters/http/docs/dist
# What the page loads, plus the licences that must travel with it.
FILES=(
  swagger-ui-bundle.js
  swagger-ui-bundle.js.LICENSE.txt
  swagger-ui.css
  favicon-32x32.png
  LICENSE
  NOTICE
)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sessiond-docs-assets.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT

cp "$SRC/package.json" "$SRC/package-lock.json" "$WORK/"
npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false SCARF_ANALYTICS=false \
  npm ci --prefix "$WORK" --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null

PKG=$WORK/node_modules/swagger-ui-dist
want=$(node -p 'require(process.argv[1]).dependencies["swagger-ui-dist"]' "$PWD/$SRC/package.json")
got=$(node -p 'require(process.argv[1]).version' "$PKG/package.json")
[[ $want == "$got" ]] || { echo "docs-assets: installed swagger-ui-dist $got, pinned $want" >&2; exit 1; }

rm -rf "$DST"
mkdir -p "$DST"
for f in "${FILES[@]}"; do
  install -m 0644 "$PKG/$f" "$DST/$f"
done
printf '%s\n' "$got" >"$DST/VERSION"
