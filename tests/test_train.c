/* test_train.c: `causeway train` end to end on a small simulated dataset: the run directory
 * (config, split, log, checkpoint), a loss that goes down, `--resume` after an interruption
 * ending bit-identical to an uninterrupted run, a non-finite loss stopping with the step, batch
 * and term, bad options, and X streamed under --memory-cap giving the same checkpoint and the same
 * evaluation and predictions as X in memory. */
#include "test_util.h"

#include <strings.h>

#include <jansson.h>

#include "nn/gemm_small.h"

static char out[65536];
static char data[512];

static int run_prog(const char *fmt, const char *a1, const char *a2) {
    char args[4096];
    snprintf(args, sizeof args, fmt, a1, a2);
    return cwt_run(out, sizeof out, "%s %s", cwt_prog(), args);
}

static int setup(void **state) {
    (void)state;
    cwt_path(data, sizeof data, "train.h5ad");
    int rc = cwt_run(out, sizeof out,
                     "%s simulate --out '%s' --n-controls 300 --cells-per-perturbation 96 "
                     "--n-genes 80 --n-programs 4 --n-targets 6 --n-combinations 2 --seed 2 "
                     "--quiet --no-graph",
                     cwt_prog(), data);
    return rc == 0 ? 0 : -1;
}


static void test_run_dir_and_learning(void **state) {
    (void)state;
    char dir[512], p[700];
    cwt_path(dir, sizeof dir, "run");
    assert_int_equal(run_prog("train '%s' --out '%s' --epochs 12 --split random --seed 3 --quiet",
                              data, dir),
                     0);
    const char *files[] = {"config.json", "split.json", "train_log.jsonl", "checkpoint.ckpt"};
    for (int i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (!cwt_exists(p)) fail_msg("missing %s", p);
    }
    snprintf(p, sizeof p, "%s/config.json", dir);
    json_t *c = json_load_file(p, 0, NULL);
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(c, "seed")), "3");
    assert_string_equal(json_string_value(json_object_get(c, "model")), "cmvae");
    assert_int_equal(json_array_size(json_object_get(c, "target_names")), 6);
    assert_int_equal(json_integer_value(json_object_get(c, "latent_dim")), 6);
    json_decref(c);
    /* one log line per epoch; the reconstruction error falls */
    snprintf(p, sizeof p, "%s/train_log.jsonl", dir);
    FILE *f = fopen(p, "r");
    char line[2048];
    int n = 0;
    double mse_first = 0, mse_last = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "epoch")), n);
        /* what the numbers were computed with: threads and OpenBLAS's kernel set */
        assert_true(json_integer_value(json_object_get(j, "threads")) >= 1);
        const char *core = json_string_value(json_object_get(j, "blas_core"));
        assert_true(core && *core);
        const char *forced = getenv("OPENBLAS_CORETYPE"); /* the child inherits ours */
        const int is_forced = forced && *forced;
        assert_true(json_is_boolean(json_object_get(j, "blas_core_forced")));
        assert_int_equal(json_is_true(json_object_get(j, "blas_core_forced")), is_forced);
        if (is_forced && strcasecmp(core, forced) != 0)
            fail_msg("blas_core %s, but OPENBLAS_CORETYPE=%s", core, forced);
        /* and whether the AVX-512 GEMM kernels ran (the child sees our CPU and environment) */
        assert_true(json_is_boolean(json_object_get(j, "gemm_small")));
        assert_int_equal(json_is_true(json_object_get(j, "gemm_small")),
                         cw_gemm_small_available());
        double mse = json_number_value(json_object_get(j, "mse"));
        if (n == 0) mse_first = mse;
        mse_last = mse;
        json_decref(j);
        n++;
    }
    fclose(f);
    assert_int_equal(n, 12);
    if (!(mse_last < 0.8 * mse_first)) fail_msg("mse %g -> %g did not fall", mse_first, mse_last);
}

static void test_resume_is_bit_identical(void **state) {
    (void)state;
    char a[512], b[512], pa[700], pb[700];
    cwt_path(a, sizeof a, "full");
    cwt_path(b, sizeof b, "interrupted");
    assert_int_equal(run_prog("train '%s' --out '%s' --epochs 5 --seed 9 --split random --quiet",
                              data, a),
                     0);
    assert_int_equal(run_prog("train '%s' --out '%s' --epochs 5 --seed 9 --split random --quiet "
                              "--stop-after 2",
                              data, b),
                     0);
    snprintf(pa, sizeof pa, "%s/checkpoint.ckpt", a);
    snprintf(pb, sizeof pb, "%s/checkpoint.ckpt", b);
    assert_int_not_equal(cwt_run(out, sizeof out, "cmp -s '%s' '%s'", pa, pb), 0);
    assert_int_equal(run_prog("train --resume '%s' --quiet%s", b, ""), 0);
    assert_int_equal(cwt_run(out, sizeof out, "cmp '%s' '%s'", pa, pb), 0);
    /* another seed ends elsewhere */
    char c[512], pc[700];
    cwt_path(c, sizeof c, "other_seed");
    assert_int_equal(run_prog("train '%s' --out '%s' --epochs 5 --seed 10 --split random --quiet",
                              data, c),
                     0);
    snprintf(pc, sizeof pc, "%s/checkpoint.ckpt", c);
    assert_int_not_equal(cwt_run(out, sizeof out, "cmp -s '%s' '%s'", pa, pc), 0);
}

/* Streaming X through a window of a few batches (io/xstore.h) must not change a single bit:
 * the batches, their order and the values are the same, only the reads differ. */
static void test_memory_cap_is_bit_identical(void **state) {
    (void)state;
    char a[512], b[512], pa[700], pb[700];
    cwt_path(a, sizeof a, "in_memory");
    cwt_path(b, sizeof b, "streamed");
    assert_int_equal(run_prog("train '%s' --out '%s' --epochs 3 --seed 4 --split random --quiet",
                              data, a),
                     0);
    /* X here is ~0.3 MB as CSR; 48K holds the row pointers and about one batch of rows */
    assert_int_equal(run_prog("train '%s' --out '%s' --epochs 3 --seed 4 --split random "
                              "--memory-cap 48K --stop-after 1",
                              data, b),
                     0);
    assert_non_null(strstr(out, "X streamed under --memory-cap"));
    assert_non_null(strstr(out, "peak RSS"));
    /* a resumed streamed run too (the option is not part of the run's config) */
    assert_int_equal(run_prog("train --resume '%s' --memory-cap 48K --quiet%s", b, ""), 0);
    snprintf(pa, sizeof pa, "%s/checkpoint.ckpt", a);
    snprintf(pb, sizeof pb, "%s/checkpoint.ckpt", b);
    assert_int_equal(cwt_run(out, sizeof out, "cmp '%s' '%s'", pa, pb), 0);
    /* the log records the streamed reads and the peak memory */
    snprintf(pb, sizeof pb, "%s/train_log.jsonl", b);
    FILE *f = fopen(pb, "r");
    char line[2048];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    assert_true(json_number_value(json_object_get(j, "x_read_seconds")) > 0);
    assert_true(json_number_value(json_object_get(j, "peak_rss_mb")) > 1);
    json_decref(j);
    /* evaluation: the same metrics from a streamed X (same run: the files name it) */
    const char *files[] = {"metrics.json", "metrics_per_perturbation.tsv"};
    assert_int_equal(run_prog("evaluate '%s' --quiet%s", b, ""), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(pa, sizeof pa, "%s/%s", b, files[i]);
        snprintf(pb, sizeof pb, "%s/mem_%s", b, files[i]);
        assert_int_equal(rename(pa, pb), 0);
    }
    assert_int_equal(run_prog("evaluate '%s' --quiet --memory-cap 48K%s", b, ""), 0);
    for (int i = 0; i < 2; i++) {
        snprintf(pa, sizeof pa, "%s/mem_%s", b, files[i]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[i]);
        if (cwt_run(out, sizeof out, "cmp '%s' '%s'", pa, pb) != 0) fail_msg("%s differs", files[i]);
    }
    /* predict draws the same controls and writes the same file */
    snprintf(pa, sizeof pa, "%s/config.json", b);
    json_t *cfg = json_load_file(pa, 0, NULL);
    assert_non_null(cfg);
    char req[256];
    snprintf(req, sizeof req, "%s", json_string_value(json_array_get(json_object_get(cfg, "target_names"), 0)));
    json_decref(cfg);
    char cmd[2048];
    snprintf(pa, sizeof pa, "%s/pred_mem.h5ad", b);
    snprintf(pb, sizeof pb, "%s/pred_cap.h5ad", b);
    snprintf(cmd, sizeof cmd, "predict '%s' --perturb %s --cells 40 --out '%s'", b, req, pa);
    assert_int_equal(run_prog("%s%s", cmd, ""), 0);
    snprintf(cmd, sizeof cmd, "predict '%s' --perturb %s --cells 40 --out '%s' --memory-cap 48K",
             b, req, pb);
    assert_int_equal(run_prog("%s%s", cmd, ""), 0);
    assert_int_equal(cwt_run(out, sizeof out, "cmp '%s' '%s'", pa, pb), 0);
    /* a cap below one row, and a malformed one */
    assert_int_equal(run_prog("evaluate '%s' --quiet --memory-cap 1K%s", b, ""), 2);
    assert_non_null(strstr(out, "--memory-cap"));
    assert_non_null(strstr(out, "expected at least"));
    assert_int_equal(run_prog("train '%s' --out '%s/x' --memory-cap lots", data, b), 2);
    assert_non_null(strstr(out, "--memory-cap: expected a size"));
}

static void test_nonfinite_loss_stops(void **state) {
    (void)state;
    char dir[512];
    cwt_path(dir, sizeof dir, "diverge");
    assert_int_equal(run_prog("train '%s' --out '%s' --epochs 20 --split random --quiet --lr 10 "
                              "--alpha 1e9",
                              data, dir),
                     2);
    assert_non_null(strstr(out, "epoch "));
    assert_non_null(strstr(out, "step "));
    assert_non_null(strstr(out, "batch "));
    assert_non_null(strstr(out, "not finite"));
}

static void test_bad_options(void **state) {
    (void)state;
    char dir[512];
    cwt_path(dir, sizeof dir, "bad");
    assert_int_equal(run_prog("train '%s' --out '%s' --model nope", data, dir), 2);
    assert_non_null(strstr(out, "cmvae"));
    assert_int_equal(run_prog("train '%s' --out '%s' --epochs zero", data, dir), 2);
    assert_non_null(strstr(out, "--epochs"));
    assert_int_equal(run_prog("train --resume '%s/none%s'", dir, ""), 2);
    assert_non_null(strstr(out, "config.json"));
    assert_int_equal(run_prog("train '%s' --epochs 1%s", data, ""), 2);
    assert_non_null(strstr(out, "--out"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_dir_and_learning),
        cmocka_unit_test(test_resume_is_bit_identical),
        cmocka_unit_test(test_memory_cap_is_bit_identical),
        cmocka_unit_test(test_nonfinite_loss_stops),
        cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests_name("train", tests, setup, cwt_teardown);
}
