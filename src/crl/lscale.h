/* lscale.h: LSCALE-I, linear score-based causal latent estimation via single-node
 * interventions (spec score_crl_and_temporal.md §A4.0 preprocessing, §A4.1 stages L1-L3 and the
 * "full-rank score differences" variant (Algorithm 2), §A5 metrics).
 *
 * Inputs: n + 1 environments, x[e] (count[e] x d, row-major), environment 0 observational;
 * ds_x[m-1] (count[0] x d) = s_0 - s_m evaluated at the observational samples x[0], m = 1..n.
 * Outputs are indexed by environment: encoder row m-1 and graph node m-1 belong to environment
 * m (as in the authors' code). Graphs: uint8_t n x n, g[j*n + i] != 0 is the edge j -> i.
 *
 * Conventions (ours, documented because the paper leaves them free):
 *   - Stage L1 row = top eigenvector of R^m; its sign is fixed so that the entry of largest
 *     |value| of the LIFTED row (B_n v, in R^d; first such entry on ties) is positive. This makes
 *     every output independent of the sign/rotation of the support basis B_n.
 *   - Normalisation (§A4.1): the estimated decoder A = B_n pinv(H_n) has its columns divided by
 *     their max |entry|; H_n <- pinv(B_n^T A). Positive scales, so signs are kept.
 *   - Stage L3 does not renormalise the unmixed rows (as the authors' code).
 *   - Full-rank variant: column space of a correlation matrix R = eigenvectors with eigenvalue
 *     > tol (absolute, as the authors: atol_eigv for the graph, atol_intersect for the encoder).
 *     The dimension of an intersection is computed as rank A + rank B - rank [A B], i.e. the
 *     null space of [U_A, -U_B] with relative singular-value tolerance rtol_rank (instead of
 *     the authors' Zassenhaus QR with an absolute 1e-4), and the intersection basis is U_A a over
 *     that null space. The encoder row is the unit vector of the intersection of
 *     col(R^i), i in ch(m) u {m}, with the largest energy v^T R^m v (top eigenvector of R^m
 *     restricted to the intersection; the authors take an arbitrary basis vector), sign as L1;
 *     an empty intersection keeps the (normalised) L1 row.
 */
#ifndef CW_CRL_LSCALE_H
#define CW_CRL_LSCALE_H

#include "causeway.h"
#include "crl/crl_data.h"
#include "crl/crl_metrics.h"
#include "crl/metric_list.h"

#include <stdint.h>

/* ---- §A4.0 preprocessing, shared with the sample-complexity algorithm (finite_sample.h) ---- */

typedef struct {
    int64_t n, d;
    double *basis; /* d x n, orthonormal basis of the support of x (cw_crl_support_basis) */
    double *r;     /* n blocks of n x n: R^m = E_obs[ds_n ds_n^T] at block m-1, ds_n = B_n^T ds_x */
    double *xcov;  /* n + 1 blocks of n x n: centred covariance (divisor count) of B_n^T x per
                      environment, or NULL when not requested */
} cw_lin_prep;

/* CW_EINVAL for n < 1, d < n, an environment with < 2 samples, NULL arrays, or non-finite
 * score differences (message names the environment). */
cw_status cw_lin_prepare(cw_lin_prep *p, const double *const *x, const int64_t *count,
                         const double *const *ds_x, int64_t n, int64_t d, int with_cov);
void cw_lin_prep_free(cw_lin_prep *p);

/* Top eigenvector of the symmetric r (n x n) -> v (n), sign fixed by the largest |entry| of
 * basis v (d, basis d x n; basis NULL: of v itself) being positive. */
cw_status cw_lin_top_eigvec(double *v, const double *r, const double *basis, int64_t n,
                            int64_t d);

/* ---- LSCALE-I ---- */

typedef struct {
    double atol_edge;      /* 1e-3: edge j -> m iff diag(R_Z^m)_j >= atol_edge (stages L2, L3) */
    double atol_eigv;      /* 1e-2: eigenvalue threshold of the column spaces (Algorithm 2 graph) */
    double atol_intersect; /* 1e-6: eigenvalue threshold of the column spaces (Algorithm 2 encoder) */
    double rtol_rank;      /* 1e-3: relative singular-value tolerance of rank [U_A U_B] */
    int hard;              /* 1: run stage L3 (hard interventions) */
    int full_rank;         /* 0: run Algorithm 2 (full-rank score differences) */
    int hard_and_soft;     /* 1: g_h &= g_s (the authors' hard_graph_postprocess) */
    int full_and_soft;     /* 0: g_f &= g_s (the authors' soft_graph_postprocess) */
} cw_lscale_opts;

void cw_lscale_defaults(cw_lscale_opts *o);

typedef struct {
    int64_t n, d;
    double *enc_s, *enc_h, *enc_f; /* n x d each, NULL when the stage did not run */
    uint8_t *g_s, *g_h, *g_f;      /* n x n, NULL when the stage did not run */
    int64_t *order;                /* n, topological order of g_s (Kahn, smallest index first) */
    int64_t *order_h;              /* n, topological order of g_h (NULL without L3) */
    double *basis;                 /* d x n support basis */
    /* n x n, rz_s[j*n + i] = diag(R_Z^{i+1})_j: the score-difference energy of estimated latent
       j in environment i+1, before thresholding (lets a caller sweep atol_edge); rz_h after L3,
       rz_f with the full-rank encoder (its decoder columns max-|entry| normalised in R^n). */
    double *rz_s, *rz_h, *rz_f;
} cw_lscale_result;

/* n + 1 environments. res is overwritten (free a previous result first). */
cw_status cw_lscale_run(cw_lscale_result *res, const double *const *x, const int64_t *count,
                        const double *const *ds_x, int64_t n, int64_t d, const cw_lscale_opts *o);
void cw_lscale_result_free(cw_lscale_result *r);

/* Metrics of §A5/§A6.3 against generated data (single-node design; truth->z and the linear
 * mixing needed). Goal order perm[m-1] = node of environment m, goal DAG = adj permuted by
 * perm, E = enc G_goal with rows normalised (sign(E_kk), sign(0) taken as +1).
 *   hard (when enc_h): shd_h precision_h recall_h mcc_h mix_count_h mix_ratio_h mix_norm_h
 *                      (mask I);
 *   soft:  shd_s_tr shd_s_tc precision_s recall_s (vs transitive reductions) mcc_s mix_count_s
 *          mix_ratio_s mix_norm_s (mask I v G^T);
 *   full (when enc_f): shd_f precision_f recall_f mcc_f mix_count_f mix_ratio_f mix_norm_f
 *          (mask I v sur^T, from the full-rank encoder itself, cf. §A2.7-9);
 *   aliases: shd, mcc = the hard stage's when it ran, else shd_s_tr, mcc_s.
 * Precision/recall use 0 for 0/0. Incorrect mixing: #{(k,l) outside the mask: |E_kl| >=
 * atol_eff_nz}, ratio = # / (n^2 - |mask|) (0 when the mask is full), norm = spectral norm of
 * E outside the mask. Existing entries of out are kept (overwritten by name). */
cw_status cw_lscale_evaluate(cw_metric_list *out, const cw_lscale_result *r,
                             const cw_crl_data *truth, const cw_lscale_opts *o,
                             double atol_eff_nz);

/* ---- evaluation helpers shared with finite_sample.c (metrics from crl_metrics.h) ---- */

/* Goal permutation of a single-node design: perm[m-1] = the node intervened in environment m.
 * CW_EINVAL unless truth has n + 1 environments, each m >= 1 intervening exactly one node. */
cw_status cw_lin_goal_perm(int64_t *perm, const cw_crl_data *truth);

/* One stage's MCC and incorrect mixing (crl_metrics.h): E = enc G[:, perm] row-normalised,
 * MCC between the goal latents z_obs[:, perm] and E z_obs, mixing of E outside mask. */
cw_status cw_lin_stage_metrics(double *mcc, cw_crl_mixing *mix, const double *enc,
                               const cw_crl_data *t, const int64_t *perm, const uint8_t *mask,
                               double atol_eff_nz);

#endif
