/* test_evaluate.c: `causeway evaluate` end to end on a small simulated dataset trained with a
 * random split: metrics.json keys and ranges, one TSV row per (perturbation, method),
 * reproducibility, --deg-match exact, computed DEGs for a file without a DEG table (needs
 * python3 with h5py to make that file; skipped otherwise), the model beating the control
 * baseline on singles, and bad options. */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

static char out[65536];
static char data[512], run[512];

static int setup(void **state) {
    (void)state;
    cwt_path(data, sizeof data, "eval.h5ad");
    cwt_path(run, sizeof run, "run");
    int rc = cwt_run(out, sizeof out,
                     "%s simulate --out '%s' --n-controls 500 --cells-per-perturbation 200 "
                     "--n-genes 100 --n-programs 4 --n-targets 6 --n-combinations 2 --seed 2 "
                     "--quiet --no-graph",
                     cwt_prog(), data);
    if (rc != 0) return -1;
    rc = cwt_run(out, sizeof out, "%s train '%s' --out '%s' --epochs 30 --split random --seed 3 "
                 "--quiet", cwt_prog(), data, run);
    if (rc != 0) fprintf(stderr, "%s", out);
    return rc == 0 ? 0 : -1;
}


static int evaluate(const char *extra) {
    return cwt_run(out, sizeof out, "%s evaluate '%s' %s", cwt_prog(), run, extra);
}

static json_t *load_metrics(void) {
    char p[700];
    snprintf(p, sizeof p, "%s/metrics.json", run);
    json_t *j = json_load_file(p, 0, NULL);
    assert_non_null(j);
    return j;
}

static const char *const keys[] = {"r2_deg", "rmse_deg", "mmd_deg", "pearson_delta_deg",
                                   "r2_standard_deg", "r2_all", "rmse_all", "mmd_all",
                                   "pearson_delta_all", "r2_standard_all"};

/* every key present, finite and in range; returns n_perturbations */
static int64_t check_block(json_t *o, const char *what) {
    if (!json_is_object(o)) fail_msg("%s: not an object", what);
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(o, keys[i]);
        if (!json_is_number(v)) fail_msg("%s.%s: missing or not a number", what, keys[i]);
        double x = json_number_value(v);
        if (!isfinite(x)) fail_msg("%s.%s: not finite", what, keys[i]);
        if (!strncmp(keys[i], "r2_deg", 6) || !strcmp(keys[i], "r2_all"))
            if (x < 0 || x > 1) fail_msg("%s.%s = %g not in [0, 1]", what, keys[i], x);
        if (!strncmp(keys[i], "r2_standard", 11) && x > 1)
            fail_msg("%s.%s = %g > 1", what, keys[i], x);
        if ((!strncmp(keys[i], "rmse", 4) || !strncmp(keys[i], "mmd", 3)) && x < -1e-9)
            fail_msg("%s.%s = %g < 0", what, keys[i], x);
        if (!strncmp(keys[i], "pearson", 7) && (x < -1 - 1e-9 || x > 1 + 1e-9))
            fail_msg("%s.%s = %g not in [-1, 1]", what, keys[i], x);
    }
    json_t *n = json_object_get(o, "n_perturbations");
    if (!json_is_integer(n)) fail_msg("%s.n_perturbations missing", what);
    return json_integer_value(n);
}

static int64_t count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int64_t n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

static void test_metrics_and_rows(void **state) {
    (void)state;
    assert_int_equal(evaluate(""), 0);
    assert_non_null(strstr(out, "R2(DEG)"));
    assert_non_null(strstr(out, "control baseline"));
    json_t *j = load_metrics();
    assert_string_equal(json_string_value(json_object_get(j, "seed")), "3");
    assert_string_equal(json_string_value(json_object_get(j, "deg_source")), "file");
    assert_string_equal(json_string_value(json_object_get(j, "deg_match")), "reference");
    json_t *s = json_object_get(j, "single"), *c = json_object_get(j, "combination");
    /* random split: every single has test cells; both combinations are test only */
    assert_int_equal(check_block(s, "single"), 6);
    assert_int_equal(check_block(c, "combination"), 2);
    json_t *sb = json_object_get(s, "baselines"), *cb = json_object_get(c, "baselines");
    assert_int_equal(check_block(json_object_get(sb, "control_mean"), "single control"), 6);
    assert_null(json_object_get(sb, "additive"));
    assert_int_equal(check_block(json_object_get(cb, "control_mean"), "combo control"), 2);
    json_t *add = json_object_get(cb, "additive");
    int64_t n_add = check_block(add, "additive");
    assert_int_equal(n_add, 2); /* both singles of each combination have training cells */
    assert_int_equal(check_block(json_object_get(add, "model_same_subset"), "model subset"), 2);
    /* over the same (whole) subset the model means equal the combination means */
    assert_true(json_number_value(json_object_get(json_object_get(add, "model_same_subset"),
                                                  "r2_deg")) ==
                json_number_value(json_object_get(c, "r2_deg")));
    json_decref(j);
    char p[700];
    snprintf(p, sizeof p, "%s/metrics_per_perturbation.tsv", run);
    /* header + (6 singles + 2 combinations) x (model, control) + 2 additive */
    assert_int_equal(count_lines(p), 1 + (6 + 2) * 2 + n_add);
}

static void test_deterministic(void **state) {
    (void)state;
    char a[700], b[700], t[700];
    snprintf(a, sizeof a, "%s/metrics.json", run);
    cwt_path(b, sizeof b, "metrics_first.json");
    cwt_path(t, sizeof t, "tsv_first.tsv");
    assert_int_equal(evaluate("--quiet"), 0);
    assert_int_equal(cwt_run(out, sizeof out, "cp '%s' '%s' && cp '%s/metrics_per_perturbation.tsv' "
                             "'%s'", a, b, run, t), 0);
    /* same options again (same thread count: OpenBLAS GEMMs in the model's forward may round
     * differently with another thread count) */
    assert_int_equal(evaluate("--quiet"), 0);
    assert_int_equal(cwt_run(out, sizeof out, "cmp '%s' '%s'", a, b), 0);
    assert_int_equal(cwt_run(out, sizeof out, "cmp '%s/metrics_per_perturbation.tsv' '%s'", run, t), 0);
    /* another noise seed gives other model numbers and records the seed */
    assert_int_equal(evaluate("--quiet --seed 11"), 0);
    assert_int_not_equal(cwt_run(out, sizeof out, "cmp -s '%s' '%s'", a, b), 0);
    json_t *j = load_metrics();
    assert_string_equal(json_string_value(json_object_get(j, "seed")), "11");
    json_decref(j);
}

static void test_exact_match(void **state) {
    (void)state;
    assert_int_equal(evaluate("--quiet --deg-match exact"), 0);
    json_t *j = load_metrics();
    assert_string_equal(json_string_value(json_object_get(j, "deg_match")), "exact");
    assert_int_equal(check_block(json_object_get(j, "single"), "single"), 6);
    assert_int_equal(check_block(json_object_get(j, "combination"), "combination"), 2);
    json_decref(j);
}

static void test_computed_degs(void **state) {
    (void)state;
    if (cwt_run(out, sizeof out, "/usr/bin/python3 -c 'import h5py'") != 0) {
        skip();
        return;
    }
    char nodeg[512];
    cwt_path(nodeg, sizeof nodeg, "nodeg.h5ad");
    assert_int_equal(cwt_run(out, sizeof out,
                             "cp '%s' '%s' && /usr/bin/python3 -c \"import h5py, sys\n"
                             "f = h5py.File(sys.argv[1], 'r+'); del f['uns/rank_genes_groups']; "
                             "f.close()\" '%s'",
                             data, nodeg, nodeg),
                     0);
    char args[700];
    snprintf(args, sizeof args, "--quiet --data '%s' --deg-top 15", nodeg);
    assert_int_equal(evaluate(args), 0);
    json_t *j = load_metrics();
    assert_string_equal(json_string_value(json_object_get(j, "deg_source")), "computed");
    assert_int_equal(check_block(json_object_get(j, "single"), "single"), 6);
    assert_int_equal(check_block(json_object_get(j, "combination"), "combination"), 2);
    /* the test-only combinations have no training cells: DEGs from all their cells, recorded */
    assert_int_equal(json_array_size(json_object_get(j, "deg_fallbacks")), 2);
    json_decref(j);
    char p[700];
    snprintf(p, sizeof p, "%s/metrics_per_perturbation.tsv", run);
    assert_int_equal(cwt_run(out, sizeof out, "grep -c 'computed_all' '%s'", p), 0);
    assert_int_equal(atoi(out), 2 * 3);
    assert_int_equal(cwt_run(out, sizeof out, "cut -f5 '%s' | sort -u | tr '\\n' ' '", p), 0);
    assert_string_equal(out, "15 n_deg ");
}

static void test_model_beats_control(void **state) {
    (void)state;
    assert_int_equal(evaluate("--quiet"), 0);
    json_t *j = load_metrics();
    json_t *s = json_object_get(j, "single");
    double model = json_number_value(json_object_get(s, "r2_deg"));
    double ctrl = json_number_value(json_object_get(
        json_object_get(json_object_get(s, "baselines"), "control_mean"), "r2_deg"));
    /* simulated data carry the truth: latent recovery is reported */
    json_t *lr = json_object_get(j, "latent_recovery");
    assert_true(json_is_object(lr));
    double mcc = json_number_value(json_object_get(lr, "mcc"));
    assert_true(mcc > 0.3 && mcc <= 1.0);
    assert_true(json_integer_value(json_object_get(lr, "shd")) >= 0);
    assert_true(json_integer_value(json_object_get(lr, "shd_empty_graph")) >= 0);
    json_decref(j);
    if (!(model > ctrl)) fail_msg("singles R2(DEG): model %g <= control baseline %g", model, ctrl);
}

static void test_bad_options(void **state) {
    (void)state;
    assert_int_equal(evaluate("--deg-match nope"), 2);
    assert_non_null(strstr(out, "--deg-match"));
    assert_int_equal(evaluate("--deg-top 0"), 2);
    assert_int_equal(cwt_run(out, sizeof out, "%s evaluate '%s/none'", cwt_prog(), run), 2);
    assert_non_null(strstr(out, "config.json"));
    assert_int_equal(cwt_run(out, sizeof out, "%s evaluate", cwt_prog()), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_and_rows),   cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_exact_match),        cmocka_unit_test(test_computed_degs),
        cmocka_unit_test(test_model_beats_control), cmocka_unit_test(test_bad_options),
    };
    return cmocka_run_group_tests_name("evaluate", tests, setup, cwt_teardown);
}
