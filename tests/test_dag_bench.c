/* test_dag_bench.c: `causeway dag` and `causeway bench train`. The command sources are compiled
 * into this test (the library archive has no src/cli), so cmd_dag / cmd_bench_train are called
 * in-process; when the built program knows `dag`, it is also run end to end.
 *   - a tiny cmvae checkpoint with hand-set G entries (known edges above/below the threshold,
 *     lower-triangle entries that must be ignored) and c1/c2 weights that force each target's
 *     argmax program: dag.tsv rows, assignment.tsv programs and shifts, dag.dot edges/labels;
 *   - --threshold and --out;
 *   - bad inputs (missing run dir, missing checkpoint, corrupted checkpoint, unknown model,
 *     config without a key): exit 2 and nothing written;
 *   - bench train --json at G 50, Z 5, B 8, 5 steps: a JSON object with positive cells_per_s;
 *     unknown --model: exit 2.
 */
#include "test_util.h"

#include "../src/cli/cli.c"
#include "../src/cli/cmd_bench_train.c"
#include "../src/cli/cmd_dag.c"

#include <dirent.h>
#include <fcntl.h>

enum { TG = 6, TZ = 4, TC = 3, TH = 8, TB = 2 };
static const char *tnames[TC] = {"KLF1", "CEBPA", "SPI1"};
static const int64_t forced[TC] = {2, 0, 2}; /* program of each target */

static const char *good_config =
    "{\"genes\": 6, \"latent_dim\": 4, \"targets\": 3, \"hidden\": 8, \"batch_size\": 2, "
    "\"lambda\": 0.0001, \"lr\": 0.001, \"seed\": \"7\", "
    "\"target_names\": [\"KLF1\", \"CEBPA\", \"SPI1\"]}";


/* Writes DIR/checkpoint.ckpt (DIR created) of a tiny cmvae with known G and c-MLP. */
static void make_run(const char *dir, const char *model, const char *config) {
    mkdir(dir, 0777);
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, TG, TZ, TC);
    cfg.hidden = TH;
    cfg.batch = TB;
    cw_rng rng;
    cw_rng_seed(&rng, 3);
    cw_cmvae m;
    assert_int_equal(cw_cmvae_init(&m, &cfg, &rng), CW_OK);
    real *g = cw_cmvae_param(&m, CW_CMVAE_G);
    for (int i = 0; i < TZ * TZ; i++) g[i] = 0;
    g[0 * TZ + 1] = 0.5f;    /* kept */
    g[1 * TZ + 3] = -0.02f;  /* kept, negative */
    g[0 * TZ + 2] = 0.004f;  /* below 0.005 */
    g[2 * TZ + 3] = -0.001f; /* below */
    g[1 * TZ + 0] = 0.9f;    /* lower triangle: ignored */
    g[3 * TZ + 3] = 0.7f;    /* diagonal: ignored */
    real *w1 = cw_cmvae_param(&m, CW_CMVAE_C1_W), *b1 = cw_cmvae_param(&m, CW_CMVAE_C1_B);
    real *w2 = cw_cmvae_param(&m, CW_CMVAE_C2_W), *b2 = cw_cmvae_param(&m, CW_CMVAE_C2_B);
    real *shift = cw_cmvae_param(&m, CW_CMVAE_C_SHIFT);
    for (int i = 0; i < TH * TC; i++) w1[i] = 0;
    for (int i = 0; i < TH; i++) b1[i] = 0;
    for (int i = 0; i < TZ * TH; i++) w2[i] = 0;
    for (int j = 0; j < TZ; j++) b2[j] = 0;
    for (int k = 0; k < TC; k++) {
        w1[k * TC + k] = 1;               /* hc = e_k */
        w2[forced[k] * TH + k] = 1;       /* logit of the forced program = 1, others 0 */
        shift[k] = 1.5f + (float)k;
    }
    cw_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    meta.model = (char *)model;
    meta.config_json = (char *)config;
    meta.seed = 7;
    meta.epoch = 1;
    meta.step = 10;
    cw_rng_seed(&meta.rng, 7);
    char path[600];
    snprintf(path, sizeof path, "%s/checkpoint.ckpt", dir);
    assert_int_equal(cw_checkpoint_save(path, &m.table, &meta), CW_OK);
    cw_cmvae_free(&m);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = fread(s, 1, (size_t)n, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

static int run_dag(const char *a1, const char *a2, const char *a3, const char *a4,
                   const char *a5) {
    char *args[7] = {"dag", (char *)a1, (char *)a2, (char *)a3, (char *)a4, (char *)a5, NULL};
    int argc = 1;
    while (argc < 6 && args[argc]) argc++;
    fflush(stdout);
    return cmd_dag(argc, args);
}

/* dag.tsv of dir: exactly the expected edges (source, target, weight). */
static void check_dag_tsv(const char *dir, int n, const int *src, const int *dst,
                          const double *w) {
    char path[600];
    snprintf(path, sizeof path, "%s/dag.tsv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "source\ttarget\tweight\n");
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        int s, t;
        double v;
        assert_int_equal(sscanf(line, "z%d\tz%d\t%lf", &s, &t, &v), 3);
        assert_true(rows < n);
        assert_int_equal(s, src[rows]);
        assert_int_equal(t, dst[rows]);
        assert_true(fabs(v - w[rows]) < 1e-6);
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, n);
}

static void test_dag_outputs(void **state) {
    (void)state;
    char run[512];
    cwt_path(run, sizeof run, "run");
    make_run(run, "cmvae", good_config);
    assert_int_equal(run_dag(run, NULL, NULL, NULL, NULL), 0);

    const int src[] = {0, 1}, dst[] = {1, 3};
    const double w[] = {0.5, -0.02};
    check_dag_tsv(run, 2, src, dst, w);

    char path[600];
    snprintf(path, sizeof path, "%s/assignment.tsv", run);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[1024];
    assert_non_null(fgets(line, sizeof line, f));
    assert_string_equal(line, "target\tprogram\tweight\tz0\tz1\tz2\tz3\n");
    for (int k = 0; k < TC; k++) {
        assert_non_null(fgets(line, sizeof line, f));
        char name[64];
        int p;
        double shift, bc[TZ];
        assert_int_equal(sscanf(line, "%63s\tz%d\t%lf\t%lf\t%lf\t%lf\t%lf", name, &p, &shift,
                                &bc[0], &bc[1], &bc[2], &bc[3]),
                         7);
        assert_string_equal(name, tnames[k]);
        assert_int_equal(p, forced[k]);
        assert_true(fabs(shift - (1.5 + k)) < 1e-6);
        double sum = 0;
        for (int j = 0; j < TZ; j++) sum += bc[j];
        assert_true(fabs(sum - 1) < 1e-4);
        assert_true(bc[forced[k]] > 0.999); /* softmax(20 * (1, 0, 0, 0)) is peaked */
    }
    assert_null(fgets(line, sizeof line, f));
    fclose(f);

    snprintf(path, sizeof path, "%s/dag.dot", run);
    char *dot = slurp(path);
    assert_non_null(dot);
    assert_non_null(strstr(dot, "digraph"));
    assert_non_null(strstr(dot, "z0 -> z1 [label=\"0.500\""));
    assert_non_null(strstr(dot, "z1 -> z3 [label=\"-0.020\""));
    assert_non_null(strstr(dot, "color=red"));
    assert_non_null(strstr(dot, "color=blue"));
    assert_null(strstr(dot, "z0 -> z2"));
    assert_null(strstr(dot, "z1 -> z0"));
    assert_non_null(strstr(dot, "z2 [label=\"z2\\nKLF1, SPI1\"]"));
    assert_non_null(strstr(dot, "z0 [label=\"z0\\nCEBPA\"]"));
    free(dot);
    /* no temporary files left: checkpoint + 3 outputs (+ dag.svg when dot is installed) */
    snprintf(path, sizeof path, "%s/dag.svg", run);
    assert_int_equal(cwt_dir_entries(run), 4 + cwt_exists(path));

    /* --threshold lowers the cut: the 0.004 edge appears; --out writes elsewhere (created) */
    char out[512];
    cwt_path(out, sizeof out, "out-lo");
    assert_int_equal(run_dag(run, "--threshold", "0.003", "--out", out), 0);
    const int src3[] = {0, 0, 1}, dst3[] = {1, 2, 3};
    const double w3[] = {0.5, 0.004, -0.02};
    check_dag_tsv(out, 3, src3, dst3, w3);
    assert_int_equal(run_dag("--help", NULL, NULL, NULL, NULL), 0);
}

/* The built program, when main.c knows `dag` (skipped otherwise). */
static void test_dag_program(void **state) {
    (void)state;
    char buf[8192], run[512];
    if (cwt_run(buf, sizeof buf, "%s dag --help", cwt_prog()) != 0) {
        printf("note: %s has no `dag` command yet; program test skipped\n", cwt_prog());
        return;
    }
    cwt_path(run, sizeof run, "run-prog");
    make_run(run, "cmvae", good_config);
    assert_int_equal(cwt_run(buf, sizeof buf, "%s dag '%s'", cwt_prog(), run), 0);
    assert_non_null(strstr(buf, "edges kept: 2"));
    const int src[] = {0, 1}, dst[] = {1, 3};
    const double w[] = {0.5, -0.02};
    check_dag_tsv(run, 2, src, dst, w);
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s", good_config);
    char *p = strstr(cfg, "\"hidden\"");
    memcpy(p, "\"hidder\"", 8);
    cwt_path(run, sizeof run, "run-prog-bad");
    make_run(run, "cmvae", cfg);
    assert_int_equal(cwt_run(buf, sizeof buf, "%s dag '%s'", cwt_prog(), run), 2);
    assert_non_null(strstr(buf, "checkpoint.ckpt"));
    assert_non_null(strstr(buf, "'hidden'"));
    assert_int_equal(cwt_dir_entries(run), 1);
}

static void test_dag_errors(void **state) {
    (void)state;
    char run[512], path[600];
    /* missing run directory; missing checkpoint */
    cwt_path(run, sizeof run, "no-such-run");
    assert_int_equal(run_dag(run, NULL, NULL, NULL, NULL), 2);
    assert_false(cwt_exists(run));
    cwt_path(run, sizeof run, "empty-run");
    mkdir(run, 0777);
    assert_int_equal(run_dag(run, NULL, NULL, NULL, NULL), 2);
    assert_int_equal(cwt_dir_entries(run), 0);
    assert_int_equal(run_dag(NULL, NULL, NULL, NULL, NULL), 2);
    assert_int_equal(run_dag(run, "--threshold", "x", NULL, NULL), 2);

    /* corrupted payload (header intact: peek passes, load fails the checksum) */
    cwt_path(run, sizeof run, "corrupt-run");
    make_run(run, "cmvae", good_config);
    snprintf(path, sizeof path, "%s/checkpoint.ckpt", run);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t end = lseek(fd, 0, SEEK_END);
    unsigned char b;
    assert_int_equal(pread(fd, &b, 1, end - 20), 1);
    b ^= 0xff;
    assert_int_equal(pwrite(fd, &b, 1, end - 20), 1);
    close(fd);
    assert_int_equal(run_dag(run, NULL, NULL, NULL, NULL), 2);
    assert_int_equal(cwt_dir_entries(run), 1);
    /* garbage file: the header does not parse */
    FILE *f = fopen(path, "w");
    fputs("not a checkpoint\n", f);
    fclose(f);
    assert_int_equal(run_dag(run, NULL, NULL, NULL, NULL), 2);
    assert_int_equal(cwt_dir_entries(run), 1);

    /* unknown model */
    cwt_path(run, sizeof run, "cgvae-run");
    make_run(run, "cgvae", good_config);
    assert_int_equal(run_dag(run, NULL, NULL, NULL, NULL), 2);
    assert_int_equal(cwt_dir_entries(run), 1);

    /* config lacking each key in turn, or with target_names of the wrong length */
    const char *keys[] = {"\"genes\"", "\"latent_dim\"", "\"targets\"", "\"hidden\"",
                          "\"batch_size\"", "\"lambda\"", "\"lr\"", "\"seed\"",
                          "\"target_names\""};
    for (int i = 0; i < 9; i++) {
        char cfg[1024];
        snprintf(cfg, sizeof cfg, "%s", good_config);
        char *p = strstr(cfg, keys[i]);
        assert_non_null(p);
        p[1] = 'X'; /* renames the key */
        snprintf(run, sizeof run, "%s/nokey-%d", cwt_tmpdir(), i);
        make_run(run, "cmvae", cfg);
        char out[600];
        snprintf(out, sizeof out, "%s/out", run);
        assert_int_equal(run_dag(run, "--out", out, NULL, NULL), 2);
        assert_int_equal(cwt_dir_entries(run), 1); /* not even the --out directory */
    }
    cwt_path(run, sizeof run, "short-names");
    make_run(run, "cmvae",
             "{\"genes\": 6, \"latent_dim\": 4, \"targets\": 3, \"hidden\": 8, \"batch_size\": 2, "
             "\"lambda\": 0.0001, \"lr\": 0.001, \"seed\": 7, \"target_names\": [\"A\", \"B\"]}");
    assert_int_equal(run_dag(run, NULL, NULL, NULL, NULL), 2);
    assert_int_equal(cwt_dir_entries(run), 1);
    /* a config whose shapes disagree with the stored tensors */
    cwt_path(run, sizeof run, "shape-run");
    char cfg[1024];
    snprintf(cfg, sizeof cfg, "%s", good_config);
    memcpy(strstr(cfg, "\"hidden\": 8"), "\"hidden\": 9", 11);
    make_run(run, "cmvae", cfg);
    assert_int_equal(run_dag(run, NULL, NULL, NULL, NULL), 2);
    assert_int_equal(cwt_dir_entries(run), 1);
}

/* Runs cmd_bench_train with stdout captured into a file; returns its exit code. */
static int run_bench(char **args, int argc, const char *capture) {
    fflush(stdout);
    int saved = dup(1);
    int fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 1);
    close(fd);
    int rc = cmd_bench_train(argc, args);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    return rc;
}

static void test_bench_train(void **state) {
    (void)state;
    char cap[512];
    cwt_path(cap, sizeof cap, "bench.json");
    char *args[] = {"train", "--model", "cmvae", "--genes", "50", "--latent-dim", "5",
                    "--batch-size", "8", "--steps", "5", "--warmup", "1", "--json", NULL};
    assert_int_equal(run_bench(args, 14, cap), 0);
    json_error_t e;
    json_t *o = json_load_file(cap, 0, &e);
    if (!o) fail_msg("bench train --json output is not JSON: %s", e.text);
    assert_true(json_is_object(o));
    const char *keys[] = {"cells_per_s", "step_ms_median", "step_ms_p10", "step_ms_p90", "gflops"};
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(o, keys[i]);
        assert_true(json_is_number(v));
        assert_true(json_number_value(v) > 0);
    }
    assert_true(json_number_value(json_object_get(o, "step_ms_p10")) <=
                json_number_value(json_object_get(o, "step_ms_p90")));
    assert_int_equal(json_integer_value(json_object_get(o, "genes")), 50);
    assert_int_equal(json_integer_value(json_object_get(o, "latent_dim")), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "targets")), 5);
    assert_int_equal(json_integer_value(json_object_get(o, "batch_size")), 8);
    assert_string_equal(json_string_value(json_object_get(o, "model")), "cmvae");
    /* the documented count: 16BGH + 24BHZ + 6HZ + 6BZ(Z-1) + 10B^2G; at the default density
     * (20 % of the values nonzero) cmvae reads its batch dense, as the trainer would */
    double fl = 16.0 * 8 * 50 * 128 + 24.0 * 8 * 128 * 5 + 6.0 * 128 * 5 + 6.0 * 8 * 5 * 4 +
                10.0 * 64 * 50;
    assert_true(json_is_false(json_object_get(o, "sparse_input")));
    assert_true(fabs(json_number_value(json_object_get(o, "flops_per_step")) - fl) < 1);
    json_decref(o);
    /* below CW_CMVAE_CSR_MAX_FRACTION (--density 0.05), or with --csr-input at 20 %, the batch
     * is CSR and fc1's 4BGH becomes 4 nnz H; --dense-input overrides the density */
    struct {
        const char *density, *flag;
        int csr;
        double lo, hi; /* expected nnz range */
    } cases[] = {{"0.05", NULL, 1, 1, 0.12 * 400}, {"0.2", "--csr-input", 1, 0.1 * 400, 0.3 * 400},
                 {"0.05", "--dense-input", 0, 0, 0}};
    for (int c = 0; c < 3; c++) {
        char *a[] = {"train", "--model", "cmvae", "--genes", "50", "--latent-dim", "5",
                     "--batch-size", "8", "--steps", "5", "--warmup", "1", "--json",
                     "--density", (char *)cases[c].density, (char *)cases[c].flag, NULL};
        assert_int_equal(run_bench(a, cases[c].flag ? 17 : 16, cap), 0);
        o = json_load_file(cap, 0, &e);
        if (!o) fail_msg("bench train --json output is not JSON: %s", e.text);
        assert_int_equal(json_is_true(json_object_get(o, "sparse_input")), cases[c].csr);
        const double nnz = (double)json_integer_value(json_object_get(o, "input_nnz"));
        const double want = cases[c].csr ? fl - 4.0 * 8 * 50 * 128 + 4.0 * nnz * 128 : fl;
        if (cases[c].csr) assert_true(nnz >= cases[c].lo && nnz <= cases[c].hi);
        assert_true(fabs(json_number_value(json_object_get(o, "flops_per_step")) - want) < 1);
        json_decref(o);
    }
    char *bad_density[] = {"train", "--model", "cmvae", "--genes", "50", "--latent-dim", "5",
                           "--batch-size", "8", "--density", "1.5", NULL};
    assert_int_equal(run_bench(bad_density, 11, cap), 2);

    char *bad[] = {"train", "--model", "cgvae", "--genes", "50", "--latent-dim", "5",
                   "--batch-size", "8", NULL};
    assert_int_equal(run_bench(bad, 9, cap), 2);
    char *missing[] = {"train", "--model", "cmvae", "--genes", "50", NULL};
    assert_int_equal(run_bench(missing, 5, cap), 2);
    char *help[] = {"train", "--help", NULL};
    assert_int_equal(run_bench(help, 2, cap), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dag_outputs),
        cmocka_unit_test(test_dag_program),
        cmocka_unit_test(test_dag_errors),
        cmocka_unit_test(test_bench_train),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    cwt_rm_tmpdir();
    return rc;
}
