#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/browser/), if it is missing, and
# axe-core (the accessibility scan's engine, from npm) into a cache outside the repository.
# Idempotent; Playwright drives Chromium through executable_path=/usr/bin/chromium, so no
# browser download is needed. Python's playwright package comes from the [test] extra.
# tests/browser/conftest.py finds axe at $DFEW_AXE_JS or the cache path below.
set -euo pipefail
AXE_DIR="${DFEW_AXE_DIR:-$HOME/.cache/dfew-build/axe-core}"
# One package set at a time: Debian's npm conflicts with a NodeSource nodejs (which brings
# its own npm), and apt refuses the whole line, Chromium included, when asked for both.
export DEBIAN_FRONTEND=noninteractive
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
if ! command -v npm >/dev/null; then
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends npm >&2
fi
/usr/bin/chromium --version >&2
if [ ! -f "$AXE_DIR/node_modules/axe-core/axe.min.js" ]; then
  mkdir -p "$AXE_DIR"
  npm install --silent --no-audit --no-fund --prefix "$AXE_DIR" axe-core@4 >&2
fi
ls "$AXE_DIR/node_modules/axe-core/axe.min.js" >&2
