// Attention over the paged KV cache, written once and included by each ISA file (avx2.c, avx512.c, and attention.c
// for the portable instance) after it defines:
//   LK_TARGET, LK_NAME(name)        as for linear_impl.h
//   VEC, LANES                      vector of LANES f32 lanes (portable: float, 1)
//   V_LOADU(p) V_STOREU(p, v) V_FMA(a, b, c) V_MUL(a, b) V_SET1(f)
//   ATT_DOT(a, b, n)                the ISA's lk_dot_f32 (the only ISA-dependent reduction)
//   ATT_EXP(v, n, shift)            the ISA's lk_exp_shifted_f32 (same bits on every ISA)
//   ATT_BF16_TO_F32(dst, src, n)    exact widening
//
// The per-row arithmetic is spelled out in lingkernels.h. Every loop below runs the same operations for a row
// whatever tile it is in: the value accumulation is element-wise (one fused multiply-add per position, in
// position order, for every element, vector or scalar), so register blocking over the head dimension does not
// change bits; maxima are exact; the sums run in position order.

#define ATT_AI static inline __attribute__((always_inline)) LK_TARGET

// o[d] = o[d] * c
ATT_AI void LK_NAME(att_scale)(float *o, float c, int64_t n) {
    const VEC cv = V_SET1(c);
    int64_t d = 0;
    for (; d + LANES <= n; d += LANES) V_STOREU(o + d, V_MUL(V_LOADU(o + d), cv));
    for (; d < n; d++) o[d] = o[d] * c;
}

// o[d] = fma(p[j], v[j, d], o[d]) for j = 0..<count in order, four vectors of o held in registers at a time.
ATT_AI void LK_NAME(att_accumulate)(float *o, const float *p, const float *v, int64_t count, int64_t n) {
    int64_t d = 0;
    for (; d + 4 * LANES <= n; d += 4 * LANES) {
        VEC a0 = V_LOADU(o + d), a1 = V_LOADU(o + d + LANES), a2 = V_LOADU(o + d + 2 * LANES),
            a3 = V_LOADU(o + d + 3 * LANES);
        for (int64_t j = 0; j < count; j++) {
            const VEC pj = V_SET1(p[j]);
            const float *vj = v + j * n + d;
            a0 = V_FMA(pj, V_LOADU(vj), a0);
            a1 = V_FMA(pj, V_LOADU(vj + LANES), a1);
            a2 = V_FMA(pj, V_LOADU(vj + 2 * LANES), a2);
            a3 = V_FMA(pj, V_LOADU(vj + 3 * LANES), a3);
        }
        V_STOREU(o + d, a0);
        V_STOREU(o + d + LANES, a1);
        V_STOREU(o + d + 2 * LANES, a2);
        V_STOREU(o + d + 3 * LANES, a3);
    }
    for (; d + LANES <= n; d += LANES) {
        VEC a = V_LOADU(o + d);
        for (int64_t j = 0; j < count; j++) a = V_FMA(V_SET1(p[j]), V_LOADU(v + j * n + d), a);
        V_STOREU(o + d, a);
    }
    for (; d < n; d++) {
        float a = o[d];
        for (int64_t j = 0; j < count; j++) a = __builtin_fmaf(p[j], v[j * n + d], a);
        o[d] = a;
    }
}

// (M, L, O) merged with a later span's (m, l, o).
ATT_AI void LK_NAME(att_merge_row)(float *O, float *M, float *L, const float *o, float m, float l, int64_t n) {
    const float merged = m > *M ? m : *M;
    const float a = lk_scalar_exp(*M - merged), b = lk_scalar_exp(m - merged);
    *L = __builtin_fmaf(l, b, *L * a);
    *M = merged;
    const VEC av = V_SET1(a), bv = V_SET1(b);
    int64_t d = 0;
    for (; d + LANES <= n; d += LANES) V_STOREU(O + d, V_FMA(V_LOADU(o + d), bv, V_MUL(V_LOADU(O + d), av)));
    for (; d < n; d++) O[d] = __builtin_fmaf(o[d], b, O[d] * a);
}

// One span for every row of the tile that sees a position of it: fresh (m, l, o) per such row. o rows at
// o + i * oTokenStride + h * headSize, m and l at row i * groupSize + h. scratch: two [blockSize, headSize]
// widened blocks and [blockSize] scores.
static LK_TARGET void LK_NAME(att_span)(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t span, float *o,
                                        int64_t oTokenStride, float *m, float *l, float *scratch) {
    const int64_t bs = kv->blockSize, hs = kv->headSize, groupSize = rows->groupSize;
    const int64_t spanStart = span * LK_ATTENTION_SPAN_BLOCKS * bs;
    int64_t longest = 0;
    for (int64_t i = 0; i < rows->tokenCount; i++)
        if (rows->lengths[i] > longest) longest = rows->lengths[i];
    if (longest <= spanStart) return;
    const int64_t blockBegin = span * LK_ATTENTION_SPAN_BLOCKS;
    int64_t blockEnd = (longest + bs - 1) / bs;
    if (blockEnd > blockBegin + LK_ATTENTION_SPAN_BLOCKS) blockEnd = blockBegin + LK_ATTENTION_SPAN_BLOCKS;

    for (int64_t i = 0; i < rows->tokenCount; i++) {
        if (rows->lengths[i] <= spanStart) continue;
        for (int64_t h = 0; h < groupSize; h++) {
            m[i * groupSize + h] = -__builtin_inff();
            l[i * groupSize + h] = 0;
            memset(o + i * oTokenStride + h * hs, 0, (size_t)hs * sizeof(float));
        }
    }
    float *keyRows = scratch, *valueRows = scratch + bs * hs, *p = scratch + 2 * bs * hs;
    const int64_t elementBytes = kv->dtype == LK_DTYPE_BF16 ? 2 : 4;
    for (int64_t b = blockBegin; b < blockEnd; b++) {
        const int64_t blockStart = b * bs;
        const int64_t physical = kv->blockTable[b];
        const char *keyBlock = (const char *)kv->keys + physical * kv->blockStride * elementBytes;
        const char *valueBlock = (const char *)kv->values + physical * kv->blockStride * elementBytes;
        const int64_t used = longest - blockStart < bs ? longest - blockStart : bs;
        if (b + 1 < blockEnd) {
            // The next block is 2 x 8 KiB (f32, 16 x 128) at a block-table jump the hardware prefetcher cannot
            // follow: fetch it into L2 while this one is computed. Decode at depth 3k, mini4-bf16, Zen 4: attention
            // 4.4-5.3 -> 3.5-3.6 ms a step (it waited on these misses). Prefetches never change the arithmetic.
            const int64_t next = kv->blockTable[b + 1];
            const char *nextKeys = (const char *)kv->keys + next * kv->blockStride * elementBytes;
            const char *nextValues = (const char *)kv->values + next * kv->blockStride * elementBytes;
            const int64_t bytes = bs * hs * elementBytes;
            for (int64_t at = 0; at < bytes; at += 64) {
                __builtin_prefetch(nextKeys + at, 0, 2);
                __builtin_prefetch(nextValues + at, 0, 2);
            }
        }
        const float *k, *v;
        if (kv->dtype == LK_DTYPE_BF16) {  // widened once for the whole tile
            ATT_BF16_TO_F32(keyRows, (const uint16_t *)keyBlock, used * hs);
            ATT_BF16_TO_F32(valueRows, (const uint16_t *)valueBlock, used * hs);
            k = keyRows;
            v = valueRows;
        } else {
            k = (const float *)keyBlock;
            v = (const float *)valueBlock;
        }
        for (int64_t i = 0; i < rows->tokenCount; i++) {
            const int64_t visible = rows->lengths[i] - blockStart < bs ? rows->lengths[i] - blockStart : bs;
            if (visible <= 0) continue;
            for (int64_t h = 0; h < groupSize; h++) {
                const int64_t r = i * groupSize + h;
                const float *q = rows->queries + i * rows->queryTokenStride + h * hs;
                float *orow = o + i * oTokenStride + h * hs;
                float blockMax = -__builtin_inff();
                for (int64_t j = 0; j < visible; j++) {
                    p[j] = ATT_DOT(q, k + j * hs, hs) * rows->scale;
                    if (p[j] > blockMax) blockMax = p[j];
                }
                if (blockMax > m[r]) {
                    const float c = lk_scalar_exp(m[r] - blockMax);
                    l[r] = l[r] * c;
                    LK_NAME(att_scale)(orow, c, hs);
                    m[r] = blockMax;
                }
                ATT_EXP(p, visible, m[r]);
                float sum = l[r];
                for (int64_t j = 0; j < visible; j++) sum = sum + p[j];
                l[r] = sum;
                LK_NAME(att_accumulate)(orow, p, v, visible, hs);
            }
        }
    }
}

ATT_AI void LK_NAME(att_normalize)(float *O, float L, int64_t n) { LK_NAME(att_scale)(O, 1.0f / L, n); }

LK_TARGET void LK_NAME(lk_attention)(const lk_attention_rows *rows, const lk_kv_head *kv, float *scratch) {
    const int64_t rowCount = rows->tokenCount * rows->groupSize, hs = kv->headSize, groupSize = rows->groupSize;
    float *M = scratch, *L = M + rowCount, *m = L + rowCount, *l = m + rowCount;
    float *partial = l + rowCount;                     // [rowCount, headSize]
    float *blockScratch = partial + rowCount * hs;
    int64_t longest = 0;
    for (int64_t i = 0; i < rows->tokenCount; i++)
        if (rows->lengths[i] > longest) longest = rows->lengths[i];
    const int64_t spanCount = lk_attention_span_count(longest, kv->blockSize);
    // Span 0 straight into the output rows; the later ones into `partial`, merged in order.
    LK_NAME(att_span)(rows, kv, 0, rows->out, rows->outTokenStride, M, L, blockScratch);
    for (int64_t s = 1; s < spanCount; s++) {
        LK_NAME(att_span)(rows, kv, s, partial, groupSize * hs, m, l, blockScratch);
        const int64_t spanStart = s * LK_ATTENTION_SPAN_BLOCKS * kv->blockSize;
        for (int64_t i = 0; i < rows->tokenCount; i++) {
            if (rows->lengths[i] <= spanStart) continue;
            for (int64_t h = 0; h < groupSize; h++) {
                const int64_t r = i * groupSize + h;
                LK_NAME(att_merge_row)(rows->out + i * rows->outTokenStride + h * hs, M + r, L + r,
                                       partial + r * hs, m[r], l[r], hs);
            }
        }
    }
    for (int64_t i = 0; i < rows->tokenCount; i++)
        for (int64_t h = 0; h < groupSize; h++)
            LK_NAME(att_normalize)(rows->out + i * rows->outTokenStride + h * hs, L[i * groupSize + h], hs);
}

LK_TARGET void LK_NAME(lk_attention_span)(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t span,
                                          float *partial, float *spanMax, float *spanSum, float *scratch) {
    LK_NAME(att_span)(rows, kv, span, partial, rows->groupSize * kv->headSize, spanMax, spanSum, scratch);
}

LK_TARGET void LK_NAME(lk_attention_merge)(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t spanCount,
                                           const float *partials, const float *spanMax, const float *spanSum) {
    const int64_t groupSize = rows->groupSize, rowCount = rows->tokenCount * groupSize, hs = kv->headSize;
    for (int64_t i = 0; i < rows->tokenCount; i++) {
        int64_t rowSpans = lk_attention_span_count(rows->lengths[i], kv->blockSize);  // as lk_attention walks them
        if (rowSpans > spanCount) rowSpans = spanCount;
        for (int64_t h = 0; h < groupSize; h++) {
            const int64_t r = i * groupSize + h;
            float *O = rows->out + i * rows->outTokenStride + h * hs;
            memcpy(O, partials + r * hs, (size_t)hs * sizeof(float));
            float M = spanMax[r], L = spanSum[r];
            for (int64_t s = 1; s < rowSpans; s++)
                LK_NAME(att_merge_row)(O, &M, &L, partials + (s * rowCount + r) * hs, spanMax[s * rowCount + r],
                                       spanSum[s * rowCount + r], hs);
            LK_NAME(att_normalize)(O, L, hs);
        }
    }
}

#undef ATT_AI
