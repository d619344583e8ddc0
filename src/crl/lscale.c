/* lscale.c: LSCALE-I (spec §A4.0, §A4.1 with Algorithm 2) and its §A5 evaluation; see lscale.h
 * for the conventions (row signs, normalisation, subspace intersections).
 *
 * Everything after the projection runs in R^n (n x n matrices); encoders are lifted back to
 * R^d at the end as H = H_n B_n^T. Matrices are row-major; "column k" of an n x n buffer m is
 * m[i*n + k].
 */
#include "crl/lscale.h"

#include "core/alloc.h"
#include "core/status.h"
#include "crl/crl_metrics.h"
#include "crl/dag_ops.h"
#include "crl/support.h"
#include "la/lapack.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define NN(n) ((size_t)((n) * (n)))

/* ------------------------------------------------------------------ preprocessing (§A4.0) */

void cw_lin_prep_free(cw_lin_prep *p) {
    if (!p) return;
    cw_free(p->basis);
    cw_free(p->r);
    cw_free(p->xcov);
    memset(p, 0, sizeof *p);
}

cw_status cw_lin_prepare(cw_lin_prep *p, const double *const *x, const int64_t *count,
                         const double *const *ds_x, int64_t n, int64_t d, int with_cov) {
    memset(p, 0, sizeof *p);
    if (!x || !count || !ds_x)
        return cw_fail(CW_EINVAL, "linear CRL: NULL samples, counts or score differences");
    if (n < 1 || d < n)
        return cw_fail(CW_EINVAL, "linear CRL: latent dimension %lld with observed dimension %lld "
                       "(need 1 <= n <= d)", (long long)n, (long long)d);
    for (int64_t e = 0; e <= n; e++) {
        if (!x[e]) return cw_fail(CW_EINVAL, "linear CRL: environment %lld has no samples",
                                  (long long)e);
        if (count[e] < 2)
            return cw_fail(CW_EINVAL, "linear CRL: environment %lld has %lld samples (need 2)",
                           (long long)e, (long long)count[e]);
    }
    for (int64_t m = 0; m < n; m++)
        if (!ds_x[m])
            return cw_fail(CW_EINVAL, "linear CRL: score difference of environment %lld missing",
                           (long long)(m + 1));
    p->n = n;
    p->d = d;
    p->basis = cw_malloc_array((size_t)(d * n), sizeof(double));
    p->r = cw_malloc_array(NN(n) * (size_t)n, sizeof(double));
    if (with_cov) p->xcov = cw_malloc_array(NN(n) * (size_t)(n + 1), sizeof(double));
    int64_t maxc = 0;
    for (int64_t e = 0; e <= n; e++) maxc = count[e] > maxc ? count[e] : maxc;
    double *proj = cw_malloc_array((size_t)(maxc * n), sizeof(double));
    cw_status st = CW_OK;
    if (!p->basis || !p->r || (with_cov && !p->xcov) || !proj)
        st = cw_fail(CW_ENOMEM, "linear CRL: out of memory (n %lld, d %lld, %lld samples)",
                     (long long)n, (long long)d, (long long)maxc);
    if (st == CW_OK) st = cw_crl_support_basis(p->basis, x, count, n + 1, d, n);
    for (int64_t m = 0; st == CW_OK && m < n; m++) {
        cw_crl_project(proj, ds_x[m], count[0], p->basis, d, n);
        double *r = p->r + (size_t)m * NN(n);
        cw_crl_cross_moment(r, proj, proj, count[0], n);
        for (int64_t i = 0; i < n * n; i++)
            if (!isfinite(r[i])) {
                st = cw_fail(CW_EINVAL, "linear CRL: score difference of environment %lld is not "
                             "finite", (long long)(m + 1));
                break;
            }
        /* symmetrise (the product is symmetric up to rounding) */
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = i + 1; j < n; j++) {
                double s = 0.5 * (r[i * n + j] + r[j * n + i]);
                r[i * n + j] = r[j * n + i] = s;
            }
    }
    for (int64_t e = 0; st == CW_OK && with_cov && e <= n; e++) {
        int64_t c = count[e];
        cw_crl_project(proj, x[e], c, p->basis, d, n);
        double mu[64], *mub = n <= 64 ? mu : cw_calloc((size_t)n, sizeof(double));
        if (!mub) {
            st = cw_fail(CW_ENOMEM, "linear CRL: out of memory");
            break;
        }
        memset(mub, 0, (size_t)n * sizeof(double));
        for (int64_t i = 0; i < c; i++)
            for (int64_t k = 0; k < n; k++) mub[k] += proj[i * n + k];
        for (int64_t k = 0; k < n; k++) mub[k] /= (double)c;
        for (int64_t i = 0; i < c; i++)
            for (int64_t k = 0; k < n; k++) proj[i * n + k] -= mub[k];
        if (mub != mu) cw_free(mub);
        cw_crl_cross_moment(p->xcov + (size_t)e * NN(n), proj, proj, c, n);
    }
    cw_free(proj);
    if (st != CW_OK) cw_lin_prep_free(p);
    return st;
}

/* Flips v (n) so that the largest-|entry| of basis v (or of v when basis is NULL) is > 0. */
static void fix_sign(double *v, const double *basis, int64_t n, int64_t d) {
    double best = -1, val = 0;
    if (basis) {
        for (int64_t i = 0; i < d; i++) {
            double s = 0;
            for (int64_t k = 0; k < n; k++) s += basis[i * n + k] * v[k];
            if (fabs(s) > best) {
                best = fabs(s);
                val = s;
            }
        }
    } else {
        for (int64_t k = 0; k < n; k++)
            if (fabs(v[k]) > best) {
                best = fabs(v[k]);
                val = v[k];
            }
    }
    if (val < 0)
        for (int64_t k = 0; k < n; k++) v[k] = -v[k];
}

cw_status cw_lin_top_eigvec(double *v, const double *r, const double *basis, int64_t n,
                            int64_t d) {
    double *w = cw_malloc_array((size_t)n, sizeof(double));
    double *vec = cw_malloc_array(NN(n), sizeof(double));
    cw_status st = (!w || !vec) ? cw_fail(CW_ENOMEM, "top eigenvector: out of memory") : CW_OK;
    if (st == CW_OK) st = cw_la_eigh(w, vec, r, n);
    if (st == CW_OK) {
        for (int64_t i = 0; i < n; i++) v[i] = vec[i * n + (n - 1)];
        fix_sign(v, basis, n, d);
    }
    cw_free(w);
    cw_free(vec);
    return st;
}

/* ------------------------------------------------------------------ LSCALE-I helpers */

void cw_lscale_defaults(cw_lscale_opts *o) {
    o->atol_edge = 1e-3;
    o->atol_eigv = 1e-2;
    o->atol_intersect = 1e-6;
    o->rtol_rank = 1e-3;
    o->hard = 1;
    o->full_rank = 0;
    o->hard_and_soft = 1;
    o->full_and_soft = 0;
}

void cw_lscale_result_free(cw_lscale_result *r) {
    if (!r) return;
    cw_free(r->enc_s);
    cw_free(r->enc_h);
    cw_free(r->enc_f);
    cw_free(r->g_s);
    cw_free(r->g_h);
    cw_free(r->g_f);
    cw_free(r->order);
    cw_free(r->order_h);
    cw_free(r->basis);
    cw_free(r->rz_s);
    cw_free(r->rz_h);
    cw_free(r->rz_f);
    memset(r, 0, sizeof *r);
}

/* rz[j*n + i] = diag(D^T R^{i} D)_j = sum_ab D[a,j] R^i[a,b] D[b,j]. */
static void rz_diag(double *rz, const double *dec, const double *r, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double *ri = r + (size_t)i * NN(n);
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t a = 0; a < n; a++) {
                double t = 0;
                for (int64_t b = 0; b < n; b++) t += ri[a * n + b] * dec[b * n + j];
                s += dec[a * n + j] * t;
            }
            rz[j * n + i] = s;
        }
    }
}

/* Stage L2: threshold, closest DAG, Kahn order. */
static cw_status graph_from_rz(uint8_t *g, int64_t *order, const double *rz, int64_t n,
                               double atol_edge) {
    uint8_t *raw = cw_calloc(NN(n), 1);
    if (!raw) return cw_fail(CW_ENOMEM, "LSCALE-I graph: out of memory");
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < n; i++) raw[j * n + i] = (j != i && rz[j * n + i] >= atol_edge);
    cw_status st = cw_dag_closest(g, NULL, raw, n);
    if (st == CW_OK) st = cw_dag_topological_order(order, g, n);
    cw_free(raw);
    return st;
}

/* out (n x d) = h (n x n) B^T. */
static void lift(double *out, const double *h, const double *basis, int64_t n, int64_t d) {
    cw_la_gemm('N', 'T', n, d, n, 1.0, h, basis, 0.0, out);
}

static int all_finite(const double *a, int64_t k) {
    for (int64_t i = 0; i < k; i++)
        if (!isfinite(a[i])) return 0;
    return 1;
}

/* Orthonormal basis (columns of u, n x *k) of the eigenvectors of r with eigenvalue > tol. */
static cw_status col_basis(double *u, int64_t *k, const double *r, int64_t n, double tol) {
    double *w = cw_malloc_array((size_t)n, sizeof(double));
    double *v = cw_malloc_array(NN(n), sizeof(double));
    cw_status st = (!w || !v) ? cw_fail(CW_ENOMEM, "column space: out of memory") : CW_OK;
    if (st == CW_OK) st = cw_la_eigh(w, v, r, n);
    if (st == CW_OK) {
        int64_t c = 0;
        for (int64_t a = n - 1; a >= 0; a--)
            if (w[a] > tol) c++;
        /* columns in descending eigenvalue order */
        for (int64_t i = 0; i < n; i++)
            for (int64_t a = 0; a < c; a++) u[i * c + a] = v[i * n + (n - 1 - a)];
        *k = c;
    }
    cw_free(w);
    cw_free(v);
    return st;
}

/* Intersection of col(q) (n x *kq, orthonormal columns) with col(u) (n x ku): q is replaced by
 * an orthonormal basis (n x *kq) of the intersection. dim = kq + ku - rank [q u], through the
 * null space of [q, -u] with relative tolerance rtol. */
static cw_status intersect(double *q, int64_t *kq, const double *u, int64_t ku, int64_t n,
                           double rtol) {
    int64_t a = *kq, c = a + ku;
    if (a == 0 || ku == 0) {
        *kq = 0;
        return CW_OK;
    }
    double *m = cw_malloc_array((size_t)(n * c), sizeof(double));
    double *nb = cw_malloc_array((size_t)(c * c), sizeof(double));
    double *y = cw_malloc_array((size_t)(n * c), sizeof(double));
    double *s = cw_malloc_array((size_t)c, sizeof(double));
    double *uu = cw_malloc_array((size_t)(n * c), sizeof(double));
    double *vt = cw_malloc_array((size_t)(c * c), sizeof(double));
    cw_status st = (!m || !nb || !y || !s || !uu || !vt)
                       ? cw_fail(CW_ENOMEM, "subspace intersection: out of memory") : CW_OK;
    int64_t k = 0;
    if (st == CW_OK) {
        for (int64_t i = 0; i < n; i++) {
            for (int64_t j = 0; j < a; j++) m[i * c + j] = q[i * a + j];
            for (int64_t j = 0; j < ku; j++) m[i * c + a + j] = -u[i * ku + j];
        }
        st = cw_la_null_space(nb, &k, m, n, c, rtol);
    }
    if (st == CW_OK && k > 0) {
        /* y (n x k) = q a_r for each null vector r (first a entries of row r of nb) */
        for (int64_t i = 0; i < n; i++)
            for (int64_t r = 0; r < k; r++) {
                double t = 0;
                for (int64_t j = 0; j < a; j++) t += q[i * a + j] * nb[r * c + j];
                y[i * k + r] = t;
            }
        st = cw_la_svd(uu, s, vt, y, n, k); /* u is only computed with vt */
        if (st == CW_OK) {
            int64_t kk = k < n ? k : n;
            for (int64_t i = 0; i < n; i++)
                for (int64_t r = 0; r < kk; r++) q[i * kk + r] = uu[i * kk + r];
            k = kk;
        }
    }
    if (st == CW_OK) *kq = k;
    cw_free(m);
    cw_free(nb);
    cw_free(y);
    cw_free(s);
    cw_free(uu);
    cw_free(vt);
    return st;
}

/* D = pinv(H); A = B D; D[:,k] /= max_i |A_ik|; H = pinv(D). dec receives D. */
static cw_status normalise(double *h, double *dec, const double *basis, int64_t n, int64_t d) {
    double *a = cw_malloc_array((size_t)(d * n), sizeof(double));
    if (!a) return cw_fail(CW_ENOMEM, "LSCALE-I normalisation: out of memory");
    cw_status st = cw_la_pinv(dec, h, n, n, 1e-15);
    if (st == CW_OK) {
        cw_la_gemm('N', 'N', d, n, n, 1.0, basis, dec, 0.0, a);
        for (int64_t k = 0; k < n; k++) {
            double mx = 0;
            for (int64_t i = 0; i < d; i++) mx = fabs(a[i * n + k]) > mx ? fabs(a[i * n + k]) : mx;
            if (mx > 0)
                for (int64_t i = 0; i < n; i++) dec[i * n + k] /= mx;
        }
        st = cw_la_pinv(h, dec, n, n, 1e-15);
    }
    cw_free(a);
    return st;
}

/* Stage L3 (§A4.1): unmix the parents out of each row in its own (hard) environment. */
static cw_status unmix(double *hh, const double *hs, const uint8_t *gs, const int64_t *order,
                       const double *xcov, int64_t n) {
    double *c = cw_malloc_array(NN(n), sizeof(double));
    double *t = cw_malloc_array(NN(n), sizeof(double));
    double *aa = cw_malloc_array(NN(n), sizeof(double));
    double *bb = cw_malloc_array((size_t)n, sizeof(double));
    int64_t *an = cw_malloc_array((size_t)n, sizeof(int64_t));
    cw_status st = (!c || !t || !aa || !bb || !an)
                       ? cw_fail(CW_ENOMEM, "LSCALE-I unmixing: out of memory") : CW_OK;
    memcpy(hh, hs, NN(n) * sizeof(double));
    for (int64_t s = 1; st == CW_OK && s < n; s++) {
        int64_t m = order[s], na = 0;
        for (int64_t j = 0; j < n; j++)
            if (gs[j * n + m]) an[na++] = j;
        if (na == 0) continue;
        /* C = H_s Cov_{env m+1} H_s^T */
        const double *cov = xcov + (size_t)(m + 1) * NN(n);
        cw_la_gemm('N', 'N', n, n, n, 1.0, hs, cov, 0.0, t);
        cw_la_gemm('N', 'T', n, n, n, 1.0, t, hs, 0.0, c);
        for (int64_t a = 0; a < na; a++) {
            for (int64_t b = 0; b < na; b++) aa[a * na + b] = c[an[a] * n + an[b]];
            bb[a] = c[an[a] * n + m];
        }
        cw_status s2 = cw_la_spd_solve(bb, aa, bb, na, 1);
        if (s2 != CW_OK) {
            for (int64_t a = 0; a < na; a++) {
                for (int64_t b = 0; b < na; b++) aa[a * na + b] = c[an[a] * n + an[b]];
                bb[a] = c[an[a] * n + m];
            }
            s2 = cw_la_solve(bb, aa, bb, na, 1);
        }
        if (s2 != CW_OK) {
            st = cw_fail_prefix(s2, "LSCALE-I unmixing (environment %lld)", (long long)(m + 1));
            break;
        }
        for (int64_t a = 0; a < na; a++)
            for (int64_t k = 0; k < n; k++) hh[m * n + k] -= bb[a] * hs[an[a] * n + k];
    }
    cw_free(c);
    cw_free(t);
    cw_free(aa);
    cw_free(bb);
    cw_free(an);
    return st;
}

/* Algorithm 2 graph (§A4.1 full-rank variant). */
static cw_status full_rank_graph(uint8_t *gf, const uint8_t *gs, const int64_t *order,
                                 const double *r, int64_t n, const cw_lscale_opts *o) {
    uint8_t *tr = cw_calloc(NN(n), 1), *tc = cw_calloc(NN(n), 1);
    double *ub = cw_malloc_array(NN(n) * (size_t)n, sizeof(double));
    int64_t *kb = cw_malloc_array((size_t)n, sizeof(int64_t));
    double *q = cw_malloc_array(NN(n), sizeof(double));
    cw_status st = (!tr || !tc || !ub || !kb || !q)
                       ? cw_fail(CW_ENOMEM, "LSCALE-I full-rank graph: out of memory") : CW_OK;
    if (st == CW_OK) {
        cw_dag_transitive_reduction(tr, gs, n);
        cw_dag_transitive_closure(tc, gs, n);
        memset(gf, 0, NN(n));
    }
    for (int64_t i = 0; st == CW_OK && i < n; i++)
        st = col_basis(ub + (size_t)i * NN(n), &kb[i], r + (size_t)i * NN(n), n, o->atol_eigv);
    for (int64_t i = 0; st == CW_OK && i < n; i++) {
        int64_t k = order[i];
        for (int64_t j = 0; st == CW_OK && j < i; j++) {
            int64_t t = order[j];
            if (tr[t * n + k]) {
                gf[t * n + k] = 1;
                continue;
            }
            if (!tc[t * n + k]) continue;
            int64_t kq = kb[t];
            memcpy(q, ub + (size_t)t * NN(n), (size_t)(n * kq) * sizeof(double));
            st = intersect(q, &kq, ub + (size_t)k * NN(n), kb[k], n, o->rtol_rank);
            if (st != CW_OK) break;
            int64_t common = 0;
            for (int64_t p = 0; p < n; p++) common += gf[p * n + t] && gf[p * n + k];
            if (kq > common) gf[t * n + k] = 1;
        }
    }
    cw_free(tr);
    cw_free(tc);
    cw_free(ub);
    cw_free(kb);
    cw_free(q);
    return st;
}

/* Algorithm 2 encoder: row m in the intersection of col(R^i), i in ch(m) u {m}. */
static cw_status full_rank_encoder(double *hf, const uint8_t *gf, const double *hs,
                                   const double *r, const double *basis, int64_t n, int64_t d,
                                   double tol, double rtol) {
    double *q = cw_malloc_array(NN(n), sizeof(double));
    double *u = cw_malloc_array(NN(n), sizeof(double));
    double *t = cw_malloc_array(NN(n), sizeof(double));
    double *mm = cw_malloc_array(NN(n), sizeof(double));
    double *w = cw_malloc_array((size_t)n, sizeof(double));
    double *v = cw_malloc_array(NN(n), sizeof(double));
    cw_status st = (!q || !u || !t || !mm || !w || !v)
                       ? cw_fail(CW_ENOMEM, "LSCALE-I full-rank encoder: out of memory") : CW_OK;
    for (int64_t m = 0; st == CW_OK && m < n; m++) {
        const double *rm = r + (size_t)m * NN(n);
        int64_t kq = 0;
        st = col_basis(q, &kq, rm, n, tol);
        for (int64_t c = 0; st == CW_OK && c < n && kq > 0; c++) {
            if (!gf[m * n + c]) continue;
            int64_t ku = 0;
            st = col_basis(u, &ku, r + (size_t)c * NN(n), n, tol);
            if (st == CW_OK) st = intersect(q, &kq, u, ku, n, rtol);
        }
        if (st != CW_OK) break;
        double *row = hf + m * n;
        if (kq == 0) {
            /* empty intersection: keep the L1 row */
            memcpy(row, hs + m * n, (size_t)n * sizeof(double));
            continue;
        }
        /* top eigenvector of q^T R^m q (kq x kq), mapped back: row = q y */
        cw_la_gemm('T', 'N', kq, n, n, 1.0, q, rm, 0.0, t);
        cw_la_gemm('N', 'N', kq, kq, n, 1.0, t, q, 0.0, mm);
        st = cw_la_eigh(w, v, mm, kq);
        if (st != CW_OK) break;
        for (int64_t i = 0; i < n; i++) {
            double s = 0;
            for (int64_t a = 0; a < kq; a++) s += q[i * kq + a] * v[a * kq + (kq - 1)];
            row[i] = s;
        }
        double nr = 0;
        for (int64_t i = 0; i < n; i++) nr += row[i] * row[i];
        nr = sqrt(nr);
        if (nr > 0)
            for (int64_t i = 0; i < n; i++) row[i] /= nr;
        fix_sign(row, basis, n, d);
    }
    cw_free(q);
    cw_free(u);
    cw_free(t);
    cw_free(mm);
    cw_free(w);
    cw_free(v);
    return st;
}

/* ------------------------------------------------------------------ LSCALE-I */

cw_status cw_lscale_run(cw_lscale_result *res, const double *const *x, const int64_t *count,
                        const double *const *ds_x, int64_t n, int64_t d, const cw_lscale_opts *o) {
    memset(res, 0, sizeof *res);
    cw_lscale_opts def;
    if (!o) {
        cw_lscale_defaults(&def);
        o = &def;
    }
    if (!(o->atol_edge >= 0) || !(o->atol_eigv >= 0) || !(o->atol_intersect >= 0) ||
        !(o->rtol_rank > 0 && o->rtol_rank < 1))
        return cw_fail(CW_EINVAL, "LSCALE-I: tolerances must be >= 0 (atol_edge %g, atol_eigv %g, "
                       "atol_intersect %g) and 0 < rtol_rank %g < 1", o->atol_edge, o->atol_eigv,
                       o->atol_intersect, o->rtol_rank);
    if (n > 24) return cw_fail(CW_EINVAL, "LSCALE-I: n = %lld > 24 (closest-DAG projection is "
                               "exponential in n)", (long long)n);
    cw_lin_prep p;
    CW_TRY(cw_lin_prepare(&p, x, count, ds_x, n, d, o->hard));
    res->n = n;
    res->d = d;
    double *hs = cw_malloc_array(NN(n), sizeof(double));
    double *dec = cw_malloc_array(NN(n), sizeof(double));
    double *hh = NULL, *hf = NULL;
    res->enc_s = cw_malloc_array((size_t)(n * d), sizeof(double));
    res->g_s = cw_calloc(NN(n), 1);
    res->order = cw_malloc_array((size_t)n, sizeof(int64_t));
    res->rz_s = cw_malloc_array(NN(n), sizeof(double));
    cw_status st = CW_OK;
    if (!hs || !dec || !res->enc_s || !res->g_s || !res->order || !res->rz_s)
        st = cw_fail(CW_ENOMEM, "LSCALE-I: out of memory");

    /* L1: top eigenvector of each R^m */
    for (int64_t m = 0; st == CW_OK && m < n; m++)
        st = cw_lin_top_eigvec(hs + m * n, p.r + (size_t)m * NN(n), p.basis, n, d);
    /* normalisation of the estimated decoder's columns */
    if (st == CW_OK) st = normalise(hs, dec, p.basis, n, d);
    if (st == CW_OK && (!all_finite(hs, n * n) || !all_finite(dec, n * n)))
        st = cw_fail(CW_EINVAL, "LSCALE-I: the stage-L1 encoder is singular (environments with "
                     "parallel score-difference directions?)");
    /* L2: graph */
    if (st == CW_OK) {
        rz_diag(res->rz_s, dec, p.r, n);
        st = graph_from_rz(res->g_s, res->order, res->rz_s, n, o->atol_edge);
    }
    if (st == CW_OK) lift(res->enc_s, hs, p.basis, n, d);

    /* Algorithm 2 (full-rank score differences) */
    if (st == CW_OK && o->full_rank) {
        hf = cw_malloc_array(NN(n), sizeof(double));
        res->g_f = cw_calloc(NN(n), 1);
        res->enc_f = cw_malloc_array((size_t)(n * d), sizeof(double));
        res->rz_f = cw_malloc_array(NN(n), sizeof(double));
        if (!hf || !res->g_f || !res->enc_f || !res->rz_f)
            st = cw_fail(CW_ENOMEM, "LSCALE-I full-rank: out of memory");
        if (st == CW_OK) st = full_rank_graph(res->g_f, res->g_s, res->order, p.r, n, o);
        if (st == CW_OK && o->full_and_soft)
            for (int64_t i = 0; i < n * n; i++) res->g_f[i] &= res->g_s[i];
        if (st == CW_OK)
            st = full_rank_encoder(hf, res->g_f, hs, p.r, p.basis, n, d, o->atol_intersect,
                                   o->rtol_rank);
        if (st == CW_OK) {
            lift(res->enc_f, hf, p.basis, n, d);
            /* diagnostics: latent score energies with the decoder columns max-normalised in R^n */
            st = cw_la_pinv(dec, hf, n, n, 1e-15);
            if (st == CW_OK) {
                for (int64_t k = 0; k < n; k++) {
                    double mx = 0;
                    for (int64_t i = 0; i < n; i++)
                        mx = fabs(dec[i * n + k]) > mx ? fabs(dec[i * n + k]) : mx;
                    if (mx > 0)
                        for (int64_t i = 0; i < n; i++) dec[i * n + k] /= mx;
                }
                rz_diag(res->rz_f, dec, p.r, n);
            }
        }
    }

    /* L3: hard-intervention unmixing */
    if (st == CW_OK && o->hard) {
        hh = cw_malloc_array(NN(n), sizeof(double));
        res->g_h = cw_calloc(NN(n), 1);
        res->enc_h = cw_malloc_array((size_t)(n * d), sizeof(double));
        res->rz_h = cw_malloc_array(NN(n), sizeof(double));
        res->order_h = cw_malloc_array((size_t)n, sizeof(int64_t));
        if (!hh || !res->g_h || !res->enc_h || !res->rz_h || !res->order_h)
            st = cw_fail(CW_ENOMEM, "LSCALE-I hard stage: out of memory");
        if (st == CW_OK) st = unmix(hh, hs, res->g_s, res->order, p.xcov, n);
        if (st == CW_OK) st = cw_la_pinv(dec, hh, n, n, 1e-15);
        if (st == CW_OK && (!all_finite(hh, n * n) || !all_finite(dec, n * n)))
            st = cw_fail(CW_EINVAL, "LSCALE-I: the unmixed (stage L3) encoder is not finite");
        if (st == CW_OK) {
            rz_diag(res->rz_h, dec, p.r, n);
            st = graph_from_rz(res->g_h, res->order_h, res->rz_h, n, o->atol_edge);
        }
        if (st == CW_OK && o->hard_and_soft)
            for (int64_t i = 0; i < n * n; i++) res->g_h[i] &= res->g_s[i];
        if (st == CW_OK) lift(res->enc_h, hh, p.basis, n, d);
    }

    if (st == CW_OK) {
        res->basis = p.basis;
        p.basis = NULL;
    }
    cw_lin_prep_free(&p);
    cw_free(hs);
    cw_free(dec);
    cw_free(hh);
    cw_free(hf);
    if (st != CW_OK) cw_lscale_result_free(res);
    return st;
}

/* ------------------------------------------------------------------ evaluation (§A5) */

cw_status cw_lin_goal_perm(int64_t *perm, const cw_crl_data *t) {
    int64_t n = t->n;
    if (!t->targets || t->n_env != n + 1)
        return cw_fail(CW_EINVAL, "CRL evaluation: need a single-node design with n + 1 = %lld "
                       "environments and known targets (found %lld environments%s)",
                       (long long)(n + 1), (long long)t->n_env, t->targets ? "" : ", no targets");
    for (int64_t m = 1; m <= n; m++) {
        int64_t c = 0, node = -1;
        for (int64_t i = 0; i < n; i++)
            if (t->targets[m * n + i]) {
                c++;
                node = i;
            }
        if (c != 1)
            return cw_fail(CW_EINVAL, "CRL evaluation: environment %lld intervenes %lld nodes "
                           "(single-node design expected)", (long long)m, (long long)c);
        perm[m - 1] = node;
    }
    return CW_OK;
}

/* MCC between the goal latents z[:, perm] (observational samples) and E z. */
static cw_status lin_mcc(double *mcc, const double *e, const double *z, const int64_t *perm,
                         int64_t n, int64_t count) {
    double *zg = cw_malloc_array((size_t)(count * n), sizeof(double));
    if (!zg) return cw_fail(CW_ENOMEM, "CRL evaluation: out of memory");
    for (int64_t r = 0; r < count; r++)
        for (int64_t k = 0; k < n; k++) zg[r * n + k] = z[r * n + perm[k]];
    cw_status st = cw_crl_mcc_linear(mcc, NULL, e, zg, count, n);
    cw_free(zg);
    return st;
}

cw_status cw_lin_stage_metrics(double *mcc, cw_crl_mixing *mix, const double *enc,
                               const cw_crl_data *t, const int64_t *perm, const uint8_t *mask,
                               double atol_eff_nz) {
    int64_t n = t->n;
    double *e = cw_malloc_array(NN(n), sizeof(double));
    if (!e) return cw_fail(CW_ENOMEM, "CRL evaluation: out of memory");
    cw_status st = cw_crl_effective_transform(e, enc, t->mixing.g, perm, n, t->d);
    if (st == CW_OK) st = lin_mcc(mcc, e, t->z[0], perm, n, t->count[0]);
    if (st == CW_OK) st = cw_crl_incorrect_mixing(mix, e, mask, n, atol_eff_nz);
    cw_free(e);
    return st;
}

/* mcc and mixing of one stage's encoder, as metrics named <what>_<sfx>. */
static cw_status stage_metrics(cw_metric_list *out, const char *sfx, const double *enc,
                               const cw_crl_data *t, const int64_t *perm, const uint8_t *mask,
                               double atol_eff_nz) {
    double mcc;
    cw_crl_mixing mix;
    CW_TRY(cw_lin_stage_metrics(&mcc, &mix, enc, t, perm, mask, atol_eff_nz));
    char name[CW_METRIC_NAME];
    snprintf(name, sizeof name, "mcc_%s", sfx);
    cw_metric_set(out, name, mcc);
    snprintf(name, sizeof name, "mix_count_%s", sfx);
    cw_metric_set(out, name, (double)mix.count);
    snprintf(name, sizeof name, "mix_ratio_%s", sfx);
    cw_metric_set(out, name, mix.ratio);
    snprintf(name, sizeof name, "mix_norm_%s", sfx);
    cw_metric_set(out, name, mix.norm);
    return CW_OK;
}

cw_status cw_lscale_evaluate(cw_metric_list *out, const cw_lscale_result *r,
                             const cw_crl_data *truth, const cw_lscale_opts *o,
                             double atol_eff_nz) {
    (void)o;
    if (!r || !r->enc_s || !r->g_s)
        return cw_fail(CW_EINVAL, "LSCALE-I evaluation: empty result");
    if (!truth || !truth->z || !truth->z[0] || !truth->mixing.g || !truth->scm.adj)
        return cw_fail(CW_EINVAL, "LSCALE-I evaluation: truth needs latents, the DAG and a linear "
                       "mixing (generated data)");
    int64_t n = r->n;
    if (truth->n != n || truth->d != r->d)
        return cw_fail(CW_EINVAL, "LSCALE-I evaluation: result is n %lld d %lld, truth n %lld "
                       "d %lld", (long long)n, (long long)r->d, (long long)truth->n,
                       (long long)truth->d);
    int64_t *perm = cw_malloc_array((size_t)n, sizeof(int64_t));
    uint8_t *goal = cw_calloc(NN(n), 1), *a = cw_calloc(NN(n), 1), *b = cw_calloc(NN(n), 1);
    uint8_t *mask = cw_calloc(NN(n), 1);
    cw_status st = (!perm || !goal || !a || !b || !mask)
                       ? cw_fail(CW_ENOMEM, "LSCALE-I evaluation: out of memory") : CW_OK;
    if (st == CW_OK) st = cw_lin_goal_perm(perm, truth);
    if (st == CW_OK) cw_dag_permute(goal, truth->scm.adj, perm, n);
    double prec, rec;
    /* soft stage: graphs vs transitive reduction and closure, mixing up to parents */
    if (st == CW_OK) {
        cw_dag_transitive_reduction(a, goal, n);
        cw_dag_transitive_reduction(b, r->g_s, n);
        cw_metric_set(out, "shd_s_tr", (double)cw_dag_shd(a, b, n));
        cw_dag_precision_recall(&prec, &rec, a, b, n, 0.0);
        cw_metric_set(out, "precision_s", prec);
        cw_metric_set(out, "recall_s", rec);
        cw_dag_transitive_closure(a, goal, n);
        cw_dag_transitive_closure(b, r->g_s, n);
        cw_metric_set(out, "shd_s_tc", (double)cw_dag_shd(a, b, n));
        st = cw_crl_mask(mask, CW_CRL_MASK_PARENTS, goal, n);
        if (st == CW_OK) st = stage_metrics(out, "s", r->enc_s, truth, perm, mask, atol_eff_nz);
    }
    if (st == CW_OK && r->enc_h && r->g_h) {
        cw_metric_set(out, "shd_h", (double)cw_dag_shd(goal, r->g_h, n));
        cw_dag_precision_recall(&prec, &rec, goal, r->g_h, n, 0.0);
        cw_metric_set(out, "precision_h", prec);
        cw_metric_set(out, "recall_h", rec);
        st = cw_crl_mask(mask, CW_CRL_MASK_HARD, goal, n);
        if (st == CW_OK) st = stage_metrics(out, "h", r->enc_h, truth, perm, mask, atol_eff_nz);
    }
    if (st == CW_OK && r->enc_f && r->g_f) {
        cw_metric_set(out, "shd_f", (double)cw_dag_shd(goal, r->g_f, n));
        cw_dag_precision_recall(&prec, &rec, goal, r->g_f, n, 0.0);
        cw_metric_set(out, "precision_f", prec);
        cw_metric_set(out, "recall_f", rec);
        st = cw_crl_mask(mask, CW_CRL_MASK_SURROUNDING, goal, n);
        if (st == CW_OK) st = stage_metrics(out, "f", r->enc_f, truth, perm, mask, atol_eff_nz);
    }
    if (st == CW_OK) {
        int hard = r->enc_h && r->g_h;
        cw_metric_set(out, "shd", cw_metric_get(out, hard ? "shd_h" : "shd_s_tr"));
        cw_metric_set(out, "mcc", cw_metric_get(out, hard ? "mcc_h" : "mcc_s"));
    }
    cw_free(perm);
    cw_free(goal);
    cw_free(a);
    cw_free(b);
    cw_free(mask);
    return st;
}
