/* cmd_split.c: `causeway split DATA.h5ad --kind K --seed S --out split.json`: makes one of the
 * four seeded splits of data/split.h (issue #2 item 4; spec grace_cmvae.md §2.4), prints its
 * summary and saves it as the JSON a training run records, so a split can be inspected,
 * shared and reused (`--check` reloads a saved split against the data).
 */
#include "cli/cli.h"

#include "core/status.h"
#include "data/split.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void split_help(void) {
    printf("usage: causeway split DATA.h5ad --out split.json [options]\n"
           "       causeway split DATA.h5ad --check split.json [perturbation flags]\n\n"
           "Splits the perturbed cells into train / val / test (controls stay controls) and\n"
           "saves the split with its kind, seed and options.\n\n"
           "  --kind K              reference (default) | random | unseen-targets |\n"
           "                        unseen-combinations\n"
           "  --seed S              random seed (0)\n"
           "  --heldout A,B,...     reference: targets whose cells are held out (default: the\n"
           "                        spec's 14 Norman targets present, else the up to 14 largest)\n"
           "  --test-cells N        reference: test cells per held-out target (96)\n"
           "  --val-cells N         reference: validation cells per held-out target (64)\n"
           "  --batch-size B        reference: test/val cell counts are multiples of B (32)\n"
           "  --test-fraction F     random: of each perturbation's cells; unseen-targets: of\n"
           "                        targets; unseen-combinations: of combinations\n"
           "  --val-fraction F      the same for validation\n"
           "  --out FILE.json       where to save the split (written atomically)\n"
           "  --check FILE.json     load a saved split, verify it against DATA and summarise it\n" CLI_PERTURB_HELP);
}

int cmd_split(int argc, char **argv) {
    const char *cmd = "split";
    cli_perturb_args pa = {NULL, NULL, {0, NULL}};
    cw_split_kind kind = CW_SPLIT_REFERENCE;
    const char *out = NULL, *check = NULL, *heldout = NULL;
    int64_t test_cells = -1, val_cells = -1, batch = -1;
    double test_frac = -1, val_frac = -1;
    uint64_t seed = 0;
    enum { O_KIND = 256, O_SEED, O_HELD, O_TC, O_VC, O_BS, O_TF, O_VF, O_OUT, O_CHECK };
    static const struct option opts[] = {{"kind", required_argument, 0, O_KIND},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"heldout", required_argument, 0, O_HELD},
                                         {"test-cells", required_argument, 0, O_TC},
                                         {"val-cells", required_argument, 0, O_VC},
                                         {"batch-size", required_argument, 0, O_BS},
                                         {"test-fraction", required_argument, 0, O_TF},
                                         {"val-fraction", required_argument, 0, O_VF},
                                         {"out", required_argument, 0, O_OUT},
                                         {"check", required_argument, 0, O_CHECK},
                                         CLI_PERTURB_LONG_OPTIONS,
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const int64_t BIG = (int64_t)1 << 40;
    optind = 1;
    int c, rc = CLI_EXIT_OK, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = cli_perturb_option(c, optarg, &pa);
        if (r < 0) {
            rc = cli_fail(cmd, CW_ENOMEM);
            bad = 1;
            break;
        }
        if (r) continue;
        switch (c) {
        case 'h': split_help(); cw_strings_free(&pa.controls); return 0;
        case O_KIND:
            if (cw_split_kind_parse(optarg, &kind))
                bad = cli_error(cmd, "--kind: expected reference, random, unseen-targets or "
                                     "unseen-combinations, got '%s'", optarg) != 0;
            break;
        case O_SEED: bad = cli_parse_u64(cmd, "--seed", optarg, &seed); break;
        case O_HELD: heldout = optarg; break;
        case O_TC: bad = cli_parse_i64(cmd, "--test-cells", optarg, 0, BIG, &test_cells); break;
        case O_VC: bad = cli_parse_i64(cmd, "--val-cells", optarg, 0, BIG, &val_cells); break;
        case O_BS: bad = cli_parse_i64(cmd, "--batch-size", optarg, 1, BIG, &batch); break;
        case O_TF: bad = cli_parse_f64(cmd, "--test-fraction", optarg, 0, 1, &test_frac); break;
        case O_VF: bad = cli_parse_f64(cmd, "--val-fraction", optarg, 0, 1, &val_frac); break;
        case O_OUT: out = optarg; break;
        case O_CHECK: check = optarg; break;
        default: bad = 1;
        }
        if (bad) rc = CLI_EXIT_USAGE;
    }
    if (!bad && optind != argc - 1) rc = cli_error(cmd, "expected one DATA.h5ad (see --help)"), bad = 1;
    if (!bad && !out == !check)
        rc = cli_error(cmd, "give exactly one of --out FILE.json and --check FILE.json"), bad = 1;
    if (bad) {
        cw_strings_free(&pa.controls);
        return rc;
    }

    cw_h5ad *h = NULL;
    cw_perturb_design d;
    memset(&d, 0, sizeof d);
    cw_split sp;
    memset(&sp, 0, sizeof sp);
    cw_strings held = {0, NULL};
    cw_status st = cw_h5ad_open(argv[optind], &h);
    if (st == CW_OK) st = cli_perturb_design(h, &pa, &d);
    if (st == CW_OK && check) {
        st = cw_split_load(&sp, &d, check);
    } else if (st == CW_OK) {
        cw_split_opts o;
        cw_split_opts_default(&o, kind);
        o.seed = seed;
        if (test_cells >= 0) o.test_cells = test_cells;
        if (val_cells >= 0) o.val_cells = val_cells;
        if (batch > 0) o.batch_size = batch;
        if (test_frac >= 0) o.test_fraction = test_frac;
        if (val_frac >= 0) o.val_fraction = val_frac;
        if (heldout) { /* comma-separated target names */
            char buf[4096];
            snprintf(buf, sizeof buf, "%s", heldout);
            for (char *tok = strtok(buf, ","); tok && st == CW_OK; tok = strtok(NULL, ","))
                st = cw_strings_push(&held, tok);
            o.heldout = &held;
        }
        if (st == CW_OK && (st = cw_split_make(&sp, &d, &o)) != CW_OK)
            cw_fail_prefix(st, "%s", argv[optind]);
        if (st == CW_OK) st = cw_split_save(&sp, &d, out);
    }
    if (st == CW_OK) {
        char line[1024];
        cw_split_describe(&sp, line, sizeof line);
        printf("%s\n", line);
        if (out) printf("saved %s\n", out);
    } else {
        rc = cli_fail(cmd, st);
    }
    cw_strings_free(&held);
    cw_split_free(&sp);
    cw_perturb_design_free(&d);
    if (h) cw_h5ad_close(h);
    cw_strings_free(&pa.controls);
    return rc;
}
