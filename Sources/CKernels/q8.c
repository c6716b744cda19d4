// int8-compute linears over Q8_0 weights (llama.cpp's q8_0 x q8_0 dot product, as a batch-invariant GEMV/GEMM):
// the activations are quantized per block of 32 by lk_q8_stage, each block's dot product is exact in int32, and
// the per-block scales are applied in f32. Compiled for every x86-64 target with per-function target attributes;
// called only after the dispatcher (portable.c) has checked the CPU.
//
// The staged activations of a token, per pair of blocks (LK_Q8_PAIR_BYTES = 192 bytes): [0, 64) the two blocks'
// int8 values, [64, 128) 16 f32 scales (lanes 0-7 the first block's, 8-15 the second's), [128, 192) 16 int32
// corrections (-128 * the sum of each four values). A block of 32 weights is 34 bytes in place (f16 d, 32 int8).
#if defined(__x86_64__)
#include "kernels_internal.h"

#include <immintrin.h>

typedef struct {
    const uint8_t *w;   // [rows, blocks] Q8_0 blocks
    int64_t rowBytes;   // blocks * 34
    int64_t blocks;     // inSize / 32
    const char *xs;     // staged activations
    int64_t xsStride;   // bytes from one token to the next
} q8_matrix;

// ---- AVX-512 VNNI ----------------------------------------------------------------------------------------------
// Two blocks per step in one zmm. VPDPBUSD multiplies unsigned by signed bytes, so the weights are flipped to
// w + 128 (xor 0x80) and the staged correction -128 * sum(x), the accumulator's starting value, takes the excess
// out: every lane ends with the exact sum of its four products w * x. Lane l of the f32 accumulator then gets
// fma(lane sum, d_w * d_x, acc) for the even blocks (l < 8) and the odd ones (l >= 8), in order; the 16-lane tree
// of lk_hsum (l + l+8 first) finishes.

#define Q8_TARGET __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")))
#define Q8_NAME(name) name##_avx512vnni
#define Q8_ROWS 4
#define Q8_TOKENS 4
#define Q8_PANEL_BYTES (256 * 1024)

static inline __attribute__((always_inline)) Q8_TARGET float q8_hsum_avx512(__m512 v) {
    __m256 o = _mm256_add_ps(_mm512_castps512_ps256(v), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(o), _mm256_extractf128_ps(o, 1));
    __m128 h = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

/// The weights of blocks (2p, 2p + 1) of a row as unsigned bytes w + 128 (two = 0: only block 2p, the rest 0x80,
/// met by zero activations), and their scales in the lanes that block's products land in. The scales come in as
/// two 16-bit broadcasts from memory (no trip through a general register).
static inline __attribute__((always_inline)) Q8_TARGET void q8_pair_avx512(const uint8_t *block, const int two,
                                                                            __m512i *q, __m512 *d) {
    const __m128i d0 = _mm_broadcastw_epi16(_mm_loadu_si16(block));
    const __m256i q0 = _mm256_loadu_si256((const __m256i *)(block + 2));
    __m512i v;
    __m256i halves;
    if (two) {
        v = _mm512_inserti64x4(_mm512_castsi256_si512(q0),
                               _mm256_loadu_si256((const __m256i *)(block + LK_Q8_BLOCK_BYTES + 2)), 1);
        halves = _mm256_inserti128_si256(_mm256_castsi128_si256(d0),
                                         _mm_broadcastw_epi16(_mm_loadu_si16(block + LK_Q8_BLOCK_BYTES)), 1);
    } else {
        v = _mm512_inserti64x4(_mm512_castsi256_si512(q0), _mm256_setzero_si256(), 1);
        halves = _mm256_inserti128_si256(_mm256_castsi128_si256(d0), _mm_setzero_si128(), 1);
    }
    *q = _mm512_xor_si512(v, _mm512_set1_epi8((char)0x80));
    *d = _mm512_cvtph_ps(halves);
}

/// One pair step of the tile: rows w + r * rowBytes (pair offset included), tokens' staged pairs at xs + j * xsStride.
static inline __attribute__((always_inline)) Q8_TARGET void q8_step_avx512(__m512 acc[Q8_ROWS][Q8_TOKENS],
                                                                            const uint8_t *w, int64_t rowBytes,
                                                                            const char *xs, int64_t xsStride,
                                                                            const int R, const int T, const int two) {
    __m512i wq[Q8_ROWS];
    __m512 wd[Q8_ROWS];
    for (int r = 0; r < R; r++) q8_pair_avx512(w + r * rowBytes, two, &wq[r], &wd[r]);
    for (int j = 0; j < T; j++) {
        const char *xp = xs + j * xsStride;
        const __m512i xq = _mm512_loadu_si512((const void *)xp);
        const __m512 xd = _mm512_loadu_ps((const float *)(xp + 64));
        const __m512i correction = _mm512_loadu_si512((const void *)(xp + 128));
        for (int r = 0; r < R; r++) {
            const __m512 sums = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(correction, wq[r], xq));
            acc[r][j] = _mm512_fmadd_ps(sums, _mm512_mul_ps(wd[r], xd), acc[r][j]);
        }
    }
}

// The pair loop is written twice, with and without the prefetch, and the last pair of an odd block count is its own
// step: no test in the loop, so the row pointers and accumulators stay in registers.
static inline __attribute__((always_inline)) Q8_TARGET void Q8_NAME(tile)(float *y, int64_t yStride, const q8_matrix *m,
                                                                           int64_t o, int64_t t, const int R,
                                                                           const int T, const uint8_t *pf) {
    __m512 acc[Q8_ROWS][Q8_TOKENS];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < T; j++) acc[r][j] = _mm512_setzero_ps();
    const int64_t rowBytes = m->rowBytes, xsStride = m->xsStride, fullPairs = m->blocks / 2;
    const uint8_t *w = m->w + o * rowBytes;
    const char *xs = m->xs + t * xsStride;
    if (pf) {
        for (int64_t p = 0; p < fullPairs; p++) {
            const int64_t offset = p * 2 * LK_Q8_BLOCK_BYTES;
            for (int r = 0; r < R; r++) _mm_prefetch((const char *)(pf + r * rowBytes + offset), _MM_HINT_T0);
            q8_step_avx512(acc, w + offset, rowBytes, xs + p * LK_Q8_PAIR_BYTES, xsStride, R, T, 1);
        }
    } else {
        for (int64_t p = 0; p < fullPairs; p++)
            q8_step_avx512(acc, w + p * 2 * LK_Q8_BLOCK_BYTES, rowBytes, xs + p * LK_Q8_PAIR_BYTES, xsStride, R, T, 1);
    }
    if (m->blocks % 2)
        q8_step_avx512(acc, w + fullPairs * 2 * LK_Q8_BLOCK_BYTES, rowBytes, xs + fullPairs * LK_Q8_PAIR_BYTES,
                       xsStride, R, T, 0);
    for (int r = 0; r < R; r++)
        for (int j = 0; j < T; j++) y[(t + j) * yStride + o + r] = q8_hsum_avx512(acc[r][j]);
}

#include "q8_walk.h"  // (undefines the instance macros)

// ---- AVX2 --------------------------------------------------------------------------------------------------------
// One block per step. Without VNNI the products come from VPMADDUBSW, unsigned by signed bytes into saturating
// int16 pairs, so the signs move onto the weights (|x| * sign(w, x), at most 2 * 127 * 127 per pair: no saturation)
// and VPMADDWD by ones adds the pairs into the same four-product lane sums. (A weight byte of -128, which ggml's
// quantizers never write, would wrap in that sign flip.) Lane l gets fma(lane sum, d_w * d_x, acc), blocks in
// order, then the 8-lane tree: the arithmetic lk_linear_q8_int8_portable spells out.

#define Q8_TARGET __attribute__((target("avx2,fma,f16c")))
#define Q8_NAME(name) name##_avx2
#define Q8_ROWS 2
#define Q8_TOKENS 3
#define Q8_PANEL_BYTES (128 * 1024)

static inline __attribute__((always_inline)) Q8_TARGET float q8_hsum_avx2(__m256 v) {
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 h = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_movehdup_ps(h)));
}

static inline __attribute__((always_inline)) Q8_TARGET void Q8_NAME(tile)(float *y, int64_t yStride, const q8_matrix *m,
                                                                           int64_t o, int64_t t, const int R,
                                                                           const int T, const uint8_t *pf) {
    __m256 acc[Q8_ROWS][Q8_TOKENS];
    for (int r = 0; r < R; r++)
        for (int j = 0; j < T; j++) acc[r][j] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < m->blocks; b++) {
        const int64_t offset = b * LK_Q8_BLOCK_BYTES;
        if (pf)
            for (int r = 0; r < R; r++) _mm_prefetch((const char *)(pf + r * m->rowBytes + offset), _MM_HINT_T0);
        __m256i wq[Q8_ROWS];
        __m256 wd[Q8_ROWS];
        for (int r = 0; r < R; r++) {
            const uint8_t *block = m->w + (o + r) * m->rowBytes + offset;
            uint16_t d;
            memcpy(&d, block, 2);
            wq[r] = _mm256_loadu_si256((const __m256i *)(block + 2));
            wd[r] = _mm256_set1_ps(lk_scalar_f16_to_f32(d));
        }
        const int64_t inPair = (b % 2) * 32;
        for (int j = 0; j < T; j++) {
            const char *xp = m->xs + (t + j) * m->xsStride + (b / 2) * LK_Q8_PAIR_BYTES;
            const __m256i xq = _mm256_loadu_si256((const __m256i *)(xp + inPair));
            const __m256 xd = _mm256_loadu_ps((const float *)(xp + 64 + inPair));
            const __m256i xa = _mm256_sign_epi8(xq, xq);  // |x|
            for (int r = 0; r < R; r++) {
                const __m256i pairs16 = _mm256_maddubs_epi16(xa, _mm256_sign_epi8(wq[r], xq));
                const __m256 sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs16, ones));
                acc[r][j] = _mm256_fmadd_ps(sums, _mm256_mul_ps(wd[r], xd), acc[r][j]);
            }
        }
    }
    for (int r = 0; r < R; r++)
        for (int j = 0; j < T; j++) y[(t + j) * yStride + o + r] = q8_hsum_avx2(acc[r][j]);
}

#include "q8_walk.h"  // (undefines the instance macros)

// ---- staging: the bits of q8_stage_block (portable.c) --------------------------------------------------------------
// max|x| is order-free (NaN lanes never win: MAXPS keeps its second operand), d and 1/d are scalar, x * id is the
// same f32 product, MAXPS/MINPS clamp (NaN -> -127) as the scalar compares do, and CVTPS2DQ rounds to nearest even
// as nearbyintf does in the default rounding mode.

/// Block b of a token's staged row: its int8 values q, its scale d, and -128 times each four values' sum.
static inline __attribute__((always_inline, target("avx2,fma,f16c"))) void q8_store_block(char *row, int64_t b,
                                                                                       __m256i q, float d) {
    const __m256i sums = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
    char *pair = row + (b / 2) * LK_Q8_PAIR_BYTES;
    const int64_t half = (b % 2) * 32;
    _mm256_storeu_si256((__m256i *)(pair + half), q);
    _mm256_storeu_ps((float *)(pair + 64 + half), _mm256_set1_ps(d));
    _mm256_storeu_si256((__m256i *)(pair + 128 + half), _mm256_mullo_epi32(sums, _mm256_set1_epi32(-128)));
}

/// The second half of the last pair of a row of `blocks` (odd) blocks: no values, scale 0.
static inline void q8_clear_last_half(char *row, int64_t blocks) {
    char *pair = row + (blocks / 2) * LK_Q8_PAIR_BYTES;
    memset(pair + 32, 0, 32);
    memset(pair + 96, 0, 32);
    memset(pair + 160, 0, 32);
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))
void lk_q8_stage_avx512(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize) {
    const int64_t blocks = inSize / LK_Q8_BLOCK, stride = lk_q8_stage_stride(inSize);
    const __m512 lo = _mm512_set1_ps(-127.0f), hi = _mm512_set1_ps(127.0f);
    for (int64_t t = 0; t < tokenCount; t++) {
        char *row = (char *)(staged + t * stride);
        for (int64_t b = 0; b < blocks; b++) {
            const float *xb = x + t * xStride + b * LK_Q8_BLOCK;
            const __m512 x0 = _mm512_loadu_ps(xb), x1 = _mm512_loadu_ps(xb + 16);
            const __m512 a0 = _mm512_max_ps(_mm512_abs_ps(x0), _mm512_setzero_ps());  // NaN -> 0
            const __m512 a = _mm512_max_ps(_mm512_abs_ps(x1), a0);
            float amax = 0;
            float lanes[16];
            _mm512_storeu_ps(lanes, a);
            for (int i = 0; i < 16; i++) amax = lanes[i] > amax ? lanes[i] : amax;
            const float d = amax / 127.0f;
            const __m512 id = _mm512_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
            const __m512i q0 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(x0, id), lo), hi));
            const __m512i q1 = _mm512_cvtps_epi32(_mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(x1, id), lo), hi));
            const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm512_cvtepi32_epi8(q0)),
                                                      _mm512_cvtepi32_epi8(q1), 1);
            q8_store_block(row, b, q, d);
        }
        if (blocks % 2) q8_clear_last_half(row, blocks);
    }
}

__attribute__((target("avx2,fma,f16c")))
void lk_q8_stage_avx2(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize) {
    const int64_t blocks = inSize / LK_Q8_BLOCK, stride = lk_q8_stage_stride(inSize);
    const __m256 absMask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 lo = _mm256_set1_ps(-127.0f), hi = _mm256_set1_ps(127.0f);
    for (int64_t t = 0; t < tokenCount; t++) {
        char *row = (char *)(staged + t * stride);
        for (int64_t b = 0; b < blocks; b++) {
            const float *xb = x + t * xStride + b * LK_Q8_BLOCK;
            __m256 xv[4], a = _mm256_setzero_ps();
            for (int k = 0; k < 4; k++) {
                xv[k] = _mm256_loadu_ps(xb + 8 * k);
                a = _mm256_max_ps(_mm256_and_ps(xv[k], absMask), a);
            }
            float amax = 0;
            float lanes[8];
            _mm256_storeu_ps(lanes, a);
            for (int i = 0; i < 8; i++) amax = lanes[i] > amax ? lanes[i] : amax;
            const float d = amax / 127.0f;
            const __m256 id = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
            __m256i qi[4];
            for (int k = 0; k < 4; k++)
                qi[k] = _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(xv[k], id), lo), hi));
            // int32 -> int8 with saturating packs (values are in [-127, 127]); packs interleave 128-bit lanes, the
            // permute puts the 32 bytes back in element order.
            const __m256i p16a = _mm256_packs_epi32(qi[0], qi[1]), p16b = _mm256_packs_epi32(qi[2], qi[3]);
            const __m256i p8 = _mm256_packs_epi16(p16a, p16b);
            const __m256i q = _mm256_permutevar8x32_epi32(p8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
            q8_store_block(row, b, q, d);
        }
        if (blocks % 2) q8_clear_last_half(row, blocks);
    }
}

#endif
