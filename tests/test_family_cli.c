/* test_family_cli.c: the CMVAE family from the command line (issue #4): every model and
 * intervention encoder trains, evaluates, predicts (and exports its DAG where it has one) on a
 * small simulated dataset with its graph files; config.json records the model, the encoders and
 * the graph fingerprint; bad options and graph files are one-line errors that write nothing;
 * a changed graph file is refused at evaluation; `causeway ablate` writes its table. */
#include "test_util.h"

#include <jansson.h>
#include <string.h>

static char out[1 << 16];
static char data[512], gmt[512], rel[512], ppi[512], graph[2048];

static int run_prog(const char *fmt, const char *a, const char *b) {
    char args[4096];
    snprintf(args, sizeof args, fmt, a, b);
    return cwt_run(out, sizeof out, "%s %s", cwt_prog(), args);
}

static int setup(void **state) {
    (void)state;
    cwt_path(data, sizeof data, "fam.h5ad");
    cwt_path(gmt, sizeof gmt, "fam.gmt");
    cwt_path(rel, sizeof rel, "fam.relations.txt");
    cwt_path(ppi, sizeof ppi, "fam.ppi.txt");
    snprintf(graph, sizeof graph, "--graph-gmt '%s' --graph-relations '%s' --graph-ppi '%s'", gmt,
             rel, ppi);
    int rc = run_prog("simulate --out '%s' --n-controls 300 --cells-per-perturbation 80 "
                      "--n-genes 80 --n-targets 4 --n-combinations 2 --seed 3%s",
                      data, "");
    if (rc != 0) fprintf(stderr, "simulate failed:\n%s\n", out);
    return rc;
}

static json_t *load_json(const char *dir, const char *name) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    json_error_t e;
    json_t *j = json_load_file(p, 0, &e);
    if (!j) fail_msg("%s: %s", p, e.text);
    return j;
}

/* train 2 epochs, evaluate, predict, dag (or its refusal) */
static void one_model(const char *name, const char *flags, int has_dag) {
    char dir[512], args[4096];
    cwt_path(dir, sizeof dir, name);
    snprintf(args, sizeof args, "train '%s' --out '%s' --epochs 2 --batch-size 16 --split random "
             "--seed 1 --threads 1 --quiet %s %s", data, dir, graph, flags);
    int rc = cwt_run(out, sizeof out, "%s %s", cwt_prog(), args);
    if (rc != 0) fail_msg("%s: train exited %d:\n%s", name, rc, out);
    json_t *c = load_json(dir, "config.json");
    json_t *g = json_object_get(c, "graph");
    const char *model = json_string_value(json_object_get(c, "model"));
    assert_non_null(model);
    if (strcmp(model, "cmvae") != 0 || strstr(flags, "interv"))
        assert_non_null(json_string_value(json_object_get(g, strstr(flags, "interv") &&
                                                                  !strcmp(model, "cmvae")
                                                              ? "union_fingerprint"
                                                              : "fingerprint")));
    assert_true(json_integer_value(json_object_get(c, "parameters")) > 0);
    json_decref(c);
    rc = run_prog("evaluate '%s' --quiet%s", dir, "");
    if (rc != 0) fail_msg("%s: evaluate exited %d:\n%s", name, rc, out);
    json_t *m = load_json(dir, "metrics.json");
    json_t *s = json_object_get(m, "single");
    assert_true(json_is_number(json_object_get(s, "r2_deg")));
    json_decref(m);
    char pred[600];
    snprintf(pred, sizeof pred, "%s/pred.h5ad", dir);
    rc = cwt_run(out, sizeof out, "%s predict '%s' --perturb G%s --cells 5 --out '%s'", cwt_prog(),
                 dir, "", pred);
    /* the target names are simulator genes: take the first from the config */
    json_t *c2 = load_json(dir, "config.json");
    const char *t0 = json_string_value(json_array_get(json_object_get(c2, "target_names"), 0));
    const char *t1 = json_string_value(json_array_get(json_object_get(c2, "target_names"), 1));
    rc = cwt_run(out, sizeof out, "%s predict '%s' --perturb '%s' --perturb '%s,%s' --cells 5 "
                 "--out '%s'", cwt_prog(), dir, t0, t0, t1, pred);
    json_decref(c2);
    if (rc != 0) fail_msg("%s: predict exited %d:\n%s", name, rc, out);
    assert_true(cwt_exists(pred));
    char dag[600];
    snprintf(dag, sizeof dag, "%s/dag", dir);
    rc = run_prog("dag '%s' --out '%s'", dir, dag);
    if (has_dag) {
        if (rc != 0) fail_msg("%s: dag exited %d:\n%s", name, rc, out);
    } else {
        assert_int_equal(rc, 2);
        assert_non_null(strstr(out, "no causal layer"));
    }
}

static void test_every_model(void **state) {
    (void)state;
    one_model("m_cmvae", "--model cmvae", 1);
    one_model("m_grace", "--model grace", 1);
    one_model("m_gcn", "--model grace --gnn gcn", 1);
    one_model("m_gat3", "--model grace --gnn gat --gnn-layers 3 --gnn-widths 2,3 --gnn-heads 2", 1);
    one_model("m_vgae", "--model vgae", 0);
    one_model("m_multihot", "--model multihot", 1);
    one_model("m_sena", "--model sena --sena-min-genes 2", 1);
    one_model("m_tv", "--model grace --interv-encoder trivalue", 1);
    one_model("m_tv1", "--model grace --interv-encoder trivalue-1hop", 1);
    one_model("m_de", "--model grace --interv-encoder dropedge", 1);
    one_model("m_cmvae_tv", "--model cmvae --interv-encoder trivalue", 1);
    one_model("m_extra", "--model grace --extra-input-obsm X_truth_latent", 1);
    one_model("m_corrupt", "--model grace --graph-corrupt 0.5 --graph-levels gg+pg", 1);
}

/* bad options: one-line error, exit 2, no run directory */
static void bad(const char *flags, const char *expect) {
    char dir[512], args[8192];
    cwt_path(dir, sizeof dir, "bad_run");
    snprintf(args, sizeof args, "train '%s' --out '%s' --epochs 1 --split random %s", data, dir,
             flags);
    int rc = cwt_run(out, sizeof out, "%s %s", cwt_prog(), args);
    if (rc != 2 || !strstr(out, expect))
        fail_msg("train %s: exit %d, expected 2 and '%s' in:\n%s", flags, rc, expect, out);
    assert_false(cwt_exists(dir));
}

static void test_bad_options(void **state) {
    (void)state;
    bad("--model grace", "needs a context graph");
    bad("--model nope", "--model: expected cmvae, grace, vgae, multihot or sena");
    bad("--model grace --gnn sage2 --graph-ppi /dev/null", "--gnn: expected sage, gcn or gat");
    bad("--model grace --gnn-layers 9 --graph-ppi /dev/null", "--gnn-layers");
    bad("--model cmvae --interv-encoder trivalue", "needs --graph-ppi");
    bad("--model vgae --interv-encoder dropedge --graph-ppi /dev/null", "vgae takes the mlp");
    char flags[4096];
    snprintf(flags, sizeof flags, "--model grace --extra-input-obsm nope %s", graph);
    bad(flags, "nope");
    snprintf(flags, sizeof flags, "--model sena --sena-min-genes 100000 --sena-free-units 0 "
             "--graph-gmt '%s'", gmt);
    bad(flags, "sena: no pathway has 100000 or more");
    /* a malformed graph file names its line */
    char badppi[512];
    cwt_path(badppi, sizeof badppi, "bad.ppi.txt");
    FILE *f = fopen(badppi, "w");
    fputs("A B\nC\n", f);
    fclose(f);
    snprintf(flags, sizeof flags, "--model grace --graph-ppi '%s'", badppi);
    bad(flags, "bad.ppi.txt:2");
}

/* evaluate refuses a run whose graph files changed since training */
static void test_changed_graph_refused(void **state) {
    (void)state;
    char dir[512], ppi2[512], args[4096];
    cwt_path(dir, sizeof dir, "chg");
    cwt_path(ppi2, sizeof ppi2, "chg.ppi.txt");
    assert_int_equal(cwt_run(out, sizeof out, "cp '%s' '%s'", ppi, ppi2), 0);
    snprintf(args, sizeof args, "train '%s' --out '%s' --epochs 1 --split random --quiet "
             "--model grace --graph-ppi '%s'", data, dir, ppi2);
    assert_int_equal(cwt_run(out, sizeof out, "%s %s", cwt_prog(), args), 0);
    assert_int_equal(run_prog("evaluate '%s' --quiet%s", dir, ""), 0);
    /* keep only the first 20 pairs */
    assert_int_equal(cwt_run(out, sizeof out, "head -n 20 '%s' > '%s.cut' && mv '%s.cut' '%s'",
                             ppi, ppi2, ppi2, ppi2), 0);
    int rc = run_prog("evaluate '%s' --quiet%s", dir, "");
    if (rc == 0 || !strstr(out, "graph files or options changed since training"))
        fail_msg("evaluate after a graph change: exit %d:\n%s", rc, out);
}

static void test_ablate(void **state) {
    (void)state;
    char root[512], args[4096];
    cwt_path(root, sizeof root, "abl");
    snprintf(args, sizeof args, "ablate '%s' --out '%s' --epochs 1 --batch-size 16 --seeds 1,2 "
             "--variants cmvae,grace-sage,interv-dropedge --split random --threads 1 %s", data,
             root, graph);
    int rc = cwt_run(out, sizeof out, "%s %s", cwt_prog(), args);
    if (rc != 0) fail_msg("ablate exited %d:\n%s", rc, out);
    assert_non_null(strstr(out, "baseline: control"));
    assert_non_null(strstr(out, "interv-dropedge"));
    char tsv[600];
    snprintf(tsv, sizeof tsv, "%s/ablation.tsv", root);
    FILE *f = fopen(tsv, "r");
    assert_non_null(f);
    char line[1024];
    int rows = 0, two_seeds = 0;
    while (fgets(line, sizeof line, f)) {
        rows++;
        two_seeds += strstr(line, "\tsingle\tr2_deg\t") && line[strlen(line) - 2] == '2';
    }
    fclose(f);
    assert_true(rows > 10);
    assert_int_equal(two_seeds, 3); /* one single R2 row per variant, over both seeds */
    /* a second call reuses the finished runs */
    rc = cwt_run(out, sizeof out, "%s %s", cwt_prog(), args);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "(reused)"));
    assert_null(strstr(out, "(trained)"));
    snprintf(args, sizeof args, "ablate '%s' --out '%s' --variants nope %s", data, root, graph);
    assert_int_equal(cwt_run(out, sizeof out, "%s %s", cwt_prog(), args), 2);
    assert_non_null(strstr(out, "unknown variant 'nope'"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_model),
        cmocka_unit_test(test_bad_options),
        cmocka_unit_test(test_changed_graph_refused),
        cmocka_unit_test(test_ablate),
    };
    return cmocka_run_group_tests(tests, setup, cwt_teardown);
}
