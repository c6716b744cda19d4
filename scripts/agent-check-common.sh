# Sourced by scripts/agent-codex-check.sh and scripts/agent-claude-check.sh: the seed loop, the server they run the
# agent against, and the check counter. Not a script of its own.

# Which seed gives a reply that ends depends on the dot products' bits, which differ between instruction sets (an
# AVX2 machine sums in another order than an AVX-512 one): a check tries seeds 1..AGENT_CHECK_SEEDS (default 4) in
# turn and passes on the first turn that passes every check. A broken protocol path fails every seed.
# Usage: agent_check_seeds NAME "$@" (runs the calling script once per seed with AGENT_CHECK_SEED set; exits).
agent_check_seeds() {
    local name=$1 seed
    shift
    [ -n "${AGENT_CHECK_SEED:-}" ] && return 0
    for seed in $(seq 1 "${AGENT_CHECK_SEEDS:-4}"); do
        echo "--- $name check, server --default-seed $seed"
        AGENT_CHECK_SEED=$seed "${self:-$0}" "$@" && exit 0
    done
    echo "FAIL $name: no seed of 1..${AGENT_CHECK_SEEDS:-4} gave a finished turn"
    exit 1
}

# `ling-serve serve` on the bundled model with the check's seed, sampled at the model's natural temperature, exact
# numerics, no speculation; sets server, url (empty if it did not start within 2 minutes) and an EXIT trap that stops
# it and removes $work. Usage: agent_check_serve BINARY API_KEY [more serve flags]
agent_check_serve() {
    local binary=$1 key=$2
    shift 2
    "$binary" serve --port 0 --api-key "$key" --default-temperature 1 --default-seed "$AGENT_CHECK_SEED" \
        --kv-cache-dtype f32 --compute-dtype f32 --speculative off "$@" > "$work/serve.log" 2>&1 &
    server=$!
    trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
    url=""
    for _ in $(seq 600); do
        url=$(grep -o 'http://[^ ]*/v1' "$work/serve.log" | head -n 1)
        [ -n "$url" ] && break
        kill -0 "$server" 2>/dev/null || break
        sleep 0.2
    done
}

passed=0; failed=0
check() { if eval "$2"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; fi; }
