/* metrics.c: per-intervention metrics and their aggregation (metrics.h; spec §6.3, §6.4, §5.1).
 * Conventions: float inputs, double accumulation in row order; the MMD walks row tiles of
 * T = [x; y] (gathered to double, TILE rows at a time) in an OpenMP loop over tile rows, each tile
 * row's partial sum stored and added in order afterwards (thread-count independent). */
#include "eval/metrics.h"

#include "core/alloc.h"
#include "core/status.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define TILE 64

void cw_metrics_opts_default(cw_metrics_opts *o, int is_combination) {
    memset(o, 0, sizeof *o);
    o->mmd_sigma_deg = is_combination ? 100.0 : 1000.0;
    o->mmd_sigma_all = 1000.0;
    o->mmd_kernel_num = 10;
    o->mmd_kernel_mul = 2.0;
    o->mmd_all = 1;
    o->n_threads = 0;
}

/* ---- argument checks ----------------------------------------------------------------------- */

static cw_status check_shape(const char *what, int64_t n, int64_t d, const int64_t *cols,
                             int64_t k) {
    if (n < 1) return cw_fail(CW_EINVAL, "%s: need at least one row, got %lld", what, (long long)n);
    if (d < 1)
        return cw_fail(CW_EINVAL, "%s: need at least one gene, got %lld", what, (long long)d);
    if (cols) {
        if (k < 1) return cw_fail(CW_EINVAL, "%s: empty gene subset", what);
        for (int64_t c = 0; c < k; c++)
            if (cols[c] < 0 || cols[c] >= d)
                return cw_fail(CW_EINVAL, "%s: gene subset entry %lld is %lld, expected [0, %lld)",
                               what, (long long)c, (long long)cols[c], (long long)d);
    }
    return CW_OK;
}

static inline int64_t n_cols(int64_t d, const int64_t *cols, int64_t k) { return cols ? k : d; }
static inline int64_t col_at(const int64_t *cols, int64_t c) { return cols ? cols[c] : c; }

/* ---- building blocks ----------------------------------------------------------------------- */

cw_status cw_metric_column_means(double *out, const float *x, int64_t n, int64_t d,
                                 const int64_t *cols, int64_t k) {
    CW_TRY(check_shape("column means", n, d, cols, k));
    const int64_t kk = n_cols(d, cols, k);
    for (int64_t c = 0; c < kk; c++) out[c] = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *row = x + i * d;
        if (cols)
            for (int64_t c = 0; c < kk; c++) out[c] += row[cols[c]];
        else
            for (int64_t c = 0; c < kk; c++) out[c] += row[c];
    }
    for (int64_t c = 0; c < kk; c++) out[c] /= (double)n;
    return CW_OK;
}

cw_status cw_metric_r2_sklearn(double *out, const double *y_true, const double *y_pred,
                               int64_t k, int *edge) {
    if (edge) *edge = CW_R2_REGULAR;
    if (k < 1) return cw_fail(CW_EINVAL, "r2: no values");
    if (k < 2) { /* sklearn: "not well-defined with less than two samples" -> nan */
        if (edge) *edge = CW_R2_TOO_FEW;
        *out = NAN;
        return CW_OK;
    }
    double mean = 0;
    int constant = 1;
    for (int64_t g = 0; g < k; g++) {
        mean += y_true[g];
        constant &= y_true[g] == y_true[0];
    }
    mean /= (double)k;
    double num = 0, den = 0;
    for (int64_t g = 0; g < k; g++) {
        const double e = y_true[g] - y_pred[g], c = y_true[g] - mean;
        num += e * e;
        den += c * c;
    }
    if (constant || den == 0) {
        if (edge) *edge = CW_R2_CONSTANT_TRUE;
        *out = num == 0 ? 1.0 : 0.0; /* force_finite: perfect 1.0, otherwise 0.0 */
        return CW_OK;
    }
    *out = num == 0 ? 1.0 : 1.0 - num / den;
    return CW_OK;
}

cw_status cw_metric_pearson(double *out, const double *a, const double *b, int64_t k,
                            int *flags) {
    if (k < 1) return cw_fail(CW_EINVAL, "pearson: no values");
    double ma = 0, mb = 0;
    int ca = 1, cb = 1;
    for (int64_t g = 0; g < k; g++) {
        ma += a[g];
        mb += b[g];
        ca &= a[g] == a[0];
        cb &= b[g] == b[0];
    }
    ma /= (double)k;
    mb /= (double)k;
    double saa = 0, sbb = 0, sab = 0;
    for (int64_t g = 0; g < k; g++) {
        const double da = a[g] - ma, db = b[g] - mb;
        saa += da * da;
        sbb += db * db;
        sab += da * db;
    }
    if (ca || cb || saa == 0 || sbb == 0) {
        if (flags) *flags |= CW_METRIC_PEARSON_CONSTANT;
        *out = 0.0;
        return CW_OK;
    }
    double r = sab / (sqrt(saa) * sqrt(sbb));
    *out = r > 1 ? 1 : r < -1 ? -1 : r; /* NaN passes through */
    return CW_OK;
}

cw_status cw_metric_rmse_relative(double *out, const float *y, const float *yhat, int64_t n,
                                  int64_t d, const int64_t *cols, int64_t k, int *flags) {
    CW_TRY(check_shape("relative RMSE", n, d, cols, k));
    const int64_t kk = n_cols(d, cols, k);
    double se = 0, ss = 0;
    for (int64_t i = 0; i < n; i++) {
        const float *yr = y + i * d, *pr = yhat + i * d;
        for (int64_t c = 0; c < kk; c++) {
            const int64_t g = col_at(cols, c);
            const double t = yr[g], e = (double)pr[g] - t;
            se += e * e;
            ss += t * t;
        }
    }
    /* the means share the count n * kk, which cancels */
    if (ss == 0 && flags) *flags |= CW_METRIC_RMSE_ZERO_TRUTH;
    *out = sqrt(se / ss); /* 0/0 = NaN, x/0 = +inf, as numpy */
    return CW_OK;
}

/* ---- MMD ------------------------------------------------------------------------------------ */

/* rows [r0, r0 + nr) of T = [x; y] (x has n rows), columns cols -> tile (nr, k) in double */
static void gather_tile(double *tile, const float *x, const float *y, int64_t n, int64_t d,
                        const int64_t *cols, int64_t k, int64_t r0, int64_t nr) {
    for (int64_t r = 0; r < nr; r++) {
        const int64_t row = r0 + r;
        const float *src = row < n ? x + row * d : y + (row - n) * d;
        double *dst = tile + r * k;
        if (cols)
            for (int64_t c = 0; c < k; c++) dst[c] = src[cols[c]];
        else
            for (int64_t c = 0; c < k; c++) dst[c] = src[c];
    }
}

/* squared distances of row a to the 4 rows b[0..3] (length k): four accumulators per pair over
 * c mod 4 (a fixed order, so vectorisable without -ffast-math), then a fixed tree */
static inline void dist4(double out[4], const double *a, const double *const b[4], int64_t k) {
    double s[4][4] = {{0}};
    int64_t c = 0;
    for (; c + 4 <= k; c += 4)
        for (int l = 0; l < 4; l++)
            for (int v = 0; v < 4; v++) {
                const double t = a[c + v] - b[l][c + v];
                s[l][v] += t * t;
            }
    for (int l = 0; l < 4; l++) {
        double tail = 0;
        for (int64_t cc = c; cc < k; cc++) {
            const double t = a[cc] - b[l][cc];
            tail += t * t;
        }
        out[l] = ((s[l][0] + s[l][1]) + (s[l][2] + s[l][3])) + tail;
    }
}

static inline double dist1(const double *a, const double *b, int64_t k) {
    double s[4] = {0};
    int64_t c = 0;
    for (; c + 4 <= k; c += 4)
        for (int v = 0; v < 4; v++) {
            const double t = a[c + v] - b[c + v];
            s[v] += t * t;
        }
    double tail = 0;
    for (; c < k; c++) {
        const double t = a[c] - b[c];
        tail += t * t;
    }
    return ((s[0] + s[1]) + (s[2] + s[3])) + tail;
}

static inline double kernel_sum(double dij, const double *bw, int64_t kernel_num) {
    double kv = 0;
    for (int64_t q = 0; q < kernel_num; q++) kv += exp(-dij / bw[q]);
    return kv;
}

/* sum over the pairs (i in tile A, j in tile B, j > i when same) of sign_i sign_j K_ij */
static double tile_pairs(const double *ta, int64_t i0, int64_t ni, const double *tb, int64_t j0,
                         int64_t nj, int same, int64_t n, int64_t k, const double *bw,
                         int64_t kernel_num) {
    double acc = 0;
    for (int64_t i = 0; i < ni; i++) {
        const double *a = ta + i * k;
        const double si = i0 + i < n ? 1.0 : -1.0;
        double row = 0;
        int64_t j = same ? i + 1 : 0;
        for (; j + 4 <= nj; j += 4) {
            const double *b[4] = {tb + j * k, tb + (j + 1) * k, tb + (j + 2) * k,
                                  tb + (j + 3) * k};
            double dd[4];
            dist4(dd, a, b, k);
            for (int l = 0; l < 4; l++) {
                const double sj = j0 + j + l < n ? 1.0 : -1.0;
                row += sj * kernel_sum(dd[l], bw, kernel_num);
            }
        }
        for (; j < nj; j++) {
            const double sj = j0 + j < n ? 1.0 : -1.0;
            row += sj * kernel_sum(dist1(a, tb + j * k, k), bw, kernel_num);
        }
        acc += si * row;
    }
    return acc;
}

cw_status cw_metric_mmd(double *out, const float *x, int64_t n_x, const float *y, int64_t n_y,
                        int64_t d, const int64_t *cols, int64_t k, double sigma,
                        int64_t kernel_num, double kernel_mul, int n_threads) {
    if (n_x != n_y)
        return cw_fail(CW_EINVAL, "MMD: %lld predicted and %lld real cells; the reference MMD "
                                  "needs equal counts",
                       (long long)n_x, (long long)n_y);
    CW_TRY(check_shape("MMD", n_x, d, cols, k));
    if (!(sigma > 0) || !isfinite(sigma))
        return cw_fail(CW_EINVAL, "MMD: sigma must be finite and > 0, got %g", sigma);
    if (kernel_num < 1 || kernel_num > 64)
        return cw_fail(CW_EINVAL, "MMD: kernel_num must be in [1, 64], got %lld",
                       (long long)kernel_num);
    if (!(kernel_mul > 0) || !isfinite(kernel_mul))
        return cw_fail(CW_EINVAL, "MMD: kernel_mul must be finite and > 0, got %g", kernel_mul);
    CW_ASSERT(!omp_in_parallel());

    const int64_t n = n_x, t = 2 * n, kk = n_cols(d, cols, k);
    /* b_q = sigma / mul^(kernel_num // 2) * mul^q (the reference's integer division) */
    double bw[64];
    bw[0] = sigma / pow(kernel_mul, (double)(kernel_num / 2));
    for (int64_t q = 1; q < kernel_num; q++) bw[q] = bw[q - 1] * kernel_mul;

    const int64_t nb = (t + TILE - 1) / TILE;
    int nt = n_threads > 0 ? n_threads : omp_get_max_threads();
    if (nt < 1) nt = 1;
    if (nt > nb) nt = (int)nb;
    double *partial = cw_malloc_array((size_t)nb, sizeof *partial);
    double *tiles = cw_malloc_array((size_t)nt * 2 * TILE, (size_t)kk * sizeof(double));
    if (!partial || !tiles) {
        cw_free(partial);
        cw_free(tiles);
        return cw_fail(CW_ENOMEM, "MMD: out of memory for %d x 2 tiles of %d x %lld doubles", nt,
                       TILE, (long long)kk);
    }
#pragma omp parallel for num_threads(nt) schedule(dynamic, 1)
    for (int64_t ib = 0; ib < nb; ib++) {
        double *ta = tiles + (size_t)omp_get_thread_num() * 2 * TILE * (size_t)kk;
        double *tb = ta + (size_t)TILE * (size_t)kk;
        const int64_t i0 = ib * TILE, ni = i0 + TILE <= t ? TILE : t - i0;
        gather_tile(ta, x, y, n, d, cols, kk, i0, ni);
        double off = tile_pairs(ta, i0, ni, ta, i0, ni, 1, n, kk, bw, kernel_num);
        for (int64_t jb = ib + 1; jb < nb; jb++) {
            const int64_t j0 = jb * TILE, nj = j0 + TILE <= t ? TILE : t - j0;
            gather_tile(tb, x, y, n, d, cols, kk, j0, nj);
            off += tile_pairs(ta, i0, ni, tb, j0, nj, 0, n, kk, bw, kernel_num);
        }
        /* diagonal pairs: d = 0, K = kernel_num, sign +1; off-diagonal ones count twice */
        partial[ib] = (double)ni * (double)kernel_num + 2.0 * off;
    }
    double total = 0;
    for (int64_t ib = 0; ib < nb; ib++) total += partial[ib];
    cw_free(partial);
    cw_free(tiles);
    *out = total / ((double)n * (double)n);
    return CW_OK;
}

/* ---- one intervention ---------------------------------------------------------------------- */

cw_status cw_metrics_compute(cw_metrics *out, const float *y, int64_t n_real, const float *yhat,
                             int64_t n_pred, int64_t d, const int64_t *cols, int64_t k,
                             const double *control_mean, double sigma,
                             const cw_metrics_opts *opts) {
    memset(out, 0, sizeof *out);
    cw_metrics_opts def;
    if (!opts) {
        cw_metrics_opts_default(&def, 0);
        opts = &def;
    }
    if (n_real != n_pred)
        return cw_fail(CW_EINVAL, "metrics: %lld real and %lld predicted cells; rows must be "
                                  "paired",
                       (long long)n_real, (long long)n_pred);
    CW_TRY(check_shape("metrics", n_real, d, cols, k));
    const int64_t n = n_real, kk = n_cols(d, cols, k);

    double *buf = cw_malloc_array((size_t)kk, 4 * sizeof(double));
    if (!buf) return cw_fail(CW_ENOMEM, "metrics: out of memory for %lld mean profiles",
                             (long long)kk);
    double *m = buf, *mhat = buf + kk, *da = buf + 2 * kk, *db = buf + 3 * kk;
    cw_status st;
    if ((st = cw_metric_column_means(m, y, n, d, cols, k)) != CW_OK) goto done;
    if ((st = cw_metric_column_means(mhat, yhat, n, d, cols, k)) != CW_OK) goto done;

    int edge;
    double r2;
    if ((st = cw_metric_r2_sklearn(&r2, mhat, m, kk, &edge)) != CW_OK) goto done;
    if (edge == CW_R2_CONSTANT_TRUE) out->flags |= CW_METRIC_R2_REF_CONSTANT;
    if (edge == CW_R2_TOO_FEW) out->flags |= CW_METRIC_R2_TOO_FEW;
    out->r2_reference = r2 > 0 ? r2 : 0; /* Python max(0, r2): NaN -> 0 */
    if ((st = cw_metric_r2_sklearn(&out->r2_standard, m, mhat, kk, &edge)) != CW_OK) goto done;
    if (edge == CW_R2_CONSTANT_TRUE) out->flags |= CW_METRIC_R2_STD_CONSTANT;

    if ((st = cw_metric_rmse_relative(&out->rmse_relative, y, yhat, n, d, cols, k,
                                      &out->flags)) != CW_OK)
        goto done;

    if (control_mean) {
        for (int64_t c = 0; c < kk; c++) {
            const double cm = control_mean[col_at(cols, c)];
            da[c] = mhat[c] - cm;
            db[c] = m[c] - cm;
        }
        if ((st = cw_metric_pearson(&out->pearson_delta, da, db, kk, &out->flags)) != CW_OK)
            goto done;
    } else {
        out->pearson_delta = NAN;
        out->flags |= CW_METRIC_PEARSON_NO_CONTROL;
    }

    if (sigma > 0) {
        if ((st = cw_metric_mmd(&out->mmd, yhat, n, y, n, d, cols, k, sigma, opts->mmd_kernel_num,
                                opts->mmd_kernel_mul, opts->n_threads)) != CW_OK)
            goto done;
    } else {
        out->mmd = NAN;
        out->flags |= CW_METRIC_MMD_SKIPPED;
    }
done:
    cw_free(buf);
    return st;
}

cw_status cw_metrics_intervention(cw_intervention_metrics *out, const float *y, int64_t n_real,
                                  const float *yhat, int64_t n_pred, int64_t d,
                                  const int64_t *deg_cols, int64_t n_deg,
                                  const double *control_mean, const cw_metrics_opts *opts) {
    memset(out, 0, sizeof *out);
    cw_metrics_opts def;
    if (!opts) {
        cw_metrics_opts_default(&def, 0);
        opts = &def;
    }
    if (!deg_cols || n_deg < 1) return cw_fail(CW_EINVAL, "metrics: empty DEG subset");
    cw_status st = cw_metrics_compute(&out->deg, y, n_real, yhat, n_pred, d, deg_cols, n_deg,
                                      control_mean, opts->mmd_sigma_deg, opts);
    if (st != CW_OK) return cw_fail_prefix(st, "DEG subset");
    st = cw_metrics_compute(&out->all, y, n_real, yhat, n_pred, d, NULL, 0, control_mean,
                            opts->mmd_all ? opts->mmd_sigma_all : 0.0, opts);
    if (st != CW_OK) return cw_fail_prefix(st, "all genes");
    out->n_cells = n_real;
    out->n_deg = n_deg;
    return CW_OK;
}

/* ---- aggregation ---------------------------------------------------------------------------- */

cw_status cw_metrics_mean(cw_metrics *out, const cw_metrics *per, int64_t n) {
    memset(out, 0, sizeof *out);
    if (n < 1) return cw_fail(CW_EINVAL, "metrics mean: no interventions");
    for (int64_t i = 0; i < n; i++) {
        out->r2_reference += per[i].r2_reference;
        out->r2_standard += per[i].r2_standard;
        out->rmse_relative += per[i].rmse_relative;
        out->mmd += per[i].mmd;
        out->pearson_delta += per[i].pearson_delta;
        out->flags |= per[i].flags;
    }
    out->r2_reference /= (double)n;
    out->r2_standard /= (double)n;
    out->rmse_relative /= (double)n;
    out->mmd /= (double)n;
    out->pearson_delta /= (double)n;
    return CW_OK;
}

cw_status cw_intervention_metrics_mean(cw_intervention_metrics *out,
                                       const cw_intervention_metrics *per, int64_t n) {
    memset(out, 0, sizeof *out);
    if (n < 1) return cw_fail(CW_EINVAL, "metrics mean: no interventions");
    cw_metrics *tmp = cw_malloc_array((size_t)n, sizeof *tmp);
    if (!tmp) return cw_fail(CW_ENOMEM, "metrics mean: out of memory");
    for (int64_t i = 0; i < n; i++) tmp[i] = per[i].deg;
    cw_metrics_mean(&out->deg, tmp, n);
    for (int64_t i = 0; i < n; i++) {
        tmp[i] = per[i].all;
        out->n_cells += per[i].n_cells;
        out->n_deg += per[i].n_deg;
    }
    cw_metrics_mean(&out->all, tmp, n);
    cw_free(tmp);
    return CW_OK;
}

cw_status cw_mean_std_ddof0(cw_mean_std *out, const double *v, int64_t n) {
    out->mean = out->std = NAN;
    if (n < 1) return cw_fail(CW_EINVAL, "mean and std: no values");
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += v[i];
    const double mean = s / (double)n;
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (v[i] - mean) * (v[i] - mean);
    out->mean = mean;
    out->std = sqrt(ss / (double)n);
    return CW_OK;
}

cw_status cw_metrics_across_seeds(cw_metrics_summary *out, const cw_metrics *per_seed,
                                  int64_t n_seeds) {
    memset(out, 0, sizeof *out);
    if (n_seeds < 1) return cw_fail(CW_EINVAL, "across seeds: no seeds");
    double *v = cw_malloc_array((size_t)n_seeds, sizeof *v);
    if (!v) return cw_fail(CW_ENOMEM, "across seeds: out of memory");
#define FIELD(f)                                                                                   \
    do {                                                                                           \
        for (int64_t s = 0; s < n_seeds; s++) v[s] = per_seed[s].f;                                \
        cw_mean_std_ddof0(&out->f, v, n_seeds);                                                    \
    } while (0)
    FIELD(r2_reference);
    FIELD(r2_standard);
    FIELD(rmse_relative);
    FIELD(mmd);
    FIELD(pearson_delta);
#undef FIELD
    for (int64_t s = 0; s < n_seeds; s++) out->flags |= per_seed[s].flags;
    out->n_seeds = n_seeds;
    cw_free(v);
    return CW_OK;
}
