#!/usr/bin/env bash
# The project's test command (README "Tests"): builds in release mode and runs every test suite.
# Release mode because the numeric tests run real forward passes; -enable-testing keeps @testable imports working.
set -euo pipefail
cd "$(dirname "$0")/.."
# System packages (installed when root or with sudo, otherwise the apt-get line to run), Chromium, and the Python
# clients in .venv-test/ (scripts/test-requirements.txt), which comes first on PATH: every `python3` below is its own.
scripts/setup.sh test
export PATH="$PWD/.venv-test/bin:$PATH"

swift build -c release -Xswiftc -enable-testing --build-tests
swift test -c release -Xswiftc -enable-testing --skip-build --skip 'FuzzTests|APIFuzzTests|TensorsTests'
# The kernel suites force the instruction set (lk_force_isa, process-wide) to compare paths; run beside the model
# suites they would change those suites' dot-product order mid-test, so they run in a process of their own.
swift test -c release -Xswiftc -enable-testing --skip-build --filter 'TensorsTests'
# The fuzz suites check that the process's memory returns to its baseline, so each runs alone: other suites in the
# same process (model checkpoints, KV caches) would move that figure.
swift test -c release -Xswiftc -enable-testing --skip-build --filter 'HTTPTests.FuzzTests'
swift test -c release -Xswiftc -enable-testing --skip-build --filter 'APIFuzzTests'

# Configuration and deployment files, then the README's serve command end to end on the bundled model.
python3 scripts/check-deploy.py .build/release/ling-serve
scripts/smoke-serve.sh .build/release/ling-serve
# The README's first command as written (scripts/serve.sh), and the curl line it prints.
scripts/serve-check.sh
# The official `openai` Python SDK against the served bundled model (chat, streaming usage, completions, models,
# tool calls under tool_choice required / named, json_schema, error classes).
python3 scripts/openai-client-check.py .build/release/ling-serve
# The official `anthropic` Python SDK against the served bundled model (create, stream, tool_use under tool_choice
# any / tool, tool_result round trip, count_tokens, error classes).
python3 scripts/anthropic-client-check.py .build/release/ling-serve
# The Responses API through the official openai SDK (create, stream, forced function call, function_call_output and
# previous_response_id round trips).
python3 scripts/responses-client-check.py .build/release/ling-serve
# The real agents, from the PyPI wheels that ship their binaries (in .venv-test), each finishing a one-line task
# against `ling-serve serve` on the bundled model: Codex (`codex exec`, Responses API) and Claude Code (`claude -p`,
# Messages API).
scripts/agent-codex-check.sh .build/release/ling-serve
scripts/agent-claude-check.sh .build/release/ling-serve
# Hub downloads against a local fake Hub on 127.0.0.1 (cache layout, serve, resume, checksum / 401 / 403 / 404 /
# offline errors, a cache written by huggingface_hub used offline and ours read by it).
python3 scripts/hub/hub-check.py .build/release/ling-serve
# The chat page at / in headless Chromium: load, send, streamed reply, screenshot in .build/webui-check.png.
python3 scripts/webui-check.py .build/release/ling-serve .build/webui-check.png
