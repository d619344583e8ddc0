/* checkpoint.h: versioned training checkpoints (issue #3 item 4 "a checkpoint written
 * atomically each epoch, versioned format with a parameter table").
 *
 * File layout (little-endian), format version 1:
 *   "CWCKPT\n\0"                     8-byte magic
 *   uint32 version, uint32 0         format version, reserved
 *   uint64 header_len, header        a JSON object: format_version, model, config (the run's
 *                                    JSON config, verbatim), seed, epoch, step, rng (state),
 *                                    dtype "float32", total, params [{name, rows, cols, offset}]
 *   3 x total float32                parameters, Adam m, Adam v (the param table's layout)
 *   uint64 FNV-1a 64 of all bytes before it
 * Written to "<path>.tmp-<pid>", flushed, fsync'ed and renamed: a crash leaves the previous
 * checkpoint intact. Loading checks magic, version, checksum, and that the stored parameter
 * table equals the model's (names, shapes, order), naming the first difference.
 */
#ifndef CW_CHECKPOINT_H
#define CW_CHECKPOINT_H

#include "causeway.h"
#include "core/rng.h"
#include "models/params.h"

#include <stdint.h>

#define CW_CHECKPOINT_VERSION 1

typedef struct {
    char *model;       /* "cmvae", ... */
    char *config_json; /* the run's config, verbatim */
    uint64_t seed;
    int64_t epoch, step; /* completed epochs and optimiser steps */
    cw_rng rng;          /* the training stream's state, so a resumed run continues it */
} cw_ckpt_meta;

void cw_ckpt_meta_free(cw_ckpt_meta *m);

/* Saves params, m and v of t with meta (model and config_json must be set). */
cw_status cw_checkpoint_save(const char *path, const cw_param_table *t, const cw_ckpt_meta *meta);
/* Reads only the header: model, config, seed, epoch, step, rng (to rebuild the model). */
cw_status cw_checkpoint_peek(const char *path, cw_ckpt_meta *meta);
/* Loads into t, which must already have the checkpoint's layout; meta may be NULL. */
cw_status cw_checkpoint_load(const char *path, cw_param_table *t, cw_ckpt_meta *meta);

#endif
