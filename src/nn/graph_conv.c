/* graph_conv.c: CSR message passing for SAGE, GCN and GAT layers (graph_conv.h, spec
 * grace_cmvae.md §4.2, §4.5).
 *
 * Conventions: one CSR serves the B cells of a batch; every kernel's outer loop runs over cells
 * (OpenMP when B > 1; cw_spmm with B = 1 runs over node rows instead) and the work of a cell or
 * row is serial, in row then slot order, so results do not depend on the thread count. Nothing here allocates or calls BLAS. GAT forward uses `out` as
 * its own scratch (the per-node source scores live in out[b, v, 0..K) until row v's logits are
 * all computed); GAT backward keeps per-cell partial sums of the parameter gradients in
 * `scratch` and reduces them serially in cell order. */
#include "nn/graph_conv.h"

#include <string.h>

/* ---- spmm and its value helpers --------------------------------------------------------- */

/* columns of an spmm row kept in registers across the row's entries (spmm_row) */
#define SPMM_COLS 32
#define SPMM_AHEAD 16

/* one output row: o (f) [+]= diag[v] x[v] + sum_{e in row v} val[e] x[idx[e]] (x: rows of f).
 * Every element is 0 (or its old value), plus the diagonal term, plus the entries in order;
 * blocks of SPMM_COLS columns sum in a local array the compiler keeps in registers (a load,
 * add and store of o per entry made the node-major SAGE layer latency-bound), the rest in o. */
static inline void spmm_row(real *restrict o, const real *restrict x, const int64_t *indptr,
                            const int32_t *indices, const real *val, const real *diag, int64_t v,
                            int64_t f, int accumulate, int64_t nnz) {
    const int64_t e0 = indptr[v], e1 = indptr[v + 1];
    int64_t k0 = 0;
    for (; k0 + SPMM_COLS <= f; k0 += SPMM_COLS) {
        real acc[SPMM_COLS];
        for (int k = 0; k < SPMM_COLS; k++) acc[k] = accumulate ? o[k0 + k] : 0;
        if (diag) {
            const real d = diag[v];
            const real *restrict xv = x + v * f + k0;
            for (int k = 0; k < SPMM_COLS; k++) acc[k] += d * xv[k];
        }
        for (int64_t e = e0; e < e1; e++) {
            const real w = val[e];
            const real *restrict xu = x + (int64_t)indices[e] * f + k0;
            if (e + SPMM_AHEAD < nnz) { /* the next rows' first entries too */
                const real *xn = x + (int64_t)indices[e + SPMM_AHEAD] * f + k0;
                __builtin_prefetch(xn);
                __builtin_prefetch(xn + 16);
            }
            for (int k = 0; k < SPMM_COLS; k++) acc[k] += w * xu[k];
        }
        for (int k = 0; k < SPMM_COLS; k++) o[k0 + k] = acc[k];
    }
    if (k0 == f) return;
    if (!accumulate)
        for (int64_t k = k0; k < f; k++) o[k] = 0;
    if (diag) {
        const real d = diag[v];
        const real *xv = x + v * f;
        for (int64_t k = k0; k < f; k++) o[k] += d * xv[k];
    }
    for (int64_t e = e0; e < e1; e++) {
        const real w = val[e];
        const real *restrict xu = x + (int64_t)indices[e] * f;
        for (int64_t k = k0; k < f; k++) o[k] += w * xu[k];
    }
}

void cw_spmm(real *out, const real *x, const int64_t *indptr, const int32_t *indices,
             const real *val, const real *diag, int64_t batch, int64_t n, int64_t f,
             int accumulate) {
    CW_ASSERT(out != x);
    if (batch == 1) {
        /* one (possibly node-major, f = cells x features) matrix: rows in parallel; each row is
         * computed serially, so the result does not depend on the thread count */
#pragma omp parallel for schedule(static) if (n * f >= 4096)
        for (int64_t v = 0; v < n; v++)
            spmm_row(out + v * f, x, indptr, indices, val, diag, v, f, accumulate, indptr[n]);
        return;
    }
#pragma omp parallel for schedule(static) if (batch > 1)
    for (int64_t b = 0; b < batch; b++) {
        const real *xb = x + b * n * f;
        real *ob = out + b * n * f;
        for (int64_t v = 0; v < n; v++)
            spmm_row(ob + v * f, xb, indptr, indices, val, diag, v, f, accumulate, indptr[n]);
    }
}

/* slot of column col in row `row` (columns sorted), -1 when absent */
static int64_t csr_find(const int64_t *indptr, const int32_t *indices, int64_t row,
                        int64_t col) {
    int64_t lo = indptr[row], hi = indptr[row + 1];
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (indices[mid] < col)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < indptr[row + 1] && indices[lo] == col ? lo : -1;
}

void cw_spmm_transpose_values(real *tval, const real *val, const int64_t *indptr,
                              const int32_t *indices, int64_t n) {
    CW_ASSERT(tval != val);
    for (int64_t v = 0; v < n; v++)
        for (int64_t e = indptr[v]; e < indptr[v + 1]; e++) {
            /* entry e is A(v, u); A^T(v, u) = A(u, v), stored in row u at column v */
            const int64_t s = csr_find(indptr, indices, indices[e], v);
            CW_ASSERT(s >= 0); /* the pattern must be symmetric */
            tval[e] = val[s];
        }
}

void cw_sage_mean_values(real *val, real *tval, const int64_t *indptr, const int32_t *indices,
                         int64_t n) {
    for (int64_t v = 0; v < n; v++)
        for (int64_t e = indptr[v]; e < indptr[v + 1]; e++) {
            const int64_t u = indices[e];
            if (val) val[e] = (real)(1.0 / (double)(indptr[v + 1] - indptr[v]));
            /* row u of a symmetric pattern is not empty: it holds v */
            if (tval) tval[e] = (real)(1.0 / (double)(indptr[u + 1] - indptr[u]));
        }
}

void cw_gcn_norm_values(real *val, real *diag, const int64_t *indptr, const int32_t *indices,
                        const uint8_t *keep, int64_t n) {
    /* diag first holds d(v) = 1 + kept edges of row v, then 1/d(v) */
    for (int64_t v = 0; v < n; v++) {
        int64_t d = 1;
        for (int64_t e = indptr[v]; e < indptr[v + 1]; e++) d += keep ? keep[e] != 0 : 1;
        diag[v] = (real)d;
    }
    for (int64_t v = 0; v < n; v++)
        for (int64_t e = indptr[v]; e < indptr[v + 1]; e++) {
            const int64_t u = indices[e];
            val[e] = keep && !keep[e] ? 0 : (real)(1.0 / sqrt((double)diag[v] * (double)diag[u]));
        }
    for (int64_t v = 0; v < n; v++) diag[v] = (real)(1.0 / (double)diag[v]);
}

/* ---- GAT -------------------------------------------------------------------------------- */

#define GAT_SLOPE 0.2

/* per-cell scratch of backward: s_src, s_dst, ds_src (N K each), dalpha of one (row, head)
 * (nnz + N: any row fits), partial datt_src, datt_dst, dbias (K F each) */
static int64_t gat_cell_scratch(int64_t n, int64_t nnz, int64_t heads, int64_t f) {
    return 3 * n * heads + (nnz + n) + 3 * heads * f;
}

int64_t cw_gat_alpha_size(int64_t batch, int64_t n, int64_t nnz, int64_t heads) {
    return batch * (nnz + n) * heads;
}

int64_t cw_gat_scratch_size(int64_t batch, int64_t n, int64_t nnz, int64_t heads, int64_t f) {
    return batch * gat_cell_scratch(n, nnz, heads, f);
}

/* <a, x> over F; forward and backward use this same expression so that the LeakyReLU branch
 * taken in backward is the one forward took */
static inline real gat_dot(const real *a, const real *x, int64_t f) {
    real s = 0;
    for (int64_t k = 0; k < f; k++) s += a[k] * x[k];
    return s;
}

static inline real gat_lrelu(real z) { return z > 0 ? z : (real)GAT_SLOPE * z; }

void cw_gat_forward(real *out, real *alpha, const real *xw, const real *att_src,
                    const real *att_dst, const real *bias, const int64_t *indptr,
                    const int32_t *indices, int64_t batch, int64_t n, int64_t heads, int64_t f) {
    CW_ASSERT(out != xw);
    if (f == 0) return;
    const int64_t nnz = indptr[n], kf = heads * f, slots = (nnz + n) * heads;
#pragma omp parallel for schedule(static) if (batch > 1)
    for (int64_t b = 0; b < batch; b++) {
        const real *xb = xw + b * n * kf;
        real *ob = out + b * n * kf;
        real *ab = alpha + b * slots;
        /* 1. s_src[v, k] into out[b, v, k] (scratch until step 3 overwrites row v) */
        for (int64_t v = 0; v < n; v++)
            for (int64_t k = 0; k < heads; k++)
                ob[v * kf + k] = gat_dot(att_src + k * f, xb + v * kf + k * f, f);
        /* 2. logits e_vu = lrelu(s_src[u] + s_dst[v]) of the neighbours, then of the self loop */
        for (int64_t v = 0; v < n; v++) {
            const int64_t s0 = indptr[v] + v, deg = indptr[v + 1] - indptr[v];
            for (int64_t k = 0; k < heads; k++) {
                const real sd = gat_dot(att_dst + k * f, xb + v * kf + k * f, f);
                for (int64_t j = 0; j < deg; j++) {
                    const int64_t u = indices[indptr[v] + j];
                    ab[(s0 + j) * heads + k] = gat_lrelu(ob[u * kf + k] + sd);
                }
                ab[(s0 + deg) * heads + k] = gat_lrelu(ob[v * kf + k] + sd);
            }
        }
        /* 3. softmax over each row's slots (max subtracted), aggregation, bias */
        for (int64_t v = 0; v < n; v++) {
            const int64_t s0 = indptr[v] + v, deg = indptr[v + 1] - indptr[v];
            for (int64_t k = 0; k < heads; k++) {
                real *a = ab + s0 * heads + k; /* a[j * heads], j = 0 .. deg (self) */
                real mx = a[0];
                for (int64_t j = 1; j <= deg; j++)
                    if (a[j * heads] > mx) mx = a[j * heads];
                double s = 0;
                for (int64_t j = 0; j <= deg; j++) {
                    a[j * heads] = r_exp(a[j * heads] - mx);
                    s += a[j * heads];
                }
                const real sr = (real)s;
                for (int64_t j = 0; j <= deg; j++) a[j * heads] /= sr;

                real *o = ob + v * kf + k * f;
                for (int64_t c = 0; c < f; c++) o[c] = bias ? bias[k * f + c] : 0;
                for (int64_t j = 0; j <= deg; j++) {
                    const int64_t u = j < deg ? indices[indptr[v] + j] : v;
                    const real w = a[j * heads];
                    const real *xu = xb + u * kf + k * f;
                    for (int64_t c = 0; c < f; c++) o[c] += w * xu[c];
                }
            }
        }
    }
}

void cw_gat_backward(real *dxw, real *datt_src, real *datt_dst, real *dbias, const real *dout,
                     const real *xw, const real *alpha, const real *att_src, const real *att_dst,
                     const int64_t *indptr, const int32_t *indices, real *scratch, int64_t batch,
                     int64_t n, int64_t heads, int64_t f) {
    if (f == 0) return;
    const int64_t nnz = indptr[n], kf = heads * f, slots = (nnz + n) * heads;
    const int64_t cell = gat_cell_scratch(n, nnz, heads, f);
#pragma omp parallel for schedule(static) if (batch > 1)
    for (int64_t b = 0; b < batch; b++) {
        const real *xb = xw + b * n * kf, *gb = dout + b * n * kf, *ab = alpha + b * slots;
        real *dxb = dxw + b * n * kf;
        real *s_src = scratch + b * cell, *s_dst = s_src + n * heads, *ds_src = s_dst + n * heads;
        real *dal = ds_src + n * heads;
        real *p_src = dal + (nnz + n), *p_dst = p_src + kf, *p_bias = p_dst + kf;
        for (int64_t v = 0; v < n; v++)
            for (int64_t k = 0; k < heads; k++) {
                s_src[v * heads + k] = gat_dot(att_src + k * f, xb + v * kf + k * f, f);
                s_dst[v * heads + k] = gat_dot(att_dst + k * f, xb + v * kf + k * f, f);
                ds_src[v * heads + k] = 0;
            }
        for (int64_t i = 0; i < 3 * kf; i++) p_src[i] = 0;

        for (int64_t v = 0; v < n; v++) {
            const int64_t s0 = indptr[v] + v, deg = indptr[v + 1] - indptr[v];
            for (int64_t k = 0; k < heads; k++) {
                const real *g = gb + v * kf + k * f;
                const real *a = ab + s0 * heads + k;
                for (int64_t c = 0; c < f; c++) p_bias[k * f + c] += g[c];
                /* out_v = sum_u alpha_vu xw_u: dxw_u += alpha_vu g, dalpha_vu = <g, xw_u> */
                double dot = 0;
                for (int64_t j = 0; j <= deg; j++) {
                    const int64_t u = j < deg ? indices[indptr[v] + j] : v;
                    const real w = a[j * heads];
                    const real *xu = xb + u * kf + k * f;
                    real *dxu = dxb + u * kf + k * f;
                    for (int64_t c = 0; c < f; c++) dxu[c] += w * g[c];
                    dal[j] = gat_dot(g, xu, f);
                    dot += (double)w * dal[j];
                }
                /* softmax: de_vu = alpha_vu (dalpha_vu - sum_u' alpha_vu' dalpha_vu');
                 * lrelu: dz = de (z > 0 ? 1 : 0.2), z = s_src[u] + s_dst[v] */
                const real sd = s_dst[v * heads + k];
                real dsd = 0;
                for (int64_t j = 0; j <= deg; j++) {
                    const int64_t u = j < deg ? indices[indptr[v] + j] : v;
                    const real de = a[j * heads] * (dal[j] - (real)dot);
                    const real dz = s_src[u * heads + k] + sd > 0 ? de : (real)GAT_SLOPE * de;
                    ds_src[u * heads + k] += dz;
                    dsd += dz;
                }
                /* s_dst[v] = <att_dst, xw_v> */
                const real *xv = xb + v * kf + k * f;
                real *dxv = dxb + v * kf + k * f;
                for (int64_t c = 0; c < f; c++) {
                    dxv[c] += dsd * att_dst[k * f + c];
                    p_dst[k * f + c] += dsd * xv[c];
                }
            }
        }
        /* s_src[u] = <att_src, xw_u> */
        for (int64_t u = 0; u < n; u++)
            for (int64_t k = 0; k < heads; k++) {
                const real d = ds_src[u * heads + k];
                const real *xu = xb + u * kf + k * f;
                real *dxu = dxb + u * kf + k * f;
                for (int64_t c = 0; c < f; c++) {
                    dxu[c] += d * att_src[k * f + c];
                    p_src[k * f + c] += d * xu[c];
                }
            }
    }
    /* parameter gradients: per-cell partials reduced in cell order (thread-count independent) */
    for (int64_t i = 0; i < kf; i++) {
        double ss = 0, sd = 0, sb = 0;
        for (int64_t b = 0; b < batch; b++) {
            const real *p = scratch + b * cell + 3 * n * heads + (nnz + n);
            ss += p[i], sd += p[kf + i], sb += p[2 * kf + i];
        }
        if (datt_src) datt_src[i] += (real)ss;
        if (datt_dst) datt_dst[i] += (real)sd;
        if (dbias) dbias[i] += (real)sb;
    }
}
