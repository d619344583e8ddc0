/* matrix.h: the two matrix containers of causeway.
 *   cw_csr  - compressed sparse rows, float32 values, int64 row pointers, int32 column indices
 *             (a row never has more than 2^31 columns; nnz may exceed 2^31).
 *   cw_dmat - dense row-major float64 (obsm embeddings, truth tables, CRL data).
 * Expression matrices in dense form are plain row-major float arrays (n_rows * n_cols).
 */
#ifndef CW_MATRIX_H
#define CW_MATRIX_H

#include "causeway.h"

#include <stdint.h>

typedef struct {
    int64_t nrows, ncols, nnz;
    int64_t *indptr;  /* nrows + 1, indptr[0] == 0 */
    int32_t *indices; /* nnz, sorted within a row */
    float *data;      /* nnz */
} cw_csr;

typedef struct {
    int64_t nrows, ncols;
    double *data; /* nrows * ncols, row-major */
} cw_dmat;

cw_status cw_csr_alloc(cw_csr *m, int64_t nrows, int64_t ncols, int64_t nnz);
void cw_csr_free(cw_csr *m);
/* Dense rows -> CSR (drops exact zeros). */
cw_status cw_csr_from_dense(cw_csr *out, const float *x, int64_t nrows, int64_t ncols);
/* Rows [row0, row0+n) of m into dense out (n * ncols floats). */
void cw_csr_rows_to_dense(const cw_csr *m, int64_t row0, int64_t n, float *out);

cw_status cw_dmat_alloc(cw_dmat *m, int64_t nrows, int64_t ncols);
void cw_dmat_free(cw_dmat *m);

#endif
