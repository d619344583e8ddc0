/* baseline.h: reference predictions to put model metrics in context: the control baseline ("the
 * perturbation does nothing") and the additive baseline for combinations ("effects add up").
 * Spec grace_cmvae.md §6.3 (the metrics they are scored with); not part of the reference code.
 *
 * The functions take mean profiles computed elsewhere (double, D genes, indexed by gene), so they
 * do not depend on the dataset code, and write predicted cells (n, D) float, row-major, rows
 * aligned with the real cells of the intervention, ready for cw_metrics_intervention().
 *
 * Two ways to turn a predicted profile into predicted cells (cw_baseline_cells):
 *   CW_BASELINE_PAIRED (recommended, the default): row i = the control cell paired with real
 *       cell i (the same control the model received for that row), plus the baseline's shift
 *       (none for the control baseline, delta_A + delta_B for the additive one). The baseline then
 *       carries real cell-to-cell variation, like a generative model's output, so its RMSE
 *       (row-paired with random controls) and MMD (distributional) are on the models' footing.
 *   CW_BASELINE_MEAN: every row = the predicted mean profile. Mean-profile metrics (R2, Pearson
 *       delta) are the same as for PAIRED up to the difference between the paired controls' mean
 *       and the control mean; but a point mass has no variance, so its MMD is inflated and its
 *       relative RMSE deflated (the mean minimises squared error against noisy cells): it is a
 *       hard-to-beat RMSE bar that says nothing about distributions.
 * Arithmetic is double, rounded once to float.
 *
 * Additive profile for a combination of targets A, B (from TRAINING cells of the singles):
 *   profile = control_mean + (mean_A - control_mean) + (mean_B - control_mean)
 * generalised to any number of singles: shift = sum_s (mean_s - control_mean).
 */
#ifndef CW_EVAL_BASELINE_H
#define CW_EVAL_BASELINE_H

#include "causeway.h"

#include <stdint.h>

typedef enum { CW_BASELINE_PAIRED = 0, CW_BASELINE_MEAN = 1 } cw_baseline_cells;

/* shift (d) = sum_{s < n_singles} (single_means[s] - control_mean); n_singles >= 1 */
cw_status cw_baseline_additive_shift(double *shift, const double *control_mean,
                                     const double *const *single_means, int64_t n_singles,
                                     int64_t d);
/* profile (d) = control_mean + shift, the additive mean profile */
cw_status cw_baseline_additive_profile(double *profile, const double *control_mean,
                                       const double *const *single_means, int64_t n_singles,
                                       int64_t d);

/* Predicted cells yhat (n, d) of a profile shift:
 *   PAIRED: yhat_i = ctrl_cells_i + shift    (ctrl_cells (n, d): the paired control cells)
 *   MEAN:   yhat_i = control_mean + shift
 * shift NULL = 0. The input the kind does not use may be NULL. */
cw_status cw_baseline_cells_shifted(float *yhat, cw_baseline_cells kind, const float *ctrl_cells,
                                    const double *control_mean, const double *shift, int64_t n,
                                    int64_t d);
/* Control baseline: cw_baseline_cells_shifted with no shift. */
cw_status cw_baseline_control(float *yhat, cw_baseline_cells kind, const float *ctrl_cells,
                              const double *control_mean, int64_t n, int64_t d);
/* Additive baseline of a combination: the shift of cw_baseline_additive_shift applied to the
 * paired controls (PAIRED) or to the control mean (MEAN). */
cw_status cw_baseline_additive(float *yhat, cw_baseline_cells kind, const float *ctrl_cells,
                               const double *control_mean, const double *const *single_means,
                               int64_t n_singles, int64_t n, int64_t d);

#endif
