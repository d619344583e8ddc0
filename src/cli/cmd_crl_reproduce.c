/* cmd_crl_reproduce.c: `causeway crl reproduce`: every setting of spec §A6.3 (our runs of the
 * authors' code at HEAD abb5a09) with the same run counts, our numbers printed beside theirs
 * (issue #5 item 5), plus rows for the settings the authors' code could not run here (GSCALE-I)
 * or that §A6.3 does not list (the sample-complexity algorithm), marked "ours only".
 *
 * Verdict per metric: "better" when ours is on the good side of theirs (lower SHD, mixing and
 * latent error; higher MCC, precision, recall) by more than two standard errors of the
 * difference, "within" when |ours - theirs| <= 2 sqrt(se_theirs^2 + se_ours^2) (se_theirs = 0
 * where §A6.3 gives no standard error), else "worse".
 */
#include "cli/cli.h"
#include "cli/cmd_crl.h"

#include "core/alloc.h"
#include "core/status.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define NA NAN

typedef struct {
    const char *name;
    double value, se; /* the authors' mean and standard error (NaN: not reported) */
} ref_metric;

typedef struct {
    const char *id, *what;
    cw_crl_algorithm alg;
    cw_scm_kind scm;
    int64_t n, d, samples, runs;
    cw_interv_type interv;
    cw_score_method scores;
    int full_rank;
    ref_metric ref[12];
} setting;

/* §A6.3, values as printed by the authors' display code: mean (std/sqrt(runs)). */
static const setting settings[] = {
    {"L1", "LSCALE-I linear hard x5.0, N 5k, Gaussian scores", CW_CRL_LSCALE, CW_SCM_LINEAR, 5, 100, 5000, 20, CW_INTERV_HARD, CW_SCORES_GAUSSIAN, 0,
     {{"shd_h", 4.55, 0.40}, {"precision_h", 0.506, NA}, {"recall_h", 0.815, NA}, {"mcc_h", 0.961, 0.017}, {"mix_count_h", 8.3, NA}, {"mix_ratio_h", 0.415, NA}, {"mix_norm_h", 0.517, NA}, {"shd_s_tr", 3.2, NA}, {"shd_s_tc", 4.35, NA}, {"mcc_s", 0.665, NA}, {"mix_count_s", 0, NA}}},
    {"L2", "LSCALE-I linear hard x5.0, N 10k, Gaussian scores", CW_CRL_LSCALE, CW_SCM_LINEAR, 5, 100, 10000, 20, CW_INTERV_HARD, CW_SCORES_GAUSSIAN, 0,
     {{"shd_h", 3.45, 0.42}, {"precision_h", 0.581, NA}, {"recall_h", 0.922, NA}, {"mcc_h", 0.974, 0.010}, {"mix_count_h", 5.85, NA}, {"mix_ratio_h", 0.293, NA}, {"mix_norm_h", 0.436, NA}, {"shd_s_tr", 3.3, NA}, {"shd_s_tc", 3.8, NA}, {"mcc_s", 0.696, NA}, {"mix_count_s", 0, NA}}},
    {"L3", "LSCALE-I linear hard x5.0, N 50k, Gaussian scores", CW_CRL_LSCALE, CW_SCM_LINEAR, 5, 100, 50000, 20, CW_INTERV_HARD, CW_SCORES_GAUSSIAN, 0,
     {{"shd_h", 0.75, 0.19}, {"precision_h", 0.939, NA}, {"recall_h", 0.926, NA}, {"mcc_h", 0.997, 0.003}, {"mix_count_h", 1.5, NA}, {"mix_ratio_h", 0.075, NA}, {"mix_norm_h", 0.144, NA}, {"shd_s_tr", 0.15, NA}, {"shd_s_tc", 0.15, NA}, {"mcc_s", 0.675, NA}, {"mix_count_s", 0, NA}}},
    {"L4", "LSCALE-I linear hard x5.0, N 50k, oracle scores", CW_CRL_LSCALE, CW_SCM_LINEAR, 5, 100, 50000, 20, CW_INTERV_HARD, CW_SCORES_ORACLE, 0,
     {{"shd_h", 0.25, 0.14}, {"precision_h", 0.980, NA}, {"recall_h", 0.983, NA}, {"mcc_h", 0.994, 0.004}, {"mix_count_h", 0.2, NA}, {"mix_ratio_h", 0.010, NA}, {"mix_norm_h", 0.087, NA}, {"shd_s_tr", 0.05, NA}, {"shd_s_tc", 0.05, NA}, {"mcc_s", 0.641, NA}, {"mix_count_s", 0, NA}}},
    {"L5", "LSCALE-I linear hard x5.0, n 8, N 50k, Gaussian scores", CW_CRL_LSCALE, CW_SCM_LINEAR, 8, 100, 50000, 10, CW_INTERV_HARD, CW_SCORES_GAUSSIAN, 0,
     {{"shd_h", 4.7, 1.17}, {"precision_h", 0.745, NA}, {"recall_h", 0.835, NA}, {"mcc_h", 0.975, 0.015}, {"mix_count_h", 8.8, NA}, {"mix_ratio_h", 0.157, NA}, {"mix_norm_h", 0.455, NA}, {"shd_s_tr", 2.4, NA}, {"shd_s_tc", 3.3, NA}, {"mcc_s", 0.567, NA}, {"mix_count_s", 0, NA}}},
    {"L6", "LSCALE-I linear soft x5.0, N 50k, Gaussian scores", CW_CRL_LSCALE, CW_SCM_LINEAR, 5, 100, 50000, 20, CW_INTERV_SOFT, CW_SCORES_GAUSSIAN, 0,
     {{"shd_s_tr", 2.15, NA}, {"shd_s_tc", 1.8, NA}, {"mcc_s", 0.651, 0.020}, {"precision_s", 0.729, NA}, {"recall_s", 0.702, NA}, {"mix_count_s", 0, NA}}},
    {"Q1", "LSCALE-I quadratic hard x5.0, N 50k, oracle scores (+Alg. 2)", CW_CRL_LSCALE, CW_SCM_QUADRATIC, 5, 100, 50000, 10, CW_INTERV_HARD, CW_SCORES_ORACLE, 1,
     {{"shd_h", 0.1, 0.10}, {"precision_h", 1.00, NA}, {"recall_h", 0.98, NA}, {"mcc_h", 1.000, 0.000}, {"mix_count_h", 0.1, NA}, {"shd_s_tr", 0.0, NA}, {"shd_s_tc", 0.0, NA}, {"mcc_s", 0.781, NA}, {"shd_f", 0.9, 0.33}, {"precision_f", 1.00, NA}, {"recall_f", 0.856, NA}, {"mcc_f", 0.810, NA}}},
    {"Q2", "LSCALE-I quadratic hard x5.0, N 50k, SSM scores 20 epochs (+Alg. 2)", CW_CRL_LSCALE, CW_SCM_QUADRATIC, 5, 100, 50000, 5, CW_INTERV_HARD, CW_SCORES_SSM, 1,
     {{"shd_h", 5.8, 0.34}, {"precision_h", 0.432, NA}, {"recall_h", 0.843, NA}, {"mcc_h", 0.924, 0.017}, {"mix_count_h", 14.6, NA}, {"shd_s_tr", 5.2, NA}, {"shd_s_tc", 4.8, NA}, {"mcc_s", 0.836, NA}, {"shd_f", 5.8, NA}, {"precision_f", 0.35, NA}, {"recall_f", 0.316, NA}, {"mcc_f", 0.490, NA}}},
    {"U1", "UMNI-CRL soft x0.25, n 4, N 100k, Gaussian scores", CW_CRL_UMNI, CW_SCM_LINEAR, 4, 50, 100000, 10, CW_INTERV_SOFT, CW_SCORES_GAUSSIAN, 0,
     {{"shd_s", 2.8, NA}, {"recall_s", 0.415, NA}, {"zerr_s", 0.889, NA}, {"mix_count_s", 2.1, NA}, {"mix_ratio_s", 0.30, NA}, {"mcc_s", 0.945, NA}}},
    {"U2", "UMNI-CRL soft x0.25, n 5, N 100k, Gaussian scores", CW_CRL_UMNI, CW_SCM_LINEAR, 5, 50, 100000, 10, CW_INTERV_SOFT, CW_SCORES_GAUSSIAN, 0,
     {{"shd_s", 4.4, NA}, {"recall_s", 0.445, NA}, {"zerr_s", 0.942, NA}, {"mix_count_s", 3.2, NA}, {"mix_ratio_s", 0.26, NA}, {"mcc_s", 0.918, NA}}},
    {"U3", "UMNI-CRL hard x0.25, n 4, N 100k, Gaussian scores", CW_CRL_UMNI, CW_SCM_LINEAR, 4, 50, 100000, 10, CW_INTERV_HARD, CW_SCORES_GAUSSIAN, 0,
     {{"shd_s", 1.1, NA}, {"recall_s", 0.617, NA}, {"zerr_s", 0.489, NA}, {"mix_count_s", 0.9, NA}, {"mcc_s", 0.988, NA}, {"shd_h", 1.2, NA}, {"recall_h", 0.608, NA}, {"zerr_h", 0.739, NA}, {"mix_count_h", 2.7, NA}, {"mcc_h", 0.994, NA}}},
    {"U4", "UMNI-CRL hard x0.25, n 5, N 100k, Gaussian scores", CW_CRL_UMNI, CW_SCM_LINEAR, 5, 50, 100000, 10, CW_INTERV_HARD, CW_SCORES_GAUSSIAN, 0,
     {{"shd_s", 1.8, NA}, {"recall_s", 0.798, NA}, {"zerr_s", 0.542, NA}, {"mix_count_s", 1.8, NA}, {"mcc_s", 0.958, NA}, {"shd_h", 3.0, NA}, {"recall_h", 0.740, NA}, {"zerr_h", 0.631, NA}, {"mix_count_h", 4.4, NA}, {"mcc_h", 0.946, NA}}},
    {"U5", "UMNI-CRL hard x0.25, n 4, N 100k, oracle scores", CW_CRL_UMNI, CW_SCM_LINEAR, 4, 50, 100000, 10, CW_INTERV_HARD, CW_SCORES_ORACLE, 0,
     {{"shd_s", 1.5, NA}, {"recall_s", 0.590, NA}, {"zerr_s", 0.517, NA}, {"mix_count_s", 1.1, NA}, {"mcc_s", 0.958, NA}, {"shd_h", 1.7, NA}, {"recall_h", 0.542, NA}, {"zerr_h", 0.474, NA}, {"mix_count_h", 2.8, NA}, {"mcc_h", 0.970, NA}}},
    {"U6", "UMNI-CRL hard x0.25, n 5, N 100k, oracle scores", CW_CRL_UMNI, CW_SCM_LINEAR, 5, 50, 100000, 10, CW_INTERV_HARD, CW_SCORES_ORACLE, 0,
     {{"shd_s", 3.6, NA}, {"recall_s", 0.675, NA}, {"zerr_s", 0.889, NA}, {"mix_count_s", 3.0, NA}, {"mcc_s", 0.891, NA}, {"shd_h", 3.5, NA}, {"recall_h", 0.483, NA}, {"zerr_h", 1.137, NA}, {"mix_count_h", 5.6, NA}, {"mcc_h", 0.899, NA}}},
    {"S1", "sample-complexity algorithm, hard x0.25, n 5, d 15, N 10k, Gaussian scores (ours only)", CW_CRL_FSAMPLE, CW_SCM_LINEAR, 5, 15, 10000, 20, CW_INTERV_HARD, CW_SCORES_GAUSSIAN, 0, {{0}}},
    {"G1", "GSCALE-I GLM, quadratic SCM, n 5, d 100, N 500, oracle scores (ours only)", CW_CRL_GSCALE_GLM, CW_SCM_QUADRATIC, 5, 100, 500, 20, CW_INTERV_HARD, CW_SCORES_ORACLE, 0, {{0}}},
};
static const int n_settings = (int)(sizeof settings / sizeof settings[0]);

static int lower_is_better(const char *name) {
    return strncmp(name, "shd", 3) == 0 || strncmp(name, "mix", 3) == 0 ||
           strncmp(name, "zerr", 4) == 0 || strncmp(name, "enc_err", 7) == 0 ||
           strncmp(name, "err", 3) == 0 || strncmp(name, "z_err", 5) == 0;
}

static const char *verdict(const char *name, double theirs, double se_t, double ours, double se_o) {
    if (isnan(ours)) return "missing";
    double tol = 2.0 * sqrt((isnan(se_t) ? 0 : se_t * se_t) + se_o * se_o);
    double diff = ours - theirs;
    if (fabs(diff) <= tol + 1e-12) return "within";
    int better = lower_is_better(name) ? diff < 0 : diff > 0;
    return better ? "better" : "worse";
}

static void configure(cw_crl_experiment *e, const setting *s, uint64_t seed) {
    cw_crl_experiment_defaults(e, s->alg);
    e->seed = seed;
    e->runs = s->runs;
    e->gen.scm = s->scm;
    e->gen.n = s->n;
    e->gen.d = s->d;
    e->gen.samples = s->samples;
    e->gen.interv = s->interv;
    e->scores.method = s->scores;
    if (s->alg == CW_CRL_LSCALE || s->alg == CW_CRL_FSAMPLE) e->gen.score_samples = s->samples;
    e->lscale.hard = s->interv == CW_INTERV_HARD;
    e->umni.hard = s->interv == CW_INTERV_HARD;
    e->lscale.full_rank = s->full_rank;
    if (s->scores == CW_SCORES_SSM) e->scores.ssm.epochs = 20;
}

int cli_crl_reproduce(int argc, char **argv) {
    const char *cmd = "crl reproduce";
    const char *only = NULL;
    int json = 0, quiet = 0;
    int64_t runs = 0, samples = 0, threads = 0;
    uint64_t seed = 0;
    static const struct option opts[] = {{"only", required_argument, 0, 'o'},
                                         {"runs", required_argument, 0, 'r'},
                                         {"samples", required_argument, 0, 'n'},
                                         {"seed", required_argument, 0, 's'},
                                         {"threads", required_argument, 0, 't'},
                                         {"json", no_argument, 0, 'j'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"list", no_argument, 0, 'l'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'o': only = optarg; break;
        case 'r': bad = cli_parse_i64(cmd, "--runs", optarg, 1, 100000, &runs); break;
        case 'n': bad = cli_parse_i64(cmd, "--samples", optarg, 100, (int64_t)1 << 40, &samples); break;
        case 's': bad = cli_parse_u64(cmd, "--seed", optarg, &seed); break;
        case 't': bad = cli_parse_i64(cmd, "--threads", optarg, 0, 1024, &threads); break;
        case 'j': json = 1; break;
        case 'q': quiet = 1; break;
        case 'l':
            for (int i = 0; i < n_settings; i++) printf("%s  %s, %lld runs\n", settings[i].id, settings[i].what, (long long)settings[i].runs);
            return CLI_EXIT_OK;
        case 'h':
            printf("usage: causeway crl reproduce [--only ID,ID] [--runs R] [--samples N] [--seed K] [--json]\n\n"
                   "Runs every setting of the authors' runs listed in spec §A6.3 (LSCALE-I linear and\n"
                   "quadratic, UMNI-CRL) with the same sizes and run counts, and prints our mean (SE)\n"
                   "beside theirs with a verdict per metric (within two standard errors of the\n"
                   "difference, better, worse); rows marked 'ours only' have no reference.\n"
                   "  --list        the settings and their IDs\n"
                   "  --only IDS    comma-separated subset (e.g. L4,U5)\n"
                   "  --runs R      override every setting's run count (smoke tests)\n"
                   "  --samples N   override the samples per environment (smoke tests)\n"
                   "  --seed K (0)  --threads N  --json (one object per setting, one per line)  --quiet\n");
            return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
        if (bad) return CLI_EXIT_USAGE;
    }
    if (optind < argc) return cli_error(cmd, "unexpected argument '%s' (see --help)", argv[optind]);
    if (only) { /* every listed ID must exist */
        char buf[256];
        snprintf(buf, sizeof buf, "%s", only);
        for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
            int found = 0;
            for (int i = 0; i < n_settings; i++) found |= strcmp(settings[i].id, tok) == 0;
            if (!found) return cli_error(cmd, "--only: unknown setting '%s' (see --list)", tok);
        }
    }
    cli_crl_set_threads(threads);
    int failures = 0;
    for (int i = 0; i < n_settings; i++) {
        const setting *s = &settings[i];
        if (only) {
            char pat[16];
            snprintf(pat, sizeof pat, ",%s,", s->id);
            char list[260];
            snprintf(list, sizeof list, ",%s,", only);
            if (!strstr(list, pat)) continue;
        }
        cw_crl_experiment e;
        configure(&e, s, seed);
        if (runs) e.runs = runs;
        if (samples) {
            e.gen.samples = samples;
            if (e.gen.score_samples) e.gen.score_samples = samples;
        }
        cw_crl_summary sum;
        if (!quiet) fprintf(stderr, "[%s] %s: %lld runs\n", s->id, s->what, (long long)e.runs);
        cw_status st = cw_crl_experiment_run(&sum, &e, quiet ? NULL : stderr);
        if (st) return cli_fail(cmd, st);
        if (sum.ok == 0) failures++;
        if (json) {
            printf("{\"id\":\"%s\",\"what\":\"%s\",\"result\":", s->id, s->what);
            cli_crl_print_summary(stdout, &e, &sum, 1);
            printf(",\"authors\":{");
            for (int k = 0; k < 12 && s->ref[k].name; k++) {
                char se[32] = "null";
                if (!isnan(s->ref[k].se)) snprintf(se, sizeof se, "%.6g", s->ref[k].se);
                printf("%s\"%s\":[%.6g,%s]", k ? "," : "", s->ref[k].name, s->ref[k].value, se);
            }
            printf("}}\n");
            continue;
        }
        printf("\n[%s] %s\n", s->id, s->what);
        printf("    ours: %lld runs (%lld failed), %.2f s per run, seed %llu\n", (long long)e.runs,
               (long long)sum.failed, sum.seconds_mean, (unsigned long long)seed);
        if (sum.failed) printf("    first failure: %s\n", sum.first_error);
        if (!s->ref[0].name) {
            printf("    %-14s %18s\n", "metric", "ours mean (se)");
            for (int64_t k = 0; k < sum.mean.count; k++)
                printf("    %-14s %10.4f (%.4f)\n", sum.mean.name[k], sum.mean.value[k],
                       cw_metric_get(&sum.se, sum.mean.name[k]));
            continue;
        }
        printf("    %-14s %18s %18s  %s\n", "metric", "authors (se)", "ours (se)", "verdict");
        for (int k = 0; k < 12 && s->ref[k].name; k++) {
            const ref_metric *r = &s->ref[k];
            double ours = cw_metric_get(&sum.mean, r->name), se = cw_metric_get(&sum.se, r->name);
            char ta[32], tb[32];
            if (isnan(r->se)) snprintf(ta, sizeof ta, "%.4g", r->value);
            else snprintf(ta, sizeof ta, "%.4g (%.3g)", r->value, r->se);
            snprintf(tb, sizeof tb, "%.4g (%.3g)", ours, isnan(se) ? 0.0 : se);
            printf("    %-14s %18s %18s  %s\n", r->name, ta, tb,
                   verdict(r->name, r->value, r->se, ours, isnan(se) ? 0.0 : se));
        }
    }
    return failures ? CLI_EXIT_FAIL : CLI_EXIT_OK;
}
