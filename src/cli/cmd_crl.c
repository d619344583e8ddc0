/* cmd_crl.c: `causeway crl <algorithm|generate|reproduce> ...`: score-based causal
 * representation learning (issue #5; spec score_crl_and_temporal.md Part A).
 *
 *   crl generate  --out F.h5ad [generator flags]      one generated dataset (§A2)
 *   crl lscale|fsample|umni|gscale [flags]            R runs on generated data, mean and SE
 *   crl lscale|fsample|umni DATA.h5ad --env-key K --observational L --out OUT.h5ad
 *                                                     user data: encoder, latents, DAG
 *   crl reproduce [--quick] [--json]                  the §A6.3 table, ours beside the authors'
 *
 * Flag names match the option fields so errors name the right flag.
 */
#include "cli/cli.h"
#include "cli/cmd_crl.h"

#include "core/alloc.h"
#include "core/status.h"
#include "crl/experiment.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

void openblas_set_num_threads(int num_threads);

enum {
    O_LATENTS = 300, O_DIM, O_SAMPLES, O_SCORE_SAMPLES, O_SCORES, O_INTERV, O_SCM, O_MIXING,
    O_VAR, O_VAR2, O_FILL, O_RANDOM_ORDER, O_MIN_IMPACT, O_SIGNATURE, O_DESIGN, O_PERMUTE,
    O_RUNS, O_SEED, O_JSON, O_QUIET, O_THREADS, O_ATOL_EDGE, O_ATOL_EIGV, O_ATOL_ORTH,
    O_NO_HARD, O_FULL_RANK, O_HARD_AND_SOFT, O_KAPPA, O_ATOL_CI, O_TRANSFORM, O_STEPS,
    O_LAMBDA_G, O_SSM_EPOCHS, O_LDR_EPOCHS, O_ATOL_EFF, O_ENV_KEY, O_OBS_LABEL, O_OUT, O_DAG,
    O_BOX, O_EPOCHS, O_LAMBDA_G_REL
};

static const struct option crl_options[] = {
    {"latents", required_argument, 0, O_LATENTS},
    {"dim", required_argument, 0, O_DIM},
    {"samples", required_argument, 0, O_SAMPLES},
    {"score-samples", required_argument, 0, O_SCORE_SAMPLES},
    {"scores", required_argument, 0, O_SCORES},
    {"intervention", required_argument, 0, O_INTERV},
    {"scm", required_argument, 0, O_SCM},
    {"mixing", required_argument, 0, O_MIXING},
    {"var-change", required_argument, 0, O_VAR},
    {"var-change2", required_argument, 0, O_VAR2},
    {"fill-rate", required_argument, 0, O_FILL},
    {"random-order", no_argument, 0, O_RANDOM_ORDER},
    {"min-impact", required_argument, 0, O_MIN_IMPACT},
    {"signature", required_argument, 0, O_SIGNATURE},
    {"design", required_argument, 0, O_DESIGN},
    {"permute-targets", no_argument, 0, O_PERMUTE},
    {"box-size", required_argument, 0, O_BOX},
    {"runs", required_argument, 0, O_RUNS},
    {"seed", required_argument, 0, O_SEED},
    {"json", no_argument, 0, O_JSON},
    {"quiet", no_argument, 0, O_QUIET},
    {"threads", required_argument, 0, O_THREADS},
    {"atol-edge", required_argument, 0, O_ATOL_EDGE},
    {"atol-eigv", required_argument, 0, O_ATOL_EIGV},
    {"atol-orth", required_argument, 0, O_ATOL_ORTH},
    {"no-hard", no_argument, 0, O_NO_HARD},
    {"full-rank", no_argument, 0, O_FULL_RANK},
    {"hard-and-soft", no_argument, 0, O_HARD_AND_SOFT},
    {"kappa", required_argument, 0, O_KAPPA},
    {"atol-ci", required_argument, 0, O_ATOL_CI},
    {"transform", required_argument, 0, O_TRANSFORM},
    {"steps", required_argument, 0, O_STEPS},
    {"epochs", required_argument, 0, O_EPOCHS},
    {"lambda-g", required_argument, 0, O_LAMBDA_G},
    {"lambda-g-rel", required_argument, 0, O_LAMBDA_G_REL},
    {"ssm-epochs", required_argument, 0, O_SSM_EPOCHS},
    {"ldr-epochs", required_argument, 0, O_LDR_EPOCHS},
    {"atol-eff-nz", required_argument, 0, O_ATOL_EFF},
    {"env-key", required_argument, 0, O_ENV_KEY},
    {"observational", required_argument, 0, O_OBS_LABEL},
    {"out", required_argument, 0, O_OUT},
    {"dag", required_argument, 0, O_DAG},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0}};

static int parse_algorithm(cw_crl_algorithm *alg, const char *name, const char *transform) {
    if (strcmp(name, "lscale") == 0) *alg = CW_CRL_LSCALE;
    else if (strcmp(name, "fsample") == 0) *alg = CW_CRL_FSAMPLE;
    else if (strcmp(name, "umni") == 0) *alg = CW_CRL_UMNI;
    else if (strcmp(name, "gscale") == 0)
        *alg = transform && strcmp(transform, "mlp") == 0 ? CW_CRL_GSCALE_MLP : CW_CRL_GSCALE_GLM;
    else return -1;
    return 0;
}

/* First pass: the algorithm's defaults depend on --transform (gscale). */
static const char *find_transform(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--transform") == 0 && i + 1 < argc) return argv[i + 1];
        if (strncmp(argv[i], "--transform=", 12) == 0) return argv[i] + 12;
    }
    return NULL;
}

int cli_crl_parse(const char *cmd, int argc, char **argv, cli_crl_args *a) {
    memset(a, 0, sizeof *a);
    const char *transform = find_transform(argc, argv);
    if (transform && strcmp(transform, "glm") != 0 && strcmp(transform, "mlp") != 0) {
        cli_error(cmd, "--transform: expected glm or mlp, found '%s'", transform);
        return -1;
    }
    if (parse_algorithm(&a->e.alg, cmd + 4, transform) != 0) a->e.alg = CW_CRL_LSCALE;
    cw_crl_experiment_defaults(&a->e, a->e.alg);
    int interv_set = 0, score_samples_set = 0, c, bad = 0;
    const int64_t BIG = (int64_t)1 << 40;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", crl_options, NULL)) != -1) {
        cw_crl_gen_config *g = &a->e.gen;
        cw_status st = CW_OK;
        switch (c) {
        case 'h': a->help = 1; return 0;
        case O_LATENTS: bad = cli_parse_i64(cmd, "--latents", optarg, 1, 24, &g->n); break;
        case O_DIM: bad = cli_parse_i64(cmd, "--dim", optarg, 1, 100000, &g->d); break;
        case O_SAMPLES: bad = cli_parse_i64(cmd, "--samples", optarg, 2, BIG, &g->samples); break;
        case O_SCORE_SAMPLES:
            bad = cli_parse_i64(cmd, "--score-samples", optarg, 0, BIG, &g->score_samples);
            score_samples_set = 1;
            break;
        case O_SCORES: st = cw_score_method_parse(&a->e.scores.method, optarg); break;
        case O_INTERV:
            if (strcmp(optarg, "hard") == 0) g->interv = CW_INTERV_HARD;
            else if (strcmp(optarg, "soft") == 0) g->interv = CW_INTERV_SOFT;
            else bad = cli_error(cmd, "--intervention: expected hard or soft, found '%s'", optarg);
            interv_set = 1;
            break;
        case O_SCM: st = cw_scm_kind_parse(&g->scm, optarg); break;
        case O_MIXING: st = cw_mix_kind_parse(&g->mix, optarg); break;
        case O_VAR: bad = cli_parse_f64(cmd, "--var-change", optarg, 1e-6, 1e6, &g->var_change); break;
        case O_VAR2: bad = cli_parse_f64(cmd, "--var-change2", optarg, 1e-6, 1e6, &g->var_change2); break;
        case O_FILL: bad = cli_parse_f64(cmd, "--fill-rate", optarg, 0, 1, &g->fill_rate); break;
        case O_RANDOM_ORDER: g->randomize_order = 1; break;
        case O_MIN_IMPACT: bad = cli_parse_f64(cmd, "--min-impact", optarg, 0, 1e6, &g->min_impact); break;
        case O_BOX: bad = cli_parse_f64(cmd, "--box-size", optarg, 1e-9, 1e9, &g->box_size); break;
        case O_SIGNATURE:
            if (strcmp(optarg, "uppertri") == 0) g->signature = CW_SIGNATURE_UPPERTRI;
            else if (strcmp(optarg, "identity") == 0) g->signature = CW_SIGNATURE_IDENTITY;
            else bad = cli_error(cmd, "--signature: expected uppertri or identity, found '%s'", optarg);
            break;
        case O_DESIGN:
            if (strcmp(optarg, "single") == 0) g->design = CW_DESIGN_SINGLE;
            else if (strcmp(optarg, "two-hard") == 0) g->design = CW_DESIGN_TWO_HARD;
            else if (strcmp(optarg, "multi") == 0) g->design = CW_DESIGN_MULTI;
            else bad = cli_error(cmd, "--design: expected single, two-hard or multi, found '%s'", optarg);
            break;
        case O_PERMUTE: g->permute_targets = 1; break;
        case O_RUNS: bad = cli_parse_i64(cmd, "--runs", optarg, 1, 100000, &a->e.runs); break;
        case O_SEED: bad = cli_parse_u64(cmd, "--seed", optarg, &a->e.seed); break;
        case O_JSON: a->json = 1; break;
        case O_QUIET: a->quiet = 1; break;
        case O_THREADS: bad = cli_parse_i64(cmd, "--threads", optarg, 0, 1024, &a->threads); break;
        case O_ATOL_EDGE: bad = cli_parse_f64(cmd, "--atol-edge", optarg, 0, 1e9, &a->e.lscale.atol_edge); break;
        case O_ATOL_EIGV:
            bad = cli_parse_f64(cmd, "--atol-eigv", optarg, 0, 1e9, &a->e.lscale.atol_eigv);
            a->e.fsample.atol_eigv = a->e.umni.atol_eigv = a->e.lscale.atol_eigv;
            break;
        case O_ATOL_ORTH: bad = cli_parse_f64(cmd, "--atol-orth", optarg, 0, 1e9, &a->e.fsample.atol_orth); break;
        case O_NO_HARD: a->no_hard = 1; break;
        case O_FULL_RANK: a->e.lscale.full_rank = 1; break;
        case O_HARD_AND_SOFT: a->e.lscale.hard_and_soft = 1; break;
        case O_KAPPA: bad = cli_parse_i64(cmd, "--kappa", optarg, 1, 16, &a->e.umni.kappa); break;
        case O_ATOL_CI: bad = cli_parse_f64(cmd, "--atol-ci", optarg, 0, 1, &a->e.umni.atol_ci); break;
        case O_TRANSFORM: break; /* handled by find_transform */
        case O_STEPS: bad = cli_parse_i64(cmd, "--steps", optarg, 1, BIG, &a->e.gscale.glm_max_steps); break;
        case O_EPOCHS: bad = cli_parse_i64(cmd, "--epochs", optarg, 1, BIG, &a->e.gscale.mlp_epochs); break;
        case O_LAMBDA_G: bad = cli_parse_f64(cmd, "--lambda-g", optarg, 0, 1e9, &a->e.gscale.lambda_g); break;
        case O_LAMBDA_G_REL: bad = cli_parse_f64(cmd, "--lambda-g-rel", optarg, 0, 1e9, &a->e.gscale.lambda_g_rel); break;
        case O_SSM_EPOCHS: bad = cli_parse_i64(cmd, "--ssm-epochs", optarg, 1, 100000, &a->e.scores.ssm.epochs); break;
        case O_LDR_EPOCHS: bad = cli_parse_i64(cmd, "--ldr-epochs", optarg, 1, 100000, &a->e.scores.ldr.epochs); break;
        case O_ATOL_EFF: bad = cli_parse_f64(cmd, "--atol-eff-nz", optarg, 0, 1e9, &a->e.atol_eff_nz); break;
        case O_ENV_KEY: a->env_key = optarg; break;
        case O_OBS_LABEL: a->obs_label = optarg; break;
        case 'o':
        case O_OUT: a->out = optarg; break;
        case O_DAG: a->dag = optarg; break;
        default: return -1;
        }
        if (st != CW_OK) {
            cli_error(cmd, "%s", cw_errmsg());
            return -1;
        }
        if (bad) return -1;
    }
    if (optind < argc) a->data = argv[optind++];
    if (optind < argc) {
        cli_error(cmd, "unexpected argument '%s' (see --help)", argv[optind]);
        return -1;
    }
    cw_crl_gen_config *g = &a->e.gen;
    /* The authors' scripts draw as many score-estimation samples as algorithm samples for the
     * linear algorithms; follow --samples unless --score-samples was given. */
    if (!score_samples_set && (a->e.alg == CW_CRL_LSCALE || a->e.alg == CW_CRL_FSAMPLE))
        g->score_samples = g->samples;
    if (g->d < g->n) {
        cli_error(cmd, "--dim %lld must be at least --latents %lld", (long long)g->d, (long long)g->n);
        return -1;
    }
    if (g->design == CW_DESIGN_TWO_HARD) g->interv = CW_INTERV_HARD;
    int hard = g->interv == CW_INTERV_HARD && !a->no_hard;
    a->e.lscale.hard = hard;
    a->e.umni.hard = hard;
    (void)interv_set;
    if (a->e.scores.method != CW_SCORES_GAUSSIAN && a->e.scores.method != CW_SCORES_SSM &&
        a->e.scores.method != CW_SCORES_ORACLE && a->e.scores.method != CW_SCORES_LDR)
        return -1;
    if (a->e.scores.method == CW_SCORES_ORACLE && g->scm == CW_SCM_BOX) {
        cli_error(cmd, "--scores oracle: the box SCM has no score function");
        return -1;
    }
    a->e.scores.project = g->mix == CW_MIX_LINEAR;
    cli_crl_set_threads(a->threads);
    return 0;
}

void cli_crl_set_threads(int64_t threads) {
    if (threads <= 0) return;
    omp_set_num_threads((int)threads);
    openblas_set_num_threads((int)threads);
}

void cli_crl_print_summary(FILE *f, const cw_crl_experiment *e, const cw_crl_summary *s, int json) {
    if (json) {
        char *cfg = cw_crl_experiment_json(e);
        fprintf(f, "{\"algorithm\":\"%s\",\"seed\":%llu,\"runs\":%lld,\"ok\":%lld,\"failed\":%lld,"
                   "\"seconds_mean\":%.6g,\"config\":%s",
                cw_crl_algorithm_name(e->alg), (unsigned long long)e->seed, (long long)s->runs,
                (long long)s->ok, (long long)s->failed, s->seconds_mean, cfg ? cfg : "null");
        cw_free(cfg);
        for (int64_t i = 0; i < s->mean.count; i++) {
            double se = cw_metric_get(&s->se, s->mean.name[i]);
            fprintf(f, ",\"%s_mean\":%.10g,\"%s_se\":%.10g", s->mean.name[i], s->mean.value[i],
                    s->mean.name[i], isnan(se) ? 0.0 : se);
        }
        if (s->failed) { /* the message may hold quotes: let jansson escape it */
            json_t *msg = json_string(s->first_error);
            char *txt = msg ? json_dumps(msg, JSON_ENCODE_ANY) : NULL;
            fprintf(f, ",\"first_error\":%s", txt ? txt : "null");
            free(txt);
            json_decref(msg);
        }
        fprintf(f, "}");
        return;
    }
    const cw_crl_gen_config *g = &e->gen;
    fprintf(f, "%s: %s SCM, %s mixing, n %lld, d %lld, %lld samples/env, %s x%g, %s scores, "
               "seed %llu\n",
            cw_crl_algorithm_name(e->alg), cw_scm_kind_name(g->scm), cw_mix_kind_name(g->mix),
            (long long)g->n, (long long)g->d, (long long)g->samples,
            g->interv == CW_INTERV_SOFT ? "soft" : "hard", g->var_change,
            cw_score_method_name(e->scores.method), (unsigned long long)e->seed);
    fprintf(f, "runs %lld (ok %lld, failed %lld), %.2f s per run\n", (long long)s->runs,
            (long long)s->ok, (long long)s->failed, s->seconds_mean);
    if (s->failed) fprintf(f, "first failure: %s\n", s->first_error);
    fprintf(f, "%-16s %12s %12s\n", "metric", "mean", "se");
    for (int64_t i = 0; i < s->mean.count; i++)
        fprintf(f, "%-16s %12.4f %12.4f\n", s->mean.name[i], s->mean.value[i],
                cw_metric_get(&s->se, s->mean.name[i]));
}

static void crl_help(const char *sub) {
    cw_crl_experiment d;
    cw_crl_experiment_defaults(&d, CW_CRL_LSCALE);
    printf("usage: causeway crl %s [flags]                 runs on generated data\n"
           "       causeway crl %s DATA.h5ad --env-key KEY --observational LABEL [--out OUT.h5ad]\n\n"
           "Score-based causal representation learning (doc/crl.md). On generated data: R runs of\n"
           "generate -> score differences -> algorithm -> metrics, printing the mean and standard\n"
           "error (std/sqrt(ok runs)) of every metric. Algorithms: lscale (LSCALE-I), fsample\n"
           "(the sample-complexity algorithm), umni (UMNI-CRL), gscale (GSCALE-I, --transform).\n\n"
           "generator (defaults are the authors' settings of the algorithm):\n"
           "  --latents N --dim D        latent and observed dimensions (lscale: %lld, %lld)\n"
           "  --samples S                samples per environment for the algorithm (%lld)\n"
           "  --score-samples S          extra samples per environment for score estimation\n"
           "                             (lscale/fsample: = --samples; umni: 0 = the same samples)\n"
           "  --scm linear|quadratic|mlp|box   latent SCM\n"
           "  --mixing linear|tanh|mlp   observation map\n"
           "  --intervention hard|soft   single/multi-node intervention type\n"
           "  --var-change X --var-change2 X    noise variance factors (second: two-hard design)\n"
           "  --design single|two-hard|multi  --signature uppertri|identity (multi)\n"
           "  --fill-rate P  --random-order  --permute-targets  --min-impact X  --box-size X\n"
           "scores:\n"
           "  --scores oracle|gaussian|ssm|ldr  (--ssm-epochs N, --ldr-epochs N)\n"
           "algorithm options:\n"
           "  --atol-edge X (lscale %g)  --atol-eigv X  --atol-orth X (fsample)  --no-hard\n"
           "  --full-rank (lscale Alg. 2)  --hard-and-soft  --kappa K --atol-ci P (umni)\n"
           "  --transform glm|mlp --steps N (glm) --epochs N (mlp) (gscale)\n"
           "  --lambda-g X               absolute graph threshold on D_ho (authors 1.0)\n"
           "  --lambda-g-rel X           scale-free D_ho[j][k]/D[j][j] > X (ours, 0.02; 0 = absolute)\n"
           "  --atol-eff-nz X            incorrect-mixing threshold\n"
           "runs and output:\n"
           "  --runs R (%lld)  --seed K (%llu)  --json  --quiet  --threads N\n"
           "user data (lscale, fsample, umni):\n"
           "  DATA.h5ad --env-key KEY    obs column naming each cell's environment\n"
           "  --observational LABEL      the observational environment's label\n"
           "  --out OUT.h5ad             obs names, X, obsm['X_causeway_crl'] latents, uns encoder+DAG\n"
           "                             (default DATA.crl.h5ad)\n"
           "  --dag PREFIX               also PREFIX.tsv (edges) and PREFIX.dot\n",
           sub, sub, (long long)d.gen.n, (long long)d.gen.d, (long long)d.gen.samples,
           d.lscale.atol_edge, (long long)d.runs, (unsigned long long)d.seed);
}

static int crl_algorithm(const char *sub, int argc, char **argv) {
    char cmd[32];
    snprintf(cmd, sizeof cmd, "crl %s", sub);
    cli_crl_args a;
    if (cli_crl_parse(cmd, argc, argv, &a) != 0) return CLI_EXIT_USAGE;
    if (a.help) {
        crl_help(sub);
        return CLI_EXIT_OK;
    }
    if (a.data) return cli_crl_user_data(cmd, &a);
    if (a.env_key || a.obs_label || a.out || a.dag)
        return cli_error(cmd, "--env-key, --observational, --out and --dag need a DATA.h5ad argument");
    cw_crl_summary s;
    cw_status st = cw_crl_experiment_run(&s, &a.e, a.quiet ? NULL : stderr);
    if (st) return cli_fail(cmd, st);
    cli_crl_print_summary(stdout, &a.e, &s, a.json);
    if (a.json) printf("\n");
    return s.ok > 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}

static int crl_generate(int argc, char **argv) {
    const char *cmd = "crl generate";
    cli_crl_args a;
    if (cli_crl_parse(cmd, argc, argv, &a) != 0) return CLI_EXIT_USAGE;
    if (a.help) {
        printf("usage: causeway crl generate --out FILE.h5ad [generator flags of crl lscale --help]\n\n"
               "Writes one generated interventional dataset (spec §A2): X, obs['env'], obs['role']\n"
               "(fit | score), obsm['latents'], the truth under uns/causeway/crl.\n");
        return CLI_EXIT_OK;
    }
    if (!a.out) return cli_error(cmd, "--out FILE.h5ad is required (see --help)");
    cw_crl_data d;
    memset(&d, 0, sizeof d);
    cw_status st = cw_crl_generate(&d, &a.e.gen, a.e.seed);
    char *cfg = st == CW_OK ? cw_crl_experiment_json(&a.e) : NULL;
    if (st == CW_OK) st = cw_crl_data_write_h5ad(&d, a.out, cfg);
    if (st == CW_OK && !a.quiet) {
        int64_t total = 0;
        for (int64_t e = 0; e < d.n_env; e++) total += d.count[e] + (d.count_se ? d.count_se[e] : 0);
        printf("wrote %s: %lld environments, %lld samples x %lld dims, %lld latents, seed %llu\n",
               a.out, (long long)d.n_env, (long long)total, (long long)d.d, (long long)d.n,
               (unsigned long long)a.e.seed);
    }
    cw_free(cfg);
    cw_crl_data_free(&d);
    return st ? cli_fail(cmd, st) : CLI_EXIT_OK;
}

int cmd_crl(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        FILE *f = argc < 2 ? stderr : stdout;
        fprintf(f, "usage: causeway crl <subcommand> [flags]   (causeway crl <subcommand> --help)\n\n"
                   "  generate   write one generated interventional dataset (.h5ad)\n"
                   "  lscale     LSCALE-I (linear mixing; soft, hard, full-rank stages)\n"
                   "  fsample    the sample-complexity algorithm (soft, up to ancestors)\n"
                   "  umni       UMNI-CRL (unknown multi-node interventions)\n"
                   "  gscale     GSCALE-I (--transform glm|mlp; two hard interventions per node)\n"
                   "  reproduce  every setting of the authors' runs, ours beside theirs\n");
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "generate") == 0) return crl_generate(argc - 1, argv + 1);
    if (strcmp(sub, "reproduce") == 0) return cli_crl_reproduce(argc - 1, argv + 1);
    if (strcmp(sub, "lscale") == 0 || strcmp(sub, "fsample") == 0 || strcmp(sub, "umni") == 0 ||
        strcmp(sub, "gscale") == 0)
        return crl_algorithm(sub, argc - 1, argv + 1);
    return cli_error("crl", "unknown subcommand '%s' (see causeway crl --help)", sub);
}
