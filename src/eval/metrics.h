/* metrics.h: per-intervention evaluation metrics and their aggregation over interventions and
 * seeds. Spec grace_cmvae.md §6.3 (metrics), §6.4 (across seeds), Appendix B, §5.1 item 1 (MMD).
 *
 * Inputs: real cells Y (n, D) and predicted cells Yhat (n, D), float, row-major, rows aligned
 * (row i of Yhat was generated from the control paired with real cell i). A column subset S
 * (`cols`, k indices in [0, D), e.g. the DEG columns of eval/deg_select.h) or all D genes
 * (cols == NULL). m = mean over rows of Y_S, mhat = mean over rows of Yhat_S, c = control mean.
 * Everything is accumulated in double, rows in order: results do not depend on thread counts.
 *
 *   r2_reference  max(0, r2(y_true = mhat, y_pred = m))  -- the reference's swapped orientation:
 *                 1 - sum_g (mhat_g - m_g)^2 / sum_g (mhat_g - mean(mhat))^2, clipped at 0
 *   r2_standard   r2(y_true = m, y_pred = mhat), not clipped (the usual orientation)
 *   rmse_relative sqrt( mean_{i,g in S} (Yhat_ig - Y_ig)^2 / mean_{i,g in S} Y_ig^2 ), row-paired
 *   mmd           multi-bandwidth MMD of §5.1 between Yhat_S and Y_S (biased V-statistic with
 *                 diagonals, no square root): K_ij = sum_{q<kernel_num} exp(-d_ij / b_q),
 *                 b_q = sigma / kernel_mul^(kernel_num / 2) * kernel_mul^q (integer division;
 *                 sigma 1000: 31.25 ... 16000), MMD = mean(K_XX + K_YY - K_XY - K_YX)
 *   pearson_delta Pearson correlation over S of (mhat - c) and (m - c)
 *
 * r2(y_true, y_pred) follows sklearn.metrics.r2_score (force_finite=True, the default since 1.1
 * and the behaviour of earlier versions): numerator = sum (y_true - y_pred)^2, denominator =
 * sum (y_true - mean(y_true))^2; numerator == 0 -> 1.0 (also for constant y_true); constant
 * y_true with numerator != 0 -> 0.0; fewer than 2 samples (k < 2) -> NaN (sklearn source,
 * sklearn/metrics/_regression.py: r2_score, _assemble_r2_explained_variance). We call y_true
 * constant when all its values are equal or the denominator is exactly 0. sklearn tests only the
 * denominator, and the rounding residue of the mean can leave it at ~1e-33 for a constant vector
 * (seven 0.1s), where sklearn returns 1 - num/1e-33 (e.g. -7e30) instead of 0.0. After the clip
 * at 0 both give 0 (and 1.0 when num == 0), so r2_reference equals the reference in every case;
 * r2_standard returns the documented 0.0 instead of the residue's huge negative value.
 * r2_reference with k < 2 is max(0, NaN) evaluated as Python's builtin max does: 0.
 * Edge cases are reported in cw_metrics.flags (CW_METRIC_*), never as errors:
 *   - rmse_relative when mean Y_S^2 == 0: 0/0 = NaN, x/0 = +inf (numpy's values);
 *   - pearson_delta when either delta vector is constant (variance 0, including k < 2): 0
 *     (scipy returns NaN with a warning); NaN when no control mean was given.
 * Argument errors (CW_EINVAL): row counts of Y and Yhat differ (the RMSE pairs rows and the
 * reference MMD needs equal counts), n < 1, D < 1, empty S, a column index out of range, sigma
 * or kernel parameters out of range.
 */
#ifndef CW_EVAL_METRICS_H
#define CW_EVAL_METRICS_H

#include "causeway.h"

#include <stdint.h>

/* cw_metrics.flags */
enum {
    CW_METRIC_R2_REF_CONSTANT = 1,   /* mhat constant over S: sklearn convention (1 or 0) used */
    CW_METRIC_R2_STD_CONSTANT = 2,   /* m constant over S: sklearn convention used */
    CW_METRIC_R2_TOO_FEW = 4,        /* k < 2: r2_standard NaN, r2_reference 0 */
    CW_METRIC_RMSE_ZERO_TRUTH = 8,   /* mean Y_S^2 == 0: rmse NaN (perfect) or +inf */
    CW_METRIC_PEARSON_CONSTANT = 16, /* a delta vector has variance 0: pearson_delta = 0 */
    CW_METRIC_PEARSON_NO_CONTROL = 32, /* no control mean given: pearson_delta = NaN */
    CW_METRIC_MMD_SKIPPED = 64       /* MMD not computed (options): mmd = NaN */
};

typedef struct {
    double r2_reference, r2_standard, rmse_relative, mmd, pearson_delta;
    int flags; /* CW_METRIC_* bits; after aggregation the OR over the inputs */
} cw_metrics;

/* The metrics of one intervention on its DEG subset and on all genes. */
typedef struct {
    cw_metrics deg, all;
    int64_t n_cells, n_deg;
} cw_intervention_metrics;

typedef struct {
    double mmd_sigma_deg;   /* sigma of the DEG-subset MMD: 1000 singles, 100 combinations */
    double mmd_sigma_all;   /* sigma of the all-genes MMD: 1000 (see cw_metrics_opts_default) */
    int64_t mmd_kernel_num; /* 10 */
    double mmd_kernel_mul;  /* 2 */
    int mmd_all;            /* 1: compute the all-genes MMD (O(n^2 D)); 0: skip (NaN, flag) */
    int n_threads;          /* MMD threads; <= 0: OpenMP default */
} cw_metrics_opts;

/* Defaults of §6.3: kernel_num 10, kernel_mul 2, mmd_all 1; DEG sigma 1000 for singles and 100
 * for combinations (is_combination != 0). The all-genes sigma is 1000 for both: the reference's
 * "All genes" single MMD uses 1000, and its double all-genes MMD ("Mean within Batches") is a
 * per-32-cell-batch protocol at sigma 1000 that we do not reproduce. */
void cw_metrics_opts_default(cw_metrics_opts *o, int is_combination);

/* ---- building blocks (cols == NULL: all d columns, k ignored) ---------------------------- */

/* mean over the n rows of x (n, d), restricted to cols -> out (k, or d when cols == NULL) */
cw_status cw_metric_column_means(double *out, const float *x, int64_t n, int64_t d,
                                 const int64_t *cols, int64_t k);
/* sklearn r2_score(y_true, y_pred) on k >= 1 values (see the header comment). *edge (may be
 * NULL) receives CW_R2_REGULAR, CW_R2_CONSTANT_TRUE (1.0 or 0.0 returned) or CW_R2_TOO_FEW
 * (k < 2: NaN returned). */
enum { CW_R2_REGULAR = 0, CW_R2_CONSTANT_TRUE = 1, CW_R2_TOO_FEW = 2 };
cw_status cw_metric_r2_sklearn(double *out, const double *y_true, const double *y_pred,
                               int64_t k, int *edge);
/* Pearson correlation of a and b (k values) in [-1, 1]; 0 and *flags |=
 * CW_METRIC_PEARSON_CONSTANT when either is constant (or k < 2). */
cw_status cw_metric_pearson(double *out, const double *a, const double *b, int64_t k,
                            int *flags);
/* rmse_relative of yhat vs y (both (n, d)), rows paired; *flags |= CW_METRIC_RMSE_ZERO_TRUTH */
cw_status cw_metric_rmse_relative(double *out, const float *y, const float *yhat, int64_t n,
                                  int64_t d, const int64_t *cols, int64_t k, int *flags);
/* mmd: x (n_x, d) predicted, y (n_y, d) real, restricted to cols -> *out (§5.1). n_x must equal
 * n_y. Distances d_ij = sum_g (t_ig - t_jg)^2 by explicit differences in double over row tiles
 * of T = [x; y] (no (2n)^2 matrix, no (2n)^2 x D tensor); per-tile partial sums are added in
 * tile order, so the value is the same for any thread count. Memory: 2 * 64 * k doubles per
 * thread. n_threads <= 0: OpenMP default; not to be called inside a parallel region. */
cw_status cw_metric_mmd(double *out, const float *x, int64_t n_x, const float *y, int64_t n_y,
                        int64_t d, const int64_t *cols, int64_t k, double sigma,
                        int64_t kernel_num, double kernel_mul, int n_threads);

/* ---- one intervention ------------------------------------------------------------------ */

/* All metrics on one column set. y (n_real, d) real, yhat (n_pred, d) predicted; cols/k as
 * above; control_mean (d, indexed by gene, not by position in S) or NULL; sigma = MMD sigma,
 * sigma <= 0 skips the MMD (NaN, CW_METRIC_MMD_SKIPPED). opts NULL: singles' defaults. */
cw_status cw_metrics_compute(cw_metrics *out, const float *y, int64_t n_real, const float *yhat,
                             int64_t n_pred, int64_t d, const int64_t *cols, int64_t k,
                             const double *control_mean, double sigma,
                             const cw_metrics_opts *opts);

/* Both column sets: out->deg on deg_cols (n_deg >= 1), out->all on all d genes, with the
 * sigmas of opts (NULL: singles' defaults). */
cw_status cw_metrics_intervention(cw_intervention_metrics *out, const float *y, int64_t n_real,
                                  const float *yhat, int64_t n_pred, int64_t d,
                                  const int64_t *deg_cols, int64_t n_deg,
                                  const double *control_mean, const cw_metrics_opts *opts);

/* ---- aggregation (§6.3 per-seed summary, §6.4 across seeds) ---------------------------- */

/* Plain mean over n >= 1 interventions of each field (a NaN propagates, as np.mean);
 * flags = OR of the inputs' flags. */
cw_status cw_metrics_mean(cw_metrics *out, const cw_metrics *per, int64_t n);
/* The same for both column sets; n_cells and n_deg are summed. */
cw_status cw_intervention_metrics_mean(cw_intervention_metrics *out,
                                       const cw_intervention_metrics *per, int64_t n);

typedef struct {
    double mean, std; /* std: population (ddof 0), as np.std */
} cw_mean_std;

typedef struct {
    cw_mean_std r2_reference, r2_standard, rmse_relative, mmd, pearson_delta;
    int64_t n_seeds;
    int flags; /* OR of the inputs' flags */
} cw_metrics_summary;

/* mean and population std of n >= 1 values (two-pass, double) */
cw_status cw_mean_std_ddof0(cw_mean_std *out, const double *v, int64_t n);
/* Across seeds: per_seed[s] is seed s's mean over interventions (cw_metrics_mean). */
cw_status cw_metrics_across_seeds(cw_metrics_summary *out, const cw_metrics *per_seed,
                                  int64_t n_seeds);

#endif
