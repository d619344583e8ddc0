/* batches.h: the one-perturbation-per-batch sampler (spec grace_cmvae.md §2.5) and an
 * evaluation iterator over whole perturbations.
 *
 * Sampler. Eligible cells = perturbed cells whose role equals the requested role (all perturbed
 * cells when role is NULL), optionally only singles or only combinations. Groups = perturbations
 * with eligible cells, in perturbation-id order (never hash order), each holding its eligible
 * cells in file order. Each epoch (cw_sampler_epoch):
 *   1. every group starts again from file order and is shuffled (Fisher-Yates) with the epoch's
 *      rng, groups in id order, so epoch k depends only on the rng given for epoch k (a resumed
 *      run reproduces it without replaying earlier epochs);
 *   2. group g is cut into floor(n_g / B) chunks of B cells; the partial last chunk is dropped
 *      (a group with fewer than B cells contributes nothing);
 *   3. the chunk list (groups in id order, chunks in position order) is shuffled with the same
 *      rng, and batch b = chunk order[b].
 * n_batches = sum over groups of floor(n_g / B). Every batch holds one perturbation, so every
 * row of its intervention matrix c is the same (the graph encoders read c[0], spec §4.5).
 * Memory: everything is allocated by cw_sampler_init; cw_sampler_epoch does not allocate (it
 * returns void and only writes into the arrays made at init), so it can run in the training loop.
 *
 * Evaluation iterator. Yields every group (perturbation in id order) with all its eligible
 * cells in file order: nothing dropped, no randomness.
 */
#ifndef CW_BATCHES_H
#define CW_BATCHES_H

#include "causeway.h"
#include "core/rng.h"
#include "data/perturb.h"
#include "data/split.h"

#include <stdint.h>

typedef enum { CW_PERTS_ALL = 0, CW_PERTS_SINGLES = 1, CW_PERTS_COMBOS = 2 } cw_pert_filter;

#define CW_RNG_STREAM_BATCHES 0x4241544348ull /* "BATCH" */

typedef struct {
    int64_t batch_size;
    int64_t n_groups;     /* perturbations with >= 1 eligible cell */
    int64_t *group_pert;  /* n_groups, ascending */
    int64_t *group_off;   /* n_groups + 1, into cells_file / cells_work */
    int64_t n_cells;      /* eligible cells */
    int64_t *cells_file;  /* eligible cells grouped, file order within a group */
    int64_t *cells_work;  /* the epoch's shuffled copy */
    int64_t n_batches;    /* sum over groups of floor(n_g / B) */
    int64_t *chunk_start; /* n_batches: first position of chunk k in cells_work */
    int64_t *chunk_pert;  /* n_batches: perturbation of chunk k */
    int64_t *order;       /* n_batches: the epoch's chunk permutation */
    int64_t *batch_cells; /* n_batches * B: batch b is batch_cells[b*B .. b*B+B) */
    int64_t *batch_pert;  /* n_batches: perturbation of batch b */
    int64_t epochs;       /* epochs drawn so far */
} cw_sampler;

/* role: per-cell CW_ROLE_* (NULL = every perturbed cell); want_role: CW_ROLE_TRAIN, _VAL or
 * _TEST. On failure *s is zeroed. */
cw_status cw_sampler_init(cw_sampler *s, const cw_perturb_design *d, const int8_t *role,
                          int want_role, cw_pert_filter filter, int64_t batch_size);
/* Draws the next epoch into batch_cells / batch_pert. No allocation. */
void cw_sampler_epoch(cw_sampler *s, cw_rng *rng);
void cw_sampler_free(cw_sampler *s);

static inline const int64_t *cw_sampler_batch(const cw_sampler *s, int64_t b) {
    return s->batch_cells + b * s->batch_size;
}

/* The rng of one epoch of one role's sampler: cw_rng_substream(seed, CW_RNG_STREAM_BATCHES +
 * (role << 48) + epoch). */
void cw_sampler_epoch_rng(cw_rng *r, uint64_t seed, int role, int64_t epoch);

typedef struct {
    int64_t n_groups;
    int64_t *group_pert; /* n_groups, ascending */
    int64_t *group_off;  /* n_groups + 1 */
    int64_t n_cells;
    int64_t *cells; /* grouped, file order */
    int64_t next;   /* next group to yield */
} cw_eval_iter;

cw_status cw_eval_iter_init(cw_eval_iter *it, const cw_perturb_design *d, const int8_t *role,
                            int want_role, cw_pert_filter filter);
/* 1 and the next perturbation with its cells, or 0 at the end. */
int cw_eval_iter_next(cw_eval_iter *it, int64_t *pert, const int64_t **cells, int64_t *n);
void cw_eval_iter_reset(cw_eval_iter *it);
void cw_eval_iter_free(cw_eval_iter *it);

#endif
