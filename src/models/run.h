/* run.h: opening a training run directory (written by models/trainer.c) for the commands that
 * use a trained model: evaluate (and later predict, dag).
 *
 * cw_run_open(dir) reads, in order:
 *   dir/config.json       the run's options (cw_run_read_config: the inverse of trainer.c's
 *                         config_json; the same keys trainer.c's resume requires);
 *   the data file         config "data", or the caller's override (e.g. `evaluate --data`);
 *                         X must be finite; the design is rebuilt with the run's perturbation
 *                         key, control labels and separators, and must have the config's gene
 *                         and target counts and target names;
 *   dir/split.json        cw_split_load against that design (rejects a split of another design);
 *   the pairing           cw_pair_controls(design, run seed): the one training used;
 *   graphs, extra inputs  cw_model_setup with the run's options (graph files, obsm key); the
 *                         graphs must have the fingerprints config.json recorded;
 *   dir/checkpoint.ckpt   the model of the config (kind, sizes, encoders), initialised as
 *                         trainer.c does, then overwritten by the checkpoint.
 * Everything is owned by the cw_run and released by cw_run_close (safe on a zeroed or partly
 * opened run).
 */
#ifndef CW_MODELS_RUN_H
#define CW_MODELS_RUN_H

#include "causeway.h"
#include "core/strings.h"
#include "data/perturb.h"
#include "data/split.h"
#include "io/h5ad.h"
#include "io/xstore.h"
#include "la/matrix.h"
#include "models/cmvae.h"
#include "models/model_setup.h"
#include "models/trainer.h"

#include <stdint.h>

struct json_t; /* jansson */

typedef struct {
    char *dir;
    struct json_t *config; /* config.json; the string fields of opts point into it */
    cw_train_opts opts;    /* the run's options (opts.data_path: the data actually read) */
    cw_strings controls;   /* storage of opts.controls */
    cw_h5ad *h;            /* the open data file */
    cw_xstore x;           /* X, in memory or streamed under the caller's memory cap */
    cw_perturb_design d;
    cw_split split;
    int64_t *pair; /* d.n_cells: paired control cell, -1 for controls */
    cw_cmvae model;
    cw_model_inputs mi; /* graphs and extra inputs the model was built with */
    int64_t epoch, step; /* from the checkpoint: completed epochs, optimiser steps */
} cw_run;

/* Reads the options of a run from its parsed config.json (path only for messages). String
 * fields of o point into j; control labels are pushed onto *controls (o->controls = controls
 * when the config names any). CW_EFORMAT naming the first missing key. */
cw_status cw_run_read_config(const char *path, struct json_t *j, cw_train_opts *o,
                             cw_strings *controls);

/* Opens the run in dir; data_override (NULL = config's "data") replaces the data path. On
 * failure the run is closed (nothing to free). */
cw_status cw_run_open(cw_run *r, const char *dir, const char *data_override);
/* The same with X streamed when it takes more than memory_cap bytes (0 = in memory). */
cw_status cw_run_open_capped(cw_run *r, const char *dir, const char *data_override,
                             int64_t memory_cap);
void cw_run_close(cw_run *r);

/* Writes a JSON value to path atomically (temporary name, then rename), indented. */
cw_status cw_run_write_json(const char *path, struct json_t *j);

/* Extra encoder inputs of the given cells (n rows of r->mi.extra_dim floats); returns out, or
 * NULL when the model takes none. */
const float *cw_run_gather_extra(const cw_run *r, const int64_t *cells, int64_t n, float *out);

#endif
