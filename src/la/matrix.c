/* matrix.c: allocation and conversions of the CSR and dense containers (matrix.h). */
#include "la/matrix.h"

#include "core/alloc.h"
#include "core/status.h"

#include <string.h>

cw_status cw_csr_alloc(cw_csr *m, int64_t nrows, int64_t ncols, int64_t nnz) {
    memset(m, 0, sizeof *m);
    m->indptr = cw_calloc((size_t)nrows + 1, sizeof(int64_t));
    m->indices = cw_malloc_array((size_t)(nnz > 0 ? nnz : 1), sizeof(int32_t));
    m->data = cw_malloc_array((size_t)(nnz > 0 ? nnz : 1), sizeof(float));
    if (!m->indptr || !m->indices || !m->data) {
        cw_csr_free(m);
        return cw_fail(CW_ENOMEM, "out of memory for a %lld x %lld sparse matrix with %lld entries",
                       (long long)nrows, (long long)ncols, (long long)nnz);
    }
    m->nrows = nrows;
    m->ncols = ncols;
    m->nnz = nnz;
    return CW_OK;
}

void cw_csr_free(cw_csr *m) {
    cw_free(m->indptr);
    cw_free(m->indices);
    cw_free(m->data);
    memset(m, 0, sizeof *m);
}

cw_status cw_csr_from_dense(cw_csr *out, const float *x, int64_t nrows, int64_t ncols) {
    int64_t nnz = 0;
    for (int64_t i = 0; i < nrows * ncols; i++) nnz += x[i] != 0.0f;
    CW_TRY(cw_csr_alloc(out, nrows, ncols, nnz));
    int64_t k = 0;
    for (int64_t r = 0; r < nrows; r++) {
        const float *row = x + r * ncols;
        for (int64_t c = 0; c < ncols; c++)
            if (row[c] != 0.0f) {
                out->indices[k] = (int32_t)c;
                out->data[k++] = row[c];
            }
        out->indptr[r + 1] = k;
    }
    return CW_OK;
}

void cw_csr_rows_to_dense(const cw_csr *m, int64_t row0, int64_t n, float *out) {
    memset(out, 0, (size_t)n * (size_t)m->ncols * sizeof(float));
    for (int64_t r = 0; r < n; r++) {
        float *o = out + r * m->ncols;
        for (int64_t k = m->indptr[row0 + r]; k < m->indptr[row0 + r + 1]; k++)
            o[m->indices[k]] = m->data[k];
    }
}

cw_status cw_dmat_alloc(cw_dmat *m, int64_t nrows, int64_t ncols) {
    m->data = cw_calloc((size_t)(nrows * ncols > 0 ? nrows * ncols : 1), sizeof(double));
    if (!m->data) {
        m->nrows = m->ncols = 0;
        return cw_fail(CW_ENOMEM, "out of memory for a %lld x %lld matrix", (long long)nrows,
                       (long long)ncols);
    }
    m->nrows = nrows;
    m->ncols = ncols;
    return CW_OK;
}

void cw_dmat_free(cw_dmat *m) {
    cw_free(m->data);
    m->data = NULL;
    m->nrows = m->ncols = 0;
}
