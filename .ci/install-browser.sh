#!/usr/bin/env bash
# Install Debian's Chromium for the browser tests (tests/browser/), if it is missing.
# Idempotent; Playwright drives it through executable_path=/usr/bin/chromium, so no
# browser download is needed. Python's playwright package comes from the [test] extra.
set -euo pipefail
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
/usr/bin/chromium --version >&2
