/* finite_sample.h: the sample-complexity paper's algorithm for linear transforms and soft
 * single-node interventions (spec score_crl_and_temporal.md §A4.2; preprocessing §A4.0; metrics
 * §A5 "sample complexity" rows): causal order by the rank-drop eigenvalue rule, the graph up to
 * ancestors (transitive closure) by null-space projectors, and the encoder (top eigenvectors).
 *
 * Inputs as LSCALE-I (lscale.h): n + 1 environments, x[e] (count[e] x d), environment 0
 * observational, ds_x[m-1] = s_0 - s_m at the observational samples. Everything runs on the
 * projected n x n matrices R^m (the authors run the same rules on d x d matrices of rank n; the
 * d - n extra zero eigenvalues shift the eigenvalue index of step 1 from d - t - 1 to n - t - 1).
 * Outputs are indexed by environment (node m-1 = environment m); g_tc[j*n + i] = edge j -> i.
 *
 * Conventions: encoder rows are unit top eigenvectors of R^m with the sign of lifted rows fixed
 * as in LSCALE-I (largest-|entry| positive). In step 2, a set M_tj whose summed correlation has
 * no eigenvalue above atol_eigv has the whole space as null space (projector I), like the empty
 * set (the authors' slicing gives a zero projector there, i.e. a spurious edge).
 */
#ifndef CW_CRL_FINITE_SAMPLE_H
#define CW_CRL_FINITE_SAMPLE_H

#include "causeway.h"
#include "crl/crl_data.h"
#include "crl/metric_list.h"

#include <stdint.h>

typedef struct {
    double atol_eigv; /* 1e-2: eigenvalues <= atol_eigv count as zero (null-space projectors) */
    double atol_orth; /* 1e-1: edge pi_t -> pi_j iff ||P_tj U_t||_2 <= atol_orth */
} cw_fsample_opts;

void cw_fsample_defaults(cw_fsample_opts *o);

typedef struct {
    int64_t n, d;
    double *enc;    /* n x d */
    uint8_t *g_tc;  /* n x n, estimated transitive closure */
    int64_t *order; /* n, estimated causal order (order[0] oldest) */
    double *basis;  /* d x n support basis */
} cw_fsample_result;

cw_status cw_fsample_run(cw_fsample_result *res, const double *const *x, const int64_t *count,
                         const double *const *ds_x, int64_t n, int64_t d,
                         const cw_fsample_opts *o);
void cw_fsample_result_free(cw_fsample_result *r);

/* Step 1 alone on r (n blocks of n x n, R^m at block m-1): order (n); lam (n x n, may be NULL)
 * receives lam[t*n + k] = the (n - t)-th smallest eigenvalue (index n - t - 1) of
 * sum_{i in V_t \ k} R^i at step t = n-1..1 for k still in V_t, NaN otherwise (row 0 all NaN).
 * The youngest node of V_t is argmin_k (first index on ties). */
cw_status cw_fsample_order(int64_t *order, double *lam, const double *r, int64_t n);

/* Step 2 alone: g_tc (n x n) from r and a causal order. */
cw_status cw_fsample_graph(uint8_t *g_tc, const double *r, const int64_t *order, int64_t n,
                           const cw_fsample_opts *o);

/* Metrics against generated data (single-node design, linear mixing): shd_tc (FP + FN against
 * the true transitive closure, cw_dag_shd_directed), precision, recall (1 for 0/0), recovered
 * (1 if shd_tc == 0), enc_err = ||E .* not(I v G^T)||_2 with E the row-normalised effective
 * transform and G the true (goal) DAG, mcc; aliases shd (= shd_tc), mcc. */
cw_status cw_fsample_evaluate(cw_metric_list *out, const cw_fsample_result *r,
                              const cw_crl_data *truth, const cw_fsample_opts *o);

#endif
