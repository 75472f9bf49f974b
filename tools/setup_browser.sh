#!/usr/bin/env bash
# Installs Debian's chromium (+ chromium-driver) for the Playwright browser tests.
# Idempotent and instant when /usr/bin/chromium is already there. Playwright's own browser
# download (`playwright install`) is not used: the tests launch /usr/bin/chromium directly.
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [[ -x "$CHROMIUM" ]]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_browser: $CHROMIUM is missing and apt-get is not available; install Chromium" \
         "by hand (the browser tests need it)." >&2
    exit 1
fi
SUDO=""
if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "setup_browser: not root and no sudo; run 'apt-get install chromium chromium-driver'" \
             "as root (the browser tests need it)." >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
echo "setup_browser: installing chromium and chromium-driver with apt-get ..." >&2
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
"$CHROMIUM" --version >&2
