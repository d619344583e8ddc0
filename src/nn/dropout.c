/* dropout.c: inverted dropout forward/backward (dropout.h, spec grace_cmvae.md §4.5).
 * Element i is dropped when the i-th uniform draw u_i < p (probability p), kept with the scale
 * 1/(1-p) otherwise; the draws are serial, in element order, so a seed fixes the mask. */
#include "nn/dropout.h"

void cw_dropout_forward(real *out, real *mask, const real *inp, double p, int64_t n, cw_rng *rng) {
    CW_ASSERT(p >= 0 && p < 1);
    if (p == 0) {
        for (int64_t i = 0; i < n; i++) {
            mask[i] = 1;
            out[i] = inp[i];
        }
        return;
    }
    const real scale = (real)(1.0 / (1.0 - p));
    for (int64_t i = 0; i < n; i++) {
        mask[i] = cw_rng_uniform(rng) < p ? 0 : scale;
        out[i] = inp[i] * mask[i];
    }
}

void cw_dropout_backward(real *dinp, const real *dout, const real *mask, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) dinp[i] += dout[i] * mask[i];
}
