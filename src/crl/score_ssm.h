/* score_ssm.h: sliced score matching (spec score_crl_and_temporal.md §A3.2), the authors'
 * score_estimators/ssm.py::score_fn_from_data restated.
 *
 * Model: s(x) = W3 tanh(W2 tanh(W1 x + b1) + b2) + b3, widths p -> H -> H -> p (H = 64).
 * Loss per batch of B rows with K Gaussian slices v_k ~ N(0, I) drawn fresh per batch:
 *     L = (1/B) sum_i [ 1/2 |s(x_i)|^2 + (1/K) sum_k v_ik^T J_s(x_i) v_ik ] + lambda1 sum |theta|^2
 * with J_s = W3 D2 W2 D1 W1, D_l = diag(1 - a_l^2), a_l the tanh activations; the sum over theta
 * runs over every weight and bias (torch parameters()). The term v^T J v is computed by a
 * forward-mode tangent pass u = J v and back-propagated by hand (through D_l, whose derivative
 * is -2 a_l diag(.)). Training: Adam (lr 1e-3, betas 0.5/0.999, eps 1e-8, torch's update),
 * batch 512 (last batch partial), the first count/10 rows held out for a validation loss
 * (reported, no early stopping), rows reshuffled every epoch; torch's default Linear init
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases. The authors' optional diagonal
 * penalty lambda2 belongs to the non-sliced branch, which the default (sliced) run skips: not
 * implemented. Every random draw comes from substreams of the fit's seed (1 init, 2 shuffling,
 * 3 training slices, 4 validation slices).
 *
 * Storage and compute in `real` (float in the library, double when compiled with
 * -DCW_REAL_DOUBLE for the gradient check); the public fit/eval API takes and returns double.
 * Parameter layout (one flat buffer, torch parameters() order):
 *     W1 (H, p), b1 (H), W2 (H, H), b2 (H), W3 (p, H), b3 (p)      [weights (OUT, IN)]
 */
#ifndef CW_CRL_SCORE_SSM_H
#define CW_CRL_SCORE_SSM_H

#include "causeway.h"
#include "nn/real.h"

#include <stdint.h>

typedef struct {
    int64_t hidden;    /* H, 64 */
    int64_t epochs;    /* 20 (authors: 20 LSCALE-I quadratic, 10 MLP SCM / GLM) */
    int64_t batch;     /* 512 */
    int64_t slices;    /* K, 2 */
    double lr;         /* 1e-3 */
    double beta1;      /* 0.5 */
    double beta2;      /* 0.999 */
    double eps;        /* 1e-8 */
    double lambda1;    /* 1e-5 */
    int64_t valid_div; /* 10: the first count / valid_div rows are the validation set; 0: none */
} cw_ssm_config;

void cw_ssm_defaults(cw_ssm_config *c);

typedef struct {
    int64_t p, hidden, nparams;
    real *params;          /* nparams, layout above */
    int64_t steps;         /* Adam steps taken */
    double train_loss;     /* mean training-batch loss of the last epoch (NaN if no epoch) */
    double val_loss_init;  /* validation loss before training (NaN without validation rows) */
    double val_loss;       /* validation loss after the last epoch (NaN without validation) */
} cw_ssm;

/* Trains m on x (count x p). c NULL means cw_ssm_defaults. CW_EINVAL for count < 2, p < 1, a
 * bad config value or a non-finite sample; CW_EINVAL naming the epoch and batch when the loss
 * becomes non-finite; CW_ENOMEM. On failure m is left empty (safe to free). */
cw_status cw_ssm_fit(cw_ssm *m, const double *x, int64_t count, int64_t p,
                     const cw_ssm_config *c, uint64_t seed);

/* s (count x p) = s_theta(x) for the rows of x (count x p). CW_EINVAL for an unfitted model;
 * CW_ENOMEM. */
cw_status cw_ssm_eval(const cw_ssm *m, const double *x, int64_t count, double *s);

void cw_ssm_free(cw_ssm *m);

/* ---- pieces of the fit, exposed for the gradient check and the PyTorch parity test -------- */

/* Allocates m->params for widths p -> hidden -> hidden -> p and draws torch's default init
 * from rng substream 1 of seed (what cw_ssm_fit does first). */
cw_status cw_ssm_init(cw_ssm *m, int64_t p, int64_t hidden, uint64_t seed);

/* Number of `real` scratch values cw_ssm_loss_grad needs for a batch of b rows. */
int64_t cw_ssm_scratch_len(int64_t p, int64_t hidden, int64_t b);

/* Loss L above on the batch x (b x p) with the given slices v (nslices x b x p) and lambda1;
 * *loss receives L (double accumulation). When grad is not NULL, dL/dtheta is ACCUMULATED into
 * grad (nparams). s, if not NULL, receives s_theta(x) (b x p). scratch has
 * cw_ssm_scratch_len(p, hidden, b) values. Never allocates. */
void cw_ssm_loss_grad(const cw_ssm *m, const real *x, const real *v, int64_t b, int64_t nslices,
                      double lambda1, double *loss, real *grad, real *s, real *scratch);

#endif
