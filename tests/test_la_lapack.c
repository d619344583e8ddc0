/* test_la_lapack.c: the LAPACKE wrappers of src/la/lapack.c (spec §A7) and the §A4.0 support
 * basis of src/crl/support.c, checked by the properties that define each result
 * (reconstruction, orthonormality, the Moore-Penrose conditions, residuals), with naive loops
 * (not cw_la_gemm) as the reference products. */
#include "test_util.h"

#include "core/rng.h"
#include "core/status.h"
#include "crl/support.h"
#include "la/lapack.h"

#include <math.h>

/* c (m x n) = a (m x k) b (k x n), or with a / b transposed as stored (ta: a is k x m) */
static void mm(double *c, const double *a, int ta, const double *b, int tb, int64_t m, int64_t n,
               int64_t k) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t l = 0; l < k; l++)
                s += (ta ? a[l * m + i] : a[i * k + l]) * (tb ? b[j * k + l] : b[l * n + j]);
            c[i * n + j] = s;
        }
}

static double max_abs_diff(const double *a, const double *b, int64_t count) {
    double w = 0;
    for (int64_t i = 0; i < count; i++) w = fmax(w, fabs(a[i] - b[i]));
    return w;
}

static double max_abs(const double *a, int64_t count) {
    double w = 0;
    for (int64_t i = 0; i < count; i++) w = fmax(w, fabs(a[i]));
    return w;
}

/* max |a^T a - I| for a (m x k) with orthonormal columns */
static double orth_cols_err(const double *a, int64_t m, int64_t k) {
    double w = 0;
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < k; j++) {
            double s = 0;
            for (int64_t r = 0; r < m; r++) s += a[r * k + i] * a[r * k + j];
            w = fmax(w, fabs(s - (i == j)));
        }
    return w;
}

/* max |a a^T - I| for a (k x n) with orthonormal rows */
static double orth_rows_err(const double *a, int64_t k, int64_t n) {
    double w = 0;
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = 0; j < k; j++) {
            double s = 0;
            for (int64_t c = 0; c < n; c++) s += a[i * n + c] * a[j * n + c];
            w = fmax(w, fabs(s - (i == j)));
        }
    return w;
}

static void randn(double *a, int64_t count, cw_rng *r) {
    for (int64_t i = 0; i < count; i++) a[i] = cw_rng_normal(r);
}

enum { BIG = 64 };

static void test_eigh(void **state) {
    (void)state;
    enum { N = 6 };
    cw_rng r;
    cw_rng_seed(&r, 31);
    double b[N * N], a[N * N], w[N], w2[N], v[N * N], t[N * N], rec[N * N];
    randn(b, N * N, &r);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) a[i * N + j] = b[i * N + j] + b[j * N + i];
    double garbage[N * N];
    memcpy(garbage, a, sizeof a);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < i; j++) garbage[i * N + j] = 1e6; /* only the upper part is read */
    assert_int_equal(cw_la_eigh(w, v, garbage, N), CW_OK);
    for (int k = 1; k < N; k++) assert_true(w[k - 1] <= w[k]);
    assert_true(orth_cols_err(v, N, N) < 1e-13);
    /* V diag(w) V^T = A */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < N; k++) t[i * N + k] = v[i * N + k] * w[k];
    mm(rec, t, 0, v, 1, N, N, N);
    assert_true(max_abs_diff(rec, a, N * N) < 1e-12 * max_abs(a, N * N));
    assert_int_equal(cw_la_eigh(w2, NULL, a, N), CW_OK);
    assert_true(max_abs_diff(w, w2, N) < 1e-12);
    /* a known spectrum: diag(3, -1, 2) -> (-1, 2, 3) */
    const double d3[9] = {3, 0, 0, 0, -1, 0, 0, 0, 2};
    double w3[3];
    assert_int_equal(cw_la_eigh(w3, NULL, d3, 3), CW_OK);
    assert_true(fabs(w3[0] + 1) < 1e-15 && fabs(w3[1] - 2) < 1e-15 && fabs(w3[2] - 3) < 1e-15);
    assert_int_equal(cw_la_eigh(w3, NULL, d3, 0), CW_EINVAL);
}

static void check_svd(int64_t m, int64_t n, cw_rng *r) {
    int64_t k = m < n ? m : n;
    double a[BIG], u[BIG], s[8], s2[8], vt[BIG], t[BIG], rec[BIG];
    randn(a, m * n, r);
    assert_int_equal(cw_la_svd(u, s, vt, a, m, n), CW_OK);
    for (int64_t i = 0; i < k; i++) {
        assert_true(s[i] >= 0);
        if (i) assert_true(s[i - 1] >= s[i]);
    }
    assert_true(orth_cols_err(u, m, k) < 1e-13);
    assert_true(orth_rows_err(vt, k, n) < 1e-13);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < k; j++) t[i * k + j] = u[i * k + j] * s[j];
    mm(rec, t, 0, vt, 0, m, n, k);
    assert_true(max_abs_diff(rec, a, m * n) < 1e-13 * s[0]);
    assert_int_equal(cw_la_svd(NULL, s2, NULL, a, m, n), CW_OK);
    assert_true(max_abs_diff(s, s2, k) < 1e-13 * s[0]);
}

static void test_svd(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 32);
    check_svd(7, 4, &r); /* tall */
    check_svd(4, 7, &r); /* wide */
    check_svd(5, 5, &r);
    check_svd(1, 6, &r);
    /* known: [[3, 0], [0, -4]] has singular values 4, 3 */
    const double a[4] = {3, 0, 0, -4};
    double s[2];
    assert_int_equal(cw_la_svd(NULL, s, NULL, a, 2, 2), CW_OK);
    assert_true(fabs(s[0] - 4) < 1e-15 && fabs(s[1] - 3) < 1e-15);
}

static void check_qr(int64_t m, int64_t n, int complete, cw_rng *r) {
    int64_t kmin = m < n ? m : n, kq = complete ? m : kmin;
    double a[BIG], q[BIG], rr[BIG], rec[BIG];
    randn(a, m * n, r);
    assert_int_equal(cw_la_qr(q, rr, a, m, n, complete), CW_OK);
    assert_true(orth_cols_err(q, m, kq) < 1e-13);
    for (int64_t i = 0; i < kq; i++)
        for (int64_t j = 0; j < i && j < n; j++) assert_true(rr[i * n + j] == 0.0);
    mm(rec, q, 0, rr, 0, m, n, kq);
    assert_true(max_abs_diff(rec, a, m * n) < 1e-13 * max_abs(a, m * n));
}

static void test_qr(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 33);
    for (int complete = 0; complete <= 1; complete++) {
        check_qr(7, 4, complete, &r);
        check_qr(4, 7, complete, &r);
        check_qr(5, 5, complete, &r);
    }
    /* LAPACK's (numpy's) sign: [[3], [4]] -> q = -(0.6, 0.8), r = -5 */
    const double a[2] = {3, 4};
    double q[2], rr[1];
    assert_int_equal(cw_la_qr(q, rr, a, 2, 1, 0), CW_OK);
    assert_true(fabs(rr[0] + 5) < 1e-14 && fabs(q[0] + 0.6) < 1e-15 && fabs(q[1] + 0.8) < 1e-15);
}

/* the four Moore-Penrose conditions for p = pinv(a), a (m x n) */
static void check_penrose(const double *a, int64_t m, int64_t n, double rcond) {
    double p[BIG], ap[BIG], pa[BIG], apa[BIG], pap[BIG];
    assert_int_equal(cw_la_pinv(p, a, m, n, rcond), CW_OK);
    mm(ap, a, 0, p, 0, m, m, n);   /* m x m */
    mm(pa, p, 0, a, 0, n, n, m);   /* n x n */
    mm(apa, ap, 0, a, 0, m, n, m); /* A P A */
    mm(pap, p, 0, ap, 0, n, m, m); /* P A P */
    double sa = max_abs(a, m * n), sp = max_abs(p, n * m);
    assert_true(max_abs_diff(apa, a, m * n) < 1e-12 * sa);
    assert_true(max_abs_diff(pap, p, n * m) < 1e-12 * sp);
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < m; j++) assert_true(fabs(ap[i * m + j] - ap[j * m + i]) < 1e-12);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) assert_true(fabs(pa[i * n + j] - pa[j * n + i]) < 1e-12);
}

static void test_pinv_rank_null_space(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 34);
    double a[BIG], b[BIG], c[BIG];
    randn(a, 6 * 4, &r);
    check_penrose(a, 6, 4, 1e-15); /* tall, full rank */
    check_penrose(a, 4, 6, 1e-15); /* wide */
    /* rank 2: a (5 x 4) = b (5 x 2) c (2 x 4) */
    randn(b, 10, &r);
    randn(c, 8, &r);
    mm(a, b, 0, c, 0, 5, 4, 2);
    check_penrose(a, 5, 4, 1e-10);
    double at[BIG];
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 4; j++) at[j * 5 + i] = a[i * 4 + j];
    check_penrose(at, 4, 5, 1e-10); /* wide, rank 2 */
    int64_t rank;
    assert_int_equal(cw_la_rank(&rank, a, 5, 4, 1e-10), CW_OK);
    assert_int_equal(rank, 2);
    /* pinv of a rank-deficient matrix without the cut would blow up: check it is bounded by
     * 1 / (second singular value) */
    double s[4], p[BIG];
    assert_int_equal(cw_la_svd(NULL, s, NULL, a, 5, 4), CW_OK);
    assert_int_equal(cw_la_pinv(p, a, 5, 4, 1e-10), CW_OK);
    double sp[4];
    assert_int_equal(cw_la_svd(NULL, sp, NULL, p, 4, 5), CW_OK);
    assert_true(fabs(sp[0] - 1 / s[1]) < 1e-10 * sp[0]);
    assert_true(sp[2] < 1e-10 * sp[0]);

    /* null space: rank 2 (3 x 5 = (3 x 2)(2 x 5)) -> 3 vectors; full-rank wide 3 x 5 -> 2;
     * full-rank tall -> 0 */
    randn(b, 6, &r);
    randn(c, 10, &r);
    mm(a, b, 0, c, 0, 3, 5, 2);
    double basis[25], ax[BIG];
    int64_t k;
    assert_int_equal(cw_la_null_space(basis, &k, a, 3, 5, 1e-10), CW_OK);
    assert_int_equal(k, 3);
    assert_true(orth_rows_err(basis, k, 5) < 1e-13);
    mm(ax, a, 0, basis, 1, 3, k, 5); /* a basis^T */
    assert_true(max_abs(ax, 3 * k) < 1e-12 * max_abs(a, 15));
    randn(a, 15, &r);
    assert_int_equal(cw_la_null_space(basis, &k, a, 3, 5, 1e-10), CW_OK);
    assert_int_equal(k, 2);
    assert_true(orth_rows_err(basis, k, 5) < 1e-13);
    mm(ax, a, 0, basis, 1, 3, k, 5);
    assert_true(max_abs(ax, 3 * k) < 1e-12 * max_abs(a, 15));
    assert_int_equal(cw_la_null_space(basis, &k, a, 5, 3, 1e-10), CW_OK);
    assert_int_equal(k, 0);
    /* the zero matrix: everything */
    const double z[6] = {0};
    assert_int_equal(cw_la_null_space(basis, &k, z, 2, 3, 1e-10), CW_OK);
    assert_int_equal(k, 3);
    assert_int_equal(cw_la_rank(&rank, z, 2, 3, 1e-10), CW_OK);
    assert_int_equal(rank, 0);
}

static void test_cholesky_and_solves(void **state) {
    (void)state;
    enum { N = 5, R = 3 };
    cw_rng r;
    cw_rng_seed(&r, 35);
    double b[N * N], a[N * N], l[N * N], rec[N * N], inv[N * N], x[N * R], rhs[N * R], ax[N * R];
    randn(b, N * N, &r);
    mm(a, b, 0, b, 1, N, N, N);
    for (int i = 0; i < N; i++) a[i * N + i] += 1.0; /* SPD */
    assert_int_equal(cw_la_cholesky(l, a, N), CW_OK);
    for (int i = 0; i < N; i++)
        for (int j = i + 1; j < N; j++) assert_true(l[i * N + j] == 0.0);
    for (int i = 0; i < N; i++) assert_true(l[i * N + i] > 0);
    mm(rec, l, 0, l, 1, N, N, N);
    assert_true(max_abs_diff(rec, a, N * N) < 1e-13 * max_abs(a, N * N));

    assert_int_equal(cw_la_spd_inverse(inv, a, N), CW_OK);
    mm(rec, a, 0, inv, 0, N, N, N);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            assert_true(fabs(rec[i * N + j] - (i == j)) < 1e-11);
            assert_true(inv[i * N + j] == inv[j * N + i]);
        }

    randn(rhs, N * R, &r);
    assert_int_equal(cw_la_spd_solve(x, a, rhs, N, R), CW_OK);
    mm(ax, a, 0, x, 0, N, R, N);
    assert_true(max_abs_diff(ax, rhs, N * R) < 1e-12 * max_abs(rhs, N * R));
    memcpy(x, rhs, sizeof x); /* in place */
    assert_int_equal(cw_la_spd_solve(x, a, x, N, R), CW_OK);
    mm(ax, a, 0, x, 0, N, R, N);
    assert_true(max_abs_diff(ax, rhs, N * R) < 1e-12 * max_abs(rhs, N * R));

    /* general solve with a non-symmetric matrix */
    double g[N * N];
    randn(g, N * N, &r);
    assert_int_equal(cw_la_solve(x, g, rhs, N, R), CW_OK);
    mm(ax, g, 0, x, 0, N, R, N);
    assert_true(max_abs_diff(ax, rhs, N * R) < 1e-11 * max_abs(rhs, N * R));
    memcpy(x, rhs, sizeof x);
    assert_int_equal(cw_la_solve(x, g, x, N, R), CW_OK);
    mm(ax, g, 0, x, 0, N, R, N);
    assert_true(max_abs_diff(ax, rhs, N * R) < 1e-11 * max_abs(rhs, N * R));
    const double sing[4] = {1, 2, 2, 4};
    double x2[2], b2[2] = {1, 1};
    assert_int_equal(cw_la_solve(x2, sing, b2, 2, 1), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "singular"));

    /* not positive definite: eigenvalues 3 and -1 */
    const double indef[4] = {1, 2, 2, 1};
    double o[4];
    cw_clear_error();
    assert_int_equal(cw_la_cholesky(o, indef, 2), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "positive definite"));
    cw_clear_error();
    assert_int_equal(cw_la_spd_inverse(o, indef, 2), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "positive definite"));
    cw_clear_error();
    assert_int_equal(cw_la_spd_solve(x2, indef, b2, 2, 1), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "positive definite"));
}

/* determinant by cofactor expansion (n <= 4) */
static double cofactor_det(const double *a, int n) {
    if (n == 1) return a[0];
    double d = 0, sub[16];
    for (int c = 0; c < n; c++) {
        int t = 0;
        for (int i = 1; i < n; i++)
            for (int j = 0; j < n; j++)
                if (j != c) sub[t++] = a[i * n + j];
        d += (c % 2 ? -1 : 1) * a[c] * cofactor_det(sub, n - 1);
    }
    return d;
}

static void test_det(void **state) {
    (void)state;
    double d;
    const double a[9] = {2, 1, 0, 1, 3, 1, 0, 1, 4}; /* 2 (12 - 1) - 1 (4 - 0) = 18 */
    assert_int_equal(cw_la_det(&d, a, 3), CW_OK);
    assert_true(fabs(d - 18) < 1e-13);
    const double sw[4] = {0, 1, 1, 0}; /* a row swap: -1 (pivot sign) */
    assert_int_equal(cw_la_det(&d, sw, 2), CW_OK);
    assert_true(fabs(d + 1) < 1e-15);
    const double sing[4] = {1, 2, 2, 4};
    assert_int_equal(cw_la_det(&d, sing, 2), CW_OK);
    assert_true(d == 0.0);
    const double sing3[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9}; /* singular, not exactly in LU */
    assert_int_equal(cw_la_det(&d, sing3, 3), CW_OK);
    assert_true(fabs(d) < 1e-12);
    cw_rng r;
    cw_rng_seed(&r, 36);
    for (int t = 0; t < 20; t++) {
        double g[16];
        randn(g, 16, &r);
        assert_int_equal(cw_la_det(&d, g, 4), CW_OK);
        double want = cofactor_det(g, 4);
        assert_true(fabs(d - want) < 1e-12 * (1 + fabs(want)));
    }
}

static void test_support_basis(void **state) {
    (void)state;
    enum { D = 8, N = 3, E = 3, ROWS = 40 };
    cw_rng r;
    cw_rng_seed(&r, 37);
    double g[D * N];
    randn(g, D * N, &r);
    static double x[E][ROWS * D], z[ROWS * N];
    int64_t count[E] = {ROWS, ROWS, N + D}; /* the last one exactly n + d rows */
    for (int e = 0; e < E; e++) {
        for (int i = 0; i < ROWS * N; i++) z[i] = (1 + e) * cw_rng_normal(&r) + e;
        mm(x[e], z, 0, g, 1, ROWS, D, N); /* x = z G^T: rows x_i = G z_i */
    }
    /* rows beyond n + d are ignored (§A4.0): put outliers off col(G) there */
    for (int i = N + D; i < ROWS; i++)
        for (int j = 0; j < D; j++) x[0][i * D + j] = 1e3 * cw_rng_normal(&r);
    const double *xp[E] = {x[0], x[1], x[2]};
    double basis[D * N];
    assert_int_equal(cw_crl_support_basis(basis, xp, count, E, D, N), CW_OK);
    assert_true(orth_cols_err(basis, D, N) < 1e-13);
    /* span: G - B B^T G = 0 */
    double btg[N * N], proj[D * N];
    mm(btg, basis, 1, g, 0, N, N, D);
    mm(proj, basis, 0, btg, 0, D, N, N);
    double res = max_abs_diff(proj, g, D * N);
    printf("support basis: max |G - B B^T G| = %.3g (max |G| = %.3g)\n", res, max_abs(g, D * N));
    assert_true(res < 1e-12 * max_abs(g, D * N));
    /* columns in descending eigenvalue order of C = sum_e cov(x_e[:n+d]) (explicit sums) */
    double c[D * D] = {0};
    for (int e = 0; e < E; e++) {
        int64_t rows = N + D;
        double mu[D] = {0};
        for (int64_t i = 0; i < rows; i++)
            for (int j = 0; j < D; j++) mu[j] += x[e][i * D + j] / (double)rows;
        for (int64_t i = 0; i < rows; i++)
            for (int j = 0; j < D; j++)
                for (int k = 0; k < D; k++)
                    c[j * D + k] += (x[e][i * D + j] - mu[j]) * (x[e][i * D + k] - mu[k]) / rows;
    }
    double cb[D * N], btcb[N * N];
    mm(cb, c, 0, basis, 0, D, N, D);
    mm(btcb, basis, 1, cb, 0, N, N, D);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            if (i != j) assert_true(fabs(btcb[i * N + j]) < 1e-10 * btcb[0]);
    for (int i = 1; i < N; i++) assert_true(btcb[(i - 1) * N + i - 1] >= btcb[i * N + i]);
    /* C b_k = lambda_k b_k */
    for (int i = 0; i < D; i++)
        for (int k = 0; k < N; k++)
            assert_true(fabs(cb[i * N + k] - btcb[k * N + k] * basis[i * N + k]) <
                        1e-10 * btcb[0]);

    /* projection */
    double out[ROWS * N], want[ROWS * N];
    cw_crl_project(out, x[1], ROWS, basis, D, N);
    mm(want, x[1], 0, basis, 0, ROWS, N, D);
    assert_true(max_abs_diff(out, want, ROWS * N) < 1e-12 * max_abs(want, ROWS * N));

    /* errors */
    assert_int_equal(cw_crl_support_basis(basis, xp, count, E, D, D + 1), CW_EINVAL);
    int64_t small[E] = {ROWS, 1, ROWS};
    assert_int_equal(cw_crl_support_basis(basis, xp, small, E, D, N), CW_EINVAL);
}

static void test_cross_moment(void **state) {
    (void)state;
    enum { C = 30, P = 4 };
    cw_rng r;
    cw_rng_seed(&r, 38);
    double a[C * P], b[C * P], m[P * P], want[P * P];
    randn(a, C * P, &r);
    randn(b, C * P, &r);
    for (int i = 0; i < C * P; i++) a[i] += 3; /* uncentred: the mean must stay in */
    cw_crl_cross_moment(m, a, b, C, P);
    for (int j = 0; j < P; j++)
        for (int k = 0; k < P; k++) {
            double s = 0;
            for (int i = 0; i < C; i++) s += a[i * P + j] * b[i * P + k];
            want[j * P + k] = s / C;
        }
    assert_true(max_abs_diff(m, want, P * P) < 1e-13 * max_abs(want, P * P));
    cw_crl_cross_moment(m, a, a, C, P);
    for (int j = 0; j < P; j++)
        for (int k = 0; k < P; k++) {
            double s = 0;
            for (int i = 0; i < C; i++) s += a[i * P + j] * a[i * P + k];
            assert_true(fabs(m[j * P + k] - s / C) < 1e-12);
            assert_true(fabs(m[j * P + k] - m[k * P + j]) < 1e-12);
        }
    cw_crl_cross_moment(m, a, b, 0, P);
    for (int i = 0; i < P * P; i++) assert_true(m[i] == 0.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eigh),
        cmocka_unit_test(test_svd),
        cmocka_unit_test(test_qr),
        cmocka_unit_test(test_pinv_rank_null_space),
        cmocka_unit_test(test_cholesky_and_solves),
        cmocka_unit_test(test_det),
        cmocka_unit_test(test_support_basis),
        cmocka_unit_test(test_cross_moment),
    };
    return cmocka_run_group_tests_name("la_lapack", tests, NULL, NULL);
}
