/* crl_metrics.c: evaluation metrics of the score-based CRL runs (spec §A5): effective transform,
 * masks and incorrect mixing, normalised latent error, MCC of the linear runs, GSCALE err_fro
 * with greedy alignment, relative 2-norm error, mean / standard error over runs.
 * Double precision throughout; conventions in crl_metrics.h.
 */
#include "crl/crl_metrics.h"

#include "core/alloc.h"
#include "core/status.h"
#include "crl/dag_ops.h"
#include "eval/metrics.h"
#include "eval/recovery.h"
#include "la/lapack.h"

#include <math.h>
#include <string.h>

/* 1 if p (n) is a permutation of 0..n-1; seen (n) scratch */
static int is_permutation(const int64_t *p, int64_t n, uint8_t *seen) {
    memset(seen, 0, (size_t)n);
    for (int64_t k = 0; k < n; k++) {
        if (p[k] < 0 || p[k] >= n || seen[p[k]]) return 0;
        seen[p[k]] = 1;
    }
    return 1;
}

void cw_crl_normalize_rows(double *e, int64_t n) {
    for (int64_t k = 0; k < n; k++) {
        double *row = e + k * n;
        double ss = 0;
        for (int64_t l = 0; l < n; l++) ss += row[l] * row[l];
        if (!(ss > 0)) continue; /* zero row stays zero */
        double scale = (row[k] < 0 ? -1.0 : 1.0) / sqrt(ss);
        for (int64_t l = 0; l < n; l++) row[l] *= scale;
    }
}

cw_status cw_crl_effective_transform(double *e, const double *h, const double *g,
                                     const int64_t *perm, int64_t n, int64_t d) {
    if (n < 1 || d < 1)
        return cw_fail(CW_EINVAL, "effective transform: n = %lld, d = %lld (need >= 1)",
                       (long long)n, (long long)d);
    if (perm) {
        uint8_t *seen = cw_malloc((size_t)n);
        if (!seen) return cw_fail(CW_ENOMEM, "effective transform: out of memory");
        int ok = is_permutation(perm, n, seen);
        cw_free(seen);
        if (!ok)
            return cw_fail(CW_EINVAL, "effective transform: perm is not a permutation of 0..%lld",
                           (long long)(n - 1));
    }
    /* E[k, l] = sum_j H[k, j] G[j, perm[l]]  (n x n x d, small) */
    for (int64_t k = 0; k < n; k++)
        for (int64_t l = 0; l < n; l++) {
            int64_t c = perm ? perm[l] : l;
            double s = 0;
            for (int64_t j = 0; j < d; j++) s += h[k * d + j] * g[j * n + c];
            e[k * n + l] = s;
        }
    cw_crl_normalize_rows(e, n);
    return CW_OK;
}

cw_status cw_crl_mask(uint8_t *mask, cw_crl_mask_kind kind, const uint8_t *goal_dag, int64_t n) {
    if (n < 1) return cw_fail(CW_EINVAL, "crl mask: n = %lld < 1", (long long)n);
    if (kind != CW_CRL_MASK_HARD && !goal_dag)
        return cw_fail(CW_EINVAL, "crl mask: kind %d needs the goal DAG", (int)kind);
    switch (kind) {
    case CW_CRL_MASK_HARD:
        memset(mask, 0, (size_t)(n * n));
        break;
    case CW_CRL_MASK_PARENTS: /* mask[k, l] = G[l, k] */
        for (int64_t k = 0; k < n; k++)
            for (int64_t l = 0; l < n; l++) mask[k * n + l] = goal_dag[l * n + k] != 0;
        break;
    case CW_CRL_MASK_SURROUNDING: /* sur into mask, then transpose in place */
        cw_dag_surrounding(mask, goal_dag, n);
        for (int64_t k = 0; k < n; k++)
            for (int64_t l = k + 1; l < n; l++) {
                uint8_t t = mask[k * n + l];
                mask[k * n + l] = mask[l * n + k];
                mask[l * n + k] = t;
            }
        break;
    default:
        return cw_fail(CW_EINVAL, "crl mask: unknown kind %d", (int)kind);
    }
    for (int64_t k = 0; k < n; k++) mask[k * n + k] = 1;
    return CW_OK;
}

cw_status cw_crl_incorrect_mixing(cw_crl_mixing *out, const double *e, const uint8_t *mask,
                                  int64_t n, double atol) {
    memset(out, 0, sizeof *out);
    if (n < 1) return cw_fail(CW_EINVAL, "incorrect mixing: n = %lld < 1", (long long)n);
    double *off = cw_malloc_array((size_t)(n * n), sizeof *off);
    double *s = cw_malloc_array((size_t)n, sizeof *s);
    if (!off || !s) {
        cw_free(off), cw_free(s);
        return cw_fail(CW_ENOMEM, "incorrect mixing: out of memory (n = %lld)", (long long)n);
    }
    int64_t outside = 0;
    for (int64_t i = 0; i < n * n; i++) {
        if (mask[i]) {
            off[i] = 0;
            continue;
        }
        outside++;
        off[i] = e[i];
        out->count += fabs(e[i]) >= atol;
    }
    out->ratio = outside > 0 ? (double)out->count / (double)outside : 0.0;
    cw_status st = cw_la_svd(NULL, s, NULL, off, n, n);
    if (st == CW_OK)
        out->norm = s[0];
    else
        cw_fail_prefix(st, "incorrect mixing: spectral norm");
    cw_free(off), cw_free(s);
    return st;
}

cw_status cw_crl_latent_error(double *err, const double *e, const double *z, int64_t count,
                              int64_t n) {
    *err = NAN;
    if (count < 1 || n < 1)
        return cw_fail(CW_EINVAL, "latent error: %lld samples of %lld latents", (long long)count,
                       (long long)n);
    double num = 0, den = 0;
    for (int64_t i = 0; i < count; i++) {
        const double *zi = z + i * n;
        for (int64_t k = 0; k < n; k++) {
            double zh = 0;
            for (int64_t l = 0; l < n; l++) zh += e[k * n + l] * zi[l];
            num += (zh - zi[k]) * (zh - zi[k]);
            den += zi[k] * zi[k];
        }
    }
    if (!(den > 0)) return cw_fail(CW_EINVAL, "latent error: the true latents are all zero");
    *err = sqrt(num / den);
    return CW_OK;
}

cw_status cw_crl_mcc_linear(double *mcc, int64_t *match, const double *e, const double *z,
                            int64_t count, int64_t n) {
    if (count < 2 || n < 1)
        return cw_fail(CW_EINVAL, "linear mcc: %lld samples of %lld latents", (long long)count,
                       (long long)n);
    double *zh = cw_malloc_array((size_t)(count * n), sizeof *zh);
    int64_t *own = match ? NULL : cw_malloc_array((size_t)n, sizeof *own);
    if (!zh || (!match && !own)) {
        cw_free(zh), cw_free(own);
        return cw_fail(CW_ENOMEM, "linear mcc: out of memory (%lld x %lld)", (long long)count,
                       (long long)n);
    }
    /* Zhat (count x n) = Z (count x n) E^T */
    cw_la_gemm('N', 'T', count, n, n, 1.0, z, e, 0.0, zh);
    cw_status st = cw_mcc(mcc, match ? match : own, z, n, zh, n, count);
    cw_free(zh), cw_free(own);
    return st;
}

cw_status cw_crl_greedy_permutation(int64_t *perm, const double *score, int64_t n) {
    if (n < 1) return cw_fail(CW_EINVAL, "greedy permutation: n = %lld < 1", (long long)n);
    uint8_t *row_used = cw_calloc((size_t)n, 1), *col_used = cw_calloc((size_t)n, 1);
    if (!row_used || !col_used) {
        cw_free(row_used), cw_free(col_used);
        return cw_fail(CW_ENOMEM, "greedy permutation: out of memory");
    }
    for (int64_t step = 0; step < n; step++) {
        int64_t bi = -1, bj = -1;
        double best = -1.0;
        for (int64_t i = 0; i < n; i++) {
            if (row_used[i]) continue;
            for (int64_t j = 0; j < n; j++) {
                if (col_used[j]) continue;
                double a = fabs(score[i * n + j]);
                if (isnan(a)) a = -0.5; /* below every number, above "none yet" */
                if (bi < 0 || a > best) {
                    best = a;
                    bi = i;
                    bj = j;
                }
            }
        }
        perm[bi] = bj;
        row_used[bi] = col_used[bj] = 1;
    }
    cw_free(row_used), cw_free(col_used);
    return CW_OK;
}

/* copy a (d x n) into out with unit columns (zero columns stay zero) */
static void unit_columns(double *out, const double *a, int64_t d, int64_t n) {
    for (int64_t c = 0; c < n; c++) {
        double ss = 0;
        for (int64_t r = 0; r < d; r++) ss += a[r * n + c] * a[r * n + c];
        double inv = ss > 0 ? 1.0 / sqrt(ss) : 0.0;
        for (int64_t r = 0; r < d; r++) out[r * n + c] = a[r * n + c] * inv;
    }
}

cw_status cw_crl_err_fro(double *err, int64_t *perm_out, const double *t, const double *u,
                         int64_t d, int64_t n, const int64_t *perm) {
    *err = NAN;
    if (n < 1 || d < 1)
        return cw_fail(CW_EINVAL, "err_fro: d = %lld, n = %lld (need >= 1)", (long long)d,
                       (long long)n);
    double *tn = cw_malloc_array((size_t)(d * n), sizeof *tn);
    double *un = cw_malloc_array((size_t)(d * n), sizeof *un);
    double *cosm = cw_malloc_array((size_t)(n * n), sizeof *cosm);
    int64_t *p = cw_malloc_array((size_t)n, sizeof *p);
    uint8_t *seen = cw_malloc((size_t)n);
    cw_status st = CW_OK;
    if (!tn || !un || !cosm || !p || !seen) {
        st = cw_fail(CW_ENOMEM, "err_fro: out of memory (d = %lld, n = %lld)", (long long)d,
                     (long long)n);
        goto done;
    }
    unit_columns(tn, t, d, n);
    unit_columns(un, u, d, n);
    /* cosm (n x n) = Tn^T Un: cosines between column k of T and column l of U */
    cw_la_gemm('T', 'N', n, n, d, 1.0, tn, un, 0.0, cosm);
    if (perm) {
        if (!is_permutation(perm, n, seen)) {
            st = cw_fail(CW_EINVAL, "err_fro: perm is not a permutation of 0..%lld",
                         (long long)(n - 1));
            goto done;
        }
        memcpy(p, perm, (size_t)n * sizeof *p);
    } else if ((st = cw_crl_greedy_permutation(p, cosm, n)) != CW_OK) {
        goto done;
    }
    double num = 0, den = 0;
    for (int64_t k = 0; k < n; k++) {
        double sgn = cosm[k * n + p[k]] < 0 ? -1.0 : 1.0;
        for (int64_t r = 0; r < d; r++) {
            double diff = tn[r * n + k] - sgn * un[r * n + p[k]];
            num += diff * diff;
            den += tn[r * n + k] * tn[r * n + k];
        }
    }
    if (!(den > 0)) {
        st = cw_fail(CW_EINVAL, "err_fro: the true matrix T is zero");
        goto done;
    }
    *err = sqrt(num / den);
    if (perm_out) memcpy(perm_out, p, (size_t)n * sizeof *p);
done:
    cw_free(tn), cw_free(un), cw_free(cosm), cw_free(p), cw_free(seen);
    return st;
}

cw_status cw_crl_rel_spectral_error(double *err, const double *zhat, const double *z,
                                    int64_t rows, int64_t cols) {
    *err = NAN;
    if (rows < 1 || cols < 1)
        return cw_fail(CW_EINVAL, "relative 2-norm error: %lld x %lld", (long long)rows,
                       (long long)cols);
    int64_t k = rows < cols ? rows : cols;
    double *diff = cw_malloc_array((size_t)(rows * cols), sizeof *diff);
    double *s = cw_malloc_array((size_t)k, sizeof *s);
    cw_status st = CW_OK;
    if (!diff || !s) {
        st = cw_fail(CW_ENOMEM, "relative 2-norm error: out of memory (%lld x %lld)",
                     (long long)rows, (long long)cols);
        goto done;
    }
    for (int64_t i = 0; i < rows * cols; i++) diff[i] = zhat[i] - z[i];
    if ((st = cw_la_svd(NULL, s, NULL, diff, rows, cols)) != CW_OK) {
        cw_fail_prefix(st, "relative 2-norm error");
        goto done;
    }
    double num = s[0];
    if ((st = cw_la_svd(NULL, s, NULL, z, rows, cols)) != CW_OK) {
        cw_fail_prefix(st, "relative 2-norm error");
        goto done;
    }
    if (!(s[0] > 0)) {
        st = cw_fail(CW_EINVAL, "relative 2-norm error: the true matrix is zero");
        goto done;
    }
    *err = num / s[0];
done:
    cw_free(diff), cw_free(s);
    return st;
}

cw_status cw_crl_mean_se(double *mean, double *se, int64_t *n_ok, const double *v, int64_t r) {
    *mean = *se = NAN;
    if (n_ok) *n_ok = 0;
    if (r < 0) return cw_fail(CW_EINVAL, "mean and standard error: %lld runs", (long long)r);
    int64_t ok = 0;
    for (int64_t i = 0; i < r; i++) ok += !isnan(v[i]);
    if (n_ok) *n_ok = ok;
    if (ok == 0) return CW_OK;
    double *kept = cw_malloc_array((size_t)ok, sizeof *kept);
    if (!kept) return cw_fail(CW_ENOMEM, "mean and standard error: out of memory");
    int64_t j = 0;
    for (int64_t i = 0; i < r; i++)
        if (!isnan(v[i])) kept[j++] = v[i];
    cw_mean_std ms;
    cw_status st = cw_mean_std_ddof0(&ms, kept, ok);
    cw_free(kept);
    if (st != CW_OK) return st;
    *mean = ms.mean;
    *se = ms.std / sqrt((double)ok);
    return CW_OK;
}
