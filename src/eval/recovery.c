/* recovery.c: Hungarian matching, MCC and SHD (see recovery.h). */
#include "eval/recovery.h"

#include "core/alloc.h"
#include "core/status.h"

#include <math.h>
#include <string.h>

/* Shortest augmenting paths with potentials (Kuhn-Munkres, O(n^2 m)) on costs -w. */
cw_status cw_hungarian_max(int64_t *match, double *total, const double *w, int64_t n, int64_t m) {
    if (n < 0 || n > m) return cw_fail(CW_EINVAL, "hungarian: %lld rows for %lld columns",
                                       (long long)n, (long long)m);
    double *u = cw_calloc((size_t)n + 1, sizeof(double)), *v = cw_calloc((size_t)m + 1, sizeof(double));
    double *minv = cw_malloc_array((size_t)m + 1, sizeof(double));
    int64_t *p = cw_calloc((size_t)m + 1, sizeof(int64_t)), *way = cw_calloc((size_t)m + 1, sizeof(int64_t));
    char *used = cw_malloc((size_t)m + 1);
    cw_status st = CW_OK;
    if (!u || !v || !minv || !p || !way || !used) st = cw_fail(CW_ENOMEM, "hungarian: out of memory");
    for (int64_t i = 1; st == CW_OK && i <= n; i++) {
        p[0] = i;
        int64_t j0 = 0;
        for (int64_t j = 0; j <= m; j++) minv[j] = INFINITY;
        memset(used, 0, (size_t)m + 1);
        do {
            used[j0] = 1;
            int64_t i0 = p[j0], j1 = 0;
            double delta = INFINITY;
            for (int64_t j = 1; j <= m; j++)
                if (!used[j]) {
                    double cur = -w[(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
                    if (cur < minv[j]) minv[j] = cur, way[j] = j0;
                    if (minv[j] < delta) delta = minv[j], j1 = j;
                }
            for (int64_t j = 0; j <= m; j++)
                if (used[j]) u[p[j]] += delta, v[j] -= delta;
                else minv[j] -= delta;
            j0 = j1;
        } while (p[j0] != 0);
        do {
            int64_t j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
        } while (j0);
    }
    if (st == CW_OK) {
        double sum = 0;
        for (int64_t j = 1; j <= m; j++)
            if (p[j]) {
                match[p[j] - 1] = j - 1;
                sum += w[(p[j] - 1) * m + (j - 1)];
            }
        if (total) *total = sum;
    }
    cw_free(u), cw_free(v), cw_free(minv), cw_free(p), cw_free(way), cw_free(used);
    return st;
}

cw_status cw_mcc(double *mcc, int64_t *match, const double *t, int64_t zt, const double *l,
                 int64_t zl, int64_t cells) {
    if (cells < 2 || zt < 1 || zt > zl)
        return cw_fail(CW_EINVAL, "mcc: %lld cells, %lld true and %lld learned latents",
                       (long long)cells, (long long)zt, (long long)zl);
    double *c = cw_calloc((size_t)(zt * zl), sizeof(double));
    double *mt = cw_calloc((size_t)zt, sizeof(double)), *ml = cw_calloc((size_t)zl, sizeof(double));
    double *st_ = cw_calloc((size_t)zt, sizeof(double)), *sl = cw_calloc((size_t)zl, sizeof(double));
    cw_status st = CW_OK;
    if (!c || !mt || !ml || !st_ || !sl) st = cw_fail(CW_ENOMEM, "mcc: out of memory");
    if (st == CW_OK) {
        for (int64_t r = 0; r < cells; r++) {
            for (int64_t i = 0; i < zt; i++) mt[i] += t[r * zt + i];
            for (int64_t j = 0; j < zl; j++) ml[j] += l[r * zl + j];
        }
        for (int64_t i = 0; i < zt; i++) mt[i] /= (double)cells;
        for (int64_t j = 0; j < zl; j++) ml[j] /= (double)cells;
        for (int64_t r = 0; r < cells; r++) {
            for (int64_t i = 0; i < zt; i++) {
                double a = t[r * zt + i] - mt[i];
                st_[i] += a * a;
                for (int64_t j = 0; j < zl; j++) c[i * zl + j] += a * (l[r * zl + j] - ml[j]);
            }
            for (int64_t j = 0; j < zl; j++) {
                double b = l[r * zl + j] - ml[j];
                sl[j] += b * b;
            }
        }
        for (int64_t i = 0; i < zt; i++)
            for (int64_t j = 0; j < zl; j++) {
                double den = sqrt(st_[i] * sl[j]);
                c[i * zl + j] = den > 0 ? fabs(c[i * zl + j]) / den : 0.0;
            }
        double total = 0;
        int64_t *m = match ? match : cw_malloc_array((size_t)zt, sizeof(int64_t));
        st = m ? cw_hungarian_max(m, &total, c, zt, zl) : cw_fail(CW_ENOMEM, "mcc: out of memory");
        if (m != match) cw_free(m);
        if (st == CW_OK) *mcc = total / (double)zt;
    }
    cw_free(c), cw_free(mt), cw_free(ml), cw_free(st_), cw_free(sl);
    return st;
}

int64_t cw_shd_matched(const double *true_dag, int64_t zt, const double *learned, int64_t zl,
                       const int64_t *match, double threshold) {
    int64_t shd = 0;
    for (int64_t i = 0; i < zt; i++)
        for (int64_t j = i + 1; j < zt; j++) {
            int te = true_dag[i * zt + j] != 0 ? 1 : (true_dag[j * zt + i] != 0 ? -1 : 0);
            int64_t a = match[i], b = match[j];
            int le = fabs(learned[a * zl + b]) > threshold ? 1
                     : (fabs(learned[b * zl + a]) > threshold ? -1 : 0);
            shd += te != le;
        }
    return shd;
}
