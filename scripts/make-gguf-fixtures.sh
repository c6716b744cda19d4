#!/usr/bin/env bash
# Makes the quantized GGUF fixtures of Tests/ModelsTests/Fixtures/gguf with llama.cpp's own tools: its converter
# (convert_hf_to_gguf.py through ../shared/tools/convert_with_pre.py, which forces the bailingmoe2 pre-tokenizer)
# writes each reference checkpoint as an F32 GGUF, llama-quantize quantizes it, and gguf-py (the `gguf` package
# from llama.cpp's tree, as on PyPI) dequantizes every tensor: dequantized.json holds, per file and tensor, the
# type and an FNV-1a 64 hash of the little-endian f32 values, which the tests compare with LingServe's
# dequantization. Not part of CI (it needs the llama.cpp build and torch); the outputs are committed.
# Usage: PEER=/path/to/peer scripts/make-gguf-fixtures.sh   (PEER as scripts/build-llamacpp-peer.sh made it)
set -euo pipefail
cd "$(dirname "$0")/.."
: "${PEER:?set PEER to the llama.cpp peer folder (scripts/build-llamacpp-peer.sh)}"
SRC=$PEER/llama_cpp_python-0.3.36/vendor/llama.cpp
OUT=Tests/ModelsTests/Fixtures/gguf
TYPES=${TYPES:-q8_0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"
for model in release-bf16 stress-f32; do
    LLAMA_CPP_DIR=$SRC "$PEER/venv/bin/python" ../shared/tools/convert_with_pre.py "../shared/reference/$model" \
        --outtype f32 --outfile "$WORK/$model.f32.gguf" > "$WORK/$model.convert.log" 2>&1
    for type in $TYPES; do
        "$PEER/build/bin/llama-quantize" "$WORK/$model.f32.gguf" "$OUT/$model.$type.gguf" "$type" 1 \
            > "$WORK/$model.$type.log" 2>&1
        echo "$OUT/$model.$type.gguf: $(grep -c 'converting to' "$WORK/$model.$type.log") tensors quantized"
    done
done
"$PEER/venv/bin/python" - "$OUT" <<'PY'
import json, struct, sys, pathlib
import numpy as np
from gguf import GGUFReader
from gguf.quants import dequantize

def fnv1a64(data: bytes) -> str:
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return format(h, "016x")

out = pathlib.Path(sys.argv[1])
result = {}
for path in sorted(out.glob("*.gguf")):
    reader = GGUFReader(str(path))
    tensors = {}
    for t in reader.tensors:
        values = dequantize(t.data, t.tensor_type).astype("<f4").reshape(-1)
        tensors[t.name] = {"type": t.tensor_type.name, "count": int(values.size), "fnv1a64": fnv1a64(values.tobytes())}
    result[path.name] = tensors
(out / "dequantized.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
print(f"{out / 'dequantized.json'}: {sum(len(v) for v in result.values())} tensors")
PY
