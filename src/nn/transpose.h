/* transpose.h: out-of-place matrix transpose in 8x8 register blocks (AVX2, float build) with
 * scalar edges. Used where a kernel changes layout: the sparse first layer's weight blocks
 * (linear.c) and the GNN encoder's cell-major <-> node-major copies (models/gnn_encoder.c).
 * Pure data movement: the values are copied bit for bit on either path. */
#ifndef CW_NN_TRANSPOSE_H
#define CW_NN_TRANSPOSE_H

#include "nn/real.h"

#include <stdint.h>

#if defined(__AVX2__) && !defined(CW_REAL_DOUBLE)
#include <immintrin.h>
#define CW_TR8_AVX 1
/* r (8 rows of 8 floats) transposed in place */
static inline void cw_tr8(__m256 r[8]) {
    __m256 t[8], s[8];
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 2; k++) {
        s[4 * k + 0] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0x44);
        s[4 * k + 1] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], 0xEE);
        s[4 * k + 2] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0x44);
        s[4 * k + 3] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], 0xEE);
    }
    for (int k = 0; k < 4; k++) {
        r[k] = _mm256_permute2f128_ps(s[k], s[4 + k], 0x20);
        r[4 + k] = _mm256_permute2f128_ps(s[k], s[4 + k], 0x31);
    }
}
#else
#define CW_TR8_AVX 0
#endif

/* dst[j ldd + i] = src[i lds + j] for i < rows, j < cols */
static inline void cw_transpose(real *dst, int64_t ldd, const real *src, int64_t lds,
                                int64_t rows, int64_t cols) {
    int64_t i0 = 0;
#if CW_TR8_AVX
    const int64_t c8 = cols / 8 * 8;
    for (; i0 + 8 <= rows; i0 += 8) {
        for (int64_t j = 0; j < c8; j += 8) {
            __m256 r[8];
            for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(src + (i0 + k) * lds + j);
            cw_tr8(r);
            for (int k = 0; k < 8; k++) _mm256_storeu_ps(dst + (j + k) * ldd + i0, r[k]);
        }
        for (int64_t j = c8; j < cols; j++)
            for (int64_t i = i0; i < i0 + 8; i++) dst[j * ldd + i] = src[i * lds + j];
    }
#endif
    for (int64_t i = i0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) dst[j * ldd + i] = src[i * lds + j];
}

#endif
