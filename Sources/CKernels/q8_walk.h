// The walk of an int8-compute linear over Q8_0 weights (rows, panels, token tiles, prefetch), written once and
// included by q8.c for each ISA after it defines:
//   Q8_TARGET, Q8_NAME(name)      function attribute and name suffix of the instance
//   Q8_ROWS, Q8_TOKENS            rows x tokens of the register tile when tokenCount > 1
//   Q8_PANEL_BYTES                bytes of weight rows kept in L2 while every token tile passes by
//   Q8_NAME(tile)(y, yStride, m, o, t, R, T, pf)   outputs y[t + j, o + r] for r < R, j < T, prefetching the same
//                                 bytes of the R rows at pf (NULL: none) as it walks its own rows
// It undefines those macros at its end. Every output is computed by the tile's one arithmetic sequence whatever R, T and the walk, so the bits never
// depend on tokenCount, the row range or threads (the batch-invariance contract of lingkernels.h).

#define Q8_AI static inline __attribute__((always_inline)) Q8_TARGET

/// Rows [p0, p1) against tokens [t, t + T): register tiles of Q8_ROWS rows, then single rows. With pfAhead, each
/// tile prefetches the rows pfAhead rows further on that lie before pfEnd (rows of this matrix, or of the next
/// panel).
Q8_AI void Q8_NAME(row_tiles)(float *y, int64_t yStride, const q8_matrix *m, int64_t p0, int64_t p1, int64_t t,
                              const int T, int64_t pfAhead, int64_t pfEnd) {
    int64_t o = p0;
    for (; o + Q8_ROWS <= p1; o += Q8_ROWS) {
        const uint8_t *pf = pfAhead > 0 && o + pfAhead + Q8_ROWS <= pfEnd ? m->w + (o + pfAhead) * m->rowBytes : NULL;
        Q8_NAME(tile)(y, yStride, m, o, t, Q8_ROWS, T, pf);
    }
    for (; o < p1; o++) Q8_NAME(tile)(y, yStride, m, o, t, 1, T, NULL);
}

Q8_AI void Q8_NAME(token_tiles)(float *y, int64_t yStride, const q8_matrix *m, int64_t p0, int64_t p1,
                                int64_t tokenCount, int64_t pfTile, int64_t pfAhead, int64_t pfEnd) {
    int64_t t = 0;
    for (; t + Q8_TOKENS <= tokenCount; t += Q8_TOKENS)
        Q8_NAME(row_tiles)(y, yStride, m, p0, p1, t, Q8_TOKENS, t == pfTile ? pfAhead : 0, pfEnd);
    switch (tokenCount - t) {
    case 1: Q8_NAME(row_tiles)(y, yStride, m, p0, p1, t, 1, t == pfTile ? pfAhead : 0, pfEnd); break;
    case 2: Q8_NAME(row_tiles)(y, yStride, m, p0, p1, t, 2, t == pfTile ? pfAhead : 0, pfEnd); break;
    case 3: Q8_NAME(row_tiles)(y, yStride, m, p0, p1, t, 3, t == pfTile ? pfAhead : 0, pfEnd); break;
    case 4: Q8_NAME(row_tiles)(y, yStride, m, p0, p1, t, 4, t == pfTile ? pfAhead : 0, pfEnd); break;
    case 5: Q8_NAME(row_tiles)(y, yStride, m, p0, p1, t, 5, t == pfTile ? pfAhead : 0, pfEnd); break;
    default: break;
    }
}

Q8_TARGET void Q8_NAME(lk_linear_q8_int8)(float *y, int64_t yStride, const float *staged, int64_t stagedStride,
                                          const void *w, int64_t tokenCount, int64_t inSize, int64_t rowBegin,
                                          int64_t rowEnd) {
    const int64_t blocks = inSize / LK_Q8_BLOCK;
    const q8_matrix m = {(const uint8_t *)w, blocks * LK_Q8_BLOCK_BYTES, blocks, (const char *)staged,
                         stagedStride * 4};
    // Where rows stream from memory once, the tile fetches the rows two tiles ahead as it goes, whatever the row
    // length: rows under 4 KiB (every expert matrix of Ling-mini) never train the hardware prefetcher, and on an
    // Intel Xeon with AVX512-FP16 the 5440-byte rows of dense down read 12 GB/s on one core without it, 15 with it.
    if (tokenCount <= Q8_TOKENS) {
        Q8_NAME(token_tiles)(y, yStride, &m, rowBegin, rowEnd, tokenCount, 0, 2 * Q8_ROWS, rowEnd);
        return;
    }
    // A panel of rows that fits in L2 is read from memory once and reused by every token tile; the second token
    // tile brings the next panel into L2.
    int64_t panelRows = Q8_PANEL_BYTES / m.rowBytes;
    panelRows -= panelRows % Q8_ROWS;
    if (panelRows < Q8_ROWS) panelRows = Q8_ROWS;
    for (int64_t p0 = rowBegin; p0 < rowEnd; p0 += panelRows) {
        const int64_t p1 = p0 + panelRows < rowEnd ? p0 + panelRows : rowEnd;
        Q8_NAME(token_tiles)(y, yStride, &m, p0, p1, tokenCount, Q8_TOKENS, p1 - p0, rowEnd);
    }
}

#undef Q8_AI
#undef Q8_TARGET
#undef Q8_NAME
#undef Q8_ROWS
#undef Q8_TOKENS
#undef Q8_PANEL_BYTES
