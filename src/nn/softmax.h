/* softmax.h: row-wise softmax with an inverse temperature (spec §4.0, intervention encoder
 * bc = softmax_row(tau * logits); larger tau is sharper; tau = 1 at evaluation).
 *   p_k = exp(tau l_k - max) / sum_k' exp(tau l_k' - max)
 *   dl_k = tau p_k (dp_k - sum_k' dp_k' p_k')
 * Backward accumulates (+=) into dlogits and needs only the forward's output. */
#ifndef CW_NN_SOFTMAX_H
#define CW_NN_SOFTMAX_H

#include "nn/real.h"

#include <stdint.h>

/* softmax: logits (N, C), tau -> probs (N, C) = softmax_row(tau logits); probs may alias logits */
void cw_softmax_forward(real *probs, const real *logits, real tau, int64_t n, int64_t c);
/* accumulates: dlogits (N, C) += tau p (dprobs - sum_k dprobs_k p_k), per row */
void cw_softmax_backward(real *dlogits, const real *dprobs, const real *probs, real tau,
                         int64_t n, int64_t c);

#endif
