/* h5ad_write.c: the .h5ad writer (h5ad.h "writer").
 *
 * Implements issue #2 item 3: files that anndata >= 0.8 reads as its own, with the encodings
 * anndata 0.8 writes (checked against files written by anndata 0.8 and inspected with h5py):
 *   root                 encoding-type "anndata", encoding-version "0.1.0"
 *   X dense              float32 dataset, "array" 0.2.0
 *   X sparse             group "csr_matrix" 0.1.0, attribute shape (int64[2]); data float32,
 *                        indices and indptr int32 (int64 when rows x cols >= 2^31; streamed:
 *                        extendible chunked datasets)
 *   obs / var            group "dataframe" 0.2.0, attributes _index = "_index" and
 *                        column-order (an empty float64 array when there are no columns, as
 *                        h5py stores []); _index a "string-array" 0.2.0 (vlen UTF-8)
 *   categorical column   group "categorical" 0.2.0, attribute ordered = False (h5py bool enum),
 *                        categories ("string-array") and codes (int8/int16/int32 by count,
 *                        as pandas picks them; "array")
 *   other columns        "string-array" (vlen UTF-8), "array" float64 / int64 / bool enum
 *   layers obsm varm obsp varp uns   groups "dict" 0.1.0 (nested uns groups too)
 *   uns scalars          "string" / "numeric-scalar" 0.2.0 scalar datasets; arrays "array" or
 *                        "string-array" 0.2.0
 *   rank_genes_groups    "rec-array" 0.2.0 compound datasets as scanpy's record arrays become:
 *                        names vlen UTF-8 fields, scores and logfoldchanges float32 fields,
 *                        pvals and pvals_adj float64 fields (scanpy's dtypes); params dict with
 *                        groupby, reference, method, use_raw = False, corr_method (scanpy's
 *                        layer = None is dropped by anndata, so it is not written either).
 * Conventions: everything goes to "<path>.tmp-<pid>", renamed onto path by commit. The first
 * failure of any call closes and unlinks the temporary file and marks the writer failed (later
 * calls fail at once); the caller still frees it with commit or abort. gzip_level > 0 gives
 * chunked deflate datasets (never for scalars).
 */
#include "io/h5ad.h"

#include "core/alloc.h"
#include "core/status.h"
#include "io/hdf5_util.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CW_W_CHUNK_ELEMS ((int64_t)1 << 16)

struct cw_h5ad_writer {
    char *path, *tmp;
    hid_t file;
    int gzip, failed;
    int64_t n_obs, n_vars; /* -1 until X, a dataframe or obsm fixes them */
    int have_x, have_obs, have_var;
    int csr_open;
    int64_t csr_rows, csr_done, csr_nnz;
    hid_t cd, ci, cp; /* X/data, X/indices, X/indptr while streaming */
};

/* ---- failure handling ----------------------------------------------------------------------- */

static void w_close_all(cw_h5ad_writer *w) {
    cw_h5_close(&w->cd);
    cw_h5_close(&w->ci);
    cw_h5_close(&w->cp);
    cw_h5_close(&w->file);
}

/* The first failure removes the temporary file; returns st (the message is kept). */
static cw_status w_fail(cw_h5ad_writer *w, cw_status st) {
    if (st == CW_OK) return st;
    if (!w->failed) {
        w_close_all(w);
        if (w->tmp) unlink(w->tmp);
        w->failed = 1;
    }
    return st;
}

static cw_status w_check(cw_h5ad_writer *w) {
    if (!w) return cw_fail(CW_EINVAL, "h5ad writer: NULL handle");
    if (w->failed)
        return cw_fail(CW_EINVAL, "%s: the writer failed earlier; nothing more is written",
                       w->path);
    return CW_OK;
}

/* ---- dataset helpers ------------------------------------------------------------------------ */

/* Dataset creation properties: chunked + deflate when gzip is on and the data is not scalar. */
static hid_t w_dcpl(const cw_h5ad_writer *w, int rank, const hsize_t *dims, int force_chunk,
                    const hsize_t *chunk_in) {
    hid_t p = H5Pcreate(H5P_DATASET_CREATE);
    if (p < 0) return -1;
    H5Pset_obj_track_times(p, 0); /* no timestamps: same inputs, same bytes */
    if (rank == 0 || (!w->gzip && !force_chunk)) return p;
    hsize_t chunk[2];
    if (chunk_in) {
        for (int i = 0; i < rank; i++) chunk[i] = chunk_in[i];
    } else if (rank == 1) {
        chunk[0] = dims[0] < (hsize_t)CW_W_CHUNK_ELEMS ? dims[0] : (hsize_t)CW_W_CHUNK_ELEMS;
    } else {
        hsize_t c1 = dims[1] < (hsize_t)CW_W_CHUNK_ELEMS ? dims[1] : (hsize_t)CW_W_CHUNK_ELEMS;
        if (c1 == 0) c1 = 1;
        hsize_t c0 = (hsize_t)CW_W_CHUNK_ELEMS / c1;
        chunk[0] = dims[0] < c0 ? dims[0] : c0;
        chunk[1] = c1;
    }
    for (int i = 0; i < rank; i++)
        if (chunk[i] == 0) chunk[i] = 1;
    if (H5Pset_chunk(p, rank, chunk) < 0 || (w->gzip && H5Pset_deflate(p, (unsigned)w->gzip) < 0))
        cw_h5_close(&p);
    return p;
}

/* Creates dataset `name` under loc (rank 0-2), writes buf (memtype), sets the encoding
 * attributes when enc is not NULL. `what` is the HDF5 path for messages. */
static cw_status w_dataset(cw_h5ad_writer *w, hid_t loc, const char *name, const char *what,
                           hid_t ftype, hid_t memtype, int rank, const hsize_t *dims,
                           const void *buf, const char *enc) {
    char ctx[1200];
    snprintf(ctx, sizeof ctx, "%s: %s", w->path, what);
    cw_status st = CW_OK;
    hid_t sp = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = w_dcpl(w, rank, dims, 0, NULL), ds = -1;
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (sp < 0 || dcpl < 0 || np < 0 ||
        (ds = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT)) < 0)
        st = cw_fail(CW_EIO, "%s: cannot create the dataset", ctx);
    else if (np > 0 && H5Dwrite(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        st = cw_fail(CW_EIO, "%s: cannot write %lld values (disk full?)", ctx, (long long)np);
    if (st == CW_OK && enc) st = cw_h5_set_encoding(ds, enc, "0.2.0", ctx);
    cw_h5_close(&ds);
    cw_h5_close(&dcpl);
    cw_h5_close(&sp);
    return st;
}

/* 1-D vlen UTF-8 string dataset; entries must not be NULL. */
static cw_status w_strings(cw_h5ad_writer *w, hid_t loc, const char *name, const char *what,
                           char *const *s, int64_t n, const char *enc) {
    hid_t t = cw_h5_vlen_utf8();
    if (t < 0) return cw_fail(CW_EIO, "%s: %s: cannot build a string type", w->path, what);
    hsize_t d = (hsize_t)n;
    cw_status st = w_dataset(w, loc, name, what, t, t, 1, &d, s, enc);
    cw_h5_close(&t);
    return st;
}

static cw_status w_group(cw_h5ad_writer *w, hid_t loc, const char *name, const char *what,
                         const char *enc, const char *ver, hid_t *out) {
    hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
    if (gcpl >= 0) H5Pset_obj_track_times(gcpl, 0);
    *out = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl >= 0 ? gcpl : H5P_DEFAULT, H5P_DEFAULT);
    cw_h5_close(&gcpl);
    if (*out < 0) return cw_fail(CW_EIO, "%s: %s: cannot create the group", w->path, what);
    char ctx[1200];
    snprintf(ctx, sizeof ctx, "%s: %s", w->path, what);
    cw_status st = cw_h5_set_encoding(*out, enc, ver, ctx);
    if (st != CW_OK) cw_h5_close(out);
    return st;
}

static int valid_name(const char *s) {
    return s && s[0] && !strchr(s, '/') && strcmp(s, ".") != 0 && strcmp(s, "..") != 0;
}

/* ---- open / commit / abort --------------------------------------------------------------------
 */

cw_status cw_h5ad_writer_open(const char *path, int gzip_level, cw_h5ad_writer **out) {
    *out = NULL;
    if (!path || !path[0]) return cw_fail(CW_EINVAL, "h5ad writer: empty output path");
    if (gzip_level < 0 || gzip_level > 9)
        return cw_fail(CW_EINVAL, "%s: gzip level %d outside 0..9", path, gzip_level);
    CW_TRY(cw_h5_setup());
    /* the directory must exist and be writable: fail before any work is done */
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == path) snprintf(dir, sizeof dir, "/");
    else snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return cw_fail(CW_EIO, "%s: cannot write: directory %s: %s", path, dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return cw_fail(CW_EIO, "%s: cannot write: %s is not a directory", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return cw_fail(CW_EIO, "%s: cannot write: directory %s is not writable: %s", path, dir,
                       strerror(errno));
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return cw_fail(CW_EIO, "%s: cannot write: it is a directory", path);
    cw_h5ad_writer *w = cw_calloc(1, sizeof *w);
    if (!w) return cw_fail(CW_ENOMEM, "%s: out of memory", path);
    w->file = w->cd = w->ci = w->cp = -1;
    w->n_obs = w->n_vars = -1;
    w->gzip = gzip_level;
    size_t tl = strlen(path) + 32;
    w->path = cw_strdup(path);
    w->tmp = cw_malloc(tl);
    if (!w->path || !w->tmp) {
        cw_free(w->path);
        cw_free(w->tmp);
        cw_free(w);
        return cw_fail(CW_ENOMEM, "%s: out of memory", path);
    }
    snprintf(w->tmp, tl, "%s.tmp-%ld", path, (long)getpid());
    cw_status st = CW_OK;
    hid_t fapl = cw_h5_fapl();
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0) H5Pset_obj_track_times(fcpl, 0);
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, fcpl >= 0 ? fcpl : H5P_DEFAULT,
                        fapl >= 0 ? fapl : H5P_DEFAULT);
    cw_h5_close(&fcpl);
    cw_h5_close(&fapl);
    if (w->file < 0) st = cw_fail(CW_EIO, "%s: cannot create the temporary file %s", path, w->tmp);
    char ctx[4200];
    snprintf(ctx, sizeof ctx, "%s: /", path);
    if (st == CW_OK) st = cw_h5_set_encoding(w->file, "anndata", "0.1.0", ctx);
    const char *groups[] = {"layers", "obsm", "obsp", "uns", "varm", "varp"};
    for (int i = 0; st == CW_OK && i < 6; i++) {
        hid_t g = -1;
        char what[32];
        snprintf(what, sizeof what, "/%s", groups[i]);
        st = w_group(w, w->file, groups[i], what, "dict", "0.1.0", &g);
        cw_h5_close(&g);
    }
    if (st != CW_OK) {
        cw_h5ad_writer_abort(w);
        return st;
    }
    *out = w;
    return CW_OK;
}

static cw_status w_default_dataframe(cw_h5ad_writer *w, const char *df, int64_t n) {
    cw_strings idx;
    CW_TRY(cw_strings_alloc(&idx, n));
    cw_status st = CW_OK;
    for (int64_t i = 0; st == CW_OK && i < n; i++) {
        char b[32];
        snprintf(b, sizeof b, "%lld", (long long)i);
        st = cw_strings_set(&idx, i, b);
    }
    if (st == CW_OK) st = cw_h5ad_write_dataframe(w, df, &idx, NULL, 0);
    cw_strings_free(&idx);
    return st;
}

cw_status cw_h5ad_writer_commit(cw_h5ad_writer *w) {
    cw_status st = w_check(w);
    if (!w) return st;
    if (st == CW_OK && w->csr_open)
        st = w_fail(w, cw_fail(CW_EINVAL,
                               "%s: /X: streaming CSR not finished (call "
                               "cw_h5ad_write_x_csr_end before commit)",
                               w->path));
    /* anndata needs obs and var: default indices "0", "1", ... like anndata's own */
    if (st == CW_OK && !w->have_obs)
        st = w_default_dataframe(w, "obs", w->n_obs > 0 ? w->n_obs : 0);
    if (st == CW_OK && !w->have_var)
        st = w_default_dataframe(w, "var", w->n_vars > 0 ? w->n_vars : 0);
    if (st == CW_OK) {
        herr_t r = H5Fclose(w->file);
        w->file = -1;
        if (r < 0)
            st = w_fail(w, cw_fail(CW_EIO, "%s: closing %s failed (disk full?)", w->path, w->tmp));
    }
    if (st == CW_OK && rename(w->tmp, w->path) != 0)
        st = w_fail(w, cw_fail(CW_EIO, "%s: cannot rename %s onto it: %s", w->path, w->tmp,
                               strerror(errno)));
    if (w) {
        if (st != CW_OK) w_fail(w, st);
        cw_free(w->path);
        cw_free(w->tmp);
        cw_free(w);
    }
    return st;
}

void cw_h5ad_writer_abort(cw_h5ad_writer *w) {
    if (!w) return;
    w_close_all(w);
    if (w->tmp) unlink(w->tmp);
    cw_free(w->path);
    cw_free(w->tmp);
    cw_free(w);
}

/* ---- X -------------------------------------------------------------------------------------- */

static cw_status w_check_shape(cw_h5ad_writer *w, int64_t nrows, int64_t ncols) {
    if (w->have_x || w->csr_open) return cw_fail(CW_EINVAL, "%s: /X: already written", w->path);
    if (nrows < 0 || ncols < 0 || ncols > INT32_MAX)
        return cw_fail(CW_EINVAL, "%s: /X: bad shape %lld x %lld", w->path, (long long)nrows,
                       (long long)ncols);
    if ((w->n_obs >= 0 && w->n_obs != nrows) || (w->n_vars >= 0 && w->n_vars != ncols))
        return cw_fail(CW_EINVAL,
                       "%s: /X: %lld x %lld does not match the %lld obs and %lld vars "
                       "written before",
                       w->path, (long long)nrows, (long long)ncols, (long long)w->n_obs,
                       (long long)w->n_vars);
    return CW_OK;
}

cw_status cw_h5ad_write_x_dense(cw_h5ad_writer *w, const float *x, int64_t nrows, int64_t ncols) {
    CW_TRY(w_check(w));
    cw_status st = w_check_shape(w, nrows, ncols);
    hsize_t d[2] = {(hsize_t)nrows, (hsize_t)ncols};
    hid_t ft = H5Tcopy(H5T_IEEE_F32LE);
    if (st == CW_OK && ft < 0) st = cw_fail(CW_EIO, "%s: /X: cannot build a type", w->path);
    if (st == CW_OK) st = w_dataset(w, w->file, "X", "/X", ft, H5T_NATIVE_FLOAT, 2, d, x, "array");
    cw_h5_close(&ft);
    if (st != CW_OK) return w_fail(w, st);
    w->have_x = 1;
    w->n_obs = nrows;
    w->n_vars = ncols;
    return CW_OK;
}

static hid_t w_extendible(cw_h5ad_writer *w, hid_t g, const char *name, hid_t ftype,
                          hsize_t chunk) {
    hsize_t zero = 0, maxd = H5S_UNLIMITED;
    hid_t sp = H5Screate_simple(1, &zero, &maxd);
    hid_t dcpl = w_dcpl(w, 1, &zero, 1, &chunk), ds = -1;
    if (sp >= 0 && dcpl >= 0) ds = H5Dcreate2(g, name, ftype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    cw_h5_close(&dcpl);
    cw_h5_close(&sp);
    return ds;
}

cw_status cw_h5ad_write_x_csr_begin(cw_h5ad_writer *w, int64_t nrows, int64_t ncols) {
    CW_TRY(w_check(w));
    cw_status st = w_check_shape(w, nrows, ncols);
    if (st != CW_OK) return w_fail(w, st);
    hid_t g = -1;
    char ctx[1200];
    snprintf(ctx, sizeof ctx, "%s: /X", w->path);
    st = w_group(w, w->file, "X", "/X", "csr_matrix", "0.1.0", &g);
    int64_t shape[2] = {nrows, ncols};
    if (st == CW_OK) st = cw_h5_write_attr_int64s(g, "shape", shape, 2, ctx);
    if (st == CW_OK) {
        /* chunks of up to 64 Ki entries, smaller for small matrices (uncompressed chunks are
         * allocated whole) */
        int64_t cells = nrows * ncols;
        hsize_t chunk =
            (hsize_t)(cells < CW_W_CHUNK_ELEMS ? (cells > 0 ? cells : 1) : CW_W_CHUNK_ELEMS);
        w->cd = w_extendible(w, g, "data", H5T_IEEE_F32LE, chunk);
        /* indices and indptr share one integer type, as scipy requires (mixed int32 indices
         * and int64 indptr break row subsetting in scipy 1.10): int32 when no entry count can
         * reach 2^31, else int64. HDF5 converts from the int32/int64 memory buffers. */
        hid_t itype = cells < INT32_MAX ? H5T_STD_I32LE : H5T_STD_I64LE;
        w->ci = w_extendible(w, g, "indices", itype, chunk);
        hsize_t np = (hsize_t)nrows + 1;
        hid_t sp = H5Screate_simple(1, &np, NULL), dcpl = w_dcpl(w, 1, &np, 0, NULL);
        if (sp >= 0 && dcpl >= 0)
            w->cp = H5Dcreate2(g, "indptr", itype, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        cw_h5_close(&dcpl);
        cw_h5_close(&sp);
        if (w->cd < 0 || w->ci < 0 || w->cp < 0)
            st = cw_fail(CW_EIO, "%s: cannot create data, indices and indptr", ctx);
    }
    cw_h5_close(&g);
    if (st != CW_OK) return w_fail(w, st);
    w->csr_open = 1;
    w->csr_rows = nrows;
    w->csr_done = 0;
    w->csr_nnz = 0;
    w->n_obs = nrows;
    w->n_vars = ncols;
    return CW_OK;
}

/* Writes n values of buf (memtype) at offset off of the 1-D dataset ds. */
static cw_status w_slab(hid_t ds, int64_t off, int64_t n, hid_t memtype, const void *buf) {
    if (n <= 0) return CW_OK;
    hsize_t start = (hsize_t)off, count = (hsize_t)n;
    hid_t fsp = H5Dget_space(ds), msp = H5Screate_simple(1, &count, NULL);
    herr_t r = -1;
    if (fsp >= 0 && msp >= 0 &&
        H5Sselect_hyperslab(fsp, H5S_SELECT_SET, &start, NULL, &count, NULL) >= 0)
        r = H5Dwrite(ds, memtype, msp, fsp, H5P_DEFAULT, buf);
    cw_h5_close(&msp);
    cw_h5_close(&fsp);
    return r < 0 ? CW_EIO : CW_OK;
}

cw_status cw_h5ad_write_x_csr_append(cw_h5ad_writer *w, const cw_csr *b) {
    CW_TRY(w_check(w));
    char ctx[1200];
    snprintf(ctx, sizeof ctx, "%s: /X", w->path);
    if (!w->csr_open)
        return w_fail(w, cw_fail(CW_EINVAL, "%s: append without cw_h5ad_write_x_csr_begin", ctx));
    if (b->ncols != w->n_vars || b->nrows < 0 || b->nrows > w->csr_rows - w->csr_done)
        return w_fail(w,
                      cw_fail(CW_EINVAL,
                              "%s: block of %lld x %lld does not fit: %lld of %lld "
                              "rows written, %lld columns",
                              ctx, (long long)b->nrows, (long long)b->ncols, (long long)w->csr_done,
                              (long long)w->csr_rows, (long long)w->n_vars));
    if (b->nrows == 0) return CW_OK;
    if (b->indptr[0] != 0)
        return w_fail(w, cw_fail(CW_EINVAL, "%s: block indptr[0] is %lld, expected 0", ctx,
                                 (long long)b->indptr[0]));
    int64_t nnz = b->indptr[b->nrows];
    for (int64_t r = 0; r < b->nrows; r++)
        if (b->indptr[r + 1] < b->indptr[r])
            return w_fail(
                w, cw_fail(CW_EINVAL, "%s: block indptr decreases at row %lld", ctx, (long long)r));
    if (nnz > b->nnz)
        return w_fail(w, cw_fail(CW_EINVAL, "%s: block indptr ends at %lld but nnz is %lld", ctx,
                                 (long long)nnz, (long long)b->nnz));
    for (int64_t k = 0; k < nnz; k++)
        if (b->indices[k] < 0 || b->indices[k] >= w->n_vars)
            return w_fail(w, cw_fail(CW_EINVAL, "%s: column index %d outside [0, %lld)", ctx,
                                     b->indices[k], (long long)w->n_vars));
    cw_status st = CW_OK;
    hsize_t newlen = (hsize_t)(w->csr_nnz + nnz);
    if (nnz > 0 && (H5Dset_extent(w->cd, &newlen) < 0 || H5Dset_extent(w->ci, &newlen) < 0 ||
                    w_slab(w->cd, w->csr_nnz, nnz, H5T_NATIVE_FLOAT, b->data) != CW_OK ||
                    w_slab(w->ci, w->csr_nnz, nnz, H5T_NATIVE_INT32, b->indices) != CW_OK))
        st = cw_fail(CW_EIO, "%s: cannot write %lld entries (disk full?)", ctx, (long long)nnz);
    /* row pointers, shifted by the entries already written, through a small stack buffer */
    int64_t buf[1024];
    if (st == CW_OK && w->csr_done == 0) {
        buf[0] = 0;
        if (w_slab(w->cp, 0, 1, H5T_NATIVE_INT64, buf) != CW_OK)
            st = cw_fail(CW_EIO, "%s: cannot write indptr", ctx);
    }
    for (int64_t r0 = 0; st == CW_OK && r0 < b->nrows; r0 += 1024) {
        int64_t n = b->nrows - r0 < 1024 ? b->nrows - r0 : 1024;
        for (int64_t i = 0; i < n; i++) buf[i] = w->csr_nnz + b->indptr[r0 + i + 1];
        if (w_slab(w->cp, w->csr_done + r0 + 1, n, H5T_NATIVE_INT64, buf) != CW_OK)
            st = cw_fail(CW_EIO, "%s: cannot write indptr (disk full?)", ctx);
    }
    if (st != CW_OK) return w_fail(w, st);
    w->csr_done += b->nrows;
    w->csr_nnz += nnz;
    return CW_OK;
}

cw_status cw_h5ad_write_x_csr_end(cw_h5ad_writer *w) {
    CW_TRY(w_check(w));
    if (!w->csr_open)
        return w_fail(w,
                      cw_fail(CW_EINVAL, "%s: /X: end without cw_h5ad_write_x_csr_begin", w->path));
    if (w->csr_done != w->csr_rows)
        return w_fail(w, cw_fail(CW_EINVAL, "%s: /X: %lld of %lld rows written at end", w->path,
                                 (long long)w->csr_done, (long long)w->csr_rows));
    if (w->csr_rows == 0) { /* no append ever wrote indptr[0] */
        int64_t zero = 0;
        if (w_slab(w->cp, 0, 1, H5T_NATIVE_INT64, &zero) != CW_OK)
            return w_fail(w, cw_fail(CW_EIO, "%s: /X/indptr: cannot write", w->path));
    }
    cw_h5_close(&w->cd);
    cw_h5_close(&w->ci);
    cw_h5_close(&w->cp);
    w->csr_open = 0;
    w->have_x = 1;
    return CW_OK;
}

/* ---- dataframes ------------------------------------------------------------------------------ */

static cw_status w_categorical(cw_h5ad_writer *w, hid_t g, const cw_column *c, const char *what) {
    char ctx[1200], sub[1300];
    snprintf(ctx, sizeof ctx, "%s: %s", w->path, what);
    int64_t ncat = c->categories.n;
    for (int64_t i = 0; i < ncat; i++)
        if (!c->categories.s[i])
            return cw_fail(CW_EINVAL, "%s: category %lld is missing (NULL)", ctx, (long long)i);
    for (int64_t i = 0; i < c->n; i++)
        if (c->codes[i] < -1 || c->codes[i] >= ncat)
            return cw_fail(CW_EINVAL, "%s: code %d at row %lld outside [-1, %lld)", ctx,
                           c->codes[i], (long long)i, (long long)ncat);
    hid_t cg = -1;
    cw_status st = w_group(w, g, c->name, what, "categorical", "0.2.0", &cg);
    if (st == CW_OK) st = cw_h5_write_attr_bool(cg, "ordered", 0, ctx);
    snprintf(sub, sizeof sub, "%s/categories", what);
    if (st == CW_OK)
        st = w_strings(w, cg, "categories", sub, c->categories.s, ncat, "string-array");
    /* pandas' code width: int8 up to 127 categories, int16 up to 32767, else int32 */
    hid_t ct = ncat < 128 ? H5T_STD_I8LE : ncat < 32768 ? H5T_STD_I16LE : H5T_STD_I32LE;
    hsize_t d = (hsize_t)c->n;
    snprintf(sub, sizeof sub, "%s/codes", what);
    if (st == CW_OK)
        st = w_dataset(w, cg, "codes", sub, ct, H5T_NATIVE_INT32, 1, &d, c->codes, "array");
    cw_h5_close(&cg);
    return st;
}

static cw_status w_column(cw_h5ad_writer *w, hid_t g, const char *df, const cw_column *c,
                          int64_t n) {
    char what[1100], ctx[1200];
    snprintf(what, sizeof what, "/%s/%s", df, c->name ? c->name : "");
    snprintf(ctx, sizeof ctx, "%s: %s", w->path, what);
    if (!valid_name(c->name) || strcmp(c->name, "_index") == 0 ||
        strcmp(c->name, "__categories") == 0)
        return cw_fail(CW_EINVAL, "%s: invalid column name", ctx);
    if (c->n != n)
        return cw_fail(CW_EINVAL, "%s: %lld values for %lld rows", ctx, (long long)c->n,
                       (long long)n);
    hsize_t d = (hsize_t)n;
    if (c->kind == CW_COL_STRING) {
        if (c->is_categorical) {
            if (!c->codes) return cw_fail(CW_EINVAL, "%s: categorical column without codes", ctx);
            return w_categorical(w, g, c, what);
        }
        int missing = 0;
        for (int64_t i = 0; i < n && !missing; i++) missing = c->values.s[i] == NULL;
        if (!missing) return w_strings(w, g, c->name, what, c->values.s, n, "string-array");
        /* a string array cannot hold missing values: store it as a categorical (as anndata's
         * strings_to_categoricals would) */
        cw_column cat;
        CW_TRY(cw_column_categorical(&cat, c->name, &c->values));
        cw_status st = w_categorical(w, g, &cat, what);
        cw_column_free(&cat);
        return st;
    }
    if (c->kind != CW_COL_NUMERIC)
        return cw_fail(CW_EINVAL, "%s: unknown column kind %d", ctx, (int)c->kind);
    if (c->is_bool) {
        signed char *b = cw_malloc((size_t)(n > 0 ? n : 1));
        if (!b) return cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
        cw_status st = CW_OK;
        for (int64_t i = 0; i < n && st == CW_OK; i++) {
            if (c->num[i] != 0.0 && c->num[i] != 1.0)
                st = cw_fail(CW_EINVAL, "%s: bool column holds %g at row %lld", ctx, c->num[i],
                             (long long)i);
            b[i] = c->num[i] != 0.0;
        }
        hid_t bt = cw_h5_bool_type();
        if (st == CW_OK && bt < 0) st = cw_fail(CW_EIO, "%s: cannot build the bool type", ctx);
        if (st == CW_OK) st = w_dataset(w, g, c->name, what, bt, bt, 1, &d, b, "array");
        cw_h5_close(&bt);
        cw_free(b);
        return st;
    }
    if (c->is_integer) {
        for (int64_t i = 0; i < n; i++)
            if (!(c->num[i] == floor(c->num[i]) && fabs(c->num[i]) < 9.2e18))
                return cw_fail(CW_EINVAL, "%s: integer column holds %g at row %lld", ctx, c->num[i],
                               (long long)i);
        return w_dataset(w, g, c->name, what, H5T_STD_I64LE, H5T_NATIVE_DOUBLE, 1, &d, c->num,
                         "array");
    }
    return w_dataset(w, g, c->name, what, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, &d, c->num,
                     "array");
}

cw_status cw_h5ad_write_dataframe(cw_h5ad_writer *w, const char *df, const cw_strings *index,
                                  const cw_column *cols, int ncols) {
    CW_TRY(w_check(w));
    int is_obs = df && strcmp(df, "obs") == 0;
    if (!df || (!is_obs && strcmp(df, "var") != 0))
        return w_fail(w, cw_fail(CW_EINVAL, "%s: dataframe must be \"obs\" or \"var\", not \"%s\"",
                                 w->path, df ? df : "(null)"));
    char ctx[1200], what[64];
    snprintf(what, sizeof what, "/%s", df);
    snprintf(ctx, sizeof ctx, "%s: /%s", w->path, df);
    int64_t n = index->n, *known = is_obs ? &w->n_obs : &w->n_vars;
    if (is_obs ? w->have_obs : w->have_var)
        return w_fail(w, cw_fail(CW_EINVAL, "%s: already written", ctx));
    if (*known >= 0 && *known != n)
        return w_fail(w, cw_fail(CW_EINVAL, "%s: %lld names, but X has %lld %s", ctx, (long long)n,
                                 (long long)*known, is_obs ? "rows" : "columns"));
    for (int64_t i = 0; i < n; i++)
        if (!index->s[i])
            return w_fail(
                w, cw_fail(CW_EINVAL, "%s: index entry %lld is missing (NULL)", ctx, (long long)i));
    for (int i = 0; i < ncols; i++)
        for (int j = 0; j < i; j++)
            if (cols[i].name && cols[j].name && strcmp(cols[i].name, cols[j].name) == 0)
                return w_fail(w,
                              cw_fail(CW_EINVAL, "%s: column %s given twice", ctx, cols[i].name));
    const char **order = cw_malloc_array((size_t)(ncols > 0 ? ncols : 1), sizeof *order);
    if (!order) return w_fail(w, cw_fail(CW_ENOMEM, "%s: out of memory", ctx));
    for (int i = 0; i < ncols; i++) order[i] = cols[i].name ? cols[i].name : "";
    hid_t g = -1;
    cw_status st = w_group(w, w->file, df, what, "dataframe", "0.2.0", &g);
    if (st == CW_OK) st = cw_h5_write_attr_string(g, "_index", "_index", ctx);
    if (st == CW_OK) st = cw_h5_write_attr_strings(g, "column-order", order, ncols, ctx);
    char iw[80];
    snprintf(iw, sizeof iw, "/%s/_index", df);
    if (st == CW_OK) st = w_strings(w, g, "_index", iw, index->s, n, "string-array");
    for (int i = 0; st == CW_OK && i < ncols; i++) st = w_column(w, g, df, &cols[i], n);
    cw_h5_close(&g);
    cw_free(order);
    if (st != CW_OK) return w_fail(w, st);
    *known = n;
    if (is_obs) w->have_obs = 1;
    else w->have_var = 1;
    return CW_OK;
}

cw_status cw_h5ad_write_obsm(cw_h5ad_writer *w, const char *key, const cw_dmat *m) {
    CW_TRY(w_check(w));
    char what[1100];
    snprintf(what, sizeof what, "/obsm/%s", key ? key : "");
    if (!valid_name(key))
        return w_fail(w, cw_fail(CW_EINVAL, "%s: %s: invalid key", w->path, what));
    if (w->n_obs >= 0 && m->nrows != w->n_obs)
        return w_fail(w, cw_fail(CW_EINVAL, "%s: %s: %lld rows, but there are %lld obs", w->path,
                                 what, (long long)m->nrows, (long long)w->n_obs));
    if (cw_h5_exists(w->file, what))
        return w_fail(w, cw_fail(CW_EINVAL, "%s: %s: already written", w->path, what));
    hid_t g = H5Gopen2(w->file, "/obsm", H5P_DEFAULT);
    hsize_t d[2] = {(hsize_t)m->nrows, (hsize_t)m->ncols};
    cw_status st = g < 0 ? cw_fail(CW_EIO, "%s: /obsm: cannot open", w->path)
                         : w_dataset(w, g, key, what, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2, d,
                                     m->data, "array");
    cw_h5_close(&g);
    if (st != CW_OK) return w_fail(w, st);
    w->n_obs = m->nrows;
    return CW_OK;
}

/* ---- uns ------------------------------------------------------------------------------------- */

/* Opens (creating as "dict" groups) the parents of /uns/<path>; *leaf points into path at the
 * final name. The final name must not exist yet. */
static cw_status w_uns_parent(cw_h5ad_writer *w, const char *path, hid_t *g, const char **leaf,
                              char *what, size_t cap) {
    *g = -1;
    snprintf(what, cap, "/uns/%s", path ? path : "");
    if (!path || !path[0] || path[0] == '/' || path[strlen(path) - 1] == '/' || strstr(path, "//"))
        return cw_fail(CW_EINVAL, "%s: %s: invalid uns path", w->path, what);
    if (strlen(what) >= cap - 1) return cw_fail(CW_EINVAL, "%s: %s: path too long", w->path, what);
    if (cw_h5_exists(w->file, what))
        return cw_fail(CW_EINVAL, "%s: %s: already written", w->path, what);
    *g = H5Gopen2(w->file, "/uns", H5P_DEFAULT);
    if (*g < 0) return cw_fail(CW_EIO, "%s: /uns: cannot open", w->path);
    const char *p = path;
    for (;;) {
        const char *slash = strchr(p, '/');
        if (!slash) break;
        char name[1024];
        size_t len = (size_t)(slash - p);
        if (len >= sizeof name) return cw_fail(CW_EINVAL, "%s: %s: name too long", w->path, what);
        memcpy(name, p, len);
        name[len] = '\0';
        if (!valid_name(name)) return cw_fail(CW_EINVAL, "%s: %s: invalid uns path", w->path, what);
        hid_t next = -1;
        H5O_type_t t = cw_h5_obj_type(*g, name);
        if (t == H5O_TYPE_GROUP) {
            next = H5Gopen2(*g, name, H5P_DEFAULT);
            if (next < 0)
                return cw_fail(CW_EIO, "%s: %s: cannot open a parent group", w->path, what);
        } else if (t == H5O_TYPE_UNKNOWN) {
            char gw[1100];
            snprintf(gw, sizeof gw, "/uns/%.*s", (int)(slash - path), path);
            CW_TRY(w_group(w, *g, name, gw, "dict", "0.1.0", &next));
        } else {
            return cw_fail(CW_EINVAL, "%s: %s: a parent (%s) is a dataset, not a dict", w->path,
                           what, name);
        }
        cw_h5_close(g);
        *g = next;
        p = slash + 1;
    }
    if (!valid_name(p)) return cw_fail(CW_EINVAL, "%s: %s: invalid uns path", w->path, what);
    *leaf = p;
    return CW_OK;
}

/* Shared body of the uns writers: a dataset of rank (0..2) at /uns/<path>. */
static cw_status w_uns(cw_h5ad_writer *w, const char *path, hid_t ftype, hid_t memtype, int rank,
                       const hsize_t *dims, const void *buf, const char *enc) {
    CW_TRY(w_check(w));
    hid_t g = -1;
    const char *leaf = NULL;
    char what[1100];
    cw_status st = w_uns_parent(w, path, &g, &leaf, what, sizeof what);
    if (st == CW_OK) st = w_dataset(w, g, leaf, what, ftype, memtype, rank, dims, buf, enc);
    cw_h5_close(&g);
    return w_fail(w, st);
}

cw_status cw_h5ad_write_uns_string(cw_h5ad_writer *w, const char *path, const char *value) {
    hid_t t = cw_h5_vlen_utf8();
    const char *v = value ? value : "";
    cw_status st = t < 0 ? cw_fail(CW_EIO, "%s: cannot build a string type", w ? w->path : "")
                         : w_uns(w, path, t, t, 0, NULL, &v, "string");
    cw_h5_close(&t);
    return w ? w_fail(w, st) : st;
}

cw_status cw_h5ad_write_uns_strings(cw_h5ad_writer *w, const char *path, const cw_strings *v) {
    CW_TRY(w_check(w));
    for (int64_t i = 0; i < v->n; i++)
        if (!v->s[i])
            return w_fail(w, cw_fail(CW_EINVAL, "%s: /uns/%s: entry %lld is missing (NULL)",
                                     w->path, path ? path : "", (long long)i));
    hid_t t = cw_h5_vlen_utf8();
    hsize_t d = (hsize_t)v->n;
    cw_status st = t < 0 ? cw_fail(CW_EIO, "%s: cannot build a string type", w->path)
                         : w_uns(w, path, t, t, 1, &d, v->s, "string-array");
    cw_h5_close(&t);
    return w_fail(w, st);
}

cw_status cw_h5ad_write_uns_double(cw_h5ad_writer *w, const char *path, double value) {
    return w_uns(w, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, NULL, &value, "numeric-scalar");
}

cw_status cw_h5ad_write_uns_int(cw_h5ad_writer *w, const char *path, int64_t value) {
    return w_uns(w, path, H5T_STD_I64LE, H5T_NATIVE_INT64, 0, NULL, &value, "numeric-scalar");
}

cw_status cw_h5ad_write_uns_doubles(cw_h5ad_writer *w, const char *path, const double *v,
                                    int64_t nrows, int64_t ncols) {
    hsize_t d[2] = {(hsize_t)nrows, (hsize_t)ncols};
    if (nrows < 0 || ncols < 0) {
        CW_TRY(w_check(w));
        return w_fail(w, cw_fail(CW_EINVAL, "%s: /uns/%s: bad shape", w->path, path));
    }
    return w_uns(w, path, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, ncols == 0 ? 1 : 2, d, v, "array");
}

cw_status cw_h5ad_write_uns_int64s(cw_h5ad_writer *w, const char *path, const int64_t *v,
                                   int64_t nrows, int64_t ncols) {
    hsize_t d[2] = {(hsize_t)nrows, (hsize_t)ncols};
    if (nrows < 0 || ncols < 0) {
        CW_TRY(w_check(w));
        return w_fail(w, cw_fail(CW_EINVAL, "%s: /uns/%s: bad shape", w->path, path));
    }
    return w_uns(w, path, H5T_STD_I64LE, H5T_NATIVE_INT64, ncols == 0 ? 1 : 2, d, v, "array");
}

/* ---- rank_genes_groups -------------------------------------------------------------------- */

/* A record array with one field per group of element type ftype (memory type mtype, element
 * size esz) from v (group-major: v[g * n_genes + r]). */
static cw_status w_rec_numbers(cw_h5ad_writer *w, hid_t g, const cw_deg_table *t, const char *key,
                               const double *v, int single) {
    if (!v) return CW_OK;
    char what[256];
    snprintf(what, sizeof what, "/uns/rank_genes_groups/%s", key);
    int64_t ng = t->n_groups, nr = t->n_genes;
    size_t esz = single ? sizeof(float) : sizeof(double);
    hid_t et = single ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
    hid_t rt = H5Tcreate(H5T_COMPOUND, (size_t)ng * esz);
    cw_status st =
        rt < 0 ? cw_fail(CW_EIO, "%s: %s: cannot build the record type", w->path, what) : CW_OK;
    for (int64_t gi = 0; st == CW_OK && gi < ng; gi++)
        if (H5Tinsert(rt, t->groups.s[gi], (size_t)gi * esz, et) < 0)
            st = cw_fail(CW_EIO, "%s: %s: cannot add field %s", w->path, what, t->groups.s[gi]);
    void *buf = st == CW_OK ? cw_malloc_array((size_t)(ng * nr > 0 ? ng * nr : 1), esz) : NULL;
    if (st == CW_OK && !buf) st = cw_fail(CW_ENOMEM, "%s: %s: out of memory", w->path, what);
    if (st == CW_OK) {
        for (int64_t r = 0; r < nr; r++)
            for (int64_t gi = 0; gi < ng; gi++) {
                double x = v[gi * nr + r];
                if (single) ((float *)buf)[r * ng + gi] = (float)x;
                else ((double *)buf)[r * ng + gi] = x;
            }
        hsize_t d = (hsize_t)nr;
        st = w_dataset(w, g, key, what, rt, rt, 1, &d, buf, "rec-array");
    }
    cw_free(buf);
    cw_h5_close(&rt);
    return st;
}

cw_status cw_h5ad_write_deg_table(cw_h5ad_writer *w, const cw_deg_table *t, const char *groupby,
                                  const char *reference, const char *method) {
    CW_TRY(w_check(w));
    const char *what = "/uns/rank_genes_groups";
    int64_t ng = t->n_groups, nr = t->n_genes;
    if (ng < 1 || nr < 0 || t->groups.n != ng || t->names.n != ng * nr)
        return w_fail(w, cw_fail(CW_EINVAL,
                                 "%s: %s: inconsistent table (%lld groups, %lld genes, "
                                 "%lld group names, %lld gene names)",
                                 w->path, what, (long long)ng, (long long)nr,
                                 (long long)t->groups.n, (long long)t->names.n));
    for (int64_t gi = 0; gi < ng; gi++) {
        if (!t->groups.s[gi] || !t->groups.s[gi][0])
            return w_fail(w, cw_fail(CW_EINVAL, "%s: %s: group %lld has no name", w->path, what,
                                     (long long)gi));
        for (int64_t j = 0; j < gi; j++)
            if (strcmp(t->groups.s[j], t->groups.s[gi]) == 0)
                return w_fail(w, cw_fail(CW_EINVAL, "%s: %s: group %s given twice", w->path, what,
                                         t->groups.s[gi]));
    }
    hid_t rg = -1, pg = -1, st_t = -1, rt = -1;
    const char *leaf = NULL;
    char wbuf[1100];
    cw_status st = w_uns_parent(w, "rank_genes_groups", &rg, &leaf, wbuf, sizeof wbuf);
    hid_t parent = rg;
    rg = -1;
    if (st == CW_OK) st = w_group(w, parent, leaf, what, "dict", "0.1.0", &rg);
    cw_h5_close(&parent);
    /* names: one vlen UTF-8 field per group, rows = ranks */
    const char **buf = NULL;
    if (st == CW_OK) {
        st_t = cw_h5_vlen_utf8();
        rt = H5Tcreate(H5T_COMPOUND, (size_t)ng * sizeof(char *));
        if (st_t < 0 || rt < 0)
            st = cw_fail(CW_EIO, "%s: %s/names: cannot build the record type", w->path, what);
    }
    for (int64_t gi = 0; st == CW_OK && gi < ng; gi++)
        if (H5Tinsert(rt, t->groups.s[gi], (size_t)gi * sizeof(char *), st_t) < 0)
            st = cw_fail(CW_EIO, "%s: %s/names: cannot add field %s", w->path, what,
                         t->groups.s[gi]);
    if (st == CW_OK) {
        buf = cw_malloc_array((size_t)(ng * nr > 0 ? ng * nr : 1), sizeof *buf);
        if (!buf) st = cw_fail(CW_ENOMEM, "%s: %s/names: out of memory", w->path, what);
    }
    if (st == CW_OK) {
        for (int64_t r = 0; r < nr; r++)
            for (int64_t gi = 0; gi < ng; gi++) {
                const char *s = t->names.s[gi * nr + r];
                buf[r * ng + gi] = s ? s : "";
            }
        hsize_t d = (hsize_t)nr;
        st = w_dataset(w, rg, "names", "/uns/rank_genes_groups/names", rt, rt, 1, &d, buf,
                       "rec-array");
    }
    cw_free(buf);
    cw_h5_close(&rt);
    /* scanpy's dtypes: scores, logfoldchanges float32; pvals, pvals_adj float64 */
    if (st == CW_OK) st = w_rec_numbers(w, rg, t, "scores", t->scores, 1);
    if (st == CW_OK) st = w_rec_numbers(w, rg, t, "pvals", t->pvals, 0);
    if (st == CW_OK) st = w_rec_numbers(w, rg, t, "pvals_adj", t->pvals_adj, 0);
    if (st == CW_OK) st = w_rec_numbers(w, rg, t, "logfoldchanges", t->logfoldchanges, 1);
    if (st == CW_OK)
        st = w_group(w, rg, "params", "/uns/rank_genes_groups/params", "dict", "0.1.0", &pg);
    const char *keys[] = {"groupby", "reference", "method", "corr_method"};
    const char *vals[] = {groupby, reference ? reference : "rest", method, "benjamini-hochberg"};
    for (int i = 0; st == CW_OK && i < 4; i++) {
        if (!vals[i]) continue;
        char pw[128];
        snprintf(pw, sizeof pw, "/uns/rank_genes_groups/params/%s", keys[i]);
        st = w_dataset(w, pg, keys[i], pw, st_t, st_t, 0, NULL, &vals[i], "string");
    }
    if (st == CW_OK) {
        hid_t bt = cw_h5_bool_type();
        signed char no = 0;
        st = bt < 0 ? cw_fail(CW_EIO, "%s: cannot build the bool type", w->path)
                    : w_dataset(w, pg, "use_raw", "/uns/rank_genes_groups/params/use_raw", bt, bt,
                                0, NULL, &no, "numeric-scalar");
        cw_h5_close(&bt);
    }
    cw_h5_close(&st_t);
    cw_h5_close(&pg);
    cw_h5_close(&rg);
    return w_fail(w, st);
}
