/* umni.h: UMNI-CRL, linear causal representation learning from unknown multi-node
 * interventions (spec §A4.3, preprocessing §A4.0, evaluation §A5 and the UMNI rows of §A6.3).
 *
 * Inputs: environments e = 0..n (x[e] count[e] x d, row-major; 0 observational) and the score
 * differences ds_x[m-1] = s_0 - s_m (count[0] x d) at the observational samples, m = 1..n.
 * Everything runs in the n-dimensional support of the data (cw_crl_support_basis); R^{ij} =
 * E[ds^i ds^j^T] (projected, uncentred) for all environment pairs, and a weight vector w in Z^n
 * gives R_w = sum_ij w_i w_j R^{ij}, the correlation matrix of sum_m w_m ds^m.
 *
 * Step 1 (causal order + encoder): for t = 0..n-1 the candidates w in {-kappa..kappa}^n \ {0}
 * are tried in a fixed order (cw_umni_weights) and the first success is accepted: rank(R_w) =
 * #eigenvalues > atol_eigv with basis U_w; N_t = orthonormal basis of the complement of the rows
 * found so far (complete QR); success iff #singular values of N_t^T U_w > atol_proj is 1; row t
 * = the top left singular vector of U_w U_w^T N_t, column t of W = w / gcd(w).
 * The authors' code scans {-kappa..kappa}^n lexicographically from (-kappa, ..., -kappa) and
 * accepts the first hit, which favours negative, large weights; we scan in increasing l1 norm
 * (the spec's recommendation), so a single-node design (D = I) finds unit vectors first. The
 * outcome is equivalent up to row order, sign and scale when the ranks are exact.
 * Step 2 (up to ancestors): for t = n-1..0, j = t+1..n-1 without a known t -> j: the pairs
 * (a, b), a in [-|W_j|_1, |W_j|_1], b in [1, |W_t|_1], in increasing |a| + b (ties: smaller b,
 * then a = 0, 1, -1, 2, -2, ...), w' = a W_t + b W_j; M = {i < j, i != t, no t -> i}; if the
 * basis of R_w' projected on the complement of the rows M has rank 1, row j and W_j are replaced
 * (pi_t is not an ancestor of pi_j); if no pair works, t -> j and j's descendants join t's.
 * Step 3 (hard, optional): rows t = 1..n-1 with ancestors an (in g_s): u_e = -C_e[an,an]^{-1}
 * C_e[an,t] for the covariance C_e of the current latent estimate in environment e; the first
 * environment m (ascending) with W_c[m-1, t] != 0 and |u_m - u_0|_2 > atol_coef is taken as one
 * where pi_t is intervened, and row t += u_m^T H[an] (the step-1 W_c, as the authors' code).
 * Graph: each edge t -> j of g_s is kept unless the Fisher-z test of z_t _||_ z_j | z_{an(j)\t}
 * on the observational samples has a p-value > atol_ci.
 *
 * Conventions: encoder rows and graph nodes are in the estimated causal order (row t = the node
 * found at step t). Each encoder row (n x d, lifted with the basis) has unit norm and its entry
 * of largest magnitude positive (the first such entry on ties). W columns have their first
 * non-zero entry positive. W (n x n) is indexed W[m*n + t]: environment m+1's weight in row t.
 */
#ifndef CW_CRL_UMNI_H
#define CW_CRL_UMNI_H

#include "causeway.h"
#include "crl/crl_data.h"
#include "crl/metric_list.h"

#include <stdint.h>

typedef struct {
    int64_t kappa;    /* 2: weights in {-kappa..kappa} */
    double atol_eigv; /* 5e-2: eigenvalues of R_w above it count towards its rank. Absolute:
                         the genuine second eigenvalue of a soft environment's R can be ~1e-2
                         (then step 2 drops the edge); with oracle scores 1e-4 is safe (see
                         tests/test_crl_umni.c, "Thresholds") */
    double atol_proj; /* 5e-2: singular values (cosines) of the projected basis above it count
                         (the authors use atol_eigv for both) */
    double atol_ci;   /* 0.05: Fisher-z p-value above it removes an edge (hard) */
    double atol_coef; /* 0.1: regression-coefficient change marking an intervened environment */
    int hard;         /* run step 3 */
} cw_umni_opts;

void cw_umni_defaults(cw_umni_opts *o);

typedef struct {
    int64_t n, d;
    double *enc_c;     /* n x d, step-1 encoder */
    double *enc_s;     /* n x d, after step 2 (up to ancestors) */
    double *enc_h;     /* n x d, after step 3; NULL unless hard */
    uint8_t *g_s;      /* n x n over the estimated order, up to ancestors (a closure) */
    uint8_t *g_h;      /* n x n, NULL unless hard */
    int64_t *w_c;      /* n x n, step-1 W */
    int64_t *w;        /* n x n, final W (after step 2): column t = environment weights of row t */
    int64_t evaluated; /* number of R_w eigendecompositions (cost diagnostic) */
} cw_umni_result;

cw_status cw_umni_run(cw_umni_result *res, const double *const *x, const int64_t *count,
                      const double *const *ds_x, int64_t n, int64_t d, const cw_umni_opts *o);
void cw_umni_result_free(cw_umni_result *r);

/* The step-1 candidate order: all w in {-kappa..kappa}^n \ {0} whose first non-zero entry is
 * positive (R_{-w} = R_w) and whose entries have gcd 1 (R_{kw} = k^2 R_w has the same column
 * space; only the absolute threshold would tell them apart), by increasing l1 norm, ties in
 * colexicographic order of the digit codes (coordinate n-1 most significant; each coordinate
 * runs 0, 1, -1, 2, -2, ..., kappa, -kappa). So e_0..e_{n-1} come first, then (1,1,0..),
 * (1,-1,0..), ... w (count x n int8, caller frees with cw_free), *count = their number.
 * CW_EINVAL when kappa is outside 1..127 or (2 kappa + 1)^n exceeds 2^27. */
cw_status cw_umni_weights(int8_t **w, int64_t *count, int64_t n, int64_t kappa);

/* Fisher-z test of i _||_ j | s (ns indices) from a correlation matrix corr (p x p) of
 * nsamples rows: partial correlation r = -P_ij / sqrt(P_ii P_jj) with P the (pseudo-)inverse
 * of corr on {i, j, s}; z = atanh(r) sqrt(nsamples - ns - 3); *pvalue = erfc(|z| / sqrt 2)
 * (two-sided). *r_out may be NULL. CW_EINVAL if nsamples - ns - 3 <= 0 or indices are bad. */
cw_status cw_fisher_z_test(double *pvalue, double *r_out, const double *corr, int64_t p,
                           int64_t i, int64_t j, const int64_t *s, int64_t ns, int64_t nsamples);

/* Alignment of estimated rows to true nodes: node_of_row (n) maximises prod_k |E[k, node(k)]|
 * over permutations (Hungarian on log|E|), E = enc G (n x n) with G the true mixing (d x n).
 * Rationale: with up-to-ancestors rows, E is triangular in the true order, and the identity is
 * the only permutation whose product is non-zero (the largest term of det E); robust to noise. */
cw_status cw_umni_align(int64_t *node_of_row, const double *enc, const double *g, int64_t n,
                        int64_t d);

/* Metrics of a run against generated truth (linear mixing, single-node or multi-node design),
 * rows aligned by cw_umni_align on the soft encoder (one alignment for both stages, whose rows
 * are the same nodes). E = aligned effective transform with rows normalised (sign(E_ii) E_i /
 * |E_i|_2, sign(0) = +1). Soft stage (suffix _s): shd_s, precision_s, recall_s vs the true
 * transitive closure (0/0 precision or recall reported as 0), zerr_s = |Z E^T - Z|_F / |Z|_F
 * over all environments' samples, mix_count_s / mix_ratio_s / mix_norm_s outside I OR
 * closure^T (|E| >= atol_eff_nz; ratio over the entries outside the mask, 0 when none), mcc_s
 * (cw_mcc on the observational samples, Zhat = Z E^T). Hard stage (_h, when r->enc_h): the same
 * against the true DAG with mask I. dw_extra: entries of D W (nodes x aligned rows, D the true
 * signature) that are non-zero off I OR closure^T (0 when W is consistent with the theory).
 * Aliases shd, mcc = the hard stage's values when it ran, else the soft stage's.
 * CW_EINVAL without truth (has_graph and latents) or for shape mismatches. */
cw_status cw_umni_evaluate(cw_metric_list *out, const cw_umni_result *r, const cw_crl_data *truth,
                           const cw_umni_opts *o, double atol_eff_nz);

#endif
