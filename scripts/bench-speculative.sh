#!/usr/bin/env bash
# MTP speculative decoding on the bundled model: decode speed and acceptance with K = 0 (off), 1, 2, 3 draft tokens
# at 1 and 8 concurrent streams, measured with ling-bench against `ling-serve serve`. Rounds alternate the settings
# so that a shared machine's load affects them alike.
# Usage: [THREADS=2] scripts/bench-speculative.sh [ROUNDS] [TEMPERATURE]   (after swift build -c release)
set -euo pipefail
rounds=${1:-1}
temperature=${2:-0}
bin=.build/release
port=${PORT:-8471}
out=${OUT:-/tmp/lingserve-bench-speculative}
mkdir -p "$out"
for round in $(seq 1 "$rounds"); do
  for k in 0 1 2 3; do
    if [ "$k" = 0 ]; then spec=(--speculative off); else spec=(--speculative mtp --speculative-tokens "$k"); fi
    "$bin/ling-serve" serve --port "$port" --threads "${THREADS:-2}" --open-metrics "${spec[@]}" >"$out/server-k$k.log" 2>&1 &
    server=$!
    for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.2; done
    for streams in 1 8; do
      "$bin/ling-bench" --base-url "http://127.0.0.1:$port" --num-prompts 32 --max-concurrency "$streams" \
        --random-input-len 64 --random-output-len 128 --ignore-eos --seed "$round" \
        --extra-body "{\"temperature\": $temperature}" >"$out/bench-k$k-c$streams-r$round.txt" 2>&1 || true
      printf 'round %s K=%s streams=%s: ' "$round" "$k" "$streams"
      grep -E "Output token throughput|Acceptance length|Mean TPOT" "$out/bench-k$k-c$streams-r$round.txt" \
        | sed -E 's/ +/ /g' | tr '\n' ';'
      echo
    done
    kill "$server"
    wait "$server" 2>/dev/null || true
  done
done
