#!/usr/bin/env bash
# The project's test command (README "Tests"): builds in release mode and runs every test suite.
# Release mode because the numeric tests run real forward passes; -enable-testing keeps @testable imports working.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build -c release -Xswiftc -enable-testing --build-tests
swift test -c release -Xswiftc -enable-testing --skip-build --skip 'FuzzTests|APIFuzzTests'
# The fuzz suites check that the process's memory returns to its baseline, so each runs alone: other suites in the
# same process (model checkpoints, KV caches) would move that figure.
swift test -c release -Xswiftc -enable-testing --skip-build --filter 'HTTPTests.FuzzTests'
swift test -c release -Xswiftc -enable-testing --skip-build --filter 'APIFuzzTests'

# Configuration and deployment files, then the README's serve command end to end on the bundled model.
python3 scripts/check-deploy.py .build/release/ling-serve
scripts/smoke-serve.sh .build/release/ling-serve
# The official `openai` Python SDK against the served bundled model (chat, streaming usage, completions, models,
# tool calls under tool_choice required / named, json_schema, error classes). Skipped with a note when the package
# is missing (.ci/run installs it).
if python3 -c "import openai" 2>/dev/null; then
    python3 scripts/openai-client-check.py .build/release/ling-serve
else
    echo "SKIP scripts/openai-client-check.py: pip install openai"
fi
# The Responses API through the official SDK, then the real Codex CLI (both from PyPI; .ci/run installs them).
if python3 -c "import openai" 2>/dev/null; then
    python3 scripts/responses-client-check.py .build/release/ling-serve
else
    echo "SKIP scripts/responses-client-check.py: pip install openai"
fi
if python3 -c "import codex_cli_bin" 2>/dev/null; then
    scripts/agent-codex-check.sh .build/release/ling-serve
else
    echo "SKIP scripts/agent-codex-check.sh: pip install openai-codex-cli-bin"
fi
