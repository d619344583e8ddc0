/* crl_metrics.h: evaluation metrics of the score-based CRL runs (spec §A5), double precision.
 *
 * Linear runs (LSCALE-I, UMNI-CRL, sample complexity): the effective transform E = Ĥ G_goal
 * (n x n) with rows normalised, its incorrect mixing outside a mask (hard I, soft I v G^T,
 * full-rank I v sur^T), the normalised latent error and the MCC of Ẑ = E Z.
 * GSCALE-I: err_fro of the decoder estimate after column normalisation, sign and greedy
 * permutation alignment, and the relative matrix 2-norm error ("MSE").
 * Reporting: mean and standard error std(ddof 0) / sqrt(#ok) over runs, NaN runs skipped.
 *
 * Conventions: matrices are row-major; latent samples are rows (count x n); a graph is the
 * uint8_t adjacency of dag_ops.h (adj[i*n + j] = edge i -> j); a mask is uint8_t (n x n),
 * non-zero = entry allowed.
 */
#ifndef CW_CRL_METRICS_H
#define CW_CRL_METRICS_H

#include "causeway.h"

#include <stdint.h>

/* e (n x n) = h (n x d) g[:, perm] (g is d x n; column k of the product uses node perm[k], perm
 * NULL = identity), then every row normalised: E_k <- sign(E_kk) E_k / ||E_k||_2 (sign(0) = +1,
 * a zero row stays zero). CW_EINVAL for bad sizes or perm not a permutation of 0..n-1. */
cw_status cw_crl_effective_transform(double *e, const double *h, const double *g,
                                     const int64_t *perm, int64_t n, int64_t d);

/* The row normalisation above, in place, on a square e (n x n). */
void cw_crl_normalize_rows(double *e, int64_t n);

typedef enum {
    CW_CRL_MASK_HARD = 0,       /* I: perfect recovery */
    CW_CRL_MASK_PARENTS = 1,    /* I v G^T: (k, l) allowed when l is a parent of k (soft) */
    CW_CRL_MASK_SURROUNDING = 2 /* I v sur^T: l a surrounding parent of k (full-rank variant) */
} cw_crl_mask_kind;

/* mask (n x n) of the allowed entries of E for a goal DAG in the same (goal) order as E's rows
 * and columns (goal_dag may be NULL for CW_CRL_MASK_HARD). CW_EINVAL for an unknown kind. */
cw_status cw_crl_mask(uint8_t *mask, cw_crl_mask_kind kind, const uint8_t *goal_dag, int64_t n);

typedef struct {
    int64_t count; /* #{(k, l) outside the mask : |E_kl| >= atol} */
    double ratio;  /* count / (n^2 - |mask|), 0 when every entry is allowed */
    double norm;   /* spectral norm of E with the allowed entries zeroed */
} cw_crl_mixing;

/* Incorrect mixing of e (n x n) outside mask (atol: ATOL_EFF_NZ, 0.05 LSCALE / 0.1 UMNI). */
cw_status cw_crl_incorrect_mixing(cw_crl_mixing *out, const double *e, const uint8_t *mask,
                                  int64_t n, double atol);

/* Normalised latent error ||Ẑ - Z||_F / ||Z||_F with ẑ_i = E z_i for the rows z_i of z
 * (count x n). CW_EINVAL if count < 1 or Z = 0. */
cw_status cw_crl_latent_error(double *err, const double *e, const double *z, int64_t count,
                              int64_t n);

/* MCC of the linear runs: Ẑ = Z E^T (ẑ_i = E z_i), then cw_mcc(Z, Ẑ) (eval/recovery.h: both
 * centred, |Pearson|, Hungarian matching, mean of the matched entries). match (n, may be NULL)
 * receives the column of Ẑ matched to each true latent. */
cw_status cw_crl_mcc_linear(double *mcc, int64_t *match, const double *e, const double *z,
                            int64_t count, int64_t n);

/* Greedy assignment on |score| (n x n): repeatedly take the largest remaining |entry| (ties:
 * smallest row, then smallest column; NaN counts as smallest), fix that pair, remove its row
 * and column. perm[k] = the column given to row k. CW_EINVAL if n < 1. */
cw_status cw_crl_greedy_permutation(int64_t *perm, const double *score, int64_t n);

/* GSCALE err_fro = ||T - U'||_F / ||T||_F for t, u (d x n): both with unit columns (a zero column
 * stays zero), U' = the columns of U reordered and sign-flipped so that column k of U' is
 * ±(column perm[k] of U) with a non-negative inner product with column k of T. perm (n) may be
 * NULL: then the greedy permutation of the cosines |T^T U|. perm_out (n, may be NULL) receives
 * the permutation used. CW_EINVAL for bad sizes or T = 0. */
cw_status cw_crl_err_fro(double *err, int64_t *perm_out, const double *t, const double *u,
                         int64_t d, int64_t n, const int64_t *perm);

/* Relative matrix 2-norm error ||Ẑ - Z||_2 / ||Z||_2 (largest singular values) of zhat, z
 * (rows x cols): the GSCALE "MSE". CW_EINVAL if Z = 0. */
cw_status cw_crl_rel_spectral_error(double *err, const double *zhat, const double *z,
                                    int64_t rows, int64_t cols);

/* Reporting over R runs: mean and standard error std(ddof 0) / sqrt(n_ok) of the non-NaN values
 * (failed runs are NaN). With no non-NaN value: mean = se = NaN, n_ok = 0, CW_OK. n_ok may be
 * NULL. */
cw_status cw_crl_mean_se(double *mean, double *se, int64_t *n_ok, const double *v, int64_t r);

#endif
