/* linear.c: fully connected layer and its masked variant, forward/backward (linear.h, spec §4.0,
 * doc/models.md SENA). */
#include "nn/linear.h"

#include "nn/activation.h"
#include "nn/transpose.h"

#include <string.h>

void cw_linear_forward(real *out, const real *inp, const real *weight, const real *bias,
                       int64_t n, int64_t in, int64_t out_dim) {
    if (bias) {
#pragma omp parallel for schedule(static) if (n * out_dim >= CW_OMP_MIN_ELEMS)
        for (int64_t i = 0; i < n; i++)
            for (int64_t o = 0; o < out_dim; o++) out[i * out_dim + o] = bias[o];
    }
    /* out (N, OUT) = inp (N, IN) W^T (IN, OUT) [+ out] */
    cw_gemm(0, 1, n, out_dim, in, 1, inp, in, weight, in, bias ? 1 : 0, out, out_dim);
}

void cw_linear_lrelu_forward(real *out, const real *inp, const real *weight, const real *bias,
                             int64_t n, int64_t in, int64_t out_dim) {
    CW_ASSERT(bias);
    cw_gemm(0, 1, n, out_dim, in, 1, inp, in, weight, in, 0, out, out_dim);
    cw_bias_lrelu_forward(out, bias, n, out_dim);
}

void cw_linear_backward(real *dinp, real *dweight, real *dbias, const real *dout,
                        const real *inp, const real *weight, int64_t n, int64_t in,
                        int64_t out_dim) {
    /* dinp (N, IN) += dout (N, OUT) W (OUT, IN) */
    if (dinp) cw_gemm(0, 0, n, in, out_dim, 1, dout, out_dim, weight, in, 1, dinp, in);
    /* dweight (OUT, IN) += dout^T (OUT, N) inp (N, IN) */
    if (dweight) cw_gemm(1, 0, out_dim, in, n, 1, dout, out_dim, inp, in, 1, dweight, in);
    if (dbias) cw_bias_backward(dbias, dout, n, out_dim);
}

void cw_bias_forward(real *out, const real *bias, int64_t n, int64_t out_dim) {
#pragma omp parallel for schedule(static) if (n * out_dim >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out_dim; o++) out[i * out_dim + o] += bias[o];
}

void cw_bias_backward(real *dbias, const real *dout, int64_t n, int64_t out_dim) {
    /* row by row over blocks of columns (contiguous reads, vectorised); every column still sums
     * its rows in order 0..n-1, in double */
    enum { BLK = 512 };
    const int64_t nblk = (out_dim + BLK - 1) / BLK;
#pragma omp parallel for schedule(static) if (n * out_dim >= CW_OMP_MIN_ELEMS && nblk > 1)
    for (int64_t ib = 0; ib < nblk; ib++) {
        double s[BLK];
        const int64_t o0 = ib * BLK;
        const int64_t w = out_dim - o0 < BLK ? out_dim - o0 : BLK;
        for (int64_t o = 0; o < w; o++) s[o] = 0;
        for (int64_t i = 0; i < n; i++) {
            const real *row = dout + i * out_dim + o0;
            for (int64_t o = 0; o < w; o++) s[o] += row[o];
        }
        for (int64_t o = 0; o < w; o++) dbias[o0 + o] += (real)s[o];
    }
}

void cw_masked_linear_forward(real *out, real *weff, const real *inp, const real *weight,
                              const real *mask, const real *bias, int64_t n, int64_t in,
                              int64_t out_dim) {
    for (int64_t i = 0; i < out_dim * in; i++) weff[i] = weight[i] * mask[i];
    cw_linear_forward(out, inp, weff, bias, n, in, out_dim);
}

void cw_masked_linear_backward(real *dinp, real *dweight, real *dbias, real *dscratch,
                               const real *dout, const real *inp, const real *weff,
                               const real *mask, int64_t n, int64_t in, int64_t out_dim) {
    /* dinp += dout (W o M), dbias += sum_n dout */
    cw_linear_backward(dinp, NULL, dbias, dout, inp, weff, n, in, out_dim);
    if (dweight) {
        /* dscratch (OUT, IN) = dout^T (OUT, N) inp (N, IN); dweight += dscratch o M */
        cw_gemm(1, 0, out_dim, in, n, 1, dout, out_dim, inp, in, 0, dscratch, in);
        for (int64_t i = 0; i < out_dim * in; i++) dweight[i] += dscratch[i] * mask[i];
    }
}

/* ---- sparse input (linear.h) ------------------------------------------------------------- */

/* Work splits over the output units: each thread owns a range [o0, o1) of them (64-aligned
 * where it can: the AVX2 register blocks), runs every column block over it with its own row
 * cursors (and, backward, its own copy of the block's CSC form) and touches only its columns of
 * wt, its elements of out and its rows of dweight: no barriers, no reductions, and the values do
 * not depend on the thread count. */

#define CSR_AVX CW_TR8_AVX /* the AVX2 paths below (transpose.h includes immintrin.h) */

/* wt[jj * ld + o] = w[o * ldw + jj] for jj < jw, o < width (w, wt at the range's first unit) */
static void csr_block_transpose(real *wt, int64_t ld, const real *w, int64_t ldw, int64_t jw,
                                int64_t width) {
    cw_transpose(wt, ld, w, ldw, width, jw);
}

/* dw[o * ldw + jj] += wt[jj * ld + o]: one add per element */
static void csr_block_transpose_add(real *dw, int64_t ldw, const real *wt, int64_t ld,
                                    int64_t jw, int64_t width) {
    int64_t o0 = 0;
#if CSR_AVX
    if (jw % 8 == 0)
        for (; o0 + 8 <= width; o0 += 8)
            for (int64_t jj = 0; jj < jw; jj += 8) {
                __m256 r[8];
                for (int k = 0; k < 8; k++) r[k] = _mm256_loadu_ps(wt + (jj + k) * ld + o0);
                cw_tr8(r);
                for (int k = 0; k < 8; k++) {
                    real *d = dw + (o0 + k) * ldw + jj;
                    _mm256_storeu_ps(d, _mm256_add_ps(_mm256_loadu_ps(d), r[k]));
                }
            }
#endif
    for (int64_t o = o0; o < width; o++)
        for (int64_t jj = 0; jj < jw; jj++) dw[o * ldw + jj] += wt[jj * ld + o];
}

/* y (n) += a x (n); restrict parameters so that the loop vectorises without alias checks */
static inline void csr_axpy(real *restrict y, real a, const real *restrict x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

/* out (width) += sum_p val_p wt[(idx_p - j0) * ld ...] over cnt entries, in entry order (each
 * element: one multiply, then one add per entry, whatever the path). The AVX path keeps 64
 * outputs in registers across the entries instead of a load and a store per entry and element. */
static void csr_row_block_fwd(real *out, const int32_t *idx, const float *val, int64_t cnt,
                              const real *wt, int64_t ld, int64_t j0, int64_t width) {
    int64_t o0 = 0;
#if CSR_AVX
    for (; o0 + 64 <= width; o0 += 64) {
        __m256 acc[8];
        for (int k = 0; k < 8; k++) acc[k] = _mm256_loadu_ps(out + o0 + 8 * k);
        for (int64_t p = 0; p < cnt; p++) {
            const __m256 v = _mm256_set1_ps(val[p]);
            const real *t = wt + (idx[p] - j0) * ld + o0;
            for (int k = 0; k < 8; k++)
                acc[k] = _mm256_add_ps(acc[k], _mm256_mul_ps(v, _mm256_loadu_ps(t + 8 * k)));
        }
        for (int k = 0; k < 8; k++) _mm256_storeu_ps(out + o0 + 8 * k, acc[k]);
    }
#endif
    if (o0 < width)
        for (int64_t p = 0; p < cnt; p++)
            csr_axpy(out + o0, (real)val[p], wt + (idx[p] - j0) * ld + o0, width - o0);
}

/* w (width) = sum_e val[pos_e] dout[rows_e * ld ...] over cnt entries, in entry order from 0 (as
 * csr_row_block_fwd: one multiply and one add per entry and element on either path) */
static void csr_col_block_bwd(real *w, const int64_t *rows, const int64_t *pos, int64_t cnt,
                              const float *val, const real *dout, int64_t ld, int64_t width) {
    int64_t o0 = 0;
#if CSR_AVX
    for (; o0 + 64 <= width; o0 += 64) {
        __m256 acc[8];
        for (int k = 0; k < 8; k++) acc[k] = _mm256_setzero_ps();
        for (int64_t e = 0; e < cnt; e++) {
            const __m256 v = _mm256_set1_ps(val[pos[e]]);
            const real *d = dout + rows[e] * ld + o0;
            for (int k = 0; k < 8; k++)
                acc[k] = _mm256_add_ps(acc[k], _mm256_mul_ps(v, _mm256_loadu_ps(d + 8 * k)));
        }
        for (int k = 0; k < 8; k++) _mm256_storeu_ps(w + o0 + 8 * k, acc[k]);
    }
#endif
    for (int64_t o = o0; o < width; o++) w[o] = 0;
    if (o0 < width)
        for (int64_t e = 0; e < cnt; e++)
            csr_axpy(w + o0, (real)val[pos[e]], dout + rows[e] * ld + o0, width - o0);
}

/* 1 when some row has an entry in columns [j0, j1) at its cursor */
static int csr_block_used(const cw_csr *xs, const int64_t *cursor, int64_t j1) {
    for (int64_t i = 0; i < xs->nrows; i++)
        if (cursor[i] < xs->indptr[i + 1] && xs->indices[cursor[i]] < j1) return 1;
    return 0;
}

/* the chunk count for IN input columns: fixed by the shape, never by the thread count, so the
 * forward's partial sums (and so its bits) are the same on any number of threads */
static int csr_chunks(int64_t in) {
    const int64_t blocks = (in + CW_LINEAR_CSR_BLOCK - 1) / CW_LINEAR_CSR_BLOCK;
    return blocks < CW_LINEAR_CSR_CHUNKS ? (int)(blocks > 0 ? blocks : 1) : CW_LINEAR_CSR_CHUNKS;
}

/* chunk c of `chunks`: input columns [*j0, *j1), whole blocks */
static void csr_chunk_cols(int64_t in, int chunks, int c, int64_t *j0, int64_t *j1) {
    const int64_t blocks = (in + CW_LINEAR_CSR_BLOCK - 1) / CW_LINEAR_CSR_BLOCK;
    const int64_t b0 = blocks * c / chunks, b1 = blocks * (c + 1) / chunks;
    *j0 = b0 * CW_LINEAR_CSR_BLOCK < in ? b0 * CW_LINEAR_CSR_BLOCK : in;
    *j1 = b1 * CW_LINEAR_CSR_BLOCK < in ? b1 * CW_LINEAR_CSR_BLOCK : in;
}

/* cursor[i] = the first entry of row i at column >= j0 */
static void csr_cursors(const cw_csr *xs, int64_t j0, int64_t *cursor) {
    for (int64_t i = 0; i < xs->nrows; i++) {
        int64_t lo = xs->indptr[i], hi = xs->indptr[i + 1];
        while (lo < hi) {
            const int64_t mid = lo + (hi - lo) / 2;
            if (xs->indices[mid] < j0)
                lo = mid + 1;
            else
                hi = mid;
        }
        cursor[i] = lo;
    }
}

/* out (N, OUT) += the entries of input columns [J0, J1) (whole blocks from J0) */
static void csr_forward_range(real *out, const cw_csr *xs, const real *weight, int64_t ldw,
                              int64_t out_dim, int64_t J0, int64_t J1, real *wt,
                              int64_t *cursor) {
    const int64_t n = xs->nrows, BLK = CW_LINEAR_CSR_BLOCK;
    csr_cursors(xs, J0, cursor);
    for (int64_t j0 = J0; j0 < J1; j0 += BLK) {
        const int64_t jw = J1 - j0 < BLK ? J1 - j0 : BLK;
        if (!csr_block_used(xs, cursor, j0 + jw)) continue;
        /* wt (jw, OUT): W[:, j0:j0+jw]^T */
        csr_block_transpose(wt, out_dim, weight + j0, ldw, jw, out_dim);
        /* out_i += x_ij wt_(j - j0) for the row's entries in the block, in column order */
        for (int64_t i = 0; i < n; i++) {
            const int64_t p0 = cursor[i], e = xs->indptr[i + 1];
            int64_t p = p0;
            while (p < e && xs->indices[p] < j0 + jw) p++;
            csr_row_block_fwd(out + i * out_dim, xs->indices + p0, xs->data + p0, p - p0, wt,
                              out_dim, j0, out_dim);
            cursor[i] = p;
        }
    }
}

static void csr_backward_range(real *dweight, const real *dout, const cw_csr *xs, int64_t ldw,
                               int64_t out_dim, int64_t J0, int64_t J1, real *wt, int64_t *iw);

/* One kernel call, chunk by chunk of the input columns (csr_chunks), each chunk with its own
 * slice of iwork and wt, the chunks spread over the threads. Forward: chunk 0 adds into out,
 * chunk c > 0 into partial c (after wt's slices), which are then added to out in chunk order.
 * Backward: each chunk writes its own columns of dweight. */
static void csr_run(int backward, real *dst, const real *src, const cw_csr *xs, int64_t ldw,
                    int64_t out_dim, real *wt, int64_t *iwork) {
    const int64_t n = xs->nrows, islot = cw_linear_csr_iwork_size(n) / CW_LINEAR_CSR_CHUNKS;
    const int64_t wslot = CW_LINEAR_CSR_BLOCK * out_dim, no = n * out_dim;
    real *part = wt + CW_LINEAR_CSR_CHUNKS * wslot; /* (chunks - 1) partial outputs */
    const int chunks = csr_chunks(xs->ncols);
    const int par = !omp_in_parallel() && chunks > 1 && xs->nnz * out_dim >= ((int64_t)1 << 18);
#pragma omp parallel for schedule(static) if (par)
    for (int c = 0; c < chunks; c++) {
        int64_t j0, j1;
        csr_chunk_cols(xs->ncols, chunks, c, &j0, &j1);
        real *w = wt + c * wslot;
        int64_t *iw = iwork + c * islot;
        if (backward) {
            csr_backward_range(dst, src, xs, ldw, out_dim, j0, j1, w, iw);
        } else {
            real *o = c == 0 ? dst : part + (c - 1) * no;
            if (c > 0) memset(o, 0, (size_t)no * sizeof(real));
            csr_forward_range(o, xs, src, ldw, out_dim, j0, j1, w, iw);
        }
    }
    if (!backward)
        for (int c = 1; c < chunks; c++) {
            const real *pc = part + (c - 1) * no;
#pragma omp parallel for simd schedule(static) if (par && no >= CW_OMP_MIN_ELEMS)
            for (int64_t i = 0; i < no; i++) dst[i] += pc[i];
        }
}

void cw_linear_forward_csr(real *out, const cw_csr *xs, const real *weight, int64_t ldw,
                           const real *bias, int64_t out_dim, real *wt, int64_t *iwork) {
    const int64_t n = xs->nrows;
    CW_ASSERT(ldw >= xs->ncols);
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out_dim; o++) out[i * out_dim + o] = bias ? bias[o] : 0;
    csr_run(0, out, weight, xs, ldw, out_dim, wt, iwork);
}

static void csr_backward_range(real *dweight, const real *dout, const cw_csr *xs, int64_t ldw,
                               int64_t out_dim, int64_t J0, int64_t J1, real *wt, int64_t *iw) {
    const int64_t n = xs->nrows, BLK = CW_LINEAR_CSR_BLOCK;
    /* iw: row cursors (n), the block's column pointers (BLK + 1), its entries' rows and
     * positions in xs (BLK n each): the block in CSC form, rows in order within a column */
    int64_t *cursor = iw, *colptr = cursor + n, *rows = colptr + BLK + 1, *pos = rows + BLK * n;
    csr_cursors(xs, J0, cursor);
    for (int64_t j0 = J0; j0 < J1; j0 += BLK) {
        const int64_t jw = J1 - j0 < BLK ? J1 - j0 : BLK;
        if (!csr_block_used(xs, cursor, j0 + jw)) continue; /* dW gets 0 there */
        for (int64_t c = 0; c <= jw; c++) colptr[c] = 0;
        for (int64_t i = 0; i < n; i++)
            for (int64_t p = cursor[i]; p < xs->indptr[i + 1] && xs->indices[p] < j0 + jw; p++)
                colptr[xs->indices[p] - j0 + 1]++;
        for (int64_t c = 0; c < jw; c++) colptr[c + 1] += colptr[c];
        CW_ASSERT(colptr[jw] <= BLK * n); /* rows sorted without duplicates (cw_csr) */
        /* fill: colptr[c] runs from the start of column c to its end (= start of c + 1) */
        for (int64_t i = 0; i < n; i++) {
            int64_t p = cursor[i];
            for (; p < xs->indptr[i + 1] && xs->indices[p] < j0 + jw; p++) {
                const int64_t q = colptr[xs->indices[p] - j0]++;
                rows[q] = i;
                pos[q] = p;
            }
            cursor[i] = p;
        }
        /* wt (jw, OUT): row c = sum over column j0 + c's entries x_ij dout_i, rows in order */
        for (int64_t c = 0, start = 0; c < jw; start = colptr[c], c++)
            csr_col_block_bwd(wt + c * out_dim, rows + start, pos + start, colptr[c] - start,
                              xs->data, dout, out_dim, out_dim);
        csr_block_transpose_add(dweight + j0, ldw, wt, out_dim, jw, out_dim);
    }
}

void cw_linear_backward_csr(real *dweight, real *dbias, const real *dout, const cw_csr *xs,
                            int64_t ldw, int64_t out_dim, real *wt, int64_t *iwork) {
    const int64_t n = xs->nrows;
    CW_ASSERT(ldw >= xs->ncols);
    if (dbias) cw_bias_backward(dbias, dout, n, out_dim);
    if (!dweight) return;
    csr_run(1, dweight, dout, xs, ldw, out_dim, wt, iwork);
}
