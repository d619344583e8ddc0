/* layernorm.c: layer normalisation over the last dimension, forward/backward (layernorm.h, spec
 * grace_cmvae.md §4.5). Row statistics accumulate in double (two passes: mean, then the centred
 * variance, as torch's biased variance); rows run in parallel above CW_OMP_MIN_ELEMS elements;
 * dgamma and dbeta are summed over rows serially, in row order. */
#include "nn/layernorm.h"

void cw_layernorm_forward(real *out, real *mean, real *rstd, const real *inp, const real *gamma,
                          const real *beta, int64_t n, int64_t f) {
    CW_ASSERT(out != inp);
#pragma omp parallel for schedule(static) if (n * f >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        const real *x = inp + i * f;
        real *o = out + i * f;
        double m = 0;
        for (int64_t k = 0; k < f; k++) m += x[k];
        m /= (double)f;
        double var = 0;
        for (int64_t k = 0; k < f; k++) {
            const double d = (double)x[k] - m;
            var += d * d;
        }
        var /= (double)f;
        const real mr = (real)m, rs = (real)(1.0 / sqrt(var + CW_LAYERNORM_EPS));
        mean[i] = mr;
        rstd[i] = rs;
        for (int64_t k = 0; k < f; k++) o[k] = (x[k] - mr) * rs * gamma[k] + beta[k];
    }
}

void cw_layernorm_backward(real *dinp, real *dgamma, real *dbeta, const real *dout,
                           const real *inp, const real *mean, const real *rstd,
                           const real *gamma, int64_t n, int64_t f) {
    /* xhat = (x - mean) rstd, g = dout gamma:
     * dinp = rstd (g - mean_f(g) - xhat mean_f(g xhat)) */
    if (dinp) {
#pragma omp parallel for schedule(static) if (n * f >= CW_OMP_MIN_ELEMS)
        for (int64_t i = 0; i < n; i++) {
            const real *x = inp + i * f, *dy = dout + i * f;
            real *dx = dinp + i * f;
            const real m = mean[i], rs = rstd[i];
            double sg = 0, sgx = 0;
            for (int64_t k = 0; k < f; k++) {
                const double g = (double)dy[k] * gamma[k];
                sg += g;
                sgx += g * ((double)(x[k] - m) * rs);
            }
            const real mg = (real)(sg / (double)f), mgx = (real)(sgx / (double)f);
            for (int64_t k = 0; k < f; k++) {
                const real xhat = (x[k] - m) * rs;
                dx[k] += rs * (dy[k] * gamma[k] - mg - xhat * mgx);
            }
        }
    }
    if (dgamma || dbeta) {
        for (int64_t i = 0; i < n; i++) {
            const real *x = inp + i * f, *dy = dout + i * f;
            const real m = mean[i], rs = rstd[i];
            for (int64_t k = 0; k < f; k++) {
                if (dgamma) dgamma[k] += dy[k] * ((x[k] - m) * rs);
                if (dbeta) dbeta[k] += dy[k];
            }
        }
    }
}
