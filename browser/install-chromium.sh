#!/usr/bin/env bash
# Install Debian's chromium (and fonts-liberation, so pages render text) for `make browser-test`; nothing is
# downloaded when the test runs.
# Exit 0 with the browser's version when the browser works; otherwise exit 3 and say why.
# STROKELIB_CHROMIUM names another binary to check (default Debian's /usr/bin/chromium); browser/check_lab.py reads it too.
set -uo pipefail
CHROMIUM=${STROKELIB_CHROMIUM:-/usr/bin/chromium}

works() { "$CHROMIUM" --version 2>/dev/null; }

if works; then exit 0; fi

if [ "$(id -u)" = 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
else
    echo "cannot install chromium: not root and no password-less sudo (install the Debian package 'chromium' yourself)" >&2
    exit 3
fi
if ! command -v apt-get >/dev/null; then
    echo "cannot install chromium: no apt-get here (not Debian/Ubuntu); install a chromium at $CHROMIUM yourself" >&2
    exit 3
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
install() { DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends chromium fonts-liberation >"$log" 2>&1; }
echo "installing Debian's chromium with apt-get ..."
if ! install; then
    echo "apt-get install chromium failed; refreshing the package lists (apt-get update) and trying again ..."
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get update >>"$log" 2>&1
    if ! install; then
        echo "cannot install chromium: apt-get install -y chromium failed:" >&2
        tail -n 15 "$log" >&2
        exit 3
    fi
fi
if ! works; then
    echo "cannot run chromium: $CHROMIUM --version failed after installing it:" >&2
    "$CHROMIUM" --version 2>&1 | tail -n 5 >&2
    exit 3
fi
