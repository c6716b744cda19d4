#!/usr/bin/env bash
# Encode throughput (MB/s) of ling-serve's tokenizer and of Python `tokenizers` on the same ~10 MB of text,
# both single-threaded, whole text as one string.
# Usage: scripts/tokenizer/bench.sh [MODEL_DIR] [TEXT_FILE]
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL="${1:-Tests/TokenizersTests/Fixtures/golden/ling-style}"
TEXT="${2:-/tmp/lingserve-tokenizer-bench.txt}"
[ -f "$TEXT" ] || python3 scripts/tokenizer/make_bench_text.py "$TEXT" 10000000
python3 -c "import tokenizers" 2>/dev/null || pip install --quiet tokenizers
swift build -c release --product ling-serve >/dev/null
export RAYON_NUM_THREADS=1 TOKENIZERS_PARALLELISM=false
nice .build/release/ling-serve tokenizer-bench --model "$MODEL" --file "$TEXT"
nice python3 scripts/tokenizer/bench_python.py "$MODEL" "$TEXT"
