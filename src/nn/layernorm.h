/* layernorm.h: layer normalisation over the last dimension (torch.nn.LayerNorm(F), eps 1e-5,
 * elementwise affine), used by the graph intervention encoders (spec grace_cmvae.md §4.5).
 *   mean_n = (1/F) sum_f x_nf,  rstd_n = 1 / sqrt((1/F) sum_f (x_nf - mean_n)^2 + eps)
 *   out_nf = (x_nf - mean_n) rstd_n gamma_f + beta_f
 * Backward accumulates (+=) and needs the forward's input, mean and rstd. */
#ifndef CW_NN_LAYERNORM_H
#define CW_NN_LAYERNORM_H

#include "nn/real.h"

#include <stdint.h>

#define CW_LAYERNORM_EPS 1e-5

/* layernorm: inp (N, F), gamma, beta (F) -> out (N, F), mean, rstd (N). out may not alias inp. */
void cw_layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *gamma,
                          const real *beta, int64_t n, int64_t f);
/* accumulates: dinp (N, F), dgamma, dbeta (F) (any of the three may be NULL); dout (N, F) */
void cw_layernorm_backward(real *dinp, real *dgamma, real *dbeta, const real *dout,
                           const real *inp, const real *mean, const real *rstd,
                           const real *gamma, int64_t n, int64_t f);

#endif
