/* cmd_bench_crl.c: `causeway bench crl [--repeat N]`: where the time of a score-based CRL run
 * goes (issue #5; spec §A7), at the authors' default sizes: data generation, score differences
 * (oracle and Gaussian), LSCALE-I, UMNI-CRL and GSCALE-I GLM steps. Medians, p10/p90 over
 * --repeat runs of the same seed (validated first: each stage must succeed), and ratios.
 */
#include "cli/cli.h"
#include "cli/cmd_extra.h"

#include "core/alloc.h"
#include "core/status.h"
#include "core/timer.h"
#include "crl/experiment.h"

#include <stdio.h>
#include <string.h>

#define MAX_REPEAT 50

typedef struct {
    const char *name;
    double t[MAX_REPEAT];
} stage;

static double med(double *t, int n) { return cw_quantile(t, n, 0.5); }

/* One repetition of every stage; times into s[k].t[rep]. */
static cw_status one_rep(stage *s, int rep, int64_t glm_steps) {
    cw_crl_experiment e;
    cw_crl_experiment_defaults(&e, CW_CRL_LSCALE);
    cw_crl_data d, du, dg;
    memset(&d, 0, sizeof d);
    memset(&du, 0, sizeof du);
    memset(&dg, 0, sizeof dg);
    int64_t n = e.gen.n, a[24], b[24];
    double *ds[48] = {0};
    cw_status st;
    double t0 = cw_now();
    st = cw_crl_generate(&d, &e.gen, 1);
    s[0].t[rep] = cw_now() - t0;
    for (int64_t k = 0; k < n; k++) a[k] = 0, b[k] = k + 1;
    cw_score_diff_config sc = e.scores;
    sc.method = CW_SCORES_ORACLE;
    t0 = cw_now();
    if (st == CW_OK) st = cw_crl_score_diffs(ds, &d, a, b, n, &sc);
    s[1].t[rep] = cw_now() - t0;
    cw_score_diffs_free(ds, n);
    sc.method = CW_SCORES_GAUSSIAN;
    t0 = cw_now();
    if (st == CW_OK) st = cw_crl_score_diffs(ds, &d, a, b, n, &sc);
    s[2].t[rep] = cw_now() - t0;
    cw_lscale_result lr;
    memset(&lr, 0, sizeof lr);
    t0 = cw_now();
    if (st == CW_OK)
        st = cw_lscale_run(&lr, (const double *const *)d.x, d.count, (const double *const *)ds, n,
                           d.d, &e.lscale);
    s[3].t[rep] = cw_now() - t0;
    cw_lscale_result_free(&lr);
    cw_score_diffs_free(ds, n);
    /* UMNI-CRL at its defaults (n 5, d 50, 100k, multi-node soft), oracle scores. */
    cw_crl_experiment eu;
    cw_crl_experiment_defaults(&eu, CW_CRL_UMNI);
    if (st == CW_OK) st = cw_crl_generate(&du, &eu.gen, 1);
    sc.method = CW_SCORES_ORACLE;
    if (st == CW_OK) st = cw_crl_score_diffs(ds, &du, a, b, n, &sc);
    cw_umni_result ur;
    memset(&ur, 0, sizeof ur);
    t0 = cw_now();
    if (st == CW_OK)
        st = cw_umni_run(&ur, (const double *const *)du.x, du.count, (const double *const *)ds, n,
                         du.d, &eu.umni);
    s[4].t[rep] = cw_now() - t0;
    cw_umni_result_free(&ur);
    cw_score_diffs_free(ds, n);
    /* GSCALE-I GLM (n 5, d 100, 500 samples), a fixed number of steps. */
    cw_crl_experiment eg;
    cw_crl_experiment_defaults(&eg, CW_CRL_GSCALE_GLM);
    eg.gscale.glm_max_steps = glm_steps;
    eg.gscale.glm_stop_loss = 0; /* never stop early: time exactly glm_steps steps */
    if (st == CW_OK) st = cw_crl_generate(&dg, &eg.gen, 1);
    int64_t ga[10], gb[10];
    for (int64_t k = 0; k < 2 * n; k++) {
        ga[k] = k < n ? k + 1 : k - n + 1;
        gb[k] = k < n ? k + 1 + n : 0;
    }
    if (st == CW_OK) st = cw_crl_score_diffs(ds, &dg, ga, gb, 2 * n, &sc);
    cw_gscale_result gr;
    memset(&gr, 0, sizeof gr);
    t0 = cw_now();
    if (st == CW_OK)
        st = cw_gscale_glm_run(&gr, dg.x[0], dg.count[0], dg.d, n, (const double *const *)ds,
                               (const double *const *)ds + n, &eg.gscale, 1);
    s[5].t[rep] = (cw_now() - t0) / (double)glm_steps * 1e3;
    cw_gscale_result_free(&gr);
    cw_score_diffs_free(ds, 2 * n);
    cw_crl_data_free(&d);
    cw_crl_data_free(&du);
    cw_crl_data_free(&dg);
    return st;
}

int cmd_bench_crl(int argc, char **argv) {
    const char *cmd = "bench crl";
    int64_t repeat = 5, glm_steps = 500;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) {
            if (cli_parse_i64(cmd, "--repeat", argv[++i], 1, MAX_REPEAT, &repeat)) return CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "--glm-steps") == 0 && i + 1 < argc) {
            if (cli_parse_i64(cmd, "--glm-steps", argv[++i], 1, 1000000, &glm_steps)) return CLI_EXIT_USAGE;
        } else if (strcmp(argv[i], "--help") == 0) {
            printf("usage: causeway bench crl [--repeat N (5)] [--glm-steps N (500)]\n");
            return CLI_EXIT_OK;
        } else {
            return cli_error(cmd, "unknown argument '%s' (see --help)", argv[i]);
        }
    }
    stage s[6] = {{"generate LSCALE data (n 5, d 100, 6 envs x (50k + 50k))", {0}},
                  {"oracle score differences", {0}},
                  {"Gaussian score differences (fit 6 envs, evaluate 50k)", {0}},
                  {"LSCALE-I (soft + hard stages)", {0}},
                  {"UMNI-CRL (n 5, d 50, 100k, kappa 2)", {0}},
                  {"GSCALE-I GLM step (n 5, d 100, N 500), ms", {0}}};
    cli_bench_context(stdout);
    for (int r = 0; r <= repeat; r++) { /* rep 0: warm-up and validation, not timed */
        cw_status st = one_rep(s, r == 0 ? 0 : r - 1, glm_steps);
        if (st) return cli_fail(cmd, st);
    }
    printf("%-58s %10s %10s %10s\n", "stage (seconds unless stated)", "median", "p10", "p90");
    double m[6];
    for (int k = 0; k < 6; k++) {
        m[k] = med(s[k].t, (int)repeat);
        printf("%-58s %10.4f %10.4f %10.4f\n", s[k].name, m[k], cw_quantile(s[k].t, (int)repeat, 0.1),
               cw_quantile(s[k].t, (int)repeat, 0.9));
    }
    double run = m[0] + m[2] + m[3];
    printf("ratios: LSCALE-I algorithm / whole Gaussian-score run %.3f; Gaussian / oracle scores "
           "%.1fx; generation / whole run %.3f\n",
           m[3] / run, m[2] / (m[1] > 0 ? m[1] : 1e-12), m[0] / run);
    return CLI_EXIT_OK;
}
