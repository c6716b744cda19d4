// LingServe compute kernels: the C ABI between the Swift engine and the SIMD code.
//
// Invariants every implementation keeps (the engine's batch invariance depends on them):
// * Each output element is reduced in an order that depends only on the reduction length and the ISA chosen at
//   start-up, never on how many tokens are in the call, on which rows a thread was given, or on thread count.
// * No allocation and no locking inside a kernel call. Scratch, if any, is the caller's.
// * Weights are read in place from their stored dtype (memory-mapped checkpoint), converted to f32 in registers
//   (or, for bf16-compute linears over bf16 weights on CPUs with AVX512-BF16, multiplied as bf16 pairs).
#ifndef LINGKERNELS_H
#define LINGKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Stored element type of a weight matrix.
typedef enum {
    LK_DTYPE_F32 = 0,
    LK_DTYPE_BF16 = 1,
    LK_DTYPE_F16 = 2,
    LK_DTYPE_FP8_E4M3 = 3,  // needs block scales, see lk_fp8_scales
    LK_DTYPE_Q8_0 = 4,      // ggml's block_q8_0: blocks of 32 along a row, each an f16 scale d then 32 int8 q
                            // (34 bytes); w = d * q. Rows hold inSize / 32 blocks (inSize a multiple of 32).
} lk_dtype;

/// Elements per block of `dtype` (1 for the element types, 32 for Q8_0): rows are a whole number of blocks.
int64_t lk_dtype_block_elements(lk_dtype dtype);
/// Bytes of one row of inSize elements of `dtype` (inSize a multiple of lk_dtype_block_elements).
int64_t lk_dtype_row_bytes(lk_dtype dtype, int64_t inSize);

/// Instruction-set level a kernel runs with. Chosen once at start-up from CPUID unless forced.
typedef enum {
    LK_ISA_PORTABLE = 0,
    LK_ISA_AVX2 = 1,      // AVX2 + FMA + F16C
    LK_ISA_AVX512 = 2,    // AVX-512 F/BW/VL (+ BF16 when present)
} lk_isa;

/// Best ISA this CPU supports.
lk_isa lk_detect_isa(void);
/// ISA currently in use (detected, or forced with lk_force_isa).
lk_isa lk_active_isa(void);
/// Force an ISA (tests compare paths against each other). Returns the ISA actually set (clamped to what the CPU has).
lk_isa lk_force_isa(lk_isa isa);
/// Human-readable name of the active ISA ("avx512", "avx2", "portable").
const char *lk_isa_name(lk_isa isa);

/// Block-scale description of an FP8 E4M3 weight: w[o, i] = fp8(w[o, i]) * scaleInv[o / blockRows, i / blockCols].
typedef struct {
    const float *scaleInv;   // [ceil(outSize / blockRows), ceil(inSize / blockCols)], row-major
    int64_t blockRows;       // 128 in released checkpoints
    int64_t blockCols;       // 128
} lk_fp8_scales;

/// What a linear multiplies the weights with.
typedef enum {
    LK_COMPUTE_F32 = 0,   // the activations as given (f32)
    LK_COMPUTE_BF16 = 1,  // the activations rounded to bf16 (staged by lk_bf16_stage); products summed in f32
    LK_COMPUTE_INT8 = 2,  // Q8_0 weights only: the activations quantized per block of 32 to int8 with an f32
                          // scale (staged by lk_q8_stage), integer dot products per block, scaled and summed in f32
} lk_compute;

/// Linear layer without bias, torch layout:
///   y[t, o] = sum_i x[t, i] * w[o, i]     for t in [0, tokenCount), o in [rowBegin, rowEnd)
/// x: [tokenCount, inSize] f32, row stride xStride (elements); for LK_COMPUTE_BF16, x as staged by lk_bf16_stage
///    for this dtype and inSize, xStride = lk_bf16_stage_stride(dtype, inSize)
/// w: [outSize, inSize] in `dtype`, row-major, rows contiguous (row stride = inSize)
/// y: [tokenCount, outSize] f32, row stride yStride; only columns [rowBegin, rowEnd) are written.
/// fp8: block scales, required when dtype == LK_DTYPE_FP8_E4M3, else NULL.
/// Batch invariant: y[t, o] is bit-identical for any tokenCount and any [rowBegin, rowEnd) containing o.
/// Q8_0 weights: with LK_COMPUTE_F32 (or BF16) each weight is dequantized exactly (d * q is exact in f32) and the
/// f32 kernel runs, the bits of the same call over the dequantized f32 matrix; with LK_COMPUTE_INT8, x is as
/// staged by lk_q8_stage (xStride = lk_q8_stage_stride(inSize)) and, per output, each block's integer dot product
/// (exact) is converted to f32 lane by lane (lane j of a block sums the products 4j..4j+3), multiplied by
/// (d_w * d_x) and accumulated with FMA into fixed lanes, blocks in order, then reduced in the ISA's fixed tree.
void lk_linear(float *y, int64_t yStride, const float *x, int64_t xStride, const void *w, lk_dtype dtype,
               const lk_fp8_scales *fp8, int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd,
               lk_compute compute);

/// Whether bf16-compute linears over `dtype` weights run as bf16 dot products (VDPBF16PS) with the active ISA:
/// bf16 weights on a CPU with AVX512-BF16. Otherwise they run the f32 kernel on the rounded activations.
int lk_bf16_dot_available(lk_dtype dtype);
/// Whether bf16-compute linears over `dtype` weights with rows of `inSize` run on AMX tiles (TDPBF16PS): bf16
/// weights, inSize a multiple of 32, a CPU with AMX-BF16 whose kernel granted the tile state, not disabled with
/// lk_amx_enable. The activations are then staged in AMX's layout (same size; see lk_bf16_stage).
int lk_bf16_amx_available(lk_dtype dtype, int64_t inSize);
/// Allows (1) or forbids (0) the AMX path process-wide, for tests and benchmarks that compare paths; returns the
/// previous setting. Like lk_force_isa, never change it while linears run.
int lk_amx_enable(int enabled);
/// Row stride, in floats, of activations staged for a bf16-compute linear over `dtype` weights: the rounded bf16
/// values two to a float slot, zero-padded to a multiple of 32 (dot path), or rounded and widened back to f32.
int64_t lk_bf16_stage_stride(lk_dtype dtype, int64_t inSize);
/// Rounds x [tokenCount, inSize] (row stride xStride) to bf16 (nearest even) into
/// staged [tokenCount, lk_bf16_stage_stride(dtype, inSize)], laid out for lk_linear(..., LK_COMPUTE_BF16) with the
/// same tokenCount: row-major bf16 pairs, or, where lk_bf16_amx_available, AMX's token-interleaved layout (which
/// the kernel addresses by tokenCount alone: pass the staged buffer as a whole, never a row of it).
void lk_bf16_stage(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize, lk_dtype dtype);

/// Row stride, in floats, of activations staged for an int8-compute linear with rows of inSize (a multiple of 32):
/// per pair of blocks of 32 (the last pair zero-padded when inSize / 32 is odd) 48 float slots: the 64 int8 values,
/// 16 f32 scales (the first block's scale in lanes 0-7, the second's in 8-15) and 16 int32 corrections
/// (-128 times the sum of each group of four int8 values, for the AVX512-VNNI unsigned-by-signed products).
int64_t lk_q8_stage_stride(int64_t inSize);
/// Quantizes x [tokenCount, inSize] (row stride xStride) per block of 32 into staged [tokenCount,
/// lk_q8_stage_stride(inSize)]: d = max|x| / 127, q = x * (127 / max|x|) rounded to nearest even (0 when the block
/// is all zeros; NaN maps to -127). The same bits on every ISA.
void lk_q8_stage(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize);

/// Convert n elements of `dtype` (F32, BF16, F16 or Q8_0; for Q8_0, offset and n in elements, any alignment) starting at element `offset` of `src` to f32
/// (embedding rows, norm weights).
void lk_to_f32(float *dst, const void *src, lk_dtype dtype, int64_t offset, int64_t n);
/// Row `row` of an FP8 E4M3 [outSize, inSize] matrix with block scales, dequantised to f32: dst[inSize].
void lk_fp8_row_to_f32(float *dst, const uint8_t *w, const lk_fp8_scales *fp8, int64_t inSize, int64_t row);

/// Dot product of two f32 vectors, fixed reduction order for a given n.
float lk_dot_f32(const float *a, const float *b, int64_t n);
/// y[i] += a * x[i]
void lk_axpy_f32(float *y, float a, const float *x, int64_t n);

/// v[i] = e^(v[i] - shift) for the softmax of sampling (shift = the largest v). Results under e^-87 are 0, NaN
/// stays NaN, v[i] - shift is clamped at 88. A Cephes-style polynomial evaluated with the same FMA sequence on every
/// ISA, so the bits never depend on the machine's instruction set (within 2 ulp of the exact value).
void lk_exp_shifted_f32(float *v, int64_t n, float shift);

/// f32 <-> bf16 (round to nearest even) for bf16 KV caches.
void lk_f32_to_bf16(uint16_t *dst, const float *src, int64_t n);
void lk_bf16_to_f32(float *dst, const uint16_t *src, int64_t n);

// ---- Attention over the paged KV cache (flash-attention style) ----------------------------------------------
// One call handles one KV head of one sequence and a tile of its query rows: `tokenCount` tokens times the
// `groupSize` query heads that share the KV head. Row (i, h) is query head h of token i; it sees cached positions
// [0, lengths[i]) (causal: a token's length is its position + 1; the caller has written its K/V already).
//
// Arithmetic of one row (the batch-invariance contract): the row's positions are cut into spans of
// LK_ATTENTION_SPAN_BLOCKS blocks, fixed by the block size alone. Inside a span, blocks in order: scores
// s_j = dot(q, k_j) * scale (lk_dot_f32's reduction for headSize), m' = max(m, max_j s_j), on a new maximum
// l *= e^(m - m') and o *= e^(m - m'), p_j = e^(s_j - m') (lk_exp_shifted_f32), l += p_j and o = fma(p_j, v_j, o)
// for j in order; masked positions are skipped. Spans are then merged in order, (M, L, O) with (m, l, o):
// M' = max(M, m), L = fma(l, e^(m - M'), L e^(M - M')), O = fma(o, e^(m - M'), O e^(M - M')), and finally
// out = O * (1 / L). None of it depends on the other rows of the tile, the tile size, which spans a call was
// given, or threads; the exponentials and the value accumulation give the same bits on every ISA, the score dot
// products follow the active ISA's lk_dot_f32 order.
#define LK_ATTENTION_SPAN_BLOCKS 16

/// K/V of one layer and KV head of a sequence in the paged cache (KVStorage's layout).
typedef struct {
    const void *keys;           // physical block 0 of this layer and KV head: [blockSize, headSize] per block
    const void *values;         // same layout
    const int32_t *blockTable;  // physical block of each logical block of the sequence
    int64_t blockStride;        // elements from one physical block to the next
    int64_t blockSize;
    int64_t headSize;
    lk_dtype dtype;             // LK_DTYPE_F32 or LK_DTYPE_BF16
} lk_kv_head;

/// Query rows of one tile and where their outputs go.
typedef struct {
    const float *queries;       // row (i, h) at queries + i * queryTokenStride + h * headSize, [headSize] f32
    int64_t queryTokenStride;
    float *out;                 // row (i, h) at out + i * outTokenStride + h * headSize
    int64_t outTokenStride;
    const int32_t *lengths;     // [tokenCount] visible positions of each token, >= 1
    int64_t tokenCount;
    int64_t groupSize;          // query heads per KV head
    float scale;                // 1 / sqrt(headSize)
} lk_attention_rows;

/// Floats of caller scratch one lk_attention / lk_attention_span call needs for `rowCount` = tokenCount *
/// groupSize rows.
int64_t lk_attention_scratch_floats(int64_t rowCount, int64_t blockSize, int64_t headSize);
/// Spans of a row that sees `length` positions: ceil(length / (LK_ATTENTION_SPAN_BLOCKS * blockSize)).
int64_t lk_attention_span_count(int64_t length, int64_t blockSize);
/// Full attention of the tile: every span in order, merged and normalised into rows->out.
void lk_attention(const lk_attention_rows *rows, const lk_kv_head *kv, float *scratch);
/// One span of the tile, unnormalised, for splitting long contexts over threads: partial [rowCount, headSize],
/// spanMax and spanSum [rowCount] (row r = i * groupSize + h). Rows that see no position of the span are untouched.
void lk_attention_span(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t span, float *partial,
                       float *spanMax, float *spanSum, float *scratch);
/// Merges the spans [0, spanCount) that lk_attention_span wrote (partials [spanCount, rowCount, headSize],
/// maxima and sums [spanCount, rowCount]) in order and normalises into rows->out: the bits lk_attention gives.
void lk_attention_merge(const lk_attention_rows *rows, const lk_kv_head *kv, int64_t spanCount,
                        const float *partials, const float *spanMax, const float *spanSum);

// ---- Thread pool ---------------------------------------------------------------------------------------------
// A fixed set of long-lived worker threads that spin briefly and then sleep between jobs. The calling thread is
// worker 0 and takes part in every job, so a pool of size N runs N ways in parallel. One job at a time per pool.

typedef struct lk_pool lk_pool;
typedef void (*lk_task_fn)(void *context, int worker, int workerCount);

/// threadCount >= 1 (1 = no extra threads). pinToCores != 0 pins worker k to CPU k (Linux).
lk_pool *lk_pool_create(int threadCount, int pinToCores);
/// threadCount >= 1; cpus (NULL: no pinning) lists the CPU of each worker, cpus[0] being the calling thread's;
/// -1 leaves that worker unpinned. A failed pin is not an error: the worker runs wherever the kernel puts it.
lk_pool *lk_pool_create_on(int threadCount, const int *cpus);
/// CPUs in the calling thread's affinity mask, ascending, written to cpus[0..<min(count, capacity)]; returns the
/// count, or -1 when the mask cannot be read.
int lk_allowed_cpus(int *cpus, int capacity);
/// 1 when `worker` was pinned to its CPU (worker 0 = the thread that created the pool).
int lk_pool_worker_pinned(const lk_pool *pool, int worker);
void lk_pool_destroy(lk_pool *pool);
int lk_pool_size(const lk_pool *pool);
/// Runs task(context, k, N) for k = 0..<N concurrently and returns when all are done.
void lk_pool_run(lk_pool *pool, lk_task_fn task, void *context);

/// lk_linear split over the pool's workers by output rows (in multiples of 16 rows). Same bits as lk_linear.
void lk_linear_parallel(lk_pool *pool, float *y, int64_t yStride, const float *x, int64_t xStride, const void *w,
                        lk_dtype dtype, const lk_fp8_scales *fp8, int64_t tokenCount, int64_t inSize,
                        int64_t outSize, lk_compute compute);

/// Reads byteCount bytes of `data` (64-byte aligned), split over the pool's workers, with the widest loads the
/// active ISA has, and returns an XOR checksum so the reads cannot be elided. For memory-bandwidth measurement.
uint64_t lk_read_parallel(lk_pool *pool, const void *data, size_t byteCount);

#ifdef __cplusplus
}
#endif

#include "lingkernels_sampling.h"  // the sampler's vocabulary-wide passes
#endif
