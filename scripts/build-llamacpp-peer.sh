#!/usr/bin/env bash
# Builds llama.cpp, the peer LingServe is measured against, from the pinned llama-cpp-python sdist on PyPI, and the
# Python venv that runs llama.cpp's own HF -> GGUF converter. Everything goes under $PEER (outside the repository);
# the steps are those of ../shared/docs/llamacpp-peer.md. Idempotent: each step is skipped when its output exists,
# and $PEER/READY (paths, one `KEY=value` a line) is written last, so other jobs can poll for it.
#
#   PEER=/work/peer scripts/build-llamacpp-peer.sh
#
# Env: PEER (default /work/peer), JOBS (default 2), TORCH_WHEEL (default the CPU wheel in /opt/wheels; empty or a
# missing file falls back to PyPI's CPU index, never the 5 GB CUDA default).
set -euo pipefail

PEER=${PEER:-/work/peer}
JOBS=${JOBS:-2}
VERSION=0.3.36
TORCH_WHEEL=${TORCH_WHEEL-/opt/wheels/torch-2.13.0+cpu-cp311-cp311-manylinux_2_28_x86_64.whl}
SRC=$PEER/llama_cpp_python-$VERSION/vendor/llama.cpp
BIN=$PEER/build/bin
VENV=$PEER/venv
TARGETS=(llama-bench llama-server llama-quantize llama-completion)

log() { printf '[build-llamacpp-peer %s] %s\n' "$(date +%H:%M:%S)" "$*"; }

mkdir -p "$PEER"
have_bins() { local t; for t in "${TARGETS[@]}"; do [[ -x $BIN/$t ]] || return 1; done; }
if [[ -f $PEER/READY ]] && have_bins && [[ -x $VENV/bin/python ]]; then
  log "already built: $PEER/READY"; exit 0
fi

# 1. sources: the sdist vendors llama.cpp commit 0c1e570 (build 11312)
if [[ ! -f $SRC/CMakeLists.txt ]]; then
  if ! ls "$PEER"/dl/llama_cpp_python-$VERSION.tar.gz >/dev/null 2>&1; then
    log "pip download llama-cpp-python==$VERSION sdist"
    python3 -m pip download --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -d "$PEER/dl"
  fi
  tar xzf "$PEER/dl/llama_cpp_python-$VERSION.tar.gz" -C "$PEER"
fi
# else ggml reports a false "-dirty" commit (harmless when SRC is not a git work tree)
git -C "$SRC" update-index -q --refresh 2>/dev/null || true

# 3 (started first, runs beside the compile: mostly download and unpack). Converter venv: CPU torch, the
# converter's pinned packages, the vendored gguf-py.
make_venv() {
  if ! "$VENV/bin/python" -c 'import torch, numpy, sentencepiece, transformers, safetensors, gguf' 2>/dev/null; then
    log "venv $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --upgrade pip
    local torch_req
    if [[ -n $TORCH_WHEEL && -f $TORCH_WHEEL ]]; then
      torch_req=("$TORCH_WHEEL")
    else
      torch_req=(torch --extra-index-url https://download.pytorch.org/whl/cpu)
    fi
    "$VENV/bin/pip" install -q "${torch_req[@]}" "numpy~=2.2.6" "sentencepiece>=0.1.98,<0.3.0" \
      "transformers==4.57.6" "protobuf>=4.21.0,<5.0.0" safetensors -e "$SRC/gguf-py"
  fi
}
make_venv > "$PEER/venv.log" 2>&1 &
venv_pid=$!

# 2. binaries: CPU, native ISA, no BLAS
if ! have_bins; then
  for tool in cmake g++ make; do
    command -v $tool >/dev/null || { log "installing cmake g++ make git"; apt-get install -y cmake g++ make git; break; }
  done
  if [[ ! -f $PEER/build/CMakeCache.txt ]]; then
    log "cmake configure"
    cmake -S "$SRC" -B "$PEER/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_BLAS=OFF -DGGML_CUDA=OFF \
      -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF
  fi
  log "cmake build -j$JOBS ${TARGETS[*]}"
  cmake --build "$PEER/build" -j"$JOBS" --target "${TARGETS[@]}"
fi
"$BIN/llama-bench" --help >/dev/null
"$BIN/llama-server" --version

if ! wait "$venv_pid"; then log "venv failed:"; cat "$PEER/venv.log"; exit 1; fi
"$VENV/bin/python" -c 'import torch, numpy, transformers, gguf; print("venv ok: torch", torch.__version__,
  "numpy", numpy.__version__, "transformers", transformers.__version__, "cuda", torch.version.cuda)'
LLAMA_CPP_DIR=$SRC "$VENV/bin/python" -c 'import sys, os; sys.path.insert(0, os.environ["LLAMA_CPP_DIR"]);
import convert_hf_to_gguf; from conversion.bailingmoe import BailingMoeV2Model; print("converter imports ok")'

cat > "$PEER/READY.tmp" <<EOF
SRC=$SRC
BIN=$BIN
VENV_PYTHON=$VENV/bin/python
CONVERTER=$SRC/convert_hf_to_gguf.py
LLAMA_CPP_COMMIT=0c1e570
LLAMA_CPP_PYTHON=$VERSION
BUILT=$(date -u +%Y-%m-%dT%H:%M:%SZ)
EOF
mv "$PEER/READY.tmp" "$PEER/READY"
log "ready: $PEER/READY"
cat "$PEER/READY"
