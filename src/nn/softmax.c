/* softmax.c: row-wise softmax with inverse temperature, forward/backward (softmax.h, §4.0). */
#include "nn/softmax.h"

void cw_softmax_forward(real *probs, const real *logits, real tau, int64_t n, int64_t c) {
    for (int64_t i = 0; i < n; i++) {
        const real *l = logits + i * c;
        real *p = probs + i * c;
        real mx = -INFINITY;
        for (int64_t k = 0; k < c; k++)
            if (tau * l[k] > mx) mx = tau * l[k];
        double s = 0;
        for (int64_t k = 0; k < c; k++) {
            p[k] = r_exp(tau * l[k] - mx);
            s += p[k];
        }
        const real sr = (real)s;
        for (int64_t k = 0; k < c; k++) p[k] /= sr;
    }
}

void cw_softmax_backward(real *dlogits, const real *dprobs, const real *probs, real tau,
                         int64_t n, int64_t c) {
    for (int64_t i = 0; i < n; i++) {
        const real *dp = dprobs + i * c, *p = probs + i * c;
        real *dl = dlogits + i * c;
        double dot = 0;
        for (int64_t k = 0; k < c; k++) dot += (double)dp[k] * p[k];
        for (int64_t k = 0; k < c; k++) dl[k] += tau * p[k] * (dp[k] - (real)dot);
    }
}
