/* test_cli.c: the causeway program end to end: --help everywhere, `info --json` on files
 * written by real anndata (committed fixtures: dense/CSR, categorical/string columns,
 * gzip/LZF), `simulate` + `info` agreement, and every bad input of issue #2 item 7: a one-line
 * error naming the file and field, exit code 2, no output left behind.
 */
#include "test_util.h"

#include "core/strings.h"
#include "io/h5ad.h"

#include <dirent.h>
#include <jansson.h>
#include <math.h>

static char out[65536];

static int run_prog(const char *args) { return cwt_run(out, sizeof out, "%s %s", cwt_prog(), args); }

/* Number of lines of out (a one-line error has exactly one). */
static int n_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void assert_one_line_error(const char *needle1, const char *needle2) {
    if (!strstr(out, needle1) || (needle2 && !strstr(out, needle2)) || n_lines(out) != 1)
        fail_msg("expected a one-line error mentioning '%s' and '%s', got:\n%s", needle1,
                 needle2 ? needle2 : "", out);
}


static void test_help(void **state) {
    (void)state;
    assert_int_equal(run_prog("--help"), 0);
    assert_non_null(strstr(out, "simulate"));
    assert_non_null(strstr(out, "info"));
    const char *cmds[] = {"simulate", "info", "bench", "split", "train", "evaluate", "predict",
                          "dag"};
    for (int i = 0; i < 8; i++) {
        char a[64];
        snprintf(a, sizeof a, "%s --help", cmds[i]);
        assert_int_equal(run_prog(a), 0);
        assert_non_null(strstr(out, "usage: causeway"));
    }
    assert_int_equal(run_prog("frobnicate"), 2);
    assert_non_null(strstr(out, "unknown command"));
    assert_int_equal(run_prog(""), 2);
}

static json_t *info_json(const char *path, const char *extra) {
    char a[1024];
    snprintf(a, sizeof a, "info --json %s '%s' 2>/dev/null", extra ? extra : "", path);
    int rc = cwt_run(out, sizeof out, "%s %s", cwt_prog(), a);
    if (rc != 0) fail_msg("info on %s exited %d:\n%s", path, rc, out);
    json_error_t err;
    json_t *j = json_loads(out, 0, &err);
    if (!j) fail_msg("info --json output is not JSON (%s):\n%s", err.text, out);
    return j;
}

/* info --json agrees with what the fixture script computed with anndata/pandas. */
static void test_info_on_anndata_fixtures(void **state) {
    (void)state;
    json_error_t err;
    json_t *exp = json_load_file("tests/fixtures/info_expected.json", 0, &err);
    assert_non_null(exp);
    const char *name;
    json_t *e;
    int n = 0;
    json_object_foreach(exp, name, e) {
        char path[512];
        cwt_fixture(path, sizeof path, name);
        json_t *got = info_json(path, NULL);
        const char *ikeys[] = {"n_cells", "n_genes", "n_controls", "n_targets",
                               "n_single_perturbations", "n_combination_perturbations",
                               "n_single_cells", "n_combination_cells"};
        for (int k = 0; k < 8; k++) {
            json_int_t want = json_integer_value(json_object_get(e, ikeys[k]));
            json_t *g = json_object_get(got, ikeys[k]);
            if (!json_is_integer(g) || json_integer_value(g) != want)
                fail_msg("%s: %s = %lld, want %lld", name, ikeys[k],
                         (long long)json_integer_value(g), (long long)want);
        }
        assert_string_equal(json_string_value(json_object_get(got, "perturbation_key")),
                            json_string_value(json_object_get(e, "perturbation_key")));
        json_t *cpp = json_object_get(got, "cells_per_perturbation");
        assert_int_equal(json_integer_value(json_object_get(cpp, "min")),
                         json_integer_value(json_object_get(e, "cells_per_perturbation_min")));
        assert_int_equal(json_integer_value(json_object_get(cpp, "max")),
                         json_integer_value(json_object_get(e, "cells_per_perturbation_max")));
        assert_true(fabs(json_real_value(json_object_get(cpp, "median")) -
                         json_real_value(json_object_get(e, "cells_per_perturbation_median"))) < 1e-12);
        json_decref(got);
        n++;
    }
    assert_int_equal(n, 3);
    json_decref(exp);
}

/* simulate writes what info reads back, with the counts the flags asked for. */
static void test_simulate_then_info(void **state) {
    (void)state;
    char path[512], a[1024];
    cwt_path(path, sizeof path, "sim.h5ad");
    snprintf(a, sizeof a,
             "simulate --out '%s' --n-controls 50 --cells-per-perturbation 20 --n-genes 60 "
             "--n-programs 4 --n-targets 6 --n-combinations 3 --seed 3 --quiet",
             path);
    if (run_prog(a) != 0) fail_msg("simulate failed:\n%s", out);
    json_t *j = info_json(path, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "n_cells")), 50 + 9 * 20);
    assert_int_equal(json_integer_value(json_object_get(j, "n_genes")), 60);
    assert_int_equal(json_integer_value(json_object_get(j, "n_controls")), 50);
    assert_int_equal(json_integer_value(json_object_get(j, "n_targets")), 6);
    assert_int_equal(json_integer_value(json_object_get(j, "n_single_perturbations")), 6);
    assert_int_equal(json_integer_value(json_object_get(j, "n_combination_perturbations")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "n_single_cells")), 120);
    assert_int_equal(json_integer_value(json_object_get(j, "n_combination_cells")), 60);
    assert_string_equal(json_string_value(json_object_get(j, "perturbation_key")), "guide_ids");
    assert_true(json_is_true(json_object_get(j, "has_deg_table")));
    assert_int_equal(json_integer_value(json_object_get(j, "deg_genes_per_group")), 20);
    json_decref(j);
    /* the human table too */
    snprintf(a, sizeof a, "info '%s'", path);
    assert_int_equal(run_prog(a), 0);
    assert_non_null(strstr(out, "combinations:       3 (60 cells)"));
    /* the graph files sit next to the h5ad */
    cwt_path(path, sizeof path, "sim.gmt");
    assert_true(cwt_exists(path));
    cwt_path(path, sizeof path, "sim.ppi.txt");
    assert_true(cwt_exists(path));
    cwt_path(path, sizeof path, "sim.relations.txt");
    assert_true(cwt_exists(path));
}

/* info --graph-*: the simulator's graph files give a graph with every edge type; a malformed
 * line is an error naming file:line; a level without its file is an error. */
static void test_info_graph(void **state) {
    (void)state;
    char data[512], gmt[512], rel[512], ppi[512], bad[512], a[4096];
    cwt_path(data, sizeof data, "g.h5ad");
    cwt_path(gmt, sizeof gmt, "g.gmt");
    cwt_path(rel, sizeof rel, "g.relations.txt");
    cwt_path(ppi, sizeof ppi, "g.ppi.txt");
    cwt_path(bad, sizeof bad, "bad.ppi.txt");
    snprintf(a, sizeof a,
             "simulate --out '%s' --n-controls 40 --cells-per-perturbation 10 --n-genes 60 "
             "--n-programs 3 --n-targets 4 --n-combinations 1 --quiet",
             data);
    assert_int_equal(run_prog(a), 0);
    snprintf(a, sizeof a, "info '%s' --json --graph-gmt '%s' --graph-relations '%s' --graph-ppi '%s'",
             data, gmt, rel, ppi);
    assert_int_equal(run_prog(a), 0);
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    json_t *g = json_object_get(j, "graph");
    assert_string_equal(json_string_value(json_object_get(g, "levels")), "gg+pg+pp");
    assert_int_equal(json_integer_value(json_object_get(g, "gene_nodes")), 60);
    assert_true(json_integer_value(json_object_get(g, "gg_edges")) > 0);
    assert_true(json_integer_value(json_object_get(g, "pg_edges")) > 0);
    assert_true(json_integer_value(json_object_get(g, "pp_edges")) > 0);
    assert_int_equal(json_integer_value(json_object_get(g, "edges")),
                     json_integer_value(json_object_get(g, "gg_edges")) +
                         json_integer_value(json_object_get(g, "pg_edges")) +
                         json_integer_value(json_object_get(g, "pp_edges")));
    json_int_t edges = json_integer_value(json_object_get(g, "edges"));
    json_decref(j);
    /* half corrupted: same edge count, half of them random */
    snprintf(a, sizeof a,
             "info '%s' --json --graph-gmt '%s' --graph-relations '%s' --graph-ppi '%s' "
             "--graph-corrupt 0.5 --graph-seed 3",
             data, gmt, rel, ppi);
    assert_int_equal(run_prog(a), 0);
    j = json_loads(out, 0, NULL);
    g = json_object_get(j, "graph");
    assert_int_equal(json_integer_value(json_object_get(g, "edges")), edges);
    assert_true(llabs((long long)json_integer_value(json_object_get(g, "random_edges")) - edges / 2) <= 1);
    json_decref(j);
    FILE *f = fopen(bad, "w");
    fputs("G00001 G00002\nG00003\n", f);
    fclose(f);
    snprintf(a, sizeof a, "info '%s' --graph-ppi '%s'", data, bad);
    assert_int_equal(run_prog(a), 2);
    char where[600];
    snprintf(where, sizeof where, "%s:2", bad);
    assert_one_line_error(where, NULL);
    snprintf(a, sizeof a, "info '%s' --graph-levels gg+pg+pp --graph-ppi '%s'", data, ppi);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error("--graph-gmt", NULL);
}

/* Same seed and options give byte-identical files (no HDF5 timestamps); another seed differs. */
static void test_simulate_is_reproducible(void **state) {
    (void)state;
    char a[1024], p1[512], p2[512], p3[512];
    cwt_path(p1, sizeof p1, "r1.h5ad");
    cwt_path(p2, sizeof p2, "r2.h5ad");
    cwt_path(p3, sizeof p3, "r3.h5ad");
    const char *flags = "--n-controls 40 --cells-per-perturbation 15 --n-genes 50 --n-programs 3 "
                        "--n-targets 4 --n-combinations 2 --quiet";
    snprintf(a, sizeof a, "simulate --out '%s' --seed 11 %s", p1, flags);
    assert_int_equal(run_prog(a), 0);
    sleep(1); /* a timestamp in the file would now differ */
    snprintf(a, sizeof a, "simulate --out '%s' --seed 11 %s", p2, flags);
    assert_int_equal(run_prog(a), 0);
    snprintf(a, sizeof a, "simulate --out '%s' --seed 12 %s", p3, flags);
    assert_int_equal(run_prog(a), 0);
    assert_int_equal(cwt_run(out, sizeof out, "cmp '%s' '%s'", p1, p2), 0);
    assert_int_not_equal(cwt_run(out, sizeof out, "cmp '%s' '%s'", p1, p3), 0);
    char g1[512], g2[512];
    cwt_path(g1, sizeof g1, "r1.ppi.txt");
    cwt_path(g2, sizeof g2, "r2.ppi.txt");
    assert_int_equal(cwt_run(out, sizeof out, "cmp '%s' '%s'", g1, g2), 0);
}

/* split: make and save, check the saved file, reject it against other data. */
static void test_split_command(void **state) {
    (void)state;
    char data[512], other[512], js[512], a[2048];
    cwt_path(data, sizeof data, "split.h5ad");
    cwt_path(other, sizeof other, "split_other.h5ad");
    cwt_path(js, sizeof js, "split.json");
    const char *flags = "--n-controls 30 --cells-per-perturbation 40 --n-genes 40 --n-programs 3 "
                        "--n-targets 4 --n-combinations 2 --quiet --no-graph";
    snprintf(a, sizeof a, "simulate --out '%s' %s --seed 1", data, flags);
    assert_int_equal(run_prog(a), 0);
    snprintf(a, sizeof a, "simulate --out '%s' %s --seed 1 --n-controls 31", other, flags);
    assert_int_equal(run_prog(a), 0);
    snprintf(a, sizeof a,
             "split '%s' --kind reference --test-cells 16 --val-cells 8 --batch-size 8 --out '%s'",
             data, js);
    if (run_prog(a) != 0) fail_msg("split failed:\n%s", out);
    /* 4 targets x 40 cells: each held out with 16 test and 8 val; doubles test-only */
    assert_non_null(strstr(out, "train 64 cells in 4 perturbations, val 32 in 4, test 64 single"));
    assert_non_null(strstr(out, "+ 80 combination cells in 2 combinations, 30 controls"));
    assert_true(cwt_exists(js));
    snprintf(a, sizeof a, "split '%s' --check '%s'", data, js);
    assert_int_equal(run_prog(a), 0);
    assert_non_null(strstr(out, "train 64 cells"));
    snprintf(a, sizeof a, "split '%s' --check '%s'", other, js);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error(js, "cells");
    snprintf(a, sizeof a, "split '%s' --kind sideways --out '%s'", data, js);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error("--kind", "sideways");
    snprintf(a, sizeof a, "split '%s' --out '%s'", data, js); /* 96 + 64 + 1 > 40 cells */
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error(data, "--test-cells");
}

/* Writes a small h5ad with the C writer; `bad` selects the defect. */
enum { BAD_NONE, BAD_NAN, BAD_INF, BAD_DUP_GENES, BAD_UNUSED_CATEGORY, BAD_NO_KEY };

static void write_small(const char *path, int bad) {
    const int64_t n = 6, g = 4;
    float x[24];
    for (int i = 0; i < 24; i++) x[i] = (float)(i % 5);
    if (bad == BAD_NAN) x[13] = NAN;
    if (bad == BAD_INF) x[7] = INFINITY;
    cw_h5ad_writer *w = NULL;
    assert_int_equal(cw_h5ad_writer_open(path, 0, &w), CW_OK);
    assert_int_equal(cw_h5ad_write_x_dense(w, x, n, g), CW_OK);
    cw_strings obs_names, var_names, labels;
    assert_int_equal(cw_strings_alloc(&obs_names, 0), CW_OK);
    assert_int_equal(cw_strings_alloc(&var_names, 0), CW_OK);
    assert_int_equal(cw_strings_alloc(&labels, 0), CW_OK);
    const char *lab[] = {"", "", "A", "A", "B", "A,B"};
    for (int i = 0; i < n; i++) {
        char s[32];
        snprintf(s, sizeof s, "cell%d", i);
        assert_int_equal(cw_strings_push(&obs_names, s), CW_OK);
        assert_int_equal(cw_strings_push(&labels, lab[i]), CW_OK);
    }
    const char *genes[] = {"G1", "G2", "G3", "G4"};
    for (int i = 0; i < g; i++)
        assert_int_equal(cw_strings_push(&var_names, bad == BAD_DUP_GENES && i == 3 ? "G2" : genes[i]),
                         CW_OK);
    cw_column col;
    assert_int_equal(cw_column_categorical(&col, bad == BAD_NO_KEY ? "my_labels" : "guide_ids", &labels), CW_OK);
    if (bad == BAD_UNUSED_CATEGORY) /* a category no cell carries, as after subsetting */
        assert_int_equal(cw_strings_push(&col.categories, "ZZZ"), CW_OK);
    assert_int_equal(cw_h5ad_write_dataframe(w, "obs", &obs_names, &col, 1), CW_OK);
    assert_int_equal(cw_h5ad_write_dataframe(w, "var", &var_names, NULL, 0), CW_OK);
    assert_int_equal(cw_h5ad_writer_commit(w), CW_OK);
    cw_column_free(&col);
    cw_strings_free(&obs_names);
    cw_strings_free(&var_names);
    cw_strings_free(&labels);
}

static void test_good_small_file(void **state) {
    (void)state;
    char path[512];
    cwt_path(path, sizeof path, "good.h5ad");
    write_small(path, BAD_NONE);
    json_t *j = info_json(path, NULL);
    assert_int_equal(json_integer_value(json_object_get(j, "n_controls")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "n_targets")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "n_combination_cells")), 1);
    json_decref(j);
}

static void test_bad_missing_file(void **state) {
    (void)state;
    assert_int_equal(run_prog("info /nonexistent/none.h5ad"), 2);
    assert_one_line_error("/nonexistent/none.h5ad", NULL);
}

static void test_bad_not_hdf5(void **state) {
    (void)state;
    char path[512], a[600];
    cwt_path(path, sizeof path, "text.h5ad");
    FILE *f = fopen(path, "w");
    fputs("cell,gene\n1,2\n", f);
    fclose(f);
    snprintf(a, sizeof a, "info '%s'", path);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error(path, "HDF5");
}

static void test_bad_truncated(void **state) {
    (void)state;
    char src[512], path[512];
    cwt_fixture(src, sizeof src, "info_csr_lzf.h5ad");
    cwt_path(path, sizeof path, "truncated.h5ad");
    assert_int_equal(cwt_run(out, sizeof out, "head -c 20000 '%s' > '%s'", src, path), 0);
    char a[600];
    snprintf(a, sizeof a, "info '%s'", path);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error(path, NULL);
}

static void test_bad_missing_column(void **state) {
    (void)state;
    char a[600];
    snprintf(a, sizeof a, "info tests/fixtures/info_dense_categorical.h5ad --perturbation-key nope");
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error("info_dense_categorical.h5ad", "nope");
    /* no default key present: the message says which were tried */
    char path[512];
    cwt_path(path, sizeof path, "nokey.h5ad");
    write_small(path, BAD_NO_KEY);
    snprintf(a, sizeof a, "info '%s'", path);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error(path, "guide_ids");
    /* naming the column works */
    snprintf(a, sizeof a, "info '%s' --perturbation-key my_labels", path);
    assert_int_equal(run_prog(a), 0);
}

static void test_bad_unknown_control(void **state) {
    (void)state;
    assert_int_equal(run_prog("info tests/fixtures/info_dense_categorical.h5ad --control foo"), 2);
    assert_one_line_error("info_dense_categorical.h5ad", "foo");
}

static void test_bad_nonfinite(void **state) {
    (void)state;
    char path[512], a[600];
    cwt_path(path, sizeof path, "nan.h5ad");
    write_small(path, BAD_NAN);
    snprintf(a, sizeof a, "info '%s'", path);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error(path, "/X");
    cwt_path(path, sizeof path, "inf.h5ad");
    write_small(path, BAD_INF);
    snprintf(a, sizeof a, "info '%s'", path);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error(path, "/X");
}

static void test_bad_duplicate_genes(void **state) {
    (void)state;
    char path[512], a[600];
    cwt_path(path, sizeof path, "dup.h5ad");
    write_small(path, BAD_DUP_GENES);
    snprintf(a, sizeof a, "info '%s'", path);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error(path, "G2");
}

static void test_bad_zero_cell_perturbation(void **state) {
    (void)state;
    char path[512], a[600];
    cwt_path(path, sizeof path, "unused.h5ad");
    write_small(path, BAD_UNUSED_CATEGORY);
    snprintf(a, sizeof a, "info '%s'", path);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error(path, "ZZZ");
}

static void test_bad_unwritable_output(void **state) {
    (void)state;
    char dir[512], blocker[600], a[1400];
    cwt_path(dir, sizeof dir, "outdir");
    assert_int_equal(cwt_run(out, sizeof out, "mkdir -p '%s'", dir), 0);
    /* a parent that is a regular file cannot hold an output, even for root */
    snprintf(blocker, sizeof blocker, "%s/plainfile", dir);
    FILE *f = fopen(blocker, "w");
    fclose(f);
    snprintf(a, sizeof a, "simulate --out '%s/x.h5ad' --n-genes 30 --quiet", blocker);
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error("x.h5ad", NULL);
    snprintf(a, sizeof a, "simulate --out /nonexistent-dir/x.h5ad --quiet");
    assert_int_equal(run_prog(a), 2);
    assert_one_line_error("/nonexistent-dir", NULL);
    assert_int_equal(cwt_dir_entries(dir), 1); /* only the blocker: no temporary files */
}

static void test_bad_flags(void **state) {
    (void)state;
    assert_int_equal(run_prog("simulate --out /tmp/x.h5ad --n-genes abc"), 2);
    assert_one_line_error("--n-genes", "abc");
    assert_int_equal(run_prog("simulate --out /tmp/x.h5ad --mechanism cubic"), 2);
    assert_one_line_error("--mechanism", "cubic");
    assert_int_equal(run_prog("simulate --out /tmp/x.h5ad --n-targets 4 --n-combinations 7"), 2);
    assert_one_line_error("--n-combinations", NULL);
    assert_false(cwt_exists("/tmp/x.h5ad"));
    assert_int_equal(run_prog("simulate"), 2);
    assert_one_line_error("--out", NULL);
}


int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help),
        cmocka_unit_test(test_info_on_anndata_fixtures),
        cmocka_unit_test(test_simulate_then_info),
        cmocka_unit_test(test_simulate_is_reproducible),
        cmocka_unit_test(test_split_command),
        cmocka_unit_test(test_info_graph),
        cmocka_unit_test(test_good_small_file),
        cmocka_unit_test(test_bad_missing_file),
        cmocka_unit_test(test_bad_not_hdf5),
        cmocka_unit_test(test_bad_truncated),
        cmocka_unit_test(test_bad_missing_column),
        cmocka_unit_test(test_bad_unknown_control),
        cmocka_unit_test(test_bad_nonfinite),
        cmocka_unit_test(test_bad_duplicate_genes),
        cmocka_unit_test(test_bad_zero_cell_perturbation),
        cmocka_unit_test(test_bad_unwritable_output),
        cmocka_unit_test(test_bad_flags),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, cwt_teardown);
}
