#!/usr/bin/env bash
# The project's test command (README "Tests"): builds in release mode and runs every test suite.
# Release mode because the numeric tests run real forward passes; -enable-testing keeps @testable imports working.
set -euo pipefail
cd "$(dirname "$0")/.."

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
# The official `openai` Python SDK against the served bundled model (chat, streaming usage, completions, models,
# tool calls under tool_choice required / named, json_schema, error classes). Skipped with a note when the package
# is missing (.ci/run installs it).
if python3 -c "import openai" 2>/dev/null; then
    python3 scripts/openai-client-check.py .build/release/ling-serve
else
    echo "SKIP scripts/openai-client-check.py: pip install openai"
fi
# The official `anthropic` Python SDK against the served bundled model (create, stream, tool_use under tool_choice
# any / tool, tool_result round trip, count_tokens, error classes). Skipped with a note when the package is missing.
if python3 -c "import anthropic" 2>/dev/null; then
    python3 scripts/anthropic-client-check.py .build/release/ling-serve
else
    echo "SKIP scripts/anthropic-client-check.py: pip install anthropic"
fi
# The Responses API through the official openai SDK (create, stream, forced function call, function_call_output and
# previous_response_id round trips).
if python3 -c "import openai" 2>/dev/null; then
    python3 scripts/responses-client-check.py .build/release/ling-serve
else
    echo "SKIP scripts/responses-client-check.py: pip install openai"
fi
# The real agents, from the PyPI wheels that ship their binaries (.ci/run installs them), each finishing a one-line
# task against `ling-serve serve` on the bundled model: Codex (`codex exec`, Responses API) and Claude Code
# (`claude -p`, Messages API). Skipped with a note only when a wheel does not import.
if python3 -c "import codex_cli_bin" 2>/dev/null; then
    scripts/agent-codex-check.sh .build/release/ling-serve
else
    echo "SKIP scripts/agent-codex-check.sh: pip install openai-codex-cli-bin"
fi
if python3 -c "import claude_agent_sdk" 2>/dev/null; then
    scripts/agent-claude-check.sh .build/release/ling-serve
else
    echo "SKIP scripts/agent-claude-check.sh: pip install claude-agent-sdk"
fi
