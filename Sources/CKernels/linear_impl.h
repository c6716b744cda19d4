// The SIMD linear kernel, written once and included by each ISA file (avx2.c, avx512.c) after it defines:
//   LK_TARGET                     function attribute enabling the ISA
//   VEC, LANES                    vector type of LANES f32 lanes
//   V_ZERO() V_LOADU(p) V_FMA(a, b, c) V_MUL(a, b) V_SET1(f) V_HSUM(v)
//   W_BF16(p) W_F16(p) W_FP8(p)   LANES weights at p converted to f32 (FP8 without its block scale)
//   W_Q8(block, k)                LANES weights of a Q8_0 block starting at its element k, dequantized (d * q)
//   GEMV_ROWS                     rows per tile when tokenCount == 1
//   GEMM_ROWS, GEMM_TOKENS        rows x tokens per register tile when tokenCount > 1
//   PANEL_BYTES                   bytes of weight rows kept in L2 while every token tile passes by (the next
//                                 panel is prefetched beside it)
//   LK_NAME(name)                 name##_isa
//   LK_BF16_DOT (optional)        this instance multiplies bf16 weights with activations staged as bf16 pairs
//                                 (lk_bf16_stage) using VDPBF16PS; only the bf16 instance and its entry exist
//
// Reduction order (the batch-invariance contract): every output y[t, o] has ONE accumulator of LANES lanes,
// lane l sums x[t, i] * w[o, i] for i = l (mod LANES) in increasing i with FMA; the last partial vector is
// zero-padded and accumulated the same way; then V_HSUM reduces the lanes in a fixed tree. Every tile shape
// (GEMV or GEMM, any rows x tokens) runs exactly this sequence per output, so the bits never depend on
// tokenCount or on the row range a call (or a thread) was given.
// LK_BF16_DOT instances: lane l sums the pairs (i, i + 1), i = 2l (mod 2 * LANES), one VDPBF16PS step each (the two
// exact products added to the lane in the instruction's fixed order), the last partial step zero-padded; then the
// same V_HSUM. Again one sequence per output, whatever the tile.

#define LK_AI static inline __attribute__((always_inline)) LK_TARGET

#define MAX_ROWS (GEMV_ROWS > GEMM_ROWS ? GEMV_ROWS : GEMM_ROWS)

LK_AI VEC LK_NAME(load_w)(const void *w, const lk_dtype dtype, int64_t index) {
    switch (dtype) {
    case LK_DTYPE_F32: return V_LOADU((const float *)w + index);
    case LK_DTYPE_BF16: return W_BF16((const uint16_t *)w + index);
    case LK_DTYPE_F16: return W_F16((const uint16_t *)w + index);
    case LK_DTYPE_FP8_E4M3: return W_FP8((const uint8_t *)w + index);
    case LK_DTYPE_Q8_0:  // rows are whole blocks and LANES divides 32, so a vector never straddles two blocks
        return W_Q8((const uint8_t *)w + (index / LK_Q8_BLOCK) * LK_Q8_BLOCK_BYTES, index % LK_Q8_BLOCK);
    }
    return V_ZERO();
}

typedef struct {
    const void *w;
    const float *scaleInv;  // FP8 only
    int64_t blockRows, blockCols, scaleCols;
    int64_t inSize;
} LK_NAME(matrix);

/// Rows a walk prefetches, laid out like the matrix (inSize elements of elementSize bytes per row): the row tile k
/// rows into the walk's range fetches rows [k, k + R) of the region while it computes, as long as the region has
/// them. PF (a constant) says where to: 0 nowhere, 3 into L1, 2 into L2.
typedef struct {
    const char *base;
    int64_t rowCount;
    int64_t elementSize;
} LK_NAME(prefetch);

/// The share of the R prefetched rows [k, k + R) of `ahead` that goes with the step over elements [i, i + n) of a
/// row: R * n elements, in address order.
LK_AI void LK_NAME(prefetch_step)(LK_NAME(prefetch) ahead, int64_t k, int64_t inSize, const int R, int64_t i,
                                  int64_t n, const int PF) {
    const char *line = ahead.base + (k * inSize + (int64_t)R * i) * ahead.elementSize;
    for (int64_t b = 0; b < (int64_t)R * n * ahead.elementSize; b += 64) {
        if (PF == 3) __builtin_prefetch(line + b, 0, 3);
        else __builtin_prefetch(line + b, 0, 2);
    }
}

#ifdef LK_BF16_DOT
/// The tile of a bf16 x bf16 instance: x holds each token's activations as bf16 pairs (one float slot per pair,
/// rows zero-padded to a multiple of 2 * LANES elements by lk_bf16_stage), w is bf16.
LK_AI void LK_NAME(tile)(float *y, int64_t yStride, const float *x, int64_t xStride, const LK_NAME(matrix) *m,
                         const lk_dtype dtype, int64_t o, const int R, const int T, const int PF,
                         LK_NAME(prefetch) ahead, int64_t k) {
    (void)dtype;
    const int STEP = 2 * LANES;  // bf16 elements per VDPBF16PS
    VEC acc[MAX_ROWS][GEMM_TOKENS];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = V_ZERO();
    const int64_t inSize = m->inSize;
    const uint16_t *w = (const uint16_t *)m->w;
    const int64_t full = inSize - inSize % STEP;
    for (int64_t i = 0; i < full; i += STEP) {
        if (PF > 0) LK_NAME(prefetch_step)(ahead, k, inSize, R, i, STEP, PF);
        __m512i wv[MAX_ROWS];
        for (int r = 0; r < R; r++) wv[r] = _mm512_loadu_si512((const void *)(w + (o + r) * inSize + i));
        for (int t = 0; t < T; t++) {
            const __m512bh xv = (__m512bh)_mm512_loadu_si512((const void *)(x + t * xStride + i / 2));
            for (int r = 0; r < R; r++) acc[r][t] = _mm512_dpbf16_ps(acc[r][t], xv, (__m512bh)wv[r]);
        }
    }
    if (full < inSize) {  // the staged x is zero beyond inSize; the weights are masked there
        const __mmask32 valid = (__mmask32)((1ull << (inSize - full)) - 1);
        for (int r = 0; r < R; r++) {
            const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(valid, w + (o + r) * inSize + full);
            for (int t = 0; t < T; t++) {
                const __m512bh xv = (__m512bh)_mm512_loadu_si512((const void *)(x + t * xStride + full / 2));
                acc[r][t] = _mm512_dpbf16_ps(acc[r][t], xv, wv);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[t * yStride + o + r] = V_HSUM(acc[r][t]);
}

/// The tile's arithmetic (one accumulator per output, the same VDPBF16PS sequence), each row walked to its end
/// before the next: the GEMV (T = 1) path, where the weights stream from memory once. (For a few tokens, T > 1, the
/// row-by-token register tile wins: it loads each x vector once for R rows.) Rows are contiguous, so
/// the weights are read in address order, the one stream the hardware prefetcher follows at full speed (R rows
/// interleaved 4 KiB apart read at 30 GB/s where one stream reads 42, Zen 5, 2 threads); the T tokens' chains and
/// out-of-order execution across rows hide the FMA latency.
LK_AI void LK_NAME(rows_tile)(float *y, int64_t yStride, const float *x, int64_t xStride, const LK_NAME(matrix) *m,
                              const lk_dtype dtype, int64_t o, const int R, const int T, const int PF,
                              LK_NAME(prefetch) ahead, int64_t k) {
    (void)dtype;
    const int STEP = 2 * LANES;
    const int64_t inSize = m->inSize;
    const uint16_t *w = (const uint16_t *)m->w;
    const int64_t full = inSize - inSize % STEP;
    for (int r = 0; r < R; r++) {
        const uint16_t *row = w + (o + r) * inSize;
        const char *pf = ahead.base + (k + r) * inSize * ahead.elementSize;
        VEC acc[GEMM_TOKENS > 1 ? GEMM_TOKENS : 1];
        for (int t = 0; t < T; t++) acc[t] = V_ZERO();
        for (int64_t i = 0; i < full; i += STEP) {
            if (PF == 3) __builtin_prefetch(pf + i * ahead.elementSize, 0, 3);
            else if (PF > 0) __builtin_prefetch(pf + i * ahead.elementSize, 0, 2);
            const __m512bh wv = (__m512bh)_mm512_loadu_si512((const void *)(row + i));
            for (int t = 0; t < T; t++) {
                const __m512bh xv = (__m512bh)_mm512_loadu_si512((const void *)(x + t * xStride + i / 2));
                acc[t] = _mm512_dpbf16_ps(acc[t], xv, wv);
            }
        }
        if (full < inSize) {
            const __mmask32 valid = (__mmask32)((1ull << (inSize - full)) - 1);
            const __m512bh wv = (__m512bh)_mm512_maskz_loadu_epi16(valid, row + full);
            for (int t = 0; t < T; t++) {
                const __m512bh xv = (__m512bh)_mm512_loadu_si512((const void *)(x + t * xStride + full / 2));
                acc[t] = _mm512_dpbf16_ps(acc[t], xv, wv);
            }
        }
        for (int t = 0; t < T; t++) y[t * yStride + o + r] = V_HSUM(acc[t]);
    }
}
#else
/// y[t0 + t, o + r] for r < R, t < T, prefetching rows [k, k + R) of `ahead` when PF > 0. R, T and PF are
/// compile-time constants after inlining. Prefetching never changes the arithmetic.
LK_AI void LK_NAME(tile)(float *y, int64_t yStride, const float *x, int64_t xStride, const LK_NAME(matrix) *m,
                         const lk_dtype dtype, int64_t o, const int R, const int T, const int PF,
                         LK_NAME(prefetch) ahead, int64_t k) {
    VEC acc[MAX_ROWS][GEMM_TOKENS];
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) acc[r][t] = V_ZERO();
    const int64_t inSize = m->inSize;
    const int64_t full = inSize - inSize % LANES;
    // FP8 scales change every blockCols columns (a multiple of LANES), so walk the row block by block.
    const int64_t chunk = dtype == LK_DTYPE_FP8_E4M3 ? m->blockCols : (full > 0 ? full : 1);
    for (int64_t c0 = 0; c0 < full; c0 += chunk) {
        const int64_t c1 = c0 + chunk < full ? c0 + chunk : full;
        VEC scale[MAX_ROWS];
        if (dtype == LK_DTYPE_FP8_E4M3)
            for (int r = 0; r < R; r++)
                scale[r] = V_SET1(m->scaleInv[((o + r) / m->blockRows) * m->scaleCols + c0 / m->blockCols]);
        for (int64_t i = c0; i < c1; i += LANES) {
            if (PF > 0) LK_NAME(prefetch_step)(ahead, k, inSize, R, i, LANES, PF);
            VEC wv[MAX_ROWS];
            for (int r = 0; r < R; r++) {
                wv[r] = LK_NAME(load_w)(m->w, dtype, (o + r) * inSize + i);
                if (dtype == LK_DTYPE_FP8_E4M3) wv[r] = V_MUL(wv[r], scale[r]);
            }
            for (int t = 0; t < T; t++) {
                VEC xv = V_LOADU(x + t * xStride + i);
                for (int r = 0; r < R; r++) acc[r][t] = V_FMA(xv, wv[r], acc[r][t]);
            }
        }
    }
    if (full < inSize) {  // zero-padded last vector
        const int n = (int)(inSize - full);
        float wTail[MAX_ROWS][LANES];
        float xTail[GEMM_TOKENS][LANES];
        for (int r = 0; r < R; r++) {
            float scale = 1;
            if (dtype == LK_DTYPE_FP8_E4M3)
                scale = m->scaleInv[((o + r) / m->blockRows) * m->scaleCols + full / m->blockCols];
            for (int k = 0; k < LANES; k++) {
                float v = k < n ? lk_scalar_weight(m->w, dtype, (o + r) * inSize + full + k) : 0.0f;
                wTail[r][k] = dtype == LK_DTYPE_FP8_E4M3 ? v * scale : v;
            }
        }
        for (int t = 0; t < T; t++)
            for (int k = 0; k < LANES; k++) xTail[t][k] = k < n ? x[t * xStride + full + k] : 0.0f;
        for (int t = 0; t < T; t++) {
            VEC xv = V_LOADU(xTail[t]);
            for (int r = 0; r < R; r++) acc[r][t] = V_FMA(xv, V_LOADU(wTail[r]), acc[r][t]);
        }
    }
    for (int r = 0; r < R; r++)
        for (int t = 0; t < T; t++) y[t * yStride + o + r] = V_HSUM(acc[r][t]);
}

/// The tile's arithmetic (one accumulator per output, the same FMA sequence and tail), each row walked to its end
/// before the next: the GEMV (T = 1) path, where the weights stream from memory once. (For a few tokens, T > 1, the
/// row-by-token register tile wins: it loads each x vector once for R rows.) Rows are contiguous, so
/// the weights are read in address order, the one stream the hardware prefetcher follows at full speed (R rows
/// interleaved 4 KiB apart read at 30 GB/s where one stream reads 42, Zen 5, 2 threads); the T tokens' chains and
/// out-of-order execution across rows hide the FMA latency.
LK_AI void LK_NAME(rows_tile)(float *y, int64_t yStride, const float *x, int64_t xStride, const LK_NAME(matrix) *m,
                              const lk_dtype dtype, int64_t o, const int R, const int T, const int PF,
                              LK_NAME(prefetch) ahead, int64_t k) {
    const int64_t inSize = m->inSize;
    const int64_t full = inSize - inSize % LANES;
    const int64_t chunk = dtype == LK_DTYPE_FP8_E4M3 ? m->blockCols : (full > 0 ? full : 1);
    const int64_t lineElements = 64 / ahead.elementSize;
    for (int r = 0; r < R; r++) {
        const char *pf = ahead.base + (k + r) * inSize * ahead.elementSize;
        VEC acc[GEMM_TOKENS > 1 ? GEMM_TOKENS : 1];
        for (int t = 0; t < T; t++) acc[t] = V_ZERO();
        for (int64_t c0 = 0; c0 < full; c0 += chunk) {
            const int64_t c1 = c0 + chunk < full ? c0 + chunk : full;
            VEC scale = V_SET1(1.0f);
            if (dtype == LK_DTYPE_FP8_E4M3)
                scale = V_SET1(m->scaleInv[((o + r) / m->blockRows) * m->scaleCols + c0 / m->blockCols]);
            for (int64_t i = c0; i < c1; i += LANES) {
                if (PF > 0 && i % lineElements < LANES) {
                    if (PF == 3) __builtin_prefetch(pf + i * ahead.elementSize, 0, 3);
                    else __builtin_prefetch(pf + i * ahead.elementSize, 0, 2);
                }
                VEC wv = LK_NAME(load_w)(m->w, dtype, (o + r) * inSize + i);
                if (dtype == LK_DTYPE_FP8_E4M3) wv = V_MUL(wv, scale);
                for (int t = 0; t < T; t++) acc[t] = V_FMA(V_LOADU(x + t * xStride + i), wv, acc[t]);
            }
        }
        if (full < inSize) {  // zero-padded last vector
            const int n = (int)(inSize - full);
            float wTail[LANES];
            float scale = 1;
            if (dtype == LK_DTYPE_FP8_E4M3) scale = m->scaleInv[((o + r) / m->blockRows) * m->scaleCols + full / m->blockCols];
            for (int j = 0; j < LANES; j++) {
                float v = j < n ? lk_scalar_weight(m->w, dtype, (o + r) * inSize + full + j) : 0.0f;
                wTail[j] = dtype == LK_DTYPE_FP8_E4M3 ? v * scale : v;
            }
            for (int t = 0; t < T; t++) {
                float xTail[LANES];
                for (int j = 0; j < LANES; j++) xTail[j] = j < n ? x[t * xStride + full + j] : 0.0f;
                acc[t] = V_FMA(V_LOADU(xTail), V_LOADU(wTail), acc[t]);
            }
        }
        for (int t = 0; t < T; t++) y[t * yStride + o + r] = V_HSUM(acc[t]);
    }
}
#endif

/// Rows [p0, p1) against the T tokens at t: register tiles of R rows, the first ones prefetching (PF > 0), then
/// single rows.
LK_AI void LK_NAME(row_tiles)(float *y, int64_t yStride, const float *x, int64_t xStride, const LK_NAME(matrix) *m,
                              const lk_dtype dtype, int64_t p0, int64_t p1, int64_t t, const int R, const int T,
                              const int PF, LK_NAME(prefetch) ahead, const int ROWWISE) {
    float *yt = y + t * yStride;
    const float *xt = x + t * xStride;
    int64_t o = p0;
    if (ROWWISE) {  // weights streamed once: rows in address order
        if (PF > 0)
            for (; o + R <= p1 && o - p0 + R <= ahead.rowCount; o += R)
                LK_NAME(rows_tile)(yt, yStride, xt, xStride, m, dtype, o, R, T, PF, ahead, o - p0);
        for (; o + R <= p1; o += R) LK_NAME(rows_tile)(yt, yStride, xt, xStride, m, dtype, o, R, T, 0, ahead, 0);
        for (; o < p1; o++) LK_NAME(rows_tile)(yt, yStride, xt, xStride, m, dtype, o, 1, T, 0, ahead, 0);
        return;
    }
    if (PF > 0)
        for (; o + R <= p1 && o - p0 + R <= ahead.rowCount; o += R)
            LK_NAME(tile)(yt, yStride, xt, xStride, m, dtype, o, R, T, PF, ahead, o - p0);
    for (; o + R <= p1; o += R) LK_NAME(tile)(yt, yStride, xt, xStride, m, dtype, o, R, T, 0, ahead, 0);
    for (; o < p1; o++) LK_NAME(tile)(yt, yStride, xt, xStride, m, dtype, o, 1, T, 0, ahead, 0);
}

/// The tokens over rows [p0, p1), GEMM_TOKENS at a time, then the remainder; the token tile starting at pfTile
/// carries the prefetch.
LK_AI void LK_NAME(token_tiles)(float *y, int64_t yStride, const float *x, int64_t xStride, const LK_NAME(matrix) *m,
                                const lk_dtype dtype, int64_t p0, int64_t p1, int64_t tokenCount, const int PF,
                                int64_t pfTile, LK_NAME(prefetch) ahead, const int ROWWISE) {
    int64_t t = 0;
    for (; t + GEMM_TOKENS <= tokenCount; t += GEMM_TOKENS) {
        if (PF > 0 && t == pfTile)
            LK_NAME(row_tiles)(y, yStride, x, xStride, m, dtype, p0, p1, t, GEMM_ROWS, GEMM_TOKENS, PF, ahead, ROWWISE);
        else
            LK_NAME(row_tiles)(y, yStride, x, xStride, m, dtype, p0, p1, t, GEMM_ROWS, GEMM_TOKENS, 0, ahead, ROWWISE);
    }
    switch (tokenCount - t) {
#define LK_TAIL_CASE(k) \
    case k: \
        if (k < GEMM_TOKENS) { \
            if (PF > 0 && t == pfTile) \
                LK_NAME(row_tiles)(y, yStride, x, xStride, m, dtype, p0, p1, t, GEMM_ROWS, k, PF, ahead, ROWWISE); \
            else \
                LK_NAME(row_tiles)(y, yStride, x, xStride, m, dtype, p0, p1, t, GEMM_ROWS, k, 0, ahead, ROWWISE); \
        } \
        break;
        LK_TAIL_CASE(1)
        LK_TAIL_CASE(2)
        LK_TAIL_CASE(3)
        LK_TAIL_CASE(4)
        LK_TAIL_CASE(5)
        LK_TAIL_CASE(6)
        LK_TAIL_CASE(7)
#undef LK_TAIL_CASE
    default: break;
    }
}

LK_AI void LK_NAME(run)(float *y, int64_t yStride, const float *x, int64_t xStride, const LK_NAME(matrix) *m,
                        const lk_dtype dtype, int64_t tokenCount, int64_t rowBegin, int64_t rowEnd) {
    // Q8_0 (dequantized for an f32-compute linear, the exact mode) is walked without software prefetch: its
    // addresses are not a whole number of bytes per element. The int8 mode, the fast one, has its own walk.
    const int quantized = dtype == LK_DTYPE_Q8_0;
    const int64_t elementSize = dtype == LK_DTYPE_F32 ? 4 : dtype == LK_DTYPE_FP8_E4M3 || quantized ? 1 : 2;
    const int64_t rowBytes = lk_dtype_row_bytes(dtype, m->inSize);
    // Where the weights are streamed once (GEMV, or a single token tile), software prefetch runs two tiles ahead,
    // whatever the row length: short rows (expert down [2048x512] in bf16: 1 KiB) never train the hardware
    // prefetcher, and on an Intel Xeon with AVX512-FP16 rows of 4-10 KiB read 10-12 GB/s on one core without it
    // against 13-14 with it (kernel-bench --threads 1 --tokens 1 --dtype bf16, qkv / dense_down / lm_head).
    const int streamPrefetch = !quantized;
    const LK_NAME(prefetch) none = {NULL, 0, elementSize};
    if (tokenCount == 1) {  // GEMV: stream GEMV_ROWS rows at a time
        if (streamPrefetch) {  // two tiles ahead; stops two tiles before rowEnd, so no line past the range is fetched
            const LK_NAME(prefetch) ahead = {(const char *)m->w + (rowBegin + 2 * GEMV_ROWS) * rowBytes,
                                             rowEnd - rowBegin - 2 * GEMV_ROWS, elementSize};
            LK_NAME(row_tiles)(y, yStride, x, xStride, m, dtype, rowBegin, rowEnd, 0, GEMV_ROWS, 1, 3, ahead, 1);
        } else {
            LK_NAME(row_tiles)(y, yStride, x, xStride, m, dtype, rowBegin, rowEnd, 0, GEMV_ROWS, 1, 0, none, 1);
        }
        return;
    }
    // GEMM: a panel of rows that fits in L2 is read from memory once and then reused by every token tile; the
    // activations of one token tile stay in L1 while the panel's row tiles pass by.
    int64_t panelRows = PANEL_BYTES / rowBytes;
    panelRows -= panelRows % GEMM_ROWS;
    if (panelRows < GEMM_ROWS) panelRows = GEMM_ROWS;
    for (int64_t p0 = rowBegin; p0 < rowEnd; p0 += panelRows) {
        const int64_t p1 = p0 + panelRows < rowEnd ? p0 + panelRows : rowEnd;
        if (tokenCount <= GEMM_TOKENS) {
            // One token tile streams every row once: prefetch two row tiles ahead in the panel.
            const LK_NAME(prefetch) ahead = {(const char *)m->w + (p0 + 2 * GEMM_ROWS) * rowBytes,
                                             p1 - p0 - 2 * GEMM_ROWS, elementSize};
            if (streamPrefetch)
                LK_NAME(token_tiles)(y, yStride, x, xStride, m, dtype, p0, p1, tokenCount, 3, 0, ahead, 0);
            else
                LK_NAME(token_tiles)(y, yStride, x, xStride, m, dtype, p0, p1, tokenCount, 0, 0, none, 0);
        } else if (quantized) {
            LK_NAME(token_tiles)(y, yStride, x, xStride, m, dtype, p0, p1, tokenCount, 0, 0, none, 0);
        } else {
            // The first token tile reads the panel from memory, the others from L2; the second one also brings the
            // next panel into L2, so the next first pass does not wait on memory.
            const LK_NAME(prefetch) next = {(const char *)m->w + p1 * rowBytes,
                                            rowEnd - p1 < panelRows ? rowEnd - p1 : panelRows, elementSize};
            LK_NAME(token_tiles)(y, yStride, x, xStride, m, dtype, p0, p1, tokenCount, 2, GEMM_TOKENS, next, 0);
        }
    }
}

#ifdef LK_BF16_DOT
/// y = x w over bf16 weights with x staged as bf16 pairs by lk_bf16_stage (xStride in float slots).
LK_TARGET void LK_NAME(lk_linear_bf16_dot)(float *y, int64_t yStride, const float *x, int64_t xStride, const void *w,
                                           int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd) {
    LK_NAME(matrix) m = {w, NULL, 1, 1, 1, inSize};
    LK_NAME(run)(y, yStride, x, xStride, &m, LK_DTYPE_BF16, tokenCount, rowBegin, rowEnd);
}
#else
// One non-inlined instance per dtype keeps the dtype a constant inside the loops.
#define LK_DTYPE_INSTANCE(suffix, dt) \
    static LK_TARGET __attribute__((noinline)) void LK_NAME(run_##suffix)( \
        float *y, int64_t yStride, const float *x, int64_t xStride, const LK_NAME(matrix) *m, int64_t tokenCount, \
        int64_t rowBegin, int64_t rowEnd) { \
        LK_NAME(run)(y, yStride, x, xStride, m, dt, tokenCount, rowBegin, rowEnd); \
    }
LK_DTYPE_INSTANCE(f32, LK_DTYPE_F32)
LK_DTYPE_INSTANCE(bf16, LK_DTYPE_BF16)
LK_DTYPE_INSTANCE(f16, LK_DTYPE_F16)
LK_DTYPE_INSTANCE(fp8, LK_DTYPE_FP8_E4M3)
LK_DTYPE_INSTANCE(q8, LK_DTYPE_Q8_0)
#undef LK_DTYPE_INSTANCE

int LK_NAME(lk_linear)(float *y, int64_t yStride, const float *x, int64_t xStride, const void *w, lk_dtype dtype,
                       const lk_fp8_scales *fp8, int64_t tokenCount, int64_t inSize, int64_t rowBegin,
                       int64_t rowEnd) {
    LK_NAME(matrix) m = {w, NULL, 1, 1, 1, inSize};
    switch (dtype) {
    case LK_DTYPE_F32: LK_NAME(run_f32)(y, yStride, x, xStride, &m, tokenCount, rowBegin, rowEnd); return 1;
    case LK_DTYPE_BF16: LK_NAME(run_bf16)(y, yStride, x, xStride, &m, tokenCount, rowBegin, rowEnd); return 1;
    case LK_DTYPE_F16: LK_NAME(run_f16)(y, yStride, x, xStride, &m, tokenCount, rowBegin, rowEnd); return 1;
    case LK_DTYPE_Q8_0:
        if (inSize % LK_Q8_BLOCK != 0) return 0;
        LK_NAME(run_q8)(y, yStride, x, xStride, &m, tokenCount, rowBegin, rowEnd);
        return 1;
    case LK_DTYPE_FP8_E4M3:
        // The SIMD walk needs each vector inside one scale block; other block shapes take the portable path
        // (a property of the matrix, never of the call, so batch invariance holds).
        if (!fp8 || fp8->blockRows <= 0 || fp8->blockCols <= 0 || fp8->blockCols % LANES != 0) return 0;
        m.scaleInv = fp8->scaleInv;
        m.blockRows = fp8->blockRows;
        m.blockCols = fp8->blockCols;
        m.scaleCols = (inSize + fp8->blockCols - 1) / fp8->blockCols;
        LK_NAME(run_fp8)(y, yStride, x, xStride, &m, tokenCount, rowBegin, rowEnd);
        return 1;
    }
    return 0;
}
#endif

#undef LK_AI
#undef MAX_ROWS
