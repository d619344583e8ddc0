/* linear.h: fully connected layer, out = inp W^T + b (spec §4.0: encoder fc1/fc_mean/fc_var,
 * intervention MLP c1/c2, decoder d1/d2). torch.nn.Linear layout: weight (OUT, IN) row-major.
 * Both directions go through cw_gemm; backward accumulates (+=) into the gradient buffers. */
#ifndef CW_NN_LINEAR_H
#define CW_NN_LINEAR_H

#include "nn/real.h"

#include <stdint.h>

/* linear: inp (N, IN), weight (OUT, IN), bias (OUT) or NULL -> out (N, OUT) */
void cw_linear_forward(real *out, const real *inp, const real *weight, const real *bias,
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

#endif
