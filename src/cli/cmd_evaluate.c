/* cmd_evaluate.c: `causeway evaluate RUN_DIR [options]`: the model and the control / additive
 * baselines on the run's test perturbations; the work is models/evaluate.c. */
#include "cli/cmd_evaluate.h"

#include "cli/cli.h"
#include "core/status.h"
#include "core/timer.h"
#include "models/evaluate.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void evaluate_help(void) {
    printf("usage: causeway evaluate RUN_DIR [options]\n\n"
           "Predicts every test single perturbation and every combination with test cells of a\n"
           "trained run (one generated cell per real cell, from its paired control), scores the\n"
           "model, the control baseline (the paired controls) and, for combinations of targets\n"
           "with training cells, the additive baseline, on the DEGs and on all genes. Writes\n"
           "RUN_DIR/metrics.json and RUN_DIR/metrics_per_perturbation.tsv.\n\n"
           "  --data DATA.h5ad      data file (default: the one the run was trained on)\n"
           "  --deg-match RULE      reference (first group containing every target, the\n"
           "                        reference code's rule; default) | exact (target-set match,\n"
           "                        then reference)\n"
           "  --deg-top N           DEGs per perturbation when they are computed (20)\n"
           "  --seed S              seed of the prediction noise (default: the run's seed)\n"
           "  --threads N           OpenMP/OpenBLAS threads (0 = all cores)\n"
           "  --quiet               no table\n"
           "  --memory-cap SIZE     stream X from the file when it takes more than SIZE (4G,\n"
           "                        512M); same results\n");
}

int cmd_evaluate(int argc, char **argv) {
    const char *cmd = "evaluate";
    cw_evaluate_opts o;
    cw_evaluate_opts_default(&o);
    int64_t v;
    enum { O_DATA = 256, O_MATCH, O_TOP, O_SEED, O_THREADS, O_QUIET, O_MEMCAP };
    static const struct option opts[] = {
        {"data", required_argument, 0, O_DATA},       {"deg-match", required_argument, 0, O_MATCH},
        {"deg-top", required_argument, 0, O_TOP},     {"seed", required_argument, 0, O_SEED},
        {"threads", required_argument, 0, O_THREADS}, {"quiet", no_argument, 0, O_QUIET},
        {"memory-cap", required_argument, 0, O_MEMCAP},
        {"help", no_argument, 0, 'h'},                {0, 0, 0, 0}};
    optind = 1;
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': evaluate_help(); return 0;
        case O_DATA: o.data_path = optarg; break;
        case O_MATCH:
            if (strcmp(optarg, "reference") == 0) o.deg_match = CW_DEG_MATCH_SUBSTRING;
            else if (strcmp(optarg, "exact") == 0) o.deg_match = CW_DEG_MATCH_EXACT;
            else bad = cli_error(cmd, "--deg-match: expected reference or exact, got '%s'",
                                 optarg) != 0;
            break;
        case O_TOP: bad = cli_parse_i64(cmd, "--deg-top", optarg, 1, (int64_t)1 << 31, &o.deg_top); break;
        case O_SEED:
            bad = cli_parse_u64(cmd, "--seed", optarg, &o.seed);
            o.has_seed = 1;
            break;
        case O_THREADS:
            bad = cli_parse_i64(cmd, "--threads", optarg, 0, 4096, &v);
            o.threads = (int)v;
            break;
        case O_QUIET: o.quiet = 1; break;
        case O_MEMCAP: bad = cli_parse_size(cmd, "--memory-cap", optarg, &o.memory_cap); break;
        default: bad = 1;
        }
    }
    if (bad) return CLI_EXIT_USAGE;
    if (optind != argc - 1) return cli_error(cmd, "expected one RUN_DIR (see --help)");
    o.run_dir = argv[optind];
    cw_eval_summary s;
    cw_status st = cw_evaluate(&o, &s);
    if (st) return cli_fail(cmd, st);
    if (!o.quiet) {
        cw_eval_print_table(stdout, &s);
        printf("wrote %s/metrics.json and %s/metrics_per_perturbation.tsv (%lld rows); peak RSS "
               "%.0f MB\n",
               o.run_dir, o.run_dir, (long long)s.tsv_rows,
               (double)cw_peak_rss_bytes() / 1048576.0);
    }
    return CLI_EXIT_OK;
}
