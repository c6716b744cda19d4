#!/usr/bin/env bash
# Set-up shared by scripts/serve.sh, scripts/test.sh and .ci/run on Debian or Ubuntu: installs the missing system
# packages (as root, or through sudo), or prints the exact command and stops. `setup.sh test` adds what the tests
# need (Chromium, python3-venv) and the Python clients in .venv-test/ (scripts/test-requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-serve}
packages=(libopenblas-dev libcurl4-openssl-dev libssl-dev pkg-config)
[ "$mode" = test ] && packages+=(python3 python3-venv chromium curl)
need=()
for pkg in "${packages[@]}"; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
if [ "${#need[@]}" -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=(); elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo); else
        echo "missing system packages; install them with:" >&2
        echo "  sudo apt-get install -y ${need[*]}" >&2
        exit 1
    fi
    echo "installing ${need[*]}" >&2
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! command -v swift >/dev/null; then
    echo "swift is not on PATH: install Swift 6 (https://www.swift.org/install/linux/) and add its usr/bin to PATH" >&2
    exit 1
fi
if [ "$mode" = test ]; then
    if [ ! -x .venv-test/bin/python ]; then python3 -m venv .venv-test; fi
    stamp=.venv-test/.requirements
    if ! cmp -s scripts/test-requirements.txt "$stamp"; then
        .venv-test/bin/python -m pip install -q -r scripts/test-requirements.txt
        cp scripts/test-requirements.txt "$stamp"
    fi
fi
