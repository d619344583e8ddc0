/* activation.c: LeakyReLU and softplus forward/backward (activation.h, spec §4.0, §5.6). */
#include "nn/activation.h"

void cw_lrelu_forward(real *out, const real *inp, int64_t n) {
    const real slope = (real)CW_LRELU_SLOPE;
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : slope * inp[i];
}

void cw_lrelu_backward(real *dinp, const real *dout, const real *x, int64_t n) {
    const real slope = (real)CW_LRELU_SLOPE;
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) dinp[i] += x[i] > 0 ? dout[i] : slope * dout[i];
}

void cw_softplus_forward(real *out, const real *inp, int64_t n) {
    const real thr = (real)CW_SOFTPLUS_THRESHOLD;
#pragma omp parallel for schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        real v = inp[i];
        out[i] = v > thr ? v : r_log1p(r_exp(v));
    }
}

void cw_softplus_backward(real *dinp, const real *dout, const real *inp, int64_t n) {
    const real thr = (real)CW_SOFTPLUS_THRESHOLD;
#pragma omp parallel for schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        real v = inp[i];
        if (v > thr) {
            dinp[i] += dout[i];
        } else {
            real e = r_exp(v);
            dinp[i] += dout[i] * (e / (e + 1));
        }
    }
}
