/* h5ad_read.c: the .h5ad reader (h5ad.h "reader", columns and DEG table).
 *
 * Implements issue #2 item 2 and spec grace_cmvae.md §2.1 (the fields the models read).
 * Layouts: anndata >= 0.8 (encoding-type attributes) and anndata 0.7 (X group with
 * h5sparse_format/h5sparse_shape; categorical columns as code datasets whose `categories`
 * attribute is an object reference into <df>/__categories/<col>); see h5ad.h for the list.
 * Conventions:
 *   - X is never loaded whole unless asked: the X datasets stay open in the handle (with a
 *     32 MiB chunk cache, so row blocks that share compressed chunks do not decompress them
 *     twice) and rows are read as hyperslabs; HDF5 converts element types in bulk inside
 *     H5Dread (float64 -> float32, int64 -> int32), never per element.
 *   - Every error names the file and the HDF5 path and says what was expected and found:
 *     CW_EIO (missing, unreadable, truncated), CW_EFORMAT (structure), CW_ENOTFOUND (absent
 *     column / key), CW_EINVAL (bad arguments).
 *   - cw_h5ad_read_doubles returns 0-D data as 1 x 1 and 1-D data of length n as n x 1;
 *     cw_h5ad_read_strings flattens 2-D string arrays in row-major order.
 *   - Categories that are numbers (pandas categoricals of ints, floats or bools) come back as
 *     the labels pandas prints: "10", "0.5", "10.0", "True".
 *   - Every HDF5 id opened here is closed on every path (tests count open ids).
 */
#include "io/h5ad.h"

#include "core/alloc.h"
#include "core/status.h"
#include "io/hdf5_util.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CW_X_NONE = 0, CW_X_DENSE = 1, CW_X_CSR = 2 };

#define CW_CHUNK_CACHE_BYTES ((size_t)32 << 20)
#define CW_CHUNK_CACHE_SLOTS 12421        /* prime, ~100x the chunks that fit */
#define CW_BLOCK_ELEMS ((int64_t)1 << 22) /* elements per internal block read (16 MiB float) */

struct cw_h5ad {
    char *path;
    hid_t file;
    int x_kind;
    int64_t n_obs, n_vars, nnz;
    int64_t x_data_len; /* stored length of X/data (>= nnz) */
    hid_t xd;           /* dense X */
    hid_t xdata, xind, xptr;
};

/* ---- small helpers ------------------------------------------------------------------------ */

static const char *ctxf(char *buf, size_t cap, const cw_h5ad *h, const char *fmt, ...)
    CW_PRINTF(4, 5);
static const char *ctxf(char *buf, size_t cap, const cw_h5ad *h, const char *fmt, ...) {
    int k = snprintf(buf, cap, "%s: ", h->path);
    if (k < 0 || (size_t)k >= cap) return buf;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + k, cap - (size_t)k, fmt, ap);
    va_end(ap);
    return buf;
}

/* Reopens an unfiltered (uncompressed) dataset without a chunk cache: with one, HDF5 reads every
 * touched chunk whole (256 KiB per scattered row of a few KiB, measured 0.2-1.6 ms per row);
 * without, only the selected bytes. A compressed dataset keeps the cache (a chunk is inflated
 * whole anyway). The dataset must have no other open handle: HDF5 shares one chunk cache among
 * the handles of a dataset, set by the first. */
static void reopen_uncached(hid_t file, hid_t *ds) {
    if (*ds < 0) return;
    hid_t dcpl = H5Dget_create_plist(*ds);
    int nf = dcpl >= 0 ? H5Pget_nfilters(dcpl) : -1;
    H5D_layout_t layout = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    cw_h5_close(&dcpl);
    char name[1024];
    ssize_t k = H5Iget_name(*ds, name, sizeof name);
    if (nf != 0 || layout != H5D_CHUNKED || k <= 0 || (size_t)k >= sizeof name) return;
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    if (dapl < 0 || H5Pset_chunk_cache(dapl, 0, 0, 1.0) < 0) {
        cw_h5_close(&dapl);
        return;
    }
    hid_t again = -1;
    cw_h5_close(ds);
    again = H5Dopen2(file, name, dapl);
    cw_h5_close(&dapl);
    *ds = again; /* -1 on failure: the caller's checks report it */
}

static hid_t cw_x_dapl(void) {
    hid_t p = H5Pcreate(H5P_DATASET_ACCESS);
    if (p >= 0) H5Pset_chunk_cache(p, CW_CHUNK_CACHE_SLOTS, CW_CHUNK_CACHE_BYTES, 1.0);
    return p;
}

/* Reads n elements from offset off of a 1-D dataset as memtype. */
static cw_status read_slab_1d(const char *ctx, hid_t ds, int64_t off, int64_t n, hid_t memtype,
                              void *buf) {
    if (n <= 0) return CW_OK;
    cw_status st = CW_OK;
    hid_t fsp = H5Dget_space(ds), msp = -1;
    hsize_t start = (hsize_t)off, count = (hsize_t)n;
    if (fsp < 0 || H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &start, NULL, &count, NULL) < 0 ||
        (msp = H5Screate_simple(1, &count, NULL)) < 0 ||
        H5Dread(ds, memtype, msp, fsp, H5P_DEFAULT, buf) < 0)
        st = cw_fail(CW_EIO, "%s: reading entries [%lld, %lld) failed (file truncated or damaged?)",
                     ctx, (long long)off, (long long)(off + n));
    cw_h5_close(&msp);
    cw_h5_close(&fsp);
    return st;
}

/* Reads rows [row0, row0+n) of the 2-D dataset ds (ncols columns) as memtype. */
static cw_status read_rows_2d(const char *ctx, hid_t ds, int64_t row0, int64_t n, int64_t ncols,
                              hid_t memtype, void *buf) {
    if (n <= 0 || ncols <= 0) return CW_OK;
    cw_status st = CW_OK;
    hid_t fsp = H5Dget_space(ds), msp = -1;
    hsize_t start[2] = {(hsize_t)row0, 0}, count[2] = {(hsize_t)n, (hsize_t)ncols};
    if (fsp < 0 || H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
        (msp = H5Screate_simple(2, count, NULL)) < 0 ||
        H5Dread(ds, memtype, msp, fsp, H5P_DEFAULT, buf) < 0)
        st = cw_fail(CW_EIO, "%s: reading rows [%lld, %lld) failed (file truncated or damaged?)",
                     ctx, (long long)row0, (long long)(row0 + n));
    cw_h5_close(&msp);
    cw_h5_close(&fsp);
    return st;
}

/* Opens path as a dataset, with a message naming what was expected when it is absent. */
static cw_status open_dataset(hid_t loc, const char *path, const char *ctx, const char *expected,
                              hid_t dapl, hid_t *out) {
    *out = -1;
    H5O_type_t t = cw_h5_obj_type(loc, path);
    if (t == H5O_TYPE_UNKNOWN)
        return cw_fail(CW_EFORMAT, "%s: missing (expected %s)", ctx, expected);
    if (t != H5O_TYPE_DATASET)
        return cw_fail(CW_EFORMAT, "%s: expected %s, found a group", ctx, expected);
    *out = H5Dopen2(loc, path, dapl >= 0 ? dapl : H5P_DEFAULT);
    if (*out < 0) return cw_fail(CW_EIO, "%s: cannot open (file truncated or damaged?)", ctx);
    return CW_OK;
}

static cw_status check_kind(hid_t ds, const char *ctx, const char *expected, int allow_int,
                            int allow_float, int allow_bool) {
    hid_t t = H5Dget_type(ds);
    if (t < 0) return cw_fail(CW_EIO, "%s: cannot read the element type", ctx);
    cw_h5_kind k = cw_h5_kind_of(t);
    int ok = (allow_int && k == CW_H5_INT) || (allow_float && k == CW_H5_FLOAT) ||
             (allow_bool && k == CW_H5_BOOL);
    char tn[64];
    cw_status st = ok ? CW_OK
                      : cw_fail(CW_EFORMAT, "%s: expected %s, found %s", ctx, expected,
                                cw_h5_type_name(t, tn, sizeof tn));
    cw_h5_close(&t);
    return st;
}

/* ---- open / close --------------------------------------------------------------------------- */

static cw_status csc_error(cw_h5ad *h) {
    return cw_fail(CW_EFORMAT,
                   "%s: /X: CSC sparse matrices are not supported (rows are read in blocks); "
                   "convert to CSR in Python: adata.X = adata.X.tocsr(); adata.write_h5ad(...)",
                   h->path);
}

static cw_status open_x_sparse(cw_h5ad *h, hid_t dapl) {
    cw_status st = CW_OK;
    char ctx[1100], ctx2[1100];
    char *fmt = NULL;
    hid_t g = H5Gopen2(h->file, "/X", H5P_DEFAULT);
    if (g < 0) return cw_fail(CW_EIO, "%s: /X: cannot open (file truncated or damaged?)", h->path);
    ctxf(ctx, sizeof ctx, h, "/X");
    const char *shape_attr = "shape";
    if (cw_h5_has_attr(g, "encoding-type")) {
        st = cw_h5_attr_string(g, "encoding-type", ctx, &fmt);
        if (st != CW_OK) goto done;
        if (strcmp(fmt, "csc_matrix") == 0) {
            st = csc_error(h);
            goto done;
        }
        if (strcmp(fmt, "csr_matrix") != 0) {
            st = cw_fail(CW_EFORMAT,
                         "%s: expected a dense array or a csr_matrix group, found a "
                         "group with encoding-type '%s'",
                         ctx, fmt);
            goto done;
        }
        if (!cw_h5_has_attr(g, "shape") && cw_h5_has_attr(g, "h5sparse_shape"))
            shape_attr = "h5sparse_shape";
    } else if (cw_h5_has_attr(g, "h5sparse_format")) { /* anndata 0.7 */
        st = cw_h5_attr_string(g, "h5sparse_format", ctx, &fmt);
        if (st != CW_OK) goto done;
        if (strcmp(fmt, "csc") == 0) {
            st = csc_error(h);
            goto done;
        }
        if (strcmp(fmt, "csr") != 0) {
            st = cw_fail(CW_EFORMAT, "%s: expected h5sparse_format 'csr', found '%s'", ctx, fmt);
            goto done;
        }
        shape_attr = "h5sparse_shape";
    } else {
        st = cw_fail(CW_EFORMAT,
                     "%s: expected a dense array or a sparse group with attribute "
                     "encoding-type or h5sparse_format, found a group with neither",
                     ctx);
        goto done;
    }
    int64_t shape[2];
    int nshape = 0;
    st = cw_h5_attr_int64s(g, shape_attr, ctx, shape, 2, &nshape);
    if (st != CW_OK) goto done;
    if (nshape != 2 || shape[0] < 0 || shape[1] < 0) {
        st = cw_fail(CW_EFORMAT, "%s: attribute '%s': expected (n_obs, n_vars), found %d values",
                     ctx, shape_attr, nshape);
        goto done;
    }
    if (shape[1] > INT32_MAX) {
        st = cw_fail(CW_EFORMAT, "%s: %lld columns: at most 2^31-1 genes are supported", ctx,
                     (long long)shape[1]);
        goto done;
    }
    h->n_obs = shape[0];
    h->n_vars = shape[1];
    h->x_kind = CW_X_CSR;
    st = open_dataset(g, "data", ctxf(ctx2, sizeof ctx2, h, "/X/data"),
                      "the 1-D array of stored values", dapl, &h->xdata);
    if (st == CW_OK) st = check_kind(h->xdata, ctx2, "float or integer values", 1, 1, 0);
    if (st != CW_OK) goto done;
    st = open_dataset(g, "indices", ctxf(ctx2, sizeof ctx2, h, "/X/indices"),
                      "the 1-D array of column indices", dapl, &h->xind);
    if (st == CW_OK) st = check_kind(h->xind, ctx2, "integer column indices", 1, 0, 0);
    if (st != CW_OK) goto done;
    st = open_dataset(g, "indptr", ctxf(ctx2, sizeof ctx2, h, "/X/indptr"),
                      "the 1-D array of row pointers", -1, &h->xptr);
    if (st == CW_OK) st = check_kind(h->xptr, ctx2, "integer row pointers", 1, 0, 0);
    if (st != CW_OK) goto done;
    hsize_t dd[2], di[2], dp[2];
    int rd = cw_h5_shape(h->xdata, dd, 2), ri = cw_h5_shape(h->xind, di, 2),
        rp = cw_h5_shape(h->xptr, dp, 2);
    if (rd != 1 || ri != 1 || rp != 1) {
        st =
            cw_fail(CW_EFORMAT, "%s: expected 1-D data, indices and indptr, found ranks %d, %d, %d",
                    ctx, rd, ri, rp);
        goto done;
    }
    if ((int64_t)dp[0] != h->n_obs + 1) {
        st = cw_fail(CW_EFORMAT, "%s: /X/indptr: expected n_obs + 1 = %lld entries, found %lld",
                     h->path, (long long)(h->n_obs + 1), (long long)dp[0]);
        goto done;
    }
    if (dd[0] != di[0]) {
        st = cw_fail(CW_EFORMAT, "%s: data has %lld entries but indices has %lld", ctx,
                     (long long)dd[0], (long long)di[0]);
        goto done;
    }
    h->x_data_len = (int64_t)dd[0];
    int64_t ends[2] = {0, 0};
    st = read_slab_1d(ctxf(ctx2, sizeof ctx2, h, "/X/indptr"), h->xptr, 0, 1, H5T_NATIVE_INT64,
                      &ends[0]);
    if (st == CW_OK) st = read_slab_1d(ctx2, h->xptr, h->n_obs, 1, H5T_NATIVE_INT64, &ends[1]);
    if (st != CW_OK) goto done;
    if (ends[0] != 0 || ends[1] < 0 || ends[1] > h->x_data_len) {
        st = cw_fail(CW_EFORMAT,
                     "%s: expected indptr[0] = 0 and indptr[n_obs] <= %lld stored "
                     "entries, found %lld and %lld",
                     ctx2, (long long)h->x_data_len, (long long)ends[0], (long long)ends[1]);
        goto done;
    }
    h->nnz = ends[1];
done:
    cw_free(fmt);
    cw_h5_close(&g);
    return st;
}

static cw_status open_x(cw_h5ad *h) {
    cw_status st = CW_OK;
    char ctx[1100];
    hid_t dapl = cw_x_dapl();
    ctxf(ctx, sizeof ctx, h, "/X");
    H5O_type_t t = cw_h5_obj_type(h->file, "/X");
    if (t == H5O_TYPE_GROUP) {
        st = open_x_sparse(h, dapl);
    } else if (t == H5O_TYPE_DATASET) {
        st = open_dataset(h->file, "/X", ctx, "a 2-D array", dapl, &h->xd);
        if (st == CW_OK) st = check_kind(h->xd, ctx, "float or integer values", 1, 1, 0);
        hsize_t d[2];
        int r = st == CW_OK ? cw_h5_shape(h->xd, d, 2) : 0;
        if (st == CW_OK && r != 2)
            st = cw_fail(CW_EFORMAT, "%s: expected a 2-D array, found rank %d", ctx, r);
        if (st == CW_OK && d[1] > INT32_MAX)
            st = cw_fail(CW_EFORMAT, "%s: %lld columns: at most 2^31-1 genes are supported", ctx,
                         (long long)d[1]);
        if (st == CW_OK) {
            h->x_kind = CW_X_DENSE;
            h->n_obs = (int64_t)d[0];
            h->n_vars = (int64_t)d[1];
            h->nnz = h->n_obs * h->n_vars;
        }
    }
    cw_h5_close(&dapl);
    if (st == CW_OK) {
        reopen_uncached(h->file, &h->xd);
        reopen_uncached(h->file, &h->xdata);
        reopen_uncached(h->file, &h->xind);
        if ((h->x_kind == CW_X_DENSE && h->xd < 0) ||
            (h->x_kind == CW_X_CSR && (h->xdata < 0 || h->xind < 0)))
            st = cw_fail(CW_EIO, "%s: cannot reopen X's datasets", ctx);
    }
    return st;
}

/* Length of the dataframe index (without reading it); -1 when absent. */
static int64_t df_index_len(cw_h5ad *h, const char *df);

cw_status cw_h5ad_open(const char *path, cw_h5ad **out) {
    *out = NULL;
    CW_TRY(cw_h5_setup());
    struct stat sb;
    if (stat(path, &sb) != 0) return cw_fail(CW_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(sb.st_mode)) return cw_fail(CW_EIO, "%s: is a directory, not an .h5ad file", path);
    if (access(path, R_OK) != 0)
        return cw_fail(CW_EIO, "%s: cannot read: %s", path, strerror(errno));
    htri_t is = H5Fis_hdf5(path);
    if (is == 0) return cw_fail(CW_EIO, "%s: not an HDF5 file", path);
    if (is < 0) return cw_fail(CW_EIO, "%s: cannot read the file (not an HDF5 file?)", path);
    cw_h5ad *h = cw_calloc(1, sizeof *h);
    if (!h) return cw_fail(CW_ENOMEM, "%s: out of memory", path);
    h->file = h->xd = h->xdata = h->xind = h->xptr = -1;
    h->path = cw_strdup(path);
    if (!h->path) {
        cw_free(h);
        return cw_fail(CW_ENOMEM, "%s: out of memory", path);
    }
    cw_status st = CW_OK;
    hid_t fapl = cw_h5_fapl();
    h->file = H5Fopen(path, H5F_ACC_RDONLY, fapl >= 0 ? fapl : H5P_DEFAULT);
    cw_h5_close(&fapl);
    if (h->file < 0) {
        st = cw_fail(CW_EIO,
                     "%s: cannot open as HDF5 (file truncated or damaged, or being written by "
                     "another process?)",
                     path);
        goto fail;
    }
    st = open_x(h);
    if (st != CW_OK) goto fail;
    int64_t no = df_index_len(h, "obs"), nv = df_index_len(h, "var");
    if (h->x_kind == CW_X_NONE) {
        h->n_obs = no > 0 ? no : 0;
        h->n_vars = nv > 0 ? nv : 0;
    } else if ((no >= 0 && no != h->n_obs) || (nv >= 0 && nv != h->n_vars)) {
        int obs_bad = no >= 0 && no != h->n_obs;
        st = cw_fail(CW_EFORMAT, "%s: /X is %lld x %lld but /%s has %lld names", path,
                     (long long)h->n_obs, (long long)h->n_vars, obs_bad ? "obs" : "var",
                     (long long)(obs_bad ? no : nv));
        goto fail;
    }
    *out = h;
    return CW_OK;
fail:
    cw_h5ad_close(h);
    return st;
}

void cw_h5ad_close(cw_h5ad *h) {
    if (!h) return;
    cw_h5_close(&h->xd);
    cw_h5_close(&h->xdata);
    cw_h5_close(&h->xind);
    cw_h5_close(&h->xptr);
    cw_h5_close(&h->file);
    cw_free(h->path);
    cw_free(h);
}

const char *cw_h5ad_path(const cw_h5ad *h) { return h->path; }
int64_t cw_h5ad_n_obs(const cw_h5ad *h) { return h->n_obs; }
int64_t cw_h5ad_n_vars(const cw_h5ad *h) { return h->n_vars; }
int cw_h5ad_x_is_sparse(const cw_h5ad *h) { return h->x_kind == CW_X_CSR; }
int64_t cw_h5ad_x_nnz(const cw_h5ad *h) { return h->nnz; }

/* ---- X ------------------------------------------------------------------------------------ */

static cw_status check_rows(cw_h5ad *h, int64_t row0, int64_t nrows) {
    if (h->x_kind == CW_X_NONE)
        return cw_fail(CW_EFORMAT, "%s: /X: missing (no expression matrix)", h->path);
    if (row0 < 0 || nrows < 0 || row0 > h->n_obs - nrows)
        return cw_fail(CW_EINVAL, "%s: /X: rows [%lld, %lld) out of range (X has %lld rows)",
                       h->path, (long long)row0, (long long)(row0 + nrows), (long long)h->n_obs);
    return CW_OK;
}

typedef struct {
    int32_t c;
    float v;
} cw_entry;

static int cw_entry_cmp(const void *a, const void *b) {
    const cw_entry *x = a, *y = b;
    return (x->c > y->c) - (x->c < y->c);
}

/* Sorts the columns of rows that are not sorted (scipy allows unsorted indices). */
static cw_status sort_rows(cw_csr *m, const char *ctx) {
    cw_entry *tmp = NULL;
    int64_t cap = 0;
    for (int64_t r = 0; r < m->nrows; r++) {
        int64_t a = m->indptr[r], b = m->indptr[r + 1];
        int sorted = 1;
        for (int64_t k = a + 1; k < b && sorted; k++) sorted = m->indices[k - 1] <= m->indices[k];
        if (sorted) continue;
        if (b - a > cap) {
            cw_free(tmp);
            cap = b - a;
            tmp = cw_malloc_array((size_t)cap, sizeof *tmp);
            if (!tmp) return cw_fail(CW_ENOMEM, "%s: out of memory sorting a row", ctx);
        }
        for (int64_t k = a; k < b; k++) tmp[k - a] = (cw_entry){m->indices[k], m->data[k]};
        qsort(tmp, (size_t)(b - a), sizeof *tmp, cw_entry_cmp);
        for (int64_t k = a; k < b; k++) {
            m->indices[k] = tmp[k - a].c;
            m->data[k] = tmp[k - a].v;
        }
    }
    cw_free(tmp);
    return CW_OK;
}

static cw_status csr_rows_sparse(cw_h5ad *h, int64_t row0, int64_t nrows, cw_csr *out) {
    char ctx[1100];
    int64_t *ip = cw_malloc_array((size_t)nrows + 1, sizeof *ip);
    if (!ip)
        return cw_fail(CW_ENOMEM, "%s: /X: out of memory for %lld row pointers", h->path,
                       (long long)nrows);
    cw_status st = read_slab_1d(ctxf(ctx, sizeof ctx, h, "/X/indptr"), h->xptr, row0, nrows + 1,
                                H5T_NATIVE_INT64, ip);
    for (int64_t r = 0; st == CW_OK && r < nrows; r++)
        if (ip[r + 1] < ip[r] || ip[r] < 0 || ip[r + 1] > h->x_data_len)
            st = cw_fail(CW_EFORMAT,
                         "%s: row pointers decrease or leave [0, %lld] at row %lld "
                         "(%lld -> %lld)",
                         ctx, (long long)h->x_data_len, (long long)(row0 + r), (long long)ip[r],
                         (long long)ip[r + 1]);
    if (st != CW_OK) {
        cw_free(ip);
        return st;
    }
    int64_t base = ip[0], nnz = ip[nrows] - ip[0];
    st = cw_csr_alloc(out, nrows, h->n_vars, nnz);
    if (st != CW_OK) {
        cw_free(ip);
        return cw_fail_prefix(st, "%s: /X", h->path);
    }
    for (int64_t r = 0; r <= nrows; r++) out->indptr[r] = ip[r] - base;
    cw_free(ip);
    st = read_slab_1d(ctxf(ctx, sizeof ctx, h, "/X/data"), h->xdata, base, nnz, H5T_NATIVE_FLOAT,
                      out->data);
    if (st == CW_OK)
        st = read_slab_1d(ctxf(ctx, sizeof ctx, h, "/X/indices"), h->xind, base, nnz,
                          H5T_NATIVE_INT32, out->indices);
    if (st == CW_OK) {
        int32_t nv = (int32_t)h->n_vars;
        int64_t bad = -1;
        for (int64_t k = 0; k < nnz; k++)
            if ((uint32_t)out->indices[k] >= (uint32_t)nv) {
                bad = k;
                break;
            }
        if (bad >= 0)
            st = cw_fail(CW_EFORMAT, "%s: column index %d at entry %lld outside [0, %lld)", ctx,
                         out->indices[bad], (long long)(base + bad), (long long)h->n_vars);
    }
    if (st == CW_OK) st = sort_rows(out, ctx);
    if (st != CW_OK) cw_csr_free(out);
    return st;
}

static int64_t dense_block_rows(const cw_h5ad *h) {
    int64_t r = h->n_vars > 0 ? CW_BLOCK_ELEMS / h->n_vars : CW_BLOCK_ELEMS;
    return r > 0 ? r : 1;
}

static cw_status csr_rows_dense(cw_h5ad *h, int64_t row0, int64_t nrows, cw_csr *out) {
    char ctx[1100];
    ctxf(ctx, sizeof ctx, h, "/X");
    int64_t nv = h->n_vars, step = dense_block_rows(h);
    if (step > nrows) step = nrows > 0 ? nrows : 1;
    memset(out, 0, sizeof *out);
    float *buf = cw_malloc_array((size_t)(step * nv > 0 ? step * nv : 1), sizeof(float));
    int64_t *indptr = cw_calloc((size_t)nrows + 1, sizeof *indptr);
    int32_t *ind = NULL;
    float *val = NULL;
    int64_t nnz = 0, cap = 0;
    cw_status st = CW_OK;
    if (!buf || !indptr) st = cw_fail(CW_ENOMEM, "%s: out of memory reading rows", ctx);
    for (int64_t r0 = 0; st == CW_OK && r0 < nrows; r0 += step) {
        int64_t n = nrows - r0 < step ? nrows - r0 : step;
        st = read_rows_2d(ctx, h->xd, row0 + r0, n, nv, H5T_NATIVE_FLOAT, buf);
        if (st != CW_OK) break;
        int64_t add = 0;
        for (int64_t i = 0; i < n * nv; i++) add += buf[i] != 0.0f;
        if (nnz + add > cap) {
            int64_t ncap = cap * 2 > nnz + add ? cap * 2 : nnz + add;
            int32_t *ni = cw_realloc(ind, (size_t)(ncap > 0 ? ncap : 1) * sizeof *ni);
            if (ni) ind = ni;
            float *nvl = ni ? cw_realloc(val, (size_t)(ncap > 0 ? ncap : 1) * sizeof *nvl) : NULL;
            if (nvl) val = nvl;
            if (!ni || !nvl) {
                st = cw_fail(CW_ENOMEM, "%s: out of memory for %lld stored entries", ctx,
                             (long long)ncap);
                break;
            }
            cap = ncap;
        }
        for (int64_t i = 0; i < n; i++) {
            const float *row = buf + i * nv;
            for (int64_t c = 0; c < nv; c++)
                if (row[c] != 0.0f) {
                    ind[nnz] = (int32_t)c;
                    val[nnz++] = row[c];
                }
            indptr[r0 + i + 1] = nnz;
        }
    }
    if (st == CW_OK && (!ind || !val)) { /* no stored entries: keep non-NULL arrays */
        if (!ind) ind = cw_malloc(sizeof *ind);
        if (!val) val = cw_malloc(sizeof *val);
        if (!ind || !val) st = cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
    }
    cw_free(buf);
    if (st != CW_OK) {
        cw_free(indptr);
        cw_free(ind);
        cw_free(val);
        return st;
    }
    *out = (cw_csr){nrows, nv, nnz, indptr, ind, val};
    return CW_OK;
}

cw_status cw_h5ad_read_x_csr_rows(cw_h5ad *h, int64_t row0, int64_t nrows, cw_csr *out) {
    memset(out, 0, sizeof *out);
    CW_TRY(check_rows(h, row0, nrows));
    if (h->x_kind == CW_X_CSR) return csr_rows_sparse(h, row0, nrows, out);
    return csr_rows_dense(h, row0, nrows, out);
}

cw_status cw_h5ad_read_x_csr(cw_h5ad *h, cw_csr *out) {
    return cw_h5ad_read_x_csr_rows(h, 0, h->n_obs, out);
}

cw_status cw_h5ad_read_x_dense_rows(cw_h5ad *h, int64_t row0, int64_t nrows, float *out) {
    CW_TRY(check_rows(h, row0, nrows));
    char ctx[1100];
    if (h->x_kind == CW_X_DENSE)
        return read_rows_2d(ctxf(ctx, sizeof ctx, h, "/X"), h->xd, row0, nrows, h->n_vars,
                            H5T_NATIVE_FLOAT, out);
    cw_csr m;
    CW_TRY(csr_rows_sparse(h, row0, nrows, &m));
    cw_csr_rows_to_dense(&m, 0, nrows, out);
    cw_csr_free(&m);
    return CW_OK;
}

/* One string of a 1-D string dataset (for error messages); NULL when it cannot be read. */
static char *index_name_at(cw_h5ad *h, const char *df, int64_t i) {
    cw_strings idx;
    char *s = NULL;
    if (cw_h5ad_read_index(h, df, &idx) != CW_OK) return NULL;
    if (i >= 0 && i < idx.n && idx.s[i]) {
        s = idx.s[i];
        idx.s[i] = NULL;
    }
    cw_strings_free(&idx);
    return s;
}

static cw_status nonfinite_error(cw_h5ad *h, int64_t row, int64_t col, float v) {
    char *cell = index_name_at(h, "obs", row), *gene = index_name_at(h, "var", col);
    char rbuf[32], cbuf[32];
    snprintf(rbuf, sizeof rbuf, "row %lld", (long long)row);
    snprintf(cbuf, sizeof cbuf, "column %lld", (long long)col);
    cw_status st = cw_fail(CW_EFORMAT,
                           "%s: /X: non-finite value (%s) at cell %s gene %s (row %lld, column "
                           "%lld)",
                           h->path,
                           isnan(v) ? "nan"
                           : v > 0  ? "inf"
                                    : "-inf",
                           cell ? cell : rbuf, gene ? gene : cbuf, (long long)row, (long long)col);
    cw_free(cell);
    cw_free(gene);
    return st;
}

cw_status cw_h5ad_check_x_finite(cw_h5ad *h) {
    CW_TRY(check_rows(h, 0, 0));
    char ctx[1100];
    cw_status st = CW_OK;
    if (h->x_kind == CW_X_DENSE) {
        int64_t step = dense_block_rows(h), nv = h->n_vars;
        if (step > h->n_obs) step = h->n_obs > 0 ? h->n_obs : 1;
        float *buf = cw_malloc_array((size_t)(step * nv > 0 ? step * nv : 1), sizeof(float));
        if (!buf) return cw_fail(CW_ENOMEM, "%s: /X: out of memory", h->path);
        ctxf(ctx, sizeof ctx, h, "/X");
        int64_t bad = -1, bad_row0 = 0;
        for (int64_t r0 = 0; r0 < h->n_obs && bad < 0; r0 += step) {
            int64_t n = h->n_obs - r0 < step ? h->n_obs - r0 : step;
            st = read_rows_2d(ctx, h->xd, r0, n, nv, H5T_NATIVE_FLOAT, buf);
            if (st != CW_OK) break;
            for (int64_t i = 0; i < n * nv; i++)
                if (!isfinite(buf[i])) {
                    bad = i;
                    bad_row0 = r0;
                    break;
                }
        }
        float v = bad >= 0 ? buf[bad] : 0.0f;
        cw_free(buf);
        if (st == CW_OK && bad >= 0) st = nonfinite_error(h, bad_row0 + bad / nv, bad % nv, v);
        return st;
    }
    /* CSR: scan data in blocks of entries, then locate the row by bisection on indptr. */
    int64_t step = CW_BLOCK_ELEMS < h->nnz ? CW_BLOCK_ELEMS : (h->nnz > 0 ? h->nnz : 1);
    float *buf = cw_malloc_array((size_t)step, sizeof(float));
    if (!buf) return cw_fail(CW_ENOMEM, "%s: /X: out of memory", h->path);
    ctxf(ctx, sizeof ctx, h, "/X/data");
    int64_t bad = -1;
    float v = 0.0f;
    for (int64_t k0 = 0; k0 < h->nnz && bad < 0; k0 += step) {
        int64_t n = h->nnz - k0 < step ? h->nnz - k0 : step;
        st = read_slab_1d(ctx, h->xdata, k0, n, H5T_NATIVE_FLOAT, buf);
        if (st != CW_OK) break;
        for (int64_t i = 0; i < n; i++)
            if (!isfinite(buf[i])) {
                bad = k0 + i;
                v = buf[i];
                break;
            }
    }
    cw_free(buf);
    if (st != CW_OK || bad < 0) return st;
    int64_t lo = 0, hi = h->n_obs; /* find the row r with indptr[r] <= bad < indptr[r+1] */
    ctxf(ctx, sizeof ctx, h, "/X/indptr");
    while (hi - lo > 1) {
        int64_t mid = lo + (hi - lo) / 2, p = 0;
        CW_TRY(read_slab_1d(ctx, h->xptr, mid, 1, H5T_NATIVE_INT64, &p));
        if (p <= bad) lo = mid;
        else hi = mid;
    }
    int32_t col = 0;
    CW_TRY(read_slab_1d(ctxf(ctx, sizeof ctx, h, "/X/indices"), h->xind, bad, 1, H5T_NATIVE_INT32,
                        &col));
    return nonfinite_error(h, lo, col, v);
}

/* ---- row sets (io/xstore.c streams X through these) ---------------------------------------- */

cw_status cw_h5ad_read_x_indptr(cw_h5ad *h, int64_t *indptr) {
    CW_TRY(check_rows(h, 0, 0));
    if (h->x_kind != CW_X_CSR)
        return cw_fail(CW_EINVAL, "%s: /X: dense, it has no row pointers", h->path);
    char ctx[1100];
    ctxf(ctx, sizeof ctx, h, "/X/indptr");
    CW_TRY(read_slab_1d(ctx, h->xptr, 0, h->n_obs + 1, H5T_NATIVE_INT64, indptr));
    if (indptr[0] < 0 || indptr[0] > h->x_data_len)
        return cw_fail(CW_EFORMAT, "%s: first row pointer %lld outside [0, %lld]", ctx,
                       (long long)indptr[0], (long long)h->x_data_len);
    for (int64_t r = 0; r < h->n_obs; r++)
        if (indptr[r + 1] < indptr[r] || indptr[r + 1] > h->x_data_len)
            return cw_fail(CW_EFORMAT,
                           "%s: row pointers decrease or leave [0, %lld] at row %lld "
                           "(%lld -> %lld)",
                           ctx, (long long)h->x_data_len, (long long)r, (long long)indptr[r],
                           (long long)indptr[r + 1]);
    return CW_OK;
}

/* Checks rows is strictly ascending within [0, n_obs). */
static cw_status check_rowset(cw_h5ad *h, const int64_t *rows, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (rows[i] < 0 || rows[i] >= h->n_obs || (i > 0 && rows[i] <= rows[i - 1]))
            return cw_fail(CW_EINVAL, "%s: /X: row set not strictly ascending within [0, %lld) "
                           "at position %lld (row %lld)", h->path, (long long)h->n_obs,
                           (long long)i, (long long)rows[i]);
    return CW_OK;
}

cw_status cw_h5ad_read_x_rowset(cw_h5ad *h, const int64_t *rows, int64_t n, const int64_t *indptr,
                                cw_csr *out) {
    CW_TRY(check_rows(h, 0, 0));
    if (h->x_kind != CW_X_CSR)
        return cw_fail(CW_EINVAL, "%s: /X: dense, read its rows with cw_h5ad_read_x_dense_rowset",
                       h->path);
    CW_TRY(check_rowset(h, rows, n));
    char cd[1100], ci[1100];
    ctxf(cd, sizeof cd, h, "/X/data");
    ctxf(ci, sizeof ci, h, "/X/indices");
    out->nrows = n;
    out->ncols = h->n_vars;
    out->indptr[0] = 0;
    int64_t at = 0;
    for (int64_t i = 0; i < n;) { /* one read per run of consecutive rows */
        int64_t j = i + 1;
        while (j < n && rows[j] == rows[j - 1] + 1) j++;
        const int64_t lo = indptr[rows[i]], len = indptr[rows[j - 1] + 1] - lo;
        CW_TRY(read_slab_1d(cd, h->xdata, lo, len, H5T_NATIVE_FLOAT, out->data + at));
        CW_TRY(read_slab_1d(ci, h->xind, lo, len, H5T_NATIVE_INT32, out->indices + at));
        for (int64_t k = i; k < j; k++)
            out->indptr[k + 1] = at + indptr[rows[k] + 1] - lo;
        at += len;
        i = j;
    }
    out->nnz = at;
    const int32_t nv = (int32_t)h->n_vars;
    for (int64_t k = 0; k < at; k++)
        if ((uint32_t)out->indices[k] >= (uint32_t)nv) {
            int64_t r = 0; /* the row holding entry k */
            while (out->indptr[r + 1] <= k) r++;
            return cw_fail(CW_EFORMAT, "%s: column index %d of row %lld outside [0, %lld)", ci,
                           out->indices[k], (long long)rows[r], (long long)h->n_vars);
        }
    return sort_rows(out, ci);
}

cw_status cw_h5ad_read_x_dense_rowset(cw_h5ad *h, const int64_t *rows, int64_t n, float *out) {
    CW_TRY(check_rows(h, 0, 0));
    CW_TRY(check_rowset(h, rows, n));
    for (int64_t i = 0; i < n;) {
        int64_t j = i + 1;
        while (j < n && rows[j] == rows[j - 1] + 1) j++;
        CW_TRY(cw_h5ad_read_x_dense_rows(h, rows[i], j - i, out + i * h->n_vars));
        i = j;
    }
    return CW_OK;
}

/* ---- obs / var ------------------------------------------------------------------------------ */

static cw_status df_open(cw_h5ad *h, const char *df, hid_t *g) {
    *g = -1;
    if (!df || (strcmp(df, "obs") != 0 && strcmp(df, "var") != 0))
        return cw_fail(CW_EINVAL, "%s: dataframe must be \"obs\" or \"var\", not \"%s\"", h->path,
                       df ? df : "(null)");
    char p[8];
    snprintf(p, sizeof p, "/%s", df);
    H5O_type_t t = cw_h5_obj_type(h->file, p);
    if (t == H5O_TYPE_UNKNOWN)
        return cw_fail(CW_EFORMAT, "%s: /%s: missing (expected the %s dataframe group)", h->path,
                       df, df);
    if (t != H5O_TYPE_GROUP)
        return cw_fail(CW_EFORMAT,
                       "%s: /%s: expected a dataframe group, found a dataset (the "
                       "record-array layout of anndata < 0.7); re-save the file with "
                       "a newer anndata",
                       h->path, df);
    *g = H5Gopen2(h->file, p, H5P_DEFAULT);
    if (*g < 0)
        return cw_fail(CW_EIO, "%s: /%s: cannot open (file truncated or damaged?)", h->path, df);
    return CW_OK;
}

/* Name of the index dataset inside the dataframe group g (owned by the caller). */
static cw_status df_index_name(cw_h5ad *h, hid_t g, const char *df, char **name) {
    *name = NULL;
    char ctx[1100];
    ctxf(ctx, sizeof ctx, h, "/%s", df);
    if (cw_h5_has_attr(g, "_index")) return cw_h5_attr_string(g, "_index", ctx, name);
    const char *cand[] = {"_index", "index"};
    for (int i = 0; i < 2; i++)
        if (cw_h5_obj_type(g, cand[i]) == H5O_TYPE_DATASET) {
            *name = cw_strdup(cand[i]);
            return *name ? CW_OK : cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
        }
    return cw_fail(CW_EFORMAT,
                   "%s: no index (expected attribute _index or a dataset _index or "
                   "index)",
                   ctx);
}

static int64_t df_index_len(cw_h5ad *h, const char *df) {
    hid_t g = -1, ds = -1;
    char *name = NULL;
    int64_t n = -1;
    char p[8];
    snprintf(p, sizeof p, "/%s", df);
    if (cw_h5_obj_type(h->file, p) != H5O_TYPE_GROUP) return -1;
    g = H5Gopen2(h->file, p, H5P_DEFAULT);
    if (g >= 0 && df_index_name(h, g, df, &name) == CW_OK &&
        cw_h5_obj_type(g, name) == H5O_TYPE_DATASET && (ds = H5Dopen2(g, name, H5P_DEFAULT)) >= 0) {
        hsize_t d[1];
        if (cw_h5_shape(ds, d, 1) == 1) n = (int64_t)d[0];
    }
    cw_clear_error();
    cw_free(name);
    cw_h5_close(&ds);
    cw_h5_close(&g);
    return n;
}

cw_status cw_h5ad_read_index(cw_h5ad *h, const char *df, cw_strings *out) {
    out->n = 0;
    out->s = NULL;
    hid_t g = -1, ds = -1;
    char *name = NULL;
    char ctx[1100];
    cw_status st = df_open(h, df, &g);
    if (st == CW_OK) st = df_index_name(h, g, df, &name);
    if (st == CW_OK) {
        ctxf(ctx, sizeof ctx, h, "/%s/%s", df, name);
        st = open_dataset(g, name, ctx, "the index (an array of strings)", -1, &ds);
    }
    if (st == CW_OK) st = cw_h5_read_strings_obj(ds, 0, ctx, out);
    int64_t want = strcmp(df, "obs") == 0 ? h->n_obs : h->n_vars;
    if (st == CW_OK && h->x_kind != CW_X_NONE && out->n != want) {
        st = cw_fail(CW_EFORMAT, "%s: expected %lld names (X is %lld x %lld), found %lld", ctx,
                     (long long)want, (long long)h->n_obs, (long long)h->n_vars, (long long)out->n);
        cw_strings_free(out);
    }
    cw_free(name);
    cw_h5_close(&ds);
    cw_h5_close(&g);
    return st;
}

typedef struct {
    cw_strings *out;
    const char *skip;
    cw_status st;
} cw_iter_ctx;

static herr_t list_cb(hid_t g, const char *name, const H5L_info_t *info, void *op) {
    (void)g;
    (void)info;
    cw_iter_ctx *c = op;
    if ((c->skip && strcmp(name, c->skip) == 0) || strcmp(name, "__categories") == 0) return 0;
    c->st = cw_strings_push(c->out, name);
    return c->st == CW_OK ? 0 : -1;
}

/* Member names of group g in name order, skipping `skip` and __categories. */
static cw_status list_members(hid_t g, const char *skip, const char *ctx, cw_strings *out) {
    cw_iter_ctx c = {out, skip, CW_OK};
    cw_status st = cw_strings_alloc(out, 0);
    if (st != CW_OK) return st;
    hsize_t idx = 0;
    if (H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, &idx, list_cb, &c) < 0) {
        st = c.st != CW_OK ? c.st : cw_fail(CW_EIO, "%s: cannot list the members", ctx);
        cw_strings_free(out);
    }
    return st;
}

cw_status cw_h5ad_list_columns(cw_h5ad *h, const char *df, cw_strings *out) {
    out->n = 0;
    out->s = NULL;
    hid_t g = -1;
    char *iname = NULL;
    char ctx[1100];
    cw_status st = df_open(h, df, &g);
    if (st != CW_OK) return st;
    ctxf(ctx, sizeof ctx, h, "/%s", df);
    if (cw_h5_has_attr(g, "column-order")) {
        st = cw_h5_attr_strings(g, "column-order", ctx, out);
    } else {
        st = df_index_name(h, g, df, &iname);
        if (st != CW_OK) { /* no index: list everything */
            cw_clear_error();
            st = CW_OK;
        }
        st = list_members(g, iname, ctx, out);
    }
    cw_free(iname);
    cw_h5_close(&g);
    return st;
}

static int is_column_member(cw_h5ad *h, hid_t g, const char *df, const char *name) {
    if (!name[0] || strchr(name, '/') || strcmp(name, "__categories") == 0) return 0;
    if (!cw_h5_exists(g, name)) return 0;
    char *iname = NULL;
    int ok = 1;
    if (df_index_name(h, g, df, &iname) == CW_OK && strcmp(iname, name) == 0) ok = 0;
    cw_clear_error();
    cw_free(iname);
    return ok;
}

int cw_h5ad_has_column(cw_h5ad *h, const char *df, const char *name) {
    hid_t g = -1;
    if (df_open(h, df, &g) != CW_OK) {
        cw_clear_error();
        return 0;
    }
    int r = is_column_member(h, g, df, name);
    cw_h5_close(&g);
    return r;
}

/* "a, b, c" (truncated) into buf. */
static void join_names(const cw_strings *l, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = '\0';
    for (int64_t i = 0; i < l->n && k + 1 < cap; i++) {
        int w = snprintf(buf + k, cap - k, "%s%s", i ? ", " : "", l->s[i] ? l->s[i] : "");
        if (w < 0) break;
        k += (size_t)w;
    }
    if (k >= cap && cap > 4) memcpy(buf + cap - 4, "...", 4);
    if (l->n == 0) snprintf(buf, cap, "(none)");
}

/* Reads n codes as int32 and checks them against ncat. */
static cw_status read_codes(hid_t ds, int64_t n, int64_t ncat, const char *ctx, int32_t **out) {
    *out = NULL;
    hsize_t d[2];
    if (cw_h5_shape(ds, d, 1) != 1 || (int64_t)d[0] != n)
        return cw_fail(CW_EFORMAT, "%s: expected %lld codes in a 1-D array", ctx, (long long)n);
    CW_TRY(check_kind(ds, ctx, "integer category codes", 1, 0, 0));
    int32_t *c = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof *c);
    if (!c) return cw_fail(CW_ENOMEM, "%s: out of memory for %lld codes", ctx, (long long)n);
    if (n > 0 && H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) < 0) {
        cw_free(c);
        return cw_fail(CW_EIO, "%s: reading the codes failed (file truncated or damaged?)", ctx);
    }
    for (int64_t i = 0; i < n; i++)
        if (c[i] < -1 || c[i] >= ncat) {
            cw_status st = cw_fail(CW_EFORMAT, "%s: code %d at row %lld outside [-1, %lld)", ctx,
                                   c[i], (long long)i, (long long)ncat);
            cw_free(c);
            return st;
        }
    *out = c;
    return CW_OK;
}

/* Fills a categorical column from its categories (taken over) and the codes dataset. */
static cw_status fill_categorical(cw_column *out, cw_strings *cats, hid_t codes_ds, int64_t n,
                                  const char *ctx) {
    out->kind = CW_COL_STRING;
    out->is_categorical = 1;
    out->categories = *cats;
    cats->n = 0;
    cats->s = NULL;
    if (n < 0) {
        hsize_t d[1];
        if (cw_h5_shape(codes_ds, d, 1) != 1)
            return cw_fail(CW_EFORMAT, "%s: expected 1-D codes", ctx);
        n = (int64_t)d[0];
    }
    out->n = n;
    CW_TRY(read_codes(codes_ds, n, out->categories.n, ctx, &out->codes));
    CW_TRY(cw_strings_alloc(&out->values, n));
    for (int64_t i = 0; i < n; i++)
        if (out->codes[i] >= 0)
            CW_TRY(cw_strings_set(&out->values, i, out->categories.s[out->codes[i]]));
    return CW_OK;
}

/* Reads a 1-D numeric or bool dataset into n doubles. */
/* n values of ds as doubles: all of it (fsp = H5S_ALL), or the selection fsp of the file space
 * into the simple memory space msp. */
static cw_status read_numeric_sel(hid_t ds, const char *ctx, int64_t n, double *out, hid_t msp,
                                  hid_t fsp) {
    hid_t t = H5Dget_type(ds);
    if (t < 0) return cw_fail(CW_EIO, "%s: cannot read the element type", ctx);
    cw_h5_kind k = cw_h5_kind_of(t);
    cw_h5_close(&t);
    if (n == 0) return CW_OK;
    if (k == CW_H5_BOOL) {
        signed char *b = cw_malloc((size_t)n);
        if (!b) return cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
        hid_t mt = cw_h5_bool_type();
        herr_t r = mt >= 0 ? H5Dread(ds, mt, msp, fsp, H5P_DEFAULT, b) : -1;
        cw_h5_close(&mt);
        for (int64_t i = 0; r >= 0 && i < n; i++) out[i] = b[i] ? 1.0 : 0.0;
        cw_free(b);
        if (r < 0) return cw_fail(CW_EIO, "%s: reading failed (file truncated or damaged?)", ctx);
        return CW_OK;
    }
    if (H5Dread(ds, H5T_NATIVE_DOUBLE, msp, fsp, H5P_DEFAULT, out) < 0)
        return cw_fail(CW_EIO, "%s: reading failed (file truncated or damaged?)", ctx);
    return CW_OK;
}

static cw_status read_numeric_1d(hid_t ds, const char *ctx, int64_t n, double *out) {
    return read_numeric_sel(ds, ctx, n, out, H5S_ALL, H5S_ALL);
}

/* Category labels: strings, or numbers and bools spelled as pandas prints them (10, 0.5, 10.0,
 * True), for categoricals of numbers (doses, cluster ids). */
static cw_status read_labels(hid_t ds, const char *ctx, cw_strings *out) {
    out->n = 0;
    out->s = NULL;
    hid_t t = H5Dget_type(ds);
    if (t < 0) return cw_fail(CW_EIO, "%s: cannot read the element type", ctx);
    cw_h5_kind k = cw_h5_kind_of(t);
    char tn[64];
    cw_h5_type_name(t, tn, sizeof tn);
    cw_h5_close(&t);
    if (k == CW_H5_STRING) return cw_h5_read_strings_obj(ds, 0, ctx, out);
    hsize_t d[1];
    if ((k != CW_H5_INT && k != CW_H5_FLOAT && k != CW_H5_BOOL) || cw_h5_shape(ds, d, 1) != 1)
        return cw_fail(CW_EFORMAT, "%s: expected a 1-D array of category labels, found %s", ctx,
                       tn);
    int64_t n = (int64_t)d[0];
    double *v = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof *v);
    int64_t *iv = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof *iv);
    cw_status st = v && iv ? CW_OK : cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
    if (st == CW_OK) st = read_numeric_1d(ds, ctx, n, v);
    if (st == CW_OK && k == CW_H5_INT && n > 0 &&
        H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, iv) < 0)
        st = cw_fail(CW_EIO, "%s: reading failed (file truncated or damaged?)", ctx);
    if (st == CW_OK) st = cw_strings_alloc(out, n);
    for (int64_t i = 0; st == CW_OK && i < n; i++) {
        char b[40];
        if (k == CW_H5_BOOL) snprintf(b, sizeof b, "%s", v[i] != 0 ? "True" : "False");
        else if (k == CW_H5_INT) snprintf(b, sizeof b, "%lld", (long long)iv[i]);
        else if (v[i] == floor(v[i]) && fabs(v[i]) < 1e16) snprintf(b, sizeof b, "%.1f", v[i]);
        else
            for (int prec = 1; prec <= 17; prec++) { /* shortest form that reads back exactly */
                snprintf(b, sizeof b, "%.*g", prec, v[i]);
                if (strtod(b, NULL) == v[i]) break;
            }
        st = cw_strings_set(out, i, b);
    }
    if (st != CW_OK) cw_strings_free(out);
    cw_free(v);
    cw_free(iv);
    return st;
}

/* 0.7: the `categories` attribute of a code dataset references the category strings. */
static cw_status read_ref_categories(hid_t ds, const char *ctx, cw_strings *cats) {
    cats->n = 0;
    cats->s = NULL;
    cw_status st = CW_OK;
    hid_t a = H5Aopen(ds, "categories", H5P_DEFAULT), t = -1, cds = -1;
    hobj_ref_t ref;
    char tn[64];
    if (a < 0 || (t = H5Aget_type(a)) < 0) {
        st = cw_fail(CW_EIO, "%s: cannot open attribute 'categories'", ctx);
    } else if (H5Tget_class(t) == H5T_STRING) { /* categories stored inline */
        st = cw_h5_read_strings_obj(a, 1, ctx, cats);
    } else if (H5Tget_class(t) != H5T_REFERENCE) {
        st = cw_fail(CW_EFORMAT,
                     "%s: attribute 'categories': expected an object reference, "
                     "found %s",
                     ctx, cw_h5_type_name(t, tn, sizeof tn));
    } else if (H5Aread(a, H5T_STD_REF_OBJ, &ref) < 0 ||
               (cds = H5Rdereference2(ds, H5P_DEFAULT, H5R_OBJECT, &ref)) < 0) {
        st = cw_fail(CW_EFORMAT,
                     "%s: attribute 'categories': the object reference does not "
                     "resolve (expected <df>/__categories/<column>)",
                     ctx);
    } else if (H5Iget_type(cds) != H5I_DATASET) {
        st = cw_fail(CW_EFORMAT,
                     "%s: attribute 'categories': expected a reference to a string "
                     "dataset, found a group",
                     ctx);
    } else {
        st = read_labels(cds, ctx, cats);
    }
    cw_h5_close(&cds);
    cw_h5_close(&t);
    cw_h5_close(&a);
    return st;
}

static cw_status read_column_group(hid_t cg, const char *ctx, int64_t n, cw_column *out) {
    char *enc = NULL;
    cw_status st = CW_OK;
    hid_t a = -1, b = -1;
    cw_strings cats = {0, NULL};
    if (cw_h5_has_attr(cg, "encoding-type")) {
        st = cw_h5_attr_string(cg, "encoding-type", ctx, &enc);
        if (st != CW_OK) return st;
    }
    char sub[1200];
    if ((!enc || strcmp(enc, "categorical") == 0) && cw_h5_exists(cg, "categories") &&
        cw_h5_exists(cg, "codes")) {
        snprintf(sub, sizeof sub, "%s/categories", ctx);
        st = open_dataset(cg, "categories", sub, "an array of category strings", -1, &a);
        if (st == CW_OK) st = read_labels(a, sub, &cats);
        snprintf(sub, sizeof sub, "%s/codes", ctx);
        if (st == CW_OK) st = open_dataset(cg, "codes", sub, "an array of codes", -1, &b);
        if (st == CW_OK) st = fill_categorical(out, &cats, b, n, sub);
    } else if (enc &&
               (strcmp(enc, "nullable-integer") == 0 || strcmp(enc, "nullable-boolean") == 0)) {
        int is_bool = strcmp(enc, "nullable-boolean") == 0;
        snprintf(sub, sizeof sub, "%s/values", ctx);
        st = open_dataset(cg, "values", sub, "an array of values", -1, &a);
        hsize_t d[1];
        if (st == CW_OK && cw_h5_shape(a, d, 1) != 1)
            st = cw_fail(CW_EFORMAT, "%s: expected a 1-D array", sub);
        if (st == CW_OK && n >= 0 && (int64_t)d[0] != n)
            st = cw_fail(CW_EFORMAT, "%s: expected %lld values, found %lld", sub, (long long)n,
                         (long long)d[0]);
        if (st == CW_OK) {
            n = (int64_t)d[0];
            out->kind = CW_COL_NUMERIC;
            out->n = n;
            out->is_bool = is_bool;
            out->is_integer = !is_bool;
            out->num = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof(double));
            if (!out->num) st = cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
        }
        if (st == CW_OK) st = check_kind(a, sub, "numbers or bools", 1, 1, 1);
        if (st == CW_OK) st = read_numeric_1d(a, sub, n, out->num);
        snprintf(sub, sizeof sub, "%s/mask", ctx);
        if (st == CW_OK) st = open_dataset(cg, "mask", sub, "a bool mask", -1, &b);
        double *mask = NULL;
        if (st == CW_OK) {
            mask = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof(double));
            if (!mask) st = cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
        }
        if (st == CW_OK) st = check_kind(b, sub, "a bool mask", 1, 0, 1);
        if (st == CW_OK) st = read_numeric_1d(b, sub, n, mask);
        for (int64_t i = 0; st == CW_OK && i < n; i++)
            if (mask[i] != 0.0) out->num[i] = NAN;
        cw_free(mask);
    } else {
        st = cw_fail(CW_EFORMAT,
                     "%s: expected a column (categorical, strings, numbers or bools), "
                     "found a group with encoding-type '%s'",
                     ctx, enc ? enc : "(none)");
    }
    cw_strings_free(&cats);
    cw_h5_close(&a);
    cw_h5_close(&b);
    cw_free(enc);
    return st;
}

static cw_status read_column_dataset(hid_t ds, const char *ctx, int64_t n, cw_column *out) {
    hsize_t d[2];
    int r = cw_h5_shape(ds, d, 2);
    if (r != 1) return cw_fail(CW_EFORMAT, "%s: expected a 1-D column, found rank %d", ctx, r);
    if (n >= 0 && (int64_t)d[0] != n)
        return cw_fail(CW_EFORMAT, "%s: expected %lld values (one per row), found %lld", ctx,
                       (long long)n, (long long)d[0]);
    n = (int64_t)d[0];
    hid_t t = H5Dget_type(ds);
    if (t < 0) return cw_fail(CW_EIO, "%s: cannot read the element type", ctx);
    cw_h5_kind k = cw_h5_kind_of(t);
    char tn[64];
    cw_h5_type_name(t, tn, sizeof tn);
    cw_h5_close(&t);
    if (k == CW_H5_INT && cw_h5_has_attr(ds, "categories")) { /* anndata 0.7 categorical */
        cw_strings cats;
        CW_TRY(read_ref_categories(ds, ctx, &cats));
        cw_status st = fill_categorical(out, &cats, ds, n, ctx);
        cw_strings_free(&cats);
        return st;
    }
    if (k == CW_H5_STRING) {
        out->kind = CW_COL_STRING;
        out->n = n;
        return cw_h5_read_strings_obj(ds, 0, ctx, &out->values);
    }
    if (k == CW_H5_INT || k == CW_H5_FLOAT || k == CW_H5_BOOL) {
        out->kind = CW_COL_NUMERIC;
        out->n = n;
        out->is_integer = k == CW_H5_INT;
        out->is_bool = k == CW_H5_BOOL;
        out->num = cw_malloc_array((size_t)(n > 0 ? n : 1), sizeof(double));
        if (!out->num)
            return cw_fail(CW_ENOMEM, "%s: out of memory for %lld values", ctx, (long long)n);
        return read_numeric_1d(ds, ctx, n, out->num);
    }
    return cw_fail(CW_EFORMAT, "%s: expected strings, categorical, numbers or bools, found %s", ctx,
                   tn);
}

cw_status cw_h5ad_read_column(cw_h5ad *h, const char *df, const char *name, cw_column *out) {
    memset(out, 0, sizeof *out);
    hid_t g = -1, o = -1;
    char ctx[1100];
    cw_status st = df_open(h, df, &g);
    if (st != CW_OK) return st;
    ctxf(ctx, sizeof ctx, h, "/%s/%s", df, name);
    if (!is_column_member(h, g, df, name)) {
        cw_strings cols;
        char list[700];
        if (cw_h5ad_list_columns(h, df, &cols) == CW_OK) {
            join_names(&cols, list, sizeof list);
            cw_strings_free(&cols);
        } else {
            snprintf(list, sizeof list, "(unreadable)");
        }
        cw_h5_close(&g);
        return cw_fail(CW_ENOTFOUND, "%s: no such column; columns are: %s", ctx, list);
    }
    int64_t n = -1;
    if (h->x_kind != CW_X_NONE) n = strcmp(df, "obs") == 0 ? h->n_obs : h->n_vars;
    out->name = cw_strdup(name);
    if (!out->name) st = cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
    if (st == CW_OK && (o = H5Oopen(g, name, H5P_DEFAULT)) < 0)
        st = cw_fail(CW_EIO, "%s: cannot open (file truncated or damaged?)", ctx);
    if (st == CW_OK) {
        if (H5Iget_type(o) == H5I_GROUP) st = read_column_group(o, ctx, n, out);
        else if (H5Iget_type(o) == H5I_DATASET) st = read_column_dataset(o, ctx, n, out);
        else st = cw_fail(CW_EFORMAT, "%s: expected a column, found a named datatype", ctx);
    }
    if (st == CW_OK && n < 0) { /* no X: check the length against the index */
        int64_t ni = df_index_len(h, df);
        if (ni >= 0 && ni != out->n)
            st = cw_fail(CW_EFORMAT, "%s: expected %lld values (the index length), found %lld", ctx,
                         (long long)ni, (long long)out->n);
    }
    if (st != CW_OK) cw_column_free(out);
    cw_h5_close(&o);
    cw_h5_close(&g);
    return st;
}

/* ---- obsm, generic readers ---------------------------------------------------------------- */

cw_status cw_h5ad_list_obsm(cw_h5ad *h, cw_strings *out) {
    out->n = 0;
    out->s = NULL;
    if (cw_h5_obj_type(h->file, "/obsm") != H5O_TYPE_GROUP) return cw_strings_alloc(out, 0);
    hid_t g = H5Gopen2(h->file, "/obsm", H5P_DEFAULT);
    if (g < 0)
        return cw_fail(CW_EIO, "%s: /obsm: cannot open (file truncated or damaged?)", h->path);
    char ctx[1100];
    cw_status st = list_members(g, NULL, ctxf(ctx, sizeof ctx, h, "/obsm"), out);
    cw_h5_close(&g);
    return st;
}

int cw_h5ad_exists(cw_h5ad *h, const char *path) { return cw_h5_exists(h->file, path); }

/* Reads the numeric dataset at path (rank <= 2) into a dense double matrix. */
/* A numeric dataset of rank 0-2 as doubles; row_step > 1 reads rows 0, row_step, 2 row_step, ...
 * of a 2-D one (a strided hyperslab: only those rows leave the file). */
static cw_status read_doubles_at(cw_h5ad *h, const char *path, const char *what, int64_t row_step,
                                 cw_dmat *out, int64_t *stored_rows) {
    out->nrows = out->ncols = 0;
    out->data = NULL;
    char ctx[1100];
    ctxf(ctx, sizeof ctx, h, "%s", path);
    H5O_type_t t = cw_h5_obj_type(h->file, path);
    if (t == H5O_TYPE_UNKNOWN) return cw_fail(CW_ENOTFOUND, "%s: not found", ctx);
    if (t != H5O_TYPE_DATASET)
        return cw_fail(CW_EFORMAT,
                       "%s: expected %s, found a group (sparse matrix, dataframe or "
                       "dict)",
                       ctx, what);
    hid_t ds = H5Dopen2(h->file, path, H5P_DEFAULT);
    if (ds < 0) return cw_fail(CW_EIO, "%s: cannot open (file truncated or damaged?)", ctx);
    hsize_t d[3] = {1, 1, 1};
    int r = cw_h5_shape(ds, d, 3);
    cw_status st = check_kind(ds, ctx, what, 1, 1, 1);
    if (st == CW_OK && (r < 0 || r > 2))
        st = cw_fail(CW_EFORMAT, "%s: expected %s of rank 0, 1 or 2, found rank %d", ctx, what, r);
    if (st == CW_OK) {
        int64_t nr = r >= 1 ? (int64_t)d[0] : 1, nc = r == 2 ? (int64_t)d[1] : 1;
        if (stored_rows) *stored_rows = nr;
        const int strided = row_step > 1 && r == 2 && nr > 0 && nc > 0;
        if (strided) nr = (nr + row_step - 1) / row_step;
        st = cw_dmat_alloc(out, nr, nc);
        if (st != CW_OK) st = cw_fail_prefix(st, "%s", ctx);
        if (st == CW_OK && strided) {
            hid_t fsp = H5Dget_space(ds), msp = -1;
            hsize_t start[2] = {0, 0}, stride[2] = {(hsize_t)row_step, 1},
                    count[2] = {(hsize_t)nr, (hsize_t)nc}, block[2] = {1, 1};
            if (fsp < 0 || H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, stride, count, block) < 0 ||
                (msp = H5Screate_simple(2, count, NULL)) < 0)
                st = cw_fail(CW_EIO, "%s: cannot select every %lld-th row", ctx, (long long)row_step);
            if (st == CW_OK) st = read_numeric_sel(ds, ctx, nr * nc, out->data, msp, fsp);
            cw_h5_close(&msp);
            cw_h5_close(&fsp);
        } else if (st == CW_OK) {
            st = read_numeric_1d(ds, ctx, nr * nc, out->data);
        }
        if (st != CW_OK) cw_dmat_free(out);
        out->nrows = st == CW_OK ? nr : 0;
        out->ncols = st == CW_OK ? nc : 0;
    }
    cw_h5_close(&ds);
    return st;
}

cw_status cw_h5ad_read_obsm(cw_h5ad *h, const char *key, cw_dmat *out) {
    return cw_h5ad_read_obsm_every(h, key, 1, out);
}

cw_status cw_h5ad_read_obsm_every(cw_h5ad *h, const char *key, int64_t row_step, cw_dmat *out) {
    out->nrows = out->ncols = 0;
    out->data = NULL;
    char path[1024];
    snprintf(path, sizeof path, "/obsm/%s", key);
    if (!key[0] || strchr(key, '/') || !cw_h5_exists(h->file, path)) {
        cw_strings keys;
        char list[700];
        if (cw_h5ad_list_obsm(h, &keys) == CW_OK) {
            join_names(&keys, list, sizeof list);
            cw_strings_free(&keys);
        } else {
            snprintf(list, sizeof list, "(unreadable)");
        }
        return cw_fail(CW_ENOTFOUND, "%s: /obsm/%s: no such key; keys are: %s", h->path, key, list);
    }
    if (row_step < 1)
        return cw_fail(CW_EINVAL, "%s: /obsm/%s: row step %lld < 1", h->path, key,
                       (long long)row_step);
    int64_t stored = 0;
    CW_TRY(read_doubles_at(h, path, "a dense numeric array (n_obs x k)", row_step, out, &stored));
    if (stored != h->n_obs) {
        cw_status st = cw_fail(CW_EFORMAT, "%s: %s: expected %lld rows (n_obs), found %lld",
                               h->path, path, (long long)h->n_obs, (long long)stored);
        cw_dmat_free(out);
        out->nrows = out->ncols = 0;
        return st;
    }
    return CW_OK;
}

cw_status cw_h5ad_read_doubles(cw_h5ad *h, const char *path, cw_dmat *out) {
    return read_doubles_at(h, path, "numbers", 1, out, NULL);
}

cw_status cw_h5ad_read_strings(cw_h5ad *h, const char *path, cw_strings *out) {
    out->n = 0;
    out->s = NULL;
    char ctx[1100];
    ctxf(ctx, sizeof ctx, h, "%s", path);
    H5O_type_t t = cw_h5_obj_type(h->file, path);
    if (t == H5O_TYPE_UNKNOWN) return cw_fail(CW_ENOTFOUND, "%s: not found", ctx);
    if (t != H5O_TYPE_DATASET)
        return cw_fail(CW_EFORMAT, "%s: expected strings, found a group", ctx);
    hid_t ds = H5Dopen2(h->file, path, H5P_DEFAULT);
    if (ds < 0) return cw_fail(CW_EIO, "%s: cannot open (file truncated or damaged?)", ctx);
    int r = cw_h5_shape(ds, NULL, 2);
    cw_status st = r < 0 ? cw_fail(CW_EFORMAT,
                                   "%s: expected a string or a 1-D or 2-D array of strings, "
                                   "found a higher rank",
                                   ctx)
                         : cw_h5_read_strings_obj(ds, 0, ctx, out);
    cw_h5_close(&ds);
    return st;
}

/* ---- rank_genes_groups ------------------------------------------------------------------- */

#define RGG "/uns/rank_genes_groups"

/* Group names when only a 2-D names array is stored: attribute `groups`, else the categories
 * of obs[params/groupby] when their count matches, else "0", "1", ... */
static cw_status deg_group_names_2d(cw_h5ad *h, hid_t names_ds, int64_t n_groups, const char *ctx,
                                    cw_strings *out) {
    if (cw_h5_has_attr(names_ds, "groups")) {
        CW_TRY(cw_h5_attr_strings(names_ds, "groups", ctx, out));
        if (out->n == n_groups) return CW_OK;
        cw_strings_free(out);
        return cw_fail(CW_EFORMAT, "%s: attribute 'groups' has %lld names for %lld columns", ctx,
                       (long long)out->n, (long long)n_groups);
    }
    cw_strings gb = {0, NULL};
    cw_column col;
    memset(&col, 0, sizeof col);
    if (cw_h5ad_read_strings(h, RGG "/params/groupby", &gb) == CW_OK && gb.n == 1 && gb.s[0] &&
        cw_h5ad_read_column(h, "obs", gb.s[0], &col) == CW_OK && col.is_categorical &&
        col.categories.n == n_groups) {
        *out = col.categories;
        col.categories.n = 0;
        col.categories.s = NULL;
        cw_column_free(&col);
        cw_strings_free(&gb);
        return CW_OK;
    }
    cw_column_free(&col);
    cw_strings_free(&gb);
    cw_clear_error();
    CW_TRY(cw_strings_alloc(out, n_groups));
    for (int64_t g = 0; g < n_groups; g++) {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)g);
        cw_status st = cw_strings_set(out, g, b);
        if (st != CW_OK) {
            cw_strings_free(out);
            return st;
        }
    }
    return CW_OK;
}

/* names: compound (one string field per group), 2-D strings, or a group of 1-D datasets. */
static cw_status deg_read_names(cw_h5ad *h, cw_deg_table *t) {
    char ctx[1100], sub[1300];
    ctxf(ctx, sizeof ctx, h, RGG "/names");
    H5O_type_t ty = cw_h5_obj_type(h->file, RGG "/names");
    if (ty == H5O_TYPE_UNKNOWN)
        return cw_fail(CW_EFORMAT, "%s: missing (expected the gene names)", ctx);
    cw_status st = CW_OK;
    cw_strings tmp = {0, NULL};
    if (ty == H5O_TYPE_GROUP) {
        hid_t g = H5Gopen2(h->file, RGG "/names", H5P_DEFAULT);
        if (g < 0) return cw_fail(CW_EIO, "%s: cannot open", ctx);
        st = list_members(g, NULL, ctx, &t->groups);
        t->n_groups = t->groups.n;
        for (int64_t gi = 0; st == CW_OK && gi < t->n_groups; gi++) {
            hid_t ds = -1;
            snprintf(sub, sizeof sub, "%s/%s", ctx, t->groups.s[gi]);
            st = open_dataset(g, t->groups.s[gi], sub, "a 1-D array of gene names", -1, &ds);
            if (st == CW_OK) st = cw_h5_read_strings_obj(ds, 0, sub, &tmp);
            cw_h5_close(&ds);
            if (st != CW_OK) break;
            if (gi == 0) {
                t->n_genes = tmp.n;
                st = cw_strings_alloc(&t->names, t->n_groups * t->n_genes);
            } else if (tmp.n != t->n_genes) {
                st = cw_fail(CW_EFORMAT, "%s: expected %lld names like the first group, found %lld",
                             sub, (long long)t->n_genes, (long long)tmp.n);
            }
            for (int64_t r = 0; st == CW_OK && r < tmp.n; r++) {
                t->names.s[gi * t->n_genes + r] = tmp.s[r];
                tmp.s[r] = NULL;
            }
            cw_strings_free(&tmp);
        }
        cw_h5_close(&g);
        if (st == CW_OK && t->n_groups == 0) st = cw_strings_alloc(&t->names, 0);
        return st;
    }
    hid_t ds = H5Dopen2(h->file, RGG "/names", H5P_DEFAULT), ft = -1;
    if (ds < 0) return cw_fail(CW_EIO, "%s: cannot open (file truncated or damaged?)", ctx);
    hsize_t d[2] = {0, 0};
    int rank = cw_h5_shape(ds, d, 2);
    ft = H5Dget_type(ds);
    char tn[64];
    if (ft < 0 || rank < 0) {
        st = cw_fail(CW_EFORMAT, "%s: expected a 1-D record array or a 2-D string array", ctx);
    } else if (H5Tget_class(ft) == H5T_COMPOUND && rank == 1) {
        /* one read of all fields; field-major is names' layout (names[g * n_genes + r]) */
        st = cw_h5_read_compound_strings(ds, ctx, &t->groups, &t->names);
        t->n_groups = t->groups.n;
        t->n_genes = (int64_t)d[0];
    } else if (H5Tget_class(ft) == H5T_STRING && rank == 2) { /* (n_genes, n_groups) */
        t->n_genes = (int64_t)d[0];
        t->n_groups = (int64_t)d[1];
        st = cw_h5_read_strings_obj(ds, 0, ctx, &tmp);
        if (st == CW_OK) st = cw_strings_alloc(&t->names, t->n_groups * t->n_genes);
        for (int64_t r = 0; st == CW_OK && r < t->n_genes; r++)
            for (int64_t gi = 0; gi < t->n_groups; gi++) {
                t->names.s[gi * t->n_genes + r] = tmp.s[r * t->n_groups + gi];
                tmp.s[r * t->n_groups + gi] = NULL;
            }
        cw_strings_free(&tmp);
        if (st == CW_OK) st = deg_group_names_2d(h, ds, t->n_groups, ctx, &t->groups);
    } else {
        st = cw_fail(CW_EFORMAT,
                     "%s: expected a 1-D record array (one string field per group) or "
                     "a 2-D string array, found %s of rank %d",
                     ctx, cw_h5_type_name(ft, tn, sizeof tn), rank);
    }
    cw_h5_close(&ft);
    cw_h5_close(&ds);
    return st;
}

/* The numeric fields `fields` (int or float, matched by name) of a 1-D record array ds (file
 * type ft) of nr rows, with ONE H5Dread into a memory record of native doubles, then split
 * field-major: out[f * nr + r]. n_fields * nr doubles must fit (the caller allocated out). */
static cw_status read_compound_doubles(hid_t ds, hid_t ft, const cw_strings *fields, int64_t nr,
                                       const char *ctx, double *out) {
    int64_t nf = fields->n;
    if (nf == 0 || nr == 0) return CW_OK;
    cw_status st = CW_OK;
    char tn[64];
    hid_t mt = H5Tcreate(H5T_COMPOUND, (size_t)nf * sizeof(double));
    double *rec = cw_malloc_array((size_t)nf * (size_t)nr, sizeof(double));
    if (!rec) st = cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
    for (int64_t f = 0; st == CW_OK && f < nf; f++) {
        int idx = H5Tget_member_index(ft, fields->s[f]);
        if (idx < 0) {
            st = cw_fail(CW_EFORMAT, "%s: no field '%s' (names has it)", ctx, fields->s[f]);
            break;
        }
        hid_t mtype = H5Tget_member_type(ft, (unsigned)idx);
        cw_h5_kind k = mtype >= 0 ? cw_h5_kind_of(mtype) : CW_H5_OTHER;
        if (k != CW_H5_INT && k != CW_H5_FLOAT)
            st = cw_fail(CW_EFORMAT, "%s: field '%s': expected numbers, found %s", ctx,
                         fields->s[f], mtype >= 0 ? cw_h5_type_name(mtype, tn, sizeof tn) : "?");
        cw_h5_close(&mtype);
        if (st == CW_OK && (mt < 0 || H5Tinsert(mt, fields->s[f], (size_t)f * sizeof(double),
                                                H5T_NATIVE_DOUBLE) < 0))
            st = cw_fail(CW_EIO, "%s: cannot build a memory record type", ctx);
    }
    if (st == CW_OK && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rec) < 0)
        st = cw_fail(CW_EIO, "%s: reading failed (file truncated or damaged?)", ctx);
    for (int64_t r = 0; st == CW_OK && r < nr; r++)
        for (int64_t f = 0; f < nf; f++) out[f * nr + r] = rec[r * nf + f];
    cw_free(rec);
    cw_h5_close(&mt);
    return st;
}

/* One numeric table (scores, pvals, ...) in the layout of names; *out NULL when absent. */
static cw_status deg_read_numbers(cw_h5ad *h, const cw_deg_table *t, const char *key,
                                  double **out) {
    *out = NULL;
    char path[256], ctx[1100], sub[1300];
    snprintf(path, sizeof path, RGG "/%s", key);
    ctxf(ctx, sizeof ctx, h, "%s", path);
    H5O_type_t ty = cw_h5_obj_type(h->file, path);
    if (ty == H5O_TYPE_UNKNOWN) return CW_OK;
    int64_t ng = t->n_groups, nr = t->n_genes;
    /* ng * nr doubles, counted in size_t without overflow */
    if (ng < 0 || nr < 0 || (nr > 0 && (size_t)ng > SIZE_MAX / sizeof(double) / (size_t)nr))
        return cw_fail(CW_ENOMEM, "%s: out of memory for %lld x %lld numbers", ctx,
                       (long long)nr, (long long)ng);
    size_t cells = (size_t)ng * (size_t)nr;
    double *v = cw_malloc_array(cells > 0 ? cells : 1, sizeof(double));
    double *tmp = NULL;
    if (!v) return cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
    cw_status st = CW_OK;
    hid_t g = -1, ds = -1, ft = -1;
    if (ty == H5O_TYPE_GROUP) {
        g = H5Gopen2(h->file, path, H5P_DEFAULT);
        if (g < 0) st = cw_fail(CW_EIO, "%s: cannot open", ctx);
        for (int64_t gi = 0; st == CW_OK && gi < ng; gi++) {
            snprintf(sub, sizeof sub, "%s/%s", ctx, t->groups.s[gi]);
            st = open_dataset(g, t->groups.s[gi], sub, "a 1-D numeric array", -1, &ds);
            hsize_t d[2];
            if (st == CW_OK && (cw_h5_shape(ds, d, 1) != 1 || (int64_t)d[0] != nr))
                st =
                    cw_fail(CW_EFORMAT, "%s: expected %lld numbers like names", sub, (long long)nr);
            if (st == CW_OK) st = check_kind(ds, sub, "numbers", 1, 1, 0);
            if (st == CW_OK) st = read_numeric_1d(ds, sub, nr, v + gi * nr);
            cw_h5_close(&ds);
        }
        goto done;
    }
    ds = H5Dopen2(h->file, path, H5P_DEFAULT);
    hsize_t d[2] = {0, 0};
    int rank = ds >= 0 ? cw_h5_shape(ds, d, 2) : -1;
    ft = ds >= 0 ? H5Dget_type(ds) : -1;
    char tn[64];
    if (ds < 0 || ft < 0 || rank < 0) {
        st = cw_fail(CW_EIO, "%s: cannot open (file truncated or damaged?)", ctx);
    } else if (H5Tget_class(ft) == H5T_COMPOUND && rank == 1) {
        if ((int64_t)d[0] != nr)
            st = cw_fail(CW_EFORMAT, "%s: expected %lld rows like names, found %lld", ctx,
                         (long long)nr, (long long)d[0]);
        else st = read_compound_doubles(ds, ft, &t->groups, nr, ctx, v);
    } else if ((H5Tget_class(ft) == H5T_FLOAT || H5Tget_class(ft) == H5T_INTEGER) && rank == 2) {
        if ((int64_t)d[0] != nr || (int64_t)d[1] != ng) {
            st = cw_fail(CW_EFORMAT, "%s: expected %lld x %lld like names, found %lld x %lld", ctx,
                         (long long)nr, (long long)ng, (long long)d[0], (long long)d[1]);
            goto done;
        }
        tmp = cw_malloc_array(cells > 0 ? cells : 1, sizeof(double));
        if (!tmp) st = cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
        else st = read_numeric_1d(ds, ctx, nr * ng, tmp);
        for (int64_t r = 0; st == CW_OK && r < nr; r++)
            for (int64_t gi = 0; gi < ng; gi++) v[gi * nr + r] = tmp[r * ng + gi];
    } else {
        st = cw_fail(CW_EFORMAT,
                     "%s: expected a 1-D record array or a 2-D numeric array, found %s "
                     "of rank %d",
                     ctx, cw_h5_type_name(ft, tn, sizeof tn), rank);
    }
done:
    cw_free(tmp);
    cw_h5_close(&ft);
    cw_h5_close(&ds);
    cw_h5_close(&g);
    if (st != CW_OK) cw_free(v);
    else *out = v;
    return st;
}

cw_status cw_h5ad_read_deg_table(cw_h5ad *h, cw_deg_table *out) {
    memset(out, 0, sizeof *out);
    if (cw_h5_obj_type(h->file, RGG) != H5O_TYPE_GROUP)
        return cw_fail(CW_ENOTFOUND,
                       "%s: " RGG ": not found (expected the group scanpy's "
                       "rank_genes_groups writes)",
                       h->path);
    cw_status st = deg_read_names(h, out);
    if (st == CW_OK) st = deg_read_numbers(h, out, "scores", &out->scores);
    if (st == CW_OK) st = deg_read_numbers(h, out, "pvals", &out->pvals);
    if (st == CW_OK) st = deg_read_numbers(h, out, "pvals_adj", &out->pvals_adj);
    if (st == CW_OK) st = deg_read_numbers(h, out, "logfoldchanges", &out->logfoldchanges);
    if (st != CW_OK) cw_deg_table_free(out);
    return st;
}
