#!/usr/bin/env bash
# One-time set-up on a fresh machine: the Debian packages the chart and browser tests need, then
# the exact npm dependencies (which also compiles dist/ through the `prepare` script).
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "setup: please install the Debian packages: ${need[*]} (sudo apt-get install ${need[*]})" >&2
  fi
fi
npm ci --no-audit --no-fund
