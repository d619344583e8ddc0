/* test_nn_kernels.c: forward values (and backward against closed forms) of the nn kernels in
 * the float build the library ships: GEMM wrapper, linear, LeakyReLU, softplus,
 * reparameterisation, KL, MSE, L1, softmax, MMD (against a naive O(n^2 D) double loop and
 * hand values), the DAG layer (against an explicit dense inverse), the graph convolutions
 * (SAGE/GCN spmm by hand and against dense D^-1/2 (A+I) D^-1/2, transposed values, GAT against a
 * dense all-pairs reference, GAT thread-count invariance), layernorm, dropout, the Laplacian
 * penalty, masked linear, Adam (against the torch formulas iterated by hand in double) and the
 * gradient clamp. Spec: grace_cmvae.md §4.0, §4.2, §4.5, §5.1, §5.4, §5.6. Finite-difference
 * gradient checks live in test_nn_gradcheck.c (double build).
 * Comparisons use atol + rtol*|ref| and print the worst element. */
#include "test_util.h"

#include "core/rng.h"
#include "nn/activation.h"
#include "nn/adam.h"
#include "nn/dag.h"
#include "nn/dropout.h"
#include "nn/graph_conv.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/mmd.h"
#include "nn/real.h"
#include "nn/softmax.h"
#include "nn/vae.h"

#include <math.h>

/* ---- helpers ---------------------------------------------------------------------------- */

static void fill_uniform(cw_rng *r, real *a, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++) a[i] = (real)(lo + (hi - lo) * cw_rng_uniform(r));
}

static void fill_normal(cw_rng *r, real *a, int64_t n, double sd) {
    for (int64_t i = 0; i < n; i++) a[i] = (real)(sd * cw_rng_normal(r));
}

static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    assert_non_null(p);
    return p;
}

/* Asserts |got - ref| <= atol + rtol |ref| elementwise; prints the worst element. */
static void expect_close(const char *what, const real *got, const double *ref, int64_t n,
                         double atol, double rtol) {
    double worst = 0;
    int64_t wi = 0;
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        double err = fabs((double)got[i] - ref[i]);
        double lim = atol + rtol * fabs(ref[i]);
        if (!(err <= lim)) ok = 0; /* NaN fails */
        if (!(err / lim <= worst)) {
            worst = err / lim;
            wi = i;
        }
    }
    if (!ok || getenv("CW_TEST_VERBOSE"))
        printf("  %-28s worst [%lld] got %.9g ref %.9g (err/limit %.3g)\n", what, (long long)wi,
               n ? (double)got[wi] : 0.0, n ? ref[wi] : 0.0, worst);
    assert_true(ok);
}

static void expect_close1(const char *what, double got, double ref, double atol, double rtol) {
    if (!(fabs(got - ref) <= atol + rtol * fabs(ref)) || getenv("CW_TEST_VERBOSE"))
        printf("  %-28s got %.12g ref %.12g\n", what, got, ref);
    assert_true(fabs(got - ref) <= atol + rtol * fabs(ref));
}

/* ---- GEMM wrapper ----------------------------------------------------------------------- */

static void test_gemm_wrapper(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 1);
    const int64_t m = 5, n = 7, k = 3, ld = 11; /* ld > every width: strided sub-matrices */
    real *a = xcalloc(11 * 11, sizeof(real)), *b = xcalloc(11 * 11, sizeof(real));
    real *c = xcalloc(11 * 11, sizeof(real));
    double *ref = xcalloc(m * n, sizeof(double));
    real *cc = xcalloc(m * n, sizeof(real));
    fill_uniform(&r, a, 121, -1, 1);
    fill_uniform(&r, b, 121, -1, 1);
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            fill_uniform(&r, c, 121, -1, 1);
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) {
                    double s = 0;
                    for (int64_t p = 0; p < k; p++) {
                        double av = ta ? a[p * ld + i] : a[i * ld + p];
                        double bv = tb ? b[j * ld + p] : b[p * ld + j];
                        s += av * bv;
                    }
                    ref[i * n + j] = 0.5 * s - 2.0 * c[i * ld + j];
                }
            cw_gemm(ta, tb, m, n, k, 0.5f, a, ld, b, ld, -2.0f, c, ld);
            for (int64_t i = 0; i < m; i++)
                for (int64_t j = 0; j < n; j++) cc[i * n + j] = c[i * ld + j];
            expect_close("gemm", cc, ref, m * n, 1e-6, 1e-5);
        }
    /* K = 0: C = beta C; beta = 0 clears even NaN */
    for (int64_t i = 0; i < m * n; i++) c[i] = 3;
    cw_gemm(0, 0, m, n, 0, 1, a, 1, b, n, 0.5f, c, n);
    assert_true(c[0] == 1.5f && c[m * n - 1] == 1.5f);
    c[0] = NAN;
    cw_gemm(0, 0, m, n, 0, 1, a, 1, b, n, 0, c, n);
    assert_true(c[0] == 0);
    free(a), free(b), free(c), free(ref), free(cc);
}

/* cw_gemm's own split over threads (skinny products with more than one OpenMP thread): both
 * split directions (the longer output side: C's columns or rows), all four transposes, strided
 * operands, beta != 0 and a long side that does not divide into 16-wide thread ranges, on 1, 2
 * and 3 threads, against a double loop. A wrong range offset (say B's columns taken for its rows
 * when transposed) puts the wrong values in whole column blocks of C. */
static void test_gemm_split_threads(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 7);
    /* (m, n, k): split along n (n >= m), then along m; m n k >= CW_GEMM_SPLIT_MIN_WORK */
    const int64_t shapes[3][3] = {{24, 1037, 64}, {1029, 40, 48}, {33, 130, 300}};
    const int64_t pad = 3;
    const int saved = omp_get_max_threads();
    for (int s = 0; s < 3; s++) {
        const int64_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        const int64_t big = (m > n ? m : n) > k ? (m > n ? m : n) : k;
        const int64_t ld = big + pad; /* room for either orientation of each operand */
        assert_true(m * n * k >= CW_GEMM_SPLIT_MIN_WORK || s == 2);
        real *a = xcalloc((size_t)(big * ld), sizeof(real));
        real *b = xcalloc((size_t)(big * ld), sizeof(real));
        real *c0 = xcalloc((size_t)(m * ld), sizeof(real));
        real *c = xcalloc((size_t)(m * ld), sizeof(real));
        real *cc = xcalloc((size_t)(m * n), sizeof(real));
        double *ref = xcalloc((size_t)(m * n), sizeof(double));
        fill_uniform(&r, a, big * ld, -1, 1);
        fill_uniform(&r, b, big * ld, -1, 1);
        fill_uniform(&r, c0, m * ld, -1, 1);
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++) {
                        double acc = 0;
                        for (int64_t p = 0; p < k; p++)
                            acc += (double)(ta ? a[p * ld + i] : a[i * ld + p]) *
                                   (double)(tb ? b[j * ld + p] : b[p * ld + j]);
                        ref[i * n + j] = 0.75 * acc + 0.5 * c0[i * ld + j];
                    }
                for (int t = 1; t <= 3; t++) {
                    omp_set_num_threads(t);
                    if (s < 2) assert_int_equal(cw_gemm_split_threads(m, n, k), t);
                    memcpy(c, c0, (size_t)(m * ld) * sizeof(real));
                    cw_gemm(ta, tb, m, n, k, 0.75f, a, ld, b, ld, 0.5f, c, ld);
                    for (int64_t i = 0; i < m; i++) {
                        for (int64_t j = 0; j < n; j++) cc[i * n + j] = c[i * ld + j];
                        for (int64_t j = n; j < ld; j++) /* padding untouched */
                            assert_true(c[i * ld + j] == c0[i * ld + j]);
                    }
                    expect_close("gemm split", cc, ref, m * n, 1e-5, 1e-5);
                }
            }
        free(a), free(b), free(c0), free(c), free(cc), free(ref);
    }
    /* a square product is left to BLAS; one thread never splits */
    omp_set_num_threads(2);
    assert_int_equal(cw_gemm_split_threads(600, 600, 600), 1);
    assert_int_equal(cw_gemm_split_threads(32, 5000, 4), 1); /* too little work */
    assert_int_equal(cw_gemm_split_threads(32, 5000, 128), 2);
    omp_set_num_threads(1);
    assert_int_equal(cw_gemm_split_threads(32, 5000, 128), 1);
    omp_set_num_threads(saved);
}

/* ---- linear ----------------------------------------------------------------------------- */

static void test_linear(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 2);
    const int64_t n = 7, in = 13, out = 5;
    real *x = xcalloc(n * in, sizeof(real)), *w = xcalloc(out * in, sizeof(real));
    real *b = xcalloc(out, sizeof(real)), *y = xcalloc(n * out, sizeof(real));
    real *dy = xcalloc(n * out, sizeof(real)), *dx = xcalloc(n * in, sizeof(real));
    real *dw = xcalloc(out * in, sizeof(real)), *db = xcalloc(out, sizeof(real));
    double *ref = xcalloc(n * in + out * in, sizeof(double));
    fill_uniform(&r, x, n * in, -1, 1);
    fill_uniform(&r, w, out * in, -1, 1);
    fill_uniform(&r, b, out, -1, 1);
    fill_uniform(&r, dy, n * out, -1, 1);

    for (int with_bias = 0; with_bias < 2; with_bias++) {
        cw_linear_forward(y, x, w, with_bias ? b : NULL, n, in, out);
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < out; o++) {
                double s = with_bias ? b[o] : 0;
                for (int64_t k = 0; k < in; k++) s += (double)x[i * in + k] * w[o * in + k];
                ref[i * out + o] = s;
            }
        expect_close(with_bias ? "linear fwd" : "linear fwd (no bias)", y, ref, n * out, 1e-6,
                     1e-5);
    }

    /* backward accumulates on top of what is already there */
    for (int64_t i = 0; i < n * in; i++) dx[i] = 0.5f;
    for (int64_t i = 0; i < out * in; i++) dw[i] = -1.0f;
    for (int64_t i = 0; i < out; i++) db[i] = 2.0f;
    cw_linear_backward(dx, dw, db, dy, x, w, n, in, out);
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < in; k++) {
            double s = 0.5;
            for (int64_t o = 0; o < out; o++) s += (double)dy[i * out + o] * w[o * in + k];
            ref[i * in + k] = s;
        }
    expect_close("linear dinp", dx, ref, n * in, 1e-6, 1e-5);
    for (int64_t o = 0; o < out; o++)
        for (int64_t k = 0; k < in; k++) {
            double s = -1.0;
            for (int64_t i = 0; i < n; i++) s += (double)dy[i * out + o] * x[i * in + k];
            ref[o * in + k] = s;
        }
    expect_close("linear dweight", dw, ref, out * in, 1e-6, 1e-5);
    for (int64_t o = 0; o < out; o++) {
        double s = 2.0;
        for (int64_t i = 0; i < n; i++) s += dy[i * out + o];
        ref[o] = s;
    }
    expect_close("linear dbias", db, ref, out, 1e-6, 1e-5);
    /* NULL gradients are skipped */
    cw_linear_backward(NULL, NULL, db, dy, x, w, n, in, out);
    free(x), free(w), free(b), free(y), free(dy), free(dx), free(dw), free(db), free(ref);
}

/* ---- activations ------------------------------------------------------------------------ */

static void test_lrelu(void **state) {
    (void)state;
    real x[6] = {-2.0f, -0.5f, 0.0f, -0.0f, 0.25f, 3.0f};
    double ref[6] = {-0.4, -0.1, 0.0, 0.0, 0.25, 3.0};
    real y[6], d[6];
    cw_lrelu_forward(y, x, 6);
    expect_close("lrelu fwd", y, ref, 6, 1e-7, 1e-6);
    real dout[6] = {1, 2, 3, 4, 5, 6};
    /* derivative 0.2 for v <= 0, including exactly 0 (torch); from the input... */
    for (int i = 0; i < 6; i++) d[i] = 1.0f;
    cw_lrelu_backward(d, dout, x, 6);
    double dref[6] = {1 + 0.2, 1 + 0.4, 1 + 0.6, 1 + 0.8, 1 + 5, 1 + 6};
    expect_close("lrelu bwd (input)", d, dref, 6, 1e-6, 1e-6);
    /* ...and identically from the output of an in-place forward */
    real z[6];
    memcpy(z, x, sizeof z);
    cw_lrelu_forward(z, z, 6);
    expect_close("lrelu fwd in place", z, ref, 6, 1e-7, 1e-6);
    for (int i = 0; i < 6; i++) d[i] = 1.0f;
    cw_lrelu_backward(d, dout, z, 6);
    expect_close("lrelu bwd (output)", d, dref, 6, 1e-6, 1e-6);
}

static void test_softplus(void **state) {
    (void)state;
    real x[8] = {-30.0f, -1.0f, 0.0f, 1.0f, 19.5f, 20.0f, 20.5f, 50.0f};
    double ref[8], dref[8];
    for (int i = 0; i < 8; i++) {
        double v = x[i];
        ref[i] = v > 20 ? v : log1p(exp(v)); /* at exactly 20 torch still uses log1p(exp) */
        dref[i] = 0.5 + (v > 20 ? 1.0 : 1.0 / (1.0 + exp(-v)));
    }
    assert_true(fabs(ref[2] - log(2.0)) < 1e-15);
    real y[8], d[8], dout[8];
    cw_softplus_forward(y, x, 8);
    expect_close("softplus fwd", y, ref, 8, 1e-12, 2e-7);
    assert_true(y[0] > 0); /* 9.4e-14, no underflow to 0 */
    for (int i = 0; i < 8; i++) d[i] = 0.5f, dout[i] = 1.0f;
    cw_softplus_backward(d, dout, x, 8);
    expect_close("softplus bwd", d, dref, 8, 1e-7, 1e-6);
    /* above the threshold the derivative is exactly 1, as torch */
    assert_true(d[6] == 1.5f && d[7] == 1.5f);
}

/* ---- VAE pieces, MSE, L1 ---------------------------------------------------------------- */

static void test_reparam_and_kl(void **state) {
    (void)state;
    const double e = exp(1.0);
    real mu[4] = {0, 1, 2, 0}, var[4] = {1, 1, (real)e, 1}, eps[4] = {0.5f, -1, 2, 0.25f};
    real z[4];
    cw_reparam_forward(z, mu, var, eps, 4);
    double zref[4] = {0.5, 0.0, 2 + sqrt(e) * 2, 0.25};
    expect_close("reparam fwd", z, zref, 4, 1e-6, 1e-6);
    real dz[4] = {1, 2, 3, 4}, dmu[4] = {0}, dvar[4] = {0};
    cw_reparam_backward(dmu, dvar, dz, var, eps, 4);
    double dmuref[4] = {1, 2, 3, 4}, dvarref[4] = {0.25, -1, 3.0 / sqrt(e), 0.5};
    expect_close("reparam dmu", dmu, dmuref, 4, 1e-6, 1e-6);
    expect_close("reparam dvar", dvar, dvarref, 4, 1e-6, 1e-6);

    /* B = 2, Z = 2: terms (1 + log var - mu^2 - var) = 0, -1, -2 - e, 0  ->  KL = (3 + e) / 4 */
    expect_close1("kl", cw_kl_forward(mu, var, 2, 2), (3 + e) / 4, 1e-7, 1e-6);
    for (int i = 0; i < 4; i++) dmu[i] = dvar[i] = 0;
    cw_kl_backward(dmu, dvar, 2.0, mu, var, 2, 2); /* dloss = beta = 2 */
    double kmu[4], kvar[4];
    for (int i = 0; i < 4; i++) {
        kmu[i] = 2.0 * mu[i] / 2;
        kvar[i] = 2.0 * (1 - 1 / (double)var[i]) / 4;
    }
    expect_close("kl dmu", dmu, kmu, 4, 1e-7, 1e-6);
    expect_close("kl dvar", dvar, kvar, 4, 1e-7, 1e-6);
}

static void test_mse_and_l1(void **state) {
    (void)state;
    real p[4] = {1, 2, 3, 4}, t[4] = {1, 0, 4, 2};
    expect_close1("mse", cw_mse_forward(p, t, 4), (0 + 4 + 1 + 4) / 4.0, 1e-12, 1e-12);
    real dp[4] = {1, 1, 1, 1};
    cw_mse_backward(dp, 3.0, p, t, 4);
    double dref[4] = {1, 1 + 3 * 2 * 2 / 4.0, 1 - 3 * 2 / 4.0, 1 + 3 * 2 * 2 / 4.0};
    expect_close("mse bwd", dp, dref, 4, 1e-7, 1e-7);

    /* 3 x 3: strict upper (0,1)=-2, (0,2)=0, (1,2)=0.5; diagonal and lower are ignored */
    real g[9] = {9, -2, 0, 7, 9, 0.5f, -7, 7, 9};
    expect_close1("l1 triu", cw_l1_triu_forward(g, 3), 2.5, 1e-12, 1e-12);
    real dg[9];
    for (int i = 0; i < 9; i++) dg[i] = 1;
    cw_l1_triu_backward(dg, 1e-4, g, 3);
    double gref[9] = {1, 1 - 1e-4, 1, 1, 1, 1 + 1e-4, 1, 1, 1};
    expect_close("l1 triu bwd", dg, gref, 9, 1e-9, 1e-7);
}

/* ---- softmax ---------------------------------------------------------------------------- */

static void test_softmax(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 3);
    const int64_t n = 4, c = 9;
    const real tau = 2.5f;
    real l[36], p[36], dp[36], dl[36];
    double ref[36];
    fill_uniform(&r, l, n * c, -2, 2);
    l[0] = 1000, l[1] = -1000; /* tau*1000: must not overflow */
    cw_softmax_forward(p, l, tau, n, c);
    for (int64_t i = 0; i < n; i++) {
        double mx = -INFINITY, s = 0;
        for (int64_t k = 0; k < c; k++) mx = fmax(mx, (double)tau * l[i * c + k]);
        for (int64_t k = 0; k < c; k++) s += exp((double)tau * l[i * c + k] - mx);
        for (int64_t k = 0; k < c; k++) ref[i * c + k] = exp((double)tau * l[i * c + k] - mx) / s;
    }
    expect_close("softmax fwd", p, ref, n * c, 1e-7, 1e-5);
    assert_true(p[0] == 1.0f && p[1] == 0.0f);
    /* backward against the explicit Jacobian tau (diag(p) - p p^T) */
    fill_uniform(&r, dp, n * c, -1, 1);
    for (int64_t i = 0; i < n * c; i++) dl[i] = 0.25f;
    cw_softmax_backward(dl, dp, p, tau, n, c);
    double dref[36];
    for (int64_t i = 0; i < n; i++)
        for (int64_t k = 0; k < c; k++) {
            double s = 0;
            for (int64_t j = 0; j < c; j++) {
                double jac = tau * ((j == k) * ref[i * c + k] - ref[i * c + j] * ref[i * c + k]);
                s += jac * dp[i * c + j];
            }
            dref[i * c + k] = 0.25 + s;
        }
    expect_close("softmax bwd", dl, dref, n * c, 1e-6, 1e-5);
    /* tau = 1 on equal logits: uniform */
    real e[3] = {5, 5, 5}, pe[3];
    cw_softmax_forward(pe, e, 1.0f, 1, 3);
    double u[3] = {1 / 3.0, 1 / 3.0, 1 / 3.0};
    expect_close("softmax uniform", pe, u, 3, 1e-7, 1e-6);
}

/* ---- MMD -------------------------------------------------------------------------------- */

/* The reference definition, naively: T = [x; y], explicit differences, kernel sums in double,
 * biased V-statistic with coefficients 1/n^2, 1/m^2, -1/(nm) (= mean(XX+YY-XY-YX) if n == m). */
static double naive_mmd(const real *x, const real *y, int64_t n, int64_t m, int64_t d,
                        double sigma, int kn, double *gx /* (n, d) or NULL */) {
    const int64_t t = n + m;
    double b0 = sigma / pow(2.0, kn / 2), loss = 0;
    if (gx)
        for (int64_t i = 0; i < n * d; i++) gx[i] = 0;
    for (int64_t i = 0; i < t; i++)
        for (int64_t j = 0; j < t; j++) {
            const real *ti = i < n ? x + i * d : y + (i - n) * d;
            const real *tj = j < n ? x + j * d : y + (j - n) * d;
            double dist = 0;
            for (int64_t k = 0; k < d; k++) {
                double diff = (double)ti[k] - tj[k];
                dist += diff * diff;
            }
            double kv = 0, w = 0;
            for (int q = 0; q < kn; q++) {
                double b = b0 * pow(2.0, q);
                kv += exp(-dist / b);
                w += exp(-dist / b) / b;
            }
            double c = (i < n) == (j < n) ? (i < n ? 1.0 / (n * n) : 1.0 / (m * m))
                                          : -1.0 / (n * m);
            loss += c * kv;
            /* spec §5.6: dMMD/dt_a = -4 sum_j c_aj w_aj (t_a - t_j) */
            if (gx && i < n)
                for (int64_t k = 0; k < d; k++)
                    gx[i * d + k] += -4 * c * w * ((double)ti[k] - tj[k]);
        }
    return loss;
}

static void test_mmd_hand_values(void **state) {
    (void)state;
    /* n = m = 1, D = 1, x = 0, y = 1: MMD = 10 + 10 - 2 sum_q exp(-1/b_q), b = 31.25 * 2^q */
    const double b[10] = {31.25, 62.5, 125, 250, 500, 1000, 2000, 4000, 8000, 16000};
    double kxy = 0;
    for (int q = 0; q < 10; q++) kxy += exp(-1.0 / b[q]);
    real x[1] = {0}, y[1] = {1}, dist[4];
    expect_close1("mmd 1x1", cw_mmd_forward(dist, x, y, 1, 1, 1, 1000, 10), 20 - 2 * kxy, 1e-9,
                  1e-6);
    assert_true(dist[0] == 0 && dist[3] == 0 && dist[1] == 1 && dist[2] == 1);
    /* the same set on both sides: 0 (the diagonal's kernel_num cancels) */
    real s[6] = {0.5f, 1, -2, 3, 0, 1};
    real dist2[16];
    double v = cw_mmd_forward(dist2, s, s, 2, 2, 3, 1000, 10);
    assert_true(fabs(v) < 1e-6);
    assert_int_equal(cw_mmd_scratch_size(32, 32), 64 * 64);
    /* a NaN in the generated cells must not be clamped into a finite distance */
    real xn[2] = {NAN, 1}, yn[2] = {0, 1}, dist3[4];
    assert_true(isnan(cw_mmd_forward(dist3, xn, yn, 1, 1, 2, 1000, 10)));
}

static void test_mmd_matches_naive(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 4);
    const int64_t cases[3][3] = {{32, 32, 50}, {5, 3, 7}, {1, 4, 2}}; /* n, m, D */
    const double sigmas[3] = {1000, 1000, 2};
    /* kernel counts: the default, one past two of mmd.c's exp restarts (every 8), a single */
    const int64_t kernels[3] = {10, 23, 1};
    for (int cs = 0; cs < 3; cs++) {
        const int64_t n = cases[cs][0], m = cases[cs][1], d = cases[cs][2];
        const double sigma = sigmas[cs];
        const int64_t kn = kernels[cs];
        real *x = xcalloc(n * d, sizeof(real)), *y = xcalloc(m * d, sizeof(real));
        real *dist = xcalloc(cw_mmd_scratch_size(n, m), sizeof(real));
        real *scr = xcalloc(cw_mmd_scratch_size(n, m), sizeof(real));
        real *dx = xcalloc(n * d, sizeof(real)), *dy = xcalloc(m * d, sizeof(real));
        double *gref = xcalloc(n * d, sizeof(double));
        /* expression-like values; y shifted so the two sets differ */
        fill_uniform(&r, x, n * d, 0, 3);
        fill_uniform(&r, y, m * d, 0.5, 3.5);
        double ref = naive_mmd(x, y, n, m, d, sigma, kn, gref);
        double got = cw_mmd_forward(dist, x, y, n, m, d, sigma, kn);
        expect_close1("mmd vs naive", got, ref, 1e-6, 1e-4);
        /* gradient w.r.t. the generated rows (spec §5.6 closed form), accumulated onto 1 */
        for (int64_t i = 0; i < n * d; i++) dx[i] = 1, gref[i] = 1 + 0.5 * gref[i];
        cw_mmd_backward(dx, NULL, scr, 0.5, x, y, dist, n, m, d, sigma, kn);
        expect_close("mmd dx vs closed form", dx, gref, n * d, 1e-6, 1e-4);
        /* dy: by symmetry of the definition, swap the roles of x and y */
        double *gy = xcalloc(m * d, sizeof(double));
        naive_mmd(y, x, m, n, d, sigma, kn, gy);
        for (int64_t i = 0; i < m * d; i++) gy[i] *= 0.5;
        cw_mmd_backward(NULL, dy, scr, 0.5, x, y, dist, n, m, d, sigma, kn);
        expect_close("mmd dy vs closed form", dy, gy, m * d, 1e-6, 1e-4);
        free(x), free(y), free(dist), free(scr), free(dx), free(dy), free(gref), free(gy);
    }
}

/* ---- DAG layer -------------------------------------------------------------------------- */

/* M = (I - triu(G,1))^{-1} by Gauss-Jordan with partial pivoting, in double. */
static void dense_inverse_i_minus_a(double *minv, const real *g, int64_t z) {
    double *a = xcalloc(z * 2 * z, sizeof(double));
    for (int64_t i = 0; i < z; i++) {
        for (int64_t j = 0; j < z; j++)
            a[i * 2 * z + j] = (i == j) - (j > i ? (double)g[i * z + j] : 0);
        a[i * 2 * z + z + i] = 1;
    }
    for (int64_t c = 0; c < z; c++) {
        int64_t piv = c;
        for (int64_t i = c + 1; i < z; i++)
            if (fabs(a[i * 2 * z + c]) > fabs(a[piv * 2 * z + c])) piv = i;
        for (int64_t j = 0; j < 2 * z; j++) {
            double tmp = a[c * 2 * z + j];
            a[c * 2 * z + j] = a[piv * 2 * z + j];
            a[piv * 2 * z + j] = tmp;
        }
        double inv = 1 / a[c * 2 * z + c];
        for (int64_t j = 0; j < 2 * z; j++) a[c * 2 * z + j] *= inv;
        for (int64_t i = 0; i < z; i++)
            if (i != c) {
                double f = a[i * 2 * z + c];
                for (int64_t j = 0; j < 2 * z; j++) a[i * 2 * z + j] -= f * a[c * 2 * z + j];
            }
    }
    for (int64_t i = 0; i < z; i++)
        for (int64_t j = 0; j < z; j++) minv[i * z + j] = a[i * 2 * z + z + j];
    free(a);
}

static void dag_case(cw_rng *r, int64_t n, int64_t z, double gsd) {
    real *g = xcalloc(z * z, sizeof(real)), *zp = xcalloc(n * z, sizeof(real));
    real *u = xcalloc(n * z, sizeof(real)), *du = xcalloc(n * z, sizeof(real));
    real *dzp = xcalloc(n * z, sizeof(real)), *dg = xcalloc(z * z, sizeof(real));
    real *scr = xcalloc(cw_dag_scratch_size(n, z), sizeof(real));
    double *minv = xcalloc(z * z, sizeof(double)), *ref = xcalloc(z * z + n * z, sizeof(double));
    double *tmp = xcalloc(z * z, sizeof(double)), *tmp2 = xcalloc(z * z, sizeof(double));
    fill_normal(r, g, z * z, gsd); /* full matrix: the lower triangle must be ignored */
    fill_uniform(r, zp, n * z, -1, 1);
    fill_uniform(r, du, n * z, -1, 1);
    dense_inverse_i_minus_a(minv, g, z);

    /* u = z' M */
    cw_dag_forward(u, zp, g, n, z);
    for (int64_t b = 0; b < n; b++)
        for (int64_t j = 0; j < z; j++) {
            double s = 0;
            for (int64_t i = 0; i < z; i++) s += (double)zp[b * z + i] * minv[i * z + j];
            ref[b * z + j] = s;
        }
    expect_close("dag fwd vs dense inverse", u, ref, n * z, 1e-5, 1e-4);
    /* in place */
    real *w = xcalloc(n * z, sizeof(real));
    memcpy(w, zp, (size_t)(n * z) * sizeof(real));
    cw_dag_forward(w, w, g, n, z);
    for (int64_t i = 0; i < n * z; i++) assert_true(w[i] == u[i]);
    /* on 1 and 3 threads the same bits (rows are independent; the 32 x 105 case is past the
     * forward's threshold for splitting them) */
    const int saved = omp_get_max_threads();
    for (int t = 1; t <= 3; t += 2) {
        omp_set_num_threads(t);
        cw_dag_forward(w, zp, g, n, z);
        assert_memory_equal(w, u, (size_t)(n * z) * sizeof(real));
    }
    omp_set_num_threads(saved);
    free(w);

    /* dz' = g M^T, accumulated onto 1 */
    for (int64_t i = 0; i < n * z; i++) dzp[i] = 1;
    for (int64_t i = 0; i < z * z; i++) dg[i] = 2;
    cw_dag_backward(dzp, dg, scr, du, u, g, n, z);
    for (int64_t b = 0; b < n; b++)
        for (int64_t i = 0; i < z; i++) {
            double s = 0;
            for (int64_t j = 0; j < z; j++) s += (double)du[b * z + j] * minv[i * z + j];
            ref[b * z + i] = 1 + s;
        }
    expect_close("dag dz' = g M^T", dzp, ref, n * z, 1e-5, 1e-4);
    /* dA = M^T z'^T g M^T: tmp = z'^T g (Z, Z); tmp2 = M^T tmp; dA = tmp2 M^T */
    for (int64_t i = 0; i < z; i++)
        for (int64_t j = 0; j < z; j++) {
            double s = 0;
            for (int64_t b = 0; b < n; b++) s += (double)zp[b * z + i] * du[b * z + j];
            tmp[i * z + j] = s;
        }
    for (int64_t i = 0; i < z; i++)
        for (int64_t j = 0; j < z; j++) {
            double s = 0;
            for (int64_t k = 0; k < z; k++) s += minv[k * z + i] * tmp[k * z + j];
            tmp2[i * z + j] = s;
        }
    for (int64_t i = 0; i < z; i++)
        for (int64_t j = 0; j < z; j++) {
            double s = 0;
            for (int64_t k = 0; k < z; k++) s += tmp2[i * z + k] * minv[j * z + k];
            ref[i * z + j] = 2 + (j > i ? s : 0); /* masked to the strict upper triangle */
        }
    expect_close("dag dA = M^T z'^T g M^T", dg, ref, z * z, 1e-5, 1e-4);
    for (int64_t i = 0; i < z; i++)
        for (int64_t j = 0; j <= i; j++) assert_true(dg[i * z + j] == 2); /* untouched */
    free(g), free(zp), free(u), free(du), free(dzp), free(dg), free(scr), free(minv), free(ref);
    free(tmp), free(tmp2);
}

static void test_dag_vs_dense_inverse(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 5);
    dag_case(&r, 5, 12, 0.3);
    dag_case(&r, 32, 105, 0.1); /* the spec's shapes and initialisation scale */
    dag_case(&r, 1, 1, 1.0);
}

/* ---- graph convolutions ----------------------------------------------------------------- */

/* CSR of a symmetric 0/1 adjacency (N, N) with an empty diagonal */
static void dense_to_csr(int64_t *indptr, int32_t *indices, const uint8_t *adj, int64_t n) {
    int64_t e = 0;
    indptr[0] = 0;
    for (int64_t v = 0; v < n; v++) {
        for (int64_t u = 0; u < n; u++)
            if (adj[v * n + u]) indices[e++] = (int32_t)u;
        indptr[v + 1] = e;
    }
}

/* random symmetric adjacency, density p, no self loops; node n-1 isolated; returns nnz */
static int64_t random_adjacency(cw_rng *r, uint8_t *adj, int64_t n, double p) {
    int64_t nnz = 0;
    memset(adj, 0, (size_t)(n * n));
    for (int64_t v = 0; v < n - 1; v++)
        for (int64_t u = v + 1; u < n - 1; u++)
            if (cw_rng_uniform(r) < p) adj[v * n + u] = adj[u * n + v] = 1, nnz += 2;
    return nnz;
}

/* out (B, N, F) = M (N, N) x per cell, in double */
static void dense_apply(double *out, const double *m, const real *x, int64_t batch, int64_t n,
                        int64_t f) {
    for (int64_t b = 0; b < batch; b++)
        for (int64_t v = 0; v < n; v++)
            for (int64_t c = 0; c < f; c++) {
                double s = 0;
                for (int64_t u = 0; u < n; u++) s += m[v * n + u] * x[(b * n + u) * f + c];
                out[(b * n + v) * f + c] = s;
            }
}

/* D^-1/2 (A + I) D^-1/2, D = rowsum(A + I) */
static void dense_gcn(double *m, const uint8_t *adj, int64_t n) {
    double d[16];
    CW_ASSERT(n <= 16);
    for (int64_t v = 0; v < n; v++) {
        d[v] = 1;
        for (int64_t u = 0; u < n; u++) d[v] += adj[v * n + u];
    }
    for (int64_t v = 0; v < n; v++)
        for (int64_t u = 0; u < n; u++)
            m[v * n + u] = (adj[v * n + u] || u == v) ? 1 / sqrt(d[v] * d[u]) : 0;
}

static void test_spmm_sage_gcn(void **state) {
    (void)state;
    /* 4 nodes: edges 0-1, 0-2; node 3 isolated. Two cells, F = 2; cell 1 = 10 x cell 0. */
    enum { n = 4, f = 2, nb = 2, nnz = 4 };
    const int64_t indptr[n + 1] = {0, 2, 3, 4, 4};
    const int32_t indices[nnz] = {1, 2, 0, 0};
    real x[nb * n * f] = {1, 2, 3, 4, 5, 7, 9, 9};
    for (int64_t i = 0; i < n * f; i++) x[n * f + i] = 10 * x[i];
    real val[nnz], tval[nnz], diag[n], out[nb * n * f];
    double ref[nb * n * f];

    /* SAGE mean: 0 <- mean(x1, x2), 1 <- x0, 2 <- x0, 3 (no neighbours) <- 0 */
    cw_sage_mean_values(val, tval, indptr, indices, n);
    assert_true(val[0] == 0.5f && val[1] == 0.5f && val[2] == 1 && val[3] == 1);
    assert_true(tval[0] == 1 && tval[1] == 1 && tval[2] == 0.5f && tval[3] == 0.5f);
    const double hand[n * f] = {4, 5.5, 1, 2, 1, 2, 0, 0};
    for (int64_t i = 0; i < n * f; i++) ref[i] = hand[i], ref[n * f + i] = 10 * hand[i];
    for (int64_t i = 0; i < nb * n * f; i++) out[i] = NAN; /* accumulate 0 overwrites */
    cw_spmm(out, x, indptr, indices, val, NULL, nb, n, f, 0);
    expect_close("spmm sage mean", out, ref, nb * n * f, 1e-6, 1e-6);
    assert_true(out[6] == 0 && out[7] == 0 && out[14] == 0 && out[15] == 0);
    /* accumulate 1 adds */
    cw_spmm(out, x, indptr, indices, val, NULL, nb, n, f, 1);
    for (int64_t i = 0; i < nb * n * f; i++) ref[i] *= 2;
    expect_close("spmm sage accumulate", out, ref, nb * n * f, 1e-6, 1e-6);

    /* GCN with self loops, against dense D^-1/2 (A + I) D^-1/2; then with the pair 0-2 dropped */
    uint8_t adj[n * n] = {0};
    adj[0 * n + 1] = adj[1 * n + 0] = adj[0 * n + 2] = adj[2 * n + 0] = 1;
    double m[n * n];
    for (int drop = 0; drop < 2; drop++) {
        const uint8_t keep[nnz] = {1, (uint8_t)!drop, 1, (uint8_t)!drop}; /* (0,2), (2,0) */
        if (drop) adj[0 * n + 2] = adj[2 * n + 0] = 0;
        cw_gcn_norm_values(val, diag, indptr, indices, keep, n);
        dense_gcn(m, adj, n);
        for (int64_t v = 0; v < n; v++) assert_true(fabs(diag[v] - m[v * n + v]) < 1e-7);
        cw_spmm(out, x, indptr, indices, val, diag, nb, n, f, 0);
        dense_apply(ref, m, x, nb, n, f);
        expect_close(drop ? "spmm gcn (edge dropped)" : "spmm gcn vs dense", out, ref,
                     nb * n * f, 1e-5, 1e-6);
        assert_true(out[6] == x[6] && out[7] == x[7]); /* isolated: d = 1, itself */
    }
    /* keep NULL = every edge kept: d = {3, 2, 2, 1} */
    cw_gcn_norm_values(val, diag, indptr, indices, NULL, n);
    assert_true(fabs(val[0] - 1 / sqrt(6.0)) < 1e-7 && fabs(diag[0] - 1 / 3.0) < 1e-7);
    assert_true(diag[3] == 1);
}

/* cw_spmm on rows wider than its register block (f = 2 x 32 + 7, batch 1 and 2, with and
 * without diag and accumulate, rows of 0 to 12 entries) against a double loop: the block path,
 * the tail columns and the prefetch that looks past a row's end into the next rows */
static void test_spmm_wide_rows(void **state) {
    (void)state;
    enum { n = 40, f = 71 };
    cw_rng r;
    cw_rng_seed(&r, 11);
    int64_t indptr[n + 1];
    int32_t indices[n * 12];
    indptr[0] = 0;
    for (int64_t v = 0; v < n; v++) { /* v % 13 entries (0 to 12), columns increasing */
        int64_t cnt = v % 13, e = indptr[v];
        for (int64_t q = 0; q < cnt; q++) indices[e++] = (int32_t)((v + 3 * q + 1) % n);
        indptr[v + 1] = e;
    }
    const int64_t nnz = indptr[n];
    real *val = xcalloc((size_t)nnz, sizeof(real)), diag[n];
    real *x = xcalloc(2 * n * f, sizeof(real)), *out = xcalloc(2 * n * f, sizeof(real));
    real *out0 = xcalloc(2 * n * f, sizeof(real));
    double *ref = xcalloc(2 * n * f, sizeof(double));
    fill_uniform(&r, val, nnz, -1, 1);
    fill_uniform(&r, diag, n, -1, 1);
    fill_uniform(&r, x, 2 * n * f, -1, 1);
    fill_uniform(&r, out0, 2 * n * f, -1, 1);
    for (int64_t nb = 1; nb <= 2; nb++)
        for (int use_diag = 0; use_diag < 2; use_diag++)
            for (int acc = 0; acc < 2; acc++) {
                for (int64_t b = 0; b < nb; b++)
                    for (int64_t v = 0; v < n; v++)
                        for (int64_t q = 0; q < f; q++) {
                            const int64_t o = (b * n + v) * f + q;
                            double sum = acc ? out0[o] : 0;
                            if (use_diag) sum += (double)diag[v] * x[o];
                            for (int64_t e = indptr[v]; e < indptr[v + 1]; e++)
                                sum += (double)val[e] * x[(b * n + indices[e]) * f + q];
                            ref[o] = sum;
                        }
                memcpy(out, out0, 2 * n * f * sizeof(real));
                cw_spmm(out, x, indptr, indices, val, use_diag ? diag : NULL, nb, n, f, acc);
                expect_close("spmm wide rows", out, ref, nb * n * f, 1e-5, 1e-5);
                for (int64_t i = nb * n * f; i < 2 * n * f; i++) assert_true(out[i] == out0[i]);
            }
    free(val), free(x), free(out), free(out0), free(ref);
}

static void test_spmm_transpose_values(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 7);
    enum { n = 8, nb = 2, f = 3 };
    uint8_t adj[n * n];
    const int64_t nnz = random_adjacency(&r, adj, n, 0.5);
    int64_t indptr[n + 1];
    int32_t indices[n * n];
    dense_to_csr(indptr, indices, adj, n);
    assert_int_equal(indptr[n], nnz);
    real val[n * n], tval[n * n], tval2[n * n];
    double a[n * n] = {0}, at[n * n];
    fill_uniform(&r, val, nnz, -1, 1); /* asymmetric values on the symmetric pattern */
    for (int64_t v = 0; v < n; v++)
        for (int64_t e = indptr[v]; e < indptr[v + 1]; e++) a[v * n + indices[e]] = val[e];
    for (int64_t v = 0; v < n; v++)
        for (int64_t u = 0; u < n; u++) at[v * n + u] = a[u * n + v];
    cw_spmm_transpose_values(tval, val, indptr, indices, n);
    int asym = 0;
    for (int64_t v = 0; v < n; v++)
        for (int64_t e = indptr[v]; e < indptr[v + 1]; e++) {
            assert_true(tval[e] == (real)at[v * n + indices[e]]);
            asym += tval[e] != val[e];
        }
    assert_true(asym > 0);
    /* spmm with tval applies A^T */
    real x[nb * n * f], out[nb * n * f];
    double ref[nb * n * f];
    fill_uniform(&r, x, nb * n * f, -1, 1);
    cw_spmm(out, x, indptr, indices, tval, NULL, nb, n, f, 0);
    dense_apply(ref, at, x, nb, n, f);
    expect_close("spmm with A^T values", out, ref, nb * n * f, 1e-6, 1e-5);
    /* the SAGE helper's tval is the transpose of its val */
    cw_sage_mean_values(val, tval, indptr, indices, n);
    cw_spmm_transpose_values(tval2, val, indptr, indices, n);
    assert_memory_equal(tval, tval2, (size_t)nnz * sizeof(real));
}

/* GAT by the definition, over all (v, u) pairs masked by adjacency + self loop, in double */
static void gat_dense_ref(double *out, double *alpha_dense, const real *xw, const real *as,
                          const real *ad, const real *bias, const uint8_t *adj, int64_t nb,
                          int64_t n, int64_t k, int64_t f) {
    const int64_t kf = k * f;
    for (int64_t b = 0; b < nb; b++)
        for (int64_t v = 0; v < n; v++)
            for (int64_t h = 0; h < k; h++) {
                double e[32], mx = -INFINITY, s = 0;
                CW_ASSERT(n <= 32);
                double sd = 0;
                for (int64_t c = 0; c < f; c++)
                    sd += (double)ad[h * f + c] * xw[(b * n + v) * kf + h * f + c];
                for (int64_t u = 0; u < n; u++) {
                    e[u] = -INFINITY;
                    if (!adj[v * n + u] && u != v) continue;
                    double ss = 0;
                    for (int64_t c = 0; c < f; c++)
                        ss += (double)as[h * f + c] * xw[(b * n + u) * kf + h * f + c];
                    const double z = ss + sd;
                    e[u] = z > 0 ? z : 0.2 * z;
                    if (e[u] > mx) mx = e[u];
                }
                for (int64_t u = 0; u < n; u++) s += e[u] == -INFINITY ? 0 : exp(e[u] - mx);
                for (int64_t c = 0; c < f; c++) out[(b * n + v) * kf + h * f + c] = bias[h * f + c];
                for (int64_t u = 0; u < n; u++) {
                    const double a = e[u] == -INFINITY ? 0 : exp(e[u] - mx) / s;
                    alpha_dense[((b * n + v) * n + u) * k + h] = a;
                    for (int64_t c = 0; c < f; c++)
                        out[(b * n + v) * kf + h * f + c] += a * xw[(b * n + u) * kf + h * f + c];
                }
            }
}

static void test_gat_vs_dense(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 8);
    enum { n = 9, nb = 3, k = 2, f = 3, kf = k * f };
    uint8_t adj[n * n];
    const int64_t nnz = random_adjacency(&r, adj, n, 0.4);
    int64_t indptr[n + 1];
    int32_t indices[n * n];
    dense_to_csr(indptr, indices, adj, n);
    real xw[nb * n * kf], as[kf], ad[kf], bias[kf], out[nb * n * kf];
    real *alpha = xcalloc(cw_gat_alpha_size(nb, n, nnz, k), sizeof(real));
    double ref[nb * n * kf], *aref = xcalloc(nb * n * n * k, sizeof(double));
    fill_uniform(&r, xw, nb * n * kf, -2, 2);
    fill_uniform(&r, as, kf, -1.5, 1.5);
    fill_uniform(&r, ad, kf, -1.5, 1.5);
    fill_uniform(&r, bias, kf, -0.5, 0.5);
    xw[0] = 40; /* a large logit: exp overflows in float unless the row max is subtracted */
    as[0] = 3;
    cw_gat_forward(out, alpha, xw, as, ad, bias, indptr, indices, nb, n, k, f);
    gat_dense_ref(ref, aref, xw, as, ad, bias, adj, nb, n, k, f);
    expect_close("gat fwd vs dense", out, ref, nb * n * kf, 1e-5, 1e-5);
    /* alpha layout: row v's edges at indptr[v] + v + j, the self loop at indptr[v+1] + v */
    double an[n * n * k];
    for (int64_t b = 0; b < nb; b++) {
        const real *ab = alpha + b * (nnz + n) * k;
        for (int64_t v = 0; v < n; v++)
            for (int64_t h = 0; h < k; h++) {
                double rowsum = 0;
                for (int64_t j = 0; j <= indptr[v + 1] - indptr[v]; j++) {
                    const real a = ab[(indptr[v] + v + j) * k + h];
                    const int64_t u = indptr[v] + j < indptr[v + 1] ? indices[indptr[v] + j] : v;
                    an[(v * n + u) * k + h] = a;
                    rowsum += a;
                }
                expect_close1("gat alpha row sums to 1", rowsum, 1, 1e-6, 0);
            }
        /* every pair: the dense reference's zeros (non-edges) are not stored */
        real got[n * n * k];
        for (int64_t i = 0; i < n * n * k; i++) got[i] = 0;
        for (int64_t v = 0; v < n; v++)
            for (int64_t u = 0; u < n; u++)
                if (adj[v * n + u] || u == v)
                    for (int64_t h = 0; h < k; h++)
                        got[(v * n + u) * k + h] = (real)an[(v * n + u) * k + h];
        expect_close("gat alpha vs dense", got, aref + b * n * n * k, n * n * k, 1e-6, 1e-5);
    }
    /* the isolated node (n-1) attends only to itself: out = xw + bias */
    for (int64_t c = 0; c < kf; c++)
        assert_true(fabs(out[(n - 1) * kf + c] - (xw[(n - 1) * kf + c] + bias[c])) < 1e-6);
    /* bias NULL */
    cw_gat_forward(out, alpha, xw, as, ad, NULL, indptr, indices, nb, n, k, f);
    for (int64_t b = 0; b < nb; b++)
        for (int64_t i = 0; i < n * kf; i++) ref[b * n * kf + i] -= bias[i % kf];
    expect_close("gat fwd (no bias)", out, ref, nb * n * kf, 1e-5, 1e-5);
    free(alpha), free(aref);
}

static void test_gat_backward_thread_invariant(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 9);
    const int64_t n = 16, nb = 12, k = 2, f = 5, kf = k * f;
    uint8_t *adj = xcalloc(n * n, 1);
    const int64_t nnz = random_adjacency(&r, adj, n, 0.3);
    int64_t *indptr = xcalloc(n + 1, sizeof(int64_t));
    int32_t *indices = xcalloc(nnz, sizeof(int32_t));
    dense_to_csr(indptr, indices, adj, n);
    real *xw = xcalloc(nb * n * kf, sizeof(real)), *dout = xcalloc(nb * n * kf, sizeof(real));
    real *as = xcalloc(kf, sizeof(real)), *ad = xcalloc(kf, sizeof(real));
    real *bias = xcalloc(kf, sizeof(real));
    fill_uniform(&r, xw, nb * n * kf, -1, 1);
    fill_uniform(&r, dout, nb * n * kf, -1, 1);
    fill_uniform(&r, as, kf, -1, 1);
    fill_uniform(&r, ad, kf, -1, 1);
    fill_uniform(&r, bias, kf, -1, 1);
    const int64_t na = cw_gat_alpha_size(nb, n, nnz, k);
    const int64_t ns = cw_gat_scratch_size(nb, n, nnz, k, f);
    real *res[2][6]; /* out, alpha, dxw, datt_src, datt_dst, dbias per thread count */
    const int64_t len[6] = {nb * n * kf, na, nb * n * kf, kf, kf, kf};
    const int saved = omp_get_max_threads();
    for (int t = 0; t < 2; t++) {
        for (int i = 0; i < 6; i++) {
            res[t][i] = xcalloc(len[i], sizeof(real));
            for (int64_t j = 0; j < len[i]; j++) res[t][i][j] = 0.25f; /* accumulate onto this */
        }
        real *scr = xcalloc(ns, sizeof(real));
        omp_set_num_threads(t + 1);
        cw_gat_forward(res[t][0], res[t][1], xw, as, ad, bias, indptr, indices, nb, n, k, f);
        cw_gat_backward(res[t][2], res[t][3], res[t][4], res[t][5], dout, xw, res[t][1], as, ad,
                        indptr, indices, scr, nb, n, k, f);
        free(scr);
    }
    omp_set_num_threads(saved);
    const char *names[6] = {"out", "alpha", "dxw", "datt_src", "datt_dst", "dbias"};
    for (int i = 0; i < 6; i++) {
        if (memcmp(res[0][i], res[1][i], (size_t)len[i] * sizeof(real)))
            printf("  gat %s differs between 1 and 2 threads\n", names[i]);
        assert_memory_equal(res[0][i], res[1][i], (size_t)len[i] * sizeof(real));
        free(res[0][i]), free(res[1][i]);
    }
    free(adj), free(indptr), free(indices), free(xw), free(dout), free(as), free(ad), free(bias);
}

/* ---- layernorm, dropout, laplacian, masked linear --------------------------------------- */

static void test_layernorm(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 10);
    enum { n = 5, f = 64 };
    real x[n * f], out[n * f], mean[n], rstd[n], gamma[f], beta[f];
    fill_uniform(&r, x, n * f, -3, 3);
    for (int64_t i = 0; i < n; i++)
        for (int64_t c = 0; c < f; c++) x[i * f + c] += (real)(10 * i); /* row offsets */
    for (int64_t c = 0; c < f; c++) gamma[c] = 1, beta[c] = 0;
    cw_layernorm_forward(out, mean, rstd, x, gamma, beta, n, f);
    for (int64_t i = 0; i < n; i++) {
        double m = 0, v = 0, mx = 0, vx = 0;
        for (int64_t c = 0; c < f; c++) m += out[i * f + c], mx += x[i * f + c];
        m /= f, mx /= f;
        for (int64_t c = 0; c < f; c++) {
            v += (out[i * f + c] - m) * (out[i * f + c] - m);
            vx += (x[i * f + c] - mx) * (x[i * f + c] - mx);
        }
        v /= f, vx /= f; /* biased, as torch */
        expect_close1("layernorm row mean 0", m, 0, 1e-6, 0);
        expect_close1("layernorm row var", v, vx / (vx + CW_LAYERNORM_EPS), 1e-5, 1e-5);
        expect_close1("layernorm mean", mean[i], mx, 1e-5, 1e-6);
        expect_close1("layernorm rstd", rstd[i], 1 / sqrt(vx + CW_LAYERNORM_EPS), 1e-6, 1e-5);
    }
    /* affine: gamma, beta applied after normalisation */
    real out2[n * f];
    double ref[n * f];
    fill_uniform(&r, gamma, f, 0.5, 2);
    fill_uniform(&r, beta, f, -1, 1);
    cw_layernorm_forward(out2, mean, rstd, x, gamma, beta, n, f);
    for (int64_t i = 0; i < n * f; i++) ref[i] = (double)out[i] * gamma[i % f] + beta[i % f];
    expect_close("layernorm affine", out2, ref, n * f, 1e-5, 1e-5);
}

static void test_dropout(void **state) {
    (void)state;
    cw_rng r, before;
    cw_rng_seed(&r, 11);
    enum { n = 100000 };
    real *x = xcalloc(n, sizeof(real)), *out = xcalloc(n, sizeof(real));
    real *mask = xcalloc(n, sizeof(real)), *dx = xcalloc(n, sizeof(real));
    fill_uniform(&r, x, n, -1, 1);
    /* p = 0: identity, mask 1, no draws */
    before = r;
    cw_dropout_forward(out, mask, x, 0, n, &r);
    assert_memory_equal(&before, &r, sizeof r);
    assert_memory_equal(out, x, n * sizeof(real));
    for (int64_t i = 0; i < n; i++) assert_true(mask[i] == 1);
    /* p = 0.5: about half kept, scaled by 2 */
    cw_dropout_forward(out, mask, x, 0.5, n, &r);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; i++) {
        if (mask[i] != 0) {
            kept++;
            assert_true(mask[i] == 2 && out[i] == 2 * x[i]);
        } else {
            assert_true(out[i] == 0);
        }
    }
    printf("  dropout p=0.5: kept %lld of %d\n", (long long)kept, n);
    assert_true(kept >= 49000 && kept <= 51000);
    /* the same seed draws the same mask; in place works */
    cw_rng r2;
    cw_rng_seed(&r2, 12);
    real *mask2 = xcalloc(n, sizeof(real));
    memcpy(out, x, n * sizeof(real));
    cw_dropout_forward(out, mask2, out, 0.3, n, &r2);
    cw_rng_seed(&r2, 12);
    cw_dropout_forward(dx, mask, x, 0.3, n, &r2);
    assert_memory_equal(mask, mask2, n * sizeof(real));
    assert_memory_equal(out, dx, n * sizeof(real));
    /* backward accumulates dout * mask */
    for (int64_t i = 0; i < n; i++) dx[i] = 1;
    cw_dropout_backward(dx, x, mask, n);
    for (int64_t i = 0; i < n; i++) assert_true(dx[i] == 1 + x[i] * mask[i]);
    free(x), free(out), free(mask), free(mask2), free(dx);
}

static void test_laplacian(void **state) {
    (void)state;
    /* path 0 - 1 - 2; W rows (0, 1), (1, 1), (1, 3): ||W0 - W1||^2 = 1, ||W1 - W2||^2 = 4, each
     * pair counted in both directions over nnz = 4: LAP = (2 + 8) / 4 = 2.5 */
    const int64_t indptr[4] = {0, 1, 3, 4};
    const int32_t indices[4] = {1, 0, 2, 1};
    real w[6] = {0, 1, 1, 1, 1, 3};
    expect_close1("laplacian path", cw_laplacian_forward(w, indptr, indices, 3, 2), 2.5, 1e-9,
                  1e-9);
    /* dW_i = 4/4 sum_j (W_i - W_j): (-1, 0), (1, -2), (0, 2); dloss 0.5, onto 1 */
    real dw[6] = {1, 1, 1, 1, 1, 1};
    cw_laplacian_backward(dw, 0.5, w, indptr, indices, 3, 2);
    const double ref[6] = {0.5, 1, 1.5, 0, 1, 2};
    expect_close("laplacian grad", dw, ref, 6, 1e-6, 1e-6);
    /* no edges: 0, no gradient */
    const int64_t empty[4] = {0, 0, 0, 0};
    assert_true(cw_laplacian_forward(w, empty, indices, 3, 2) == 0);
    cw_laplacian_backward(dw, 0.5, w, empty, indices, 3, 2);
    expect_close("laplacian no edges", dw, ref, 6, 1e-12, 0);
}

static void test_masked_linear(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 13);
    enum { n = 4, in = 6, out = 3 };
    real x[n * in], w[out * in], m[out * in], b[out], y[n * out], weff[out * in];
    real dy[n * out], dw[out * in], dscr[out * in];
    double ref[n * out];
    fill_uniform(&r, x, n * in, -1, 1);
    fill_uniform(&r, w, out * in, -1, 1);
    fill_uniform(&r, b, out, -1, 1);
    fill_uniform(&r, dy, n * out, -1, 1);
    for (int64_t i = 0; i < out * in; i++) m[i] = cw_rng_uniform(&r) < 0.5 ? 0 : 1;
    m[0] = 0, m[1] = 1;
    cw_masked_linear_forward(y, weff, x, w, m, b, n, in, out);
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out; o++) {
            double s = b[o];
            for (int64_t c = 0; c < in; c++)
                s += m[o * in + c] ? (double)x[i * in + c] * w[o * in + c] : 0;
            ref[i * out + o] = s;
        }
    expect_close("masked linear fwd", y, ref, n * out, 1e-6, 1e-5);
    for (int64_t i = 0; i < out * in; i++) dw[i] = 3;
    cw_masked_linear_backward(NULL, dw, NULL, dscr, dy, x, weff, m, n, in, out);
    for (int64_t i = 0; i < out * in; i++)
        if (!m[i]) assert_true(dw[i] == 3);
}

/* ---- Adam and clamp --------------------------------------------------------------------- */

static void test_adam_matches_torch_formulas(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 6);
    enum { N = 6, STEPS = 10 };
    real p[N], g[N], m[N] = {0}, v[N] = {0};
    double pr[N], mr[N] = {0}, vr[N] = {0};
    fill_uniform(&r, p, N, -1, 1);
    for (int i = 0; i < N; i++) pr[i] = p[i];
    const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int t = 1; t <= STEPS; t++) {
        fill_uniform(&r, g, N, -0.5, 0.5);
        if (t == 3) g[0] = 0; /* a zero gradient still moves m, v and p */
        real p0[N];
        memcpy(p0, p, sizeof p);
        cw_adam_update(p, g, m, v, N, lr, b1, b2, eps, t);
        for (int i = 0; i < N; i++) { /* torch: p -= lr m_hat / (sqrt(v_hat) + eps) */
            mr[i] = b1 * mr[i] + (1 - b1) * g[i];
            vr[i] = b2 * vr[i] + (1 - b2) * (double)g[i] * g[i];
            double mhat = mr[i] / (1 - pow(b1, t)), vhat = vr[i] / (1 - pow(b2, t));
            pr[i] -= lr * mhat / (sqrt(vhat) + eps);
        }
        if (t == 1) /* first step: m_hat = g, v_hat = g^2 -> p moves by lr sign(g) */
            for (int i = 0; i < N; i++)
                assert_true(fabs((double)p0[i] - p[i] - lr * (g[i] > 0 ? 1 : -1)) < 1e-6);
        expect_close("adam params", p, pr, N, 2e-7, 1e-6);
        expect_close("adam m", m, mr, N, 1e-9, 1e-5);
        expect_close("adam v", v, vr, N, 1e-12, 1e-5);
    }
}

/* cw_adam_update over a long vector (the parallel, vectorised path; on an AVX-512 CPU the
 * x86-64-v4 clone, real.h CW_CLONES_AVX512) gives the bits of the same float formula element by
 * element in a plain loop: the clone changes the vector width, never a value */
static void test_adam_vector_path_bits(void **state) {
    (void)state;
    enum { N = (1 << 17) + 13, STEPS = 3 };
    real *p = xcalloc(N, sizeof(real)), *g = xcalloc(N, sizeof(real));
    real *m = xcalloc(N, sizeof(real)), *v = xcalloc(N, sizeof(real));
    real *pr = xcalloc(N, sizeof(real)), *mr = xcalloc(N, sizeof(real));
    real *vr = xcalloc(N, sizeof(real));
    cw_rng r;
    cw_rng_seed(&r, 61);
    fill_uniform(&r, p, N, -1, 1);
    memcpy(pr, p, N * sizeof(real));
    const double lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8;
    for (int t = 1; t <= STEPS; t++) {
        fill_uniform(&r, g, N, -0.5, 0.5);
        g[5] = 0;
        cw_adam_update(p, g, m, v, N, lr, b1, b2, eps, t);
        /* adam.c's constants and element update, spelled out */
        const real step = (real)(lr / (1.0 - pow(b1, t))), bc2 = (real)sqrt(1.0 - pow(b2, t));
        const real fb1 = (real)b1, fb2 = (real)b2, o1 = (real)(1.0 - b1), o2 = (real)(1.0 - b2);
        for (int i = 0; i < N; i++) {
            mr[i] = mr[i] * fb1 + o1 * g[i];
            vr[i] = vr[i] * fb2 + o2 * g[i] * g[i];
            const real denom = r_sqrt(vr[i]) / bc2 + (real)eps;
            pr[i] += -step * (mr[i] / denom);
        }
        assert_memory_equal(p, pr, N * sizeof(real));
        assert_memory_equal(m, mr, N * sizeof(real));
        assert_memory_equal(v, vr, N * sizeof(real));
    }
    free(p), free(g), free(m), free(v), free(pr), free(mr), free(vr);
}

static void test_grad_clamp(void **state) {
    (void)state;
    real g[6] = {-3, -0.5f, 0.1f, 0.5f, 7, NAN};
    cw_grad_clamp(g, 6, 0.5f);
    assert_true(g[0] == -0.5f && g[1] == -0.5f && g[2] == 0.1f && g[3] == 0.5f && g[4] == 0.5f);
    assert_true(isnan(g[5])); /* torch.clamp keeps NaN: the isfinite check must still see it */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gemm_wrapper),
        cmocka_unit_test(test_gemm_split_threads),
        cmocka_unit_test(test_linear),
        cmocka_unit_test(test_lrelu),
        cmocka_unit_test(test_softplus),
        cmocka_unit_test(test_reparam_and_kl),
        cmocka_unit_test(test_mse_and_l1),
        cmocka_unit_test(test_softmax),
        cmocka_unit_test(test_mmd_hand_values),
        cmocka_unit_test(test_mmd_matches_naive),
        cmocka_unit_test(test_dag_vs_dense_inverse),
        cmocka_unit_test(test_spmm_sage_gcn),
        cmocka_unit_test(test_spmm_wide_rows),
        cmocka_unit_test(test_spmm_transpose_values),
        cmocka_unit_test(test_gat_vs_dense),
        cmocka_unit_test(test_gat_backward_thread_invariant),
        cmocka_unit_test(test_layernorm),
        cmocka_unit_test(test_dropout),
        cmocka_unit_test(test_laplacian),
        cmocka_unit_test(test_masked_linear),
        cmocka_unit_test(test_adam_matches_torch_formulas),
        cmocka_unit_test(test_adam_vector_path_bits),
        cmocka_unit_test(test_grad_clamp),
    };
    return cmocka_run_group_tests_name("nn_kernels (" CW_REAL_NAME ")", tests, NULL, NULL);
}
