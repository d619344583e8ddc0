/* vae.c: reparameterisation and KL forward/backward (vae.h, spec §4.0, §5.1). */
#include "nn/vae.h"

void cw_reparam_forward(real *z, const real *mu, const real *var, const real *eps, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) z[i] = mu[i] + r_sqrt(var[i]) * eps[i];
}

void cw_reparam_backward(real *dmu, real *dvar, const real *dz, const real *var, const real *eps,
                         int64_t n) {
    if (dmu) {
        for (int64_t i = 0; i < n; i++) dmu[i] += dz[i];
    }
    if (dvar) {
#pragma omp parallel for schedule(static) if (n >= CW_OMP_MIN_ELEMS)
        for (int64_t i = 0; i < n; i++) dvar[i] += dz[i] * eps[i] / (2 * r_sqrt(var[i]));
    }
}

double cw_kl_forward(const real *mu, const real *var, int64_t b, int64_t z) {
    if (b == 0) return 0;
    double s = 0;
    for (int64_t i = 0; i < b * z; i++) {
        double m = mu[i], v = var[i];
        s += 1 + log(v) - m * m - v;
    }
    return -0.5 * s / (double)b;
}

void cw_kl_backward(real *dmu, real *dvar, double dloss, const real *mu, const real *var,
                    int64_t b, int64_t z) {
    if (b == 0) return;
    const double scale = dloss / (double)b;
    for (int64_t i = 0; i < b * z; i++) {
        if (dmu) dmu[i] += (real)(scale * mu[i]);
        if (dvar) dvar[i] += (real)(0.5 * scale * (1.0 - 1.0 / var[i]));
    }
}
