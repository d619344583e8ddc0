/* cmd_ablate.c: `causeway ablate DATA.h5ad --out ROOT --graph-... [--seeds 1,2,3]
 * [--variants a,b] [training options]`: the ablation table of the CMVAE family (issue #4
 * item 9; models/ablation.h). */
#include "cli/cli.h"
#include "cli/cmd_extra.h"
#include "cli/cmd_train.h"

#include "core/status.h"
#include "models/ablation.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void ablate_help(void) {
    int n;
    const cw_ablation_variant *v = cw_ablation_variants(&n);
    printf("usage: causeway ablate DATA.h5ad --out ROOT --graph-gmt F --graph-relations F "
           "--graph-ppi F [options]\n\n"
           "Trains and evaluates every variant below once per seed (ROOT/<variant>/seed<S>; a\n"
           "run with metrics.json is reused), then writes ROOT/ablation.tsv and prints mean +-\n"
           "std over the seeds of the single and combination DEG metrics beside the control and\n"
           "additive baselines.\n\n"
           "  --seeds S1,S2,...    (1,2,3)\n"
           "  --variants A,B,...   a subset of the rows (default all)\n"
           "  every `causeway train` option except --model, --seed, --resume, --stop-after\n\n"
           "variants:\n");
    for (int i = 0; i < n; i++) printf("  %-22s %s\n", v[i].name, v[i].what);
}

int cmd_ablate(int argc, char **argv) {
    const char *cmd = "ablate";
    cli_train_args t;
    int rc = cli_train_parse(cmd, argc, argv, 1, &t, ablate_help);
    if (rc || t.help) {
        cli_train_args_free(&t);
        return rc;
    }
    uint64_t seeds[256];
    int n_seeds = 0;
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", t.seeds ? t.seeds : "1,2,3");
    for (char *save = NULL, *s = strtok_r(buf, ",", &save); s && !rc;
         s = strtok_r(NULL, ",", &save)) {
        if (n_seeds == 256) rc = cli_error(cmd, "--seeds: at most 256");
        else rc = cli_parse_u64(cmd, "--seeds", s, &seeds[n_seeds++]) ? CLI_EXIT_USAGE : 0;
    }
    if (!rc && n_seeds == 0) rc = cli_error(cmd, "--seeds: expected S1,S2,...");
    if (!rc && optind != argc - 1) rc = cli_error(cmd, "expected one DATA.h5ad (see --help)");
    if (!rc && !t.o.out_dir) rc = cli_error(cmd, "--out ROOT is required");
    if (!rc && !t.o.graph.gmt && !t.o.graph.ppi)
        rc = cli_error(cmd, "the graph-aware variants need --graph-gmt, --graph-relations and "
                            "--graph-ppi");
    if (!rc) {
        t.o.data_path = argv[optind];
        cw_ablation_opts ao = {&t.o, t.o.out_dir, seeds, n_seeds, t.variants, t.o.quiet};
        cw_status st = cw_ablation_run(&ao, stdout);
        rc = st ? cli_fail(cmd, st) : CLI_EXIT_OK;
    }
    cli_train_args_free(&t);
    return rc;
}
