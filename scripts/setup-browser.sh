#!/usr/bin/env bash
# The browser test's tools: Debian's chromium (apt, as root) and playwright-core (npm, pinned by
# scripts/browser/package-lock.json) to drive it. A second run does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
fi
if [ ! -d scripts/browser/node_modules/playwright-core ]; then
  npm ci --prefix scripts/browser --no-audit --no-fund --loglevel=error
fi
echo "browser test ready: $(chromium --version 2>/dev/null), playwright-core $(node -p "require('./scripts/browser/node_modules/playwright-core/package.json').version")"
