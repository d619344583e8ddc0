/* cmd_predict.c: `causeway predict RUN_DIR --perturb A,B [--perturb C ...] --cells N --out
 * pred.h5ad` (issue #3 item 6); the work is models/predict.c. */
#include "cli/cli.h"

#include "core/status.h"
#include "models/predict.h"

#include <getopt.h>
#include <stdio.h>

static void predict_help(void) {
    printf("usage: causeway predict RUN_DIR --perturb A[,B] [--perturb ...] --cells N --out "
           "pred.h5ad [--seed S]\n\n"
           "Generates N cells for each requested perturbation (one target, or two combined as\n"
           "the sum of their latent shifts) from randomly drawn control cells of the run's data,\n"
           "into an .h5ad with obs 'perturbation' and uns['causeway'] (config, seed).\n\n"
           "  --perturb P   known targets joined by ',' or '+' (repeatable)\n"
           "  --cells N     cells per perturbation (100)\n"
           "  --out F       output .h5ad (written atomically)\n"
           "  --seed S      seed of the control draws and noise (0)\n"
           "  --memory-cap SIZE  stream X from the file when it takes more than SIZE\n");
}

int cmd_predict(int argc, char **argv) {
    const char *cmd = "predict";
    cw_strings req = {0, NULL};
    const char *out = NULL;
    int64_t cells = 100;
    uint64_t seed = 0;
    enum { O_P = 256, O_CELLS, O_OUT, O_SEED, O_MEMCAP };
    int64_t memory_cap = 0;
    static const struct option opts[] = {{"perturb", required_argument, 0, O_P},
                                         {"cells", required_argument, 0, O_CELLS},
                                         {"out", required_argument, 0, O_OUT},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"memory-cap", required_argument, 0, O_MEMCAP},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': predict_help(); cw_strings_free(&req); return 0;
        case O_P: bad = cw_strings_push(&req, optarg) != CW_OK; break;
        case O_CELLS: bad = cli_parse_i64(cmd, "--cells", optarg, 1, (int64_t)1 << 30, &cells); break;
        case O_OUT: out = optarg; break;
        case O_SEED: bad = cli_parse_u64(cmd, "--seed", optarg, &seed); break;
        case O_MEMCAP: bad = cli_parse_size(cmd, "--memory-cap", optarg, &memory_cap); break;
        default: bad = 1;
        }
    }
    int rc = CLI_EXIT_USAGE;
    if (bad) {
    } else if (optind != argc - 1) {
        cli_error(cmd, "expected one RUN_DIR (see --help)");
    } else if (!out) {
        cli_error(cmd, "--out pred.h5ad is required");
    } else if (req.n == 0) {
        cli_error(cmd, "give at least one --perturb A[,B]");
    } else {
        cw_status st = cw_predict(argv[optind], &req, cells, seed, out, memory_cap);
        rc = st ? cli_fail(cmd, st) : CLI_EXIT_OK;
        if (!st) printf("wrote %s: %lld perturbations x %lld cells\n", out, (long long)req.n,
                        (long long)cells);
    }
    cw_strings_free(&req);
    return rc;
}
