#!/usr/bin/env bash
# Set-up shared by scripts/serve.sh, scripts/test.sh and .ci/run on Debian or Ubuntu: installs the missing system
# packages (as root, or through passwordless sudo), otherwise prints the exact command to run and stops.
# `setup.sh test` adds what the tests need: Chromium (the chat page check), python3-venv, and the Python clients in
# .venv-test/ (scripts/test-requirements.txt; created once and reused, reinstalled when that file changes).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-serve}
packages=(libopenblas-dev libcurl4-openssl-dev libssl-dev pkg-config)
[ "$mode" = test ] && packages+=(python3 python3-venv chromium curl)
need=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        sudo=()
    elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        sudo=(sudo)
    else
        echo "missing system packages; install them with:" >&2
        echo "  sudo apt-get install -y ${need[*]}" >&2
        exit 1
    fi
    echo "setup: installing ${need[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if ! command -v swift >/dev/null; then
    echo "swift is not on PATH: install Swift 6.3 (swift.org/install/linux) and put its usr/bin on PATH" >&2
    exit 1
fi
if [ "$mode" = test ]; then
    # Debian's python3 (the python3-venv package gives it ensurepip); another python3 first on PATH may lack venv.
    python=/usr/bin/python3
    [ -x "$python" ] || python=python3
    if [ ! -x .venv-test/bin/python ]; then
        echo "setup: creating .venv-test/" >&2
        "$python" -m venv .venv-test
    fi
    stamp=.venv-test/.requirements
    if ! cmp -s scripts/test-requirements.txt "$stamp"; then
        echo "setup: installing scripts/test-requirements.txt into .venv-test/" >&2
        .venv-test/bin/python -m pip install -q -r scripts/test-requirements.txt
        cp scripts/test-requirements.txt "$stamp"
    fi
fi
