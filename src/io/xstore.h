/* xstore.h: the expression matrix X of an .h5ad as the models read it, rows by cell index,
 * either all in memory or streamed from the file under a memory cap (issue #6 item 5: train and
 * evaluate from a file larger than memory).
 *
 * Modes (chosen by cw_xstore_open from the cap):
 *   in memory  cap == 0, or all of X as CSR fits in the cap: X is read once.
 *   streaming  otherwise. Resident: the row pointers of a CSR X ((n_obs + 1) * 8 bytes) and one
 *              window of rows. The window holds CSR rows of 8 bytes per stored entry plus 16 per
 *              row (a dense X is converted, counted as n_vars entries per row), and never more
 *              than cap minus the row pointers.
 * Rows reach callers through
 *   cw_xstore_load    makes a set of rows the window; the trainer loads the rows of its next
 *                     batches at once, so the file is read in few sorted, coalesced reads;
 *   cw_xstore_gather  dense rows of any cells: from the window when all are in it, otherwise it
 *                     loads them (in pieces when they exceed the window);
 *   cw_xstore_block   contiguous rows as a CSR view, for passes over all cells in file order.
 * The values are the file's float32 values in every mode, so whatever is computed from a
 * streamed X equals the in-memory result bit for bit (tests/test_xstore.c, tests/test_train.c).
 * One caller at a time: HDF5 is never called concurrently.
 */
#ifndef CW_IO_XSTORE_H
#define CW_IO_XSTORE_H

#include "causeway.h"
#include "io/h5ad.h"
#include "la/matrix.h"

#include <stdint.h>

typedef struct {
    cw_h5ad *h; /* not owned */
    int64_t nrows, ncols;
    int64_t cap;          /* bytes; 0 = no cap */
    int streaming, dense; /* dense: the file stores X dense */
    int borrowed;         /* cw_xstore_wrap: all belongs to the caller */
    cw_csr all;           /* in memory: all of X */
    int64_t *file_indptr; /* streaming a CSR X: the file's row pointers */
    int64_t window_bytes; /* streaming: the window's budget */
    /* the window: rows win_rows[0 .. win.nrows), ascending, their entries in win */
    int64_t *win_rows;
    cw_csr win;
    int64_t win_cap_rows, win_cap_nnz;
    int64_t *scratch; /* sorted requests */
    int64_t scratch_cap;
    float *dense_buf; /* dense X: rows read before conversion */
    /* statistics */
    int64_t loads, rows_read, entries_read;
    double read_seconds;
} cw_xstore;

/* Opens X of h (which must outlive the store) with a cap in bytes (0 = in memory). On failure
 * *s is zeroed. CW_EINVAL when the cap cannot hold the row pointers and one row. */
cw_status cw_xstore_open(cw_xstore *s, cw_h5ad *h, int64_t cap);
void cw_xstore_close(cw_xstore *s);
/* An in-memory store over a matrix the caller keeps (no file): for code and tests that have X
 * in memory already. */
void cw_xstore_wrap(cw_xstore *s, const cw_csr *x);

/* The fraction of X's values the file stores: nnz / (n_obs n_vars) for a CSR X, 1 for a dense
 * one (every value stored), the same in memory and streaming; 1 for an empty X. */
double cw_xstore_stored_fraction(const cw_xstore *s);

/* Bytes one row takes in a window (0 in memory: nothing to plan). */
int64_t cw_xstore_row_bytes(const cw_xstore *s, int64_t row);

/* Makes these rows (any order, repeats allowed) the window. In memory: nothing to do.
 * CW_EINVAL when their distinct rows exceed the window budget. */
cw_status cw_xstore_load(cw_xstore *s, const int64_t *rows, int64_t n);

/* 1 when every cell's row can be read without loading. */
int cw_xstore_resident(const cw_xstore *s, const int64_t *cells, int64_t n);

/* Dense rows of the cells (n * ncols floats, row r = cell cells[r]). */
cw_status cw_xstore_gather(cw_xstore *s, const int64_t *cells, int64_t n, float *out);

/* The same rows as CSR into out (sorted column indices, indptr from 0). out's arrays are grown
 * with cw_realloc as needed (*cap_rows, *cap_nnz: their capacities, 0 for a zeroed out), so a
 * caller that reuses out allocates only while its batches grow. Streaming: rows not in the
 * window are loaded (CW_EINVAL when they do not fit it). */
cw_status cw_xstore_gather_csr(cw_xstore *s, const int64_t *cells, int64_t n, cw_csr *out,
                               int64_t *cap_rows, int64_t *cap_nnz);

/* Rows [row0, row0 + *n) as a CSR view, *n <= max_rows as many as fit the window (>= 1).
 * Row r of the view has entries view->indptr[r] .. view->indptr[r + 1] of data / indices
 * (view->indptr[0] need not be 0). Valid until the next call on s. */
cw_status cw_xstore_block(cw_xstore *s, int64_t row0, int64_t max_rows, cw_csr *view, int64_t *n);

/* Parses a size: bytes, or a number with K, M, G or T (powers of 1024), e.g. "512M", "2.5G".
 * -1 when malformed or not positive. */
int64_t cw_parse_bytes(const char *text);

#endif
