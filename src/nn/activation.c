/* activation.c: LeakyReLU, softplus, ReLU and tanh forward/backward (activation.h, spec §4.0,
 * §4.2, §4.5, §5.6). */
#include "nn/activation.h"

/* `v > 0 ? v : slope * v` stays a branch under gcc's default -ftrapping-math (it will not
 * speculate the multiply), and on a layer's output that branch mispredicts on about every other
 * element (perf: the forward lrelu was ~10 % of a Norman-size step). This file is compiled with
 * -fno-trapping-math (Makefile): its multiplies cannot trap (finite or NaN values times 0.2 or
 * similar: no overflow, no invalid operation), so gcc turns the choice into a vector blend with
 * the same values. Not -ffast-math: no reassociation, isfinite intact. */

void cw_lrelu_forward(real *out, const real *inp, int64_t n) {
    const real slope = (real)CW_LRELU_SLOPE;
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : slope * inp[i];
}

void cw_bias_lrelu_forward(real *x, const real *bias, int64_t n, int64_t width) {
    const real slope = (real)CW_LRELU_SLOPE;
#pragma omp parallel for schedule(static) if (n * width >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) {
        real *xi = x + i * width;
#pragma omp simd
        for (int64_t o = 0; o < width; o++) {
            const real v = xi[o] + bias[o];
            xi[o] = v > 0 ? v : slope * v;
        }
    }
}

void cw_lrelu_backward(real *dinp, const real *dout, const real *x, int64_t n) {
    const real slope = (real)CW_LRELU_SLOPE;
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) dinp[i] += x[i] > 0 ? dout[i] : slope * dout[i];
}

void cw_lrelu_backward_inplace(real *d, const real *x, int64_t n) {
    const real slope = (real)CW_LRELU_SLOPE;
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) d[i] = x[i] > 0 ? d[i] : slope * d[i];
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

void cw_relu_forward(real *out, const real *inp, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) out[i] = inp[i] > 0 ? inp[i] : 0;
}

void cw_relu_backward(real *dinp, const real *dout, const real *x, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) dinp[i] += x[i] > 0 ? dout[i] : 0;
}

void cw_tanh_forward(real *out, const real *inp, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) out[i] = r_tanh(inp[i]);
}

void cw_tanh_backward(real *dinp, const real *dout, const real *out, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) dinp[i] += dout[i] * (1 - out[i] * out[i]);
}
