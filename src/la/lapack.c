/* lapack.c: LAPACKE/CBLAS wrappers in double precision (see lapack.h; spec §A7). */
#include "la/lapack.h"

#include "core/alloc.h"
#include "core/status.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <string.h>

void cw_la_gemm(char ta, char tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                const double *b, double beta, double *c) {
    if (m == 0 || n == 0) return;
    int lda = (int)(ta == 'T' ? m : k), ldb = (int)(tb == 'T' ? k : n);
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    cblas_dgemm(CblasRowMajor, ta == 'T' ? CblasTrans : CblasNoTrans,
                tb == 'T' ? CblasTrans : CblasNoTrans, (int)m, (int)n, (int)k, alpha, a, lda, b,
                ldb, beta, c, (int)n);
}

static double *copy_of(const double *a, int64_t count) {
    double *c = cw_malloc_array((size_t)(count > 0 ? count : 1), sizeof(double));
    if (c && count > 0) memcpy(c, a, (size_t)count * sizeof(double));
    return c;
}

static cw_status check_dims(const char *who, int64_t m, int64_t n) {
    if (m < 1 || n < 1 || m > INT32_MAX || n > INT32_MAX)
        return cw_fail(CW_EINVAL, "%s: bad shape %lld x %lld", who, (long long)m, (long long)n);
    return CW_OK;
}

cw_status cw_la_eigh(double *w, double *v, const double *a, int64_t n) {
    CW_TRY(check_dims("eigh", n, n));
    double *c = copy_of(a, n * n);
    if (!c) return cw_fail(CW_ENOMEM, "eigh: out of memory");
    lapack_int info = LAPACKE_dsyevd(LAPACK_ROW_MAJOR, v ? 'V' : 'N', 'U', (lapack_int)n, c,
                                     (lapack_int)n, w);
    if (info == 0 && v) memcpy(v, c, (size_t)(n * n) * sizeof(double));
    cw_free(c);
    if (info != 0) return cw_fail(CW_EINVAL, "eigh: dsyevd failed (info %d)", (int)info);
    return CW_OK;
}

cw_status cw_la_svd(double *u, double *s, double *vt, const double *a, int64_t m, int64_t n) {
    CW_TRY(check_dims("svd", m, n));
    int64_t k = m < n ? m : n;
    double *c = copy_of(a, m * n);
    if (!c) return cw_fail(CW_ENOMEM, "svd: out of memory");
    int vectors = u != NULL && vt != NULL;
    lapack_int info = LAPACKE_dgesdd(LAPACK_ROW_MAJOR, vectors ? 'S' : 'N', (lapack_int)m,
                                     (lapack_int)n, c, (lapack_int)n, s, vectors ? u : NULL,
                                     (lapack_int)k, vectors ? vt : NULL, (lapack_int)n);
    cw_free(c);
    if (info != 0) return cw_fail(CW_EINVAL, "svd: dgesdd did not converge (info %d)", (int)info);
    return CW_OK;
}

cw_status cw_la_pinv(double *p, const double *a, int64_t m, int64_t n, double rcond) {
    CW_TRY(check_dims("pinv", m, n));
    int64_t k = m < n ? m : n;
    double *u = cw_malloc_array((size_t)(m * k), sizeof(double));
    double *s = cw_malloc_array((size_t)k, sizeof(double));
    double *vt = cw_malloc_array((size_t)(k * n), sizeof(double));
    cw_status st = CW_OK;
    if (!u || !s || !vt) st = cw_fail(CW_ENOMEM, "pinv: out of memory");
    if (st == CW_OK) st = cw_la_svd(u, s, vt, a, m, n);
    if (st == CW_OK) {
        double cut = rcond * s[0];
        /* p = V diag(1/s) U^T: scale the rows of vt, then p = vt^T u^T. */
        for (int64_t r = 0; r < k; r++) {
            double inv = s[r] > cut && s[r] > 0 ? 1.0 / s[r] : 0.0;
            for (int64_t j = 0; j < n; j++) vt[r * n + j] *= inv;
        }
        cw_la_gemm('T', 'T', n, m, k, 1.0, vt, u, 0.0, p);
    }
    cw_free(u);
    cw_free(s);
    cw_free(vt);
    return st;
}

cw_status cw_la_rank(int64_t *rank, const double *a, int64_t m, int64_t n, double rtol) {
    CW_TRY(check_dims("rank", m, n));
    int64_t k = m < n ? m : n;
    double *s = cw_malloc_array((size_t)k, sizeof(double));
    if (!s) return cw_fail(CW_ENOMEM, "rank: out of memory");
    cw_status st = cw_la_svd(NULL, s, NULL, a, m, n);
    if (st == CW_OK) {
        int64_t r = 0;
        for (int64_t i = 0; i < k; i++) r += s[i] > rtol * s[0] && s[i] > 0;
        *rank = r;
    }
    cw_free(s);
    return st;
}

cw_status cw_la_null_space(double *basis, int64_t *k, const double *a, int64_t m, int64_t n,
                           double rtol) {
    CW_TRY(check_dims("null_space", m, n));
    /* The full right singular basis: pad a with zero rows to n x n when m < n. */
    int64_t mm = m > n ? m : n;
    double *c = cw_calloc((size_t)(mm * n), sizeof(double));
    double *s = cw_malloc_array((size_t)n, sizeof(double));
    double *u = cw_malloc_array((size_t)(mm * n), sizeof(double));
    double *vt = cw_malloc_array((size_t)(n * n), sizeof(double));
    cw_status st = CW_OK;
    if (!c || !s || !u || !vt) st = cw_fail(CW_ENOMEM, "null_space: out of memory");
    if (st == CW_OK) {
        memcpy(c, a, (size_t)(m * n) * sizeof(double));
        st = cw_la_svd(u, s, vt, c, mm, n);
    }
    if (st == CW_OK) {
        int64_t r = 0;
        for (int64_t i = 0; i < n; i++) r += s[i] > rtol * s[0] && s[i] > 0;
        *k = n - r;
        memcpy(basis, vt + r * n, (size_t)((n - r) * n) * sizeof(double));
    }
    cw_free(c);
    cw_free(s);
    cw_free(u);
    cw_free(vt);
    return st;
}

cw_status cw_la_qr(double *q, double *r, const double *a, int64_t m, int64_t n, int complete) {
    CW_TRY(check_dims("qr", m, n));
    int64_t kmin = m < n ? m : n, kq = complete ? m : kmin;
    /* Work on an m x max(n, kq) copy so dorgqr can expand to kq columns in place. */
    int64_t wc = n > kq ? n : kq;
    double *c = cw_calloc((size_t)(m * wc), sizeof(double));
    double *tau = cw_malloc_array((size_t)kmin, sizeof(double));
    if (!c || !tau) {
        cw_free(c);
        cw_free(tau);
        return cw_fail(CW_ENOMEM, "qr: out of memory");
    }
    for (int64_t i = 0; i < m; i++) memcpy(c + i * wc, a + i * n, (size_t)n * sizeof(double));
    lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)m, (lapack_int)n, c,
                                     (lapack_int)wc, tau);
    if (info == 0) {
        int64_t rr = complete ? m : kmin;
        for (int64_t i = 0; i < rr; i++)
            for (int64_t j = 0; j < n; j++) r[i * n + j] = (i < kmin && j >= i) ? c[i * wc + j] : 0.0;
        info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)m, (lapack_int)kq, (lapack_int)kmin,
                              c, (lapack_int)wc, tau);
    }
    if (info == 0)
        for (int64_t i = 0; i < m; i++) memcpy(q + i * kq, c + i * wc, (size_t)kq * sizeof(double));
    cw_free(c);
    cw_free(tau);
    if (info != 0) return cw_fail(CW_EINVAL, "qr: dgeqrf/dorgqr failed (info %d)", (int)info);
    return CW_OK;
}

cw_status cw_la_cholesky(double *l, const double *a, int64_t n) {
    CW_TRY(check_dims("cholesky", n, n));
    memcpy(l, a, (size_t)(n * n) * sizeof(double));
    lapack_int info = LAPACKE_dpotrf(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, l, (lapack_int)n);
    if (info > 0)
        return cw_fail(CW_EINVAL, "cholesky: matrix is not positive definite (leading minor %d)",
                       (int)info);
    if (info < 0) return cw_fail(CW_EINVAL, "cholesky: dpotrf argument %d", (int)-info);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) l[i * n + j] = 0.0;
    return CW_OK;
}

cw_status cw_la_spd_inverse(double *inv, const double *a, int64_t n) {
    CW_TRY(cw_la_cholesky(inv, a, n));
    lapack_int info = LAPACKE_dpotri(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, inv, (lapack_int)n);
    if (info != 0) return cw_fail(CW_EINVAL, "spd_inverse: dpotri failed (info %d)", (int)info);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = i + 1; j < n; j++) inv[i * n + j] = inv[j * n + i];
    return CW_OK;
}

cw_status cw_la_spd_solve(double *x, const double *a, const double *b, int64_t n, int64_t nrhs) {
    CW_TRY(check_dims("spd_solve", n, nrhs));
    double *c = copy_of(a, n * n);
    if (!c) return cw_fail(CW_ENOMEM, "spd_solve: out of memory");
    if (x != b) memcpy(x, b, (size_t)(n * nrhs) * sizeof(double));
    lapack_int info = LAPACKE_dposv(LAPACK_ROW_MAJOR, 'L', (lapack_int)n, (lapack_int)nrhs, c,
                                    (lapack_int)n, x, (lapack_int)nrhs);
    cw_free(c);
    if (info > 0)
        return cw_fail(CW_EINVAL, "spd_solve: matrix is not positive definite (leading minor %d)",
                       (int)info);
    if (info < 0) return cw_fail(CW_EINVAL, "spd_solve: dposv argument %d", (int)-info);
    return CW_OK;
}

cw_status cw_la_solve(double *x, const double *a, const double *b, int64_t n, int64_t nrhs) {
    CW_TRY(check_dims("solve", n, nrhs));
    double *c = copy_of(a, n * n);
    lapack_int *piv = cw_malloc_array((size_t)n, sizeof(lapack_int));
    if (!c || !piv) {
        cw_free(c);
        cw_free(piv);
        return cw_fail(CW_ENOMEM, "solve: out of memory");
    }
    if (x != b) memcpy(x, b, (size_t)(n * nrhs) * sizeof(double));
    lapack_int info = LAPACKE_dgesv(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)nrhs, c,
                                    (lapack_int)n, piv, x, (lapack_int)nrhs);
    cw_free(c);
    cw_free(piv);
    if (info > 0) return cw_fail(CW_EINVAL, "solve: matrix is singular (pivot %d)", (int)info);
    if (info < 0) return cw_fail(CW_EINVAL, "solve: dgesv argument %d", (int)-info);
    return CW_OK;
}

cw_status cw_la_det(double *det, const double *a, int64_t n) {
    CW_TRY(check_dims("det", n, n));
    double *c = copy_of(a, n * n);
    lapack_int *piv = cw_malloc_array((size_t)n, sizeof(lapack_int));
    if (!c || !piv) {
        cw_free(c);
        cw_free(piv);
        return cw_fail(CW_ENOMEM, "det: out of memory");
    }
    lapack_int info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, (lapack_int)n, (lapack_int)n, c,
                                     (lapack_int)n, piv);
    double d = 1.0;
    if (info > 0) d = 0.0;
    else if (info == 0)
        for (int64_t i = 0; i < n; i++) d *= c[i * n + i] * (piv[i] != (lapack_int)(i + 1) ? -1.0 : 1.0);
    cw_free(c);
    cw_free(piv);
    if (info < 0) return cw_fail(CW_EINVAL, "det: dgetrf argument %d", (int)-info);
    *det = d;
    return CW_OK;
}
