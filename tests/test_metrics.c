/* test_metrics.c: evaluation metrics (eval/metrics.h), DEG selection (eval/deg_select.h),
 * baselines (eval/baseline.h) and aggregation, against numpy/scipy reference values hard-coded
 * below (the snippets that produced them are in the comments; sklearn is not needed: its r2_score
 * is written out), a naive O(n^2 D) MMD, and hand values. */
#include "test_util.h"

#include "core/alloc.h"
#include "core/status.h"
#include "core/strings.h"
#include "eval/baseline.h"
#include "eval/deg_select.h"
#include "eval/metrics.h"
#include "io/h5ad.h"
#include "la/matrix.h"

#include <math.h>

/* |got - ref| <= atol + rtol |ref| */
#define assert_close(got, ref, atol, rtol)                                                         \
    do {                                                                                           \
        double g_ = (got), r_ = (ref);                                                             \
        if (!(fabs(g_ - r_) <= (atol) + (rtol) * fabs(r_))) {                                      \
            fail_msg("%s = %.17g, expected %.17g", #got, g_, r_);                                  \
        }                                                                                          \
    } while (0)

/* ---- fixed data ----------------------------------------------------------------------------
 * Produced by /usr/bin/python3 (numpy 1.24, scipy 1.10):
 *   import numpy as np; from scipy import stats
 *   rng = np.random.default_rng(7); n, D = 5, 7
 *   Y  = np.round(rng.uniform(0, 8, (n, D)), 2).astype(np.float32)
 *   Yg = np.round(Y * 0.9 + rng.normal(0, 1, (n, D)) + 0.3, 2).astype(np.float32)
 *   Yb = np.round(rng.uniform(0, 8, (n, D)), 2).astype(np.float32)
 *   c  = np.round(rng.uniform(0, 6, D), 3);  S = [1, 3, 4, 6]
 *   def r2(yt, yp):          # sklearn r2_score, force_finite=True
 *       num = ((yt - yp) ** 2).sum(); den = ((yt - yt.mean()) ** 2).sum()
 *       if num == 0: return 1.0
 *       if den == 0: return 0.0
 *       return 1 - num / den
 *   def mmd_ref(src, tgt, kernel_mul=2.0, kernel_num=10, fix_sigma=1000.0):  # reference MMD_loss
 *       n = src.shape[0]; total = np.concatenate([src, tgt], 0)
 *       L2 = ((total[None, :, :] - total[:, None, :]) ** 2).sum(2)
 *       bw = fix_sigma / kernel_mul ** (kernel_num // 2)
 *       K = sum(np.exp(-L2 / (bw * kernel_mul ** i)) for i in range(kernel_num))
 *       return np.mean(K[:n, :n] + K[n:, n:] - K[:n, n:] - K[n:, :n])
 *   for P in (Yg, Yb): for cols in (S, range(D)):
 *       y = Y[:, cols].astype(np.float64); p = P[:, cols].astype(np.float64)
 *       m = y.mean(0); mh = p.mean(0)
 *       r2ref = max(0, r2(mh, m)); r2std = r2(m, mh); raw = r2(mh, m)
 *       rmse = np.sqrt(np.mean((p - y) ** 2) / np.mean(y ** 2))
 *       pearson = stats.pearsonr(mh - c[cols], m - c[cols])[0]
 *       mmd1000 = mmd_ref(p, y, fix_sigma=1000.0); mmd100 = mmd_ref(p, y, fix_sigma=100.0)
 */
enum { N5 = 5, D7 = 7 };
static const float Y_REAL[N5 * D7] = {
    5.00f, 7.18f, 6.21f, 1.80f, 2.40f, 6.99f, 0.04f, 6.57f, 6.38f, 3.74f, 2.42f, 2.23f,
    2.04f, 3.56f, 4.04f, 4.43f, 7.96f, 6.34f, 4.98f, 7.91f, 1.72f, 1.28f, 4.90f, 0.35f,
    0.29f, 4.12f, 3.73f, 7.34f, 5.03f, 4.11f, 3.97f, 1.98f, 0.09f, 1.54f, 5.54f};
static const float Y_GOOD[N5 * D7] = {
    5.86f, 5.95f, 5.86f, 2.80f, 1.88f, 6.48f, 0.45f, 6.28f, 4.82f, 3.74f, 3.84f, 0.76f,
    3.00f, 3.62f, 3.29f, 6.29f, 8.23f, 4.81f, 4.86f, 8.00f, 1.66f, 2.13f, 4.64f, 1.28f,
    2.00f, 3.33f, 3.86f, 6.44f, 4.95f, 2.81f, 3.29f, 1.89f, 1.28f, 2.83f, 3.96f};
static const float Y_BAD[N5 * D7] = {
    5.37f, 2.40f, 6.99f, 5.30f, 1.05f, 6.76f, 7.56f, 7.23f, 4.56f, 1.16f, 1.54f, 7.42f,
    4.42f, 1.44f, 7.07f, 5.13f, 4.56f, 3.01f, 3.29f, 1.92f, 0.30f, 7.01f, 3.74f, 4.38f,
    2.58f, 6.01f, 0.20f, 2.98f, 0.24f, 0.98f, 7.74f, 5.26f, 3.43f, 4.19f, 6.98f};
static const double CTRL_MEAN[D7] = {2.065, 3.542, 4.102, 2.132, 3.115, 4.591, 5.455};
static const int64_t S4[4] = {1, 3, 4, 6};

typedef struct {
    double r2ref, r2std, raw_ref, rmse, pearson, mmd1000, mmd100;
} ref_row;
/* rows: good S, good all, bad S, bad all */
static const ref_row REF[4] = {
    {0.76487029785686389, 0.84262311660028011, 0.76487029785686389, 0.26617684545358844,
     0.95943201018089552, 0.12487995774299473, 0.80996964589297193},
    {0.83787607133086306, 0.84555432139697162, 0.83787607133086306, 0.20858295010233807,
     0.9647891362037182, 0.16638222524274199, 0.97320648082270556},
    {0, -0.4615939445747943, -15.417358677675466, 0.7621145426862449, 0.43615814471111031,
     0.70097875236471852, 2.066366055485628},
    {0, -0.53028290718043647, -1.5631827728002952, 0.72361996016472196, 0.68316307768452211,
     0.97034091301880865, 2.3005537477051625},
};

static void check_row(const cw_metrics *m, const ref_row *r, double mmd_ref) {
    assert_close(m->r2_reference, r->r2ref, 1e-12, 1e-10);
    assert_close(m->r2_standard, r->r2std, 1e-12, 1e-10);
    assert_close(m->rmse_relative, r->rmse, 1e-12, 1e-10);
    assert_close(m->pearson_delta, r->pearson, 1e-12, 1e-10);
    assert_close(m->mmd, mmd_ref, 1e-12, 1e-10);
}

static void test_metrics_vs_numpy(void **state) {
    (void)state;
    const float *preds[2] = {Y_GOOD, Y_BAD};
    for (int p = 0; p < 2; p++) {
        for (int sub = 0; sub < 2; sub++) {
            const ref_row *r = &REF[p * 2 + sub];
            const int64_t *cols = sub == 0 ? S4 : NULL;
            cw_metrics m;
            assert_int_equal(cw_metrics_compute(&m, Y_REAL, N5, preds[p], N5, D7, cols, 4,
                                                CTRL_MEAN, 1000.0, NULL),
                             CW_OK);
            check_row(&m, r, r->mmd1000);
            assert_int_equal(m.flags, 0);
            cw_metrics_opts o;
            cw_metrics_opts_default(&o, 1);
            assert_int_equal(cw_metrics_compute(&m, Y_REAL, N5, preds[p], N5, D7, cols, 4,
                                                CTRL_MEAN, o.mmd_sigma_deg, &o),
                             CW_OK);
            check_row(&m, r, r->mmd100);

            /* the swapped orientation before clipping, through the building block */
            double mean_real[D7], mean_pred[D7], raw;
            const int64_t k = cols ? 4 : D7;
            assert_int_equal(cw_metric_column_means(mean_real, Y_REAL, N5, D7, cols, 4), CW_OK);
            assert_int_equal(cw_metric_column_means(mean_pred, preds[p], N5, D7, cols, 4), CW_OK);
            int edge = -1;
            assert_int_equal(cw_metric_r2_sklearn(&raw, mean_pred, mean_real, k, &edge), CW_OK);
            assert_int_equal(edge, CW_R2_REGULAR);
            assert_close(raw, r->raw_ref, 1e-12, 1e-10);
        }
    }
    /* the clipping is active in the bad rows (raw < 0 -> 0) */
    assert_true(REF[2].raw_ref < 0 && REF[2].r2ref == 0);
}

static void test_metrics_intervention_both_sets(void **state) {
    (void)state;
    cw_intervention_metrics im;
    cw_metrics_opts o;
    cw_metrics_opts_default(&o, 0);
    assert_int_equal(cw_metrics_intervention(&im, Y_REAL, N5, Y_GOOD, N5, D7, S4, 4, CTRL_MEAN,
                                             &o),
                     CW_OK);
    check_row(&im.deg, &REF[0], REF[0].mmd1000);
    check_row(&im.all, &REF[1], REF[1].mmd1000);
    assert_int_equal(im.n_cells, N5);
    assert_int_equal(im.n_deg, 4);
    /* combinations: DEG sigma 100, all-genes sigma stays 1000 */
    cw_metrics_opts_default(&o, 1);
    assert_true(o.mmd_sigma_deg == 100.0 && o.mmd_sigma_all == 1000.0);
    assert_int_equal(cw_metrics_intervention(&im, Y_REAL, N5, Y_GOOD, N5, D7, S4, 4, CTRL_MEAN,
                                             &o),
                     CW_OK);
    assert_close(im.deg.mmd, REF[0].mmd100, 1e-12, 1e-10);
    assert_close(im.all.mmd, REF[1].mmd1000, 1e-12, 1e-10);
    /* skipping the all-genes MMD */
    o.mmd_all = 0;
    assert_int_equal(cw_metrics_intervention(&im, Y_REAL, N5, Y_GOOD, N5, D7, S4, 4, CTRL_MEAN,
                                             &o),
                     CW_OK);
    assert_true(isnan(im.all.mmd));
    assert_true(im.all.flags & CW_METRIC_MMD_SKIPPED);
    assert_false(im.deg.flags & CW_METRIC_MMD_SKIPPED);
    /* no control mean: Pearson NaN and flagged, the rest unchanged */
    cw_metrics_opts_default(&o, 0);
    assert_int_equal(cw_metrics_intervention(&im, Y_REAL, N5, Y_GOOD, N5, D7, S4, 4, NULL, &o),
                     CW_OK);
    assert_true(isnan(im.deg.pearson_delta));
    assert_true(im.deg.flags & CW_METRIC_PEARSON_NO_CONTROL);
    assert_close(im.deg.r2_reference, REF[0].r2ref, 1e-12, 1e-10);
}

/* sklearn's documented edge cases (r2_score docstring, force_finite=True):
 *   r2_score([-2,-2,-2], [-2,-2,-2]) == 1.0;  r2_score([-2,-2,-2], [-2,-2,-2+1e-8]) == 0.0
 *   r2_score([1,2,3], [1,2,3]) == 1.0; [1,2,3] vs [2,2,2] -> 0.0; [1,2,3] vs [3,2,1] -> -3.0
 *   fewer than two samples -> nan */
static void test_r2_sklearn_edge_cases(void **state) {
    (void)state;
    double r;
    int edge;
    const double c3[3] = {-2, -2, -2}, c3b[3] = {-2, -2, -2 + 1e-8};
    assert_int_equal(cw_metric_r2_sklearn(&r, c3, c3, 3, &edge), CW_OK);
    assert_true(r == 1.0 && edge == CW_R2_CONSTANT_TRUE);
    assert_int_equal(cw_metric_r2_sklearn(&r, c3, c3b, 3, &edge), CW_OK);
    assert_true(r == 0.0 && edge == CW_R2_CONSTANT_TRUE);
    const double a[3] = {1, 2, 3}, b[3] = {2, 2, 2}, rev[3] = {3, 2, 1};
    assert_int_equal(cw_metric_r2_sklearn(&r, a, a, 3, &edge), CW_OK);
    assert_true(r == 1.0 && edge == CW_R2_REGULAR);
    assert_int_equal(cw_metric_r2_sklearn(&r, a, b, 3, &edge), CW_OK);
    assert_close(r, 0.0, 1e-15, 0);
    assert_int_equal(cw_metric_r2_sklearn(&r, a, rev, 3, &edge), CW_OK);
    assert_close(r, -3.0, 1e-15, 0);
    /* seven 0.1s: sum/7 != 0.1 in double (python: sum([0.1]*7)/7 == 0.1 is False), so the
     * denominator is 1.3e-33, not 0, and sklearn would return about -7e30 here; we treat the
     * vector as constant and return the documented 0.0 (after the clip both give 0) */
    const double t01[7] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1}, p01[7] = {0.1, 0.1, 0.1, 0.1,
                                                                         0.1, 0.1, 0.2};
    assert_int_equal(cw_metric_r2_sklearn(&r, t01, p01, 7, &edge), CW_OK);
    assert_true(r == 0.0 && edge == CW_R2_CONSTANT_TRUE);
    assert_int_equal(cw_metric_r2_sklearn(&r, a, a, 1, &edge), CW_OK);
    assert_true(isnan(r) && edge == CW_R2_TOO_FEW);
    assert_int_equal(cw_metric_r2_sklearn(&r, a, a, 0, &edge), CW_EINVAL);

    /* through the metrics: the predictions' mean profile over S is constant */
    const float yhat[2 * 3] = {1, 2, 3, 3, 2, 1}; /* column means 2, 2, 2 */
    const float yreal[2 * 3] = {1, 2, 3, 1, 2, 3};
    cw_metrics m;
    assert_int_equal(
        cw_metrics_compute(&m, yreal, 2, yhat, 2, 3, NULL, 0, NULL, 1000.0, NULL), CW_OK);
    assert_true(m.r2_reference == 0.0);
    assert_true(m.flags & CW_METRIC_R2_REF_CONSTANT);
    assert_false(m.flags & CW_METRIC_R2_STD_CONSTANT);
    assert_close(m.r2_standard, 0.0, 1e-15, 0); /* m = (1,2,3) predicted by (2,2,2) */
    /* perfect and constant: 1.0 */
    assert_int_equal(
        cw_metrics_compute(&m, yhat, 2, yhat, 2, 3, NULL, 0, NULL, 1000.0, NULL), CW_OK);
    assert_true(m.r2_reference == 1.0 && m.r2_standard == 1.0);
    assert_true(m.flags & CW_METRIC_R2_REF_CONSTANT);
    assert_close(m.mmd, 0.0, 1e-12, 0);
    assert_close(m.rmse_relative, 0.0, 0, 0);
    /* one DEG: r2_standard NaN, r2_reference = max(0, nan) = 0 (Python's builtin max) */
    const int64_t one[1] = {2};
    assert_int_equal(
        cw_metrics_compute(&m, yreal, 2, yhat, 2, 3, one, 1, NULL, 1000.0, NULL), CW_OK);
    assert_true(isnan(m.r2_standard) && m.r2_reference == 0.0);
    assert_true(m.flags & CW_METRIC_R2_TOO_FEW);
}

/* scipy.stats.pearsonr returns nan (with a warning) for constant input; we return 0 and flag */
static void test_pearson_and_rmse_edges(void **state) {
    (void)state;
    double r;
    int flags = 0;
    const double a[4] = {1, 2, 3, 4}, b[4] = {2, 4, 6, 8}, c[4] = {4, 3, 2, 1}, k[4] = {5, 5, 5,
                                                                                     5};
    assert_int_equal(cw_metric_pearson(&r, a, b, 4, &flags), CW_OK);
    assert_close(r, 1.0, 1e-15, 0);
    assert_int_equal(cw_metric_pearson(&r, a, c, 4, &flags), CW_OK);
    assert_close(r, -1.0, 1e-15, 0);
    assert_int_equal(flags, 0);
    assert_int_equal(cw_metric_pearson(&r, a, k, 4, &flags), CW_OK);
    assert_true(r == 0.0 && (flags & CW_METRIC_PEARSON_CONSTANT));
    flags = 0;
    assert_int_equal(cw_metric_pearson(&r, a, b, 1, &flags), CW_OK);
    assert_true(r == 0.0 && (flags & CW_METRIC_PEARSON_CONSTANT));

    /* rmse with an all-zero truth: 0/0 = NaN, x/0 = inf, flagged */
    const float z[4] = {0, 0, 0, 0}, p[4] = {0, 1, 0, 0};
    flags = 0;
    assert_int_equal(cw_metric_rmse_relative(&r, z, z, 2, 2, NULL, 0, &flags), CW_OK);
    assert_true(isnan(r) && (flags & CW_METRIC_RMSE_ZERO_TRUTH));
    assert_int_equal(cw_metric_rmse_relative(&r, z, p, 2, 2, NULL, 0, &flags), CW_OK);
    assert_true(isinf(r) && r > 0);
    /* hand value: rows paired, not sorted: sqrt(((1-0)^2 + (0-1)^2) / (0^2 + 1^2)) = sqrt 2 */
    const float y2[2] = {0, 1}, p2[2] = {1, 0};
    assert_int_equal(cw_metric_rmse_relative(&r, y2, p2, 2, 1, NULL, 0, NULL), CW_OK);
    assert_close(r, sqrt(2.0), 1e-15, 0);
}

/* ---- MMD ---------------------------------------------------------------------------------- */

/* the reference formula as a plain triple loop over T = [x; y] */
static double naive_mmd(const float *x, const float *y, int64_t n, int64_t d, const int64_t *cols,
                        int64_t k, double sigma) {
    const int64_t t = 2 * n, kk = cols ? k : d;
    double sum = 0;
    for (int64_t i = 0; i < t; i++)
        for (int64_t j = 0; j < t; j++) {
            const float *a = i < n ? x + i * d : y + (i - n) * d;
            const float *b = j < n ? x + j * d : y + (j - n) * d;
            double dist = 0;
            for (int64_t c = 0; c < kk; c++) {
                const int64_t g = cols ? cols[c] : c;
                const double e = (double)a[g] - (double)b[g];
                dist += e * e;
            }
            double kv = 0;
            for (int q = 0; q < 10; q++) kv += exp(-dist / (sigma / 32.0 * ldexp(1.0, q)));
            sum += ((i < n) == (j < n) ? 1.0 : -1.0) * kv;
        }
    return sum / ((double)n * (double)n);
}

static void test_mmd_vs_naive_and_threads(void **state) {
    (void)state;
    /* 2n = 300 rows: several 64-row tiles, the x/y boundary inside a tile; D = 37 and k = 13
     * exercise the 4-wide loops' tails */
    const int64_t n = 150, d = 37, k = 13;
    float *x = malloc((size_t)(n * d) * sizeof *x), *y = malloc((size_t)(n * d) * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    uint64_t s = 12345;
    for (int64_t i = 0; i < n * d; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        x[i] = (float)((s >> 40) % 1000) / 100.0f;
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        y[i] = (float)((s >> 40) % 1000) / 100.0f + 0.5f * (float)(i % d == 3);
    }
    int64_t cols[13];
    for (int64_t c = 0; c < k; c++) cols[c] = (c * 7 + 2) % d;
    const double sigmas[2] = {1000.0, 100.0};
    for (int si = 0; si < 2; si++)
        for (int sub = 0; sub < 2; sub++) {
            const int64_t *cc = sub ? cols : NULL;
            const double ref = naive_mmd(x, y, n, d, cc, k, sigmas[si]);
            double m1, m4;
            assert_int_equal(cw_metric_mmd(&m1, x, n, y, n, d, cc, k, sigmas[si], 10, 2.0, 1),
                             CW_OK);
            assert_int_equal(cw_metric_mmd(&m4, x, n, y, n, d, cc, k, sigmas[si], 10, 2.0, 4),
                             CW_OK);
            assert_close(m1, ref, 1e-12, 1e-10);
            assert_true(m1 == m4); /* bit-identical for any thread count */
            assert_true(m1 > 0);
        }
    /* symmetric in its two arguments (equal counts) */
    double a, b;
    assert_int_equal(cw_metric_mmd(&a, x, n, y, n, d, NULL, 0, 1000.0, 10, 2.0, 0), CW_OK);
    assert_int_equal(cw_metric_mmd(&b, y, n, x, n, d, NULL, 0, 1000.0, 10, 2.0, 0), CW_OK);
    assert_close(a, b, 1e-13, 1e-12);
    free(x);
    free(y);
}

/* Hand values. One cell each, one gene, x = 0, y = 1 (d = 1); sigma = 1 / (16 ln 2) gives
 * b_q = 2^(q-9) / ln 2, so exp(-d / b_q) = 2^(-2^(9-q)) and
 *   MMD = (K_xx + K_yy - 2 K_xy) / 1 = 20 - 2 (2^-1 + 2^-2 + 2^-4 + 2^-8 + 2^-16 + 2^-32 + ...)
 *       = 18.367156981956214   (python: 20 - 2 * sum(2.0 ** -(2.0 ** (9 - q)) for q in range(10)),
 *                               and mmd_ref(np.array([[0.]]), np.array([[1.]]), fix_sigma=s)).
 * Identical sets give 0; very distant single cells give 2 * kernel_num = 20. */
static void test_mmd_hand_values(void **state) {
    (void)state;
    const float x0[1] = {0.0f}, y1[1] = {1.0f};
    double m;
    assert_int_equal(cw_metric_mmd(&m, x0, 1, y1, 1, 1, NULL, 0, 1.0 / (16.0 * log(2.0)), 10,
                                   2.0, 0),
                     CW_OK);
    assert_close(m, 18.367156981956214, 1e-13, 1e-13);
    const float far[1] = {1e6f};
    assert_int_equal(cw_metric_mmd(&m, x0, 1, far, 1, 1, NULL, 0, 1000.0, 10, 2.0, 0), CW_OK);
    assert_close(m, 20.0, 1e-12, 0);
    const float two[2 * 3] = {1, 2, 3, 4, 5, 6}, swapped[2 * 3] = {4, 5, 6, 1, 2, 3};
    assert_int_equal(cw_metric_mmd(&m, two, 2, swapped, 2, 3, NULL, 0, 1000.0, 10, 2.0, 0),
                     CW_OK);
    assert_close(m, 0.0, 1e-13, 0); /* the MMD ignores row order */
}

/* n in the low thousands: blocked, no (2n)^2 matrix; checked against a pair-sum identity:
 * with y = x the MMD is 0 */
static void test_mmd_large_n(void **state) {
    (void)state;
    const int64_t n = 2000, d = 60, k = 20;
    float *x = malloc((size_t)(n * d) * sizeof *x);
    assert_non_null(x);
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)((i * 2654435761u) % 997) / 97.0f;
    int64_t cols[20];
    for (int64_t c = 0; c < k; c++) cols[c] = 3 * c;
    double m;
    assert_int_equal(cw_metric_mmd(&m, x, n, x, n, d, cols, k, 1000.0, 10, 2.0, 0), CW_OK);
    assert_close(m, 0.0, 1e-9, 0);
    free(x);
}

/* ---- argument errors ---------------------------------------------------------------------- */

static void test_argument_errors(void **state) {
    (void)state;
    cw_metrics m;
    double v;
    /* row count mismatch */
    assert_int_equal(cw_metrics_compute(&m, Y_REAL, 5, Y_GOOD, 4, D7, S4, 4, NULL, 1000.0, NULL),
                     CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "5 real and 4 predicted"));
    assert_int_equal(cw_metric_mmd(&v, Y_GOOD, 4, Y_REAL, 5, D7, NULL, 0, 1000.0, 10, 2.0, 0),
                     CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "equal counts"));
    /* empty S */
    assert_int_equal(cw_metrics_compute(&m, Y_REAL, 5, Y_GOOD, 5, D7, S4, 0, NULL, 1000.0, NULL),
                     CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "empty gene subset"));
    cw_intervention_metrics im;
    assert_int_equal(cw_metrics_intervention(&im, Y_REAL, 5, Y_GOOD, 5, D7, S4, 0, NULL, NULL),
                     CW_EINVAL);
    assert_int_equal(cw_metrics_intervention(&im, Y_REAL, 5, Y_GOOD, 5, D7, NULL, 4, NULL, NULL),
                     CW_EINVAL);
    /* column out of range, no rows, bad MMD parameters */
    const int64_t bad[2] = {1, 7};
    assert_int_equal(cw_metrics_compute(&m, Y_REAL, 5, Y_GOOD, 5, D7, bad, 2, NULL, 1000.0, NULL),
                     CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "entry 1 is 7"));
    assert_int_equal(cw_metrics_compute(&m, Y_REAL, 0, Y_GOOD, 0, D7, S4, 4, NULL, 1000.0, NULL),
                     CW_EINVAL);
    assert_int_equal(cw_metric_mmd(&v, Y_GOOD, 5, Y_REAL, 5, D7, NULL, 0, -1.0, 10, 2.0, 0),
                     CW_EINVAL);
    assert_int_equal(cw_metric_mmd(&v, Y_GOOD, 5, Y_REAL, 5, D7, NULL, 0, 1000.0, 0, 2.0, 0),
                     CW_EINVAL);
    assert_int_equal(cw_metric_mmd(&v, Y_GOOD, 5, Y_REAL, 5, D7, NULL, 0, 1000.0, 10, 0.0, 0),
                     CW_EINVAL);
    /* allocation failure is reported, not crashed on */
    cw_alloc_fail_after(0);
    assert_int_equal(cw_metrics_compute(&m, Y_REAL, 5, Y_GOOD, 5, D7, S4, 4, NULL, 1000.0, NULL),
                     CW_ENOMEM);
    cw_alloc_fail_after(1);
    assert_int_equal(cw_metrics_compute(&m, Y_REAL, 5, Y_GOOD, 5, D7, S4, 4, NULL, 1000.0, NULL),
                     CW_ENOMEM); /* the MMD's buffers */
    cw_alloc_fail_after(-1);
}

/* ---- DEG selection ------------------------------------------------------------------------ */

/* a table with n_genes = 2 names per group */
static void make_table(cw_deg_table *t, const char *const *groups, int64_t ng,
                       const char *const *names) {
    memset(t, 0, sizeof *t);
    t->n_groups = ng;
    t->n_genes = 2;
    assert_int_equal(cw_strings_alloc(&t->groups, ng), CW_OK);
    assert_int_equal(cw_strings_alloc(&t->names, ng * 2), CW_OK);
    for (int64_t g = 0; g < ng; g++) {
        assert_int_equal(cw_strings_set(&t->groups, g, groups[g]), CW_OK);
        for (int r = 0; r < 2; r++)
            assert_int_equal(cw_strings_set(&t->names, g * 2 + r, names[g * 2 + r]), CW_OK);
    }
}

static void make_vars(cw_strings *v, const char *const *names, int64_t n) {
    assert_int_equal(cw_strings_alloc(v, n), CW_OK);
    for (int64_t i = 0; i < n; i++) assert_int_equal(cw_strings_set(v, i, names[i]), CW_OK);
}

static void test_deg_substring_rule_pitfalls(void **state) {
    (void)state;
    /* CPA-style names, stored sorted: the double group comes before the single's own */
    const char *groups[] = {"A549_AHR+KLF1_1+1", "A549_AHR+ctrl_1+1", "A549_KLF1+ctrl_1+1",
                            "A549_KLF10+ctrl_1+1"};
    const char *names[] = {"g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"};
    const char *vars[] = {"g7", "g6", "g5", "g4", "g3", "g2", "g1", "g0"};
    cw_deg_table t;
    cw_strings v;
    make_table(&t, groups, 4, names);
    make_vars(&v, vars, 8);
    cw_deg_selection s;
    const char *klf1[] = {"KLF1"}, *ahr[] = {"AHR"}, *dbl[] = {"KLF1", "AHR"};
    /* single KLF1: the double group A549_AHR+KLF1_1+1 is matched first */
    assert_int_equal(cw_deg_select(&s, &t, &v, klf1, 1, CW_DEG_MATCH_SUBSTRING), CW_OK);
    assert_int_equal(s.group, 0);
    assert_int_equal(s.exact, 0);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.cols[0], 7); /* g0 -> position 7 of var_names, rank order kept */
    assert_int_equal(s.cols[1], 6);
    cw_deg_selection_free(&s);
    assert_int_equal(cw_deg_group_substring(&t, ahr, 1), 0);
    /* the double (either order): first group containing both substrings */
    assert_int_equal(cw_deg_group_substring(&t, dbl, 2), 0);
    /* the exact rule cannot read CPA names ("A549_KLF1", "ctrl_1", "1"): falls back */
    assert_int_equal(cw_deg_select(&s, &t, &v, klf1, 1, CW_DEG_MATCH_EXACT), CW_OK);
    assert_int_equal(s.group, 0);
    assert_int_equal(s.exact, 0);
    cw_deg_selection_free(&s);
    /* no match: not found, no silent reuse */
    const char *zz[] = {"ZNF9"};
    assert_int_equal(cw_deg_select(&s, &t, &v, zz, 1, CW_DEG_MATCH_SUBSTRING), CW_ENOTFOUND);
    assert_int_equal(s.group, -1);
    assert_null(s.cols);
    assert_non_null(strstr(cw_errmsg(), "ZNF9"));
    assert_int_equal(cw_deg_select(&s, &t, &v, zz, 1, CW_DEG_MATCH_EXACT), CW_ENOTFOUND);
    cw_deg_table_free(&t);

    /* KLF1 matches a KLF10 group stored before KLF1's own */
    const char *groups2[] = {"KLF10", "KLF1", "AHR,KLF1", "AHR", "FEV + ctrl", "B+A+ctrl+A"};
    const char *names2[] = {"g0", "g1", "g1", "g2", "g2", "g3", "g3", "g4", "g4", "g5", "g5",
                            "g6"};
    make_table(&t, groups2, 6, names2);
    assert_int_equal(cw_deg_select(&s, &t, &v, klf1, 1, CW_DEG_MATCH_SUBSTRING), CW_OK);
    assert_int_equal(s.group, 0);
    cw_deg_selection_free(&s);
    /* the exact rule finds KLF1's own group */
    assert_int_equal(cw_deg_select(&s, &t, &v, klf1, 1, CW_DEG_MATCH_EXACT), CW_OK);
    assert_int_equal(s.group, 1);
    assert_int_equal(s.exact, 1);
    assert_int_equal(s.cols[0], 6); /* g1 */
    assert_int_equal(s.cols[1], 5); /* g2 */
    cw_deg_selection_free(&s);
    /* exact: a superset is not a match ({AHR} vs "AHR,KLF1"), substring takes it */
    assert_int_equal(cw_deg_group_exact(&t, ahr, 1), 3);
    assert_int_equal(cw_deg_group_substring(&t, ahr, 1), 2);
    /* exact: order-insensitive, white space trimmed, ctrl and repeats dropped */
    assert_int_equal(cw_deg_group_exact(&t, dbl, 2), 2);
    const char *fev[] = {"FEV"}, *ab[] = {"A", "B"}, *a_only[] = {"A"};
    assert_int_equal(cw_deg_group_exact(&t, fev, 1), 4);
    assert_int_equal(cw_deg_group_exact(&t, ab, 2), 5);
    assert_int_equal(cw_deg_group_exact(&t, a_only, 1), -1);
    /* a DEG name that is not a var name is a format error */
    const char *fewvars[] = {"g0", "g1"};
    cw_strings v2;
    make_vars(&v2, fewvars, 2);
    assert_int_equal(cw_deg_select(&s, &t, &v2, fev, 1, CW_DEG_MATCH_EXACT), CW_EFORMAT);
    assert_non_null(strstr(cw_errmsg(), "'g4' is not a var name"));
    assert_null(s.cols);
    /* bad targets */
    const char *empty[] = {""};
    assert_int_equal(cw_deg_select(&s, &t, &v, empty, 1, CW_DEG_MATCH_SUBSTRING), CW_EINVAL);
    assert_int_equal(cw_deg_select(&s, &t, &v, klf1, 0, CW_DEG_MATCH_SUBSTRING), CW_EINVAL);
    cw_strings_free(&v2);
    cw_strings_free(&v);
    cw_deg_table_free(&t);
}

/* DEGs computed from the data (no table in the file). Reference t statistics:
 *   ctrl = [[1.0,0.5,0.0,2.0],[1.2,0.4,0.1,2.1],[0.9,0.6,0.0,1.9],[1.1,0.5,0.2,2.0],
 *           [1.0,0.7,0.1,2.2],[0.8,0.5,0.0,1.8]]  (float32)
 *   A = [[1.0,0.6,2.0,2.0],[1.1,0.5,2.3,2.1],[0.9,0.4,1.9,1.9],[1.2,0.6,2.2,2.3],[1.0,0.5,2.1,1.7]]
 *   B = [[0.1,0.5,0.0,2.5],[0.2,0.6,0.1,2.6],[0.0,0.4,0.0,2.4],[0.3,0.5,0.2,2.7],[0.1,0.7,0.1,2.5]]
 *   stats.ttest_ind(X.astype(np.float64), ctrl.astype(np.float64), equal_var=False).statistic
 *   A: [0.519290692699938, -0.236524812363176, 26.010487007219172, -3.44e-08]  -> top g2, g0
 *   B: [-11.1647510678822, 0.100758555804101, 0.266076042095096, 7.0104262113299907] -> g0, g3 */
static void test_deg_compute_from_data(void **state) {
    (void)state;
    const float rows[][4] = {
        {1.0f, 0.5f, 0.0f, 2.0f}, {1.0f, 0.6f, 2.0f, 2.0f}, {0.1f, 0.5f, 0.0f, 2.5f},
        {1.2f, 0.4f, 0.1f, 2.1f}, {1.1f, 0.5f, 2.3f, 2.1f}, {0.2f, 0.6f, 0.1f, 2.6f},
        {0.9f, 0.6f, 0.0f, 1.9f}, {0.9f, 0.4f, 1.9f, 1.9f}, {0.0f, 0.4f, 0.0f, 2.4f},
        {1.1f, 0.5f, 0.2f, 2.0f}, {1.2f, 0.6f, 2.2f, 2.3f}, {0.3f, 0.5f, 0.2f, 2.7f},
        {1.0f, 0.7f, 0.1f, 2.2f}, {1.0f, 0.5f, 2.1f, 1.7f}, {0.1f, 0.7f, 0.1f, 2.5f},
        {0.8f, 0.5f, 0.0f, 1.8f}, {9.0f, 9.0f, 9.0f, 9.0f}};
    /* perturbation ids: 0 = "B", 1 = "A" (sorted in the output), -1 control, -2 unused */
    const int64_t cell_pert[17] = {-1, 1, 0, -1, 1, 0, -1, 1, 0, -1, 1, 0, -1, 1, 0, -1, -2};
    cw_csr x;
    assert_int_equal(cw_csr_from_dense(&x, &rows[0][0], 17, 4), CW_OK);
    cw_xstore xs;
    cw_xstore_wrap(&xs, &x);
    const char *labels[] = {"B", "A"}, *genes[] = {"g0", "g1", "g2", "g3"};
    cw_strings lab, gn;
    make_vars(&lab, labels, 2);
    make_vars(&gn, genes, 4);
    cw_deg_table t;
    assert_int_equal(cw_deg_compute(&t, &xs, cell_pert, 2, &lab, &gn, 2, 2), CW_OK);
    assert_int_equal(t.n_groups, 2);
    assert_int_equal(t.n_genes, 2);
    assert_string_equal(t.groups.s[0], "A");
    assert_string_equal(t.groups.s[1], "B");
    assert_string_equal(t.names.s[0], "g2");
    assert_string_equal(t.names.s[1], "g0");
    assert_string_equal(t.names.s[2], "g0");
    assert_string_equal(t.names.s[3], "g3");
    assert_close(t.scores[0], 26.010487007219172, 0, 1e-8);
    assert_close(t.scores[1], 0.519290692699938, 0, 1e-8);
    assert_close(t.scores[2], -11.1647510678822, 0, 1e-8);
    assert_close(t.scores[3], 7.0104262113299907, 0, 1e-8);
    /* and the exact rule finds the groups of a computed table */
    cw_deg_selection s;
    const char *a[] = {"A"};
    assert_int_equal(cw_deg_select(&s, &t, &gn, a, 1, CW_DEG_MATCH_EXACT), CW_OK);
    assert_int_equal(s.exact, 1);
    assert_int_equal(s.cols[0], 2);
    assert_int_equal(s.cols[1], 0);
    cw_deg_selection_free(&s);
    cw_deg_table_free(&t);
    /* a perturbation id out of range */
    int64_t badp[17];
    memcpy(badp, cell_pert, sizeof badp);
    badp[3] = 2;
    assert_int_equal(cw_deg_compute(&t, &xs, badp, 2, &lab, &gn, 2, 1), CW_EINVAL);
    cw_strings_free(&lab);
    cw_strings_free(&gn);
    cw_csr_free(&x);
}

/* ---- baselines ---------------------------------------------------------------------------- */

static void test_baselines(void **state) {
    (void)state;
    const int64_t n = 3, d = 4;
    const double cm[4] = {1.0, 2.0, 0.5, 0.0};
    const double ma[4] = {1.5, 2.0, 0.25, 1.0}, mb[4] = {0.5, 3.0, 0.5, 2.0};
    const double *singles[2] = {ma, mb};
    const float ctrl[3 * 4] = {1, 2, 0, 0, 2, 1, 1, 0, 0, 3, 0.5f, 1};
    double shift[4], prof[4];
    assert_int_equal(cw_baseline_additive_shift(shift, cm, singles, 2, d), CW_OK);
    const double want_shift[4] = {0.0, 1.0, -0.25, 3.0};
    for (int g = 0; g < 4; g++) assert_close(shift[g], want_shift[g], 1e-15, 0);
    assert_int_equal(cw_baseline_additive_profile(prof, cm, singles, 2, d), CW_OK);
    /* control + (A - control) + (B - control) = A + B - control */
    for (int g = 0; g < 4; g++) assert_close(prof[g], ma[g] + mb[g] - cm[g], 1e-15, 0);

    float yhat[3 * 4];
    assert_int_equal(cw_baseline_additive(yhat, CW_BASELINE_PAIRED, ctrl, cm, singles, 2, n, d),
                     CW_OK);
    for (int i = 0; i < 3; i++)
        for (int g = 0; g < 4; g++)
            assert_close(yhat[i * 4 + g], ctrl[i * 4 + g] + want_shift[g], 1e-6, 0);
    assert_int_equal(cw_baseline_additive(yhat, CW_BASELINE_MEAN, NULL, cm, singles, 2, n, d),
                     CW_OK);
    for (int i = 0; i < 3; i++)
        for (int g = 0; g < 4; g++) assert_close(yhat[i * 4 + g], prof[g], 1e-6, 0);
    assert_int_equal(cw_baseline_control(yhat, CW_BASELINE_PAIRED, ctrl, NULL, n, d), CW_OK);
    assert_memory_equal(yhat, ctrl, sizeof ctrl);
    assert_int_equal(cw_baseline_control(yhat, CW_BASELINE_MEAN, NULL, cm, n, d), CW_OK);
    for (int i = 0; i < 3; i++)
        for (int g = 0; g < 4; g++) assert_true(yhat[i * 4 + g] == (float)cm[g]);

    /* the two control baselines on the same real cells: here, as in general, the mean copies
     * (a point mass) get the larger MMD and the smaller RMSE than the paired control cells */
    const float real[3 * 4] = {2, 2, 0, 1, 1, 3, 1, 2, 1, 2, 1, 0};
    cw_metrics mp, mm;
    float paired[3 * 4];
    assert_int_equal(cw_baseline_control(paired, CW_BASELINE_PAIRED, ctrl, NULL, n, d), CW_OK);
    assert_int_equal(cw_metrics_compute(&mp, real, n, paired, n, d, NULL, 0, cm, 10.0, NULL),
                     CW_OK);
    assert_int_equal(cw_metrics_compute(&mm, real, n, yhat, n, d, NULL, 0, cm, 10.0, NULL),
                     CW_OK);
    assert_true(mm.rmse_relative < mp.rmse_relative); /* 0.508 vs 0.689 */
    assert_true(mm.mmd > mp.mmd);                     /* 3.89 vs 2.49 (sigma 10) */
    assert_true(mm.flags & CW_METRIC_PEARSON_CONSTANT); /* mhat - c = 0 everywhere */

    /* errors */
    assert_int_equal(cw_baseline_additive(yhat, CW_BASELINE_PAIRED, ctrl, cm, singles, 0, n, d),
                     CW_EINVAL);
    assert_int_equal(cw_baseline_control(yhat, CW_BASELINE_PAIRED, NULL, cm, n, d), CW_EINVAL);
    assert_int_equal(cw_baseline_control(yhat, CW_BASELINE_MEAN, ctrl, NULL, n, d), CW_EINVAL);
    assert_int_equal(cw_baseline_control(yhat, (cw_baseline_cells)7, ctrl, cm, n, d), CW_EINVAL);
    const double *nulls[2] = {ma, NULL};
    assert_int_equal(cw_baseline_additive_shift(shift, cm, nulls, 2, d), CW_EINVAL);
}

/* ---- aggregation -------------------------------------------------------------------------- */

/* np.mean([0.90, 0.93, 0.95, 0.91]) = 0.9225000000000001, np.std(...) = 0.0192028643696715 */
static void test_aggregation(void **state) {
    (void)state;
    cw_metrics per[3] = {
        {0.9, 0.8, 0.5, 0.1, 0.7, 0},
        {0.6, 0.5, 0.4, 0.3, 0.2, CW_METRIC_PEARSON_CONSTANT},
        {0.3, -0.2, 0.6, 0.2, 0.0, 0},
    };
    cw_metrics mean;
    assert_int_equal(cw_metrics_mean(&mean, per, 3), CW_OK);
    assert_close(mean.r2_reference, 0.6, 1e-15, 0);
    assert_close(mean.r2_standard, 1.1 / 3, 1e-15, 0);
    assert_close(mean.rmse_relative, 0.5, 1e-15, 0);
    assert_close(mean.mmd, 0.2, 1e-15, 0);
    assert_close(mean.pearson_delta, 0.3, 1e-15, 0);
    assert_int_equal(mean.flags, CW_METRIC_PEARSON_CONSTANT);
    per[1].mmd = NAN; /* np.mean propagates NaN */
    assert_int_equal(cw_metrics_mean(&mean, per, 3), CW_OK);
    assert_true(isnan(mean.mmd));
    assert_int_equal(cw_metrics_mean(&mean, per, 0), CW_EINVAL);

    cw_intervention_metrics ims[2];
    memset(ims, 0, sizeof ims);
    ims[0].deg.r2_reference = 0.8;
    ims[1].deg.r2_reference = 0.6;
    ims[0].all.rmse_relative = 0.4;
    ims[1].all.rmse_relative = 0.5;
    ims[0].n_cells = 96;
    ims[1].n_cells = 96;
    cw_intervention_metrics im;
    assert_int_equal(cw_intervention_metrics_mean(&im, ims, 2), CW_OK);
    assert_close(im.deg.r2_reference, 0.7, 1e-15, 0);
    assert_close(im.all.rmse_relative, 0.45, 1e-15, 0);
    assert_int_equal(im.n_cells, 192);

    const double seeds[4] = {0.90, 0.93, 0.95, 0.91};
    cw_mean_std ms;
    assert_int_equal(cw_mean_std_ddof0(&ms, seeds, 4), CW_OK);
    assert_close(ms.mean, 0.9225000000000001, 1e-15, 0);
    assert_close(ms.std, 0.0192028643696715, 1e-15, 0);
    cw_metrics ps[4];
    memset(ps, 0, sizeof ps);
    for (int s = 0; s < 4; s++) {
        ps[s].r2_reference = seeds[s];
        ps[s].mmd = 0.1;
    }
    ps[2].flags = CW_METRIC_R2_TOO_FEW;
    cw_metrics_summary sum;
    assert_int_equal(cw_metrics_across_seeds(&sum, ps, 4), CW_OK);
    assert_close(sum.r2_reference.mean, 0.9225000000000001, 1e-15, 0);
    assert_close(sum.r2_reference.std, 0.0192028643696715, 1e-15, 0);
    assert_close(sum.mmd.mean, 0.1, 1e-15, 0);
    assert_close(sum.mmd.std, 0.0, 1e-15, 0);
    assert_int_equal(sum.n_seeds, 4);
    assert_int_equal(sum.flags, CW_METRIC_R2_TOO_FEW);
    assert_int_equal(cw_metrics_across_seeds(&sum, ps, 0), CW_EINVAL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_vs_numpy),
        cmocka_unit_test(test_metrics_intervention_both_sets),
        cmocka_unit_test(test_r2_sklearn_edge_cases),
        cmocka_unit_test(test_pearson_and_rmse_edges),
        cmocka_unit_test(test_mmd_vs_naive_and_threads),
        cmocka_unit_test(test_mmd_hand_values),
        cmocka_unit_test(test_mmd_large_n),
        cmocka_unit_test(test_argument_errors),
        cmocka_unit_test(test_deg_substring_rule_pitfalls),
        cmocka_unit_test(test_deg_compute_from_data),
        cmocka_unit_test(test_baselines),
        cmocka_unit_test(test_aggregation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
