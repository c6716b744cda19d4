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
#
# Environment: SERVE_FLAGS, extra `ling-serve serve` flags for both servers (e.g. "--compute-dtype bf16");
# ROUNDS (default 1), how many times the batched levels run, one after the other (1, 4, 16, 64, 1, 4, ...): this
# host's memory bandwidth moves by tens of percent between minutes, so each round's multiples are taken against that
# round's single stream, and the table gives the median over the rounds with the range beside the multiples.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?usage: scripts/bench-batching.sh MODEL_DIR [LEVELS]}
levels=${2:-"1 4 16 64"}
rounds=${ROUNDS:-1}
read -r -a serveFlags <<<"${SERVE_FLAGS:-}"
serve=.build/release/ling-serve
bench=.build/release/ling-bench
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
pid=

start_server() {  # extra serve flags...
    "$serve" serve --model "$model" --port 0 --max-batched-tokens 2048 ${serveFlags[@]+"${serveFlags[@]}"} "$@" \
        >"$work/server.log" 2>&1 &
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

run_levels() {  # mode round
    for c in $levels; do
        n=$(( c > 4 ? c : 4 ))
        "$bench" --base-url "$base" --num-prompts $n --max-concurrency $c --random-input-len 32 \
            --random-output-len 32 --random-range-ratio 0 --ignore-eos --seed 7 --num-warmups 2 --save-result \
            --result-filename "$work/$1-$c-$2.json" >/dev/null 2>&1
        echo "  $1 concurrency $c round $2 done" >&2
    done
}

start_server
for r in $(seq 1 "$rounds"); do run_levels batched "$r"; done
kill $pid; wait $pid 2>/dev/null || true
start_server --max-running-requests 1
run_levels serial 1
kill $pid; wait $pid 2>/dev/null || true

python3 - "$work" "$rounds" $levels <<'PY'
import json, statistics, sys
work, rounds, levels = sys.argv[1], int(sys.argv[2]), [int(x) for x in sys.argv[3:]]
load = lambda mode, c, r: json.load(open(f"{work}/{mode}-{c}-{r}.json"))
decode = lambda res, c: c * 1000 / res["median_tpot_ms"]  # aggregate decode rate: streams x tokens/s of one stream
median = statistics.median

def spread(values):  # "m" for one round, "m (lo-hi)" for several
    m = f"{median(values):.2f}"
    return m if len(values) == 1 else f"{m} ({min(values):.2f}-{max(values):.2f})"

if rounds > 1:
    print(f"Median of {rounds} rounds; multiples are taken within each round (range in parentheses).\n")
print("| streams | continuous batching: output tok/s | x single stream | median TPOT ms | decode tok/s | x single stream (decode) | one at a time: output tok/s | batching / one at a time |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
first = levels[0]
for c in levels:
    runs = [load("batched", c, r) for r in range(1, rounds + 1)]
    bases = [load("batched", first, r) for r in range(1, rounds + 1)]
    s = load("serial", c, 1)
    assert all(b["failed"] == 0 for b in runs) and s["failed"] == 0, (c, [b["failed"] for b in runs], s["failed"])
    output = median([b["output_throughput"] for b in runs])
    tpot = median([b["median_tpot_ms"] for b in runs])
    rate = median([decode(b, c) for b in runs])
    outputRatio = [b["output_throughput"] / base["output_throughput"] for b, base in zip(runs, bases)]
    decodeRatio = [decode(b, c) / decode(base, first) for b, base in zip(runs, bases)]
    print(f"| {c} | {output:.1f} | {spread(outputRatio)} | {tpot:.1f} | {rate:.1f} | {spread(decodeRatio)} "
          f"| {s['output_throughput']:.1f} | {output / s['output_throughput']:.2f} |")
PY
