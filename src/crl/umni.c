/* umni.c: UMNI-CRL (spec §A4.3, §A4.0 preprocessing) and its evaluation (§A5); see umni.h for
 * the steps, orders and conventions. Double precision throughout; matrices row-major. The §A5
 * metrics (effective transform, masks, incorrect mixing, latent error, MCC, SHD, precision and
 * recall) come from crl_metrics.h and dag_ops.h; only the row alignment (cw_umni_align) and the
 * D W check are UMNI-specific.
 */
#include "crl/umni.h"

#include "core/alloc.h"
#include "core/status.h"
#include "crl/crl_metrics.h"
#include "crl/dag_ops.h"
#include "crl/support.h"
#include "eval/recovery.h"
#include "la/lapack.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void cw_umni_defaults(cw_umni_opts *o) {
    o->kappa = 2;
    o->atol_eigv = 5e-2;
    o->atol_proj = 5e-2;
    o->atol_ci = 0.05;
    o->atol_coef = 0.1;
    o->hard = 0;
}

void cw_umni_result_free(cw_umni_result *r) {
    if (!r) return;
    cw_free(r->enc_c);
    cw_free(r->enc_s);
    cw_free(r->enc_h);
    cw_free(r->g_s);
    cw_free(r->g_h);
    cw_free(r->w_c);
    cw_free(r->w);
    memset(r, 0, sizeof *r);
}

/* ---------------------------------------------------------------------------------------- */
/* candidate weights */

static int64_t gcd64(int64_t a, int64_t b) {
    if (a < 0) a = -a;
    if (b < 0) b = -b;
    while (b) {
        int64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static int64_t digit_value(int64_t c) { return c == 0 ? 0 : (c % 2 ? (c + 1) / 2 : -(c / 2)); }

cw_status cw_umni_weights(int8_t **w, int64_t *count, int64_t n, int64_t kappa) {
    *w = NULL;
    *count = 0;
    if (n < 1 || kappa < 1 || kappa > 127)
        return cw_fail(CW_EINVAL, "umni weights: n %lld, kappa %lld (need n >= 1, 1 <= kappa "
                       "<= 127)", (long long)n, (long long)kappa);
    int64_t base = 2 * kappa + 1, total = 1;
    for (int64_t i = 0; i < n; i++) {
        if (total > ((int64_t)1 << 27) / base)
            return cw_fail(CW_EINVAL, "umni weights: (2*%lld+1)^%lld candidates exceed 2^27",
                           (long long)kappa, (long long)n);
        total *= base;
    }
    int64_t k = (total - 1) / 2; /* upper bound (non-primitive vectors are skipped) */
    int8_t *out = cw_malloc_array((size_t)(k * n), 1);
    int64_t *code = cw_calloc((size_t)n, sizeof(int64_t));
    if (!out || !code) {
        cw_free(out);
        cw_free(code);
        return cw_fail(CW_ENOMEM, "umni weights: out of memory (%lld vectors)", (long long)k);
    }
    int64_t filled = 0;
    for (int64_t l1 = 1; l1 <= n * kappa; l1++) {
        memset(code, 0, (size_t)n * sizeof(int64_t));
        for (int64_t idx = 0; idx < total; idx++) {
            if (idx > 0) /* odometer, coordinate 0 fastest (colexicographic) */
                for (int64_t p = 0; p < n; p++) {
                    if (++code[p] < base) break;
                    code[p] = 0;
                }
            int64_t norm = 0, first = 0;
            for (int64_t p = 0; p < n; p++) {
                int64_t v = digit_value(code[p]);
                norm += v < 0 ? -v : v;
                if (first == 0) first = v;
            }
            if (norm != l1 || first <= 0) continue;
            int64_t g = 0;
            for (int64_t p = 0; p < n; p++) g = gcd64(g, digit_value(code[p]));
            if (g != 1) continue; /* k w: same column space as w */
            for (int64_t p = 0; p < n; p++) out[filled * n + p] = (int8_t)digit_value(code[p]);
            filled++;
        }
    }
    cw_free(code);
    *w = out;
    *count = filled;
    return CW_OK;
}

/* v (n) / gcd, first non-zero entry positive */
static void normalise_weights(int64_t *v, int64_t n, int64_t stride) {
    int64_t g = 0, first = 0;
    for (int64_t i = 0; i < n; i++) {
        g = gcd64(g, v[i * stride]);
        if (first == 0) first = v[i * stride];
    }
    if (g == 0) return;
    if (first < 0) g = -g;
    for (int64_t i = 0; i < n; i++) v[i * stride] /= g;
}

/* ---------------------------------------------------------------------------------------- */
/* Fisher-z */

cw_status cw_fisher_z_test(double *pvalue, double *r_out, const double *corr, int64_t p,
                           int64_t i, int64_t j, const int64_t *s, int64_t ns, int64_t nsamples) {
    if (i < 0 || j < 0 || i >= p || j >= p || i == j || ns < 0 || ns > p - 2)
        return cw_fail(CW_EINVAL, "fisher-z: bad indices i %lld, j %lld, |S| %lld of %lld",
                       (long long)i, (long long)j, (long long)ns, (long long)p);
    if (nsamples - ns - 3 <= 0)
        return cw_fail(CW_EINVAL, "fisher-z: %lld samples for a conditioning set of %lld (need "
                       "more than |S| + 3)", (long long)nsamples, (long long)ns);
    int64_t k = ns + 2;
    int64_t *idx = cw_malloc_array((size_t)k, sizeof(int64_t));
    double *sub = cw_malloc_array((size_t)(k * k), sizeof(double));
    double *inv = cw_malloc_array((size_t)(k * k), sizeof(double));
    cw_status st = CW_OK;
    if (!idx || !sub || !inv) st = cw_fail(CW_ENOMEM, "fisher-z: out of memory");
    if (st == CW_OK) {
        idx[0] = i;
        idx[1] = j;
        for (int64_t a = 0; a < ns; a++) {
            if (s[a] < 0 || s[a] >= p || s[a] == i || s[a] == j) {
                st = cw_fail(CW_EINVAL, "fisher-z: conditioning index %lld invalid",
                             (long long)s[a]);
                break;
            }
            idx[a + 2] = s[a];
        }
    }
    if (st == CW_OK) {
        for (int64_t a = 0; a < k; a++)
            for (int64_t b = 0; b < k; b++) sub[a * k + b] = corr[idx[a] * p + idx[b]];
        st = cw_la_pinv(inv, sub, k, k, 1e-15);
    }
    if (st == CW_OK) {
        double den = sqrt(fabs(inv[0] * inv[k + 1]));
        double r = den > 0 ? -inv[1] / den : 0.0;
        const double lim = 1.0 - 1e-15;
        if (r > lim) r = lim;
        if (r < -lim) r = -lim;
        double z = atanh(r) * sqrt((double)(nsamples - ns - 3));
        *pvalue = erfc(fabs(z) / sqrt(2.0));
        if (r_out) *r_out = r;
    }
    cw_free(idx);
    cw_free(sub);
    cw_free(inv);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* algorithm workspace */

typedef struct {
    int64_t n;
    const double *rt; /* n*n blocks of n x n: block (i, j) = R^{ij} */
    int64_t kappa;
    double atol_eigv, atol_proj;
    double *rw, *ev, *evec, *m, *u, *s, *vt, *uut; /* scratch */
    int64_t evaluated;
} umni_ws;

/* rank and basis (n x rank, columns = eigenvectors of the largest eigenvalues, descending) of
 * R_w for integer weights w (stride apart). */
static cw_status rw_basis(umni_ws *ws, const int64_t *w, int64_t stride, int64_t *rank,
                          double *basis) {
    int64_t n = ws->n, nn = n * n;
    memset(ws->rw, 0, (size_t)nn * sizeof(double));
    for (int64_t i = 0; i < n; i++) {
        double wi = (double)w[i * stride];
        if (wi == 0) continue;
        for (int64_t j = 0; j < n; j++) {
            double c = wi * (double)w[j * stride];
            if (c == 0) continue;
            const double *blk = ws->rt + (i * n + j) * nn;
            for (int64_t a = 0; a < nn; a++) ws->rw[a] += c * blk[a];
        }
    }
    /* symmetrise (R^{ji} = R^{ij}^T makes R_w symmetric up to rounding) */
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = a + 1; b < n; b++) {
            double v = 0.5 * (ws->rw[a * n + b] + ws->rw[b * n + a]);
            ws->rw[a * n + b] = ws->rw[b * n + a] = v;
        }
    CW_TRY(cw_la_eigh(ws->ev, ws->evec, ws->rw, n));
    ws->evaluated++;
    int64_t r = 0;
    for (int64_t k = 0; k < n; k++) r += ws->ev[k] > ws->atol_eigv;
    for (int64_t c = 0; c < r; c++)
        for (int64_t a = 0; a < n; a++) basis[a * r + c] = ws->evec[a * n + (n - 1 - c)];
    *rank = r;
    return CW_OK;
}

/* Orthonormal basis (n x (n - k), columns) of the complement of the k rows h[rows] (n each). */
static cw_status complement_basis(double *nb, const double *h, const int64_t *rows, int64_t k,
                                  int64_t n) {
    if (k == 0) {
        memset(nb, 0, (size_t)(n * n) * sizeof(double));
        for (int64_t a = 0; a < n; a++) nb[a * n + a] = 1.0;
        return CW_OK;
    }
    double *a = cw_malloc_array((size_t)(n * k), sizeof(double));
    double *q = cw_malloc_array((size_t)(n * n), sizeof(double));
    double *r = cw_malloc_array((size_t)(n * k), sizeof(double));
    cw_status st = CW_OK;
    if (!a || !q || !r) st = cw_fail(CW_ENOMEM, "umni: out of memory");
    if (st == CW_OK) {
        for (int64_t i = 0; i < k; i++)
            for (int64_t c = 0; c < n; c++) a[c * k + i] = h[rows[i] * n + c];
        st = cw_la_qr(q, r, a, n, k, 1);
    }
    if (st == CW_OK)
        for (int64_t c = 0; c < n; c++)
            for (int64_t b = 0; b < n - k; b++) nb[c * (n - k) + b] = q[c * n + k + b];
    cw_free(a);
    cw_free(q);
    cw_free(r);
    return st;
}

/* With U (n x r) and the complement basis N (n x nc): *ok = 1 iff exactly one singular value of
 * N^T U exceeds atol_proj; then h (n) = top left singular vector of U U^T N. */
static cw_status try_accept(umni_ws *ws, const double *u, int64_t r, const double *nb,
                            int64_t nc, int *ok, double *h) {
    int64_t n = ws->n;
    *ok = 0;
    if (r == 0 || nc == 0) return CW_OK;
    cw_la_gemm('T', 'N', nc, r, n, 1.0, nb, u, 0.0, ws->m); /* nc x r */
    CW_TRY(cw_la_svd(NULL, ws->s, NULL, ws->m, nc, r));
    int64_t kk = nc < r ? nc : r, big = 0;
    for (int64_t a = 0; a < kk; a++) big += ws->s[a] > ws->atol_proj;
    if (big != 1) return CW_OK;
    cw_la_gemm('N', 'T', n, n, r, 1.0, u, u, 0.0, ws->uut);        /* U U^T */
    cw_la_gemm('N', 'N', n, nc, n, 1.0, ws->uut, nb, 0.0, ws->m); /* n x nc */
    CW_TRY(cw_la_svd(ws->u, ws->s, ws->vt, ws->m, n, nc));
    int64_t kq = n < nc ? n : nc;
    for (int64_t a = 0; a < n; a++) h[a] = ws->u[a * kq];
    *ok = 1;
    return CW_OK;
}

/* Lift projected rows hn (n x n) to enc (n x d) = hn B^T, each row unit norm with its entry of
 * largest magnitude positive. */
static void lift_rows(double *enc, const double *hn, const double *basis, int64_t n, int64_t d) {
    cw_la_gemm('N', 'T', n, d, n, 1.0, hn, basis, 0.0, enc);
    for (int64_t k = 0; k < n; k++) {
        double *row = enc + k * d, nrm = 0, big = 0;
        int64_t arg = 0;
        for (int64_t c = 0; c < d; c++) {
            nrm += row[c] * row[c];
            if (fabs(row[c]) > big) {
                big = fabs(row[c]);
                arg = c;
            }
        }
        nrm = sqrt(nrm);
        if (nrm == 0) continue;
        double f = (row[arg] < 0 ? -1.0 : 1.0) / nrm;
        for (int64_t c = 0; c < d; c++) row[c] *= f;
    }
}

/* ---------------------------------------------------------------------------------------- */

typedef struct {
    int64_t cap, used;
    int64_t *rank; /* per candidate, -1 = not computed */
    int64_t *off;  /* offset of its basis in pool */
    double *pool;
} basis_cache;

static cw_status step1(umni_ws *ws, double *hn, int64_t *wmat, const int8_t *cand, int64_t ncand) {
    int64_t n = ws->n;
    basis_cache c = {0};
    cw_status st = CW_OK;
    c.rank = cw_malloc_array((size_t)ncand, sizeof(int64_t));
    c.off = cw_malloc_array((size_t)ncand, sizeof(int64_t));
    c.cap = 64 * n * n;
    c.pool = cw_malloc_array((size_t)c.cap, sizeof(double));
    double *nb = cw_malloc_array((size_t)(n * n), sizeof(double));
    int64_t *rows = cw_malloc_array((size_t)n, sizeof(int64_t));
    int64_t *wv = cw_malloc_array((size_t)n, sizeof(int64_t));
    if (!c.rank || !c.off || !c.pool || !nb || !rows || !wv)
        st = cw_fail(CW_ENOMEM, "umni step 1: out of memory");
    if (st == CW_OK)
        for (int64_t k = 0; k < ncand; k++) c.rank[k] = -1;
    for (int64_t t = 0; st == CW_OK && t < n; t++) {
        rows[t] = t;
        st = complement_basis(nb, hn, rows, t, n);
        int found = 0;
        for (int64_t k = 0; st == CW_OK && k < ncand && !found; k++) {
            if (c.rank[k] < 0) {
                if (c.used + n * n > c.cap) {
                    int64_t cap = 2 * c.cap;
                    double *p = cw_realloc(c.pool, (size_t)cap * sizeof(double));
                    if (!p) {
                        st = cw_fail(CW_ENOMEM, "umni step 1: out of memory (basis cache)");
                        break;
                    }
                    c.pool = p;
                    c.cap = cap;
                }
                for (int64_t a = 0; a < n; a++) wv[a] = cand[k * n + a];
                st = rw_basis(ws, wv, 1, &c.rank[k], c.pool + c.used);
                if (st != CW_OK) break;
                c.off[k] = c.used;
                c.used += n * c.rank[k];
            }
            st = try_accept(ws, c.pool + c.off[k], c.rank[k], nb, n - t, &found, hn + t * n);
            if (st == CW_OK && found) {
                for (int64_t a = 0; a < n; a++) wmat[a * n + t] = cand[k * n + a];
                normalise_weights(wmat + t, n, n);
            }
        }
        if (st == CW_OK && !found)
            st = cw_fail(CW_EINVAL, "umni step 1: no weight vector in {-%lld..%lld}^%lld isolates "
                         "a new node at position %lld (atol_eigv %g, atol_proj %g)",
                         (long long)ws->kappa, (long long)ws->kappa, (long long)n, (long long)t,
                         ws->atol_eigv, ws->atol_proj);
    }
    cw_free(c.rank);
    cw_free(c.off);
    cw_free(c.pool);
    cw_free(nb);
    cw_free(rows);
    cw_free(wv);
    return st;
}

/* (a, b) pairs in increasing |a| + b, ties: smaller b, then a = 0, 1, -1, 2, -2, ... */
static cw_status step2(umni_ws *ws, double *hn, int64_t *wmat, uint8_t *g) {
    int64_t n = ws->n;
    double *nb = cw_malloc_array((size_t)(n * n), sizeof(double));
    double *ub = cw_malloc_array((size_t)(n * n), sizeof(double));
    int64_t *rows = cw_malloc_array((size_t)n, sizeof(int64_t));
    int64_t *wv = cw_malloc_array((size_t)n, sizeof(int64_t));
    double *hh = cw_malloc_array((size_t)n, sizeof(double));
    cw_status st = CW_OK;
    if (!nb || !ub || !rows || !wv || !hh) st = cw_fail(CW_ENOMEM, "umni step 2: out of memory");
    memset(g, 0, (size_t)(n * n));
    for (int64_t t = n - 1; st == CW_OK && t >= 0; t--)
        for (int64_t j = t + 1; st == CW_OK && j < n; j++) {
            if (g[t * n + j]) continue;
            int64_t nm = 0;
            for (int64_t i = 0; i < j; i++)
                if (i != t && !g[t * n + i]) rows[nm++] = i;
            st = complement_basis(nb, hn, rows, nm, n);
            int64_t amax = 0, bmax = 0;
            for (int64_t i = 0; i < n; i++) {
                amax += llabs(wmat[i * n + j]);
                bmax += llabs(wmat[i * n + t]);
            }
            int found = 0;
            for (int64_t sum = 1; st == CW_OK && !found && sum <= amax + bmax; sum++)
                for (int64_t b = 1; st == CW_OK && !found && b <= bmax && b <= sum; b++) {
                    int64_t aa = sum - b;
                    if (aa > amax) continue;
                    for (int64_t sgn = 0; sgn < (aa == 0 ? 1 : 2) && !found; sgn++) {
                        int64_t a = sgn ? -aa : aa;
                        for (int64_t i = 0; i < n; i++)
                            wv[i] = a * wmat[i * n + t] + b * wmat[i * n + j];
                        int64_t r;
                        st = rw_basis(ws, wv, 1, &r, ub);
                        if (st != CW_OK) break;
                        st = try_accept(ws, ub, r, nb, n - nm, &found, hh);
                        if (st == CW_OK && found) {
                            memcpy(hn + j * n, hh, (size_t)n * sizeof(double));
                            for (int64_t i = 0; i < n; i++) wmat[i * n + j] = wv[i];
                            normalise_weights(wmat + j, n, n);
                        }
                    }
                }
            if (st == CW_OK && !found) {
                g[t * n + j] = 1;
                for (int64_t i = 0; i < n; i++) g[t * n + i] |= g[j * n + i];
            }
        }
    cw_free(nb);
    cw_free(ub);
    cw_free(rows);
    cw_free(wv);
    cw_free(hh);
    return st;
}

/* u (k) = -C[an,an]^{-1} C[an,t] for the n x n covariance c. */
static cw_status regress(double *u, const double *c, const int64_t *an, int64_t k, int64_t t,
                         int64_t n, double *sub) {
    for (int64_t a = 0; a < k; a++) {
        for (int64_t b = 0; b < k; b++) sub[a * k + b] = c[an[a] * n + an[b]];
        u[a] = -c[an[a] * n + t];
    }
    return cw_la_solve(u, sub, u, k, 1);
}

/* covz (n x n) = h c h^T */
static void latent_cov(double *covz, const double *h, const double *c, int64_t n, double *tmp) {
    cw_la_gemm('N', 'N', n, n, n, 1.0, h, c, 0.0, tmp);
    cw_la_gemm('N', 'T', n, n, n, 1.0, tmp, h, 0.0, covz);
}

/* step 3: hard unmixing of hn (n x n) with the projected environment covariances cx (n_env
 * blocks of n x n), then the Fisher-z pruning of g_s into g_h. */
static cw_status step3(double *hn, uint8_t *gh, const uint8_t *gs, const int64_t *wc,
                       const double *cx, int64_t n0, int64_t n, const cw_umni_opts *o) {
    int64_t nn = n * n;
    double *covz = cw_malloc_array((size_t)nn, sizeof(double));
    double *tmp = cw_malloc_array((size_t)nn, sizeof(double));
    double *sub = cw_malloc_array((size_t)nn, sizeof(double));
    double *u0 = cw_malloc_array((size_t)n, sizeof(double));
    double *um = cw_malloc_array((size_t)n, sizeof(double));
    int64_t *an = cw_malloc_array((size_t)n, sizeof(int64_t));
    cw_status st = CW_OK;
    if (!covz || !tmp || !sub || !u0 || !um || !an)
        st = cw_fail(CW_ENOMEM, "umni step 3: out of memory");
    for (int64_t t = 1; st == CW_OK && t < n; t++) {
        int64_t k = 0;
        for (int64_t i = 0; i < n; i++)
            if (gs[i * n + t]) an[k++] = i;
        if (k == 0) continue;
        latent_cov(covz, hn, cx, n, tmp);
        st = regress(u0, covz, an, k, t, n, sub);
        for (int64_t m = 0; st == CW_OK && m < n; m++) {
            if (wc[m * n + t] == 0) continue;
            latent_cov(covz, hn, cx + (m + 1) * nn, n, tmp);
            st = regress(um, covz, an, k, t, n, sub);
            if (st != CW_OK) break;
            double dist = 0;
            for (int64_t a = 0; a < k; a++) dist += (um[a] - u0[a]) * (um[a] - u0[a]);
            if (sqrt(dist) > o->atol_coef) {
                for (int64_t a = 0; a < k; a++)
                    for (int64_t c = 0; c < n; c++) hn[t * n + c] += um[a] * hn[an[a] * n + c];
                break;
            }
        }
        if (st != CW_OK) st = cw_fail_prefix(st, "umni step 3: row %lld", (long long)t);
    }
    if (st == CW_OK) {
        latent_cov(covz, hn, cx, n, tmp);
        for (int64_t a = 0; a < n; a++) u0[a] = sqrt(covz[a * n + a]);
        for (int64_t a = 0; a < n; a++)
            for (int64_t b = 0; b < n; b++) tmp[a * n + b] = covz[a * n + b] / (u0[a] * u0[b]);
        memset(gh, 0, (size_t)nn);
        for (int64_t t = 0; st == CW_OK && t < n; t++)
            for (int64_t j = 0; st == CW_OK && j < n; j++) {
                if (!gs[t * n + j]) continue;
                int64_t k = 0;
                for (int64_t i = 0; i < n; i++)
                    if (gs[i * n + j] && i != t) an[k++] = i;
                double p;
                st = cw_fisher_z_test(&p, NULL, tmp, n, t, j, an, k, n0);
                gh[t * n + j] = p <= o->atol_ci;
            }
    }
    cw_free(covz);
    cw_free(tmp);
    cw_free(sub);
    cw_free(u0);
    cw_free(um);
    cw_free(an);
    return st;
}

cw_status cw_umni_run(cw_umni_result *res, const double *const *x, const int64_t *count,
                      const double *const *ds_x, int64_t n, int64_t d, const cw_umni_opts *o) {
    memset(res, 0, sizeof *res);
    if (n < 1 || d < n)
        return cw_fail(CW_EINVAL, "umni: latent dimension %lld for observed dimension %lld",
                       (long long)n, (long long)d);
    if (!(o->atol_eigv >= 0) || !(o->atol_proj >= 0) || !(o->atol_ci >= 0) ||
        !(o->atol_coef >= 0))
        return cw_fail(CW_EINVAL, "umni: tolerances must be >= 0");
    for (int64_t e = 0; e <= n; e++)
        if (count[e] < 2)
            return cw_fail(CW_EINVAL, "umni: environment %lld has %lld samples (need 2)",
                           (long long)e, (long long)count[e]);
    int8_t *cand = NULL;
    int64_t ncand = 0;
    CW_TRY(cw_umni_weights(&cand, &ncand, n, o->kappa));

    int64_t nn = n * n, n0 = count[0];
    double *basis = cw_malloc_array((size_t)(d * n), sizeof(double));
    double *dsn = cw_malloc_array((size_t)(n * n0 * n), sizeof(double));
    double *rt = cw_malloc_array((size_t)(nn * nn), sizeof(double));
    double *hn = cw_calloc((size_t)nn, sizeof(double));
    double *hc = cw_malloc_array((size_t)nn, sizeof(double));
    umni_ws ws = {.n = n, .rt = rt, .kappa = o->kappa, .atol_eigv = o->atol_eigv,
                  .atol_proj = o->atol_proj};
    ws.rw = cw_malloc_array((size_t)nn, sizeof(double));
    ws.ev = cw_malloc_array((size_t)n, sizeof(double));
    ws.evec = cw_malloc_array((size_t)nn, sizeof(double));
    ws.m = cw_malloc_array((size_t)nn, sizeof(double));
    ws.u = cw_malloc_array((size_t)nn, sizeof(double));
    ws.s = cw_malloc_array((size_t)n, sizeof(double));
    ws.vt = cw_malloc_array((size_t)nn, sizeof(double));
    ws.uut = cw_malloc_array((size_t)nn, sizeof(double));
    res->n = n;
    res->d = d;
    res->enc_c = cw_malloc_array((size_t)(n * d), sizeof(double));
    res->enc_s = cw_malloc_array((size_t)(n * d), sizeof(double));
    res->g_s = cw_calloc((size_t)nn, 1);
    res->w_c = cw_calloc((size_t)nn, sizeof(int64_t));
    res->w = cw_calloc((size_t)nn, sizeof(int64_t));
    double *cx = NULL, *xn = NULL;
    cw_status st = CW_OK;
    if (!basis || !dsn || !rt || !hn || !hc || !ws.rw || !ws.ev || !ws.evec || !ws.m || !ws.u ||
        !ws.s || !ws.vt || !ws.uut || !res->enc_c || !res->enc_s || !res->g_s || !res->w_c ||
        !res->w)
        st = cw_fail(CW_ENOMEM, "umni: out of memory (n %lld, d %lld, %lld samples)",
                     (long long)n, (long long)d, (long long)n0);

    /* §A4.0: basis, projected score differences, R^{ij} */
    if (st == CW_OK) st = cw_crl_support_basis(basis, x, count, n + 1, d, n);
    if (st == CW_OK) {
        for (int64_t m = 0; m < n; m++) cw_crl_project(dsn + m * n0 * n, ds_x[m], n0, basis, d, n);
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++)
                cw_crl_cross_moment(rt + (i * n + j) * nn, dsn + i * n0 * n, dsn + j * n0 * n, n0,
                                    n);
        for (int64_t a = 0; a < nn * nn; a++)
            if (!isfinite(rt[a])) {
                st = cw_fail(CW_EINVAL, "umni: non-finite score differences");
                break;
            }
    }
    cw_free(dsn);
    dsn = NULL;

    if (st == CW_OK) st = step1(&ws, hn, res->w_c, cand, ncand);
    if (st == CW_OK) {
        memcpy(hc, hn, (size_t)nn * sizeof(double));
        lift_rows(res->enc_c, hc, basis, n, d);
        memcpy(res->w, res->w_c, (size_t)nn * sizeof(int64_t));
        st = step2(&ws, hn, res->w, res->g_s);
    }
    if (st == CW_OK) lift_rows(res->enc_s, hn, basis, n, d);

    if (st == CW_OK && o->hard) {
        res->enc_h = cw_malloc_array((size_t)(n * d), sizeof(double));
        res->g_h = cw_calloc((size_t)nn, 1);
        cx = cw_malloc_array((size_t)((n + 1) * nn), sizeof(double));
        int64_t maxc = 0;
        for (int64_t e = 0; e <= n; e++) maxc = count[e] > maxc ? count[e] : maxc;
        xn = cw_malloc_array((size_t)(maxc * n), sizeof(double));
        if (!res->enc_h || !res->g_h || !cx || !xn)
            st = cw_fail(CW_ENOMEM, "umni step 3: out of memory");
        for (int64_t e = 0; st == CW_OK && e <= n; e++) {
            /* centred covariance (divisor count) of the projected samples */
            cw_crl_project(xn, x[e], count[e], basis, d, n);
            double *mp = res->enc_h; /* scratch (n <= n*d), overwritten by lift_rows */
            memset(mp, 0, (size_t)n * sizeof(double));
            for (int64_t i = 0; i < count[e]; i++)
                for (int64_t a = 0; a < n; a++) mp[a] += xn[i * n + a];
            for (int64_t a = 0; a < n; a++) mp[a] /= (double)count[e];
            for (int64_t i = 0; i < count[e]; i++)
                for (int64_t a = 0; a < n; a++) xn[i * n + a] -= mp[a];
            cw_crl_cross_moment(cx + e * nn, xn, xn, count[e], n);
        }
        if (st == CW_OK) st = step3(hn, res->g_h, res->g_s, res->w_c, cx, n0, n, o);
        if (st == CW_OK) lift_rows(res->enc_h, hn, basis, n, d);
    }
    res->evaluated = ws.evaluated;
    cw_free(cand);
    cw_free(basis);
    cw_free(rt);
    cw_free(hn);
    cw_free(hc);
    cw_free(cx);
    cw_free(xn);
    cw_free(ws.rw);
    cw_free(ws.ev);
    cw_free(ws.evec);
    cw_free(ws.m);
    cw_free(ws.u);
    cw_free(ws.s);
    cw_free(ws.vt);
    cw_free(ws.uut);
    if (st != CW_OK) cw_umni_result_free(res);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* evaluation: the §A5 metrics come from crl_metrics.h and dag_ops.h; only the alignment of
 * estimated rows to true nodes and the UMNI-specific D W check live here. */

cw_status cw_umni_align(int64_t *node_of_row, const double *enc, const double *g, int64_t n,
                        int64_t d) {
    double *e = cw_malloc_array((size_t)(n * n), sizeof(double));
    if (!e) return cw_fail(CW_ENOMEM, "umni align: out of memory");
    cw_la_gemm('N', 'N', n, n, d, 1.0, enc, g, 0.0, e);
    for (int64_t a = 0; a < n * n; a++) e[a] = log(fmax(fabs(e[a]), 1e-300));
    cw_status st = cw_hungarian_max(node_of_row, NULL, e, n, n);
    cw_free(e);
    return st;
}

/* One stage's metrics: enc (n x d, rows in the estimated order), graph g (estimated order),
 * row_of_node (n, the inverse of the alignment), goal graph (true node indices), mask kind
 * (CW_CRL_MASK_PARENTS with goal = the closure: I OR closure^T; or CW_CRL_MASK_HARD), zall
 * (nall x n, every environment's latents). */
static cw_status stage_metrics(cw_metric_list *out, const char *suffix, const double *enc,
                               const uint8_t *g, const int64_t *row_of_node, const uint8_t *goal,
                               cw_crl_mask_kind kind, const cw_crl_data *t, const double *zall,
                               int64_t nall, double atol) {
    int64_t n = t->n, d = t->d;
    double *h = cw_malloc_array((size_t)(n * d), sizeof(double));
    double *e = cw_malloc_array((size_t)(n * n), sizeof(double));
    uint8_t *ga = cw_malloc_array((size_t)(n * n), 1);
    uint8_t *mask = cw_malloc_array((size_t)(n * n), 1);
    cw_status st = CW_OK;
    char name[24];
    if (!h || !e || !ga || !mask) st = cw_fail(CW_ENOMEM, "umni evaluate: out of memory");
    if (st == CW_OK) {
        /* rows in the true node order, so that E = H G has the node's own entry on the diagonal */
        for (int64_t i = 0; i < n; i++)
            memcpy(h + i * d, enc + row_of_node[i] * d, (size_t)d * sizeof(double));
        st = cw_crl_effective_transform(e, h, t->mixing.g, NULL, n, d);
    }
    if (st == CW_OK) {
        cw_dag_permute(ga, g, row_of_node, n); /* ga[i, j] = g[row(i), row(j)] */
        double prec, rec;
        cw_dag_precision_recall(&prec, &rec, goal, ga, n, 0.0);
        snprintf(name, sizeof name, "shd_%s", suffix);
        cw_metric_set(out, name, (double)cw_dag_shd(goal, ga, n));
        snprintf(name, sizeof name, "precision_%s", suffix);
        cw_metric_set(out, name, prec);
        snprintf(name, sizeof name, "recall_%s", suffix);
        cw_metric_set(out, name, rec);
        st = cw_crl_mask(mask, kind, goal, n);
    }
    if (st == CW_OK) {
        cw_crl_mixing mix;
        st = cw_crl_incorrect_mixing(&mix, e, mask, n, atol);
        snprintf(name, sizeof name, "mix_count_%s", suffix);
        cw_metric_set(out, name, (double)mix.count);
        snprintf(name, sizeof name, "mix_ratio_%s", suffix);
        cw_metric_set(out, name, mix.ratio);
        snprintf(name, sizeof name, "mix_norm_%s", suffix);
        cw_metric_set(out, name, st == CW_OK ? mix.norm : NAN);
    }
    if (st == CW_OK) {
        double zerr = NAN, mcc = NAN;
        st = cw_crl_latent_error(&zerr, e, zall, nall, n);
        snprintf(name, sizeof name, "zerr_%s", suffix);
        cw_metric_set(out, name, zerr);
        if (st == CW_OK) st = cw_crl_mcc_linear(&mcc, NULL, e, t->z[0], t->count[0], n);
        snprintf(name, sizeof name, "mcc_%s", suffix);
        cw_metric_set(out, name, mcc);
    }
    if (st != CW_OK) st = cw_fail_prefix(st, "umni evaluate (stage %s)", suffix);
    cw_free(h);
    cw_free(e);
    cw_free(ga);
    cw_free(mask);
    return st;
}

cw_status cw_umni_evaluate(cw_metric_list *out, const cw_umni_result *r, const cw_crl_data *truth,
                           const cw_umni_opts *o, double atol_eff_nz) {
    (void)o;
    int64_t n = r->n, d = r->d;
    if (!(truth->has_truth || truth->has_graph) || !truth->z || !truth->mixing.g ||
        !truth->targets)
        return cw_fail(CW_EINVAL, "umni evaluate: the dataset has no ground truth (graph, "
                       "targets, linear mixing and latents needed)");
    if (truth->n != n || truth->d != d || truth->n_env != n + 1)
        return cw_fail(CW_EINVAL, "umni evaluate: result n %lld d %lld vs data n %lld d %lld "
                       "with %lld environments", (long long)n, (long long)d,
                       (long long)truth->n, (long long)truth->d, (long long)truth->n_env);
    int64_t nn = n * n, nall = 0;
    for (int64_t e = 0; e < truth->n_env; e++) nall += truth->count[e];
    int64_t *node = cw_malloc_array((size_t)n, sizeof(int64_t));
    int64_t *row = cw_malloc_array((size_t)n, sizeof(int64_t));
    uint8_t *closure = cw_calloc((size_t)nn, 1);
    double *zall = cw_malloc_array((size_t)(nall * n), sizeof(double));
    cw_status st = CW_OK;
    if (!node || !row || !closure || !zall)
        st = cw_fail(CW_ENOMEM, "umni evaluate: out of memory (%lld latent samples)",
                     (long long)nall);
    if (st == CW_OK) st = cw_umni_align(node, r->enc_s, truth->mixing.g, n, d);
    if (st == CW_OK) {
        for (int64_t k = 0; k < n; k++) row[node[k]] = k;
        /* the normalised latent error runs over all environments' samples (§A5) */
        for (int64_t e = 0, off = 0; e < truth->n_env; off += truth->count[e] * n, e++)
            memcpy(zall + off, truth->z[e], (size_t)(truth->count[e] * n) * sizeof(double));
        const uint8_t *adj = truth->scm.adj;
        cw_dag_transitive_closure(closure, adj, n);
        /* D W (nodes x aligned rows) off I OR closure^T */
        int64_t extra = 0;
        for (int64_t k = 0; k < n; k++)
            for (int64_t i = 0; i < n; i++) {
                int64_t v = 0;
                for (int64_t m = 0; m < n; m++)
                    v += (int64_t)(truth->targets[(m + 1) * n + i] != 0) * r->w[m * n + k];
                int64_t node_k = node[k];
                if (v != 0 && i != node_k && !closure[i * n + node_k]) extra++;
            }
        cw_metric_set(out, "dw_extra", (double)extra);
        st = stage_metrics(out, "s", r->enc_s, r->g_s, row, closure, CW_CRL_MASK_PARENTS, truth,
                           zall, nall, atol_eff_nz);
        if (st == CW_OK && r->enc_h && r->g_h)
            st = stage_metrics(out, "h", r->enc_h, r->g_h, row, adj, CW_CRL_MASK_HARD, truth, zall,
                               nall, atol_eff_nz);
        const char *primary = r->enc_h && r->g_h ? "h" : "s";
        char name[24];
        snprintf(name, sizeof name, "shd_%s", primary);
        cw_metric_set(out, "shd", cw_metric_get(out, name));
        snprintf(name, sizeof name, "mcc_%s", primary);
        cw_metric_set(out, "mcc", cw_metric_get(out, name));
    }
    cw_free(node);
    cw_free(row);
    cw_free(closure);
    cw_free(zall);
    return st;
}
