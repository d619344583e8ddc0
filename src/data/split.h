/* split.h: train / validation / test splits of a perturbation design, seeded, saved and loaded
 * as JSON so a run can be reproduced exactly.
 *
 * Implements spec grace_cmvae.md §2.4 (kind "reference") and three generalisations for other
 * datasets. Every cell gets one role: controls are always CW_ROLE_CONTROL (never train, val or
 * test: they are the pairing pool, §2.5); every perturbed cell is train, val or test.
 *
 * Kinds (defaults in cw_split_opts_default):
 *   reference            §2.4. Held-out targets: the user's list, else the spec's 14 targets
 *                        that are single perturbations with >= test+val+1 cells, else (none of
 *                        them qualifies) the up to 14 singles with the most cells among those
 *                        with >= test+val+1 cells (ties: target order). For each held-out
 *                        target the first `test_cells` cells of its single perturbation in file
 *                        order go to test, the next `val_cells` to val, the rest train; both
 *                        counts are rounded down to a multiple of batch_size (96, 64 at B=32).
 *                        Every other single cell trains. Combination cells are test only.
 *                        No random draws.
 *   random               Each single perturbation sends round(test_fraction*n) random cells to
 *                        test, round(val_fraction*n) to val, the rest train. Combinations test.
 *   unseen-targets       max(1, round(test_fraction*T)) random targets (T = targets that have a
 *                        single perturbation) are held out: their single cells go to test; if
 *                        val_fraction > 0, max(1, round(val_fraction*T)) further targets go to
 *                        val. At least one target must stay in training. Combinations test.
 *   unseen-combinations  max(1, round(test_fraction*C)) random combinations (C = number of
 *                        combinations) go to test, the others train. Each single perturbation
 *                        sends round(val_fraction*n) random cells to val, the rest train.
 * Randomness: one stream cw_rng_substream(seed, CW_RNG_STREAM_SPLIT); draws are made in
 * perturbation-id order (random: one shuffle of each single's file-ordered cells; unseen-targets:
 * one shuffle of the candidate targets in target order; unseen-combinations: one shuffle of the
 * combination ids, then one shuffle per single).
 *
 * A target is "seen" when its single perturbation has training cells; per perturbation the split
 * records how many of its targets are seen (GEARS' combo_seen0/1/2 for the test combinations).
 *
 * JSON file (written atomically): format, version, kind, seed, options, the chosen target /
 * combination lists, a description of the design it was made for (cell count, control count,
 * key, separators, control labels, targets, perturbation labels, a fingerprint of the per-cell
 * perturbation ids), a summary, and the cell indices per role. Loading trusts the cell lists (a
 * hand-made split loads too) and rejects a file made for another design.
 */
#ifndef CW_SPLIT_H
#define CW_SPLIT_H

#include "causeway.h"
#include "core/strings.h"
#include "data/perturb.h"

#include <stdint.h>

enum { CW_ROLE_TRAIN = 0, CW_ROLE_VAL = 1, CW_ROLE_TEST = 2, CW_ROLE_CONTROL = 3, CW_N_ROLES = 4 };

typedef enum {
    CW_SPLIT_REFERENCE = 0,
    CW_SPLIT_RANDOM = 1,
    CW_SPLIT_UNSEEN_TARGETS = 2,
    CW_SPLIT_UNSEEN_COMBINATIONS = 3
} cw_split_kind;

#define CW_RNG_STREAM_SPLIT 0x53504C4954ull /* "SPLIT" */
#define CW_N_REFERENCE_TARGETS 14
/* The spec's 14 held-out norman targets (§2.4), in the spec's order. */
extern const char *const cw_reference_targets[CW_N_REFERENCE_TARGETS];

typedef struct {
    cw_split_kind kind;
    uint64_t seed;
    int64_t batch_size;        /* reference: test/val cells are multiples of it (32) */
    int64_t test_cells;        /* reference: 96 */
    int64_t val_cells;         /* reference: 64 (0 = no validation cells) */
    const cw_strings *heldout; /* reference: held-out targets; NULL = the default rule */
    double test_fraction;      /* random 0.1; unseen-targets 0.2; unseen-combinations 0.5 */
    double val_fraction;       /* random 0.1; unseen-targets 0.1; unseen-combinations 0.1 */
} cw_split_opts;

typedef struct {
    int64_t cells[CW_N_ROLES];        /* cells per role */
    int64_t single_cells[CW_N_ROLES]; /* of which in single perturbations */
    int64_t combo_cells[CW_N_ROLES];  /* of which in combinations */
    int64_t perts[CW_N_ROLES];        /* perturbations with >= 1 cell in the role */
    int64_t single_perts[CW_N_ROLES];
    int64_t combo_perts[CW_N_ROLES];
    int64_t test_combos_by_seen[3]; /* combinations with test cells, by seen targets 0, 1, >=2 */
} cw_split_summary;

typedef struct {
    cw_split_opts opts; /* effective options (test/val cells after rounding); opts.heldout NULL */
    int64_t n_cells;
    int8_t *role;            /* n_cells, CW_ROLE_* */
    cw_strings heldout;      /* reference: the held-out targets, target order */
    cw_strings test_targets; /* unseen-targets: targets held out to test, target order */
    cw_strings val_targets;  /* unseen-targets: targets held out to val, target order */
    cw_strings test_combos;  /* unseen-combinations: canonical labels, perturbation order */
    int64_t n_perts;
    int64_t *pert_seen; /* n_perts: how many targets of p are seen (single has train cells) */
    cw_split_summary summary;
} cw_split;

const char *cw_role_name(int role);                 /* "train", "val", "test", "control" */
const char *cw_split_kind_name(cw_split_kind kind); /* "reference", "random", ... */
cw_status cw_split_kind_parse(const char *name, cw_split_kind *kind);
void cw_split_opts_default(cw_split_opts *o, cw_split_kind kind);

/* Makes the split; on failure *out is zeroed. */
cw_status cw_split_make(cw_split *out, const cw_perturb_design *d, const cw_split_opts *o);
void cw_split_free(cw_split *s);

/* Cells with the given role in file order into out (NULL to count only); returns the count. */
int64_t cw_split_role_cells(const cw_split *s, int role, int64_t *out);
/* One line: "reference split (seed 0): train 55591 cells in 105 perturbations, ...". */
void cw_split_describe(const cw_split *s, char *buf, size_t cap);

cw_status cw_split_save(const cw_split *s, const cw_perturb_design *d, const char *path);
/* Loads a split and checks it against d (cell count, controls, targets, perturbation labels,
 * per-cell fingerprint, every cell exactly once, controls only as controls). */
cw_status cw_split_load(cw_split *out, const cw_perturb_design *d, const char *path);

#endif
