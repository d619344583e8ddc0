/* support.c: support basis, projection and score-difference moments (see support.h, §A4.0). */
#include "crl/support.h"

#include "core/alloc.h"
#include "core/status.h"
#include "la/lapack.h"

#include <string.h>

cw_status cw_crl_support_basis(double *basis, const double *const *x, const int64_t *count,
                               int64_t n_env, int64_t d, int64_t n) {
    if (n < 1 || n > d) return cw_fail(CW_EINVAL, "support basis: latent dimension %lld for "
                                       "observed dimension %lld", (long long)n, (long long)d);
    double *c = cw_calloc((size_t)(d * d), sizeof(double));
    double *mu = cw_malloc_array((size_t)d, sizeof(double));
    double *xc = NULL, *w = cw_malloc_array((size_t)d, sizeof(double));
    double *v = cw_malloc_array((size_t)(d * d), sizeof(double));
    cw_status st = CW_OK;
    if (!c || !mu || !w || !v) st = cw_fail(CW_ENOMEM, "support basis: out of memory");
    for (int64_t e = 0; st == CW_OK && e < n_env; e++) {
        int64_t rows = count[e] < n + d ? count[e] : n + d;
        if (rows < 2) {
            st = cw_fail(CW_EINVAL, "support basis: environment %lld has %lld samples (need 2)",
                         (long long)e, (long long)count[e]);
            break;
        }
        cw_free(xc);
        xc = cw_malloc_array((size_t)(rows * d), sizeof(double));
        if (!xc) {
            st = cw_fail(CW_ENOMEM, "support basis: out of memory");
            break;
        }
        memset(mu, 0, (size_t)d * sizeof(double));
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < d; j++) mu[j] += x[e][i * d + j];
        for (int64_t j = 0; j < d; j++) mu[j] /= (double)rows;
        for (int64_t i = 0; i < rows; i++)
            for (int64_t j = 0; j < d; j++) xc[i * d + j] = x[e][i * d + j] - mu[j];
        cw_la_gemm('T', 'N', d, d, rows, 1.0 / (double)rows, xc, xc, 1.0, c);
    }
    if (st == CW_OK) st = cw_la_eigh(w, v, c, d);
    if (st == CW_OK)
        for (int64_t i = 0; i < d; i++)
            for (int64_t k = 0; k < n; k++) basis[i * n + k] = v[i * d + (d - 1 - k)];
    cw_free(c);
    cw_free(mu);
    cw_free(xc);
    cw_free(w);
    cw_free(v);
    return st;
}

void cw_crl_project(double *out, const double *x, int64_t count, const double *basis, int64_t d,
                    int64_t n) {
    cw_la_gemm('N', 'N', count, n, d, 1.0, x, basis, 0.0, out);
}

void cw_crl_cross_moment(double *r, const double *a, const double *b, int64_t count, int64_t p) {
    if (count <= 0) {
        memset(r, 0, (size_t)(p * p) * sizeof(double));
        return;
    }
    cw_la_gemm('T', 'N', p, p, count, 1.0 / (double)count, a, b, 0.0, r);
}
