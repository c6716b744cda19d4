// bf16 x bf16 linears on Intel AMX (AMX-TILE + AMX-BF16: Sapphire Rapids and later). Compiled for every x86-64
// target with per-function target attributes; used only after lk_amx_usable() has seen the CPU flags and the kernel
// granted this process the tile state (arch_prctl ARCH_REQ_XCOMP_PERM).
//
// Tiles: the weights are the A operand as stored (16 output rows x 32 bf16 of a row, row stride = the row length),
// so the memory-mapped checkpoint is read in place with no repacking; the activations are the B operand, staged by
// lk_bf16_stage_amx in the VNNI layout TDPBF16PS reads (pairs of consecutive inputs, one token per 4-byte column).
// C = W x^T: 16 rows x up to 16 tokens of f32 sums, stored transposed into y.
//
// Reduction order (the batch-invariance contract of this path): y[t, o] starts at 0 and takes the input pairs of
// its row in increasing order, 16 pairs (32 inputs) per TDPBF16PS step, every step the same instruction on the same
// operands whatever the tile's token width, the block's row count, the row range or the token count of the call,
// since each element of a tile product depends only on its own row of A and column of B. The AMX path is chosen
// per matrix (bf16 weights, inSize a multiple of 32, the CPU and the process able to run it), never per call.
#if defined(__x86_64__)
#define _GNU_SOURCE
#include "kernels_internal.h"

#include <immintrin.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <stdlib.h>
#include <unistd.h>

#define LK_AMX_TARGET __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl")))

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

// The tile palette-1 configuration block (64 bytes), as LDTILECFG reads it.
typedef struct {
    uint8_t palette;
    uint8_t startRow;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} lk_tile_config;

static _Atomic int amxState = -1;    // -1 unknown, 0 no, 1 usable
static _Atomic int amxEnabled = 1;   // lk_amx_enable (tests and benchmarks compare paths)

static int amx_detect(void) {
    // LINGSERVE_AMX=0 keeps the tiles off (as ONEDNN_MAX_CPU_ISA does for oneDNN): comparisons, or a hypervisor that
    // lists AMX but runs it slowly.
    const char *setting = getenv("LINGSERVE_AMX");
    if (setting && strcmp(setting, "0") == 0) return 0;
    unsigned int eax, ebx, ecx, edx;
    __asm__ volatile("cpuid" : "=a"(eax), "=b"(ebx), "=c"(ecx), "=d"(edx) : "a"(7), "c"(0));
    const int hasTile = (edx >> 24) & 1, hasBF16 = (edx >> 22) & 1;
    if (!hasTile || !hasBF16) return 0;
    // The kernel keeps the 8 KiB tile state out of every thread's signal frame until the process asks for it;
    // permission is process-wide and covers threads started before and after.
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    return 1;
}

int lk_amx_usable(void) {
    int state = atomic_load_explicit(&amxState, memory_order_acquire);
    if (state < 0) {
        state = amx_detect();
        atomic_store_explicit(&amxState, state, memory_order_release);
    }
    return state && atomic_load_explicit(&amxEnabled, memory_order_relaxed);
}

int lk_amx_enable(int enabled) {
    return atomic_exchange_explicit(&amxEnabled, enabled ? 1 : 0, memory_order_relaxed);
}

// ---- staging: the B operand ----------------------------------------------------------------------------------
// Tokens in groups of 16 (the last one narrower). Group g of width w starts at slot 16 g (inSize / 2); in it, chunk c
// (inputs [32 c, 32 c + 32)) is 16 rows of w slots: slot [c][k][n] holds token 16 g + n's inputs 32 c + 2 k (low
// half) and 32 c + 2 k + 1 (high half) as bf16. Same total size as the row-major staging, [tokenCount, inSize / 2]
// slots; for one token it is the row-major layout itself.

void lk_bf16_stage_amx(float *staged, const float *x, int64_t xStride, int64_t tokenCount, int64_t inSize) {
    uint32_t *slots = (uint32_t *)staged;
    const int64_t pairs = inSize / 2;
    uint16_t rounded[512];  // 256 pairs of one token
    for (int64_t g0 = 0; g0 < tokenCount; g0 += 16) {
        const int64_t width = tokenCount - g0 < 16 ? tokenCount - g0 : 16;
        uint32_t *group = slots + g0 * pairs;
        for (int64_t n = 0; n < width; n++) {
            const float *row = x + (g0 + n) * xStride;
            for (int64_t p0 = 0; p0 < pairs; p0 += 256) {
                const int64_t count = pairs - p0 < 256 ? pairs - p0 : 256;
                lk_f32_to_bf16(rounded, row + 2 * p0, 2 * count);
                for (int64_t q = 0; q < count; q++) {
                    const int64_t p = p0 + q;
                    uint32_t slot;
                    memcpy(&slot, rounded + 2 * q, 4);
                    group[(p / 16) * 16 * width + (p % 16) * width + n] = slot;
                }
            }
        }
    }
}

// ---- the kernel ----------------------------------------------------------------------------------------------
// Tiles 0-3: C (rows x width f32), 4-6: A (rows x 32 bf16 of weights), 7: B (16 pairs x width tokens).

static LK_AMX_TARGET void amx_configure(int rows, int width) {
    lk_tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 4; t++) { config.rows[t] = (uint8_t)rows; config.colsb[t] = (uint16_t)(4 * width); }
    for (int t = 4; t < 7; t++) { config.rows[t] = (uint8_t)rows; config.colsb[t] = 64; }
    config.rows[7] = 16;
    config.colsb[7] = (uint16_t)(4 * width);
    _tile_loadconfig(&config);
}

/// The C tile `tile` (rows x width) into y[t0 + n, o + r], transposed.
#define AMX_STORE(tile, y, yStride, t0, o, rows, width) \
    do { \
        float out[16 * 16]; \
        _tile_stored(tile, out, 64); \
        for (int r_ = 0; r_ < (rows); r_++) \
            for (int n_ = 0; n_ < (width); n_++) (y)[((t0) + n_) * (yStride) + (o) + r_] = out[r_ * 16 + n_]; \
    } while (0)

/// Rows [o, o + 16 * tiles) (tiles 1..4, each of `rows` rows) against one token group; the weights of the rows
/// `ahead` bytes further on are prefetched into L2 while these are computed (0: none).
static inline __attribute__((always_inline)) LK_AMX_TARGET void amx_block(
    float *y, int64_t yStride, const uint32_t *group, int width, int64_t t0, const uint16_t *w, int64_t inSize,
    int64_t o, const int tiles, int rows, int64_t prefetchRows) {
    const int64_t rowBytes = inSize * 2;
    const char *base = (const char *)(w + o * inSize);
    const int64_t chunks = inSize / 32;
    _tile_zero(0);
    if (tiles > 1) _tile_zero(1);
    if (tiles > 2) _tile_zero(2);
    if (tiles > 3) _tile_zero(3);
    // The next block's rows, fetched in address order (one stream the hardware follows), spread over the chunks.
    const char *next = base + (int64_t)16 * tiles * rowBytes;
    const int64_t nextBytes = prefetchRows * rowBytes;
    const int64_t perChunk = chunks > 0 ? (nextBytes / 64 + chunks - 1) / chunks : 0;
    int64_t line = 0;
    for (int64_t c = 0; c < chunks; c++) {
        for (int64_t j = 0; j < perChunk && line * 64 < nextBytes; j++, line++) _mm_prefetch(next + line * 64, _MM_HINT_T1);
        _tile_loadd(7, group + c * 16 * width, 4 * width);
        _tile_loadd(4, base + c * 64, rowBytes);
        _tile_dpbf16ps(0, 4, 7);
        if (tiles > 1) { _tile_loadd(5, base + 16 * rowBytes + c * 64, rowBytes); _tile_dpbf16ps(1, 5, 7); }
        if (tiles > 2) { _tile_loadd(6, base + 32 * rowBytes + c * 64, rowBytes); _tile_dpbf16ps(2, 6, 7); }
        if (tiles > 3) { _tile_loadd(4, base + 48 * rowBytes + c * 64, rowBytes); _tile_dpbf16ps(3, 4, 7); }
    }
    AMX_STORE(0, y, yStride, t0, o, rows, width);
    if (tiles > 1) AMX_STORE(1, y, yStride, t0, o + 16, rows, width);
    if (tiles > 2) AMX_STORE(2, y, yStride, t0, o + 32, rows, width);
    if (tiles > 3) AMX_STORE(3, y, yStride, t0, o + 48, rows, width);
}

#define AMX_PANEL_BYTES (512 * 1024)  // weight rows kept in L2 (2 MiB a core on Sapphire Rapids) while token groups pass

/// y = x w over bf16 weights, x staged by lk_bf16_stage_amx for this tokenCount and inSize (a multiple of 32).
LK_AMX_TARGET void lk_linear_bf16_amx(float *y, int64_t yStride, const float *staged, const void *weights,
                                      int64_t tokenCount, int64_t inSize, int64_t rowBegin, int64_t rowEnd) {
    const uint16_t *w = (const uint16_t *)weights;
    const uint32_t *slots = (const uint32_t *)staged;
    const int64_t pairs = inSize / 2;
    const int64_t rowBytes = inSize * 2;
    // One group: the weights stream once. Several: panels of rows stay in L2 while every token group passes; the
    // first group streams the panel in from memory as a single group would.
    int64_t panelRows = rowEnd - rowBegin;
    if (tokenCount > 16) {
        panelRows = AMX_PANEL_BYTES / rowBytes;
        panelRows -= panelRows % 64;
        if (panelRows < 64) panelRows = 64;
    }
    int configuredRows = 0, configuredWidth = 0;
    for (int64_t p0 = rowBegin; p0 < rowEnd; p0 += panelRows) {
        const int64_t p1 = p0 + panelRows < rowEnd ? p0 + panelRows : rowEnd;
        for (int64_t g0 = 0; g0 < tokenCount; g0 += 16) {
            const int width = (int)(tokenCount - g0 < 16 ? tokenCount - g0 : 16);
            const uint32_t *group = slots + g0 * pairs;
            if (configuredRows != 16 || configuredWidth != width) {
                amx_configure(16, width);
                configuredRows = 16;
                configuredWidth = width;
            }
            int64_t o = p0;
            if (g0 == 0) {
                // Weights from memory: 16 rows a block, each block fetching the next one into L2 in address order.
                // (Four-tile blocks, 64 rows read side by side, or fetching further ahead, measured 15-25% slower:
                // the L2 streamer loses track of that many interleaved rows.)
                for (; o + 16 <= p1; o += 16) {
                    const int64_t left = p1 - (o + 16);
                    amx_block(y, yStride, group, width, g0, w, inSize, o, 1, 16, left < 16 ? left : 16);
                }
            } else {
                for (; o + 64 <= p1; o += 64) amx_block(y, yStride, group, width, g0, w, inSize, o, 4, 16, 0);
                for (; o + 16 <= p1; o += 16) amx_block(y, yStride, group, width, g0, w, inSize, o, 1, 16, 0);
            }
            if (o < p1) {
                const int rows = (int)(p1 - o);
                amx_configure(rows, width);
                configuredRows = rows;
                amx_block(y, yStride, group, width, g0, w, inSize, o, 1, rows, 0);
            }
        }
    }
    _tile_release();
}

#endif
