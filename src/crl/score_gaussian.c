/* score_gaussian.c: analytic Gaussian score and Gaussian log-density-ratio gradient
 * (score_gaussian.h; spec score_crl_and_temporal.md §A3.1, §A3.3). Means are accumulated in
 * double with a two-pass centring; the covariance is one GEMM of the centred copy. */
#include "crl/score_gaussian.h"

#include "core/alloc.h"
#include "core/status.h"
#include "la/lapack.h"

#include <math.h>
#include <string.h>

void cw_gauss_score_free(cw_gauss_score *g) {
    if (!g) return;
    cw_free(g->mu);
    cw_free(g->theta);
    memset(g, 0, sizeof *g);
}

cw_status cw_gauss_score_fit(cw_gauss_score *g, const double *x, int64_t count, int64_t p) {
    if (!g) return cw_fail(CW_EINVAL, "gauss_score_fit: NULL model");
    memset(g, 0, sizeof *g);
    if (!x) return cw_fail(CW_EINVAL, "gauss_score_fit: NULL samples");
    if (p < 1) return cw_fail(CW_EINVAL, "gauss_score_fit: dimension p = %lld < 1", (long long)p);
    if (count < 2)
        return cw_fail(CW_EINVAL, "gauss_score_fit: %lld samples, need at least 2",
                       (long long)count);
    for (int64_t i = 0; i < count * p; i++)
        if (!isfinite(x[i]))
            return cw_fail(CW_EINVAL, "gauss_score_fit: sample %lld, coordinate %lld is %g",
                           (long long)(i / p), (long long)(i % p), x[i]);
    double *mu = cw_calloc((size_t)p, sizeof *mu);
    double *theta = cw_malloc_array((size_t)(p * p), sizeof *theta);
    double *cov = cw_malloc_array((size_t)(p * p), sizeof *cov);
    double *xc = cw_malloc_array((size_t)count, (size_t)p * sizeof *xc);
    cw_status st = CW_OK;
    if (!mu || !theta || !cov || !xc) {
        st = cw_fail(CW_ENOMEM, "gauss_score_fit: %lld x %lld samples", (long long)count,
                     (long long)p);
        goto done;
    }
    for (int64_t i = 0; i < count; i++)
        for (int64_t j = 0; j < p; j++) mu[j] += x[i * p + j];
    for (int64_t j = 0; j < p; j++) mu[j] /= (double)count;
    for (int64_t i = 0; i < count; i++)
        for (int64_t j = 0; j < p; j++) xc[i * p + j] = x[i * p + j] - mu[j];
    /* cov (p x p) = xc^T xc / count */
    cw_la_gemm('T', 'N', p, p, count, 1.0 / (double)count, xc, xc, 0.0, cov);
    st = cw_la_spd_inverse(theta, cov, p);
    if (st != CW_OK) {
        st = cw_fail_prefix(st, "gauss_score_fit: covariance of %lld samples in %lld dimensions",
                            (long long)count, (long long)p);
        goto done;
    }
    g->p = p, g->mu = mu, g->theta = theta;
    mu = theta = NULL;
done:
    cw_free(mu);
    cw_free(theta);
    cw_free(cov);
    cw_free(xc);
    return st;
}

void cw_gauss_score_eval(const cw_gauss_score *g, const double *x, int64_t count, double *s) {
    const int64_t p = g->p;
    CW_ASSERT(p >= 1 && count >= 0);
    if (count == 0) return;
    /* s = -x theta (theta symmetric), then + theta mu on every row */
    cw_la_gemm('N', 'N', count, p, p, -1.0, x, g->theta, 0.0, s);
    for (int64_t j = 0; j < p; j++) {
        double c = 0;
        for (int64_t k = 0; k < p; k++) c += g->theta[j * p + k] * g->mu[k];
        for (int64_t i = 0; i < count; i++) s[i * p + j] += c;
    }
}

cw_status cw_gauss_ldr_grad(const cw_gauss_score *a, const cw_gauss_score *b, const double *x,
                            int64_t count, double *ds) {
    if (!a || !b || !a->theta || !b->theta)
        return cw_fail(CW_EINVAL, "gauss_ldr_grad: unfitted Gaussian");
    if (a->p != b->p)
        return cw_fail(CW_EINVAL, "gauss_ldr_grad: dimensions differ (%lld and %lld)",
                       (long long)a->p, (long long)b->p);
    if (count < 0) return cw_fail(CW_EINVAL, "gauss_ldr_grad: count %lld < 0", (long long)count);
    const int64_t p = a->p;
    double *q = cw_malloc_array((size_t)(p * p), sizeof *q);
    double *c = cw_malloc_array((size_t)p, sizeof *c);
    if (!q || !c) {
        cw_free(q);
        cw_free(c);
        return cw_fail(CW_ENOMEM, "gauss_ldr_grad: p = %lld", (long long)p);
    }
    /* q = theta_a - theta_b (symmetric), c = theta_b mu_b - theta_a mu_a */
    for (int64_t i = 0; i < p * p; i++) q[i] = a->theta[i] - b->theta[i];
    for (int64_t j = 0; j < p; j++) {
        double v = 0;
        for (int64_t k = 0; k < p; k++)
            v += b->theta[j * p + k] * b->mu[k] - a->theta[j * p + k] * a->mu[k];
        c[j] = v;
    }
    if (count > 0) {
        cw_la_gemm('N', 'N', count, p, p, 1.0, x, q, 0.0, ds);
        for (int64_t i = 0; i < count; i++)
            for (int64_t j = 0; j < p; j++) ds[i * p + j] += c[j];
    }
    cw_free(q);
    cw_free(c);
    return CW_OK;
}
