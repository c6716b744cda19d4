// Attention over the paged KV cache: the portable instance of attention_impl.h and the dispatch to the SIMD ones.
#include "kernels_internal.h"

#include <math.h>

#define LK_TARGET
#define LK_NAME(name) name##_portable
#define VEC float
#define LANES 1
#define V_LOADU(p) (*(p))
#define V_STOREU(p, v) (*(p) = (v))
#define V_FMA(a, b, c) __builtin_fmaf(a, b, c)
#define V_MUL(a, b) ((a) * (b))
#define V_SET1(f) (f)
#define ATT_DOT lk_dot_f32_portable

static inline void att_exp_portable(float *v, int64_t n, float shift) {
    for (int64_t i = 0; i < n; i++) v[i] = lk_scalar_exp(v[i] - shift);
}
static inline void att_bf16_to_f32_portable(float *dst, const uint16_t *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = lk_scalar_bf16_to_f32(src[i]);
}
#define ATT_EXP att_exp_portable
#define ATT_BF16_TO_F32 att_bf16_to_f32_portable

#include "attention_impl.h"

int64_t lk_attention_scratch_floats(int64_t rowCount, int64_t blockSize, int64_t headSize) {
    // M, L, m, l [rowCount]; partial [rowCount, headSize]; widened K and V blocks; one block of scores
    return 4 * rowCount + rowCount * headSize + 2 * blockSize * headSize + blockSize;
}

int64_t lk_attention_span_count(int64_t length, int64_t blockSize) {
    const int64_t span = LK_ATTENTION_SPAN_BLOCKS * blockSize;
    return (length + span - 1) / span;
}

void lk_attention(const lk_attention_rows *rows, const lk_kv_head *kv, float *scratch) {
    if (rows->tokenCount <= 0) return;
#if defined(__x86_64__)
    const lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return lk_attention_avx512(rows, kv, scratch);
    if (isa == LK_ISA_AVX2) return lk_attention_avx2(rows, kv, scratch);
#endif
    lk_attention_portable(rows, kv, scratch);
}

void lk_attention_span(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t span, float *partial,
                       float *spanMax, float *spanSum, float *scratch) {
    if (rows->tokenCount <= 0) return;
    // The span's block scratch sits where lk_attention keeps it, after the per-row arrays it does not use here.
    float *blockScratch = scratch + 4 * rows->tokenCount * rows->groupSize
        + rows->tokenCount * rows->groupSize * kv->headSize;
#if defined(__x86_64__)
    const lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return lk_attention_span_avx512(rows, kv, span, partial, spanMax, spanSum, blockScratch);
    if (isa == LK_ISA_AVX2) return lk_attention_span_avx2(rows, kv, span, partial, spanMax, spanSum, blockScratch);
#endif
    lk_attention_span_portable(rows, kv, span, partial, spanMax, spanSum, blockScratch);
}

void lk_attention_merge(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t spanCount,
                        const float *partials, const float *spanMax, const float *spanSum) {
    if (rows->tokenCount <= 0 || spanCount <= 0) return;
#if defined(__x86_64__)
    const lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return lk_attention_merge_avx512(rows, kv, spanCount, partials, spanMax, spanSum);
    if (isa == LK_ISA_AVX2) return lk_attention_merge_avx2(rows, kv, spanCount, partials, spanMax, spanSum);
#endif
    lk_attention_merge_portable(rows, kv, spanCount, partials, spanMax, spanSum);
}
