/* dropout.h: inverted dropout (torch.nn.Dropout in training mode), spec grace_cmvae.md §4.5.
 *   mask_i = 0 with probability p, else 1/(1-p);  out_i = inp_i mask_i
 * The mask is drawn from the caller's rng (one uniform per element, in order) and kept for
 * backward. p = 0 gives mask 1 and draws nothing (evaluation mode passes p = 0). */
#ifndef CW_NN_DROPOUT_H
#define CW_NN_DROPOUT_H

#include "core/rng.h"
#include "nn/real.h"

#include <stdint.h>

/* dropout: inp (N), p in [0, 1) -> out (N), mask (N); out may alias inp */
void cw_dropout_forward(real *out, real *mask, const real *inp, double p, int64_t n, cw_rng *rng);
/* accumulates: dinp (N) += dout mask */
void cw_dropout_backward(real *dinp, const real *dout, const real *mask, int64_t n);

#endif
