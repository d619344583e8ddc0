/* test_predict.c: `causeway predict` on a small trained run: the .h5ad it writes (cells per
 * request, labels, genes), reproducibility from the seed, a double differing from its singles,
 * and the errors (unknown target with the closest names, three targets, nothing written). */
#include "test_util.h"

#include "core/strings.h"
#include "io/h5ad.h"

#include <math.h>

static char out[65536];
static char run[512];

static int setup(void **state) {
    (void)state;
    char data[512];
    cwt_path(data, sizeof data, "p.h5ad");
    cwt_path(run, sizeof run, "prun");
    if (cwt_run(out, sizeof out,
                "%s simulate --out '%s' --n-controls 200 --cells-per-perturbation 64 --n-genes 40 "
                "--n-programs 3 --n-targets 4 --n-combinations 1 --seed 5 --quiet --no-graph && "
                "%s train '%s' --out '%s' --epochs 3 --split random --seed 1 --quiet",
                cwt_prog(), data, cwt_prog(), data, run) != 0)
        return -1;
    return 0;
}


static void test_predict_file(void **state) {
    (void)state;
    char p1[512], p2[512], p3[512];
    cwt_path(p1, sizeof p1, "pred1.h5ad");
    cwt_path(p2, sizeof p2, "pred2.h5ad");
    cwt_path(p3, sizeof p3, "pred3.h5ad");
    /* the simulator's target symbols are G000xx; read them from the training data */
    cw_h5ad *h;
    char data[512];
    cwt_path(data, sizeof data, "p.h5ad");
    assert_int_equal(cw_h5ad_open(data, &h), CW_OK);
    cw_strings t;
    assert_int_equal(cw_h5ad_read_strings(h, "/uns/causeway_truth/target_names", &t), CW_OK);
    cw_h5ad_close(h);
    assert_true(t.n == 4);
    char a[2048];
    snprintf(a, sizeof a, "%s predict '%s' --perturb %s --perturb '%s+%s' --cells 40 --out '%s' --seed 7",
             cwt_prog(), run, t.s[0], t.s[2], t.s[1], p1);
    if (cwt_run(out, sizeof out, "%s", a) != 0) fail_msg("%s", out);
    snprintf(a, sizeof a, "%s predict '%s' --perturb %s --perturb '%s+%s' --cells 40 --out '%s' --seed 7",
             cwt_prog(), run, t.s[0], t.s[2], t.s[1], p2);
    assert_int_equal(cwt_run(out, sizeof out, "%s", a), 0);
    assert_int_equal(cwt_run(out, sizeof out, "cmp '%s' '%s'", p1, p2), 0);
    snprintf(a, sizeof a, "%s predict '%s' --perturb %s --perturb '%s+%s' --cells 40 --out '%s' --seed 8",
             cwt_prog(), run, t.s[0], t.s[2], t.s[1], p3);
    assert_int_equal(cwt_run(out, sizeof out, "%s", a), 0);
    assert_int_not_equal(cwt_run(out, sizeof out, "cmp -s '%s' '%s'", p1, p3), 0);

    assert_int_equal(cw_h5ad_open(p1, &h), CW_OK);
    assert_int_equal(cw_h5ad_n_obs(h), 80);
    assert_int_equal(cw_h5ad_n_vars(h), 40);
    cw_column col;
    assert_int_equal(cw_h5ad_read_column(h, "obs", "perturbation", &col), CW_OK);
    char dbl[128];
    snprintf(dbl, sizeof dbl, "%s,%s", t.s[1], t.s[2]); /* canonical order */
    assert_string_equal(col.values.s[0], t.s[0]);
    assert_string_equal(col.values.s[79], dbl);
    cw_column_free(&col);
    /* generated cells are finite and not all equal */
    float *x = malloc(80 * 40 * sizeof(float));
    assert_int_equal(cw_h5ad_read_x_dense_rows(h, 0, 80, x), CW_OK);
    int differ = 0;
    for (int i = 0; i < 80 * 40; i++) {
        assert_true(isfinite(x[i]));
        differ += x[i] != x[i % 40];
    }
    assert_true(differ > 1000);
    free(x);
    cw_strings seed;
    assert_int_equal(cw_h5ad_read_strings(h, "/uns/causeway/seed", &seed), CW_OK);
    assert_string_equal(seed.s[0], "7");
    cw_strings_free(&seed);
    cw_h5ad_close(h);
    cw_strings_free(&t);
}

static void test_predict_errors(void **state) {
    (void)state;
    char p[512], a[2048];
    cwt_path(p, sizeof p, "bad.h5ad");
    snprintf(a, sizeof a, "%s predict '%s' --perturb NOTAGENE --cells 5 --out '%s'", cwt_prog(), run, p);
    assert_int_equal(cwt_run(out, sizeof out, "%s", a), 2);
    assert_non_null(strstr(out, "unknown target 'NOTAGENE'"));
    assert_non_null(strstr(out, "closest known: G"));
    assert_false(cwt_exists(p));
    snprintf(a, sizeof a, "%s predict '%s' --perturb G00001,G00002,G00003 --cells 5 --out '%s'",
             cwt_prog(), run, p);
    assert_int_equal(cwt_run(out, sizeof out, "%s", a), 2);
    assert_false(cwt_exists(p));
    snprintf(a, sizeof a, "%s predict '%s' --cells 5 --out '%s'", cwt_prog(), run, p);
    assert_int_equal(cwt_run(out, sizeof out, "%s", a), 2);
    assert_non_null(strstr(out, "--perturb"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_predict_file),
        cmocka_unit_test(test_predict_errors),
    };
    return cmocka_run_group_tests_name("predict", tests, setup, cwt_teardown);
}
