/* finite_sample.c: the sample-complexity algorithm (spec §A4.2) and its evaluation (§A5); see
 * finite_sample.h. Preprocessing and the evaluation helpers are shared with LSCALE-I
 * (lscale.h: cw_lin_*).
 */
#include "crl/finite_sample.h"

#include "core/alloc.h"
#include "core/status.h"
#include "crl/crl_metrics.h"
#include "crl/dag_ops.h"
#include "crl/lscale.h"
#include "la/lapack.h"

#include <math.h>
#include <string.h>

#define NN(n) ((size_t)((n) * (n)))

void cw_fsample_defaults(cw_fsample_opts *o) {
    o->atol_eigv = 1e-2;
    o->atol_orth = 1e-1;
}

void cw_fsample_result_free(cw_fsample_result *r) {
    if (!r) return;
    cw_free(r->enc);
    cw_free(r->g_tc);
    cw_free(r->order);
    cw_free(r->basis);
    memset(r, 0, sizeof *r);
}

/* s (n x n) = sum of R^i over the members i (flag[i] != 0). */
static void sum_r(double *s, const double *r, const uint8_t *flag, int64_t n) {
    memset(s, 0, NN(n) * sizeof(double));
    for (int64_t i = 0; i < n; i++)
        if (flag[i])
            for (int64_t a = 0; a < n * n; a++) s[a] += r[(size_t)i * NN(n) + a];
}

cw_status cw_fsample_order(int64_t *order, double *lam, const double *r, int64_t n) {
    uint8_t *in = cw_malloc_array((size_t)n, 1);
    double *s = cw_malloc_array(NN(n), sizeof(double));
    double *w = cw_malloc_array((size_t)n, sizeof(double));
    cw_status st = (!in || !s || !w) ? cw_fail(CW_ENOMEM, "causal order: out of memory") : CW_OK;
    if (st == CW_OK) {
        memset(in, 1, (size_t)n);
        if (lam)
            for (int64_t i = 0; i < n * n; i++) lam[i] = NAN;
    }
    for (int64_t t = n - 1; st == CW_OK && t >= 1; t--) {
        int64_t best = -1;
        double bestv = INFINITY;
        for (int64_t k = 0; st == CW_OK && k < n; k++) {
            if (!in[k]) continue;
            in[k] = 0;
            sum_r(s, r, in, n);
            in[k] = 1;
            st = cw_la_eigh(w, NULL, s, n);
            if (st != CW_OK) break;
            double v = w[n - t - 1];
            if (lam) lam[t * n + k] = v;
            if (best < 0 || v < bestv) {
                best = k;
                bestv = v;
            }
        }
        if (st != CW_OK) break;
        order[t] = best;
        in[best] = 0;
    }
    if (st == CW_OK)
        for (int64_t k = 0; k < n; k++)
            if (in[k]) order[0] = k;
    cw_free(in);
    cw_free(s);
    cw_free(w);
    return st;
}

cw_status cw_fsample_graph(uint8_t *g, const double *r, const int64_t *order, int64_t n,
                           const cw_fsample_opts *o) {
    uint8_t *flag = cw_malloc_array((size_t)n, 1);
    double *s = cw_malloc_array(NN(n), sizeof(double));
    double *w = cw_malloc_array((size_t)n, sizeof(double));
    double *v = cw_malloc_array(NN(n), sizeof(double));
    double *u = cw_malloc_array(NN(n), sizeof(double));
    double *p = cw_malloc_array(NN(n), sizeof(double));
    double *pu = cw_malloc_array(NN(n), sizeof(double));
    double *sv = cw_malloc_array((size_t)n, sizeof(double));
    cw_status st = (!flag || !s || !w || !v || !u || !p || !pu || !sv)
                       ? cw_fail(CW_ENOMEM, "graph estimation: out of memory") : CW_OK;
    if (st == CW_OK) memset(g, 0, NN(n));
    for (int64_t t = n - 2; st == CW_OK && t >= 0; t--) {
        int64_t pt = order[t], ku = t + 1;
        /* U_t: top t+1 eigenvectors of sum over V_t = {pi_0..pi_t} */
        memset(flag, 0, (size_t)n);
        for (int64_t a = 0; a <= t; a++) flag[order[a]] = 1;
        sum_r(s, r, flag, n);
        st = cw_la_eigh(w, v, s, n);
        if (st != CW_OK) break;
        for (int64_t i = 0; i < n; i++)
            for (int64_t a = 0; a < ku; a++) u[i * ku + a] = v[i * n + (n - 1 - a)];
        for (int64_t j = t + 1; st == CW_OK && j < n; j++) {
            /* M_tj = V_j \ ({pi_t} u known descendants of pi_t) */
            int64_t cnt = 0;
            memset(flag, 0, (size_t)n);
            for (int64_t a = 0; a <= j; a++) {
                int64_t m = order[a];
                if (m != pt && !g[pt * n + m]) {
                    flag[m] = 1;
                    cnt++;
                }
            }
            int identity = 1;
            if (cnt > 0) {
                sum_r(s, r, flag, n);
                st = cw_la_eigh(w, v, s, n);
                if (st != CW_OK) break;
                int64_t rank = 0;
                for (int64_t a = 0; a < n; a++) rank += w[a] > o->atol_eigv;
                if (rank > 0) {
                    identity = 0;
                    /* P = N N^T over the n - rank smallest eigenvectors */
                    int64_t kn = n - rank;
                    for (int64_t a = 0; a < n; a++)
                        for (int64_t b = 0; b < n; b++) {
                            double acc = 0;
                            for (int64_t c = 0; c < kn; c++) acc += v[a * n + c] * v[b * n + c];
                            p[a * n + b] = acc;
                        }
                }
            }
            double metric;
            if (identity) {
                metric = 1.0; /* ||U_t||_2 for orthonormal columns */
            } else {
                cw_la_gemm('N', 'N', n, ku, n, 1.0, p, u, 0.0, pu);
                st = cw_la_svd(NULL, sv, NULL, pu, n, ku);
                if (st != CW_OK) break;
                metric = sv[0];
            }
            if (metric <= o->atol_orth) {
                int64_t pj = order[j];
                g[pt * n + pj] = 1;
                for (int64_t c = 0; c < n; c++) g[pt * n + c] |= g[pj * n + c];
            }
        }
    }
    cw_free(flag);
    cw_free(s);
    cw_free(w);
    cw_free(v);
    cw_free(u);
    cw_free(p);
    cw_free(pu);
    cw_free(sv);
    return st;
}

cw_status cw_fsample_run(cw_fsample_result *res, const double *const *x, const int64_t *count,
                         const double *const *ds_x, int64_t n, int64_t d,
                         const cw_fsample_opts *o) {
    memset(res, 0, sizeof *res);
    cw_fsample_opts def;
    if (!o) {
        cw_fsample_defaults(&def);
        o = &def;
    }
    if (!(o->atol_eigv >= 0) || !(o->atol_orth >= 0))
        return cw_fail(CW_EINVAL, "sample-complexity algorithm: tolerances must be >= 0 "
                       "(atol_eigv %g, atol_orth %g)", o->atol_eigv, o->atol_orth);
    cw_lin_prep p;
    CW_TRY(cw_lin_prepare(&p, x, count, ds_x, n, d, 0));
    res->n = n;
    res->d = d;
    res->enc = cw_malloc_array((size_t)(n * d), sizeof(double));
    res->g_tc = cw_calloc(NN(n), 1);
    res->order = cw_malloc_array((size_t)n, sizeof(int64_t));
    double *h = cw_malloc_array(NN(n), sizeof(double));
    cw_status st = (!res->enc || !res->g_tc || !res->order || !h)
                       ? cw_fail(CW_ENOMEM, "sample-complexity algorithm: out of memory") : CW_OK;
    if (st == CW_OK) st = cw_fsample_order(res->order, NULL, p.r, n);
    if (st == CW_OK) st = cw_fsample_graph(res->g_tc, p.r, res->order, n, o);
    for (int64_t m = 0; st == CW_OK && m < n; m++)
        st = cw_lin_top_eigvec(h + m * n, p.r + (size_t)m * NN(n), p.basis, n, d);
    if (st == CW_OK) {
        cw_la_gemm('N', 'T', n, d, n, 1.0, h, p.basis, 0.0, res->enc);
        res->basis = p.basis;
        p.basis = NULL;
    }
    cw_free(h);
    cw_lin_prep_free(&p);
    if (st != CW_OK) cw_fsample_result_free(res);
    return st;
}

cw_status cw_fsample_evaluate(cw_metric_list *out, const cw_fsample_result *r,
                              const cw_crl_data *truth, const cw_fsample_opts *o) {
    (void)o;
    if (!r || !r->enc || !r->g_tc)
        return cw_fail(CW_EINVAL, "sample-complexity evaluation: empty result");
    if (!truth || !truth->z || !truth->z[0] || !truth->mixing.g || !truth->scm.adj)
        return cw_fail(CW_EINVAL, "sample-complexity evaluation: truth needs latents, the DAG and "
                       "a linear mixing (generated data)");
    int64_t n = r->n;
    if (truth->n != n || truth->d != r->d)
        return cw_fail(CW_EINVAL, "sample-complexity evaluation: result is n %lld d %lld, truth "
                       "n %lld d %lld", (long long)n, (long long)r->d, (long long)truth->n,
                       (long long)truth->d);
    int64_t *perm = cw_malloc_array((size_t)n, sizeof(int64_t));
    uint8_t *goal = cw_calloc(NN(n), 1), *tc = cw_calloc(NN(n), 1), *mask = cw_calloc(NN(n), 1);
    cw_status st = (!perm || !goal || !tc || !mask)
                       ? cw_fail(CW_ENOMEM, "sample-complexity evaluation: out of memory") : CW_OK;
    if (st == CW_OK) st = cw_lin_goal_perm(perm, truth);
    double mcc = NAN;
    cw_crl_mixing mix = {0};
    if (st == CW_OK) {
        cw_dag_permute(goal, truth->scm.adj, perm, n);
        cw_dag_transitive_closure(tc, goal, n);
        int64_t shd = cw_dag_shd_directed(tc, r->g_tc, n);
        double prec, rec;
        cw_dag_precision_recall(&prec, &rec, tc, r->g_tc, n, 1.0);
        cw_metric_set(out, "shd_tc", (double)shd);
        cw_metric_set(out, "precision", prec);
        cw_metric_set(out, "recall", rec);
        cw_metric_set(out, "recovered", shd == 0 ? 1.0 : 0.0);
        st = cw_crl_mask(mask, CW_CRL_MASK_PARENTS, goal, n);
    }
    if (st == CW_OK) st = cw_lin_stage_metrics(&mcc, &mix, r->enc, truth, perm, mask, 0.05);
    if (st == CW_OK) {
        cw_metric_set(out, "enc_err", mix.norm);
        cw_metric_set(out, "mcc", mcc);
        cw_metric_set(out, "shd", cw_metric_get(out, "shd_tc"));
    }
    cw_free(perm);
    cw_free(goal);
    cw_free(tc);
    cw_free(mask);
    return st;
}
