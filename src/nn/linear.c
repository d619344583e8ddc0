/* linear.c: fully connected layer and its masked variant, forward/backward (linear.h, spec §4.0,
 * doc/models.md SENA). */
#include "nn/linear.h"

void cw_linear_forward(real *out, const real *inp, const real *weight, const real *bias,
                       int64_t n, int64_t in, int64_t out_dim) {
    if (bias) {
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < out_dim; o++) out[i * out_dim + o] = bias[o];
    }
    /* out (N, OUT) = inp (N, IN) W^T (IN, OUT) [+ out] */
    cw_gemm(0, 1, n, out_dim, in, 1, inp, in, weight, in, bias ? 1 : 0, out, out_dim);
}

void cw_linear_backward(real *dinp, real *dweight, real *dbias, const real *dout,
                        const real *inp, const real *weight, int64_t n, int64_t in,
                        int64_t out_dim) {
    /* dinp (N, IN) += dout (N, OUT) W (OUT, IN) */
    if (dinp) cw_gemm(0, 0, n, in, out_dim, 1, dout, out_dim, weight, in, 1, dinp, in);
    /* dweight (OUT, IN) += dout^T (OUT, N) inp (N, IN) */
    if (dweight) cw_gemm(1, 0, out_dim, in, n, 1, dout, out_dim, inp, in, 1, dweight, in);
    if (dbias) cw_bias_backward(dbias, dout, n, out_dim);
}

void cw_bias_forward(real *out, const real *bias, int64_t n, int64_t out_dim) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out_dim; o++) out[i * out_dim + o] += bias[o];
}

void cw_bias_backward(real *dbias, const real *dout, int64_t n, int64_t out_dim) {
    /* row by row over blocks of columns (contiguous reads, vectorised); every column still sums
     * its rows in order 0..n-1, in double */
    enum { BLK = 512 };
    double s[BLK];
    for (int64_t o0 = 0; o0 < out_dim; o0 += BLK) {
        const int64_t w = out_dim - o0 < BLK ? out_dim - o0 : BLK;
        for (int64_t o = 0; o < w; o++) s[o] = 0;
        for (int64_t i = 0; i < n; i++) {
            const real *row = dout + i * out_dim + o0;
            for (int64_t o = 0; o < w; o++) s[o] += row[o];
        }
        for (int64_t o = 0; o < w; o++) dbias[o0 + o] += (real)s[o];
    }
}

void cw_masked_linear_forward(real *out, real *weff, const real *inp, const real *weight,
                              const real *mask, const real *bias, int64_t n, int64_t in,
                              int64_t out_dim) {
    for (int64_t i = 0; i < out_dim * in; i++) weff[i] = weight[i] * mask[i];
    cw_linear_forward(out, inp, weff, bias, n, in, out_dim);
}

void cw_masked_linear_backward(real *dinp, real *dweight, real *dbias, real *dscratch,
                               const real *dout, const real *inp, const real *weff,
                               const real *mask, int64_t n, int64_t in, int64_t out_dim) {
    /* dinp += dout (W o M), dbias += sum_n dout */
    cw_linear_backward(dinp, NULL, dbias, dout, inp, weff, n, in, out_dim);
    if (dweight) {
        /* dscratch (OUT, IN) = dout^T (OUT, N) inp (N, IN); dweight += dscratch o M */
        cw_gemm(1, 0, out_dim, in, n, 1, dout, out_dim, inp, in, 0, dscratch, in);
        for (int64_t i = 0; i < out_dim * in; i++) dweight[i] += dscratch[i] * mask[i];
    }
}
