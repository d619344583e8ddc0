/* cmd_train.c: `causeway train DATA.h5ad --model M --out RUN_DIR [options]` and
 * `causeway train --resume RUN_DIR` (issue #3 item 4, issue #4 items 2-7); the loop is
 * models/trainer.c, the models models/cmvae.h. */
#include "cli/cli.h"

#include "core/status.h"
#include "cli/cmd_train.h"
#include "models/cmvae.h"
#include "models/trainer.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

/* --gnn-widths "4,8": up to CW_GNN_MAX_LAYERS - 1 positive integers */
static int parse_widths(const char *cmd, const char *arg, int64_t *w) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", arg);
    int n = 0;
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (n == CW_GNN_MAX_LAYERS - 1)
            return cli_error(cmd, "--gnn-widths: at most %d widths", CW_GNN_MAX_LAYERS - 1) != 0;
        if (cli_parse_i64(cmd, "--gnn-widths", t, 1, 4096, &w[n])) return 1;
        n++;
    }
    if (n == 0) return cli_error(cmd, "--gnn-widths: expected W1,W2,..., got '%s'", arg) != 0;
    return 0;
}

static void train_help(void) {
    cw_train_opts d;
    cw_train_opts_default(&d);
    printf("usage: causeway train DATA.h5ad --out RUN_DIR [options]\n"
           "       causeway train --resume RUN_DIR\n\n"
           "Trains on the single-perturbation training cells of a split, one perturbation per\n"
           "batch, each paired with a random control; writes RUN_DIR/{config.json, split.json,\n"
           "train_log.jsonl, checkpoint.ckpt} (the checkpoint after every epoch).\n\n"
           "  --model M            cmvae | grace | vgae | multihot | sena (%s); doc/models.md\n"
           "  --epochs E           (%lld)\n"
           "  --batch-size B       (%lld)\n"
           "  --lr LR              Adam learning rate (%g)\n"
           "  --latent-dim Z       latent programs (default: the number of targets)\n"
           "  --hidden H           hidden units (%lld)\n"
           "  --alpha A            max MMD weight (%g), ramped per spec §5.3\n"
           "  --beta B             max KL weight (%g)\n"
           "  --temp T             max softmax inverse temperature (%g)\n"
           "  --lambda L           L1 weight on the DAG (%g)\n"
           "  --grad-clamp C       clamp every gradient element to [-C, C]; 0 = off (%g)\n"
           "  --split K            reference | random | unseen-targets | unseen-combinations\n"
           "  --split-file F.json  use a split saved by `causeway split`\n"
           "  --test-cells N --val-cells N   reference split sizes (96, 64)\n"
           "  --test-fraction F --val-fraction F   other split kinds\n"
           "  --seed S             seed of split, pairing, initialisation, batches, noise (0)\n"
           "  --threads N          OpenMP/OpenBLAS threads (0 = all cores)\n"
           "  --stop-after N       stop after N completed epochs (resume later with --resume)\n"
           "  --memory-cap SIZE    stream X from the file when it takes more than SIZE (4G,\n"
           "                       512M); results are identical, see doc/PERFORMANCE.md\n"
           "  --quiet              no per-epoch lines\n"
           "Graph-aware models (grace, vgae: GNN encoder; multihot, sena: pathway membership;\n"
           "graph intervention encoders and the Laplacian term: the PPI graph):\n"
           "  --gnn K              sage | gcn | gat (sage)\n"
           "  --gnn-layers L       message-passing layers (1); ReLU between layers\n"
           "  --gnn-widths W1,W2   per-head widths of the hidden layers (4,8,8,...)\n"
           "  --gnn-heads K        GAT heads of the hidden layers (4)\n"
           "  --interv-encoder E   mlp | trivalue | trivalue-1hop | dropedge (mlp)\n"
           "  --interv-dropout P   dropout of the graph intervention encoders (0.1 tri-value,\n"
           "                       0 dropedge)\n"
           "  --lambda-laplacian L weight of the decoder's Laplacian smoothness over PPI edges\n"
           "                       (1e-4 for vgae and the graph intervention encoders, else 0)\n"
           "  --extra-input-obsm K append obsm K of the paired control to the encoder input\n"
           "  --sena-free-units N  sena: unmasked first-layer units (8)\n"
           "  --sena-lambda L      sena: mask value for genes outside a pathway (0)\n"
           "  --sena-min-genes N   sena: pathways with fewer data genes are left out (5)\n"
           CLI_GRAPH_HELP "  (--graph-seed defaults to --seed)\n" CLI_PERTURB_HELP,
           d.model, (long long)d.epochs, (long long)d.batch, d.lr, (long long)d.hidden, d.alpha,
           d.beta, d.temp, d.lambda, d.grad_clamp);
}

void cli_train_args_free(cli_train_args *t) { cw_strings_free(&t->pa.controls); }

int cli_train_parse(const char *cmd, int argc, char **argv, int ablate, cli_train_args *t,
                    void (*help)(void)) {
    memset(t, 0, sizeof *t);
    cw_train_opts_default(&t->o);
    cw_train_opts *op = &t->o;
    int64_t v;
    enum {
        O_MODEL = 256, O_OUT, O_EPOCHS, O_BATCH, O_LR, O_LAT, O_HID, O_ALPHA, O_BETA, O_TEMP,
        O_LAMBDA, O_CLAMP, O_SPLIT, O_SPLITF, O_TC, O_VC, O_TF, O_VF, O_SEED, O_THREADS, O_STOP,
        O_QUIET, O_MEMCAP, O_RESUME, O_GNN, O_GNNL, O_GNNW, O_GNNH, O_IV, O_IVD, O_LAP, O_EXTRA, O_SFREE,
        O_SLAMBDA, O_SMIN, O_SEEDS, O_VARIANTS
    };
    static const struct option opts[] = {
        {"model", required_argument, 0, O_MODEL},       {"out", required_argument, 0, O_OUT},
        {"epochs", required_argument, 0, O_EPOCHS},     {"batch-size", required_argument, 0, O_BATCH},
        {"lr", required_argument, 0, O_LR},             {"latent-dim", required_argument, 0, O_LAT},
        {"hidden", required_argument, 0, O_HID},        {"alpha", required_argument, 0, O_ALPHA},
        {"beta", required_argument, 0, O_BETA},         {"temp", required_argument, 0, O_TEMP},
        {"lambda", required_argument, 0, O_LAMBDA},     {"grad-clamp", required_argument, 0, O_CLAMP},
        {"split", required_argument, 0, O_SPLIT},       {"split-file", required_argument, 0, O_SPLITF},
        {"test-cells", required_argument, 0, O_TC},     {"val-cells", required_argument, 0, O_VC},
        {"test-fraction", required_argument, 0, O_TF},  {"val-fraction", required_argument, 0, O_VF},
        {"seed", required_argument, 0, O_SEED},         {"threads", required_argument, 0, O_THREADS},
        {"stop-after", required_argument, 0, O_STOP},   {"quiet", no_argument, 0, O_QUIET},
        {"memory-cap", required_argument, 0, O_MEMCAP},
        {"resume", required_argument, 0, O_RESUME},     CLI_PERTURB_LONG_OPTIONS,
        {"gnn", required_argument, 0, O_GNN},           {"gnn-layers", required_argument, 0, O_GNNL},
        {"gnn-widths", required_argument, 0, O_GNNW},   {"gnn-heads", required_argument, 0, O_GNNH},
        {"interv-encoder", required_argument, 0, O_IV}, {"interv-dropout", required_argument, 0, O_IVD},
        {"lambda-laplacian", required_argument, 0, O_LAP},
        {"extra-input-obsm", required_argument, 0, O_EXTRA},
        {"sena-free-units", required_argument, 0, O_SFREE},
        {"sena-lambda", required_argument, 0, O_SLAMBDA},
        {"sena-min-genes", required_argument, 0, O_SMIN}, CLI_GRAPH_LONG_OPTIONS,
        {"seeds", required_argument, 0, O_SEEDS},       {"variants", required_argument, 0, O_VARIANTS},
        {"help", no_argument, 0, 'h'},                  {0, 0, 0, 0}};
    const int64_t BIG = (int64_t)1 << 40;
    optind = 1;
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = cli_perturb_option(c, optarg, &t->pa);
        if (r < 0) return cli_fail(cmd, CW_ENOMEM);
        if (r) continue;
        r = cli_graph_option(cmd, c, optarg, &t->ga);
        if (r) {
            bad = r < 0;
            continue;
        }
        if (!ablate && (c == O_SEEDS || c == O_VARIANTS))
            return cli_error(cmd, "--seeds and --variants belong to `causeway ablate`");
        if (ablate && (c == O_RESUME || c == O_STOP || c == O_MODEL || c == O_SEED))
            return cli_error(cmd, "ablate: --model, --seed, --resume and --stop-after are set per "
                                  "run (see --help)");
        switch (c) {
        case 'h': help(); t->help = 1; return 0;
        case O_MODEL:
            op->model = optarg;
            if (cw_model_kind_parse(optarg) < 0)
                bad = cli_error(cmd, "--model: expected cmvae, grace, vgae, multihot or sena, got "
                                     "'%s'", optarg) != 0;
            break;
        case O_GNN:
            op->gnn = optarg;
            if (cw_gnn_kind_parse(optarg) < 0)
                bad = cli_error(cmd, "--gnn: expected sage, gcn or gat, got '%s'", optarg) != 0;
            break;
        case O_GNNL:
            bad = cli_parse_i64(cmd, "--gnn-layers", optarg, 1, CW_GNN_MAX_LAYERS, &v);
            op->gnn_layers = (int)v;
            break;
        case O_GNNW: bad = parse_widths(cmd, optarg, op->gnn_widths); break;
        case O_GNNH: bad = cli_parse_i64(cmd, "--gnn-heads", optarg, 1, 64, &op->gnn_heads); break;
        case O_IV:
            op->interv_encoder = optarg;
            if (cw_interv_kind_parse(optarg) < 0)
                bad = cli_error(cmd, "--interv-encoder: expected mlp, trivalue, trivalue-1hop or "
                                     "dropedge, got '%s'", optarg) != 0;
            break;
        case O_IVD: bad = cli_parse_f64(cmd, "--interv-dropout", optarg, 0, 0.99, &op->interv_dropout); break;
        case O_LAP: bad = cli_parse_f64(cmd, "--lambda-laplacian", optarg, 0, 1e9, &op->lambda_laplacian); break;
        case O_EXTRA: op->extra_obsm = optarg; break;
        case O_SFREE: bad = cli_parse_i64(cmd, "--sena-free-units", optarg, 0, 100000, &op->sena_free_units); break;
        case O_SLAMBDA: bad = cli_parse_f64(cmd, "--sena-lambda", optarg, 0, 1, &op->sena_lambda); break;
        case O_SMIN: bad = cli_parse_i64(cmd, "--sena-min-genes", optarg, 1, 1000000, &op->sena_min_genes); break;
        case O_OUT: op->out_dir = optarg; break;
        case O_EPOCHS: bad = cli_parse_i64(cmd, "--epochs", optarg, 1, 1000000, &op->epochs); break;
        case O_BATCH: bad = cli_parse_i64(cmd, "--batch-size", optarg, 2, 1 << 20, &op->batch); break;
        case O_LR: bad = cli_parse_f64(cmd, "--lr", optarg, 1e-12, 10, &op->lr); break;
        case O_LAT: bad = cli_parse_i64(cmd, "--latent-dim", optarg, 1, 100000, &op->latent); break;
        case O_HID: bad = cli_parse_i64(cmd, "--hidden", optarg, 1, 100000, &op->hidden); break;
        case O_ALPHA: bad = cli_parse_f64(cmd, "--alpha", optarg, 0, 1e9, &op->alpha); break;
        case O_BETA: bad = cli_parse_f64(cmd, "--beta", optarg, 0, 1e9, &op->beta); break;
        case O_TEMP: bad = cli_parse_f64(cmd, "--temp", optarg, 1e-6, 1e9, &op->temp); break;
        case O_LAMBDA: bad = cli_parse_f64(cmd, "--lambda", optarg, 0, 1e9, &op->lambda); break;
        case O_CLAMP: bad = cli_parse_f64(cmd, "--grad-clamp", optarg, 0, 1e9, &op->grad_clamp); break;
        case O_SPLIT:
            if (cw_split_kind_parse(optarg, &op->split_kind))
                bad = cli_error(cmd, "--split: expected reference, random, unseen-targets or "
                                     "unseen-combinations, got '%s'", optarg) != 0;
            break;
        case O_SPLITF: op->split_file = optarg; break;
        case O_TC: bad = cli_parse_i64(cmd, "--test-cells", optarg, 0, BIG, &op->test_cells); break;
        case O_VC: bad = cli_parse_i64(cmd, "--val-cells", optarg, 0, BIG, &op->val_cells); break;
        case O_TF: bad = cli_parse_f64(cmd, "--test-fraction", optarg, 0, 1, &op->test_fraction); break;
        case O_VF: bad = cli_parse_f64(cmd, "--val-fraction", optarg, 0, 1, &op->val_fraction); break;
        case O_SEED: bad = cli_parse_u64(cmd, "--seed", optarg, &op->seed); break;
        case O_THREADS:
            bad = cli_parse_i64(cmd, "--threads", optarg, 0, 4096, &v);
            op->threads = (int)v;
            break;
        case O_STOP: bad = cli_parse_i64(cmd, "--stop-after", optarg, 1, 1000000, &op->stop_after); break;
        case O_QUIET: op->quiet = 1; break;
        case O_MEMCAP:
            bad = cli_parse_size(cmd, "--memory-cap", optarg, &op->memory_cap);
            break;
        case O_RESUME: t->resume = optarg; break;
        case O_SEEDS: t->seeds = optarg; break;
        case O_VARIANTS: t->variants = optarg; break;
        default: bad = 1;
        }
    }
    if (bad) return CLI_EXIT_USAGE;
    op->perturbation_key = t->pa.key;
    op->separators = t->pa.separators;
    op->controls = t->pa.controls.n ? &t->pa.controls : NULL;
    op->graph.gmt = t->ga.gmt;
    op->graph.relations = t->ga.relations;
    op->graph.ppi = t->ga.ppi;
    op->graph.gene_column = t->ga.gene_column;
    op->graph.levels = t->ga.levels;
    op->graph.involved_only = t->ga.involved_only;
    op->graph.corrupt_fraction = t->ga.corrupt;
    op->graph.seed = t->ga.seed;
    op->graph_seed_set = t->ga.seed_set;
    return 0;
}

int cmd_train(int argc, char **argv) {
    const char *cmd = "train";
    cli_train_args t;
    int rc = cli_train_parse(cmd, argc, argv, 0, &t, train_help);
    if (rc || t.help) {
        cli_train_args_free(&t);
        return rc;
    }
    cw_train_opts *o = &t.o;
    cw_status st = CW_OK;
    rc = CLI_EXIT_USAGE;
    o->progress_tty = cli_stderr_is_tty() && !o->quiet;
    if (t.resume) {
        if (optind < argc) rc = cli_error(cmd, "--resume takes only the run directory");
        else
            st = cw_train_resume(t.resume, o->stop_after, o->progress_tty, o->quiet,
                                 o->memory_cap),
            rc = -1;
    } else if (optind != argc - 1) {
        rc = cli_error(cmd, "expected one DATA.h5ad (see --help)");
    } else if (!o->out_dir) {
        rc = cli_error(cmd, "--out RUN_DIR is required");
    } else {
        o->data_path = argv[optind];
        st = cw_train(o);
        rc = -1;
    }
    if (rc == -1) rc = st ? cli_fail(cmd, st) : CLI_EXIT_OK;
    cli_train_args_free(&t);
    return rc;
}
