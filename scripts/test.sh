#!/usr/bin/env bash
# The project's test command (README "Tests"): builds in release mode and runs every test suite.
# Release mode because the numeric tests run real forward passes; -enable-testing keeps @testable imports working.
set -euo pipefail
cd "$(dirname "$0")/.."
# System packages (installed when root or with sudo, otherwise the command to run) and the Python clients in
# .venv-test/ (scripts/test-requirements.txt).
scripts/setup.sh test
python=.venv-test/bin/python

swift build -c release -Xswiftc -enable-testing --build-tests
swift test -c release -Xswiftc -enable-testing --skip-build --skip 'FuzzTests|APIFuzzTests'
# The fuzz suites check that the process's memory returns to its baseline, so each runs alone: other suites in the
# same process (model checkpoints, KV caches) would move that figure.
swift test -c release -Xswiftc -enable-testing --skip-build --filter 'HTTPTests.FuzzTests'
swift test -c release -Xswiftc -enable-testing --skip-build --filter 'APIFuzzTests'

# Configuration and deployment files, then the README's serve command end to end on the bundled model.
"$python" scripts/check-deploy.py .build/release/ling-serve
scripts/smoke-serve.sh .build/release/ling-serve
# The official `openai` Python SDK against the served bundled model (chat, streaming usage, completions, models,
# tool calls under tool_choice required / named, json_schema, error classes).
"$python" scripts/openai-client-check.py .build/release/ling-serve
# Hub downloads against a local fake Hub (cache layout, resume, errors, huggingface_hub interoperability).
"$python" scripts/hub/hub-check.py .build/release/ling-serve
# The chat page at / in headless Chromium (screenshot in .build/webui-check.png).
"$python" scripts/webui-check.py .build/release/ling-serve .build/webui-check.png
