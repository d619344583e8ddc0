/* baseline.c: control and additive baselines (baseline.h). Double arithmetic, one rounding to
 * float per predicted value. */
#include "eval/baseline.h"

#include "core/alloc.h"
#include "core/status.h"

static cw_status check_singles(const double *control_mean, const double *const *single_means,
                               int64_t n_singles, int64_t d) {
    if (d < 1) return cw_fail(CW_EINVAL, "additive baseline: need at least one gene");
    if (n_singles < 1) return cw_fail(CW_EINVAL, "additive baseline: no single perturbations");
    if (!control_mean) return cw_fail(CW_EINVAL, "additive baseline: no control mean");
    for (int64_t s = 0; s < n_singles; s++)
        if (!single_means[s])
            return cw_fail(CW_EINVAL, "additive baseline: single %lld has no mean profile",
                           (long long)s);
    return CW_OK;
}

cw_status cw_baseline_additive_shift(double *shift, const double *control_mean,
                                     const double *const *single_means, int64_t n_singles,
                                     int64_t d) {
    CW_TRY(check_singles(control_mean, single_means, n_singles, d));
    for (int64_t g = 0; g < d; g++) {
        double s = 0;
        for (int64_t k = 0; k < n_singles; k++) s += single_means[k][g] - control_mean[g];
        shift[g] = s;
    }
    return CW_OK;
}

cw_status cw_baseline_additive_profile(double *profile, const double *control_mean,
                                       const double *const *single_means, int64_t n_singles,
                                       int64_t d) {
    CW_TRY(cw_baseline_additive_shift(profile, control_mean, single_means, n_singles, d));
    for (int64_t g = 0; g < d; g++) profile[g] += control_mean[g];
    return CW_OK;
}

cw_status cw_baseline_cells_shifted(float *yhat, cw_baseline_cells kind, const float *ctrl_cells,
                                    const double *control_mean, const double *shift, int64_t n,
                                    int64_t d) {
    if (n < 1 || d < 1)
        return cw_fail(CW_EINVAL, "baseline: need n >= 1 cells and d >= 1 genes, got %lld, %lld",
                       (long long)n, (long long)d);
    if (kind == CW_BASELINE_PAIRED) {
        if (!ctrl_cells) return cw_fail(CW_EINVAL, "baseline: paired cells need control cells");
        for (int64_t i = 0; i < n; i++)
            for (int64_t g = 0; g < d; g++) {
                const double v = (double)ctrl_cells[i * d + g] + (shift ? shift[g] : 0.0);
                yhat[i * d + g] = (float)v;
            }
        return CW_OK;
    }
    if (kind == CW_BASELINE_MEAN) {
        if (!control_mean) return cw_fail(CW_EINVAL, "baseline: mean cells need a control mean");
        for (int64_t g = 0; g < d; g++)
            yhat[g] = (float)(control_mean[g] + (shift ? shift[g] : 0.0));
        for (int64_t i = 1; i < n; i++)
            for (int64_t g = 0; g < d; g++) yhat[i * d + g] = yhat[g];
        return CW_OK;
    }
    return cw_fail(CW_EINVAL, "baseline: unknown cell kind %d", (int)kind);
}

cw_status cw_baseline_control(float *yhat, cw_baseline_cells kind, const float *ctrl_cells,
                              const double *control_mean, int64_t n, int64_t d) {
    return cw_baseline_cells_shifted(yhat, kind, ctrl_cells, control_mean, NULL, n, d);
}

cw_status cw_baseline_additive(float *yhat, cw_baseline_cells kind, const float *ctrl_cells,
                               const double *control_mean, const double *const *single_means,
                               int64_t n_singles, int64_t n, int64_t d) {
    CW_TRY(check_singles(control_mean, single_means, n_singles, d));
    double *shift = cw_malloc_array((size_t)d, sizeof *shift);
    if (!shift) return cw_fail(CW_ENOMEM, "additive baseline: out of memory");
    cw_status st = cw_baseline_additive_shift(shift, control_mean, single_means, n_singles, d);
    if (st == CW_OK)
        st = cw_baseline_cells_shifted(yhat, kind, ctrl_cells, control_mean, shift, n, d);
    cw_free(shift);
    return st;
}
