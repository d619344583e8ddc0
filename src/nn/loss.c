/* loss.c: MSE and strict-upper-triangle L1 forward/backward (loss.h, spec §5.1, §5.6). */
#include "nn/loss.h"

double cw_mse_forward(const real *pred, const real *target, int64_t n) {
    if (n == 0) return 0;
    double s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)pred[i] - (double)target[i];
        s += d * d;
    }
    return s / (double)n;
}

void cw_mse_backward(real *dpred, double dloss, const real *pred, const real *target, int64_t n) {
    if (n == 0) return;
    const real scale = (real)(2.0 * dloss / (double)n);
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) dpred[i] += scale * (pred[i] - target[i]);
}

double cw_l1_triu_forward(const real *g, int64_t z) {
    double s = 0;
    for (int64_t i = 0; i < z; i++)
        for (int64_t j = i + 1; j < z; j++) s += fabs((double)g[i * z + j]);
    return s;
}

void cw_l1_triu_backward(real *dg, double dloss, const real *g, int64_t z) {
    const real w = (real)dloss;
    for (int64_t i = 0; i < z; i++)
        for (int64_t j = i + 1; j < z; j++) {
            real v = g[i * z + j];
            dg[i * z + j] += v > 0 ? w : (v < 0 ? -w : 0);
        }
}
