// AVX-512 (F, BW, VL) kernels. Compiled for every x86-64 target with per-function target attributes; called only
// after lk_active_isa() has confirmed the CPU supports them. Activations stay f32, except in the second instance of
// the linear kernel at the end of the file: bf16-compute linears (activations rounded to bf16 by the caller's
// choice) over bf16 weights, with AVX512-BF16's VDPBF16PS, used only when the CPU has it.
#if defined(__x86_64__)
#include "kernels_internal.h"

#include <immintrin.h>

#define LK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
#define LK_NAME(name) name##_avx512
#define VEC __m512
#define LANES 16
#define GEMV_ROWS 8
#define GEMM_ROWS 4
#define GEMM_TOKENS 6
#ifndef PANEL_BYTES
#define PANEL_BYTES (256 * 1024)  // two panels (this one and the next, prefetched) in half of a 1 MiB L2
#endif

#define V_ZERO() _mm512_setzero_ps()
#define V_LOADU(p) _mm512_loadu_ps(p)
#define V_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define V_MUL(a, b) _mm512_mul_ps(a, b)
#define V_SET1(f) _mm512_set1_ps(f)
#define V_HSUM(v) lk_hsum_avx512(v)
#define W_BF16(p) lk_bf16x16_avx512(p)
#define W_F16(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p)))
#define W_FP8(p) lk_fp8x16_avx512(p)
#define W_Q8(block, k) lk_q8x16_avx512(block, k)

// Fixed tree: 16 -> 8 (l + l+8) -> 4 -> 2 -> 1.
static inline __attribute__((always_inline)) LK_TARGET float lk_hsum_avx512(__m512 v) {
    __m256 o = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(o), _mm256_extractf128_ps(o, 1));
    __m128 h = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static inline __attribute__((always_inline)) LK_TARGET __m512 lk_bf16x16_avx512(const uint16_t *p) {
    __m512i wide = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
    return _mm512_castsi512_ps(_mm512_slli_epi32(wide, 16));
}

// See lk_fp8x8_avx2: exact bit manipulation, NaN for 0x7f/0xff.
static inline __attribute__((always_inline)) LK_TARGET __m512 lk_fp8x16_avx512(const uint8_t *p) {
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p));
    __m512i magnitude = _mm512_and_si512(v, _mm512_set1_epi32(0x7f));
    __m512i sign = _mm512_slli_epi32(_mm512_and_si512(v, _mm512_set1_epi32(0x80)), 24);
    __m512 value = _mm512_mul_ps(_mm512_castsi512_ps(_mm512_slli_epi32(magnitude, 20)), _mm512_set1_ps(0x1p120f));
    __m512i bits = _mm512_or_si512(_mm512_castps_si512(value), sign);
    __m512i nan = _mm512_or_si512(sign, _mm512_set1_epi32(0x7fc00000));
    __mmask16 isNaN = _mm512_cmpeq_epi32_mask(magnitude, _mm512_set1_epi32(0x7f));
    return _mm512_castsi512_ps(_mm512_mask_mov_epi32(bits, isNaN, nan));
}

// Elements [k, k + 16) of a Q8_0 block, d * q (exact in f32).
static inline __attribute__((always_inline)) LK_TARGET __m512 lk_q8x16_avx512(const uint8_t *block, int64_t k) {
    uint16_t d;
    memcpy(&d, block, 2);
    const __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(block + 2 + k))));
    return _mm512_mul_ps(q, _mm512_set1_ps(lk_scalar_f16_to_f32(d)));
}

#include "linear_impl.h"

// ---- vector helpers ----------------------------------------------------------------------------------------

// Four 16-lane accumulators over 64-element steps, combined (a0+a1)+(a2+a3), 16-lane steps, the fixed tree,
// then the tail in order. Deterministic for a given n.
LK_TARGET float lk_dot_f32_avx512(const float *a, const float *b, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), a3);
    }
    __m512 acc = _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3));
    for (; i + 16 <= n; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
    float sum = lk_hsum_avx512(acc);
    for (; i < n; i++) sum = __builtin_fmaf(a[i], b[i], sum);
    return sum;
}

// lk_scalar_exp's operations, 16 lanes at a time; the tail runs lk_scalar_exp itself.
LK_TARGET void lk_exp_shifted_f32_avx512(float *v, int64_t n, float shift) {
    const __m512 s = _mm512_set1_ps(shift), lo = _mm512_set1_ps(LK_EXP_MIN), hi = _mm512_set1_ps(LK_EXP_MAX);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_sub_ps(_mm512_loadu_ps(v + i), s);
        const __mmask16 kept = _mm512_cmp_ps_mask(x, lo, _CMP_GE_OQ);  // false for NaN and under LK_EXP_MIN
        const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
        const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, lo), hi);
        const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(LK_EXP_LOG2E)),
                                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        __m512 r = _mm512_fmadd_ps(k, _mm512_set1_ps(-LK_EXP_LN2_HI), xc);
        r = _mm512_fmadd_ps(k, _mm512_set1_ps(LK_EXP_LN2_LO), r);
        __m512 p = _mm512_set1_ps(LK_EXP_P0);
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LK_EXP_P1));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LK_EXP_P2));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LK_EXP_P3));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LK_EXP_P4));
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LK_EXP_P5));
        __m512 y = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r);
        y = _mm512_add_ps(y, _mm512_set1_ps(1.0f));
        const __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(k), _mm512_set1_epi32(127)), 23);
        __m512 e = _mm512_maskz_mov_ps(kept, _mm512_mul_ps(y, _mm512_castsi512_ps(bits)));
        e = _mm512_mask_mov_ps(e, nan, x);
        _mm512_storeu_ps(v + i, e);
    }
    for (; i < n; i++) v[i] = lk_scalar_exp(v[i] - shift);
}

LK_TARGET void lk_axpy_f32_avx512(float *y, float a, const float *x, int64_t n) {
    __m512 av = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
        _mm512_storeu_ps(y + i + 16, _mm512_fmadd_ps(av, _mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16)));
    }
    for (; i < n; i++) y[i] = __builtin_fmaf(a, x[i], y[i]);
}

LK_TARGET void lk_bf16_to_f32_avx512(float *dst, const uint16_t *src, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, lk_bf16x16_avx512(src + i));
    for (; i < n; i++) dst[i] = lk_scalar_bf16_to_f32(src[i]);
}

LK_TARGET void lk_f16_to_f32_avx512(float *dst, const uint16_t *src, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(dst + i, W_F16(src + i));
    for (; i < n; i++) dst[i] = lk_scalar_f16_to_f32(src[i]);
}

// Round to nearest even, NaN quieted: the same bits as lk_scalar_f32_to_bf16 (vcvtneps2bf16 would flush
// subnormals, so it is not used).
LK_TARGET void lk_f32_to_bf16_avx512(uint16_t *dst, const float *src, int64_t n) {
    const __m512i one = _mm512_set1_epi32(1), bias = _mm512_set1_epi32(0x7fff);
    const __m512i absMask = _mm512_set1_epi32(0x7fffffff), inf = _mm512_set1_epi32(0x7f800000);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i bits = _mm512_castps_si512(_mm512_loadu_ps(src + i));
        __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), one);
        __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(bias, lsb)), 16);
        __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
        __mmask16 isNaN = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, absMask), inf);
        _mm256_storeu_si256((__m256i *)(dst + i), _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, isNaN, quiet)));
    }
    for (; i < n; i++) dst[i] = lk_scalar_f32_to_bf16(src[i]);
}

LK_TARGET uint64_t lk_read_sum_avx512(const void *data, size_t byteCount) {
    const __m512i *p = (const __m512i *)data;
    __m512i s0 = _mm512_setzero_si512(), s1 = s0, s2 = s0, s3 = s0;
    size_t count = byteCount / 64;
    size_t k = 0;
    for (; k + 4 <= count; k += 4) {
        s0 = _mm512_xor_si512(s0, _mm512_load_si512(p + k));
        s1 = _mm512_xor_si512(s1, _mm512_load_si512(p + k + 1));
        s2 = _mm512_xor_si512(s2, _mm512_load_si512(p + k + 2));
        s3 = _mm512_xor_si512(s3, _mm512_load_si512(p + k + 3));
    }
    for (; k < count; k++) s0 = _mm512_xor_si512(s0, _mm512_load_si512(p + k));
    __m512i s = _mm512_xor_si512(_mm512_xor_si512(s0, s1), _mm512_xor_si512(s2, s3));
    uint64_t lanes[8];
    _mm512_storeu_si512(lanes, s);
    return lanes[0] ^ lanes[1] ^ lanes[2] ^ lanes[3] ^ lanes[4] ^ lanes[5] ^ lanes[6] ^ lanes[7];
}

// ---- attention over the paged KV cache -------------------------------------------------------------------------

#define V_STOREU(p, v) _mm512_storeu_ps(p, v)
#define ATT_DOT lk_dot_f32_avx512
#define ATT_EXP lk_exp_shifted_f32_avx512
#define ATT_BF16_TO_F32 lk_bf16_to_f32_avx512
#include "attention_impl.h"

// ---- bf16 x bf16 linear (AVX512-BF16) ---------------------------------------------------------------------------
// The same walk (tiles, panels, prefetch) as above, with the dot-product tile; its functions are named *_avx512bf16.

#undef LK_TARGET
#undef LK_NAME
#define LK_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")))
#define LK_NAME(name) name##_avx512bf16
#define LK_BF16_DOT 1
#include "linear_impl.h"
#undef LK_BF16_DOT

#endif
