/* deg_select.h: the DEG columns S of one perturbation, from the rank_genes_groups table of the
 * data file (io/h5ad.h cw_deg_table) or computed from the data when the file has none.
 * Spec grace_cmvae.md §6.2 (DEG selection) and §8.3 item 5 (its known issue).
 *
 * Matching rules (cw_deg_match):
 *   CW_DEG_MATCH_SUBSTRING  the reference's rule, exactly: scan the table's groups in stored
 *       order and take the FIRST group whose name contains every target as a substring (one
 *       target for a single, both for a double). Its pitfalls are kept on purpose: "KLF1" matches
 *       a "KLF10" group, and a double group stored before the single's own group wins
 *       ("A549_AHR+KLF1_1+1" before "A549_KLF1+ctrl_1+1"). Unlike the reference, which silently
 *       reuses the previous intervention's list when nothing matches, we return CW_ENOTFOUND so
 *       the caller decides (skip, compute DEGs, or reuse deliberately).
 *   CW_DEG_MATCH_EXACT  our recommended rule: the first group whose name, read as a set of
 *       targets, equals the perturbation's target set. A name is split on ',' and '+', tokens are
 *       trimmed of white space, empty tokens and "ctrl" tokens are dropped, repeats count once
 *       ("B+A", "A,B", "A+B+ctrl" all read {A, B}; "KLF1+ctrl" reads {KLF1}). When no group
 *       matches exactly the substring rule is applied (cw_deg_selection.exact tells which rule
 *       found the group); CW_ENOTFOUND when neither finds one.
 * Gene names of the chosen group map to columns through their first position in var_names (the
 * table's names are var_names); a name absent from var_names (or missing) is a CW_EFORMAT
 * error naming the group and the gene. Columns are kept in rank order.
 */
#ifndef CW_EVAL_DEG_SELECT_H
#define CW_EVAL_DEG_SELECT_H

#include "causeway.h"
#include "core/strings.h"
#include "io/h5ad.h"
#include "io/xstore.h"
#include "la/matrix.h"

#include <stdint.h>

typedef enum { CW_DEG_MATCH_SUBSTRING = 0, CW_DEG_MATCH_EXACT = 1 } cw_deg_match;

typedef struct {
    int64_t group; /* index into table->groups of the group used */
    int exact;     /* 1: found by the exact rule; 0: by the substring rule */
    int64_t n;     /* number of columns (the table's n_genes) */
    int64_t *cols; /* n column indices into var_names, rank order (owned) */
} cw_deg_selection;

void cw_deg_selection_free(cw_deg_selection *s);

/* Index of the first group whose name contains all n_targets targets as substrings, or -1. */
int64_t cw_deg_group_substring(const cw_deg_table *t, const char *const *targets,
                               int64_t n_targets);
/* Index of the first group whose name parses to exactly the target set, or -1. */
int64_t cw_deg_group_exact(const cw_deg_table *t, const char *const *targets, int64_t n_targets);

/* The DEG columns of the perturbation with targets[0 .. n_targets) (n_targets >= 1; no NULL or
 * empty target). CW_ENOTFOUND (out->group = -1, no columns) when no group matches;
 * CW_EINVAL for bad targets; CW_EFORMAT for a DEG name that is not a var name. */
cw_status cw_deg_select(cw_deg_selection *out, const cw_deg_table *t, const cw_strings *var_names,
                        const char *const *targets, int64_t n_targets, cw_deg_match mode);

/* DEGs computed from the data when the file has no table: for every perturbation with cells,
 * the n_top genes of largest |Welch t| against the control cells (eval/deg.h: scanpy's
 * rank_genes_groups(method='t-test', reference=control, rankby_abs=True) on log1p data).
 *   x           log1p expression (cells, genes) as CSR
 *   cell_pert   per cell: perturbation id in [0, n_perts), -1 = control, < -1 = not used
 *               (the cw_perturb_design.cell_pert convention)
 *   pert_labels n_perts labels; use the canonical labels ("A,B") so the exact rule finds them
 *   gene_names  var names
 * Returns a cw_deg_table (free with cw_deg_table_free) whose groups are the labels of the
 * perturbations that have cells, sorted by name (byte order, as scanpy's category order), with
 * n_top (clipped to the gene count) rows of names, t scores, p-values, BH-adjusted p-values and
 * log2 fold changes per group. Which cells to pass is the caller's choice: the reference table
 * was computed upstream on all cells of the file (train and test), so passing all cells mirrors
 * it; passing only training cells avoids using test cells to choose the evaluated genes.
 * X is read in file order in the blocks the store allows (io/xstore.h); the sums are the same
 * whatever the blocks, so a streamed X gives the same table. */
cw_status cw_deg_compute(cw_deg_table *out, cw_xstore *x, const int64_t *cell_pert,
                         int64_t n_perts, const cw_strings *pert_labels,
                         const cw_strings *gene_names, int64_t n_top, int n_threads);

#endif
