#!/usr/bin/env bash
# The README's first command: sets up (system packages), builds in release mode and serves the bundled model
# (or whatever `ling-serve serve` flags follow, e.g. --model inclusionAI/Ling-mini-2.0).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh serve
swift build -c release --product ling-serve
port=${PORT:-8000}
echo
echo "chat page:  http://127.0.0.1:$port/"
echo "try:        curl http://127.0.0.1:$port/v1/chat/completions -H 'Content-Type: application/json' \\"
echo "              -d '{\"messages\":[{\"role\":\"user\",\"content\":\"Write a Python function that adds two numbers.\"}],\"max_tokens\":64}'"
echo
exec .build/release/ling-serve serve --port "$port" "$@"
