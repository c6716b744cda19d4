#!/usr/bin/env bash
# LingServe against llama.cpp, side by side on the same weights and the same machine, alternated ROUNDS times.
#
#   scripts/bench-vs-llamacpp.sh                  # everything, defaults below
#   ROUNDS=3 LONG=1 ENGINE_FLAGS="--compute-dtype bf16" scripts/bench-vs-llamacpp.sh
#
# 1. Builds llama.cpp (the pinned llama-cpp-python 0.3.36 sdist: commit 0c1e570) and the converter venv into $PEER
#    with scripts/build-llamacpp-peer.sh, unless $PEER/READY says they are there.
# 2. Takes MODEL (a Hugging Face checkpoint folder), or makes the default one: `ling-serve make-model --like
#    ling-mini-2.0 --layers 4 --dtype bf16 --seed 1` (7.4 GiB), and converts it once with llama.cpp's own
#    convert_hf_to_gguf.py (scripts/convert_with_pre.py forces the `bailingmoe2` pre-tokenizer) to a bf16 GGUF;
#    WEIGHTS=q8_0 also writes the q8_0 GGUF with llama-quantize and runs both sides on that one file (LingServe
#    loads it in place and computes in int8, its default over Q8_0).
# 3. Each round, the two sides one after the other (LingServe first in odd rounds, llama.cpp first in even ones),
#    with THREADS threads each:
#    - engine: `llama-bench -p 512 -n 64 -fa 1` against `ling-serve bench` (512-token prefill, then 64 tokens decoded
#      one at a time; this run also measures the machine's read-bandwidth and sgemm probes);
#    - long context, for each N of LONG_CONTEXTS: `llama-bench -p N -n 0 -fa 1` (prefill of N tokens) and
#      `llama-bench -p 0 -n 64 -d N -fa 1` (64 tokens decoded after an N-token context) against
#      `ling-serve bench --prompt-tokens N --decode-tokens 64` (both figures from one run);
#    - servers, one at a time, never both resident: `llama-server` and `ling-serve serve` under the same `ling-bench`
#      load (for each C of LEVELS, max(4, C) requests at concurrency C, PROMPT_LEN random prompt tokens, OUTPUT_LEN
#      output tokens with ignore_eos, tokens counted from usage.completion_tokens, the same seed on both), then
#      `wrk -t2 -c64` on /health.
# 4. Prints the probes and one Markdown table (LingServe median [range], llama.cpp median [range], ratio median
#    [range] with the ratio taken within each round, > 1 = LingServe faster) and writes it, with a JSON file of all
#    raw numbers, to OUT_DIR. scripts/bench-vs-llamacpp-report.py RAW_DIR renders a kept raw folder again.
#
# Environment (defaults in brackets):
#   PEER [/work/peer]     llama.cpp build, venv, models and results; outside the repository
#   ROUNDS [2]            alternated rounds
#   THREADS [2]           threads of both engines and servers
#   MODEL [$PEER/mini4-bf16]   checkpoint LingServe runs and the GGUF is converted from (made if it is the default)
#   GGUF [$PEER/<MODEL name>.bf16.gguf]  converted once if missing;  LLAMA_MODEL [$GGUF]: what llama.cpp runs
#   WEIGHTS [bf16]        bf16: LingServe runs MODEL (safetensors), llama.cpp GGUF; q8_0: both run
#                         $PEER/<MODEL name>.q8_0.gguf (made with llama-quantize from GGUF if missing)
#   LONG [unset]          unset: long-context rows at 4096; 1: 4096 and 16384 (slow); 0: none
#   LONG_CONTEXTS         explicit list instead of LONG, e.g. "8192"
#   PARTS ["engine long server"]   which parts to run
#   LEVELS ["1 4 16 64"], PROMPT_LEN [64], OUTPUT_LEN [128], ENDPOINT [/v1/completions]   server load
#   REPS [3], LONG_REPS [2]   llama-bench -r for the short and the long rows
#   WRK_SECONDS [10]      wrk duration on /health (0: skip)
#   PAGE_CACHE [1]        1: first evict and re-read both checkpoints sequentially, so both engines map them with
#                         2 MiB pages (scripts/page-cache.py); each server's share is logged and kept in the raw folder
#   ENGINE_FLAGS []       extra flags of `ling-serve bench` AND `ling-serve serve` (e.g. "--compute-dtype bf16")
#   SERVE_FLAGS []        extra flags of `ling-serve serve` only (e.g. "--pin-workers false")
#   LLAMA_BENCH_FLAGS [], LLAMA_SERVER_FLAGS []   extra llama-bench / llama-server flags
#   LING_SERVE [.build/release/ling-serve], LING_BENCH [.build/release/ling-bench]   built if missing
#   OUT_DIR [$PEER/results]
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

PEER=${PEER:-/work/peer}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-2}
MODEL=${MODEL:-$PEER/mini4-bf16}
model_name=$(basename "$MODEL")
GGUF=${GGUF:-$PEER/$model_name.bf16.gguf}
WEIGHTS=${WEIGHTS:-bf16}
[[ $WEIGHTS == bf16 || $WEIGHTS == q8_0 ]] || { echo "WEIGHTS must be bf16 or q8_0" >&2; exit 2; }
Q8_GGUF=$PEER/$model_name.q8_0.gguf
if [[ $WEIGHTS == q8_0 ]]; then LLAMA_MODEL=${LLAMA_MODEL:-$Q8_GGUF}; else LLAMA_MODEL=${LLAMA_MODEL:-$GGUF}; fi
case "${LONG-}" in
    "") default_long="4096" ;;
    1) default_long="4096 16384" ;;
    0) default_long="" ;;
    *) echo "LONG must be unset, 0 or 1" >&2; exit 2 ;;
esac
LONG_CONTEXTS=${LONG_CONTEXTS-$default_long}
PARTS=${PARTS:-engine long server}
LEVELS=${LEVELS:-1 4 16 64}
PROMPT_LEN=${PROMPT_LEN:-64}
OUTPUT_LEN=${OUTPUT_LEN:-128}
ENDPOINT=${ENDPOINT:-/v1/completions}
REPS=${REPS:-3}
LONG_REPS=${LONG_REPS:-2}
WRK_SECONDS=${WRK_SECONDS:-10}
PAGE_CACHE=${PAGE_CACHE:-1}
LING_SERVE=${LING_SERVE:-.build/release/ling-serve}
LING_BENCH=${LING_BENCH:-.build/release/ling-bench}
OUT_DIR=${OUT_DIR:-$PEER/results}
read -r -a engine_flags <<<"${ENGINE_FLAGS:-}"
read -r -a serve_flags <<<"${SERVE_FLAGS:-}"
read -r -a llama_bench_flags <<<"${LLAMA_BENCH_FLAGS:-}"
read -r -a llama_server_flags <<<"${LLAMA_SERVER_FLAGS:-}"

for n in "$ROUNDS" "$THREADS" "$PROMPT_LEN" "$OUTPUT_LEN" "$REPS" "$LONG_REPS" "$WRK_SECONDS" $LEVELS $LONG_CONTEXTS; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "not a number: '$n'" >&2; exit 2; }
done
[[ $ROUNDS -ge 1 && $THREADS -ge 1 ]] || { echo "ROUNDS and THREADS must be >= 1" >&2; exit 2; }
has_part() { [[ " $PARTS " == *" $1 "* ]]; }

stamp=$(date -u +%Y%m%d-%H%M%S)
raw=$OUT_DIR/raw-$stamp
mkdir -p "$raw"
log() { printf '[bench-vs-llamacpp %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# wrk (Debian's package) for the /health row: installed when missing and we are root, else that row is skipped.
if [[ $WRK_SECONDS -gt 0 ]] && ! command -v wrk >/dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        log "installing wrk (apt-get)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 ||
            { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1; } || true
    fi
    if ! command -v wrk >/dev/null; then
        log "wrk not found (apt-get install wrk): skipping the /health row"
        WRK_SECONDS=0
    fi
fi

server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    server_pid=
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# ---- 1. the peer
if [[ ! -f $PEER/READY ]]; then
    log "building llama.cpp into $PEER (about 8 minutes on 2 idle cores)"
    PEER=$PEER scripts/build-llamacpp-peer.sh >&2
fi
# shellcheck disable=SC1091
source <(grep -E '^(SRC|BIN|VENV_PYTHON)=' "$PEER/READY")
for t in llama-bench llama-server llama-quantize; do
    [[ -x $BIN/$t ]] || { echo "$BIN/$t missing: remove $PEER/READY and run again" >&2; exit 1; }
done

# ---- LingServe binaries
if [[ ! -x $LING_SERVE || ! -x $LING_BENCH ]]; then
    log "swift build -c release --product ling-serve --product ling-bench"
    swift build -c release --product ling-serve >&2
    swift build -c release --product ling-bench >&2
fi

# ---- 2. checkpoint and GGUF
if [[ ! -f $MODEL/config.json ]]; then
    [[ $MODEL == "$PEER/mini4-bf16" ]] || { echo "MODEL=$MODEL has no config.json" >&2; exit 1; }
    log "making $MODEL (random weights, Ling-mini-2.0 shapes, 4 layers, bf16, 7.4 GiB)"
    rm -rf "$MODEL.partial"
    "$LING_SERVE" make-model --like ling-mini-2.0 --layers 4 --dtype bf16 --seed 1 --out "$MODEL.partial" >&2
    mv "$MODEL.partial" "$MODEL"
fi
if [[ ! -f $GGUF ]]; then
    log "converting $MODEL to $GGUF with llama.cpp's convert_hf_to_gguf.py (bf16)"
    LLAMA_CPP_DIR=$SRC "$VENV_PYTHON" scripts/convert_with_pre.py "$MODEL" --outtype bf16 --outfile "$GGUF.partial" >&2
    mv "$GGUF.partial" "$GGUF"
fi
if [[ $WEIGHTS == q8_0 ]]; then
    if [[ ! -f $Q8_GGUF ]]; then
        log "quantizing to $Q8_GGUF"
        "$BIN/llama-quantize" "$GGUF" "$Q8_GGUF.partial" q8_0 "$THREADS" >&2
        mv "$Q8_GGUF.partial" "$Q8_GGUF"
    fi
    MODEL=$Q8_GGUF  # LingServe runs the same file as llama.cpp
fi
[[ -f $LLAMA_MODEL ]] || { echo "LLAMA_MODEL=$LLAMA_MODEL missing" >&2; exit 1; }
if [[ $PAGE_CACHE == 1 ]]; then
    # The same page-cache state for both sides: both files in 2 MiB folios (see scripts/page-cache.py)
    log "$(python3 scripts/page-cache.py "$MODEL" "$LLAMA_MODEL")"
fi

# ---- the machine and the settings, for the report
max_level=0
for c in $LEVELS; do (( c > max_level )) && max_level=$c; done
np=$(( max_level > 1 ? max_level : 1 ))
ctx_per_slot=$(( (PROMPT_LEN + OUTPUT_LEN + 64 + 255) / 256 * 256 ))
server_ctx=$(( np * ctx_per_slot ))
export raw stamp repo PEER ROUNDS THREADS MODEL LLAMA_MODEL WEIGHTS LEVELS LONG_CONTEXTS PROMPT_LEN OUTPUT_LEN ENDPOINT REPS \
    LONG_REPS WRK_SECONDS PARTS np server_ctx
ENGINE_FLAGS=${ENGINE_FLAGS:-} SERVE_FLAGS=${SERVE_FLAGS:-} LLAMA_BENCH_FLAGS=${LLAMA_BENCH_FLAGS:-} \
LLAMA_SERVER_FLAGS=${LLAMA_SERVER_FLAGS:-} \
LINGSERVE_COMMIT="$(git rev-parse --short HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo -dirty)" \
LLAMA_VERSION="$("$BIN/llama-server" --version 2>&1 | grep -m1 version || true)" \
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)" \
python3 - >"$raw/meta.json" <<'PY'
import json, os
cpu = {}
for line in open("/proc/cpuinfo"):
    if ":" in line:
        k, v = (s.strip() for s in line.split(":", 1))
        cpu.setdefault(k, v)
flags = set(cpu.get("flags", "").split())
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
e = os.environ
print(json.dumps({
    "date_utc": e["stamp"], "cpu_model": cpu.get("model name", "?"), "logical_cpus": os.cpu_count(),
    "mem_total_gib": round(mem / 2**20, 1),
    "flags": {f: f in flags for f in ["avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16"]},
    "lingserve_commit": e["LINGSERVE_COMMIT"], "llama_cpp": e["LLAMA_VERSION"],
    "rounds": int(e["ROUNDS"]), "threads": int(e["THREADS"]), "model": e["MODEL"], "llama_model": e["LLAMA_MODEL"],
    "levels": [int(x) for x in e["LEVELS"].split()], "long_contexts": [int(x) for x in e["LONG_CONTEXTS"].split()],
    "prompt_len": int(e["PROMPT_LEN"]), "output_len": int(e["OUTPUT_LEN"]), "endpoint": e["ENDPOINT"],
    "llama_bench_reps": int(e["REPS"]), "llama_bench_long_reps": int(e["LONG_REPS"]),
    "wrk_seconds": int(e["WRK_SECONDS"]), "parts": e["PARTS"].split(),
    "llama_server_slots": int(e["np"]), "llama_server_ctx": int(e["server_ctx"]),
    "engine_flags": e["ENGINE_FLAGS"], "serve_flags": e["SERVE_FLAGS"],
    "llama_bench_flags": e["LLAMA_BENCH_FLAGS"], "llama_server_flags": e["LLAMA_SERVER_FLAGS"],
    "load_average_start": e["LOAD_START"],
}, indent=1))
PY

# ---- 3. the runs
ling_json() {  # out-file, ling-serve bench args... : keeps the JSON line of `ling-serve bench --json`
    local out=$1; shift
    "$LING_SERVE" bench --model "$MODEL" --threads "$THREADS" --json "$@" ${engine_flags[@]+"${engine_flags[@]}"} \
        >"$out.log" 2>&1 || { cat "$out.log" >&2; return 1; }
    grep '^{' "$out.log" | tail -n 1 >"$out"
}
llama_json() {  # out-file, reps, llama-bench args...
    local out=$1 reps=$2; shift 2
    "$BIN/llama-bench" -m "$LLAMA_MODEL" -t "$THREADS" -r "$reps" -o json "$@" \
        ${llama_bench_flags[@]+"${llama_bench_flags[@]}"} >"$out" 2>"$out.log" || { cat "$out.log" >&2; return 1; }
}

engine_run() {  # side round
    if [[ $1 == ling ]]; then
        ling_json "$raw/r$2-ling-engine.json" --prompt-tokens 512 --decode-tokens 64
    else
        llama_json "$raw/r$2-llama-engine.json" "$REPS" -p 512 -n 64 -fa 1
    fi
}
long_run() {  # side round N
    if [[ $1 == ling ]]; then
        ling_json "$raw/r$2-ling-long$3.json" --prompt-tokens "$3" --decode-tokens 64 --warmup-tokens 512 --skip-limits
    else
        llama_json "$raw/r$2-llama-long$3-pp.json" "$LONG_REPS" -p "$3" -n 0 -fa 1
        llama_json "$raw/r$2-llama-long$3-tg.json" "$LONG_REPS" -p 0 -n 64 -d "$3" -fa 1
    fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_healthy() {  # base-url log
    for _ in $(seq 1 1500); do
        curl -sf -o /dev/null "$1/health" && return 0
        kill -0 "$server_pid" 2>/dev/null || { cat "$2" >&2; echo "server exited" >&2; return 1; }
        sleep 0.2
    done
    echo "server did not become healthy in 300 s" >&2; return 1
}
start_server() {  # side round
    local logf=$raw/r$2-$1-server.log
    if [[ $1 == ling ]]; then
        "$LING_SERVE" serve --model "$MODEL" --host 127.0.0.1 --port 0 --threads "$THREADS" \
            ${engine_flags[@]+"${engine_flags[@]}"} ${serve_flags[@]+"${serve_flags[@]}"} >"$logf" 2>&1 &
        server_pid=$!
        base=
        for _ in $(seq 1 1500); do
            base=$(grep -o 'http://[^ ]*/v1' "$logf" | head -n 1 | sed 's#/v1$##') || true
            [[ -n $base ]] && break
            kill -0 "$server_pid" 2>/dev/null || { cat "$logf" >&2; echo "ling-serve serve exited" >&2; return 1; }
            sleep 0.2
        done
        [[ -n $base ]] || { echo "ling-serve serve printed no address" >&2; return 1; }
    else
        local port; port=$(free_port)
        "$BIN/llama-server" -m "$LLAMA_MODEL" --host 127.0.0.1 --port "$port" -np "$np" -c "$server_ctx" \
            -t "$THREADS" --no-webui --metrics ${llama_server_flags[@]+"${llama_server_flags[@]}"} >"$logf" 2>&1 &
        server_pid=$!
        base=http://127.0.0.1:$port
    fi
    wait_healthy "$base" "$logf"
}
server_run() {  # side round
    start_server "$1" "$2"
    for c in $LEVELS; do
        local n=$(( c > 4 ? c : 4 ))
        # same seed on both sides of a round, a new one per level and round (no prefix-cache reuse across runs)
        "$LING_BENCH" --base-url "$base" --endpoint "$ENDPOINT" --num-prompts "$n" --max-concurrency "$c" \
            --random-input-len "$PROMPT_LEN" --random-output-len "$OUTPUT_LEN" --random-range-ratio 0 --ignore-eos \
            --seed $(( 1000 * $2 + c )) --num-warmups 2 --disable-tqdm --save-result \
            --result-filename "$raw/r$2-$1-serve-c$c.json" >"$raw/r$2-$1-serve-c$c.log" 2>&1 \
            || { cat "$raw/r$2-$1-serve-c$c.log" >&2; return 1; }
        log "  $1 server, $c streams: $(grep -m1 'Output token throughput' "$raw/r$2-$1-serve-c$c.log" || echo '?')"
    done
    # How much of the server's memory the kernel maps with 2 MiB pages (weights, and KV where advised)
    awk '/^Rss:/ {r = $2} /^(AnonHugePages|FilePmdMapped):/ {h += $2} END {if (r > 0) printf "%.0f%% of %.2f GiB resident on 2 MiB pages\n", 100 * h / r, r / 2^20}' \
        "/proc/$server_pid/smaps_rollup" >"$raw/r$2-$1-hugepages.txt" 2>/dev/null || true
    log "  $1 server memory: $(cat "$raw/r$2-$1-hugepages.txt" 2>/dev/null || echo '?')"
    if [[ $WRK_SECONDS -gt 0 ]]; then
        wrk -t2 -c64 -d"${WRK_SECONDS}s" --latency "$base/health" >"$raw/r$2-$1-wrk.txt" 2>&1
        log "  $1 /health: $(grep 'Requests/sec' "$raw/r$2-$1-wrk.txt")"
    fi
    cleanup
}

started=$(date +%s)
for r in $(seq 1 "$ROUNDS"); do
    if (( r % 2 == 1 )); then order="ling llama"; else order="llama ling"; fi
    if has_part engine; then
        for side in $order; do log "round $r: $side engine (pp512, tg64)"; engine_run "$side" "$r"; done
    fi
    if has_part long; then
        for n in $LONG_CONTEXTS; do
            for side in $order; do log "round $r: $side long context $n"; long_run "$side" "$r" "$n"; done
        done
    fi
    if has_part server; then
        for side in $order; do log "round $r: $side server"; server_run "$side" "$r"; done
    fi
done
log "runs took $(( ($(date +%s) - started) / 60 )) min"
python3 - "$raw/meta.json" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(( $(date +%s) - started ))" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1]))
meta["load_average_end"], meta["run_seconds"] = sys.argv[2], int(sys.argv[3])
json.dump(meta, open(sys.argv[1], "w"), indent=1)
PY

# ---- 4. the report
python3 scripts/bench-vs-llamacpp-report.py "$raw" --json "$OUT_DIR/bench-vs-llamacpp-$stamp.json" \
    | tee "$OUT_DIR/bench-vs-llamacpp-$stamp.md"
log "wrote $OUT_DIR/bench-vs-llamacpp-$stamp.md and .json (raw runs in $raw)"
