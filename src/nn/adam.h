/* adam.h: the Adam update exactly as PyTorch 1.13 torch.optim.Adam (single-tensor path, no
 * weight decay, no amsgrad) and the elementwise gradient clamp (spec §5.4).
 * With t the 1-based step number (incremented by the caller before the call):
 *   m = beta1 m + (1 - beta1) g;   v = beta2 v + (1 - beta2) g^2
 *   p -= (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
 * which is p -= lr m_hat / (sqrt(v_hat) + eps) evaluated in torch's order (bias corrections in
 * double, as Python floats). Defaults: beta1 0.9, beta2 0.999, eps 1e-8, lr 1e-3.
 * Parameters whose gradient torch would leave as None (unused in the graph) must simply not be
 * passed: torch skips them, it does not step them with a zero gradient. */
#ifndef CW_NN_ADAM_H
#define CW_NN_ADAM_H

#include "nn/real.h"

#include <stdint.h>

#define CW_ADAM_BETA1 0.9
#define CW_ADAM_BETA2 0.999
#define CW_ADAM_EPS 1e-8

/* adam: params (N), grads (N), m (N), v (N) updated in place; t >= 1 */
void cw_adam_update(real *params, const real *grads, real *m, real *v, int64_t n, double lr,
                    double beta1, double beta2, double eps, int64_t t);
/* adam with the gradient reset fused in: the same update, values bit-identical to
 * cw_adam_update, and grads (N) set to 0 in the same pass (one read of grads instead of a
 * separate memset before the next backward). Anything that reads the gradient (an all-reduce,
 * the clamp) must run before it. */
void cw_adam_update_zero_grad(real *params, real *grads, real *m, real *v, int64_t n, double lr,
                              double beta1, double beta2, double eps, int64_t t);
/* clamp: grads (N) -> each element clamped to [-c, c] (torch.clamp_; NaN stays NaN) */
void cw_grad_clamp(real *grads, int64_t n, real c);

#endif
