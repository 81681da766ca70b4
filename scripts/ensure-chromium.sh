#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests and prints
# its path. Browser tests drive it with playwright-core (never a downloaded
# browser build). As root (CI), a missing package is installed from Debian's
# archive; as an ordinary user the script says what to install and fails.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

if [[ -x $CHROMIUM ]]; then
  printf '%s\n' "$CHROMIUM"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "ensure-chromium: $CHROMIUM not found; install Debian's chromium package (sudo apt-get install chromium)" >&2
  exit 1
fi

echo "ensure-chromium: installing Debian's chromium package" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium >&2
[[ -x $CHROMIUM ]] || { echo "ensure-chromium: $CHROMIUM still missing after install" >&2; exit 1; }
printf '%s\n' "$CHROMIUM"
