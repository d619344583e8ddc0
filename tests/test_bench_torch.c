/* test_bench_torch.c: the PyTorch baseline bridge (src/cli/bench_torch.c, bench/torch_baseline.py)
 * on tiny shapes: cmvae and grace, float32 and float64, finite positive quantiles in order (the
 * script itself validates its step against the reference form of the model and stops on a
 * non-finite loss); argument errors; a python without torch gives CW_ENOTFOUND. The runs are
 * skipped cleanly when /usr/bin/python3 (or $CAUSEWAY_PYTHON) cannot import torch (a missing
 * script is a failure). ~10 s.
 */
#include "test_util.h"

#include "../src/cli/bench_torch.c"

#include <math.h>

/* tiny shapes: G 40, Z 4, H 8, B 6; grace over 60 nodes, 200 directed edges; 3 timed steps */
static cw_status run(const char *model, const char *dtype, double q[3]) {
    return cli_bench_torch(&q[0], &q[1], &q[2], model, 40, 4, 8, 6, 60, 200, 1, dtype, 3);
}

static void check_model(const char *model, const char *dtype) {
    double q[3] = {-1, -1, -1};
    cw_status st = run(model, dtype, q);
    if (st == CW_ENOTFOUND && !strstr(cw_errmsg(), "torch_baseline.py")) { /* no torch */
        print_message("skipped: %s\n", cw_errmsg());
        skip();
    }
    if (st != CW_OK) print_message("%s %s: %s\n", model, dtype, cw_errmsg());
    assert_int_equal(st, CW_OK);
    print_message("%s %s: median %.3f ms (p10 %.3f, p90 %.3f)\n", model, dtype, q[0], q[1], q[2]);
    for (int i = 0; i < 3; i++) assert_true(isfinite(q[i]) && q[i] > 0);
    assert_true(q[1] <= q[0] && q[0] <= q[2]);
}

static void test_cmvae_float32(void **state) {
    (void)state;
    check_model("cmvae", "float32");
}

static void test_cmvae_float64(void **state) {
    (void)state;
    check_model("cmvae", "float64");
}

static void test_grace_float32(void **state) {
    (void)state;
    check_model("grace", "float32");
}

static void test_grace_float64(void **state) {
    (void)state;
    check_model("grace", "float64");
}

static void test_bad_arguments(void **state) {
    (void)state;
    double a, b, c;
    assert_int_equal(cli_bench_torch(&a, &b, &c, "vgae", 40, 4, 8, 6, 0, 0, 1, "float32", 3),
                     CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "vgae"));
    assert_int_equal(cli_bench_torch(&a, &b, &c, "cmvae", 40, 4, 8, 6, 0, 0, 1, "half", 3),
                     CW_EINVAL);
    assert_int_equal(cli_bench_torch(&a, &b, &c, "cmvae", 0, 4, 8, 6, 0, 0, 1, "float32", 3),
                     CW_EINVAL);
    /* grace: fewer nodes than genes, an odd number of directed edges */
    assert_int_equal(cli_bench_torch(&a, &b, &c, "grace", 40, 4, 8, 6, 30, 200, 1, "float32", 3),
                     CW_EINVAL);
    assert_int_equal(cli_bench_torch(&a, &b, &c, "grace", 40, 4, 8, 6, 60, 201, 1, "float32", 3),
                     CW_EINVAL);
}

/* an interpreter that is missing, or cannot import torch: CW_ENOTFOUND with the reason */
static void test_no_torch(void **state) {
    (void)state;
    double q[3];
    const char *old = getenv("CAUSEWAY_PYTHON");
    char *saved = old ? strdup(old) : NULL;
    setenv("CAUSEWAY_PYTHON", "/nonexistent/python3", 1);
    assert_int_equal(run("cmvae", "float32", q), CW_ENOTFOUND);
    assert_non_null(strstr(cw_errmsg(), "/nonexistent/python3"));
    setenv("CAUSEWAY_PYTHON", "/bin/false", 1);
    assert_int_equal(run("cmvae", "float32", q), CW_ENOTFOUND);
    assert_non_null(strstr(cw_errmsg(), "cannot import torch"));
    if (saved) {
        setenv("CAUSEWAY_PYTHON", saved, 1);
        free(saved);
    } else {
        unsetenv("CAUSEWAY_PYTHON");
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_arguments), cmocka_unit_test(test_no_torch),
        cmocka_unit_test(test_cmvae_float32), cmocka_unit_test(test_cmvae_float64),
        cmocka_unit_test(test_grace_float32), cmocka_unit_test(test_grace_float64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
