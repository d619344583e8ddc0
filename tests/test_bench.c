/* test_bench.c: `causeway bench kernels`, `bench train --model grace` and `bench stream` (issue #6
 * item 1), run end to end through the built program at the tiny size. Checks that every kernel
 * passed its validation against the double reference and that the outputs carry the expected
 * fields (never timing values, which depend on the machine):
 *   - bench kernels --size tiny (table and --json): 17 kernels, each validated with its worst
 *     error within the tolerance, median/p10/p90, GFLOP/s and the fraction of the sgemm peak;
 *   - bench train --model grace --size tiny (--json and table): the validation step, the FLOP
 *     count of the header of cmd_bench_train.c, the graph's size and the phase shares;
 *   - bench stream on a small simulated file: every child run succeeds and the checkpoint
 *     trained under --memory-cap equals the in-memory one;
 *   - bad sizes and graphs: exit 2.
 */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

static char out[1 << 17];

static const char *const kernels[] = {
    "sgemm peak", "fc1 fwd", "fc1 dW", "fc1 dx", "fc_mean fwd", "fc_mean bwd", "d1 fwd",
    "d2 fwd", "d2 dW", "d2 da", "spmm f1", "spmm f8", "mmd fwd", "mmd bwd", "dag fwd", "dag bwd",
    "adam"};
enum { NK = (int)(sizeof kernels / sizeof kernels[0]) };

static json_t *run_json(const char *args) {
    int rc = cwt_run(out, sizeof out, "%s %s 2>/dev/null", cwt_prog(), args);
    if (rc != 0) fail_msg("causeway %s: exit %d\n%s", args, rc, out);
    json_error_t e;
    json_t *o = json_loads(out, 0, &e);
    if (!o) fail_msg("causeway %s: not JSON (%s):\n%s", args, e.text, out);
    return o;
}

static double num(json_t *o, const char *key) {
    json_t *v = json_object_get(o, key);
    if (!json_is_number(v)) fail_msg("missing number '%s'", key);
    return json_number_value(v);
}

static void test_kernels_table(void **state) {
    (void)state;
    int rc = cwt_run(out, sizeof out, "%s bench kernels --size tiny --min-time 0.005", cwt_prog());
    if (rc != 0) fail_msg("exit %d\n%s", rc, out);
    assert_non_null(strstr(out, "context: threads="));
    assert_non_null(strstr(out, "validation: ok, all 17 kernels match the double reference"));
    assert_non_null(strstr(out, "median ms"));
    assert_non_null(strstr(out, "GFLOP/s"));
    assert_non_null(strstr(out, "% peak"));
    assert_non_null(strstr(out, "sgemm peak (this run):"));
    for (int i = 0; i < NK; i++)
        if (!strstr(out, kernels[i])) fail_msg("kernel '%s' missing:\n%s", kernels[i], out);
}

static void test_kernels_json(void **state) {
    (void)state;
    json_t *o = run_json("bench kernels --size tiny --min-time 0.005 --json");
    assert_string_equal(json_string_value(json_object_get(o, "size")), "tiny");
    assert_int_equal(json_integer_value(json_object_get(o, "genes")), 50);
    assert_int_equal(json_integer_value(json_object_get(o, "nodes")), 80);
    assert_int_equal(json_integer_value(json_object_get(o, "edges")), 400);
    assert_true(json_is_true(json_object_get(o, "validated")));
    assert_true(num(o, "sgemm_peak_gflops") > 0);
    assert_true(num(o, "params") > 0);
    json_t *arr = json_object_get(o, "kernels");
    assert_true(json_is_array(arr));
    assert_int_equal(json_array_size(arr), NK);
    for (int i = 0; i < NK; i++) {
        json_t *k = json_array_get(arr, (size_t)i);
        assert_string_equal(json_string_value(json_object_get(k, "name")), kernels[i]);
        assert_true(json_is_true(json_object_get(k, "validated")));
        const double err = num(k, "max_err_over_tol");
        if (!(err >= 0 && err <= 1)) fail_msg("%s: validation error %g x tol", kernels[i], err);
        assert_true(num(k, "flops") > 0);
        assert_true(num(k, "p10_ms") <= num(k, "median_ms"));
        assert_true(num(k, "median_ms") <= num(k, "p90_ms"));
        assert_true(num(k, "gflops") > 0);
        assert_true(num(k, "peak_fraction") > 0);
        assert_true(json_is_string(json_object_get(k, "shape")));
    }
    json_decref(o);
}

static void test_train_grace_json(void **state) {
    (void)state;
    json_t *o = run_json("bench train --model grace --size tiny --steps 5 --warmup 1 --json");
    assert_string_equal(json_string_value(json_object_get(o, "model")), "grace");
    assert_string_equal(json_string_value(json_object_get(o, "gnn")), "sage");
    assert_true(json_is_true(json_object_get(o, "validated")));
    assert_true(isfinite(num(o, "loss_first")) && isfinite(num(o, "loss_last")));
    assert_int_equal(json_integer_value(json_object_get(o, "nodes")), 80);
    assert_int_equal(json_integer_value(json_object_get(o, "edges")), 400);
    const double B = 4, G = 50, Z = 6, H = 8, N = 80, E = 400;
    const double fl = 16 * B * G * H + 24 * B * H * Z + 6 * H * Z + 6 * B * Z * (Z - 1) +
                      10 * B * B * G + 2 * B * G * H + 2 * B * E + 8 * B * N;
    assert_true(fabs(num(o, "flops_per_step") - fl) < 1);
    const char *keys[] = {"step_ms_median", "step_ms_p10", "step_ms_p90", "cells_per_s", "gflops"};
    for (int i = 0; i < 5; i++) assert_true(num(o, keys[i]) > 0);
    json_t *ph = json_object_get(o, "phases");
    assert_true(json_is_object(ph));
    const char *phases[] = {"encoder", "gnn",  "sample", "intervention", "dag",
                            "decoder", "mmd", "losses", "adam",        "other"};
    double share = 0;
    for (int i = 0; i < 10; i++) {
        json_t *p = json_object_get(ph, phases[i]);
        if (!json_is_object(p)) fail_msg("phase '%s' missing", phases[i]);
        share += num(p, "share");
        if (i < 9) assert_true(num(p, "ms") > 0);
    }
    assert_null(json_object_get(ph, "comm")); /* one process: no all-reduce */
    assert_true(fabs(share - 1) < 1e-6); /* "other" is the rest of the step */
    json_decref(o);

    /* cmvae has no gnn phase */
    o = run_json("bench train --model cmvae --size tiny --steps 3 --warmup 0 --json");
    assert_null(json_object_get(json_object_get(o, "phases"), "gnn"));
    assert_non_null(json_object_get(json_object_get(o, "phases"), "decoder"));
    json_decref(o);
}

static void test_train_grace_table(void **state) {
    (void)state;
    int rc = cwt_run(out, sizeof out, "%s bench train --model grace --size tiny --steps 3 "
                     "--warmup 0 --peak", cwt_prog());
    if (rc != 0) fail_msg("exit %d\n%s", rc, out);
    const char *want[] = {"model grace:", "random graph 80 nodes / 400 directed edges",
                          "validation: ok", "median ms", "% peak", "sgemm peak",
                          "phase shares", "timed inside each step", "encoder", "gnn", "sample",
                          "intervention", "dag", "decoder", "mmd", "losses", "adam", "other", "+ 2BGH + 2BE + 8BN"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i])) fail_msg("'%s' missing:\n%s", want[i], out);
}

/* bench stream: simulate, train in memory and under a cap, evaluate under it; the streamed
 * checkpoint must equal the in-memory one and every child must succeed. */
static void test_stream(void **state) {
    (void)state;
    int rc = cwt_run(out, sizeof out, "%s bench stream --cells 3000 --genes 300 --targets 10 "
                     "--latent-dim 8", cwt_prog());
    if (rc != 0) fail_msg("bench stream exited %d:\n%s", rc, out);
    const char *want[] = {"== out of core", "train, X in memory", "train, --memory-cap",
                          "evaluate, --memory-cap", "checkpoints identical: yes"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i])) fail_msg("'%s' missing:\n%s", want[i], out);
    assert_null(strstr(out, "(failed)"));
    assert_int_equal(cwt_run(out, sizeof out, "%s bench stream --cells 500 --targets 100",
                             cwt_prog()), 2);
    assert_non_null(strstr(out, "expected at least 64"));
}

static void test_bad_args(void **state) {
    (void)state;
    assert_int_equal(cwt_run(out, sizeof out, "%s bench kernels --size huge", cwt_prog()), 2);
    assert_int_equal(cwt_run(out, sizeof out, "%s bench kernels --threads x", cwt_prog()), 2);
    assert_int_equal(cwt_run(out, sizeof out, "%s bench train --model grace --size tiny --nodes 10",
                             cwt_prog()), 2);
    assert_int_equal(cwt_run(out, sizeof out, "%s bench train --model grace --size tiny --gnn gin",
                             cwt_prog()), 2);
    assert_int_equal(cwt_run(out, sizeof out, "%s bench train --model grace --genes 10 "
                             "--latent-dim 3 --batch-size 2 --nodes 12 --edges 1000", cwt_prog()), 2);
    assert_int_equal(cwt_run(out, sizeof out, "%s bench kernels --help", cwt_prog()), 0);
    assert_non_null(strstr(out, "usage: causeway bench kernels"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_table),     cmocka_unit_test(test_kernels_json),
        cmocka_unit_test(test_train_grace_json),  cmocka_unit_test(test_train_grace_table),
        cmocka_unit_test(test_stream),            cmocka_unit_test(test_bad_args),
    };
    return cmocka_run_group_tests(tests, NULL, cwt_teardown);
}
