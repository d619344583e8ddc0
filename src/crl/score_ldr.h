/* score_ldr.h: classification-based score differences for vector data (spec
 * score_crl_and_temporal.md §A3.3; the authors' GSCALE-I-MLP/model_score_diff.py and
 * train_score_diff.py restated).
 *
 * A network r(x) (DenseLdr: Linear(p, W)-ReLU-[Linear(W, W)-ReLU] x (depth - 2)-Linear(W, 1),
 * W = 64, depth = 3) is trained to tell samples of environment a (label 0) from environment b
 * (label 1) with P(label 1 | x) = 1 / (1 + nu exp(-r(x))), nu = n_a / n_b (the class-prior ratio
 * Pr(0)/Pr(1), as run_score_diff.py sets it), by binary cross-entropy (mean over the batch).
 * At the optimum r(x) = log p_b(x) / p_a(x), so grad_x r(x) ~ s_b(x) - s_a(x).
 * The loss is evaluated in the stable logit form with z = r - log nu:
 *     BCE = y softplus(-z) + (1 - y) softplus(z),   dBCE/dz = sigmoid(z) - y,
 * equal to torch's nn.BCELoss on the probability except where torch clamps log p at -100.
 * Training: both sets pooled and reshuffled every epoch, batch 256 (last partial), Adam lr 1e-2
 * (betas 0.9/0.999, eps 1e-8), learning rate per epoch from cosine annealing with warm restarts
 * (torch CosineAnnealingWarmRestarts, eta_min 0, T0 = epochs/5 + 1, T_mult = 4, stepped after
 * each epoch); the LAST model is kept (the authors' "best" model is only saved to disk).
 * Initialisation: torch's default Linear init U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (substream 1
 * of the seed; shuffling uses substream 2).
 *
 * Storage and compute in `real` (float in the library, double with -DCW_REAL_DOUBLE); the
 * public fit/eval API is double. Parameter layout (flat, torch parameters() order): for each
 * linear layer l = 0..depth-1: W_l (OUT, IN), b_l (OUT).
 */
#ifndef CW_CRL_SCORE_LDR_H
#define CW_CRL_SCORE_LDR_H

#include "causeway.h"
#include "nn/real.h"

#include <stdint.h>

typedef struct {
    int64_t width;  /* 64 */
    int64_t depth;  /* 3 linear layers (>= 2) */
    int64_t epochs; /* 50 */
    int64_t batch;  /* 256 */
    double lr;      /* 1e-2 */
    double beta1;   /* 0.9 */
    double beta2;   /* 0.999 */
    double eps;     /* 1e-8 */
    int64_t t0;     /* first restart period in epochs; 0: epochs / 5 + 1 */
    int64_t t_mult; /* 4 */
} cw_ldr_config;

void cw_ldr_defaults(cw_ldr_config *c);

typedef struct {
    int64_t p, width, depth, nparams;
    real *params;      /* nparams, layout above */
    double log_nu;     /* log(n_a / n_b) */
    int64_t steps;     /* Adam steps taken */
    double train_loss; /* mean BCE of the last epoch's batches (NaN if no epoch ran) */
} cw_ldr;

/* Trains m to separate xa (na x p, label 0) from xb (nb x p, label 1). c NULL means
 * cw_ldr_defaults. CW_EINVAL for na or nb < 2, p < 1, a bad config value, a non-finite sample,
 * or a non-finite loss (message names the epoch and batch); CW_ENOMEM. On failure m is left
 * empty (safe to free). */
cw_status cw_ldr_fit(cw_ldr *m, const double *xa, int64_t na, const double *xb, int64_t nb,
                     int64_t p, const cw_ldr_config *c, uint64_t seed);

/* ds (count x p) = grad_x r(x) at the rows of x (count x p): the estimate of s_b - s_a. */
cw_status cw_ldr_score_diff(const cw_ldr *m, const double *x, int64_t count, double *ds);

/* r (count) = the network's logit r(x) = estimate of log p_b / p_a (up to a constant). */
cw_status cw_ldr_logit(const cw_ldr *m, const double *x, int64_t count, double *r);

void cw_ldr_free(cw_ldr *m);

/* ---- pieces of the fit, exposed for the gradient check ------------------------------------ */

/* Allocates m->params for p -> width^(depth-1) -> 1 and draws torch's default init from
 * substream 1 of seed; sets log_nu. */
cw_status cw_ldr_init(cw_ldr *m, int64_t p, int64_t width, int64_t depth, double log_nu,
                      uint64_t seed);

/* Number of `real` scratch values for a batch of b rows (loss_grad and the input gradient). */
int64_t cw_ldr_scratch_len(const cw_ldr *m, int64_t b);

/* Mean BCE over the batch x (b x p) with labels y (b, 0 or 1) -> *loss; when grad is not NULL
 * the parameter gradient is ACCUMULATED into grad (nparams). Never allocates. */
void cw_ldr_loss_grad(const cw_ldr *m, const real *x, const real *y, int64_t b, double *loss,
                      real *grad, real *scratch);

/* Learning rate of epoch e (0-based) under the config's warm-restart schedule. */
double cw_ldr_lr_at(const cw_ldr_config *c, int64_t epoch);

#endif
