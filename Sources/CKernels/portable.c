// Portable kernels and the thread pool. The SIMD paths live in their own files and are selected through
// lk_active_isa(); this file is the fallback every machine can run and the oracle the tests compare against.
#define _GNU_SOURCE
#include "kernels_internal.h"

#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// ---- scalar conversions (shared with the SIMD files, see kernels_internal.h) -------------------------------------

#define bf16_to_f32 lk_scalar_bf16_to_f32
#define f32_to_bf16 lk_scalar_f32_to_bf16
#define f16_to_f32 lk_scalar_f16_to_f32
#define fp8_e4m3_to_f32 lk_scalar_fp8_e4m3_to_f32

void lk_to_f32(float *dst, const void *src, lk_dtype dtype, int64_t offset, int64_t n) {
    switch (dtype) {
    case LK_DTYPE_F32:
        memcpy(dst, (const float *)src + offset, (size_t)n * sizeof(float));
        break;
    case LK_DTYPE_BF16: {
        lk_bf16_to_f32(dst, (const uint16_t *)src + offset, n);
        break;
    }
    case LK_DTYPE_F16: {
        const uint16_t *s = (const uint16_t *)src + offset;
#if defined(__x86_64__)
        lk_isa isa = lk_active_isa();
        if (isa == LK_ISA_AVX512) { lk_f16_to_f32_avx512(dst, s, n); break; }
        if (isa == LK_ISA_AVX2) { lk_f16_to_f32_avx2(dst, s, n); break; }
#endif
        for (int64_t i = 0; i < n; i++) dst[i] = f16_to_f32(s[i]);
        break;
    }
    case LK_DTYPE_FP8_E4M3: {
        const uint8_t *s = (const uint8_t *)src + offset;
        for (int64_t i = 0; i < n; i++) dst[i] = fp8_e4m3_to_f32(s[i]);
        break;
    }
    case LK_DTYPE_Q8_0:
        for (int64_t i = 0; i < n; i++) dst[i] = lk_scalar_q8_0(src, offset + i);
        break;
    }
}

int64_t lk_dtype_block_elements(lk_dtype dtype) { return dtype == LK_DTYPE_Q8_0 ? LK_Q8_BLOCK : 1; }

int64_t lk_dtype_row_bytes(lk_dtype dtype, int64_t inSize) {
    switch (dtype) {
    case LK_DTYPE_F32: return inSize * 4;
    case LK_DTYPE_BF16:
    case LK_DTYPE_F16: return inSize * 2;
    case LK_DTYPE_FP8_E4M3: return inSize;
    case LK_DTYPE_Q8_0: return inSize / LK_Q8_BLOCK * LK_Q8_BLOCK_BYTES;
    }
    return 0;
}

void lk_fp8_row_to_f32(float *dst, const uint8_t *w, const lk_fp8_scales *fp8, int64_t inSize, int64_t row) {
    int64_t scaleCols = (inSize + fp8->blockCols - 1) / fp8->blockCols;
    const float *scaleRow = fp8->scaleInv + (row / fp8->blockRows) * scaleCols;
    const uint8_t *r = w + row * inSize;
    for (int64_t i = 0; i < inSize; i++) dst[i] = fp8_e4m3_to_f32(r[i]) * scaleRow[i / fp8->blockCols];
}

void lk_f32_to_bf16(uint16_t *dst, const float *src, int64_t n) {
#if defined(__x86_64__)
    lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return lk_f32_to_bf16_avx512(dst, src, n);
    if (isa == LK_ISA_AVX2) return lk_f32_to_bf16_avx2(dst, src, n);
#endif
    for (int64_t i = 0; i < n; i++) dst[i] = f32_to_bf16(src[i]);
}

void lk_bf16_to_f32(float *dst, const uint16_t *src, int64_t n) {
#if defined(__x86_64__)
    lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return lk_bf16_to_f32_avx512(dst, src, n);
    if (isa == LK_ISA_AVX2) return lk_bf16_to_f32_avx2(dst, src, n);
#endif
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_f32(src[i]);
}

// ---- ISA selection --------------------------------------------------------------------------------------------

static _Atomic int activeIsa = -1;

lk_isa lk_detect_isa(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return LK_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return LK_ISA_AVX2;
#endif
    return LK_ISA_PORTABLE;
}

lk_isa lk_active_isa(void) {
    int isa = atomic_load_explicit(&activeIsa, memory_order_relaxed);
    if (isa < 0) {
        isa = (int)lk_detect_isa();
        atomic_store_explicit(&activeIsa, isa, memory_order_relaxed);
    }
    return (lk_isa)isa;
}

lk_isa lk_force_isa(lk_isa isa) {
    lk_isa best = lk_detect_isa();
    if (isa > best) isa = best;
    atomic_store_explicit(&activeIsa, (int)isa, memory_order_relaxed);
    return isa;
}

const char *lk_isa_name(lk_isa isa) {
    switch (isa) {
    case LK_ISA_AVX512: return "avx512";
    case LK_ISA_AVX2: return "avx2";
    default: return "portable";
    }
}

// ---- portable math ---------------------------------------------------------------------------------------------
// Reduction order: 8 interleaved partial sums (lane = i % 8), combined pairwise, then the tail in order.

#define LANES 8

static inline float reduce_lanes(const float acc[LANES]) {
    float a = acc[0] + acc[4], b = acc[1] + acc[5], c = acc[2] + acc[6], d = acc[3] + acc[7];
    return (a + c) + (b + d);
}

float lk_dot_f32(const float *a, const float *b, int64_t n) {
#if defined(__x86_64__)
    lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return lk_dot_f32_avx512(a, b, n);
    if (isa == LK_ISA_AVX2) return lk_dot_f32_avx2(a, b, n);
#endif
    return lk_dot_f32_portable(a, b, n);
}

float lk_dot_f32_portable(const float *a, const float *b, int64_t n) {
    float acc[LANES] = {0};
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] = fmaf(a[i + l], b[i + l], acc[l]);
    float sum = reduce_lanes(acc);
    for (; i < n; i++) sum = fmaf(a[i], b[i], sum);
    return sum;
}

void lk_axpy_f32(float *y, float a, const float *x, int64_t n) {
#if defined(__x86_64__)
    lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return lk_axpy_f32_avx512(y, a, x, n);
    if (isa == LK_ISA_AVX2) return lk_axpy_f32_avx2(y, a, x, n);
#endif
    for (int64_t i = 0; i < n; i++) y[i] = fmaf(a, x[i], y[i]);
}

void lk_exp_shifted_f32(float *v, int64_t n, float shift) {
#if defined(__x86_64__)
    lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return lk_exp_shifted_f32_avx512(v, n, shift);
    if (isa == LK_ISA_AVX2) return lk_exp_shifted_f32_avx2(v, n, shift);
#endif
    for (int64_t i = 0; i < n; i++) v[i] = lk_scalar_exp(v[i] - shift);
}

// One weight row converted to f32 at a time, on the stack in chunks, so any dtype shares the f32 dot.
// ---- int8 compute over Q8_0 weights ------------------------------------------------------------------------------

int64_t lk_q8_stage_stride(int64_t inSize) {
    const int64_t pairs = (inSize / LK_Q8_BLOCK + 1) / 2;
    return pairs * (LK_Q8_PAIR_BYTES / 4);
}

/// One block of 32 activations: its int8 values, scale and four-value sums (the reference every stager matches).
static void q8_stage_block(const float *x, int8_t *q, float *scale, int32_t *correction) {
    float amax = 0;
    for (int i = 0; i < LK_Q8_BLOCK; i++) {
        const float a = fabsf(x[i]);
        amax = a > amax ? a : amax;  // NaN never wins (the SIMD max keeps its second operand)
    }
    const float d = amax / 127.0f;
    const float id = amax > 0 ? 127.0f / amax : 0.0f;
    for (int i = 0; i < LK_Q8_BLOCK; i++) {
        float v = x[i] * id;
        v = v > -127.0f ? v : -127.0f;  // NaN -> -127
        v = v < 127.0f ? v : 127.0f;
        q[i] = (int8_t)(int)__builtin_nearbyintf(v);
    }
    for (int j = 0; j < 8; j++) {
        scale[j] = d;
        correction[j] = -128 * ((int32_t)q[4 * j] + q[4 * j + 1] + q[4 * j + 2] + q[4 * j + 3]);
    }
}

void lk_q8_stage_portable(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize) {
    const int64_t blocks = inSize / LK_Q8_BLOCK, stride = lk_q8_stage_stride(inSize);
    for (int64_t t = 0; t < tokenCount; t++) {
        char *row = (char *)(staged + t * stride);
        for (int64_t b = 0; b < blocks; b++) {
            char *pair = row + (b / 2) * LK_Q8_PAIR_BYTES;
            const int half = (int)(b % 2);
            q8_stage_block(x + t * xStride + b * LK_Q8_BLOCK, (int8_t *)pair + 32 * half, (float *)(pair + 64) + 8 * half,
                           (int32_t *)(pair + 128) + 8 * half);
        }
        if (blocks % 2) {  // the last pair's second block: zeros (no products, scale 0)
            char *pair = row + (blocks / 2) * LK_Q8_PAIR_BYTES;
            memset(pair + 32, 0, 32);
            memset(pair + 64 + 32, 0, 32);
            memset(pair + 128 + 32, 0, 32);
        }
    }
}

void lk_q8_stage(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize) {
#if defined(__x86_64__)
    lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) return lk_q8_stage_avx512(staged, x, xStride, tokenCount, inSize);
    if (isa == LK_ISA_AVX2) return lk_q8_stage_avx2(staged, x, xStride, tokenCount, inSize);
#endif
    lk_q8_stage_portable(staged, x, xStride, tokenCount, inSize);
}

/// The AVX2 kernel's arithmetic, element by element: 8 lanes, lane j of each block taking the integer sum of the
/// products 4j..4j+3, scaled by d_w * d_x and added with FMA, blocks in order, then the 8-lane tree.
void lk_linear_q8_int8_portable(float *y, int64_t yStride, const float *staged, int64_t stagedStride, const void *w,
                                int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd) {
    const int64_t blocks = inSize / LK_Q8_BLOCK, rowBytes = blocks * LK_Q8_BLOCK_BYTES;
    for (int64_t o = rowBegin; o < rowEnd; o++) {
        const uint8_t *row = (const uint8_t *)w + o * rowBytes;
        for (int64_t t = 0; t < tokenCount; t++) {
            const char *xs = (const char *)(staged + t * stagedStride);
            float acc[LANES] = {0};
            for (int64_t b = 0; b < blocks; b++) {
                const uint8_t *block = row + b * LK_Q8_BLOCK_BYTES;
                uint16_t dBits;
                memcpy(&dBits, block, 2);
                const char *pair = xs + (b / 2) * LK_Q8_PAIR_BYTES;
                const int8_t *xq = (const int8_t *)pair + 32 * (b % 2);
                float dx;
                memcpy(&dx, pair + 64 + 32 * (b % 2), 4);
                const float scale = f16_to_f32(dBits) * dx;
                for (int j = 0; j < LANES; j++) {
                    int32_t sum = 0;
                    for (int k = 4 * j; k < 4 * j + 4; k++) sum += (int32_t)(int8_t)block[2 + k] * xq[k];
                    acc[j] = fmaf((float)sum, scale, acc[j]);
                }
            }
            y[t * yStride + o] = reduce_lanes(acc);
        }
    }
}

#define CHUNK 256

static void linear_portable(float *y, int64_t yStride, const float *x, int64_t xStride, const void *w,
                            lk_dtype dtype, const lk_fp8_scales *fp8, int64_t tokenCount, int64_t inSize,
                            int64_t rowBegin, int64_t rowEnd) {
    for (int64_t o = rowBegin; o < rowEnd; o++) {
        if (dtype == LK_DTYPE_F32) {
            const float *row = (const float *)w + o * inSize;
            for (int64_t t = 0; t < tokenCount; t++) y[t * yStride + o] = lk_dot_f32_portable(x + t * xStride, row, inSize);
            continue;
        }
        // Convert the row chunk by chunk; accumulate with the same lane structure as lk_dot_f32 so that the
        // result equals lk_dot_f32(x, row_as_f32) exactly.
        for (int64_t t = 0; t < tokenCount; t++) {
            float acc[LANES] = {0};
            float tail = 0;
            int tailStarted = 0;
            float buf[CHUNK];
            const float *xt = x + t * xStride;
            int64_t full = inSize - inSize % LANES;
            for (int64_t c = 0; c < inSize; c += CHUNK) {
                int64_t n = inSize - c < CHUNK ? inSize - c : CHUNK;
                if (dtype == LK_DTYPE_FP8_E4M3) {
                    int64_t scaleCols = (inSize + fp8->blockCols - 1) / fp8->blockCols;
                    const float *scaleRow = fp8->scaleInv + (o / fp8->blockRows) * scaleCols;
                    const uint8_t *r = (const uint8_t *)w + o * inSize + c;
                    for (int64_t i = 0; i < n; i++) buf[i] = fp8_e4m3_to_f32(r[i]) * scaleRow[(c + i) / fp8->blockCols];
                } else {
                    lk_to_f32(buf, w, dtype, o * inSize + c, n);
                }
                for (int64_t i = 0; i < n; i++) {
                    int64_t k = c + i;
                    if (k < full) {
                        acc[k % LANES] = fmaf(xt[k], buf[i], acc[k % LANES]);
                    } else {
                        if (!tailStarted) { tail = reduce_lanes(acc); tailStarted = 1; }
                        tail = fmaf(xt[k], buf[i], tail);
                    }
                }
            }
            y[t * yStride + o] = tailStarted ? tail : reduce_lanes(acc);
        }
    }
}

// Implemented in the SIMD files when the compiler supports them; they return 0 when they do not handle the case.
int lk_linear_avx512(float *y, int64_t yStride, const float *x, int64_t xStride, const void *w, lk_dtype dtype,
                     const lk_fp8_scales *fp8, int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd)
    __attribute__((weak));
int lk_linear_avx2(float *y, int64_t yStride, const float *x, int64_t xStride, const void *w, lk_dtype dtype,
                   const lk_fp8_scales *fp8, int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd)
    __attribute__((weak));

void lk_linear_bf16_dot_avx512bf16(float *y, int64_t yStride, const float *x, int64_t xStride, const void *w,
                                   int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd)
    __attribute__((weak));

// A CPU feature, read once (__builtin_cpu_supports needs a literal, hence the macro).
#if defined(__x86_64__)
#define LK_CPU_HAS(name, feature) \
    static int name(void) { \
        static _Atomic int known = -1; \
        int has = atomic_load_explicit(&known, memory_order_relaxed); \
        if (has < 0) { \
            __builtin_cpu_init(); \
            has = __builtin_cpu_supports(feature) ? 1 : 0; \
            atomic_store_explicit(&known, has, memory_order_relaxed); \
        } \
        return has; \
    }
#else
#define LK_CPU_HAS(name, feature) \
    static int name(void) { return 0; }
#endif
LK_CPU_HAS(cpuHasBF16Dot, "avx512bf16")
LK_CPU_HAS(cpuHasVNNI, "avx512vnni")
#undef LK_CPU_HAS

int lk_bf16_dot_available(lk_dtype dtype) {
    return dtype == LK_DTYPE_BF16 && lk_active_isa() == LK_ISA_AVX512 && lk_linear_bf16_dot_avx512bf16 &&
           cpuHasBF16Dot();
}

int lk_bf16_amx_available(lk_dtype dtype, int64_t inSize) {
#if defined(__x86_64__)
    return inSize > 0 && inSize % 32 == 0 && lk_bf16_dot_available(dtype) && lk_amx_usable();
#else
    (void)dtype; (void)inSize;
    return 0;
#endif
}

#define LK_BF16_DOT_STEP 32  // bf16 elements per VDPBF16PS (the staged rows are padded to it)

int64_t lk_bf16_stage_stride(lk_dtype dtype, int64_t inSize) {
    if (lk_bf16_dot_available(dtype)) return (inSize + LK_BF16_DOT_STEP - 1) / LK_BF16_DOT_STEP * LK_BF16_DOT_STEP / 2;
    return inSize;
}

void lk_bf16_stage(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize, lk_dtype dtype) {
    const int64_t stride = lk_bf16_stage_stride(dtype, inSize);
#if defined(__x86_64__)
    if (lk_bf16_amx_available(dtype, inSize)) return lk_bf16_stage_amx(staged, x, xStride, tokenCount, inSize);
#endif
    if (lk_bf16_dot_available(dtype)) {
        for (int64_t t = 0; t < tokenCount; t++) {
            uint16_t *row = (uint16_t *)(staged + t * stride);
            lk_f32_to_bf16(row, x + t * xStride, inSize);
            memset(row + inSize, 0, (size_t)(2 * stride - inSize) * sizeof(uint16_t));
        }
        return;
    }
    uint16_t rounded[256];
    for (int64_t t = 0; t < tokenCount; t++)
        for (int64_t i = 0; i < inSize; i += 256) {
            const int64_t n = inSize - i < 256 ? inSize - i : 256;
            lk_f32_to_bf16(rounded, x + t * xStride + i, n);
            lk_bf16_to_f32(staged + t * stride + i, rounded, n);
        }
}

void lk_linear(float *y, int64_t yStride, const float *x, int64_t xStride, const void *w, lk_dtype dtype,
               const lk_fp8_scales *fp8, int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd,
               lk_compute compute) {
    if (tokenCount <= 0 || rowEnd <= rowBegin) return;
#if defined(__x86_64__)
    if (compute == LK_COMPUTE_BF16 && lk_bf16_amx_available(dtype, inSize)) {
        lk_linear_bf16_amx(y, yStride, x, w, tokenCount, inSize, rowBegin, rowEnd);
        return;
    }
#endif
    if (compute == LK_COMPUTE_BF16 && lk_bf16_dot_available(dtype)) {
        lk_linear_bf16_dot_avx512bf16(y, yStride, x, xStride, w, tokenCount, inSize, rowBegin, rowEnd);
        return;
    }
    if (compute == LK_COMPUTE_INT8 && dtype == LK_DTYPE_Q8_0) {  // x as staged by lk_q8_stage
#if defined(__x86_64__)
        const lk_isa active = lk_active_isa();
        if (active == LK_ISA_AVX512 && cpuHasVNNI()) {
            lk_linear_q8_int8_avx512vnni(y, yStride, x, xStride, w, tokenCount, inSize, rowBegin, rowEnd);
            return;
        }
        if (active >= LK_ISA_AVX2) {
            lk_linear_q8_int8_avx2(y, yStride, x, xStride, w, tokenCount, inSize, rowBegin, rowEnd);
            return;
        }
#endif
        lk_linear_q8_int8_portable(y, yStride, x, xStride, w, tokenCount, inSize, rowBegin, rowEnd);
        return;
    }
    // Otherwise x is f32: as given, or already rounded to bf16 values by lk_bf16_stage.
    lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512 && lk_linear_avx512 &&
        lk_linear_avx512(y, yStride, x, xStride, w, dtype, fp8, tokenCount, inSize, rowBegin, rowEnd))
        return;
    if (isa >= LK_ISA_AVX2 && lk_linear_avx2 &&
        lk_linear_avx2(y, yStride, x, xStride, w, dtype, fp8, tokenCount, inSize, rowBegin, rowEnd))
        return;
    linear_portable(y, yStride, x, xStride, w, dtype, fp8, tokenCount, inSize, rowBegin, rowEnd);
}

// ---- thread pool -----------------------------------------------------------------------------------------------
// Publishing a job is one atomic increment of `generation`; workers spin on it for up to LK_SPIN_NANOSECONDS
// (decode issues 30-100 jobs per token back to back) and only then sleep on the condition variable. The caller
// takes the mutex only when a worker is asleep, so a hot round trip costs two cache-line transfers.
//
// Sleep/wake handshake (all seq_cst): a worker increments `sleeping` under the mutex and re-checks `generation`
// before waiting; the caller increments `generation` and then reads `sleeping`. Either the worker sees the new
// generation, or the caller sees the sleeper and broadcasts under the mutex, after the worker started waiting.

#define LK_SPIN_NANOSECONDS 200000

struct lk_pool {
    int size;
    pthread_t *threads;
    pthread_mutex_t mutex;
    pthread_cond_t wake;
    _Alignas(64) _Atomic uint64_t generation;  // bumped per job
    _Alignas(64) _Atomic int remaining;        // workers (excluding the caller) still running the job
    _Atomic int sleeping;                      // workers waiting on `wake`
    _Atomic int stopping;
    lk_task_fn task;
    void *context;
    _Atomic int *pinned;  // [size] 1 when worker k runs pinned to its CPU
};

typedef struct {
    lk_pool *pool;
    int index;
    int cpu;  // -1: not pinned
} worker_start;

// Pins the calling thread to `cpu`; returns 1 on success. Failure (CPU offline, not in the cgroup's set) is not fatal.
static int pin_to_cpu(int cpu) {
#ifdef __linux__
    if (cpu < 0 || cpu >= CPU_SETSIZE) return 0;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof(set), &set) == 0;
#else
    (void)cpu;
    return 0;
#endif
}

static inline void cpu_relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}

static inline uint64_t monotonic_nanoseconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

static uint64_t wait_for_job(lk_pool *pool, uint64_t seen) {
    uint64_t generation = atomic_load_explicit(&pool->generation, memory_order_acquire);
    if (generation != seen) return generation;
    uint64_t deadline = monotonic_nanoseconds() + LK_SPIN_NANOSECONDS;
    for (unsigned spin = 1;; spin++) {
        cpu_relax();
        generation = atomic_load_explicit(&pool->generation, memory_order_acquire);
        if (generation != seen) return generation;
        if ((spin & 255) == 0 && monotonic_nanoseconds() > deadline) break;
    }
    pthread_mutex_lock(&pool->mutex);
    atomic_fetch_add(&pool->sleeping, 1);
    while ((generation = atomic_load(&pool->generation)) == seen) pthread_cond_wait(&pool->wake, &pool->mutex);
    atomic_fetch_sub(&pool->sleeping, 1);
    pthread_mutex_unlock(&pool->mutex);
    return generation;
}

// Lets the calling thread run on every online CPU. A new thread inherits its creator's affinity, so an unpinned
// pool made by a pinned thread (the engine thread is worker 0 of the model's pinned pool) would otherwise crowd all
// its workers onto the creator's single core.
static void unpin(void) {
#ifdef __linux__
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    CPU_ZERO(&set);
    for (long cpu = 0; cpu < online && cpu < CPU_SETSIZE; cpu++) CPU_SET((int)cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);  // the kernel keeps the cgroup's subset
#endif
}

static void *worker_main(void *arg) {
    worker_start start = *(worker_start *)arg;
    free(arg);
    lk_pool *pool = start.pool;
    if (start.cpu >= 0) atomic_store(&pool->pinned[start.index], pin_to_cpu(start.cpu));
    else unpin();
    uint64_t seen = 0;
    for (;;) {
        seen = wait_for_job(pool, seen);
        if (atomic_load(&pool->stopping)) return NULL;
        pool->task(pool->context, start.index, pool->size);
        atomic_fetch_sub_explicit(&pool->remaining, 1, memory_order_release);
    }
}

lk_pool *lk_pool_create(int threadCount, int pinToCores) {
    if (!pinToCores) return lk_pool_create_on(threadCount, NULL);
    int *cpus = malloc(sizeof(int) * (size_t)(threadCount < 1 ? 1 : threadCount));
    if (!cpus) return NULL;
    for (int k = 0; k < threadCount; k++) cpus[k] = k;
    lk_pool *pool = lk_pool_create_on(threadCount, cpus);
    free(cpus);
    return pool;
}

lk_pool *lk_pool_create_on(int threadCount, const int *cpus) {
    if (threadCount < 1) threadCount = 1;
    lk_pool *pool = aligned_alloc(64, (sizeof(lk_pool) + 63) / 64 * 64);
    if (!pool) return NULL;
    memset(pool, 0, sizeof(lk_pool));
    pool->size = threadCount;
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pool->threads = calloc((size_t)threadCount, sizeof(pthread_t));
    pool->pinned = calloc((size_t)threadCount, sizeof(_Atomic int));
    if (!pool->threads || !pool->pinned) {
        free(pool->threads);
        free(pool->pinned);
        free(pool);
        return NULL;
    }
    if (cpus) atomic_store(&pool->pinned[0], pin_to_cpu(cpus[0]));
    for (int k = 1; k < threadCount; k++) {
        worker_start *start = malloc(sizeof(worker_start));
        int created = -1;
        if (start) {
            start->pool = pool;
            start->index = k;
            start->cpu = cpus ? cpus[k] : -1;
            created = pthread_create(&pool->threads[k], NULL, worker_main, start);
        }
        if (created != 0) {  // run with the workers we have
            free(start);
            pool->size = k;
            break;
        }
    }
    return pool;
}

void lk_pool_destroy(lk_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mutex);
    atomic_store(&pool->stopping, 1);
    atomic_fetch_add(&pool->generation, 1);
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->mutex);
    for (int k = 1; k < pool->size; k++) pthread_join(pool->threads[k], NULL);
    pthread_mutex_destroy(&pool->mutex);
    pthread_cond_destroy(&pool->wake);
    free(pool->threads);
    free(pool->pinned);
    free(pool);
}

int lk_allowed_cpus(int *cpus, int capacity) {
#ifdef __linux__
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
    int count = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &set)) continue;
        if (count < capacity) cpus[count] = cpu;
        count++;
    }
    return count;
#else
    (void)cpus;
    (void)capacity;
    return -1;
#endif
}

int lk_pool_worker_pinned(const lk_pool *pool, int worker) {
    if (!pool || worker < 0 || worker >= pool->size) return 0;
    return atomic_load(&pool->pinned[worker]);
}

int lk_pool_size(const lk_pool *pool) { return pool ? pool->size : 1; }

void lk_pool_run(lk_pool *pool, lk_task_fn task, void *context) {
    if (!pool || pool->size == 1) {
        task(context, 0, 1);
        return;
    }
    pool->task = task;
    pool->context = context;
    atomic_store_explicit(&pool->remaining, pool->size - 1, memory_order_relaxed);
    atomic_fetch_add(&pool->generation, 1);
    if (atomic_load(&pool->sleeping) > 0) {
        pthread_mutex_lock(&pool->mutex);
        pthread_cond_broadcast(&pool->wake);
        pthread_mutex_unlock(&pool->mutex);
    }
    task(context, 0, pool->size);
    // Spin for the stragglers; on an oversubscribed machine a worker may be descheduled, so after a while give
    // the core back instead of burning the rest of our time slice.
    for (unsigned spin = 1; atomic_load_explicit(&pool->remaining, memory_order_acquire) > 0; spin++) {
        if (spin < 4096) cpu_relax();
        else sched_yield();
    }
}

// ---- memory bandwidth probe --------------------------------------------------------------------------------------

typedef struct {
    const uint8_t *data;
    size_t byteCount;
    _Atomic uint64_t checksum;
} read_job;

static void read_task(void *context, int worker, int workerCount) {
    read_job *job = context;
    size_t lines = job->byteCount / 64;
    size_t begin = lines * (size_t)worker / (size_t)workerCount * 64;
    size_t end = lines * (size_t)(worker + 1) / (size_t)workerCount * 64;
    uint64_t sum = 0;
#if defined(__x86_64__)
    lk_isa isa = lk_active_isa();
    if (isa == LK_ISA_AVX512) {
        sum = lk_read_sum_avx512(job->data + begin, end - begin);
    } else if (isa == LK_ISA_AVX2) {
        sum = lk_read_sum_avx2(job->data + begin, end - begin);
    } else
#endif
    {
        const uint64_t *p = (const uint64_t *)(job->data + begin);
        for (size_t k = 0; k < (end - begin) / 8; k++) sum ^= p[k];
    }
    atomic_fetch_xor(&job->checksum, sum);
}

uint64_t lk_read_parallel(lk_pool *pool, const void *data, size_t byteCount) {
    read_job job = {data, byteCount - byteCount % 64, 0};
    lk_pool_run(pool, read_task, &job);
    return atomic_load(&job.checksum);
}

typedef struct {
    float *y;
    int64_t yStride;
    const float *x;
    int64_t xStride;
    const void *w;
    lk_dtype dtype;
    const lk_fp8_scales *fp8;
    int64_t tokenCount, inSize, outSize;
    lk_compute compute;
} linear_job;

static void linear_task(void *context, int worker, int workerCount) {
    const linear_job *job = context;
    int64_t blocks = (job->outSize + 15) / 16;
    int64_t begin = blocks * worker / workerCount * 16;
    int64_t end = blocks * (worker + 1) / workerCount * 16;
    if (end > job->outSize) end = job->outSize;
    if (begin < end)
        lk_linear(job->y, job->yStride, job->x, job->xStride, job->w, job->dtype, job->fp8, job->tokenCount,
                  job->inSize, begin, end, job->compute);
}

void lk_linear_parallel(lk_pool *pool, float *y, int64_t yStride, const float *x, int64_t xStride, const void *w,
                        lk_dtype dtype, const lk_fp8_scales *fp8, int64_t tokenCount, int64_t inSize,
                        int64_t outSize, lk_compute compute) {
    linear_job job = {y, yStride, x, xStride, w, dtype, fp8, tokenCount, inSize, outSize, compute};
    lk_pool_run(pool, linear_task, &job);
}
