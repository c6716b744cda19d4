#!/usr/bin/env bash
# The real Claude Code CLI (the binary that the PyPI claude-agent-sdk wheel ships as claude_agent_sdk/_bundled/claude)
# against `ling-serve serve` on the bundled model: `claude -p` with ANTHROPIC_BASE_URL, one non-interactive turn.
# Passes when claude exits 0, prints no error line, its output holds the model's text (the `result` of the same turn
# run with --output-format json, which also reports success) and the server logged a completed POST /v1/messages.
# Prints 'N passed, N failed'. Usage: scripts/agent-claude-check.sh [path/to/ling-serve]
#
# What Claude Code 2.1.332 sends by default (captured): POST /v1/messages?beta=true, stream, max_tokens 32000,
# thinking "adaptive", a 7 KB system prompt, an environment section naming the working directory and the kernel
# version, and 12 tools (31 KB of schemas): 16,166 prompt tokens. That fits the demo model's 32,768-token context,
# and a turn with it did end (exit 0) in a manual run, but after 87 s and 4,274 sampled tokens, and the reply changes
# with the working directory and the machine. So this check uses Claude Code's own options for a smaller, fixed
# prompt: --bare (no hooks, CLAUDE.md discovery, plugins or background traffic), --system-prompt (replaces the
# default system prompt and its environment section; Claude Code still adds its SDK preamble), and the --bare tool
# set (Bash, Edit, Read). The server runs with --default-seed (Messages requests carry no seed) so the sampled reply
# is the same on every run; the task is one whose reply reaches EOS well inside the context.
set -uo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."
# shellcheck source=scripts/agent-check-common.sh
source scripts/agent-check-common.sh
agent_check_seeds claude "$@"
binary=${1:-.build/release/ling-serve}
task="Print hello world in Python."
claude=$(python3 -c "import claude_agent_sdk, os; print(os.path.join(os.path.dirname(claude_agent_sdk.__file__), '_bundled', 'claude'))") || {
    echo "FAIL claude_agent_sdk does not import (pip install claude-agent-sdk)"; exit 1; }
mkdir -p .build
work=$(mktemp -d "$PWD/.build/agent-claude.XXXXXX")
key=claude-check-key
agent_check_serve "$binary" "$key"
check "server started" '[ -n "$url" ]'
if [ -z "$url" ]; then cat "$work/serve.log"; echo "$passed passed, $failed failed"; exit 1; fi

mkdir -p "$work/home" "$work/repo"
# The base URL has no /v1: Claude Code appends /v1/messages. A HOME of its own keeps ~/.claude out of the check.
# CLAUDE_CODE_MAX_CONTEXT_TOKENS tells it the served context (it does not know "ling-tiny" and would assume 1M).
run_claude() {
    (cd "$work/repo" && HOME="$work/home" ANTHROPIC_BASE_URL="${url%/v1}" ANTHROPIC_API_KEY=$key ANTHROPIC_MODEL=ling-tiny \
        CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 CLAUDE_CODE_MAX_CONTEXT_TOKENS=32768 \
        timeout 300 "$claude" -p --bare --system-prompt "You are a helpful assistant." "$@" "$task" < /dev/null)
}
echo "claude: $("$claude" --version 2>&1)"
started=$(date +%s)
run_claude > "$work/out.txt" 2> "$work/err.txt"
status=$?
echo "claude -p \"$task\": exit $status after $(( $(date +%s) - started )) s; stdout:"
sed 's/^/    | /' "$work/out.txt"
echo "stderr:"
sed 's/^/    | /' "$work/err.txt"
run_claude --output-format json > "$work/out.json" 2> "$work/err-json.txt"
json_status=$?
check "claude -p exits 0" '[ $status -eq 0 ]'
# Claude Code's own failures: "API Error: ..." / "Error: ..." lines, or an error on stderr. (The model's text may
# hold Python names like ValueError, so stdout is only searched for lines that start that way.)
check "no error line" '! grep -qE "^(API )?Error" "$work/out.txt" "$work/err.txt" && ! grep -qi "error" "$work/err.txt"'
check "the output is not empty" 'grep -q "[^[:space:]]" "$work/out.txt"'
check "the json run reports success (exit 0, subtype success, is_error false, stop_reason end_turn)" \
    '[ $json_status -eq 0 ] && python3 -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r[\"subtype\"]==\"success\" and r[\"is_error\"] is False and r.get(\"stop_reason\")==\"end_turn\" else 1)" "$work/out.json"'
check "the output is the model's text (the json run's result: same prompt, same seed)" \
    'python3 -c "import json,sys; t=json.load(open(sys.argv[1]))[\"result\"].strip(); o=open(sys.argv[2]).read().strip(); sys.exit(0 if t and t == o else 1)" "$work/out.json" "$work/out.txt"'
check "server: POST /v1/messages 200, completed" 'grep "POST /v1/messages 200" "$work/serve.log" | grep -qv aborted'
if [ $failed -ne 0 ]; then echo "json output:"; sed 's/^/    | /' "$work/out.json"; echo "server log:"; sed 's/^/    | /' "$work/serve.log"; fi
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
