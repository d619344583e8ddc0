/* trainer.h: training a model on a perturbation dataset end to end (issue #3 item 4; spec
 * grace_cmvae.md §2.4-2.5 data, §5.3-5.4 schedules and loop): reads the .h5ad, builds the
 * design, makes (or loads) the split, pairs controls, samples one-perturbation batches of
 * single-perturbation training cells (X in memory or streamed, io/xstore.h; the controls as CSR
 * for the models whose first layer reads sparse x, cw_cmvae_set_x_csr), runs the model's train
 * step, logs every epoch to
 * RUN_DIR/train_log.jsonl and writes RUN_DIR/checkpoint.ckpt atomically after every epoch.
 *
 * Run directory: config.json (every option, the seed, the target names: what `evaluate`,
 * `predict` and `dag` read), split.json, checkpoint.ckpt, train_log.jsonl.
 * Determinism: the model is initialised from substream "model" of the seed, batches of epoch e
 * from the sampler's (seed, e) stream, reparameterisation noise from the training stream whose
 * state the checkpoint stores, so `--resume` after any completed epoch ends bit-identical to an
 * uninterrupted run.
 */
#ifndef CW_TRAINER_H
#define CW_TRAINER_H

#include "causeway.h"
#include "core/strings.h"
#include "data/graph_h5ad.h"
#include "data/split.h"

#include <stdint.h>

typedef struct {
    const char *data_path;
    const char *out_dir;
    const char *model;           /* cmvae, grace, vgae, multihot, sena (models/cmvae.h) */
    const char *gnn;             /* grace, vgae: sage, gcn, gat */
    int gnn_layers;              /* 1.. */
    int64_t gnn_widths[7];       /* hidden layer widths per head (0 = default 4, 8, 8, ...) */
    int64_t gnn_heads;           /* GAT heads of the hidden layers; 0 = default 4 */
    const char *interv_encoder;  /* mlp, trivalue, trivalue-1hop, dropedge */
    double interv_dropout;       /* < 0 = the encoder's default */
    double lambda_laplacian;     /* < 0 = model default: 1e-4 for vgae and graph encoders, else 0 */
    const char *extra_obsm;      /* obsm key of extra per-cell encoder inputs, NULL = none */
    int64_t sena_free_units;     /* sena */
    double sena_lambda;
    int64_t sena_min_genes;
    cw_graph_files graph;        /* context graph files and options (graph.seed: see graph_seed_set) */
    int graph_seed_set;          /* 0: the graph seed is the run seed */
    const char *perturbation_key; /* NULL = default keys */
    const cw_strings *controls;  /* NULL = default control labels */
    const char *separators;      /* NULL = ",+" */
    cw_split_kind split_kind;
    const char *split_file; /* use this saved split instead of making one */
    int64_t test_cells, val_cells; /* reference split; -1 = defaults */
    double test_fraction, val_fraction; /* other kinds; -1 = defaults */
    uint64_t seed;
    int64_t epochs, batch, latent, hidden; /* latent 0 = number of targets */
    double lr, alpha, beta, temp, lambda, grad_clamp;
    int64_t stop_after; /* stop after this many completed epochs (0 = run all); resumable */
    int threads;        /* 0 = OpenMP default */
    int64_t memory_cap; /* bytes X may take (io/xstore.h); 0 = all of X in memory. Not part of the
                           run's config: results do not depend on it */
    int progress_tty;   /* draw a progress bar on stderr */
    int quiet;          /* no per-epoch lines */
} cw_train_opts;

void cw_train_opts_default(cw_train_opts *o);
/* A fresh run into o->out_dir (created if missing). */
cw_status cw_train(const cw_train_opts *o);
/* Continues the run in dir from its last checkpoint, with the options in dir/config.json. */
cw_status cw_train_resume(const char *dir, int64_t stop_after, int progress_tty, int quiet,
                          int64_t memory_cap);

#endif
