#!/usr/bin/env bash
# Interleaved kernel-vs-limit measurements in plain C, for a noisy shared machine: each line alternates the limit
# probe and the kernel so both see the same load.
#   gemv_vs_read THREADS DTYPE        1 GiB read probe vs lm_head GEMV (dtype 1 = bf16, 0 = f32, half the rows)
#   gemm_vs_sgemm OUT IN TOKENS DTYPE single-thread OpenBLAS sgemm 2048^3 vs lk_linear, wall and thread-CPU time
set -euo pipefail
cd "$(dirname "$0")"
S=../../Sources/CKernels
OUT=${TMPDIR:-/tmp}/lingserve-kernels
mkdir -p "$OUT"
clang -O3 -fno-math-errno -I$S/include $S/portable.c $S/avx2.c $S/avx512.c gemv_vs_read.c -o "$OUT/gemv_vs_read" -lpthread -lm
clang -O3 -fno-math-errno -I$S/include $S/portable.c $S/avx2.c $S/avx512.c gemm_vs_sgemm.c -o "$OUT/gemm_vs_sgemm" \
    -lopenblas -lpthread -lm
nice "$OUT/gemv_vs_read" 2 1
nice "$OUT/gemm_vs_sgemm" 5120 2048 512 1
nice "$OUT/gemm_vs_sgemm" 5120 2048 512 0
