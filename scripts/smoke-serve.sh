#!/usr/bin/env bash
# End-to-end smoke test of the README's first command: `ling-serve serve` with no arguments serves the bundled
# model; a curl chat request (plain and streamed) gets text back; /health, /v1/models and /metrics answer; SIGTERM
# stops the server cleanly. Prints 'N passed, N failed'.
set -u
cd "$(dirname "$0")/.."
binary=${1:-.build/release/ling-serve}
log=$(mktemp)
"$binary" serve --port 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$log"' EXIT
url=""
# Up to 60 s: loading takes well under a second on an idle machine, but CI's two cores may be busy.
for _ in $(seq 1 600); do
    url=$(grep -o 'http://[^ ]*/v1' "$log" | head -n 1)
    [ -n "$url" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
passed=0; failed=0
check() { if eval "$2"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi; }
check "server started on the bundled model" '[ -n "$url" ]'
base=${url%/v1}
check "/health" '[ "$(curl -s "$base/health")" = "{\"status\":\"ok\"}" ]'
check "/v1/models lists ling-tiny" 'curl -s "$url/models" | grep -q "\"id\":\"ling-tiny\""'
reply=$(curl -s "$url/chat/completions" -H 'Content-Type: application/json' \
    -d '{"model":"ling-tiny","messages":[{"role":"user","content":"Write a Python function that adds two numbers."}],"max_tokens":24,"temperature":0}')
check "chat completion has text" 'echo "$reply" | python3 -c "import json,sys; r=json.load(sys.stdin); assert r[\"choices\"][0][\"message\"][\"content\"].strip()"'
stream=$(curl -sN "$url/chat/completions" \
    -d '{"model":"ling-tiny","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"def add(a, b):"}],"max_tokens":8}')
check "stream ends with [DONE]" 'echo "$stream" | tail -n 2 | grep -q "data: \[DONE\]"'
check "stream has a usage chunk" 'echo "$stream" | grep -q "\"choices\":\[\],\"usage\":{\"prompt_tokens\""'
check "/metrics counts generated tokens" 'curl -s "$base/metrics" | grep -q "^lingserve:generation_tokens_total{model_name=\"ling-tiny\"} [1-9]"'
# Client disconnect mid-stream: the request leaves the batch and its KV blocks are freed (visible in /metrics).
metric() { curl -s "$base/metrics" | awk -v name="lingserve:$1" '$1 ~ "^"name"({|$)" {print $2; exit}'; }
curl -sN "$url/completions" -d '{"model":"ling-tiny","prompt":"import os","max_tokens":30000,"ignore_eos":true,"stream":true}' \
    >/dev/null 2>&1 &
stream_pid=$!
is() { awk "BEGIN{exit !($1)}"; }
for _ in $(seq 1 100); do is "$(metric num_requests_running) == 1" && break; sleep 0.05; done
usage_during=$(metric kv_cache_usage_perc)
kill $stream_pid 2>/dev/null; wait $stream_pid 2>/dev/null
for _ in $(seq 1 40); do is "$(metric num_requests_running) == 0" && break; sleep 0.05; done
check "disconnect mid-stream frees the request's KV blocks (kv usage $usage_during -> $(metric kv_cache_usage_perc))" \
    'is "$usage_during > 0" && is "$(metric num_requests_running) == 0" && is "$(metric kv_cache_usage_perc) == 0"'
# ling-bench end to end: 200 requests at concurrency 16; its output-token total must equal what the server counted.
bench=$(dirname "$binary")/ling-bench
if [ -x "$bench" ]; then
    before=$(curl -s "$base/metrics" | awk '/^lingserve:generation_tokens_total/ {print $2}')
    result=$(mktemp)
    "$bench" --base-url "$base" --num-prompts 200 --max-concurrency 16 --random-input-len 48 --random-output-len 12 \
        --seed 3 --skip-test-request --percentile-metrics ttft,tpot,itl,e2el --save-result --save-detailed \
        --result-filename "$result" >/dev/null 2>&1
    after=$(curl -s "$base/metrics" | awk '/^lingserve:generation_tokens_total/ {print $2}')
    check "ling-bench: 200 requests at concurrency 16, figures consistent with the server" \
        'python3 - "$result" "$before" "$after" <<PY
import json, sys
r = json.load(open(sys.argv[1])); delta = float(sys.argv[3]) - float(sys.argv[2])
assert r["completed"] == 200 and r["failed"] == 0, (r["completed"], r["failed"])
assert r["total_output_tokens"] == sum(r["output_lens"]) == delta, (r["total_output_tokens"], delta)
assert all(t < e for t, e in zip(r["ttfts"], r["latencies"]))
PY'
    rm -f "$result"
fi
kill -TERM $pid
for _ in $(seq 1 100); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
check "SIGTERM stops the server" '! kill -0 $pid 2>/dev/null'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
