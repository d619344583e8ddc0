/* score_diffs.c: score differences between environments at the observational samples (see
 * score_diffs.h; spec §A3, §A3.5, §A4.0). */
#include "crl/score_diffs.h"

#include "core/alloc.h"
#include "core/status.h"
#include "crl/score_gaussian.h"
#include "crl/support.h"
#include "la/lapack.h"

#include <string.h>

static const char *const method_names[] = {"oracle", "gaussian", "ssm", "ldr"};

cw_status cw_score_method_parse(cw_score_method *out, const char *s) {
    for (int i = 0; i < 4; i++)
        if (strcmp(s, method_names[i]) == 0) {
            *out = (cw_score_method)i;
            return CW_OK;
        }
    return cw_fail(CW_EINVAL, "scores: expected oracle, gaussian, ssm or ldr, found '%s'", s);
}

const char *cw_score_method_name(cw_score_method m) {
    return (unsigned)m < 4 ? method_names[m] : "?";
}

void cw_score_diffs_free(double **ds, int64_t npairs) {
    if (!ds) return;
    for (int64_t k = 0; k < npairs; k++) {
        cw_free(ds[k]);
        ds[k] = NULL;
    }
}

/* The samples an environment's score model is fitted on. */
static void fit_samples(const cw_crl_data *d, int64_t e, const double **x, int64_t *count) {
    if (d->count_se && d->x_se && d->count_se[e] >= 2) {
        *x = d->x_se[e];
        *count = d->count_se[e];
    } else {
        *x = d->x[e];
        *count = d->count[e];
    }
}

/* Scores of environment e's fitted model at the evaluation points (count0 x p). */
static cw_status env_scores(double *s, const cw_crl_data *d, int64_t e, const double *basis,
                            const double *eval, int64_t count0, int64_t p,
                            const cw_score_diff_config *c) {
    const double *xf;
    int64_t nf;
    fit_samples(d, e, &xf, &nf);
    double *proj = NULL;
    if (basis) {
        proj = cw_malloc_array((size_t)(nf * p), sizeof(double));
        if (!proj) return cw_fail(CW_ENOMEM, "scores: out of memory");
        cw_crl_project(proj, xf, nf, basis, d->d, p);
        xf = proj;
    }
    cw_status st = CW_OK;
    if (c->method == CW_SCORES_GAUSSIAN) {
        cw_gauss_score g = {0};
        st = cw_gauss_score_fit(&g, xf, nf, p);
        if (st == CW_OK) cw_gauss_score_eval(&g, eval, count0, s);
        cw_gauss_score_free(&g);
    } else {
        cw_ssm m;
        memset(&m, 0, sizeof m);
        st = cw_ssm_fit(&m, xf, nf, p, &c->ssm, c->seed + 7919u * (uint64_t)e);
        if (st == CW_OK) st = cw_ssm_eval(&m, eval, count0, s);
        cw_ssm_free(&m);
    }
    cw_free(proj);
    if (st != CW_OK) return cw_fail_prefix(st, "scores of environment '%s'", d->labels[e]);
    return CW_OK;
}

cw_status cw_crl_score_diffs(double **ds, const cw_crl_data *d, const int64_t *a, const int64_t *b,
                             int64_t npairs, const cw_score_diff_config *c) {
    const int64_t n0 = d->count[0], dim = d->d, n = d->n;
    for (int64_t k = 0; k < npairs; k++) {
        ds[k] = NULL;
        if (a[k] < 0 || a[k] >= d->n_env || b[k] < 0 || b[k] >= d->n_env)
            return cw_fail(CW_EINVAL, "scores: environment pair (%lld, %lld) out of range",
                           (long long)a[k], (long long)b[k]);
    }
    for (int64_t k = 0; k < npairs; k++) {
        ds[k] = cw_malloc_array((size_t)(n0 * dim), sizeof(double));
        if (!ds[k]) {
            cw_score_diffs_free(ds, npairs);
            return cw_fail(CW_ENOMEM, "scores: out of memory");
        }
    }
    cw_status st = CW_OK;
    if (c->method == CW_SCORES_ORACLE) {
        if (!d->has_truth) st = cw_fail(CW_EINVAL, "scores: oracle scores need generated data");
        for (int64_t k = 0; st == CW_OK && k < npairs; k++) {
            double *dz = cw_malloc_array((size_t)(n0 * n), sizeof(double));
            if (!dz) st = cw_fail(CW_ENOMEM, "scores: out of memory");
            else st = cw_crl_oracle_score_diff(d, a[k], b[k], dz, ds[k]);
            cw_free(dz);
        }
        if (st != CW_OK) cw_score_diffs_free(ds, npairs);
        return st;
    }
    /* Estimated scores, in the support of the data (project) or in R^d. */
    const int64_t p = c->project ? n : dim;
    double *basis = NULL, *eval = NULL, *diff = NULL;
    double **cache = cw_calloc((size_t)d->n_env, sizeof(double *));
    if (!cache) st = cw_fail(CW_ENOMEM, "scores: out of memory");
    if (st == CW_OK && c->project) {
        basis = cw_malloc_array((size_t)(dim * n), sizeof(double));
        eval = cw_malloc_array((size_t)(n0 * n), sizeof(double));
        if (!basis || !eval) st = cw_fail(CW_ENOMEM, "scores: out of memory");
        if (st == CW_OK)
            st = cw_crl_support_basis(basis, (const double *const *)d->x, d->count, d->n_env, dim, n);
        if (st == CW_OK) cw_crl_project(eval, d->x[0], n0, basis, dim, n);
    }
    const double *ev = c->project ? eval : d->x[0];
    diff = cw_malloc_array((size_t)(n0 * p), sizeof(double));
    if (st == CW_OK && !diff) st = cw_fail(CW_ENOMEM, "scores: out of memory");
    for (int64_t k = 0; st == CW_OK && k < npairs; k++) {
        if (c->method == CW_SCORES_LDR) {
            /* Classifier: class 0 = environment b, class 1 = environment a; grad r = s_a - s_b. */
            const double *xa, *xb;
            int64_t na, nb;
            fit_samples(d, a[k], &xa, &na);
            fit_samples(d, b[k], &xb, &nb);
            double *pa = NULL, *pb = NULL;
            if (c->project) {
                pa = cw_malloc_array((size_t)(na * p), sizeof(double));
                pb = cw_malloc_array((size_t)(nb * p), sizeof(double));
                if (!pa || !pb) st = cw_fail(CW_ENOMEM, "scores: out of memory");
                else {
                    cw_crl_project(pa, xa, na, basis, dim, n);
                    cw_crl_project(pb, xb, nb, basis, dim, n);
                    xa = pa;
                    xb = pb;
                }
            }
            cw_ldr m;
            memset(&m, 0, sizeof m);
            if (st == CW_OK) st = cw_ldr_fit(&m, xb, nb, xa, na, p, &c->ldr, c->seed + 104729u * (uint64_t)k);
            if (st == CW_OK) st = cw_ldr_score_diff(&m, ev, n0, diff);
            cw_ldr_free(&m);
            cw_free(pa);
            cw_free(pb);
        } else {
            for (int side = 0; st == CW_OK && side < 2; side++) {
                int64_t e = side ? b[k] : a[k];
                if (cache[e]) continue;
                cache[e] = cw_malloc_array((size_t)(n0 * p), sizeof(double));
                if (!cache[e]) st = cw_fail(CW_ENOMEM, "scores: out of memory");
                else st = env_scores(cache[e], d, e, basis, ev, n0, p, c);
            }
            if (st == CW_OK)
                for (int64_t i = 0; i < n0 * p; i++) diff[i] = cache[a[k]][i] - cache[b[k]][i];
        }
        if (st != CW_OK) break;
        if (c->project) cw_la_gemm('N', 'T', n0, dim, n, 1.0, diff, basis, 0.0, ds[k]);
        else memcpy(ds[k], diff, (size_t)(n0 * dim) * sizeof(double));
    }
    if (cache)
        for (int64_t e = 0; e < d->n_env; e++) cw_free(cache[e]);
    cw_free(cache);
    cw_free(basis);
    cw_free(eval);
    cw_free(diff);
    if (st != CW_OK) cw_score_diffs_free(ds, npairs);
    return st;
}
