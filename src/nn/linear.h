/* linear.h: fully connected layer, out = inp W^T + b (spec §4.0: encoder fc1/fc_mean/fc_var,
 * intervention MLP c1/c2, decoder d1/d2). torch.nn.Linear layout: weight (OUT, IN) row-major.
 * Both directions go through cw_gemm; backward accumulates (+=) into the gradient buffers. */
#ifndef CW_NN_LINEAR_H
#define CW_NN_LINEAR_H

#include "la/matrix.h"
#include "nn/real.h"

#include <stdint.h>

/* linear: inp (N, IN), weight (OUT, IN), bias (OUT) or NULL -> out (N, OUT) */
void cw_linear_forward(real *out, const real *inp, const real *weight, const real *bias,
                       int64_t n, int64_t in, int64_t out_dim);
/* linear then LeakyReLU: out (N, OUT) = lrelu(inp W^T + b), bias required; the GEMM writes out
 * (beta 0) and one pass adds the bias and applies the activation (no bias fill before the GEMM,
 * no separate activation pass after it) */
void cw_linear_lrelu_forward(real *out, const real *inp, const real *weight, const real *bias,
                             int64_t n, int64_t in, int64_t out_dim);
/* accumulates: dinp (N, IN) += dout W, dweight (OUT, IN) += dout^T inp,
 * dbias (OUT) += sum_n dout; dout (N, OUT). Any of dinp, dweight, dbias may be NULL. */
void cw_linear_backward(real *dinp, real *dweight, real *dbias, const real *dout,
                        const real *inp, const real *weight, int64_t n, int64_t in,
                        int64_t out_dim);

/* bias: out (N, OUT) += bias (OUT) on every row (the bias of a layer whose linear part runs
 * elsewhere, e.g. after a graph aggregation) */
void cw_bias_forward(real *out, const real *bias, int64_t n, int64_t out_dim);
/* accumulates: dbias (OUT) += column sums of dout (N, OUT), in double */
void cw_bias_backward(real *dbias, const real *dout, int64_t n, int64_t out_dim);

/* masked linear (the SENA pathway layer, doc/models.md): out = inp (W o M)^T + b with a fixed
 * mask M (OUT, IN) multiplied elementwise into the weight. weff (OUT, IN) is scratch that
 * receives W o M (backward reuses it). */
void cw_masked_linear_forward(real *out, real *weff, const real *inp, const real *weight,
                              const real *mask, const real *bias, int64_t n, int64_t in,
                              int64_t out_dim);
/* accumulates: dinp += dout (W o M) (dinp may be NULL), dweight += (dout^T inp) o M, dbias +=
 * sum_n dout; weff as left by forward; dscratch (OUT, IN) scratch. */
void cw_masked_linear_backward(real *dinp, real *dweight, real *dbias, real *dscratch,
                               const real *dout, const real *inp, const real *weff,
                               const real *mask, int64_t n, int64_t in, int64_t out_dim);

/* sparse-input linear (issue #6 item 3): the input x (N, IN) is a CSR matrix (rows 0..N-1 of
 * xs, N = xs->nrows, IN = xs->ncols, column indices strictly increasing within a row as cw_csr
 * promises; float values whatever `real` is) and only its stored entries are visited: 2 nnz OUT
 * flops per product instead of 2 N IN OUT. The weight is (OUT, ldw) row-major with ldw >= IN,
 * of which columns [0, IN) are used (a layer whose input is x followed by dense columns runs
 * those through cw_gemm at column IN). Both directions work over blocks of CW_LINEAR_CSR_BLOCK
 * input columns, in a scratch `wt` of (block, OUT): forward transposes the block's weight
 * columns into it and adds each row's entries' rows of it to the output row; backward sums each
 * column's entries' x_ij dout_i into it (the block in CSC form) and adds its transpose to
 * dweight. Values equal the dense layer's up to summation order: each output sums its entries in
 * increasing column order after the bias, each weight-gradient element its rows in increasing
 * order (the float AVX2 path and the plain one give the same bits). Blocks without entries are
 * skipped. The input columns are cut into min(CW_LINEAR_CSR_CHUNKS, blocks) chunks of whole
 * blocks, a count fixed by IN, and OpenMP threads share the chunks (above 2^18 nnz OUT; not
 * inside a parallel region): backward, each chunk writes its own columns of dweight; forward,
 * each chunk sums its entries into its own partial output (chunk 0 into out, after the bias) and
 * the partials are added to out in chunk order. So the bits are the same at any thread count.
 * Scratch: wt cw_linear_csr_scratch_size(N, OUT) reals, iwork cw_linear_csr_iwork_size(N)
 * int64. */
#define CW_LINEAR_CSR_BLOCK 64
#define CW_LINEAR_CSR_CHUNKS 4
static inline int64_t cw_linear_csr_scratch_size(int64_t n, int64_t out_dim) {
    return CW_LINEAR_CSR_CHUNKS * CW_LINEAR_CSR_BLOCK * out_dim +
           (CW_LINEAR_CSR_CHUNKS - 1) * n * out_dim;
}
static inline int64_t cw_linear_csr_iwork_size(int64_t n) {
    return CW_LINEAR_CSR_CHUNKS * (n + CW_LINEAR_CSR_BLOCK + 1 + 2 * CW_LINEAR_CSR_BLOCK * n);
}
/* linear, CSR input: xs (N, IN), weight (OUT, ldw), bias (OUT) or NULL -> out (N, OUT) */
void cw_linear_forward_csr(real *out, const cw_csr *xs, const real *weight, int64_t ldw,
                           const real *bias, int64_t out_dim, real *wt, int64_t *iwork);
/* accumulates: dweight (OUT, ldw) columns [0, IN) += dout^T x, dbias (OUT) += sum_n dout (NULL
 * to skip); dout (N, OUT). No input gradient (x is data). */
void cw_linear_backward_csr(real *dweight, real *dbias, const real *dout, const cw_csr *xs,
                            int64_t ldw, int64_t out_dim, real *wt, int64_t *iwork);

#endif
