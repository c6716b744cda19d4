#!/usr/bin/env bash
# The README's first command as written: scripts/serve.sh (set-up, release build, serve the bundled model) prints
# the chat page URL and a curl line; the server comes up, the curl line as printed gets a chat completion, the
# chat page answers at /. Run after scripts/test.sh's build, so the build step is a no-op here.
# Prints 'N passed, N failed'.
set -u
cd "$(dirname "$0")/.."
port=$(python3 -c "import socket; s=socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
log=$(mktemp)
PORT=$port setsid scripts/serve.sh >"$log" 2>&1 &
pid=$!
trap 'kill -- -$pid 2>/dev/null; kill $pid 2>/dev/null; rm -f "$log"' EXIT
up=0
for _ in $(seq 1 1200); do  # up to 120 s: serve.sh first checks packages and the build
    curl -s -m 1 "http://127.0.0.1:$port/health" >/dev/null 2>&1 && { up=1; break; }
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
passed=0; failed=0
check() { if eval "$2"; then passed=$((passed + 1)); echo "ok   $1"; else failed=$((failed + 1)); echo "FAIL $1"; tail -5 "$log"; fi; }
check "scripts/serve.sh serves the bundled model" '[ $up -eq 1 ]'
check "it prints the chat page URL" 'grep -q "chat page:  http://127.0.0.1:$port/" "$log"'
line=$(grep -A1 "try:" "$log" | sed 's/^ *try: *//; s/\\$//' | tr -d '\n')
reply=$(eval "$line -s" 2>/dev/null)
check "the curl line it prints gets a chat completion" \
    'echo "$reply" | python3 -c "import json,sys; r=json.load(sys.stdin); assert r[\"model\"] == \"ling-tiny\" and r[\"choices\"][0][\"message\"][\"content\"].strip()"'
check "the chat page answers at /" 'curl -s "http://127.0.0.1:$port/" | grep -q "<title>LingServe chat</title>"'
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
