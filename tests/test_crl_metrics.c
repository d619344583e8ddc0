/* test_crl_metrics.c: the score-based CRL metrics (src/crl/crl_metrics.c, spec §A5) on
 * hand-computed examples: effective transform and its row normalisation, the three masks,
 * incorrect mixing count / ratio / spectral norm, normalised latent error, MCC of the linear
 * runs, greedy permutation, GSCALE err_fro and relative 2-norm error, mean / standard error. */
#include "test_util.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "crl/crl_metrics.h"
#include "la/lapack.h"

#include <math.h>

#define CLOSE(a, b, tol) assert_true(fabs((a) - (b)) <= (tol))

static void test_effective_transform(void **state) {
    (void)state;
    enum { N = 3, D = 5 };
    cw_rng r;
    cw_rng_seed(&r, 21);
    double g[D * N], gp[N * D], h[N * D], e[N * N];
    for (int i = 0; i < D * N; i++) g[i] = cw_rng_normal(&r);
    assert_int_equal(cw_la_pinv(gp, g, D, N, 1e-15), CW_OK);
    /* H = G^+ with rows rescaled by -2, 0.5, 3: E = I after the sign/norm normalisation */
    const double sc[N] = {-2, 0.5, 3};
    for (int k = 0; k < N; k++)
        for (int j = 0; j < D; j++) h[k * D + j] = sc[k] * gp[k * D + j];
    assert_int_equal(cw_crl_effective_transform(e, h, g, NULL, N, D), CW_OK);
    for (int k = 0; k < N; k++)
        for (int l = 0; l < N; l++) CLOSE(e[k * N + l], k == l, 1e-12);
    /* goal order perm: column k uses node perm[k]; H whose row k is row perm[k] of G^+ gives I */
    const int64_t perm[N] = {2, 0, 1};
    for (int k = 0; k < N; k++)
        for (int j = 0; j < D; j++) h[k * D + j] = gp[perm[k] * D + j];
    assert_int_equal(cw_crl_effective_transform(e, h, g, perm, N, D), CW_OK);
    for (int k = 0; k < N; k++)
        for (int l = 0; l < N; l++) CLOSE(e[k * N + l], k == l, 1e-12);
    /* without the perm the same H gives the permutation matrix e[k, perm[k]] = 1 */
    assert_int_equal(cw_crl_effective_transform(e, h, g, NULL, N, D), CW_OK);
    for (int k = 0; k < N; k++)
        for (int l = 0; l < N; l++) CLOSE(fabs(e[k * N + l]), l == perm[k], 1e-12);
    const int64_t bad[N] = {0, 0, 1};
    assert_int_equal(cw_crl_effective_transform(e, h, g, bad, N, D), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "permutation"));

    /* hand example, G = I: rows (-3, 4) -> (3/5, -4/5) (sign of E_00 < 0); (0, 2) -> (0, 1)
     * (sign(0) = +1); (0, 0) stays zero */
    double e2[9] = {-3, 4, 0, 0, 2, 0, 0, 0, 0};
    cw_crl_normalize_rows(e2, 3);
    const double w2[9] = {0.6, -0.8, 0, 0, 1, 0, 0, 0, 0};
    for (int i = 0; i < 9; i++) CLOSE(e2[i], w2[i], 1e-15);
    double e3[4] = {0, 2, 1, -1}; /* row 0: E_00 = 0 -> +1; row 1: E_11 = -1 -> flip */
    cw_crl_normalize_rows(e3, 2);
    CLOSE(e3[0], 0, 0);
    CLOSE(e3[1], 1, 1e-15);
    CLOSE(e3[2], -sqrt(0.5), 1e-15);
    CLOSE(e3[3], sqrt(0.5), 1e-15);
}

static void test_masks(void **state) {
    (void)state;
    /* 0 -> 1, 1 -> 2, 0 -> 2, 3 -> 1; surrounding parents: 0 of 1, 0 and 1 of 2 */
    uint8_t g[16] = {0}, m[16];
    g[0 * 4 + 1] = g[1 * 4 + 2] = g[0 * 4 + 2] = g[3 * 4 + 1] = 1;
    assert_int_equal(cw_crl_mask(m, CW_CRL_MASK_HARD, NULL, 4), CW_OK);
    for (int k = 0; k < 4; k++)
        for (int l = 0; l < 4; l++) assert_int_equal(m[k * 4 + l], k == l);
    assert_int_equal(cw_crl_mask(m, CW_CRL_MASK_PARENTS, g, 4), CW_OK);
    uint8_t want[16] = {0};
    for (int k = 0; k < 4; k++) want[k * 4 + k] = 1;
    want[1 * 4 + 0] = want[1 * 4 + 3] = want[2 * 4 + 0] = want[2 * 4 + 1] = 1; /* l in pa(k) */
    assert_memory_equal(m, want, 16);
    assert_int_equal(cw_crl_mask(m, CW_CRL_MASK_SURROUNDING, g, 4), CW_OK);
    want[1 * 4 + 3] = 0; /* ch(1) = {2} is not inside ch(3) = {1} */
    assert_memory_equal(m, want, 16);
    assert_int_equal(cw_crl_mask(m, CW_CRL_MASK_PARENTS, NULL, 4), CW_EINVAL);
    assert_int_equal(cw_crl_mask(m, (cw_crl_mask_kind)7, g, 4), CW_EINVAL);
}

static void test_incorrect_mixing(void **state) {
    (void)state;
    double e[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    uint8_t hard[9], par[9], all[9];
    assert_int_equal(cw_crl_mask(hard, CW_CRL_MASK_HARD, NULL, 3), CW_OK);
    memset(all, 1, 9);
    cw_crl_mixing mx;
    assert_int_equal(cw_crl_incorrect_mixing(&mx, e, hard, 3, 0.05), CW_OK);
    assert_int_equal(mx.count, 0);
    CLOSE(mx.ratio, 0, 0);
    CLOSE(mx.norm, 0, 1e-15);
    e[0 * 3 + 1] = 0.3; /* one off-mask entry */
    assert_int_equal(cw_crl_incorrect_mixing(&mx, e, hard, 3, 0.05), CW_OK);
    assert_int_equal(mx.count, 1);
    CLOSE(mx.ratio, 1.0 / 6.0, 1e-15);
    CLOSE(mx.norm, 0.3, 1e-14);
    e[2 * 3 + 0] = -0.04; /* below atol: not counted, in the norm (separate row and column) */
    assert_int_equal(cw_crl_incorrect_mixing(&mx, e, hard, 3, 0.05), CW_OK);
    assert_int_equal(mx.count, 1);
    CLOSE(mx.norm, 0.3, 1e-14);
    e[2 * 3 + 0] = -0.05; /* |E| >= atol counts */
    e[0 * 3 + 2] = 0.4;   /* row 0 off-mask (0, .3, .4): spectral norm .5 */
    assert_int_equal(cw_crl_incorrect_mixing(&mx, e, hard, 3, 0.05), CW_OK);
    assert_int_equal(mx.count, 3);
    CLOSE(mx.ratio, 3.0 / 6.0, 1e-15);
    CLOSE(mx.norm, 0.5, 1e-14);
    /* soft mask with 1 a parent of 0 (goal DAG 1 -> 0): (0, 1) allowed, 5 entries outside */
    uint8_t g[9] = {0};
    g[1 * 3 + 0] = 1;
    assert_int_equal(cw_crl_mask(par, CW_CRL_MASK_PARENTS, g, 3), CW_OK);
    assert_int_equal(cw_crl_incorrect_mixing(&mx, e, par, 3, 0.05), CW_OK);
    assert_int_equal(mx.count, 2);
    CLOSE(mx.ratio, 2.0 / 5.0, 1e-15);
    CLOSE(mx.norm, 0.4, 1e-14);
    /* everything allowed: ratio 0 (0 / 0) */
    assert_int_equal(cw_crl_incorrect_mixing(&mx, e, all, 3, 0.05), CW_OK);
    assert_int_equal(mx.count, 0);
    CLOSE(mx.ratio, 0, 0);
    CLOSE(mx.norm, 0, 1e-15);
}

static void test_latent_error_and_mcc(void **state) {
    (void)state;
    /* hand: Z rows (1, 0), (0, 1); E = diag(2, 1): Ẑ - Z = (1, 0), (0, 0) -> 1 / sqrt(2) */
    const double z2[4] = {1, 0, 0, 1}, ed[4] = {2, 0, 0, 1}, id2[4] = {1, 0, 0, 1};
    double err;
    assert_int_equal(cw_crl_latent_error(&err, ed, z2, 2, 2), CW_OK);
    CLOSE(err, sqrt(0.5), 1e-15);
    assert_int_equal(cw_crl_latent_error(&err, id2, z2, 2, 2), CW_OK);
    CLOSE(err, 0, 0);
    const double zero[4] = {0};
    assert_int_equal(cw_crl_latent_error(&err, id2, zero, 2, 2), CW_EINVAL);
    /* ẑ_i = E z_i, not z_i E: E = [[0, 1], [0, 0]] maps (1, 0) to (0, 0) and (0, 1) to (1, 0);
     * Ẑ - Z = (-1, 0), (1, -1): error sqrt(3 / 2) */
    const double eu[4] = {0, 1, 0, 0};
    assert_int_equal(cw_crl_latent_error(&err, eu, z2, 2, 2), CW_OK);
    CLOSE(err, sqrt(1.5), 1e-15);

    enum { N = 4000, K = 3 };
    static double z[N * K];
    cw_rng r;
    cw_rng_seed(&r, 22);
    for (int i = 0; i < N * K; i++) z[i] = cw_rng_normal(&r) + 2.0; /* non-centred */
    double mcc;
    int64_t match[K];
    const double idk[K * K] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    assert_int_equal(cw_crl_mcc_linear(&mcc, match, idk, z, N, K), CW_OK);
    CLOSE(mcc, 1, 1e-12);
    for (int k = 0; k < K; k++) assert_int_equal(match[k], k);
    /* signed, scaled permutation: ẑ_0 = -2 z_2, ẑ_1 = z_0, ẑ_2 = 3 z_1: MCC 1, true latent j
     * matched to the Ẑ column that carries it */
    const double ep[K * K] = {0, 0, -2, 1, 0, 0, 0, 3, 0};
    assert_int_equal(cw_crl_mcc_linear(&mcc, match, ep, z, N, K), CW_OK);
    CLOSE(mcc, 1, 1e-12);
    assert_int_equal(match[0], 1);
    assert_int_equal(match[1], 2);
    assert_int_equal(match[2], 0);
    /* mixing: ẑ_0 = (z_0 + z_1)/sqrt 2 has correlation 1/sqrt 2 with z_0; ẑ_1 = z_1 and
     * ẑ_2 = z_2 exact: MCC = (1/sqrt 2 + 2) / 3 */
    const double em[K * K] = {sqrt(0.5), sqrt(0.5), 0, 0, 1, 0, 0, 0, 1};
    assert_int_equal(cw_crl_mcc_linear(&mcc, NULL, em, z, N, K), CW_OK);
    CLOSE(mcc, (sqrt(0.5) + 2) / 3, 0.02);
    /* incorrect mixing of the identity is 0 */
    uint8_t hard[K * K];
    cw_crl_mixing mx;
    assert_int_equal(cw_crl_mask(hard, CW_CRL_MASK_HARD, NULL, K), CW_OK);
    assert_int_equal(cw_crl_incorrect_mixing(&mx, idk, hard, K, 0.05), CW_OK);
    assert_int_equal(mx.count, 0);
}

static void test_greedy_permutation(void **state) {
    (void)state;
    /* greedy takes 0.9 first, so it is not the optimal assignment (0.8 + 0.85) */
    const double s[9] = {0.9, -0.8, 0, -0.85, 0, 0, 0, 0, 0.1};
    int64_t p[3];
    assert_int_equal(cw_crl_greedy_permutation(p, s, 3), CW_OK);
    assert_int_equal(p[0], 0);
    assert_int_equal(p[1], 1);
    assert_int_equal(p[2], 2);
    /* absolute values and an off-diagonal structure */
    const double s2[9] = {0.1, 0.2, -3, 5, 0, 0, 0, 0.5, 0.4};
    assert_int_equal(cw_crl_greedy_permutation(p, s2, 3), CW_OK);
    assert_int_equal(p[0], 2);
    assert_int_equal(p[1], 0);
    assert_int_equal(p[2], 1);
    /* ties go to the smallest row, then column; NaN loses to numbers */
    const double s3[4] = {NAN, 1, 1, 1};
    assert_int_equal(cw_crl_greedy_permutation(p, s3, 2), CW_OK);
    assert_int_equal(p[0], 1);
    assert_int_equal(p[1], 0);
    assert_int_equal(cw_crl_greedy_permutation(p, s3, 0), CW_EINVAL);
}

static void test_err_fro(void **state) {
    (void)state;
    /* hand: T = I, U = [[1, 0], [1, 1]] -> u0 = (1, 1)/sqrt 2, u1 = (0, 1); greedy pairs
     * (1, 1) first; err^2 = ((1 - 1/sqrt 2)^2 + 1/2) / 2 = 1 - 1/sqrt 2 */
    const double t2[4] = {1, 0, 0, 1}, u2[4] = {1, 0, 1, 1};
    double err;
    int64_t p[8];
    assert_int_equal(cw_crl_err_fro(&err, p, t2, u2, 2, 2, NULL), CW_OK);
    CLOSE(err, sqrt(1 - sqrt(0.5)), 1e-15);
    assert_int_equal(p[0], 0);
    assert_int_equal(p[1], 1);
    /* invariance: U = T with columns permuted, rescaled and sign-flipped gives 0 */
    enum { D = 12, N = 5 };
    cw_rng r;
    cw_rng_seed(&r, 23);
    double t[D * N], u[D * N];
    for (int i = 0; i < D * N; i++) t[i] = cw_rng_normal(&r);
    const int64_t sigma[N] = {3, 0, 4, 1, 2}; /* U column l = s_l T column sigma[l] */
    const double sc[N] = {-0.3, 2, 5, -1, 0.01};
    for (int i = 0; i < D; i++)
        for (int l = 0; l < N; l++) u[i * N + l] = sc[l] * t[i * N + sigma[l]];
    assert_int_equal(cw_crl_err_fro(&err, p, t, u, D, N, NULL), CW_OK);
    CLOSE(err, 0, 1e-14);
    for (int l = 0; l < N; l++) assert_int_equal(p[sigma[l]], l);
    /* the given (correct) permutation agrees; a wrong one does not */
    int64_t given[N];
    for (int l = 0; l < N; l++) given[sigma[l]] = l;
    assert_int_equal(cw_crl_err_fro(&err, NULL, t, u, D, N, given), CW_OK);
    CLOSE(err, 0, 1e-14);
    int64_t wrong[N];
    memcpy(wrong, given, sizeof wrong);
    wrong[0] = given[1], wrong[1] = given[0];
    assert_int_equal(cw_crl_err_fro(&err, NULL, t, u, D, N, wrong), CW_OK);
    assert_true(err > 0.3);
    /* scaling T does not change it; noise raises it */
    double t3[D * N];
    for (int i = 0; i < D * N; i++) t3[i] = 7 * t[i];
    for (int i = 0; i < D * N; i++) u[i] += 0.05 * cw_rng_normal(&r);
    double e1, e2;
    assert_int_equal(cw_crl_err_fro(&e1, NULL, t, u, D, N, NULL), CW_OK);
    assert_int_equal(cw_crl_err_fro(&e2, NULL, t3, u, D, N, NULL), CW_OK);
    CLOSE(e1, e2, 1e-14);
    assert_true(e1 > 1e-3 && e1 < 0.5);
    const double z0[4] = {0};
    assert_int_equal(cw_crl_err_fro(&err, NULL, z0, u2, 2, 2, NULL), CW_EINVAL);
}

static void test_rel_spectral_error(void **state) {
    (void)state;
    const double z[6] = {3, 0, 0, 1, 0, 0}; /* 3 x 2, singular values 3, 1 */
    double zh[6];
    memcpy(zh, z, sizeof zh);
    zh[3] += 0.5;
    double err;
    assert_int_equal(cw_crl_rel_spectral_error(&err, zh, z, 3, 2), CW_OK);
    CLOSE(err, 0.5 / 3, 1e-15);
    for (int i = 0; i < 6; i++) zh[i] = 2 * z[i];
    assert_int_equal(cw_crl_rel_spectral_error(&err, zh, z, 3, 2), CW_OK);
    CLOSE(err, 1, 1e-14);
    /* a rank-one difference (1, 1) / (1, 1) has 2-norm 2, not the Frobenius 2 nor max 1 */
    const double a[4] = {1, 0, 0, 1}, b[4] = {2, 1, 1, 2};
    assert_int_equal(cw_crl_rel_spectral_error(&err, b, a, 2, 2), CW_OK);
    CLOSE(err, 2, 1e-14);
    const double zero[4] = {0};
    assert_int_equal(cw_crl_rel_spectral_error(&err, a, zero, 2, 2), CW_EINVAL);
}

static void test_mean_se(void **state) {
    (void)state;
    const double v[5] = {1, 2, NAN, 3, 6};
    double m, se;
    int64_t ok;
    assert_int_equal(cw_crl_mean_se(&m, &se, &ok, v, 5), CW_OK);
    assert_int_equal(ok, 4);
    CLOSE(m, 3, 1e-15);
    CLOSE(se, sqrt(3.5) / 2, 1e-15); /* std ddof 0 = sqrt((4 + 1 + 0 + 9) / 4) */
    const double one[1] = {4.5};
    assert_int_equal(cw_crl_mean_se(&m, &se, NULL, one, 1), CW_OK);
    CLOSE(m, 4.5, 0);
    CLOSE(se, 0, 0);
    const double none[2] = {NAN, NAN};
    assert_int_equal(cw_crl_mean_se(&m, &se, &ok, none, 2), CW_OK);
    assert_int_equal(ok, 0);
    assert_true(isnan(m) && isnan(se));
}

/* every allocation failure is reported as CW_ENOMEM (run under ASan: nothing leaks) */
static void test_allocation_failures(void **state) {
    (void)state;
    enum { D = 4, N = 3, C = 10 };
    double t[D * N], u[D * N], z[C * N], e[N * N], out;
    for (int i = 0; i < D * N; i++) t[i] = u[i] = (double)((i * 7) % 5) - 2;
    for (int i = 0; i < C * N; i++) z[i] = (double)((i * 3) % 7);
    for (int i = 0; i < N * N; i++) e[i] = i % 4 == 0 ? 1.0 : 0.2;
    uint8_t mask[N * N];
    assert_int_equal(cw_crl_mask(mask, CW_CRL_MASK_HARD, NULL, N), CW_OK);
    const int64_t perm[N] = {1, 2, 0};
    const double v[3] = {1, NAN, 2};
    int failures = 0;
    for (int64_t budget = 0; budget < 8; budget++) {
        cw_status st[6];
        double m, se;
        cw_crl_mixing mx;
        cw_alloc_fail_after(budget);
        st[0] = cw_crl_err_fro(&out, NULL, t, u, D, N, NULL);
        cw_alloc_fail_after(budget);
        st[1] = cw_crl_incorrect_mixing(&mx, e, mask, N, 0.05);
        cw_alloc_fail_after(budget);
        st[2] = cw_crl_mcc_linear(&out, NULL, e, z, C, N);
        cw_alloc_fail_after(budget);
        st[3] = cw_crl_rel_spectral_error(&out, z, z, C, N);
        cw_alloc_fail_after(budget);
        st[4] = cw_crl_mean_se(&m, &se, NULL, v, 3);
        cw_alloc_fail_after(budget);
        st[5] = cw_crl_effective_transform(e, t, u, perm, N, D);
        cw_alloc_fail_after(-1);
        for (int i = 0; i < 6; i++) {
            assert_true(st[i] == CW_OK || st[i] == CW_ENOMEM);
            failures += st[i] == CW_ENOMEM;
        }
    }
    assert_true(failures > 6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_effective_transform),
        cmocka_unit_test(test_masks),
        cmocka_unit_test(test_incorrect_mixing),
        cmocka_unit_test(test_latent_error_and_mcc),
        cmocka_unit_test(test_greedy_permutation),
        cmocka_unit_test(test_err_fro),
        cmocka_unit_test(test_rel_spectral_error),
        cmocka_unit_test(test_mean_se),
        cmocka_unit_test(test_allocation_failures),
    };
    return cmocka_run_group_tests_name("crl_metrics", tests, NULL, NULL);
}
