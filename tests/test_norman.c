/* test_norman.c: a short CMVAE run end to end on real cells: the Norman 2019 subset in
 * ../shared/data (18 singles, 15 doubles, 500 genes, no DEG table). Trains on singles only
 * (random split), evaluates held-out single cells and all doubles; five doubles have both
 * singles in training, so the additive baseline applies to them. Skipped when the file is
 * absent (user machines do not have ../shared/data). */
#include "test_util.h"

#include <jansson.h>
#include <math.h>

static char out[65536];

static void test_norman_end_to_end(void **state) {
    (void)state;
    char data[512], run[512], p[700];
    if (!cwt_shared_data(data, sizeof data, "perturb/perturbench_devel/norman19_gracestyle.h5ad")) {
        skip();
        return;
    }
    cwt_path(run, sizeof run, "norman");
    if (cwt_run(out, sizeof out,
                "%s train '%s' --out '%s' --epochs 3 --split random --seed 1 --quiet && "
                "%s evaluate '%s' --quiet",
                cwt_prog(), data, run, cwt_prog(), run) != 0)
        fail_msg("%s", out);
    snprintf(p, sizeof p, "%s/metrics.json", run);
    json_t *j = json_load_file(p, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "deg_source")), "computed");
    json_t *s = json_object_get(j, "single"), *c = json_object_get(j, "combination");
    assert_int_equal(json_integer_value(json_object_get(s, "n_perturbations")), 18);
    assert_int_equal(json_integer_value(json_object_get(c, "n_perturbations")), 15);
    json_t *add = json_object_get(json_object_get(c, "baselines"), "additive");
    assert_int_equal(json_integer_value(json_object_get(add, "n_perturbations")), 5);
    double r2 = json_number_value(json_object_get(s, "r2_deg"));
    assert_true(isfinite(r2) && r2 >= 0 && r2 <= 1);
    assert_null(json_object_get(j, "latent_recovery")); /* real data: no truth */
    json_decref(j);
}


int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_norman_end_to_end)};
    return cmocka_run_group_tests_name("norman", tests, NULL, cwt_teardown);
}
