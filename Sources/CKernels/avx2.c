// AVX2 + FMA + F16C kernels. Compiled for every x86-64 target with per-function target attributes; called only
// after lk_active_isa() has confirmed the CPU supports them.
#if defined(__x86_64__)
#include "kernels_internal.h"

#include <immintrin.h>

#define LK_TARGET __attribute__((target("avx2,fma,f16c")))
#define LK_NAME(name) name##_avx2
#define VEC __m256
#define LANES 8
#define GEMV_ROWS 8
#define GEMM_ROWS 3
#define GEMM_TOKENS 4
#ifndef PANEL_BYTES
#define PANEL_BYTES (128 * 1024)  // two panels (this one and the next, prefetched) in half of a 512 KiB L2
#endif

#define V_ZERO() _mm256_setzero_ps()
#define V_LOADU(p) _mm256_loadu_ps(p)
#define V_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define V_MUL(a, b) _mm256_mul_ps(a, b)
#define V_SET1(f) _mm256_set1_ps(f)
#define V_HSUM(v) lk_hsum_avx2(v)
#define W_BF16(p) lk_bf16x8_avx2(p)
#define W_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))
#define W_FP8(p) lk_fp8x8_avx2(p)
#define W_Q8(block, k) lk_q8x8_avx2(block, k)

// Fixed tree: (l0+l4, l1+l5, l2+l6, l3+l7) -> (a+c, b+d) -> sum. Same tree as the portable reduce_lanes.
static inline __attribute__((always_inline)) LK_TARGET float lk_hsum_avx2(__m256 v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 h = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static inline __attribute__((always_inline)) LK_TARGET __m256 lk_bf16x8_avx2(const uint16_t *p) {
    __m256i wide = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(wide, 16));
}

// E4M3fn by bit manipulation: magnitude bits shifted into an f32 whose exponent is 120 too small (subnormal
// inputs land on f32 subnormals), times 2^120, exact; 0x7f/0xff become NaN like the scalar reference.
static inline __attribute__((always_inline)) LK_TARGET __m256 lk_fp8x8_avx2(const uint8_t *p) {
    __m256i v = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
    __m256i magnitude = _mm256_and_si256(v, _mm256_set1_epi32(0x7f));
    __m256i sign = _mm256_slli_epi32(_mm256_and_si256(v, _mm256_set1_epi32(0x80)), 24);
    __m256 value = _mm256_mul_ps(_mm256_castsi256_ps(_mm256_slli_epi32(magnitude, 20)), _mm256_set1_ps(0x1p120f));
    __m256i bits = _mm256_or_si256(_mm256_castps_si256(value), sign);
    __m256i nan = _mm256_or_si256(sign, _mm256_set1_epi32(0x7fc00000));
    __m256i isNaN = _mm256_cmpeq_epi32(magnitude, _mm256_set1_epi32(0x7f));
    return _mm256_castsi256_ps(_mm256_blendv_epi8(bits, nan, isNaN));
}

// Elements [k, k + 8) of a Q8_0 block, d * q (exact in f32).
static inline __attribute__((always_inline)) LK_TARGET __m256 lk_q8x8_avx2(const uint8_t *block, int64_t k) {
    uint16_t d;
    memcpy(&d, block, 2);
    const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(block + 2 + k))));
    return _mm256_mul_ps(q, _mm256_set1_ps(lk_scalar_f16_to_f32(d)));
}

#include "linear_impl.h"

// ---- vector helpers ----------------------------------------------------------------------------------------

// Four 8-lane accumulators over 32-element steps, combined (a0+a1)+(a2+a3), one 8-lane step, the fixed
// 8-lane tree, then the tail in order. Deterministic for a given n.
LK_TARGET float lk_dot_f32_avx2(const float *a, const float *b, int64_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), a3);
    }
    __m256 acc = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    for (; i + 8 <= n; i += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc);
    float sum = lk_hsum_avx2(acc);
    for (; i < n; i++) sum = __builtin_fmaf(a[i], b[i], sum);
    return sum;
}

// lk_scalar_exp's operations, 8 lanes at a time; the tail runs lk_scalar_exp itself.
LK_TARGET void lk_exp_shifted_f32_avx2(float *v, int64_t n, float shift) {
    const __m256 s = _mm256_set1_ps(shift), lo = _mm256_set1_ps(LK_EXP_MIN), hi = _mm256_set1_ps(LK_EXP_MAX);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(v + i), s);
        const __m256 kept = _mm256_cmp_ps(x, lo, _CMP_GE_OQ);  // false for NaN and under LK_EXP_MIN
        const __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
        const __m256 xc = _mm256_min_ps(_mm256_max_ps(x, lo), hi);
        const __m256 k = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(LK_EXP_LOG2E)),
                                         _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m256 r = _mm256_fmadd_ps(k, _mm256_set1_ps(-LK_EXP_LN2_HI), xc);
        r = _mm256_fmadd_ps(k, _mm256_set1_ps(LK_EXP_LN2_LO), r);
        __m256 p = _mm256_set1_ps(LK_EXP_P0);
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LK_EXP_P1));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LK_EXP_P2));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LK_EXP_P3));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LK_EXP_P4));
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LK_EXP_P5));
        __m256 y = _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r);
        y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
        const __m256i bits = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
        __m256 e = _mm256_and_ps(kept, _mm256_mul_ps(y, _mm256_castsi256_ps(bits)));
        e = _mm256_blendv_ps(e, x, nan);
        _mm256_storeu_ps(v + i, e);
    }
    for (; i < n; i++) v[i] = lk_scalar_exp(v[i] - shift);
}

LK_TARGET void lk_axpy_f32_avx2(float *y, float a, const float *x, int64_t n) {
    __m256 av = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(av, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i < n; i++) y[i] = __builtin_fmaf(a, x[i], y[i]);
}

LK_TARGET void lk_bf16_to_f32_avx2(float *dst, const uint16_t *src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, lk_bf16x8_avx2(src + i));
    for (; i < n; i++) dst[i] = lk_scalar_bf16_to_f32(src[i]);
}

LK_TARGET void lk_f16_to_f32_avx2(float *dst, const uint16_t *src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, W_F16(src + i));
    for (; i < n; i++) dst[i] = lk_scalar_f16_to_f32(src[i]);
}

// Round to nearest even, NaN quieted: the same bits as lk_scalar_f32_to_bf16.
LK_TARGET void lk_f32_to_bf16_avx2(uint16_t *dst, const float *src, int64_t n) {
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
    const __m256i absMask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i halves[2];
        for (int h = 0; h < 2; h++) {
            __m256i bits = _mm256_castps_si256(_mm256_loadu_ps(src + i + 8 * h));
            __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), one);
            __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(bits, _mm256_add_epi32(bias, lsb)), 16);
            __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(0x40));
            __m256i isNaN = _mm256_cmpgt_epi32(_mm256_and_si256(bits, absMask), inf);
            halves[h] = _mm256_blendv_epi8(rounded, quiet, isNaN);
        }
        // packus works per 128-bit lane: reorder the 64-bit quarters afterwards.
        __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(halves[0], halves[1]), 0xd8);
        _mm256_storeu_si256((__m256i *)(dst + i), packed);
    }
    for (; i < n; i++) dst[i] = lk_scalar_f32_to_bf16(src[i]);
}

LK_TARGET uint64_t lk_read_sum_avx2(const void *data, size_t byteCount) {
    const __m256i *p = (const __m256i *)data;
    __m256i s0 = _mm256_setzero_si256(), s1 = s0, s2 = s0, s3 = s0;
    size_t count = byteCount / 32;
    size_t k = 0;
    for (; k + 8 <= count; k += 8) {
        s0 = _mm256_xor_si256(s0, _mm256_load_si256(p + k));
        s1 = _mm256_xor_si256(s1, _mm256_load_si256(p + k + 1));
        s2 = _mm256_xor_si256(s2, _mm256_load_si256(p + k + 2));
        s3 = _mm256_xor_si256(s3, _mm256_load_si256(p + k + 3));
        s0 = _mm256_xor_si256(s0, _mm256_load_si256(p + k + 4));
        s1 = _mm256_xor_si256(s1, _mm256_load_si256(p + k + 5));
        s2 = _mm256_xor_si256(s2, _mm256_load_si256(p + k + 6));
        s3 = _mm256_xor_si256(s3, _mm256_load_si256(p + k + 7));
    }
    for (; k < count; k++) s0 = _mm256_xor_si256(s0, _mm256_load_si256(p + k));
    __m256i s = _mm256_xor_si256(_mm256_xor_si256(s0, s1), _mm256_xor_si256(s2, s3));
    return (uint64_t)_mm256_extract_epi64(s, 0) ^ (uint64_t)_mm256_extract_epi64(s, 1) ^
           (uint64_t)_mm256_extract_epi64(s, 2) ^ (uint64_t)_mm256_extract_epi64(s, 3);
}

// ---- attention over the paged KV cache -------------------------------------------------------------------------

#define V_STOREU(p, v) _mm256_storeu_ps(p, v)
#define ATT_DOT lk_dot_f32_avx2
#define ATT_EXP lk_exp_shifted_f32_avx2
#define ATT_BF16_TO_F32 lk_bf16_to_f32_avx2
#include "attention_impl.h"

#endif
