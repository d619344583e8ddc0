/* adam.c: PyTorch-exact Adam step and elementwise gradient clamp (adam.h, spec §5.4). */
#include "nn/adam.h"

void cw_adam_update(real *params, const real *grads, real *m, real *v, int64_t n, double lr,
                    double beta1, double beta2, double eps, int64_t t) {
    CW_ASSERT(t >= 1);
    const double bc1 = 1.0 - pow(beta1, (double)t);
    const double bc2 = 1.0 - pow(beta2, (double)t);
    const real step_size = (real)(lr / bc1);
    const real bc2_sqrt = (real)sqrt(bc2);
    const real b1 = (real)beta1, b2 = (real)beta2;
    const real omb1 = (real)(1.0 - beta1), omb2 = (real)(1.0 - beta2), e = (real)eps;
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        const real g = grads[i];
        m[i] = m[i] * b1 + omb1 * g;
        v[i] = v[i] * b2 + omb2 * g * g;
        const real denom = r_sqrt(v[i]) / bc2_sqrt + e;
        params[i] += -step_size * (m[i] / denom); /* addcdiv_(m, denom, -step_size) */
    }
}

void cw_grad_clamp(real *grads, int64_t n, real c) {
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        const real g = grads[i];
        grads[i] = g > c ? c : (g < -c ? -c : g);
    }
}
