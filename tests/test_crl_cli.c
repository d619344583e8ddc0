/* test_crl_cli.c: `causeway crl` end to end (issue #5): each algorithm runs from the command line
 * on generated data and prints mean/SE of its metrics (JSON with shd_mean, mcc_mean, runs); runs
 * are reproducible from the seed; the user-data path on a generated file recovers the true latents
 * (MCC against the file's own obsm['latents']) and writes the encoder, the latents and the DAG;
 * bad input is a clear error with exit 2 and no output file; `crl reproduce` prints verdicts. */
#include "test_util.h"

#include "eval/recovery.h"
#include "io/h5ad.h"

#include <jansson.h>
#include <string.h>

static char out[1 << 17];

static json_t *run_json(const char *args) {
    int rc = cwt_run(out, sizeof out, "%s crl %s --json --quiet", cwt_prog(), args);
    if (rc != 0) fail_msg("crl %s: exit %d\n%s", args, rc, out);
    json_error_t e;
    json_t *j = json_loads(out, 0, &e);
    if (!j) fail_msg("crl %s: not JSON (%s):\n%s", args, e.text, out);
    return j;
}

static double num(json_t *j, const char *key) {
    json_t *v = json_object_get(j, key);
    if (!v || !json_is_number(v)) fail_msg("missing number '%s'", key);
    return json_number_value(v);
}

static void lscale_oracle(void **state) {
    (void)state;
    json_t *j = run_json("lscale --latents 4 --dim 12 --samples 4000 --scores oracle --runs 3 --seed 5");
    assert_int_equal((int)num(j, "runs"), 3);
    assert_int_equal((int)num(j, "ok"), 3);
    /* Exact scores and hard interventions: the hard stage recovers the latents. */
    assert_true(num(j, "mcc_mean") > 0.98);
    assert_true(num(j, "shd_mean") <= 1.0);
    assert_true(json_is_object(json_object_get(j, "config")));
    assert_int_equal((int)json_integer_value(json_object_get(j, "seed")), 5);
    json_decref(j);
}

static void deterministic(void **state) {
    (void)state;
    const char *args = "lscale --latents 3 --dim 8 --samples 3000 --scores gaussian --runs 2 --seed 9";
    json_t *a = run_json(args), *b = run_json(args), *c = run_json("lscale --latents 3 --dim 8 "
                                                                  "--samples 3000 --scores gaussian --runs 2 --seed 10");
    const char *keys[] = {"shd_mean", "mcc_mean", "mcc_s_mean", "mix_norm_h_mean"};
    int differs = 0;
    for (int i = 0; i < 4; i++) {
        assert_true(num(a, keys[i]) == num(b, keys[i]));
        differs |= num(a, keys[i]) != num(c, keys[i]);
    }
    assert_true(differs); /* another seed gives other data */
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void other_algorithms(void **state) {
    (void)state;
    json_t *j = run_json("umni --latents 3 --dim 10 --samples 5000 --scores oracle --intervention hard --runs 2 --seed 2");
    assert_int_equal((int)num(j, "ok"), 2);
    assert_true(num(j, "mcc_mean") > 0.5);
    json_decref(j);
    j = run_json("fsample --latents 3 --dim 6 --samples 5000 --scores oracle --runs 2 --seed 2");
    assert_int_equal((int)num(j, "ok"), 2);
    assert_true(num(j, "shd_mean") >= 0);
    json_decref(j);
    j = run_json("gscale --transform glm --latents 3 --dim 8 --samples 300 --scores oracle --steps 3000 --runs 1 --seed 2");
    assert_int_equal((int)num(j, "ok"), 1);
    assert_true(num(j, "mcc_mean") > 0.3);
    json_decref(j);
}

static void user_data(void **state) {
    (void)state;
    char data[512], res[512], dag[512], tsv[600];
    cwt_path(data, sizeof data, "crl.h5ad");
    cwt_path(res, sizeof res, "crl_out.h5ad");
    cwt_path(dag, sizeof dag, "crl_dag");
    snprintf(tsv, sizeof tsv, "%s.tsv", dag);
    int rc = cwt_run(out, sizeof out, "%s crl generate --out '%s' --latents 3 --dim 10 --samples 20000 "
                     "--score-samples 0 --seed 4", cwt_prog(), data);
    assert_int_equal(rc, 0);
    rc = cwt_run(out, sizeof out, "%s crl lscale '%s' --env-key env --observational obs --out '%s' "
                 "--dag '%s'", cwt_prog(), data, res, dag);
    if (rc != 0) fail_msg("%s", out);
    assert_true(cwt_exists(res) && cwt_exists(tsv));
    /* The latents written for every cell match the true latents of the generated file. */
    cw_h5ad *h = NULL, *g = NULL;
    assert_int_equal(cw_h5ad_open(res, &h), CW_OK);
    assert_int_equal(cw_h5ad_open(data, &g), CW_OK);
    cw_dmat zh = {0}, zt = {0};
    assert_int_equal(cw_h5ad_read_obsm(h, "X_causeway_crl", &zh), CW_OK);
    assert_int_equal(cw_h5ad_read_obsm(g, "latents", &zt), CW_OK);
    assert_int_equal(zh.nrows, cw_h5ad_n_obs(g));
    assert_int_equal(zh.ncols, 3);
    double mcc = 0;
    int64_t match[3];
    assert_int_equal(cw_mcc(&mcc, match, zt.data, 3, zh.data, 3, zt.nrows), CW_OK);
    assert_true(mcc > 0.9);
    assert_true(cw_h5ad_exists(h, "/uns/causeway/crl/encoder"));
    assert_true(cw_h5ad_exists(h, "/uns/causeway/crl/dag"));
    assert_true(cw_h5ad_exists(h, "/uns/causeway/crl/seed"));
    cw_dmat_free(&zh);
    cw_dmat_free(&zt);
    cw_h5ad_close(h);
    cw_h5ad_close(g);
    /* Bad input: exit 2, a message naming the field, no output written. */
    char bad[512];
    cwt_path(bad, sizeof bad, "bad_out.h5ad");
    rc = cwt_run(out, sizeof out, "%s crl lscale '%s' --env-key nope --observational obs --out '%s'",
                 cwt_prog(), data, bad);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "nope"));
    assert_false(cwt_exists(bad));
    rc = cwt_run(out, sizeof out, "%s crl lscale '%s' --env-key env --observational ctrl --out '%s'",
                 cwt_prog(), data, bad);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "ctrl"));
    assert_false(cwt_exists(bad));
    rc = cwt_run(out, sizeof out, "%s crl lscale '%s' --env-key env --observational obs --out '%s' "
                 "--scores oracle", cwt_prog(), data, bad);
    assert_int_equal(rc, 2);
    assert_false(cwt_exists(bad));
    /* Without --out the result goes to DATA.crl.h5ad, the command line of issue #5. */
    char def[512];
    cwt_path(def, sizeof def, "crl.crl.h5ad");
    rc = cwt_run(out, sizeof out, "%s crl umni '%s' --env-key env --observational obs --quiet",
                 cwt_prog(), data);
    if (rc != 0) fail_msg("%s", out);
    assert_true(cwt_exists(def));
    rc = cwt_run(out, sizeof out, "%s crl lscale --latents 0", cwt_prog());
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "--latents"));
}

static void reproduce(void **state) {
    (void)state;
    int rc = cwt_run(out, sizeof out, "%s crl reproduce --only L4 --runs 2 --samples 5000 --quiet",
                     cwt_prog());
    if (rc != 0) fail_msg("%s", out);
    assert_non_null(strstr(out, "[L4]"));
    assert_non_null(strstr(out, "shd_h"));
    assert_true(strstr(out, "within") || strstr(out, "better") || strstr(out, "worse"));
    rc = cwt_run(out, sizeof out, "%s crl reproduce --only X9", cwt_prog());
    assert_int_equal(rc, 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lscale_oracle), cmocka_unit_test(deterministic),
        cmocka_unit_test(other_algorithms), cmocka_unit_test(user_data),
        cmocka_unit_test(reproduce),
    };
    return cmocka_run_group_tests_name("crl_cli", tests, NULL, cwt_teardown);
}
