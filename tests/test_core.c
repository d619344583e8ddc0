/* test_core.c: error messages, allocator failure injection, string lists, the RNG. */
#include "test_util.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/strings.h"

#include <math.h>

static void test_error_message_and_prefix(void **state) {
    (void)state;
    cw_status st = cw_fail(CW_EFORMAT, "/obs/%s: expected strings", "guide_ids");
    assert_int_equal(st, CW_EFORMAT);
    assert_string_equal(cw_errmsg(), "/obs/guide_ids: expected strings");
    cw_fail_prefix(st, "%s", "data.h5ad");
    assert_string_equal(cw_errmsg(), "data.h5ad: /obs/guide_ids: expected strings");
    assert_string_equal(cw_status_name(CW_ENOMEM), "CW_ENOMEM");
}

static void test_alloc_failure_injection(void **state) {
    (void)state;
    cw_alloc_fail_after(2);
    void *a = cw_malloc(8), *b = cw_malloc(8), *c = cw_malloc(8);
    assert_non_null(a);
    assert_non_null(b);
    assert_null(c);
    assert_int_equal(cw_alloc_injected_failures(), 1);
    cw_alloc_fail_after(-1);
    cw_free(a);
    cw_free(b);
    assert_null(cw_malloc_array(SIZE_MAX / 2, 4)); /* overflow is refused, not wrapped */
}

static void test_strings(void **state) {
    (void)state;
    cw_strings l;
    assert_int_equal(cw_strings_alloc(&l, 0), CW_OK);
    const char *v[] = {"b", "a", NULL, "c", "a"};
    for (int i = 0; i < 5; i++) assert_int_equal(cw_strings_push(&l, v[i]), CW_OK);
    assert_int_equal(l.n, 5);
    assert_null(l.s[2]);
    assert_int_equal(cw_strings_find(&l, "c"), 3);
    assert_int_equal(cw_strings_find(&l, "z"), -1);
    assert_int_equal(cw_strings_first_duplicate(&l), 4);
    assert_int_equal(cw_strings_set(&l, 4, "d"), CW_OK);
    assert_int_equal(cw_strings_first_duplicate(&l), -1);
    cw_strings_free(&l);
    /* push onto a list made by alloc(n > 0) keeps earlier entries */
    assert_int_equal(cw_strings_alloc(&l, 3), CW_OK);
    assert_int_equal(cw_strings_set(&l, 0, "x"), CW_OK);
    assert_int_equal(cw_strings_push(&l, "y"), CW_OK);
    assert_string_equal(l.s[0], "x");
    assert_string_equal(l.s[3], "y");
    cw_strings_free(&l);
}

static void test_rng_determinism_and_moments(void **state) {
    (void)state;
    cw_rng a, b, c;
    cw_rng_seed(&a, 42);
    cw_rng_seed(&b, 42);
    cw_rng_seed(&c, 43);
    int same = 1, diff = 0;
    for (int i = 0; i < 100; i++) {
        uint64_t x = cw_rng_u64(&a), y = cw_rng_u64(&b), z = cw_rng_u64(&c);
        same &= x == y;
        diff += x != z;
    }
    assert_true(same);
    assert_true(diff > 95);
    /* substreams: reproducible, distinct */
    cw_rng s1, s2, s3;
    cw_rng_substream(&s1, 7, 1);
    cw_rng_substream(&s2, 7, 1);
    cw_rng_substream(&s3, 7, 2);
    assert_true(cw_rng_u64(&s1) == cw_rng_u64(&s2));
    assert_true(cw_rng_u64(&s1) != cw_rng_u64(&s3));

    const int n = 200000;
    double m = 0, v = 0, gm = 0, pm = 0, pv = 0, pm2 = 0;
    int64_t counts[5] = {0};
    for (int i = 0; i < n; i++) {
        double x = cw_rng_normal(&a);
        m += x;
        v += x * x;
        gm += cw_rng_gamma(&a, 0.5);
        double p = (double)cw_rng_poisson(&a, 3.5);
        pm += p;
        pv += p * p;
        pm2 += (double)cw_rng_poisson(&a, 50.0);
        counts[cw_rng_below(&a, 5)]++;
    }
    m /= n;
    v = v / n - m * m;
    assert_true(fabs(m) < 0.01);
    assert_true(fabs(v - 1.0) < 0.015);
    assert_true(fabs(gm / n - 0.5) < 0.01);
    pm /= n;
    pv = pv / n - pm * pm;
    assert_true(fabs(pm - 3.5) < 0.03);
    assert_true(fabs(pv - 3.5) < 0.06);
    assert_true(fabs(pm2 / n - 50.0) < 0.1);
    for (int k = 0; k < 5; k++) assert_true(fabs((double)counts[k] / n - 0.2) < 0.005);
}

static void test_shuffle_is_permutation(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 1);
    int64_t a[50];
    for (int i = 0; i < 50; i++) a[i] = i;
    cw_rng_shuffle_i64(&r, a, 50);
    int seen[50] = {0}, moved = 0;
    for (int i = 0; i < 50; i++) {
        seen[a[i]]++;
        moved += a[i] != i;
    }
    for (int i = 0; i < 50; i++) assert_int_equal(seen[i], 1);
    assert_true(moved > 40);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_message_and_prefix),
        cmocka_unit_test(test_alloc_failure_injection),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_rng_determinism_and_moments),
        cmocka_unit_test(test_shuffle_is_permutation),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
