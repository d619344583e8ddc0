/* test_recovery.c: Hungarian matching against brute force, MCC on permuted / rescaled /
 * noisy latents, SHD on hand-made graphs (missing, extra, reversed edges). */
#include "test_util.h"

#include "core/rng.h"
#include "eval/recovery.h"

#include <math.h>

/* best total over all injective maps of n rows into m columns (n <= m <= 7) */
static double brute(const double *w, int64_t n, int64_t m, int64_t row, int *used) {
    if (row == n) return 0;
    double best = -INFINITY;
    for (int64_t j = 0; j < m; j++)
        if (!used[j]) {
            used[j] = 1;
            double v = w[row * m + j] + brute(w, n, m, row + 1, used);
            used[j] = 0;
            if (v > best) best = v;
        }
    return best;
}

static void test_hungarian_matches_brute_force(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 3);
    for (int trial = 0; trial < 200; trial++) {
        int64_t n = 1 + cw_rng_below(&r, 5), m = n + cw_rng_below(&r, 3);
        double w[49];
        for (int64_t i = 0; i < n * m; i++) w[i] = cw_rng_normal(&r);
        int64_t match[7];
        double total;
        assert_int_equal(cw_hungarian_max(match, &total, w, n, m), CW_OK);
        int used[7] = {0};
        double best = brute(w, n, m, 0, used);
        assert_true(fabs(total - best) < 1e-12);
        double check = 0;
        int seen[7] = {0};
        for (int64_t i = 0; i < n; i++) {
            assert_true(match[i] >= 0 && match[i] < m);
            assert_int_equal(seen[match[i]]++, 0);
            check += w[i * m + match[i]];
        }
        assert_true(fabs(check - total) < 1e-12);
    }
    int64_t mm[2];
    double w1[2] = {1, 2};
    assert_int_equal(cw_hungarian_max(mm, NULL, w1, 2, 1), CW_EINVAL);
}

static void test_mcc(void **state) {
    (void)state;
    enum { N = 2000, ZT = 3, ZL = 5 };
    static double t[N * ZT], l[N * ZL];
    cw_rng r;
    cw_rng_seed(&r, 1);
    for (int i = 0; i < N * ZT; i++) t[i] = cw_rng_normal(&r);
    /* learned = true programs permuted into columns 4, 0, 2, rescaled and sign-flipped, plus
     * two unrelated columns */
    const int perm[ZT] = {4, 0, 2};
    for (int c = 0; c < N; c++) {
        for (int j = 0; j < ZL; j++) l[c * ZL + j] = cw_rng_normal(&r);
        for (int i = 0; i < ZT; i++) l[c * ZL + perm[i]] = (i == 1 ? -3.0 : 0.5) * t[c * ZT + i] + 7;
    }
    double mcc;
    int64_t match[ZT];
    assert_int_equal(cw_mcc(&mcc, match, t, ZT, l, ZL, N), CW_OK);
    assert_true(fabs(mcc - 1.0) < 1e-12);
    for (int i = 0; i < ZT; i++) assert_int_equal(match[i], perm[i]);
    double mcc_nomatch = 0; /* match may be NULL (it used to be written through) */
    assert_int_equal(cw_mcc(&mcc_nomatch, NULL, t, ZT, l, ZL, N), CW_OK);
    assert_true(mcc_nomatch == mcc);
    /* noise lowers it to the expected correlation 1/sqrt(2) */
    for (int c = 0; c < N; c++)
        for (int i = 0; i < ZT; i++) l[c * ZL + perm[i]] = t[c * ZT + i] + cw_rng_normal(&r);
    assert_int_equal(cw_mcc(&mcc, match, t, ZT, l, ZL, N), CW_OK);
    assert_true(fabs(mcc - sqrt(0.5)) < 0.03);
    assert_int_equal(cw_mcc(&mcc, match, t, ZT, l, 2, N), CW_EINVAL);
}

static void test_shd(void **state) {
    (void)state;
    /* true: 0->1, 1->2 */
    const double t[9] = {0, 0.8, 0, 0, 0, -1.2, 0, 0, 0};
    const int64_t id[3] = {0, 1, 2};
    double l[9] = {0, 0.5, 0, 0, 0, 0.3, 0, 0, 0};
    assert_int_equal(cw_shd_matched(t, 3, l, 3, id, 0.1), 0);
    l[5] = 0.05; /* below threshold: missing 1->2 */
    assert_int_equal(cw_shd_matched(t, 3, l, 3, id, 0.1), 1);
    l[2] = 0.4; /* extra 0->2 */
    assert_int_equal(cw_shd_matched(t, 3, l, 3, id, 0.1), 2);
    /* reversed edge through a matching: learned a->b with match swapping programs 0 and 1 */
    const double l2[9] = {0, 0.9, 0, 0, 0, 0, 0, 0.7, 0}; /* 0->1, 2->1 */
    const int64_t sw[3] = {1, 0, 2}; /* true 0 ~ learned 1, true 1 ~ learned 0 */
    /* through sw: true pair (0,1) sees learned (1,0): edge 0->1 learned means true 1->0:
     * reversed (1); pair (1,2) sees learned (0,2): none vs true 1->2: missing (1); pair (0,2)
     * sees learned (1,2): learned 2->1 means true 2->0: extra (1) */
    assert_int_equal(cw_shd_matched(t, 3, l2, 3, sw, 0.1), 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hungarian_matches_brute_force),
        cmocka_unit_test(test_mcc),
        cmocka_unit_test(test_shd),
    };
    return cmocka_run_group_tests_name("recovery", tests, NULL, NULL);
}
