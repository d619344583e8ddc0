/* deg.c: scanpy-style Welch t-test DEG tables from streaming per-group sums (deg.h).
 * Own regularized incomplete beta (Lentz continued fraction) and log-gamma (Stirling series with
 * upward recurrence; thread-safe, unlike lgamma's signgam), so groups are finalised in parallel.
 */
#include "eval/deg.h"

#include "core/alloc.h"
#include "core/status.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- special functions ------------------------------------------------------------------ */

/* log Gamma(x) for x > 0: Stirling series at x >= 10, upward recurrence below (the product of
 * at most 10 factors, each < 10, cannot overflow; one log). */
static double lgamma_pos(double x) {
    double prod = 1.0;
    while (x < 10.0) {
        prod *= x;
        x += 1.0;
    }
    double shift = prod == 1.0 ? 0.0 : log(prod);
    double r = 1.0 / x, r2 = r * r;
    double series = r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680 -
                                                                                r2 / 1188))));
    return (x - 0.5) * log(x) - x + 0.91893853320467274178 + series - shift;
}

/* Continued fraction of I_x(a, b) (Numerical Recipes betacf, modified Lentz). */
static double betacf(double a, double b, double x) {
    const double tiny = 1e-300, eps = 1e-15;
    double qab = a + b, qap = a + 1.0, qam = a - 1.0;
    double c = 1.0, d = 1.0 - qab * x / qap;
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 200000; m++) {
        double dm = (double)m, m2 = 2.0 * dm;
        double aa = dm * (b - dm) * x / ((qam + m2) * (a + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        aa = -(a + dm) * (qab + dm) * x / ((a + m2) * (qap + m2));
        d = 1.0 + aa * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + aa / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double del = d * c;
        h *= del;
        if (fabs(del - 1.0) < eps) break;
    }
    return h;
}

/* I_x(a, b) given x and y = 1 - x separately (so neither loses digits near 0 or 1). */
static double betainc_xy(double a, double b, double x, double y) {
    if (x <= 0.0) return 0.0;
    if (y <= 0.0) return 1.0;
    double lx = y < 0.5 ? log1p(-y) : log(x);
    double ly = x < 0.5 ? log1p(-x) : log(y);
    double lb = b == 0.5 ? 0.57236494292470008707 : lgamma_pos(b); /* log sqrt(pi) */
    double lbeta = lgamma_pos(a) + lb - lgamma_pos(a + b);
    double front = exp(a * lx + b * ly - lbeta);
    if (x < (a + 1.0) / (a + b + 2.0)) return front * betacf(a, b, x) / a;
    return 1.0 - front * betacf(b, a, y) / b;
}

double cw_betainc_reg(double a, double b, double x) {
    if (!(a > 0.0) || !(b > 0.0) || !(x >= 0.0 && x <= 1.0)) return NAN;
    return betainc_xy(a, b, x, 1.0 - x);
}

double cw_t_pvalue(double t, double df) {
    if (!(df > 0.0) || isnan(t)) return NAN;
    if (isinf(t)) return 0.0;
    double t2 = t * t;
    if (t2 == 0.0) return 1.0;
    double x = df / (df + t2), y = t2 / (df + t2);
    double p = betainc_xy(0.5 * df, 0.5, x, y);
    return p > 1.0 ? 1.0 : (p < 0.0 ? 0.0 : p);
}

double cw_t_sf(double t, double df) {
    double p = cw_t_pvalue(t, df);
    if (isnan(p)) return p;
    return t >= 0.0 ? 0.5 * p : 1.0 - 0.5 * p;
}

void cw_welch_ttest(double mean1, double var1, double n1, double mean2, double var2, double n2,
                    double *t, double *df, double *p) {
    *t = 0.0;
    *df = 0.0;
    *p = 1.0;
    if (n1 < 2.0 || n2 < 2.0) return;
    double s1 = var1 / n1, s2 = var2 / n2, s = s1 + s2;
    if (!(s > 0.0)) return;
    *t = (mean1 - mean2) / sqrt(s);
    *df = s * s / (s1 * s1 / (n1 - 1.0) + s2 * s2 / (n2 - 1.0));
    *p = cw_t_pvalue(*t, *df);
}

typedef struct {
    double p;
    int64_t i;
} pidx;

static int pidx_cmp(const void *a, const void *b) {
    const pidx *x = a, *y = b;
    if (x->p < y->p) return -1;
    if (x->p > y->p) return 1;
    return (x->i > y->i) - (x->i < y->i);
}

/* BH with caller scratch (n entries). */
static void bh_adjust_scratch(const double *p, int64_t n, double *out, pidx *s) {
    for (int64_t i = 0; i < n; i++) {
        s[i].p = p[i];
        s[i].i = i;
    }
    qsort(s, (size_t)n, sizeof *s, pidx_cmp);
    double run = 1.0;
    for (int64_t r = n - 1; r >= 0; r--) {
        double v = s[r].p * (double)n / (double)(r + 1);
        if (v < run) run = v;
        s[r].p = run;
    }
    for (int64_t r = 0; r < n; r++) out[s[r].i] = s[r].p > 1.0 ? 1.0 : s[r].p;
}

cw_status cw_bh_adjust(const double *p, int64_t n, double *out) {
    if (n <= 0) return CW_OK;
    pidx *s = cw_malloc_array((size_t)n, sizeof *s);
    if (!s) return cw_fail(CW_ENOMEM, "out of memory adjusting %lld p-values", (long long)n);
    bh_adjust_scratch(p, n, out, s);
    cw_free(s);
    return CW_OK;
}

/* ---- accumulator ------------------------------------------------------------------------- */

cw_status cw_deg_accum_init(cw_deg_accum *a, int64_t n_groups, int64_t n_genes) {
    memset(a, 0, sizeof *a);
    if (n_groups < 1 || n_genes < 1)
        return cw_fail(CW_EINVAL, "DEG accumulator: need at least one group and one gene, got %lld "
                                  "groups and %lld genes",
                       (long long)n_groups, (long long)n_genes);
    size_t cells = (size_t)n_groups * (size_t)n_genes;
    a->n = cw_calloc((size_t)n_groups, sizeof *a->n);
    a->sum = cw_calloc(cells, sizeof *a->sum);
    a->sumsq = cw_calloc(cells, sizeof *a->sumsq);
    if (!a->n || !a->sum || !a->sumsq) {
        cw_deg_accum_free(a);
        return cw_fail(CW_ENOMEM, "out of memory for DEG statistics of %lld groups x %lld genes",
                       (long long)n_groups, (long long)n_genes);
    }
    a->n_groups = n_groups;
    a->n_genes = n_genes;
    return CW_OK;
}

void cw_deg_accum_free(cw_deg_accum *a) {
    cw_free(a->n);
    cw_free(a->sum);
    cw_free(a->sumsq);
    memset(a, 0, sizeof *a);
}

void cw_deg_accum_add_dense(cw_deg_accum *a, int64_t g, const float *row) {
    CW_ASSERT(g >= 0 && g < a->n_groups);
    double *s = a->sum + g * a->n_genes, *q = a->sumsq + g * a->n_genes;
    for (int64_t j = 0; j < a->n_genes; j++) {
        double v = row[j];
        s[j] += v;
        q[j] += v * v;
    }
    a->n[g]++;
}

void cw_deg_accum_add_sparse(cw_deg_accum *a, int64_t g, const int32_t *idx, const float *val,
                             int64_t nnz) {
    CW_ASSERT(g >= 0 && g < a->n_groups);
    double *s = a->sum + g * a->n_genes, *q = a->sumsq + g * a->n_genes;
    for (int64_t k = 0; k < nnz; k++) {
        CW_ASSERT(idx[k] >= 0 && idx[k] < a->n_genes);
        double v = val[k];
        s[idx[k]] += v;
        q[idx[k]] += v * v;
    }
    a->n[g]++;
}

static int resolve_threads(int n_threads) {
    return n_threads > 0 ? n_threads : omp_get_max_threads();
}

void cw_deg_accum_add_csr_ws(cw_deg_accum *a, const cw_csr *x, const int64_t *row_group) {
    CW_ASSERT(x->ncols == a->n_genes);
    const int64_t G = a->n_genes, nrows = x->nrows;
#pragma omp single nowait
    for (int64_t r = 0; r < nrows; r++) {
        CW_ASSERT(row_group[r] < a->n_groups);
        if (row_group[r] >= 0) a->n[row_group[r]]++;
    }
    /* Gene tiles: a gene's sums are always accumulated by one thread, in row order. */
    const int64_t ntiles = G < 16 ? G : 16;
#pragma omp for schedule(dynamic, 1)
    for (int64_t tile = 0; tile < ntiles; tile++) {
        const int64_t g0 = tile * G / ntiles, g1 = (tile + 1) * G / ntiles;
        for (int64_t r = 0; r < nrows; r++) {
            int64_t grp = row_group[r];
            if (grp < 0) continue;
            int64_t lo = x->indptr[r], hi = x->indptr[r + 1];
            while (lo < hi) { /* first entry with column >= g0 */
                int64_t mid = lo + (hi - lo) / 2;
                if (x->indices[mid] < g0) lo = mid + 1;
                else hi = mid;
            }
            double *s = a->sum + grp * G, *q = a->sumsq + grp * G;
            for (int64_t k = lo; k < x->indptr[r + 1] && x->indices[k] < g1; k++) {
                double v = x->data[k];
                s[x->indices[k]] += v;
                q[x->indices[k]] += v * v;
            }
        }
    }
}

void cw_deg_accum_add_csr(cw_deg_accum *a, const cw_csr *x, const int64_t *row_group,
                          int n_threads) {
#pragma omp parallel num_threads(resolve_threads(n_threads))
    cw_deg_accum_add_csr_ws(a, x, row_group);
}

/* ---- finalize ------------------------------------------------------------------------------ */

static void group_mean_var(const cw_deg_accum *a, int64_t g, int64_t j, double *m, double *v) {
    double n = (double)a->n[g];
    if (n <= 0) {
        *m = 0.0;
        *v = 0.0;
        return;
    }
    double mean = a->sum[g * a->n_genes + j] / n;
    double var = a->sumsq[g * a->n_genes + j] / n - mean * mean;
    var = n > 1 ? var * n / (n - 1.0) : 0.0;
    if (var < 1e-12 * mean * mean) var = 0.0; /* rounding residue of a constant column */
    *m = mean;
    *v = var;
}

typedef struct {
    const char *name;
    int64_t g;
} named_group;

static int group_name_cmp(const void *a, const void *b) {
    const named_group *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->g > y->g) - (x->g < y->g);
}

cw_status cw_deg_accum_finalize(const cw_deg_accum *a, int64_t reference,
                                const cw_strings *group_names, const cw_strings *gene_names,
                                int64_t n_top, cw_deg_table *out) {
    memset(out, 0, sizeof *out);
    const int64_t G = a->n_genes, NG = a->n_groups;
    if (reference < 0 || reference >= NG)
        return cw_fail(CW_EINVAL, "DEG: reference group %lld out of range [0, %lld)",
                       (long long)reference, (long long)NG);
    if (group_names->n != NG || gene_names->n != G)
        return cw_fail(CW_EINVAL, "DEG: %lld group names for %lld groups, %lld gene names for "
                                  "%lld genes",
                       (long long)group_names->n, (long long)NG, (long long)gene_names->n,
                       (long long)G);
    for (int64_t g = 0; g < NG; g++)
        if (!group_names->s[g])
            return cw_fail(CW_EINVAL, "DEG: group %lld has no name", (long long)g);
    for (int64_t j = 0; j < G; j++)
        if (!gene_names->s[j])
            return cw_fail(CW_EINVAL, "DEG: gene %lld has no name", (long long)j);
    if (a->n[reference] < 1)
        return cw_fail(CW_EINVAL, "DEG: reference group '%s' has no cells",
                       group_names->s[reference]);
    if (n_top < 1) return cw_fail(CW_EINVAL, "DEG: number of top genes must be >= 1, got %lld",
                                  (long long)n_top);
    if (n_top > G) n_top = G;

    int64_t n_out = 0;
    named_group *ng = cw_malloc_array((size_t)NG, sizeof *ng);
    int64_t *order = cw_malloc_array((size_t)NG, sizeof *order);
    if (!ng || !order) {
        cw_free(ng);
        cw_free(order);
        return cw_fail(CW_ENOMEM, "out of memory for the DEG table");
    }
    for (int64_t g = 0; g < NG; g++)
        if (g != reference && a->n[g] > 0) {
            ng[n_out].name = group_names->s[g];
            ng[n_out++].g = g;
        }
    qsort(ng, (size_t)n_out, sizeof *ng, group_name_cmp);
    for (int64_t o = 0; o < n_out; o++) order[o] = ng[o].g;
    cw_free(ng);

    const int nt = resolve_threads(0);
    size_t cells = (size_t)(n_out > 0 ? n_out : 1) * (size_t)n_top;
    int64_t *top = cw_malloc_array(cells, sizeof *top);
    double *work = cw_malloc_array((size_t)nt * (size_t)G * 3, sizeof *work); /* t, p, padj */
    pidx *scratch = cw_malloc_array((size_t)nt * (size_t)G, sizeof *scratch);
    double *best = cw_malloc_array((size_t)nt * (size_t)n_top, sizeof *best);
    cw_status st = CW_OK;
    if (!top || !work || !scratch || !best) {
        st = cw_fail(CW_ENOMEM, "out of memory for the DEG table");
        goto done;
    }
    out->n_groups = n_out;
    out->n_genes = n_top;
    out->scores = cw_malloc_array(cells, sizeof(double));
    out->pvals = cw_malloc_array(cells, sizeof(double));
    out->pvals_adj = cw_malloc_array(cells, sizeof(double));
    out->logfoldchanges = cw_malloc_array(cells, sizeof(double));
    if (!out->scores || !out->pvals || !out->pvals_adj || !out->logfoldchanges) {
        st = cw_fail(CW_ENOMEM, "out of memory for the DEG table");
        goto done;
    }
    if ((st = cw_strings_alloc(&out->groups, n_out)) != CW_OK) goto done;
    if ((st = cw_strings_alloc(&out->names, (int64_t)cells)) != CW_OK) goto done;
    out->names.n = n_out * n_top;

#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t o = 0; o < n_out; o++) {
        const int tid = omp_get_thread_num();
        double *tv = work + (size_t)tid * (size_t)G * 3, *pv = tv + G, *qv = pv + G;
        double *bst = best + (size_t)tid * (size_t)n_top;
        int64_t *tp = top + o * n_top;
        const int64_t g = order[o];
        const double n1 = (double)a->n[g], n2 = (double)a->n[reference];
        int64_t nb = 0;
        for (int64_t j = 0; j < G; j++) {
            double m1, v1, m2, v2, df;
            group_mean_var(a, g, j, &m1, &v1);
            group_mean_var(a, reference, j, &m2, &v2);
            cw_welch_ttest(m1, v1, n1, m2, v2, n2, &tv[j], &df, &pv[j]);
            /* top n_top by |t|, ties keep the lower gene index */
            double s = fabs(tv[j]);
            if (nb < n_top || s > bst[nb - 1]) {
                int64_t k = nb < n_top ? nb++ : n_top - 1;
                while (k > 0 && bst[k - 1] < s) {
                    bst[k] = bst[k - 1];
                    tp[k] = tp[k - 1];
                    k--;
                }
                bst[k] = s;
                tp[k] = j;
            }
        }
        bh_adjust_scratch(pv, G, qv, scratch + (size_t)tid * (size_t)G);
        for (int64_t r = 0; r < n_top; r++) {
            int64_t j = tp[r];
            double m1, v1, m2, v2;
            group_mean_var(a, g, j, &m1, &v1);
            group_mean_var(a, reference, j, &m2, &v2);
            out->scores[o * n_top + r] = tv[j];
            out->pvals[o * n_top + r] = pv[j];
            out->pvals_adj[o * n_top + r] = qv[j];
            out->logfoldchanges[o * n_top + r] =
                log2((expm1(m1) + 1e-9) / (expm1(m2) + 1e-9));
        }
    }
    for (int64_t o = 0; o < n_out && st == CW_OK; o++) {
        st = cw_strings_set(&out->groups, o, group_names->s[order[o]]);
        for (int64_t r = 0; r < n_top && st == CW_OK; r++)
            st = cw_strings_set(&out->names, o * n_top + r, gene_names->s[top[o * n_top + r]]);
    }
done:
    if (st != CW_OK) cw_deg_table_free(out);
    cw_free(order);
    cw_free(top);
    cw_free(work);
    cw_free(scratch);
    cw_free(best);
    return st;
}

cw_status cw_deg_from_csr(const cw_csr *x, const int64_t *cell_group, int64_t n_groups,
                          int64_t reference, const cw_strings *group_names,
                          const cw_strings *gene_names, int64_t n_top, int n_threads,
                          cw_deg_table *out) {
    memset(out, 0, sizeof *out);
    for (int64_t r = 0; r < x->nrows; r++)
        if (cell_group[r] < -1 || cell_group[r] >= n_groups)
            return cw_fail(CW_EINVAL, "DEG: cell %lld has group %lld, expected -1 or [0, %lld)",
                           (long long)r, (long long)cell_group[r], (long long)n_groups);
    cw_deg_accum a;
    CW_TRY(cw_deg_accum_init(&a, n_groups, x->ncols));
    cw_deg_accum_add_csr(&a, x, cell_group, n_threads);
    cw_status st = cw_deg_accum_finalize(&a, reference, group_names, gene_names, n_top, out);
    cw_deg_accum_free(&a);
    return st;
}
