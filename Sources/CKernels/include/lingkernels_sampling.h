// Vocabulary-wide passes of the sampler (Sources/Engine/Sampling/Sampler.swift), so one token costs a few passes
// over the ~157k logits at memory speed instead of a sort. Every result is the same bits on every ISA: maxima and
// first-index searches are exact in any order, and sums use one fixed lane structure (16 partial sums, lane =
// i % 16, combined in a fixed tree) that the AVX-512, AVX2 and portable paths all follow.
#ifndef LINGKERNELS_SAMPLING_H
#define LINGKERNELS_SAMPLING_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// out[i] = logits[i] * scale, NaN mapped to -inf (a banned token); returns the largest out[i] (-inf when none is
/// finite or all are -inf).
float lk_scale_max_f32(float *out, const float *logits, int64_t n, float scale);

/// The largest value, NaN ignored (-inf when there is none).
float lk_max_f32(const float *x, int64_t n);

/// Index of the largest value, the lowest index among ties; NaN never wins; 0 when no value is above -inf.
int64_t lk_argmax_f32(const float *x, int64_t n);

/// x[0] + ... + x[n-1] in the fixed 16-lane order.
float lk_sum_f32(const float *x, int64_t n);

/// Elements per chunk of lk_kept_chunk_sums_f32.
#define LK_SAMPLING_CHUNK 64

/// The kept set of a sampling distribution over non-negative weights w: i is kept when w[i] > tau, or when
/// w[i] == tau and i <= tieLast. sums[c] = sum of the kept w[i] in chunk c (i in [64c, 64c + 64)), in the fixed
/// 16-lane order; sums has ceil(n / 64) entries.
void lk_kept_chunk_sums_f32(float *sums, const float *w, int64_t n, float tau, int64_t tieLast);

/// Interleaved copies of lk_weight_histogram_f32's bins, LK_HISTOGRAM_STRIDE entries apart (2048 bins, padded so
/// that copies are not a multiple of 4 KiB apart).
#define LK_HISTOGRAM_COPIES 8
#define LK_HISTOGRAM_STRIDE 2064

/// Histogram of positive weights by their top float bits: bin = bits(w[i]) >> 20 (2048 bins cover [0, inf)):
/// counts[bin] and mass[bin] for bin < 2048 are the count and total weight of the w[i] > 0 in that bin (element i
/// summed into copy i % 8 in index order, the copies combined pairwise: ((m0 + m1) + (m2 + m3)) + ((m4 + m5) +
/// (m6 + m7))). counts and mass are the caller's scratch of LK_HISTOGRAM_COPIES x LK_HISTOGRAM_STRIDE entries, overwritten.
void lk_weight_histogram_f32(uint32_t *counts, double *mass, const float *w, int64_t n);

/// One refinement step of a radix selection over the members ids[0..<count] (ascending): bins by
/// (bits(w[id]) >> shift) & (2^width - 1), width <= 12; from the highest bin down, subtracts each bin's count (or
/// mass, when byMass) from *remaining until a bin's measure reaches it; that bin is chosen, *remaining becomes what
/// is left to take inside it, and ids is compacted (stably) to its members. Returns bin | (memberCount << 16), or -1
/// when there are no members. counts and mass: the caller's scratch of 2^width entries.
int64_t lk_refine_selection_f32(int32_t *ids, int64_t count, const float *w, uint32_t shift, uint32_t width,
                                int byMass, double *remaining, uint32_t *counts, double *mass);

/// Writes, in index order, the indices i with w[i] > 0 and bits(w[i]) >> 20 == bin; returns how many (at most
/// capacity are written).
int64_t lk_gather_bin_f32(int32_t *ids, int64_t capacity, const float *w, int64_t n, uint32_t bin);

/// Writes, in index order, the indices and weights of the kept set (as lk_kept_chunk_sums_f32 defines it);
/// returns how many (at most capacity are written).
int64_t lk_gather_kept_f32(int32_t *ids, float *values, int64_t capacity, const float *w, int64_t n, float tau,
                           int64_t tieLast);

#ifdef __cplusplus
}
#endif
#endif
