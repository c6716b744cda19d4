// The sampler's vocabulary-wide passes (include/lingkernels_sampling.h): portable, AVX2 and AVX-512 paths in one
// file, the SIMD ones behind per-function target attributes and chosen by lk_active_isa(). Sums follow one lane
// structure on every path: 16 partial sums (lane = i % 16; missing tail elements count as +0, which leaves a sum
// of non-negative or any values unchanged), folded as lanes [0,8) + [8,16), then [0,4) + [4,8), [0,2) + [2,4),
// and lane 0 + lane 1. So the AVX-512 register, the AVX2 register pair and the portable array give the same bits.
#include "include/lingkernels_sampling.h"
#include "kernels_internal.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define LK_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma")))
#define LK_AVX2 __attribute__((target("avx2,fma")))
#endif

static inline uint32_t float_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    return bits;
}

static inline float fold16(const float acc[16]) {
    float b[8], c[4];
    for (int l = 0; l < 8; l++) b[l] = acc[l] + acc[l + 8];
    for (int l = 0; l < 4; l++) c[l] = b[l] + b[l + 4];
    const float d0 = c[0] + c[2], d1 = c[1] + c[3];
    return d0 + d1;
}

static inline int kept(float w, int64_t i, float tau, int64_t tieLast) {
    return w > tau || (w == tau && i <= tieLast);
}

// ---- portable -------------------------------------------------------------------------------------------------

static float scale_max_portable(float *out, const float *x, int64_t n, float scale) {
    float best = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * scale;
        if (v != v) v = -INFINITY;
        out[i] = v;
        if (v > best) best = v;
    }
    return best;
}

static float max_portable(const float *x, int64_t n) {
    float best = -INFINITY;
    for (int64_t i = 0; i < n; i++)
        if (x[i] > best) best = x[i];
    return best;
}

static int64_t first_equal_portable(const float *x, int64_t n, float value) {
    for (int64_t i = 0; i < n; i++)
        if (x[i] == value) return i;
    return 0;
}

static float sum_portable(const float *x, int64_t n) {
    float acc[16] = {0};
    for (int64_t i = 0; i < n; i++) acc[i & 15] += x[i];
    return fold16(acc);
}

static void kept_chunk_sums_portable(float *sums, const float *w, int64_t n, float tau, int64_t tieLast) {
    for (int64_t begin = 0, c = 0; begin < n; begin += LK_SAMPLING_CHUNK, c++) {
        const int64_t end = begin + LK_SAMPLING_CHUNK < n ? begin + LK_SAMPLING_CHUNK : n;
        float acc[16] = {0};
        for (int64_t i = begin; i < end; i++)
            if (kept(w[i], i, tau, tieLast)) acc[(i - begin) & 15] += w[i];
        sums[c] = fold16(acc);
    }
}

// ---- AVX-512 ----------------------------------------------------------------------------------------------------

#if defined(__x86_64__)
static inline __mmask16 tail_mask16(int64_t remaining) {
    return remaining >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << remaining) - 1u);
}

LK_AVX512 static float fold16_avx512(__m512 acc) {
    const __m256 b = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
    const __m128 c = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
    const __m128 d = _mm_add_ps(c, _mm_movehl_ps(c, c));  // d0 = c0 + c2, d1 = c1 + c3
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps(d, d, 1)));
}

LK_AVX512 static float scale_max_avx512(float *out, const float *x, int64_t n, float scale) {
    const __m512 s = _mm512_set1_ps(scale), negInf = _mm512_set1_ps(-INFINITY);
    __m512 best = negInf;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask16(n - i);
        __m512 v = _mm512_mul_ps(_mm512_mask_loadu_ps(negInf, m, x + i), s);
        v = _mm512_mask_mov_ps(v, _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), negInf);
        _mm512_mask_storeu_ps(out + i, m, v);
        best = _mm512_max_ps(v, best);
    }
    return _mm512_reduce_max_ps(best);
}

LK_AVX512 static float max_avx512(const float *x, int64_t n) {
    const __m512 negInf = _mm512_set1_ps(-INFINITY);
    __m512 best = negInf;
    for (int64_t i = 0; i < n; i += 16) {
        const __m512 v = _mm512_mask_loadu_ps(negInf, tail_mask16(n - i), x + i);
        best = _mm512_max_ps(v, best);  // maxps returns the second operand when the first is NaN
    }
    return _mm512_reduce_max_ps(best);
}

LK_AVX512 static int64_t first_equal_avx512(const float *x, int64_t n, float value) {
    const __m512 target = _mm512_set1_ps(value);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask16(n - i);
        const __mmask16 hit = _mm512_mask_cmp_ps_mask(m, _mm512_maskz_loadu_ps(m, x + i), target, _CMP_EQ_OQ);
        if (hit) return i + __builtin_ctz((unsigned)hit);
    }
    return 0;
}

LK_AVX512 static float sum_avx512(const float *x, int64_t n) {
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(tail_mask16(n - i), x + i));
    return fold16_avx512(acc);
}

LK_AVX512 static void kept_chunk_sums_avx512(float *sums, const float *w, int64_t n, float tau, int64_t tieLast) {
    const __m512 t = _mm512_set1_ps(tau);
    const __m512i last = _mm512_set1_epi32((int32_t)(tieLast < -1 ? -1 : tieLast));
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (int64_t begin = 0, c = 0; begin < n; begin += LK_SAMPLING_CHUNK, c++) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t i = begin; i < begin + LK_SAMPLING_CHUNK && i < n; i += 16) {
            const __mmask16 m = tail_mask16(n - i);
            const __m512 v = _mm512_maskz_loadu_ps(m, w + i);
            const __m512i index = _mm512_add_epi32(_mm512_set1_epi32((int32_t)i), iota);
            const __mmask16 keep = _mm512_cmp_ps_mask(v, t, _CMP_GT_OQ)
                | (_mm512_cmp_ps_mask(v, t, _CMP_EQ_OQ) & _mm512_cmple_epi32_mask(index, last));
            acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(keep & m, v));
        }
        sums[c] = fold16_avx512(acc);
    }
}

// ---- AVX2 -------------------------------------------------------------------------------------------------------

LK_AVX2 static __m256i tail_mask8(int64_t remaining) {
    const __m256i iota = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int32_t r = remaining >= 8 ? 8 : (int32_t)remaining;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(r), iota);
}

LK_AVX2 static __m256 load8(const float *p, int64_t remaining) {
    if (remaining >= 8) return _mm256_loadu_ps(p);
    if (remaining <= 0) return _mm256_setzero_ps();
    return _mm256_maskload_ps(p, tail_mask8(remaining));
}

LK_AVX2 static float fold16_avx2(__m256 low, __m256 high) {
    const __m256 b = _mm256_add_ps(low, high);
    const __m128 c = _mm_add_ps(_mm256_castps256_ps128(b), _mm256_extractf128_ps(b, 1));
    const __m128 d = _mm_add_ps(c, _mm_movehl_ps(c, c));
    return _mm_cvtss_f32(_mm_add_ss(d, _mm_shuffle_ps(d, d, 1)));
}

LK_AVX2 static float max_avx2(const float *x, int64_t n) {
    __m256 best = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) best = _mm256_max_ps(_mm256_loadu_ps(x + i), best);
    float lanes[8];
    _mm256_storeu_ps(lanes, best);
    float result = -INFINITY;
    for (int l = 0; l < 8; l++)
        if (lanes[l] > result) result = lanes[l];
    for (; i < n; i++)
        if (x[i] > result) result = x[i];
    return result;
}

LK_AVX2 static float scale_max_avx2(float *out, const float *x, int64_t n, float scale) {
    const __m256 s = _mm256_set1_ps(scale), negInf = _mm256_set1_ps(-INFINITY);
    __m256 best = negInf;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), s);
        v = _mm256_blendv_ps(v, negInf, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
        _mm256_storeu_ps(out + i, v);
        best = _mm256_max_ps(v, best);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, best);
    float result = -INFINITY;
    for (int l = 0; l < 8; l++)
        if (lanes[l] > result) result = lanes[l];
    const float tail = scale_max_portable(out + i, x + i, n - i, scale);
    return tail > result ? tail : result;
}

LK_AVX2 static int64_t first_equal_avx2(const float *x, int64_t n, float value) {
    const __m256 target = _mm256_set1_ps(value);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const int hit = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), target, _CMP_EQ_OQ));
        if (hit) return i + __builtin_ctz((unsigned)hit);
    }
    for (; i < n; i++)
        if (x[i] == value) return i;
    return 0;
}

LK_AVX2 static float sum_avx2(const float *x, int64_t n) {
    __m256 low = _mm256_setzero_ps(), high = _mm256_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        low = _mm256_add_ps(low, load8(x + i, n - i));
        high = _mm256_add_ps(high, load8(x + i + 8, n - i - 8));
    }
    return fold16_avx2(low, high);
}

LK_AVX2 static __m256 kept8(const float *w, int64_t i, int64_t n, __m256 t, __m256i lastPlusOne) {
    const __m256 v = load8(w + i, n - i);
    const __m256i index = _mm256_add_epi32(_mm256_set1_epi32((int32_t)i), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 tieOk = _mm256_castsi256_ps(_mm256_cmpgt_epi32(lastPlusOne, index));
    const __m256 keep = _mm256_or_ps(_mm256_cmp_ps(v, t, _CMP_GT_OQ), _mm256_and_ps(_mm256_cmp_ps(v, t, _CMP_EQ_OQ), tieOk));
    return _mm256_and_ps(keep, v);  // load8 zero-fills past n
}

LK_AVX2 static void kept_chunk_sums_avx2(float *sums, const float *w, int64_t n, float tau, int64_t tieLast) {
    const __m256 t = _mm256_set1_ps(tau);
    const __m256i lastPlusOne = _mm256_set1_epi32((int32_t)(tieLast < -1 ? 0 : tieLast + 1));
    for (int64_t begin = 0, c = 0; begin < n; begin += LK_SAMPLING_CHUNK, c++) {
        __m256 low = _mm256_setzero_ps(), high = _mm256_setzero_ps();
        for (int64_t i = begin; i < begin + LK_SAMPLING_CHUNK && i < n; i += 16) {
            low = _mm256_add_ps(low, kept8(w, i, n, t, lastPlusOne));
            high = _mm256_add_ps(high, kept8(w, i + 8, n, t, lastPlusOne));
        }
        sums[c] = fold16_avx2(low, high);
    }
}
#endif

// ---- entry points -----------------------------------------------------------------------------------------------

float lk_scale_max_f32(float *out, const float *logits, int64_t n, float scale) {
#if defined(__x86_64__)
    const lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return scale_max_avx512(out, logits, n, scale);
    if (isa == LK_ISA_AVX2) return scale_max_avx2(out, logits, n, scale);
#endif
    return scale_max_portable(out, logits, n, scale);
}

float lk_max_f32(const float *x, int64_t n) {
#if defined(__x86_64__)
    const lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return max_avx512(x, n);
    if (isa == LK_ISA_AVX2) return max_avx2(x, n);
#endif
    return max_portable(x, n);
}

int64_t lk_argmax_f32(const float *x, int64_t n) {
    const float best = lk_max_f32(x, n);
    if (!(best > -INFINITY)) return 0;
#if defined(__x86_64__)
    const lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return first_equal_avx512(x, n, best);
    if (isa == LK_ISA_AVX2) return first_equal_avx2(x, n, best);
#endif
    return first_equal_portable(x, n, best);
}

float lk_sum_f32(const float *x, int64_t n) {
#if defined(__x86_64__)
    const lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return sum_avx512(x, n);
    if (isa == LK_ISA_AVX2) return sum_avx2(x, n);
#endif
    return sum_portable(x, n);
}

void lk_kept_chunk_sums_f32(float *sums, const float *w, int64_t n, float tau, int64_t tieLast) {
#if defined(__x86_64__)
    const lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return kept_chunk_sums_avx512(sums, w, n, tau, tieLast);
    if (isa == LK_ISA_AVX2) return kept_chunk_sums_avx2(sums, w, n, tau, tieLast);
#endif
    kept_chunk_sums_portable(sums, w, n, tau, tieLast);
}

void lk_weight_histogram_f32(uint32_t *counts, double *mass, const float *w, int64_t n) {
    // LK_HISTOGRAM_COPIES interleaved sub-histograms (element i into copy i % 8) so that runs of weights in one bin
    // (every weight of a flat row) do not wait on each other's store; mass[bin] is the copies' sums added pairwise,
    // ((m0 + m1) + (m2 + m3)) + ((m4 + m5) + (m6 + m7)), each copy summed in index order.
    // Copies are LK_HISTOGRAM_STRIDE entries apart, not 2048: at a multiple of 4 KiB, one bin's slots in all copies
    // would alias in the load/store disambiguation (same low 12 address bits) and serialise the copies again.
    enum { C = LK_HISTOGRAM_COPIES, S = LK_HISTOGRAM_STRIDE };
    uint32_t (*subCounts)[S] = (uint32_t (*)[S])counts;
    double (*subMass)[S] = (double (*)[S])mass;
    memset(counts, 0, C * S * sizeof(uint32_t));
    memset(mass, 0, C * S * sizeof(double));
    int64_t i = 0;
    for (; i + C <= n; i += C) {
        for (int c = 0; c < C; c++) {
            const float v = w[i + c];
            if (v > 0) {
                const uint32_t bin = float_bits(v) >> 20;
                subCounts[c][bin] += 1;
                subMass[c][bin] += v;
            }
        }
    }
    for (; i < n; i++) {
        const float v = w[i];
        if (v > 0) {
            const uint32_t bin = float_bits(v) >> 20;
            subCounts[i % C][bin] += 1;
            subMass[i % C][bin] += v;
        }
    }
    for (int b = 0; b < 2048; b++) {  // copy 0 is counts[0..<2048] itself: it is read before it is written
        uint32_t total = 0;
        for (int c = 0; c < C; c++) total += subCounts[c][b];
        counts[b] = total;
        mass[b] = ((subMass[0][b] + subMass[1][b]) + (subMass[2][b] + subMass[3][b])) +
                  ((subMass[4][b] + subMass[5][b]) + (subMass[6][b] + subMass[7][b]));
    }
}

int64_t lk_refine_selection_f32(int32_t *ids, int64_t count, const float *w, uint32_t shift, uint32_t width,
                                int byMass, double *remaining, uint32_t *counts, double *mass) {
    const uint32_t binCount = 1u << width, mask = binCount - 1u;
    memset(counts, 0, binCount * sizeof(uint32_t));
    memset(mass, 0, binCount * sizeof(double));
    for (int64_t k = 0; k < count; k++) {
        const float v = w[ids[k]];
        const uint32_t b = (float_bits(v) >> shift) & mask;
        counts[b] += 1;
        mass[b] += v;
    }
    double left = *remaining;
    int64_t chosen = -1;
    for (int64_t b = (int64_t)binCount - 1; b >= 0; b--) {
        if (counts[b] == 0) continue;
        const double measure = byMass ? mass[b] : (double)counts[b];
        chosen = b;
        if (measure >= left) break;
        left -= measure;
    }
    *remaining = left;
    if (chosen < 0) return -1;
    int64_t kept = 0;
    for (int64_t k = 0; k < count; k++)
        if (((float_bits(w[ids[k]]) >> shift) & mask) == (uint32_t)chosen) ids[kept++] = ids[k];
    return chosen | (kept << 16);
}

#if defined(__x86_64__)
// As gather_kept_avx512: whole 16-wide blocks while they surely fit, the rest left to the scalar loop.
LK_AVX512 static int64_t gather_bin_avx512(int32_t *ids, int64_t capacity, const float *w, int64_t n, uint32_t bin,
                                           int64_t *count) {
    const __m512i wanted = _mm512_set1_epi32((int32_t)bin);
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const __m512 zero = _mm512_setzero_ps();
    int64_t i = 0, c = *count;
    for (; i + 16 <= n && c + 16 <= capacity; i += 16) {
        const __m512 v = _mm512_loadu_ps(w + i);
        const __mmask16 positive = _mm512_cmp_ps_mask(v, zero, _CMP_GT_OQ);
        const __mmask16 hit =
            _mm512_mask_cmpeq_epi32_mask(positive, _mm512_srli_epi32(_mm512_castps_si512(v), 20), wanted);
        if (!hit) continue;
        // Compress in a register, store all 16 lanes (room checked above): Zen 4 microcodes the compressing store.
        _mm512_storeu_si512((void *)(ids + c),
                            _mm512_maskz_compress_epi32(hit, _mm512_add_epi32(_mm512_set1_epi32((int32_t)i), iota)));
        c += __builtin_popcount((unsigned)hit);
    }
    *count = c;
    return i;
}
#endif

int64_t lk_gather_bin_f32(int32_t *ids, int64_t capacity, const float *w, int64_t n, uint32_t bin) {
    int64_t count = 0, i = 0;
#if defined(__x86_64__)
    if (lk_active_isa() == LK_ISA_AVX512 && n <= INT32_MAX) i = gather_bin_avx512(ids, capacity, w, n, bin, &count);
#endif
    // Branch-free: rows where about half the weights fall in the bin would mispredict every other element.
    for (; i < n && count < capacity; i++) {
        const float v = w[i];
        ids[count] = (int32_t)i;
        count += (v > 0) & ((float_bits(v) >> 20) == bin);
    }
    return count;
}

#if defined(__x86_64__)
// The kept elements of each 16-wide block compressed into ids/values, while a whole block surely fits; returns the
// index where the scalar loop takes over (the tail, or the block that might overflow capacity).
LK_AVX512 static int64_t gather_kept_avx512(int32_t *ids, float *values, int64_t capacity, const float *w, int64_t n,
                                            float tau, int64_t tieLast, int64_t *count) {
    const __m512 t = _mm512_set1_ps(tau);
    const __m512i last = _mm512_set1_epi32((int32_t)(tieLast < -1 ? -1 : tieLast));
    const __m512i iota = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    int64_t i = 0, c = *count;
    for (; i + 16 <= n && c + 16 <= capacity; i += 16) {
        const __m512 v = _mm512_loadu_ps(w + i);
        const __m512i index = _mm512_add_epi32(_mm512_set1_epi32((int32_t)i), iota);
        const __mmask16 keep = _mm512_cmp_ps_mask(v, t, _CMP_GT_OQ) |
                               (_mm512_cmp_ps_mask(v, t, _CMP_EQ_OQ) & _mm512_cmple_epi32_mask(index, last));
        if (!keep) continue;
        // Compress in a register, store all 16 lanes (room checked above): Zen 4 microcodes the compressing store.
        _mm512_storeu_si512((void *)(ids + c), _mm512_maskz_compress_epi32(keep, index));
        _mm512_storeu_ps(values + c, _mm512_maskz_compress_ps(keep, v));
        c += __builtin_popcount((unsigned)keep);
    }
    *count = c;
    return i;
}
#endif

int64_t lk_gather_kept_f32(int32_t *ids, float *values, int64_t capacity, const float *w, int64_t n, float tau,
                           int64_t tieLast) {
    int64_t count = 0, i = 0;
#if defined(__x86_64__)
    // Ids fit in int32 (the vocabulary), as the callers' ids arrays require.
    if (lk_active_isa() == LK_ISA_AVX512 && n <= INT32_MAX)
        i = gather_kept_avx512(ids, values, capacity, w, n, tau, tieLast, &count);
#endif
    for (; i < n && count < capacity; i++) {
        if (kept(w[i], i, tau, tieLast)) {
            ids[count] = (int32_t)i;
            values[count] = w[i];
            count++;
        }
    }
    return count;
}
