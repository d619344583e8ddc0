/* perturb.h: the perturbation design of a Perturb-seq dataset, built from one label per cell.
 *
 * Implements spec grace_cmvae.md §2.3 (control vs perturbed, targets, intervention vectors),
 * generalised beyond norman's `guide_ids` to the label conventions of other datasets.
 *
 * Label rules (the whole rule set; see README "Perturbation labels"):
 *   - A label that equals a control label exactly (whole label, case-sensitive) is a control.
 *     Default control labels: "", "ctrl", "control", "non-targeting"; --control replaces them.
 *   - Otherwise the label is split on any separator character (default ',' and '+'), each token
 *     is trimmed of white space, and empty tokens are dropped. A token equal to "ctrl" or to a
 *     control label is a control token and is dropped ("A+ctrl" is the single A, GEARS style).
 *     A label with tokens that are all control tokens ("ctrl+ctrl") is a control.
 *   - A label without any token that is not itself a control label ("", " ", "+" when "" is not
 *     a control label) is an error, as is a missing label (NULL, categorical code -1).
 *   - Repeated tokens count once ("A,A" is the single A). A perturbation is the *set* of its
 *     targets: "A,B", "B+A" and "A, B" are the same perturbation.
 * Targets are the unique non-control tokens sorted by strcmp. Perturbations are ordered
 * singles first, by target index, then combinations (>= 2 targets) lexicographically by their
 * ascending target-index tuple. Both orders depend only on the set of labels, never on file
 * order, hashing or locale. A perturbation's canonical label is its targets, in target order,
 * joined by ',' ("B+A" -> "A,B"). Cell lists are in file order.
 *
 * Errors name the source and field given in the options: "data.h5ad: /obs/guide_ids: ...".
 */
#ifndef CW_PERTURB_H
#define CW_PERTURB_H

#include "causeway.h"
#include "core/strings.h"

#include <stdint.h>

/* The obs columns tried, in order, when no perturbation key is given. */
#define CW_PERTURB_DEFAULT_KEYS                                                                    \
    { "guide_ids", "perturbation", "condition", "gene" }
#define CW_PERTURB_N_DEFAULT_KEYS 4
/* Default control labels (whole-label, case-sensitive matches). */
#define CW_PERTURB_DEFAULT_CONTROLS                                                                \
    { "", "ctrl", "control", "non-targeting" }
#define CW_PERTURB_N_DEFAULT_CONTROLS 4
#define CW_PERTURB_DEFAULT_SEPARATORS ",+"

typedef struct {
    const char *source;           /* file name for messages ("data.h5ad"); NULL = none */
    const char *field;            /* e.g. "/obs/guide_ids"; NULL = "/obs/<key>" or none */
    const char *key;              /* the obs column the labels came from (recorded); may be NULL */
    const cw_strings *controls;   /* user control labels (--control); NULL = the defaults */
    const char *separators;       /* separator characters; NULL = ",+"; "" = never split */
    const cw_strings *declared;   /* declared labels (categories of a categorical column):
                                     a non-control one that no cell uses is an error; NULL = none */
    const cw_strings *cell_names; /* obs_names, only for messages; NULL = none */
} cw_perturb_opts;

typedef struct {
    int64_t n_cells;
    /* targets: sorted (strcmp) unique target names */
    int64_t n_targets;
    cw_strings targets;
    /* perturbations: ids [0, n_singles) are singles, [n_singles, n_perts) combinations */
    int64_t n_perts, n_singles;
    cw_strings labels;         /* canonical label per perturbation (targets joined by ',') */
    int64_t *target_off;       /* n_perts + 1; targets of p: pert_targets[target_off[p] ..) */
    int64_t *pert_targets;     /* ascending target indices */
    int64_t *cell_off;         /* n_perts + 1; cells of p: pert_cells[cell_off[p] ..) */
    int64_t *pert_cells;       /* cell indices, file order within each perturbation */
    int64_t *cell_pert;        /* n_cells: perturbation id, -1 = control */
    int64_t *single_of_target; /* n_targets: id of the single perturbation {t}, or -1 */
    int64_t n_controls;
    int64_t *control_cells; /* file order */
    int64_t max_order;      /* most targets in one perturbation */
    /* the options in effect (owned copies), recorded with splits and runs */
    char *key; /* "" when not given */
    char *separators;
    cw_strings control_labels;
} cw_perturb_design;

/* Fills the defaults: everything NULL (default keys, controls, separators). */
void cw_perturb_opts_default(cw_perturb_opts *o);

/* Chooses the perturbation column among `columns` (obs column names): `requested` when given
 * (CW_ENOTFOUND when absent), else the first present of guide_ids, perturbation, condition,
 * gene. *key points into columns. `source` names the file in messages (may be NULL). */
cw_status cw_perturb_choose_key(const cw_strings *columns, const char *requested,
                                const char *source, const char **key);

/* Builds the design from one label per cell. On failure *out is zeroed (nothing to free). */
cw_status cw_perturb_design_build(cw_perturb_design *out, const cw_strings *labels,
                                  const cw_perturb_opts *opts);
void cw_perturb_design_free(cw_perturb_design *d);

/* Perturbation id of a label in any spelling ("B+A" finds "A,B"), using the design's
 * separators and control labels; -1 when the label is a control or not a perturbation of the
 * design. */
int64_t cw_perturb_find(const cw_perturb_design *d, const char *label);
/* 1 when the label would be read as a control by this design. */
int cw_perturb_label_is_control(const cw_perturb_design *d, const char *label);
/* Index of a target name (exact), or -1. */
int64_t cw_perturb_target(const cw_perturb_design *d, const char *name);
/* c (n_targets floats): c[t] = 1 iff t is a target of p; p = -1 (control) gives zeros. */
void cw_perturb_intervention(const cw_perturb_design *d, int64_t p, float *c);

static inline int64_t cw_perturb_n_cells(const cw_perturb_design *d, int64_t p) {
    return d->cell_off[p + 1] - d->cell_off[p];
}
static inline const int64_t *cw_perturb_cells(const cw_perturb_design *d, int64_t p) {
    return d->pert_cells + d->cell_off[p];
}
static inline int64_t cw_perturb_order(const cw_perturb_design *d, int64_t p) {
    return d->target_off[p + 1] - d->target_off[p];
}
static inline const int64_t *cw_perturb_targets_of(const cw_perturb_design *d, int64_t p) {
    return d->pert_targets + d->target_off[p];
}

#endif
