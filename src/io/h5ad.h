/* h5ad.h: reading and writing AnnData .h5ad files on the HDF5 C API.
 *
 * Implements issue #2 items 2-3 and spec grace_cmvae.md §2.1 (fields the models read).
 * Layouts understood by the reader:
 *   - anndata >= 0.8 ("encoding-type" attributes): X dense array or csr_matrix group
 *     (data float32/float64, indices int32/int64, indptr int32/int64); dataframes with `_index`
 *     attribute; categorical columns as groups {categories, codes} (code -1 = missing);
 *     string-array columns (variable or fixed length); numeric and bool columns.
 *   - anndata 0.7: X sparse as group with `h5sparse_format`/`h5sparse_shape`; categorical
 *     columns as code datasets whose `categories` attribute is an object reference into
 *     `<df>/__categories/<col>`.
 *   - uns/rank_genes_groups/{names,scores,pvals,pvals_adj,logfoldchanges}: compound "record
 *     array" datasets (one field per group; vlen or fixed-length strings), or a group of per-field
 *     datasets (legacy layouts).
 *   - gzip (deflate) and LZF compressed datasets; LZF through an in-process filter on liblzf
 *     registered by cw_h5ad_open / cw_h5ad_writer_open (h5py's filter id 32000).
 * All errors name the file and the HDF5 path: "data.h5ad: /obs/guide_ids: expected strings or
 * categorical, found int64".
 */
#ifndef CW_H5AD_H
#define CW_H5AD_H

#include "causeway.h"
#include "core/strings.h"
#include "la/matrix.h"

#include <stdint.h>

/* ---- columns of obs / var ---------------------------------------------------------------- */

typedef enum { CW_COL_STRING = 1, CW_COL_NUMERIC = 2 } cw_column_kind;

typedef struct {
    char *name;
    cw_column_kind kind;
    int64_t n;
    /* CW_COL_STRING: values.s[i] (NULL = missing). Always filled for string columns. */
    cw_strings values;
    /* categorical source/target encoding (string columns only): categories and int32 codes */
    int is_categorical;
    cw_strings categories;
    int32_t *codes; /* n, -1 = missing */
    /* CW_COL_NUMERIC: n doubles (bool -> 0/1, integers converted). */
    double *num;
    int is_bool, is_integer; /* source dtype hints, so the writer can round-trip */
} cw_column;

void cw_column_free(cw_column *c);
/* Builds a categorical string column from values (categories = sorted unique non-missing). */
cw_status cw_column_categorical(cw_column *out, const char *name, const cw_strings *values);
/* Builds a numeric column (copies v). */
cw_status cw_column_numeric(cw_column *out, const char *name, const double *v, int64_t n,
                            int is_integer);

/* ---- DEG table (scanpy rank_genes_groups) ------------------------------------------------ */

typedef struct {
    int64_t n_groups, n_genes; /* n_genes = rows of the record arrays (top genes per group) */
    cw_strings groups;         /* group (field) names in stored order */
    cw_strings names;          /* n_groups * n_genes, names[g * n_genes + r] */
    double *scores, *pvals, *pvals_adj, *logfoldchanges; /* same layout; NULL when absent */
} cw_deg_table;

void cw_deg_table_free(cw_deg_table *t);

/* ---- reader -------------------------------------------------------------------------------- */

typedef struct cw_h5ad cw_h5ad;

cw_status cw_h5ad_open(const char *path, cw_h5ad **out);
void cw_h5ad_close(cw_h5ad *h);
const char *cw_h5ad_path(const cw_h5ad *h);
int64_t cw_h5ad_n_obs(const cw_h5ad *h);
int64_t cw_h5ad_n_vars(const cw_h5ad *h);
int cw_h5ad_x_is_sparse(const cw_h5ad *h);
int64_t cw_h5ad_x_nnz(const cw_h5ad *h); /* stored entries; n_obs * n_vars when dense */

/* Rows [row0, row0 + nrows) of X as dense float32 (nrows * n_vars), any encoding. Reads only
 * those rows from disk (hyperslab), so X never has to fit in memory. */
cw_status cw_h5ad_read_x_dense_rows(cw_h5ad *h, int64_t row0, int64_t nrows, float *out);
/* The same rows as CSR (allocated; indptr rebased to 0; exact zeros of dense X dropped). */
cw_status cw_h5ad_read_x_csr_rows(cw_h5ad *h, int64_t row0, int64_t nrows, cw_csr *out);
/* All of X as CSR. */
cw_status cw_h5ad_read_x_csr(cw_h5ad *h, cw_csr *out);
/* Row sets, for streaming X (io/xstore.h). The stored row pointers of a CSR X (n_obs + 1,
 * checked non-decreasing within the stored data; CW_EINVAL for a dense X). */
cw_status cw_h5ad_read_x_indptr(cw_h5ad *h, int64_t *indptr);
/* The rows of a CSR X listed in rows (strictly ascending, else CW_EINVAL) into out, whose
 * buffers the caller sized: indptr n + 1, indices and data the rows' total entries (from
 * indptr, the array cw_h5ad_read_x_indptr returned). One read per run of consecutive rows;
 * out->indptr starts at 0; column indices are checked and sorted within rows. */
cw_status cw_h5ad_read_x_rowset(cw_h5ad *h, const int64_t *rows, int64_t n, const int64_t *indptr,
                                cw_csr *out);
/* The same rows as dense float32 (n * n_vars), any encoding of X. */
cw_status cw_h5ad_read_x_dense_rowset(cw_h5ad *h, const int64_t *rows, int64_t n, float *out);
/* Checks every stored value of X is finite, reading in blocks; error names the first bad cell. */
cw_status cw_h5ad_check_x_finite(cw_h5ad *h);

/* df is "obs" or "var". The index (obs_names / var_names). */
cw_status cw_h5ad_read_index(cw_h5ad *h, const char *df, cw_strings *out);
/* Column names in stored order (column-order attribute, else group members). */
cw_status cw_h5ad_list_columns(cw_h5ad *h, const char *df, cw_strings *out);
int cw_h5ad_has_column(cw_h5ad *h, const char *df, const char *name);
cw_status cw_h5ad_read_column(cw_h5ad *h, const char *df, const char *name, cw_column *out);

cw_status cw_h5ad_list_obsm(cw_h5ad *h, cw_strings *out);
cw_status cw_h5ad_read_obsm(cw_h5ad *h, const char *key, cw_dmat *out);
/* Rows 0, row_step, 2 row_step, ... of a dense obsm entry (ceil(n_obs / row_step) rows; only
 * those are read from the file). */
cw_status cw_h5ad_read_obsm_every(cw_h5ad *h, const char *key, int64_t row_step, cw_dmat *out);

/* 1 if an object exists at the absolute path (e.g. "/uns/rank_genes_groups/names"). */
int cw_h5ad_exists(cw_h5ad *h, const char *path);
/* Generic readers for uns and anything else, by absolute path. */
cw_status cw_h5ad_read_doubles(cw_h5ad *h, const char *path, cw_dmat *out); /* 0-, 1-, 2-D */
cw_status cw_h5ad_read_strings(cw_h5ad *h, const char *path, cw_strings *out); /* 0- or 1-D */
cw_status cw_h5ad_read_deg_table(cw_h5ad *h, cw_deg_table *out); /* uns/rank_genes_groups */

/* ---- writer -------------------------------------------------------------------------------- */
/* Writes to "<path>.tmp-<pid>" and renames onto path in cw_h5ad_writer_commit(); any failure
 * or cw_h5ad_writer_abort() removes the temporary file, so no half-written output remains.
 * Writes anndata >= 0.8 encodings (encoding-type / encoding-version attributes) and the empty
 * groups anndata expects (layers, obsm, varm, obsp, varp, uns). */

typedef struct cw_h5ad_writer cw_h5ad_writer;

/* Fails early (CW_EIO) when the directory of path is not writable. gzip_level 0 = none. */
cw_status cw_h5ad_writer_open(const char *path, int gzip_level, cw_h5ad_writer **out);
cw_status cw_h5ad_write_x_dense(cw_h5ad_writer *w, const float *x, int64_t nrows, int64_t ncols);
/* Streaming CSR: begin, append row blocks in order (each block's indptr starts at 0), end. */
cw_status cw_h5ad_write_x_csr_begin(cw_h5ad_writer *w, int64_t nrows, int64_t ncols);
cw_status cw_h5ad_write_x_csr_append(cw_h5ad_writer *w, const cw_csr *block);
cw_status cw_h5ad_write_x_csr_end(cw_h5ad_writer *w);
/* df is "obs" or "var". */
cw_status cw_h5ad_write_dataframe(cw_h5ad_writer *w, const char *df, const cw_strings *index,
                                  const cw_column *cols, int ncols);
cw_status cw_h5ad_write_obsm(cw_h5ad_writer *w, const char *key, const cw_dmat *m);
/* uns entries by path relative to /uns ("causeway_truth/dag"); groups are created as needed
 * (as anndata "dict" groups). ncols == 0 writes a 1-D array. */
cw_status cw_h5ad_write_uns_string(cw_h5ad_writer *w, const char *path, const char *value);
cw_status cw_h5ad_write_uns_strings(cw_h5ad_writer *w, const char *path, const cw_strings *v);
cw_status cw_h5ad_write_uns_double(cw_h5ad_writer *w, const char *path, double value);
cw_status cw_h5ad_write_uns_int(cw_h5ad_writer *w, const char *path, int64_t value);
cw_status cw_h5ad_write_uns_doubles(cw_h5ad_writer *w, const char *path, const double *v,
                                    int64_t nrows, int64_t ncols);
cw_status cw_h5ad_write_uns_int64s(cw_h5ad_writer *w, const char *path, const int64_t *v,
                                   int64_t nrows, int64_t ncols);
/* uns/rank_genes_groups as scanpy writes it (record arrays + params). */
cw_status cw_h5ad_write_deg_table(cw_h5ad_writer *w, const cw_deg_table *t,
                                  const char *groupby, const char *reference,
                                  const char *method);
cw_status cw_h5ad_writer_commit(cw_h5ad_writer *w); /* frees w */
void cw_h5ad_writer_abort(cw_h5ad_writer *w);        /* frees w, removes the temporary file */

#endif
