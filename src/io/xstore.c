/* xstore.c: X in memory or streamed through a window under a memory cap (io/xstore.h). */
#include "io/xstore.h"

#include "core/alloc.h"
#include "core/status.h"
#include "core/timer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CW_XSTORE_DENSE_CHUNK 256 /* rows of a dense X read before conversion */

static int64_t row_entries(const cw_xstore *s, int64_t row) {
    return s->dense ? s->ncols : s->file_indptr[row + 1] - s->file_indptr[row];
}

int64_t cw_xstore_row_bytes(const cw_xstore *s, int64_t row) {
    if (!s->streaming) return 0;
    return 8 * row_entries(s, row) + 16;
}

cw_status cw_xstore_open(cw_xstore *s, cw_h5ad *h, int64_t cap) {
    memset(s, 0, sizeof *s);
    s->h = h;
    s->nrows = cw_h5ad_n_obs(h);
    s->ncols = cw_h5ad_n_vars(h);
    s->cap = cap;
    s->dense = !cw_h5ad_x_is_sparse(h);
    const int64_t ptr_bytes = 8 * (s->nrows + 1);
    /* all of X as CSR: a dense X counts every value (exact zeros are dropped on reading) */
    const int64_t entries = s->dense ? s->nrows * s->ncols : cw_h5ad_x_nnz(h);
    if (cap <= 0 || 8 * entries + ptr_bytes <= cap) {
        cw_status st = cw_h5ad_read_x_csr(h, &s->all);
        if (st) memset(s, 0, sizeof *s);
        return st;
    }
    s->streaming = 1;
    s->window_bytes = cap - (s->dense ? 0 : ptr_bytes);
    int64_t widest = s->dense ? s->ncols : 0;
    cw_status st = CW_OK;
    if (!s->dense) {
        s->file_indptr = cw_malloc_array((size_t)(s->nrows + 1), sizeof(int64_t));
        if (!s->file_indptr) st = cw_fail(CW_ENOMEM, "%s: out of memory for the row pointers",
                                          cw_h5ad_path(h));
        if (st == CW_OK) st = cw_h5ad_read_x_indptr(h, s->file_indptr);
        for (int64_t r = 0; st == CW_OK && r < s->nrows; r++)
            if (row_entries(s, r) > widest) widest = row_entries(s, r);
    }
    if (st == CW_OK && s->window_bytes < 8 * widest + 16)
        st = cw_fail(CW_EINVAL,
                     "%s: --memory-cap %lld bytes cannot hold X's row pointers (%lld bytes) and "
                     "its widest row (%lld bytes); expected at least %lld",
                     cw_h5ad_path(h), (long long)cap, (long long)(s->dense ? 0 : ptr_bytes),
                     (long long)(8 * widest + 16),
                     (long long)((s->dense ? 0 : ptr_bytes) + 8 * widest + 16));
    if (st) cw_xstore_close(s);
    return st;
}

void cw_xstore_wrap(cw_xstore *s, const cw_csr *x) {
    memset(s, 0, sizeof *s);
    s->nrows = x->nrows;
    s->ncols = x->ncols;
    s->all = *x;
    s->borrowed = 1;
}

double cw_xstore_stored_fraction(const cw_xstore *s) {
    if (s->dense || s->nrows <= 0 || s->ncols <= 0) return 1;
    const int64_t nnz = s->h ? cw_h5ad_x_nnz(s->h) : s->all.nnz;
    return (double)nnz / ((double)s->nrows * (double)s->ncols);
}

static const char *src_name(const cw_xstore *s) { return s->h ? cw_h5ad_path(s->h) : "X"; }

void cw_xstore_close(cw_xstore *s) {
    if (!s->borrowed) cw_csr_free(&s->all);
    cw_free(s->file_indptr);
    cw_free(s->win_rows);
    cw_free(s->win.indptr);
    cw_free(s->win.indices);
    cw_free(s->win.data);
    cw_free(s->scratch);
    cw_free(s->dense_buf);
    memset(s, 0, sizeof *s);
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorted distinct copy of rows in s->scratch; returns its length. */
static cw_status sorted_unique(cw_xstore *s, const int64_t *rows, int64_t n, int64_t *m) {
    if (n > s->scratch_cap) {
        int64_t *p = cw_realloc(s->scratch, (size_t)n * sizeof *p);
        if (!p) return cw_fail(CW_ENOMEM, "%s: out of memory", src_name(s));
        s->scratch = p, s->scratch_cap = n;
    }
    for (int64_t i = 0; i < n; i++) {
        if (rows[i] < 0 || rows[i] >= s->nrows)
            return cw_fail(CW_EINVAL, "%s: /X: row %lld outside [0, %lld)", src_name(s),
                           (long long)rows[i], (long long)s->nrows);
        s->scratch[i] = rows[i];
    }
    qsort(s->scratch, (size_t)n, sizeof(int64_t), cmp_i64);
    int64_t k = 0;
    for (int64_t i = 0; i < n; i++)
        if (k == 0 || s->scratch[i] != s->scratch[k - 1]) s->scratch[k++] = s->scratch[i];
    *m = k;
    return CW_OK;
}

/* Grows the window's arrays to rows and nnz (within the budget the caller checked). Their old
 * contents are never needed, so a grown array is freed before its replacement is allocated:
 * realloc would copy it and, for a moment, hold both (measured: peak RSS 2 GB above a 2 GB cap). */
static int grow(void **p, int64_t *cap, int64_t need, size_t elem) {
    if (need <= *cap && *p) return 1;
    cw_free(*p);
    *p = cw_malloc_array((size_t)(need > 0 ? need : 1), elem);
    *cap = *p ? need : 0;
    return *p != NULL;
}

static cw_status window_reserve(cw_xstore *s, int64_t rows, int64_t nnz) {
    int64_t cr = s->win_cap_rows, cp = s->win_cap_rows, ci = s->win_cap_nnz, cd = s->win_cap_nnz;
    int ok = grow((void **)&s->win_rows, &cr, rows, sizeof(int64_t)) &&
             grow((void **)&s->win.indptr, &cp, rows + 1, sizeof(int64_t)) &&
             grow((void **)&s->win.indices, &ci, nnz, sizeof(int32_t)) &&
             grow((void **)&s->win.data, &cd, nnz, sizeof(float));
    s->win_cap_rows = cr < cp - 1 ? cr : cp - 1;
    s->win_cap_nnz = ci < cd ? ci : cd;
    if (!ok) {
        s->win_cap_rows = s->win_cap_nnz = 0;
        return cw_fail(CW_ENOMEM, "%s: out of memory for the window", src_name(s));
    }
    return CW_OK;
}

/* Reads the sorted distinct rows[0 .. n) (which fit the budget) into the window. */
static cw_status window_read(cw_xstore *s, const int64_t *rows, int64_t n) {
    int64_t nnz = 0;
    for (int64_t i = 0; i < n; i++) nnz += row_entries(s, rows[i]);
    CW_TRY(window_reserve(s, n, nnz));
    double t0 = cw_now();
    s->win.nrows = 0; /* an error leaves an empty window */
    cw_status st = CW_OK;
    if (!s->dense) {
        st = cw_h5ad_read_x_rowset(s->h, rows, n, s->file_indptr, &s->win);
    } else {
        if (!s->dense_buf) {
            s->dense_buf = cw_malloc_array((size_t)(CW_XSTORE_DENSE_CHUNK * s->ncols), sizeof(float));
            if (!s->dense_buf) return cw_fail(CW_ENOMEM, "%s: out of memory", src_name(s));
        }
        int64_t at = 0;
        s->win.indptr[0] = 0;
        for (int64_t i0 = 0; st == CW_OK && i0 < n; i0 += CW_XSTORE_DENSE_CHUNK) {
            int64_t m = n - i0 < CW_XSTORE_DENSE_CHUNK ? n - i0 : CW_XSTORE_DENSE_CHUNK;
            st = cw_h5ad_read_x_dense_rowset(s->h, rows + i0, m, s->dense_buf);
            for (int64_t i = 0; st == CW_OK && i < m; i++) {
                const float *row = s->dense_buf + i * s->ncols;
                for (int64_t c = 0; c < s->ncols; c++)
                    if (row[c] != 0.0f) {
                        s->win.indices[at] = (int32_t)c;
                        s->win.data[at++] = row[c];
                    }
                s->win.indptr[i0 + i + 1] = at;
            }
        }
        s->win.nnz = at;
        s->win.ncols = s->ncols;
    }
    if (st) return st;
    s->win.nrows = n;
    memcpy(s->win_rows, rows, (size_t)n * sizeof *rows);
    s->loads++;
    s->rows_read += n;
    s->entries_read += s->win.nnz;
    s->read_seconds += cw_now() - t0;
    return CW_OK;
}

cw_status cw_xstore_load(cw_xstore *s, const int64_t *rows, int64_t n) {
    if (!s->streaming) return CW_OK;
    int64_t m;
    CW_TRY(sorted_unique(s, rows, n, &m));
    int64_t bytes = 0;
    for (int64_t i = 0; i < m; i++) bytes += cw_xstore_row_bytes(s, s->scratch[i]);
    if (bytes > s->window_bytes)
        return cw_fail(CW_EINVAL, "%s: %lld rows take %lld bytes, more than the window of %lld "
                       "(raise --memory-cap)", src_name(s), (long long)m, (long long)bytes,
                       (long long)s->window_bytes);
    return window_read(s, s->scratch, m);
}

/* Position of row in the window, or -1. */
static int64_t window_find(const cw_xstore *s, int64_t row) {
    int64_t lo = 0, hi = s->win.nrows;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (s->win_rows[mid] < row) lo = mid + 1;
        else hi = mid;
    }
    return lo < s->win.nrows && s->win_rows[lo] == row ? lo : -1;
}

int cw_xstore_resident(const cw_xstore *s, const int64_t *cells, int64_t n) {
    if (!s->streaming) return 1;
    for (int64_t i = 0; i < n; i++)
        if (window_find(s, cells[i]) < 0) return 0;
    return 1;
}

static void scatter_row(const cw_csr *x, int64_t r, float *o) {
    for (int64_t k = x->indptr[r]; k < x->indptr[r + 1]; k++) o[x->indices[k]] = x->data[k];
}

static const cw_csr *row_of(const cw_xstore *s, int64_t cell, int64_t *r);

cw_status cw_xstore_gather(cw_xstore *s, const int64_t *cells, int64_t n, float *out) {
    const int64_t G = s->ncols;
    memset(out, 0, (size_t)n * (size_t)G * sizeof(float));
    for (int64_t i = 0; i < n; i++)
        if (cells[i] < 0 || cells[i] >= s->nrows)
            return cw_fail(CW_EINVAL, "%s: /X: row %lld outside [0, %lld)", src_name(s),
                           (long long)cells[i], (long long)s->nrows);
    if (cw_xstore_resident(s, cells, n)) {
        int64_t r;
        for (int64_t i = 0; i < n; i++) {
            const cw_csr *x = row_of(s, cells[i], &r);
            scatter_row(x, r, out + i * G);
        }
        return CW_OK;
    }
    /* load the distinct rows in pieces that fit the window, filling what each piece holds */
    int64_t m;
    CW_TRY(sorted_unique(s, cells, n, &m));
    for (int64_t i0 = 0; i0 < m;) {
        int64_t i1 = i0, bytes = 0;
        while (i1 < m && bytes + cw_xstore_row_bytes(s, s->scratch[i1]) <= s->window_bytes)
            bytes += cw_xstore_row_bytes(s, s->scratch[i1++]);
        CW_TRY(window_read(s, s->scratch + i0, i1 - i0));
        for (int64_t i = 0; i < n; i++) {
            int64_t w = window_find(s, cells[i]);
            if (w >= 0) scatter_row(&s->win, w, out + i * G);
        }
        i0 = i1;
    }
    return CW_OK;
}

/* The matrix and row holding a cell: all of X, or the window (the cell must be resident). */
static const cw_csr *row_of(const cw_xstore *s, int64_t cell, int64_t *r) {
    if (!s->streaming) {
        *r = cell;
        return &s->all;
    }
    *r = window_find(s, cell);
    return &s->win;
}

cw_status cw_xstore_gather_csr(cw_xstore *s, const int64_t *cells, int64_t n, cw_csr *out,
                               int64_t *cap_rows, int64_t *cap_nnz) {
    for (int64_t i = 0; i < n; i++)
        if (cells[i] < 0 || cells[i] >= s->nrows)
            return cw_fail(CW_EINVAL, "%s: /X: row %lld outside [0, %lld)", src_name(s),
                           (long long)cells[i], (long long)s->nrows);
    if (s->streaming && !cw_xstore_resident(s, cells, n)) CW_TRY(cw_xstore_load(s, cells, n));
    int64_t nnz = 0, r;
    for (int64_t i = 0; i < n; i++) {
        const cw_csr *x = row_of(s, cells[i], &r);
        nnz += x->indptr[r + 1] - x->indptr[r];
    }
    if (n + 1 > *cap_rows) {
        int64_t *p = cw_realloc(out->indptr, (size_t)(n + 1) * sizeof *p);
        if (!p) return cw_fail(CW_ENOMEM, "%s: out of memory", src_name(s));
        out->indptr = p, *cap_rows = n + 1;
    }
    if (nnz > *cap_nnz || !out->data) {
        const int64_t c = nnz > 0 ? nnz : 1;
        int32_t *ix = cw_realloc(out->indices, (size_t)c * sizeof *ix);
        if (ix) out->indices = ix;
        float *d = ix ? cw_realloc(out->data, (size_t)c * sizeof *d) : NULL;
        if (d) out->data = d;
        if (!ix || !d) return cw_fail(CW_ENOMEM, "%s: out of memory", src_name(s));
        *cap_nnz = c;
    }
    out->nrows = n, out->ncols = s->ncols, out->nnz = nnz;
    out->indptr[0] = 0;
    for (int64_t i = 0, at = 0; i < n; i++) {
        const cw_csr *x = row_of(s, cells[i], &r);
        const int64_t a = x->indptr[r], len = x->indptr[r + 1] - a;
        memcpy(out->indices + at, x->indices + a, (size_t)len * sizeof(int32_t));
        memcpy(out->data + at, x->data + a, (size_t)len * sizeof(float));
        at += len;
        out->indptr[i + 1] = at;
    }
    return CW_OK;
}

cw_status cw_xstore_block(cw_xstore *s, int64_t row0, int64_t max_rows, cw_csr *view, int64_t *n) {
    if (row0 < 0 || row0 >= s->nrows || max_rows < 1)
        return cw_fail(CW_EINVAL, "%s: /X: block at row %lld of %lld", src_name(s),
                       (long long)row0, (long long)s->nrows);
    int64_t m = s->nrows - row0 < max_rows ? s->nrows - row0 : max_rows;
    if (!s->streaming) {
        *view = (cw_csr){m, s->ncols, s->all.nnz, s->all.indptr + row0, s->all.indices, s->all.data};
        *n = m;
        return CW_OK;
    }
    int64_t k = 0, bytes = 0;
    while (k < m && bytes + cw_xstore_row_bytes(s, row0 + k) <= s->window_bytes)
        bytes += cw_xstore_row_bytes(s, row0 + k++);
    if (s->scratch_cap < k) {
        int64_t *p = cw_realloc(s->scratch, (size_t)k * sizeof *p);
        if (!p) return cw_fail(CW_ENOMEM, "%s: out of memory", src_name(s));
        s->scratch = p, s->scratch_cap = k;
    }
    for (int64_t i = 0; i < k; i++) s->scratch[i] = row0 + i;
    CW_TRY(window_read(s, s->scratch, k));
    *view = s->win;
    *n = k;
    return CW_OK;
}

int64_t cw_parse_bytes(const char *text) {
    if (!text || !*text) return -1;
    char *end;
    double v = strtod(text, &end);
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0, end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024, end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024, end++; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024, end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b') end++;
    if (*end != '\0' || !(v > 0) || !isfinite(v) || v * mult > 9.0e18) return -1;
    return (int64_t)(v * mult);
}
