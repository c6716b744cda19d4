#!/usr/bin/env bash
# The real Codex CLI (PyPI openai-codex-cli-bin) against `ling-serve serve` on the bundled model: a CODEX_HOME with a
# `wire_api = "responses"` provider, one `codex exec` turn; passes when codex exits 0, prints no ERROR line and the
# model's text appears in its output. Usage: scripts/agent-codex-check.sh [path/to/ling-serve]
set -uo pipefail
binary=${1:-.build/release/ling-serve}
codex=$(python3 -c "import codex_cli_bin, os; print(os.path.join(os.path.dirname(codex_cli_bin.__file__), 'bin', 'codex'))")
work=$(mktemp -d); port=$((20000 + RANDOM % 30000))
"$binary" serve --port "$port" --api-key codex-check-key --max-output-tokens 256 > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 600); do grep -q "serving" "$work/serve.log" && break; sleep 0.2; done
mkdir -p "$work/home" "$work/repo"
cat > "$work/home/config.toml" <<TOML
model = "ling-tiny"
model_provider = "lingserve"
model_context_window = 32768
web_search = "disabled"
[model_providers.lingserve]
name = "LingServe"
base_url = "http://127.0.0.1:$port/v1"
env_key = "LINGSERVE_API_KEY"
wire_api = "responses"
stream_idle_timeout_ms = 1800000
request_max_retries = 0
stream_max_retries = 0
TOML
cd "$work/repo"
CODEX_HOME="$work/home" LINGSERVE_API_KEY=codex-check-key timeout 1500 "$codex" exec --skip-git-repo-check \
    "Say hello." < /dev/null > "$work/out.txt" 2>&1
status=$?
cat "$work/out.txt"
if [ $status -ne 0 ] || grep -q "^ERROR" "$work/out.txt"; then echo "FAIL codex exec (exit $status)"; exit 1; fi
echo "ok   codex exec finished a turn"
