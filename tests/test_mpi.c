/* test_mpi.c: data-parallel training (issue #6 item 4): `mpirun -np R causeway train ...` on a
 * small simulated dataset gives the run of one process with the same global batch: the same
 * per-epoch loss terms and the same final parameters, up to floating-point summation order
 * (each process sums its shard's gradient, one Allreduce adds them; the MMD is computed on the
 * whole gathered batch). R = 2 (even shards) and R = 3 (shards of 11, 11 and 10 cells), cmvae
 * and grace (GNN encoder over the context graph). Skipped when the program was built without
 * MPI or mpirun is absent. mpirun runs as root with --allow-run-as-root --oversubscribe. About
 * 5 s. */
#include "test_util.h"

#include "models/run.h"

#include <math.h>

static char data[512], out[16384];

/* No single-copy (CMA) transfers: containers without ptrace rights fail them. Open MPI's own
 * allocations are reported as leaks by AddressSanitizer (make asan): leak checks off for the
 * launched processes only; the one-process runs keep them. */
#define MPIRUN                                                                                 \
    "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 mpirun --allow-run-as-root "   \
    "--oversubscribe --mca btl_vader_single_copy_mechanism none"

static int have_mpirun(void) {
#ifdef CW_HAVE_MPI
    return system("command -v mpirun >/dev/null 2>&1") == 0;
#else
    return 0;
#endif
}

static int setup(void **state) {
    (void)state;
    if (!have_mpirun()) return 0;
    cwt_path(data, sizeof data, "mpi.h5ad");
    int rc = cwt_run(out, sizeof out,
                     "%s simulate --out '%s' --n-controls 300 --cells-per-perturbation 96 "
                     "--n-genes 80 --n-programs 4 --n-targets 6 --n-combinations 2 --seed 2 "
                     "--quiet",
                     cwt_prog(), data);
    if (rc != 0) fprintf(stderr, "%s\n", out);
    return rc == 0 ? 0 : -1;
}

/* per-epoch "loss", "mmd", "mse", "kl" of a train_log.jsonl; returns the number of epochs */
static int read_log(const char *dir, double v[][4], int cap) {
    char p[700], line[2048];
    snprintf(p, sizeof p, "%s/train_log.jsonl", dir);
    FILE *f = fopen(p, "r");
    if (!f) return -1;
    const char *keys[4] = {"\"loss\": ", "\"mmd\": ", "\"mse\": ", "\"kl\": "};
    int n = 0;
    while (n < cap && fgets(line, sizeof line, f)) {
        for (int k = 0; k < 4; k++) {
            const char *s = strstr(line, keys[k]);
            v[n][k] = s ? strtod(s + strlen(keys[k]), NULL) : NAN;
        }
        n++;
    }
    fclose(f);
    return n;
}

/* trains `model` with one process and with `np` processes; compares logs and parameters */
static void compare(const char *model, const char *extra, int np) {
    char one[512], many[512], gflags[2048] = "";
    snprintf(one, sizeof one, "%s/%s_np1", cwt_tmpdir(), model);
    snprintf(many, sizeof many, "%s/%s_np%d", cwt_tmpdir(), model, np);
    /* the simulator names its graph files after the .h5ad without the extension */
    char base[512];
    snprintf(base, sizeof base, "%s", data);
    char *dot = strrchr(base, '.');
    if (dot) *dot = '\0';
    if (strcmp(model, "cmvae"))
        snprintf(gflags, sizeof gflags,
                 "--graph-gmt '%s.gmt' --graph-relations '%s.relations.txt' --graph-ppi "
                 "'%s.ppi.txt' ",
                 base, base, base);
    const char *args = "--epochs 4 --split random --seed 3 --threads 1 --quiet";
    int rc = cwt_run(out, sizeof out, "rm -rf '%s' && %s train '%s' --model %s %s%s --out '%s' %s",
                     one, cwt_prog(), data, model, gflags, extra, one, args);
    if (rc != 0) fail_msg("one process: exit %d\n%s", rc, out);
    rc = cwt_run(out, sizeof out,
                 "rm -rf '%s' && %s -np %d %s train '%s' "
                 "--model %s %s%s --out '%s' %s",
                 many, MPIRUN, np, cwt_prog(), data, model, gflags, extra, many, args);
    if (rc != 0) fail_msg("mpirun -np %d: exit %d\n%s", np, rc, out);

    double a[8][4], b[8][4];
    int na = read_log(one, a, 8), nb = read_log(many, b, 8);
    assert_int_equal(na, 4);
    assert_int_equal(nb, 4);
    const char *names[4] = {"loss", "mmd", "mse", "kl"};
    for (int e = 0; e < na; e++)
        for (int k = 0; k < 4; k++)
            if (!(fabs(a[e][k] - b[e][k]) <= 1e-6 + 1e-5 * fabs(a[e][k])))
                fail_msg("%s -np %d epoch %d %s: %.9g vs one process %.9g", model, np, e,
                         names[k], b[e][k], a[e][k]);

    cw_run r1, r2;
    assert_int_equal(cw_run_open(&r1, one, NULL), CW_OK);
    assert_int_equal(cw_run_open(&r2, many, NULL), CW_OK);
    assert_int_equal(r1.step, r2.step);
    const int64_t n = r1.model.table.total;
    assert_int_equal(n, r2.model.table.total);
    double worst = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n; i++) {
        double x = r1.model.table.params[i], y = r2.model.table.params[i];
        double err = fabs(x - y) / (1e-5 + 1e-4 * fabs(x));
        if (!(err <= worst)) worst = err, at = i;
    }
    if (!(worst <= 1))
        fail_msg("%s -np %d: parameter %lld: %.9g vs one process %.9g (atol 1e-5, rtol 1e-4)",
                 model, np, (long long)at, r2.model.table.params[at], r1.model.table.params[at]);
    cw_run_close(&r1);
    cw_run_close(&r2);
}

static void test_cmvae_two_processes(void **state) {
    (void)state;
    if (!have_mpirun()) skip();
    compare("cmvae", "", 2);
}

static void test_cmvae_three_processes_uneven(void **state) {
    (void)state;
    if (!have_mpirun()) skip();
    compare("cmvae", "", 3);
}

static void test_grace_two_processes(void **state) {
    (void)state;
    if (!have_mpirun()) skip();
    compare("grace", "--gnn sage ", 2);
}

/* more processes than cells in a batch: every process stops with the same message */
static void test_too_many_processes(void **state) {
    (void)state;
    if (!have_mpirun()) skip();
    char dir[512];
    cwt_path(dir, sizeof dir, "toomany");
    int rc = cwt_run(out, sizeof out,
                     "%s -np 3 %s train '%s' --out '%s' "
                     "--batch-size 2 --epochs 1 --split random --seed 3 --threads 1 --quiet",
                     MPIRUN, cwt_prog(), data, dir);
    assert_int_not_equal(rc, 0);
    if (!strstr(out, "processes <= batch size")) fail_msg("unexpected output:\n%s", out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cmvae_two_processes),
        cmocka_unit_test(test_cmvae_three_processes_uneven),
        cmocka_unit_test(test_grace_two_processes),
        cmocka_unit_test(test_too_many_processes),
    };
    return cmocka_run_group_tests(tests, setup, cwt_teardown);
}
