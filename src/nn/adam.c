/* adam.c: PyTorch-exact Adam step and elementwise gradient clamp (adam.h, spec §5.4). */
#include "nn/adam.h"

/* The step's constants, in torch's precision (bias corrections in double). */
typedef struct {
    real step_size, bc2_sqrt, b1, b2, omb1, omb2, e;
} adam_consts;

static adam_consts adam_setup(double lr, double beta1, double beta2, double eps, int64_t t) {
    CW_ASSERT(t >= 1);
    const double bc1 = 1.0 - pow(beta1, (double)t);
    const double bc2 = 1.0 - pow(beta2, (double)t);
    return (adam_consts){(real)(lr / bc1), (real)sqrt(bc2), (real)beta1, (real)beta2,
                         (real)(1.0 - beta1), (real)(1.0 - beta2), (real)eps};
}

/* The one Adam element update, shared by both loops below (each loop is its own OpenMP region
 * so that both vectorise; a runtime flag inside one loop left one of the two versions scalar). */
static inline void adam_elem(real *p, real *m, real *v, real g, adam_consts k) {
    *m = *m * k.b1 + k.omb1 * g;
    *v = *v * k.b2 + k.omb2 * g * g;
    const real denom = r_sqrt(*v) / k.bc2_sqrt + k.e;
    *p += -k.step_size * (*m / denom); /* addcdiv_(m, denom, -step_size) */
}

CW_CLONES_AVX512
void cw_adam_update(real *params, const real *grads, real *m, real *v, int64_t n, double lr,
                    double beta1, double beta2, double eps, int64_t t) {
    const adam_consts k = adam_setup(lr, beta1, beta2, eps, t);
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) adam_elem(params + i, m + i, v + i, grads[i], k);
}

CW_CLONES_AVX512
void cw_adam_update_zero_grad(real *params, real *grads, real *m, real *v, int64_t n, double lr,
                              double beta1, double beta2, double eps, int64_t t) {
    const adam_consts k = adam_setup(lr, beta1, beta2, eps, t);
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        const real g = grads[i];
        grads[i] = 0;
        adam_elem(params + i, m + i, v + i, g, k);
    }
}

void cw_grad_clamp(real *grads, int64_t n, real c) {
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        const real g = grads[i];
        grads[i] = g > c ? c : (g < -c ? -c : g);
    }
}
