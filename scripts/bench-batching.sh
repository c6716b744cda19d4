#!/usr/bin/env bash
# Continuous batching against one-at-a-time serving, on the same server binary and model:
#   scripts/bench-batching.sh MODEL_DIR [LEVELS]        (LEVELS default "1 4 16 64")
# For each concurrency level C, ling-bench sends max(4, C) requests (random prompts of 32 tokens, exactly 32 output
# tokens with ignore_eos) at concurrency C, first to `ling-serve serve` as configured by default (continuous
# batching), then to the same server started with --max-running-requests 1 (one request at a time, as llama.cpp's
# server does with one slot). Prints a Markdown table of output tokens/s (aggregate over all streams, wall time from
# the first request to the last token, prefill included), median TPOT, the aggregate decode rate (streams x 1000 /
# median TPOT: tokens/s while every stream is decoding), and each batched figure as a multiple of the batched
# single-stream one.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/bench-batching.sh MODEL_DIR [LEVELS]}
levels=${2:-"1 4 16 64"}
serve=.build/release/ling-serve
bench=.build/release/ling-bench
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
pid=

start_server() {  # extra serve flags...
    "$serve" serve --model "$model" --port 0 --max-batched-tokens 2048 "$@" >"$work/server.log" 2>&1 &
    pid=$!
    base=""
    for _ in $(seq 1 600); do
        base=$(grep -o 'http://[^ ]*/v1' "$work/server.log" | head -n 1 | sed 's#/v1$##') || true
        [ -n "$base" ] && return
        kill -0 $pid 2>/dev/null || { cat "$work/server.log"; exit 1; }
        sleep 0.2
    done
    echo "server did not start"; exit 1
}

run_levels() {  # mode
    for c in $levels; do
        n=$(( c > 4 ? c : 4 ))
        "$bench" --base-url "$base" --num-prompts $n --max-concurrency $c --random-input-len 32 \
            --random-output-len 32 --random-range-ratio 0 --ignore-eos --seed 7 --num-warmups 2 --save-result \
            --result-filename "$work/$1-$c.json" >/dev/null 2>&1
        echo "  $1 concurrency $c done" >&2
    done
}

start_server
run_levels batched
kill $pid; wait $pid 2>/dev/null || true
start_server --max-running-requests 1
run_levels serial
kill $pid; wait $pid 2>/dev/null || true

python3 - "$work" $levels <<'PY'
import json, sys
work, levels = sys.argv[1], [int(x) for x in sys.argv[2:]]
load = lambda mode, c: json.load(open(f"{work}/{mode}-{c}.json"))
base = load("batched", levels[0])["output_throughput"]
print("| streams | continuous batching: output tok/s | x single stream | median TPOT ms | decode tok/s | x single stream (decode) | one at a time: output tok/s | batching / one at a time |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
decode = lambda r, c: c * 1000 / r["median_tpot_ms"]  # aggregate decode rate: streams x tokens/s of one stream
decodeBase = decode(load("batched", levels[0]), levels[0])
for c in levels:
    b, s = load("batched", c), load("serial", c)
    assert b["failed"] == 0 and s["failed"] == 0, (c, b["failed"], s["failed"])
    print(f"| {c} | {b['output_throughput']:.1f} | {b['output_throughput'] / base:.2f} | {b['median_tpot_ms']:.1f} "
          f"| {decode(b, c):.1f} | {decode(b, c) / decodeBase:.2f} "
          f"| {s['output_throughput']:.1f} | {b['output_throughput'] / s['output_throughput']:.2f} |")
PY
