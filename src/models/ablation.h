/* ablation.h: the GraCE-VAE ablation table (issue #4 item 9; the paper's Tables 3-6): every
 * model and variant of the family trained and evaluated over several seeds on one dataset and
 * one set of graph files, summarised as mean +- population std (spec §6.4) of the single and
 * combination metrics beside the control and additive baselines.
 *
 * Variants (cw_ablation_variants): cmvae, multihot, vgae, sena, grace-sage (the main model),
 * grace-gcn, grace-gat, grace-gat3 (3 layers, widths 4, 8, 4 heads), the graph levels gg,
 * gg+pg, gg+pg+pp with 1-layer GAT on involved pathways (the paper's modes 3, 4, 6), grace-sage on a 50 %
 * corrupted graph, and the intervention encoders trivalue, trivalue-1hop, dropedge (mlp is the
 * grace-sage row). Every run is RUN_ROOT/<variant>/seed<S> (a finished run, one with
 * metrics.json, is evaluated again but not retrained), so an interrupted table resumes.
 * Outputs: RUN_ROOT/ablation.tsv (variant, group, metric, mean, std, seeds; written to a
 * temporary name then renamed) and a readable table on stdout.
 */
#ifndef CW_MODELS_ABLATION_H
#define CW_MODELS_ABLATION_H

#include "causeway.h"
#include "models/trainer.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    const char *name;     /* row label and directory name */
    const char *what;     /* one line */
    const char *model, *gnn;
    int gnn_layers;
    int64_t widths[2], heads;
    const char *levels;   /* NULL = the files' full graph */
    int involved_only;
    double corrupt;
    const char *interv;
} cw_ablation_variant;

/* the table's rows in order; *n receives their number */
const cw_ablation_variant *cw_ablation_variants(int *n);

typedef struct {
    const cw_train_opts *base; /* data, graph files, hyperparameters, split; seed and out ignored */
    const char *root;          /* RUN_ROOT */
    const uint64_t *seeds;
    int n_seeds;
    const char *only;          /* comma-separated variant names, NULL = all */
    int quiet;                 /* no per-run lines */
} cw_ablation_opts;

cw_status cw_ablation_run(const cw_ablation_opts *o, FILE *table);

#endif
