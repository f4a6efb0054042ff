#!/usr/bin/env bash
# Debian packages the tests need (the annotation app's, the code sandbox's) (called by .ci/run; safe to run again).
#   chromium            headless browser for the end-to-end tests (driven by Playwright's Python package through
#                       executable_path=/usr/bin/chromium; Playwright never downloads a browser)
#   fonts-dejavu-core   a font so pages render text in screenshots
#   postgresql          initdb/pg_ctl/postgres for the throwaway cluster that the PostgreSQL storage tests start
#   bubblewrap          bwrap, the sandbox of the python-tests reward (without it the reward refuses to run and
#                       the sandbox tests are skipped)
# Non-interactive and idempotent: packages already present are left alone; apt-get update runs first when anything
# is missing.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

want=(chromium fonts-dejavu-core postgresql bubblewrap)
missing=()
for pkg in "${want[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]})); then
    echo "system-deps: installing ${missing[*]}"
    SUDO=""
    if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "system-deps: ${want[*]} already installed"
fi

# The Debian postgresql package starts a system cluster through its init scripts on some machines; the tests do not use
# it (they start their own on a free port), so nothing more is needed here.
test -x /usr/bin/chromium || { echo "system-deps: /usr/bin/chromium missing after install" >&2; exit 1; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { echo "system-deps: initdb missing after install" >&2; exit 1; }
command -v bwrap >/dev/null || { echo "system-deps: bwrap missing after install" >&2; exit 1; }
