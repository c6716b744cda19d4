// Declarations shared by the portable file and the SIMD files. Not part of the public API.
#ifndef LINGKERNELS_INTERNAL_H
#define LINGKERNELS_INTERNAL_H

#include "include/lingkernels.h"

#include <string.h>

// ---- exact scalar conversions (the SIMD paths produce the same values) ----------------------------------------

static inline float lk_scalar_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t lk_scalar_f32_to_bf16(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if ((bits & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((bits >> 16) | 0x40);  // quiet NaN
    uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
    return (uint16_t)((bits + rounding) >> 16);
}

static inline float lk_scalar_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1fu;
    uint32_t mantissa = h & 0x3ffu;
    uint32_t bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            int e = -1;
            do { e++; mantissa <<= 1; } while ((mantissa & 0x400u) == 0);
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mantissa & 0x3ffu) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7f800000u | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

// E4M3 "fn" variant (as torch.float8_e4m3fn): bias 7, no infinities, 0x7f/0xff are NaN, max 448.
static inline float lk_scalar_fp8_e4m3_to_f32(uint8_t v) {
    uint32_t sign = (uint32_t)(v & 0x80u) << 24;
    uint32_t exponent = (v >> 3) & 0xfu;
    uint32_t mantissa = v & 0x7u;
    uint32_t bits;
    if ((v & 0x7fu) == 0x7fu) {
        bits = sign | 0x7fc00000u;
    } else if (exponent == 0) {
        float f = (float)mantissa * (1.0f / 512.0f);  // 2^-6 * m/8
        return sign ? -f : f;
    } else {
        bits = sign | ((exponent + 127 - 7) << 23) | (mantissa << 20);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

#define LK_Q8_BLOCK 32        // elements per Q8_0 block
#define LK_Q8_BLOCK_BYTES 34  // f16 scale + 32 int8

/// Element `index` of a Q8_0 matrix whose rows are whole blocks (so block index / 32 holds it): d * q, exact.
static inline float lk_scalar_q8_0(const void *w, int64_t index) {
    const uint8_t *block = (const uint8_t *)w + (index / LK_Q8_BLOCK) * LK_Q8_BLOCK_BYTES;
    uint16_t d;
    memcpy(&d, block, 2);
    return lk_scalar_f16_to_f32(d) * (float)(int8_t)block[2 + index % LK_Q8_BLOCK];
}

/// Element `index` of a weight matrix as f32 (FP8 without its block scale).
static inline float lk_scalar_weight(const void *w, lk_dtype dtype, int64_t index) {
    switch (dtype) {
    case LK_DTYPE_Q8_0: return lk_scalar_q8_0(w, index);
    case LK_DTYPE_F32: return ((const float *)w)[index];
    case LK_DTYPE_BF16: return lk_scalar_bf16_to_f32(((const uint16_t *)w)[index]);
    case LK_DTYPE_F16: return lk_scalar_f16_to_f32(((const uint16_t *)w)[index]);
    case LK_DTYPE_FP8_E4M3: return lk_scalar_fp8_e4m3_to_f32(((const uint8_t *)w)[index]);
    }
    return 0;
}

// ---- e^x for lk_exp_shifted_f32: every ISA runs exactly these operations per element ---------------------------

#define LK_EXP_MIN (-87.0f)                // below: 0 (under the smallest normal float)
#define LK_EXP_MAX 88.0f                   // above: clamped (e^88 is finite)
#define LK_EXP_LOG2E 1.44269504088896341f
#define LK_EXP_LN2_HI 0.693359375f         // ln 2 = LN2_HI - LN2_LO, LN2_HI exact in 9 bits (Cephes)
#define LK_EXP_LN2_LO 2.12194440e-4f
#define LK_EXP_P0 1.9875691500e-4f         // e^r = 1 + r + r^2 (P5 + P4 r + ... + P0 r^5), |r| <= ln2 / 2
#define LK_EXP_P1 1.3981999507e-3f
#define LK_EXP_P2 8.3334519073e-3f
#define LK_EXP_P3 4.1665795894e-2f
#define LK_EXP_P4 1.6666665459e-1f
#define LK_EXP_P5 5.0000001201e-1f

static inline float lk_scalar_exp(float x) {
    if (x != x) return x;
    if (!(x >= LK_EXP_MIN)) return 0.0f;
    if (x > LK_EXP_MAX) x = LK_EXP_MAX;
    const float n = __builtin_nearbyintf(x * LK_EXP_LOG2E);
    float r = __builtin_fmaf(n, -LK_EXP_LN2_HI, x);
    r = __builtin_fmaf(n, LK_EXP_LN2_LO, r);
    float p = LK_EXP_P0;
    p = __builtin_fmaf(p, r, LK_EXP_P1);
    p = __builtin_fmaf(p, r, LK_EXP_P2);
    p = __builtin_fmaf(p, r, LK_EXP_P3);
    p = __builtin_fmaf(p, r, LK_EXP_P4);
    p = __builtin_fmaf(p, r, LK_EXP_P5);
    const float r2 = r * r;
    float y = __builtin_fmaf(p, r2, r);
    y = y + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return y * scale;
}

void lk_exp_shifted_f32_avx2(float *v, int64_t n, float shift);
void lk_exp_shifted_f32_avx512(float *v, int64_t n, float shift);

/// The portable dot product (the reduction lk_linear's portable path is built on).
float lk_dot_f32_portable(const float *a, const float *b, int64_t n);

// ---- SIMD entry points (avx2.c, avx512.c). Callers check lk_active_isa() first. ------------------------------

float lk_dot_f32_avx2(const float *a, const float *b, int64_t n);
float lk_dot_f32_avx512(const float *a, const float *b, int64_t n);
void lk_axpy_f32_avx2(float *y, float a, const float *x, int64_t n);
void lk_axpy_f32_avx512(float *y, float a, const float *x, int64_t n);
void lk_f32_to_bf16_avx2(uint16_t *dst, const float *src, int64_t n);
void lk_f32_to_bf16_avx512(uint16_t *dst, const float *src, int64_t n);
void lk_bf16_to_f32_avx2(float *dst, const uint16_t *src, int64_t n);
void lk_bf16_to_f32_avx512(float *dst, const uint16_t *src, int64_t n);
void lk_f16_to_f32_avx2(float *dst, const uint16_t *src, int64_t n);
void lk_f16_to_f32_avx512(float *dst, const uint16_t *src, int64_t n);
/// Reads `byteCount` bytes (a multiple of 64, 64-byte aligned) and returns a value that depends on all of them.
uint64_t lk_read_sum_avx2(const void *data, size_t byteCount);
uint64_t lk_read_sum_avx512(const void *data, size_t byteCount);

// Attention instances (attention_impl.h) per ISA; attention.c holds the portable one and the dispatch.
void lk_attention_avx2(const lk_attention_rows *rows, const lk_kv_head *kv, float *scratch);
void lk_attention_avx512(const lk_attention_rows *rows, const lk_kv_head *kv, float *scratch);
void lk_attention_span_avx2(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t span, float *partial,
                            float *spanMax, float *spanSum, float *scratch);
void lk_attention_span_avx512(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t span, float *partial,
                              float *spanMax, float *spanSum, float *scratch);
void lk_attention_merge_avx2(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t spanCount, const float *partials,
                             const float *spanMax, const float *spanSum);
void lk_attention_merge_avx512(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t spanCount,
                               const float *partials, const float *spanMax, const float *spanSum);

// int8-compute linears over Q8_0 weights (portable.c, avx2.c, avx512.c); the SIMD ones return 0 when the CPU lacks
// what they need. Staging has one scalar definition (the SIMD stagers produce its bits).
void lk_q8_stage_portable(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize);
void lk_q8_stage_avx512(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize);
void lk_q8_stage_avx2(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize);
void lk_linear_q8_int8_portable(float *y, int64_t yStride, const float *staged, int64_t stagedStride, const void *w,
                                int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd);
void lk_linear_q8_int8_avx512vnni(float *y, int64_t yStride, const float *staged, int64_t stagedStride, const void *w,
                                  int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd);
void lk_linear_q8_int8_avx2(float *y, int64_t yStride, const float *staged, int64_t stagedStride, const void *w,
                            int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd);
/// Bytes of the staged layout per pair of blocks: 64 int8, 16 f32 scales, 16 int32 corrections.
#define LK_Q8_PAIR_BYTES 192

// AMX (amx.c): bf16 x bf16 linears on tiles, with their own staging layout.
int lk_amx_usable(void);
void lk_bf16_stage_amx(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize);
void lk_linear_bf16_amx(float *y, int64_t yStride, const float *staged, const void *weights, int64_t tokenCount,
                        int64_t inSize, int64_t rowBegin, int64_t rowEnd);

#endif
