/* gscale.h: GSCALE-I, score-based CRL for general transforms with two hard interventions per
 * node (spec §A4.4 GLM / 1-layer tanh, §A4.5 MLP transform; metrics §A5 GSCALE rows).
 *
 * Inputs (both variants): observational samples x (count x d, row-major) and, per node m = 1..n
 * (environments m and m+n of CW_DESIGN_TWO_HARD intervene the same node), the score differences
 * at the observational samples ds_hh[m-1] = s_m - s_{m+n} (count x d; latent support {i_m})
 * and, for the graph step, ds_ho[m-1] = s_m - s_0 (count x d; support pa(i_m) u {i_m}). The
 * signs do not matter (only |.| enters). ds_ho may be NULL: no graph (g all zero).
 *
 * GLM: decoder f_U(zh) = clamp(tanh(U zh), +-(1-1e-6)), encoder h_U(x) = U^+ artanh(clamp(x)),
 *   U (d x n) ~ U[-0.5, 0.5]. D[k][m] = mean_i |(J_i^T ds_hh[m](x_i))_k|, J_i = diag(f'(U zh_i)) U;
 *   loss = mean_k relu(0.5 - D[k][k]) + sum_{k!=m} D[k][m] / (n(n-1))
 *          + lambda_recon (1/N) sum_i ||f_U(h_U(x_i)) - x_i||^2.
 *   Full batch, RMSprop (alpha 0.99, eps 1e-8), lr x lr_gamma after step 0, 1000, 2000, ...
 *   (as the authors' loop), early stop when the main loss < stop_loss at a step = 0 mod 1000.
 * MLP: encoder d -> h -> h -> n, decoder n -> h -> h -> d, tanh hidden, linear outputs (no
 *   softmax, spec §A2.7-5; no LayerNorm, which keeps the Jacobian backward closed-form; width
 *   64 by default instead of the authors' 256 x 3). Per batch: D[m][k] = mean_b |(J_b^T
 *   ds_hh[m])_k|, J_b = df/dzh at zh_b (forward tangents), loss = sum |D - I| + lambda_mse
 *   mean_b ||xh_b - x_b||^2; Adam (torch semantics, L2 weight decay), lr x lr_gamma every
 *   decay_every epochs.
 *
 * Results are put in environment order: after training, a greedy permutation on D_hh (largest
 * entry first, its row and column removed) maps each learned latent to an environment, and the
 * encoder is permuted so that output coordinate j belongs to environment j+1 (GLM: columns of
 * U; MLP: last encoder layer and first decoder layer). perm[j] is the raw latent moved there.
 * DAG: g[j*n + k] = 1 (edge j -> k) iff dhat_ho[j*n + k] > lambda_g (latent j, environment
 * k), diagonal zeroed, then cw_dag_closest. The absolute threshold depends on the latent scale
 * (U has unit columns; the generator's G has max-|entry| columns): with oracle scores on our
 * data edges sit at 0.05-0.4 and non-edges near 1e-3, so lambda_g = 1.0 finds no edge. Row j of
 * dhat_ho divided by dhat[j][j] is invariant to rescaling latent j: lambda_g_rel uses that.
 */
#ifndef CW_CRL_GSCALE_H
#define CW_CRL_GSCALE_H

#include "causeway.h"
#include "crl/crl_data.h"
#include "crl/metric_list.h"

#include <stdint.h>

typedef enum { CW_GSCALE_GLM = 0, CW_GSCALE_MLP } cw_gscale_kind;

typedef struct {
    /* shared */
    double lambda_g;     /* graph threshold on dhat_ho (1.0; the authors' analysis uses 0.5) */
    double lambda_g_rel; /* > 0: use the scale-free rule dhat_ho[j][k] / dhat[j][j] > lambda_g_rel
                            instead (ours; 0 = off, the authors' absolute rule) */
    int verbose;         /* progress lines on stderr every 1000 steps / 10 epochs */
    /* GLM (§A4.4) */
    double glm_lr;          /* 1e-3 */
    double glm_lr_gamma;    /* 0.95 */
    int64_t glm_lr_every;   /* 1000 */
    int64_t glm_max_steps;  /* 20000 */
    double glm_lambda_recon; /* 1.0 */
    double glm_stop_loss;   /* 1e-2 (main loss, checked when step % glm_lr_every == 0) */
    double rms_alpha, rms_eps; /* 0.99, 1e-8 */
    const double *glm_init; /* NULL: U ~ U[-0.5, 0.5] from the seed; else d x n start (tests) */
    /* MLP (§A4.5) */
    int64_t mlp_hidden;     /* 64 (authors 256, three hidden layers) */
    int64_t mlp_epochs;     /* 100 (authors 200) */
    int64_t mlp_batch;      /* 256 */
    double mlp_lr;          /* 1e-3 (authors 1e-5 with width 256) */
    double mlp_lr_gamma;    /* 0.1 */
    int64_t mlp_decay_every; /* 50 epochs (authors: x0.1 at epoch 100 of 200) */
    double mlp_weight_decay; /* 1e-4 (torch Adam L2) */
    double mlp_lambda_mse;  /* 100 */
    double adam_beta1, adam_beta2, adam_eps; /* 0.9, 0.999, 1e-8 */
    int64_t mlp_threads;    /* OpenMP threads over the samples of a batch (1; results depend on
                               the thread count through the order of the gradient sums) */
} cw_gscale_opts;

void cw_gscale_defaults(cw_gscale_opts *o);

/* Parameter layout of the MLP (one flat buffer, in this order):
 * encoder W1 (h x d), b1 (h), W2 (h x h), b2 (h), W3 (n x h), b3 (n);
 * decoder V1 (h x n), c1 (h), V2 (h x h), c2 (h), V3 (d x h), c3 (d). Weights act as y = W x. */
int64_t cw_gscale_mlp_param_count(int64_t d, int64_t n, int64_t h);

typedef struct {
    cw_gscale_kind kind;
    int64_t n, d, hidden; /* hidden: MLP width (0 for GLM) */
    double *u;            /* GLM: d x n, unit columns, u[0][k] >= 0, environment order */
    double *params;       /* MLP: cw_gscale_mlp_param_count doubles, environment order */
    int64_t *perm;        /* n: raw learned latent placed at environment position j */
    uint8_t *g;           /* n x n estimated DAG over environments (edge j -> k) */
    double *dhat;         /* n x n D_hh (latent j, environment k), environment order */
    double *dhat_ho;      /* n x n D_ho, same indexing (zero when ds_ho was NULL) */
    int64_t steps;        /* GLM optimiser steps / MLP epochs done */
    double final_loss;    /* GLM: main loss at the last step; MLP: mean total loss, last epoch */
    double final_recon;   /* reconstruction term at the end (GLM: at the last step) */
    double lambda_g, lambda_g_rel; /* the graph rule the run used (opts) */
} cw_gscale_result;

cw_status cw_gscale_glm_run(cw_gscale_result *res, const double *x, int64_t count, int64_t d,
                            int64_t n, const double *const *ds_hh, const double *const *ds_ho,
                            const cw_gscale_opts *o, uint64_t seed);

cw_status cw_gscale_mlp_run(cw_gscale_result *res, const double *x, int64_t count, int64_t d,
                            int64_t n, const double *const *ds_hh, const double *const *ds_ho,
                            const cw_gscale_opts *o, uint64_t seed);

/* z_hat (count x n) = the learned encoder applied to x (count x d), environment order. */
cw_status cw_gscale_encode(const cw_gscale_result *r, const double *x, int64_t count,
                           double *z_hat);

void cw_gscale_result_free(cw_gscale_result *r);

/* g (n x n) = the graph of r's dhat_ho under lambda_g (absolute) or, if lambda_rel > 0, the
 * relative rule; zero diagonal, closest DAG. */
cw_status cw_gscale_graph(uint8_t *g, const cw_gscale_result *r, double lambda_g,
                          double lambda_rel);

/* Metrics (§A5) against generated two-hard data (truth->has_truth, design two-hard):
 * mcc (encoder on truth->x[0] vs truth->z[0], cw_mcc), err_fro (GLM only: cw_crl_err_fro of
 * T = mixing g in environment order vs U, whose columns are already in environment order by
 * the algorithm's greedy D permutation, as in the authors' script; unit columns, signs
 * aligned), z_err (cw_crl_rel_spectral_error ||Zh - Z||_2 / ||Z||_2, Z in environment order,
 * each Zh column first given the least-squares scale onto its Z column: the latents are
 * identifiable up to scaling only; ours), shd, precision, recall (vs adj permuted to
 * environment order, cw_dag_*; 0/0 -> 0), recovered (shd == 0), n_edges_hat, steps.
 * lambda_g >= 0 rebuilds the graph from dhat_ho with that absolute threshold (or r's relative
 * rule when the run used one); lambda_g < 0 uses r->g. */
cw_status cw_gscale_evaluate(cw_metric_list *out, const cw_gscale_result *r,
                             const cw_crl_data *truth, double lambda_g);

/* The node intervened by environment j+1 (two-hard design), j = 0..n-1 -> order (n).
 * CW_EINVAL when an environment does not intervene exactly one node. */
cw_status cw_gscale_env_order(int64_t *order, const cw_crl_data *truth);

/* --- internals exposed for gradient checks and the PyTorch parity test --- */

/* GLM loss at U (d x n, raw, no permutation) over all count samples; grad (d x n, may be
 * NULL) = dL/dU, overwritten. dhat (n x n, may be NULL) receives D; main / recon (may be NULL)
 * the two parts; loss = main + lambda_recon recon. */
cw_status cw_gscale_glm_loss(double *loss, double *main, double *recon, double *dhat,
                             double *grad, const double *u, const double *x, int64_t count,
                             int64_t d, int64_t n, const double *const *ds, double lambda_recon);

/* D (n x n, latent k, environment m) for score differences ds at the samples, for U. */
cw_status cw_gscale_glm_dhat(double *dhat, const double *u, const double *x, int64_t count,
                             int64_t d, int64_t n, const double *const *ds);

/* One torch-semantics RMSprop step: v = alpha v + (1 - alpha) g^2, p -= lr g / (sqrt(v) + eps). */
void cw_rmsprop_step(double *p, double *v, const double *g, int64_t count, double lr,
                     double alpha, double eps);

/* MLP loss on the samples rows[0..b-1] of x (rows NULL: the first b rows); grad (param count,
 * may be NULL) overwritten with dL/dparams (weight decay not included). */
cw_status cw_gscale_mlp_loss(double *loss, double *jac_term, double *mse, double *grad,
                             const double *params, int64_t d, int64_t n, int64_t h,
                             const double *x, const double *const *ds, const int64_t *rows,
                             int64_t b, double lambda_mse);

/* Initial MLP parameters: torch nn.Linear default (weights and biases U(+-1/sqrt(fan_in))). */
void cw_gscale_mlp_init(double *params, int64_t d, int64_t n, int64_t h, uint64_t seed);

#endif
