/* evaluate.h: evaluating a trained run on its test perturbations (spec grace_cmvae.md §6.1-6.3,
 * Appendix B), with a control and an additive baseline beside the model.
 *
 * What is evaluated (the run is opened with models/run.h: config, data, split, pairing, model):
 *   singles       every single perturbation with TEST cells (cw_eval_iter, role TEST, singles);
 *   combinations  every combination with TEST cells (role TEST, combinations); a double of
 *                 targets k < k2 is predicted with (k, k2). The model takes at most two targets:
 *                 a combination of three or more is skipped and counted (n_skipped).
 * Predictions (§6.1): one generated cell per real cell, generated from that cell's paired
 * control (the training pairing), in chunks of at most the model batch, tau = 1. Noise: the
 * perturbation with id p draws from cw_rng_substream(seed, CW_RNG_STREAM_EVAL + (p << 40)),
 * chunks in cell order (file order), so every perturbation's prediction depends only on (run,
 * seed, p) and the evaluation is reproducible. seed: the run's seed unless overridden.
 * DEGs (§6.2), per perturbation, first that applies:
 *   "file"            the file's uns/rank_genes_groups with the chosen rule (deg_select.h;
 *                     substring = the reference rule, exact = ours);
 *   "computed"        a table computed by cw_deg_compute from the TRAINING cells of every
 *                     perturbation against all control cells (top deg_top genes by |Welch t|);
 *                     used for every perturbation when the file has no table, and for a
 *                     perturbation the file table has no group for (recorded as a fallback);
 *   "computed_all"    a perturbation without training cells (a test-only combination) has no
 *                     group in that table: computed from ALL its cells (train, val, test) against
 *                     the controls, as the reference's upstream table was (recorded as a
 *                     fallback; these DEGs have seen the test cells).
 * Metrics (§6.3) by cw_metrics_intervention: MMD sigma 1000 singles, 100 combinations on the
 * DEGs, 1000 on all genes; pearson_delta against the mean of all control cells.
 * Methods per perturbation:
 *   model         the run's model;
 *   control_mean  the control baseline: each real cell's paired control cell, unchanged
 *                 (cw_baseline_control, CW_BASELINE_PAIRED);
 *   additive      combinations whose targets all have training single cells: paired control +
 *                 sum over targets of (training mean of the single - control mean)
 *                 (cw_baseline_additive, CW_BASELINE_PAIRED).
 * Outputs (both written atomically):
 *   RUN_DIR/metrics.json                 means over perturbations per group (see cw_evaluate);
 *   RUN_DIR/metrics_per_perturbation.tsv one row per (perturbation, method).
 */
#ifndef CW_MODELS_EVALUATE_H
#define CW_MODELS_EVALUATE_H

#include "causeway.h"
#include "eval/deg_select.h"
#include "eval/metrics.h"

#include <stdint.h>
#include <stdio.h>

#define CW_RNG_STREAM_EVAL 0x4556414Cull /* "EVAL" */

typedef struct {
    const char *run_dir;
    const char *data_path; /* NULL = the run's data */
    cw_deg_match deg_match; /* CW_DEG_MATCH_SUBSTRING (reference, default) or _EXACT */
    int64_t deg_top;        /* genes per computed DEG group (20) */
    int has_seed;           /* 0: the run's seed */
    uint64_t seed;
    int threads; /* 0 = OpenMP default */
    int quiet;   /* no table on stdout */
    int64_t memory_cap; /* bytes X may take; 0 = in memory (io/xstore.h); same results */
} cw_evaluate_opts;

void cw_evaluate_opts_default(cw_evaluate_opts *o);

/* Means over perturbations of one method; NaN where n == 0. */
typedef struct {
    cw_intervention_metrics mean;
    int64_t n;
} cw_eval_agg;

enum { CW_EVAL_SINGLE = 0, CW_EVAL_COMBO = 1, CW_EVAL_N_GROUPS = 2 };

typedef struct {
    uint64_t seed;
    const char *deg_source; /* "file" or "computed" (static strings) */
    cw_eval_agg model[CW_EVAL_N_GROUPS], control[CW_EVAL_N_GROUPS];
    cw_eval_agg additive;       /* combinations where the additive baseline applies */
    cw_eval_agg model_additive; /* the model over exactly those combinations */
    int64_t n_deg_fallback;     /* perturbations whose DEGs did not come from deg_source */
    int64_t n_skipped;          /* combinations of more than two targets */
    int64_t tsv_rows;
    /* latent recovery against uns/causeway_truth (simulated data only; has_truth 0 otherwise):
     * MCC of the posterior-mean causal latents vs obsm/X_truth_latent over up to 5000 cells
     * (every k-th cell), SHD of triu(G,1) thresholded at |A| > 0.1 after that matching, and
     * the SHD of the empty graph (= true edges) for scale (eval/recovery.h). */
    int has_truth;
    double mcc;
    int64_t shd, shd_empty, learned_edges, recovery_cells;
} cw_eval_summary;

/* Runs the evaluation, writes the two files, fills *out (may be NULL). */
cw_status cw_evaluate(const cw_evaluate_opts *o, cw_eval_summary *out);

/* The readable table: rows single / combination, columns R2 RMSE MMD Pearson-delta (DEGs), one
 * line per method. */
void cw_eval_print_table(FILE *f, const cw_eval_summary *s);

#endif
