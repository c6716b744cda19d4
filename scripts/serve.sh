#!/usr/bin/env bash
# The README's first command: set-up (missing system packages, see scripts/setup.sh), a release build, then
# `ling-serve serve` on the bundled model models/ling-tiny, or with whatever serve flags follow, e.g.
#   scripts/serve.sh --model inclusionAI/Ling-mini-2.0 --kv-cache-memory 8GiB
# PORT (default 8000) picks the port. The build uses the test command's flags (-enable-testing), so
# scripts/test.sh afterwards reuses it instead of compiling everything again.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh serve
swift build -c release -Xswiftc -enable-testing --product ling-serve
port=${PORT:-8000}
# The model id requests name: --served-model-name, else ORG/NAME of a Hub model, else the folder's (file's) name.
model=ling-tiny served=
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[i]}" in
        --model) model=${args[i + 1]:-$model} ;;
        --model=*) model=${args[i]#--model=} ;;
        --served-model-name) served=${args[i + 1]:-} ;;
        --served-model-name=*) served=${args[i]#--served-model-name=} ;;
    esac
done
if [ -n "$served" ]; then model=${served%%,*}; elif [ -e "$model" ]; then model=$(basename "$model"); fi
model=${model%@*}
cat <<TEXT

ling-serve is starting on http://127.0.0.1:$port
  chat page:  http://127.0.0.1:$port/
  API:        http://127.0.0.1:$port/v1
  try:        curl http://127.0.0.1:$port/v1/chat/completions -H 'Content-Type: application/json' \\
                -d '{"model":"$model","messages":[{"role":"user","content":"Write a Python function that adds two numbers."}],"max_tokens":64}'

TEXT
exec .build/release/ling-serve serve --port "$port" "$@"
