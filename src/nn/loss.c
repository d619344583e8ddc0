/* loss.c: MSE, strict-upper-triangle L1 and Laplacian smoothness forward/backward (loss.h, spec
 * §5.1, §5.6). */
#include "nn/loss.h"

/* sum of (pred - target)^2 over [i0, i1), in 8 double lanes (vectorised) */
static double sq_diff_block(const real *pred, const real *target, int64_t i0, int64_t i1) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tail = 0;
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8)
        for (int l = 0; l < 8; l++) {
            const double d = (double)pred[i + l] - (double)target[i + l];
            acc[l] += d * d;
        }
    for (; i < i1; i++) {
        const double d = (double)pred[i] - (double)target[i];
        tail += d * d;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) +
           tail;
}

/* Blocks of CW_SUM_BLOCK elements summed in parallel, then added in block order: the value does
 * not depend on the thread count. */
double cw_mse_forward(const real *pred, const real *target, int64_t n) {
    if (n == 0) return 0;
    const int64_t group = CW_SUM_GROUP * CW_SUM_BLOCK;
    double part[CW_SUM_GROUP], s = 0;
    for (int64_t g0 = 0; g0 < n; g0 += group) {
        const int64_t g1 = n - g0 < group ? n : g0 + group;
        const int64_t nb = (g1 - g0 + CW_SUM_BLOCK - 1) / CW_SUM_BLOCK;
#pragma omp parallel for schedule(static) if (g1 - g0 >= CW_OMP_MIN_ELEMS)
        for (int64_t b = 0; b < nb; b++) {
            const int64_t i0 = g0 + b * CW_SUM_BLOCK;
            const int64_t i1 = g1 - i0 < CW_SUM_BLOCK ? g1 : i0 + CW_SUM_BLOCK;
            part[b] = sq_diff_block(pred, target, i0, i1);
        }
        for (int64_t b = 0; b < nb; b++) s += part[b];
    }
    return s / (double)n;
}

void cw_mse_backward(real *dpred, double dloss, const real *pred, const real *target, int64_t n) {
    if (n == 0) return;
    const real scale = (real)(2.0 * dloss / (double)n);
#pragma omp parallel for simd schedule(static) if (n >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < n; i++) dpred[i] += scale * (pred[i] - target[i]);
}

double cw_l1_triu_forward(const real *g, int64_t z) {
    double s = 0;
    for (int64_t i = 0; i < z; i++)
        for (int64_t j = i + 1; j < z; j++) s += fabs((double)g[i * z + j]);
    return s;
}

void cw_l1_triu_backward(real *dg, double dloss, const real *g, int64_t z) {
    const real w = (real)dloss;
    for (int64_t i = 0; i < z; i++)
        for (int64_t j = i + 1; j < z; j++) {
            real v = g[i * z + j];
            dg[i * z + j] += v > 0 ? w : (v < 0 ? -w : 0);
        }
}

double cw_laplacian_forward(const real *w, const int64_t *indptr, const int32_t *indices,
                            int64_t rows, int64_t cols) {
    const int64_t nnz = indptr[rows];
    if (nnz == 0) return 0;
    double s = 0;
    for (int64_t i = 0; i < rows; i++) {
        const real *wi = w + i * cols;
        for (int64_t e = indptr[i]; e < indptr[i + 1]; e++) {
            const real *wj = w + (int64_t)indices[e] * cols;
            for (int64_t k = 0; k < cols; k++) {
                const double d = (double)wi[k] - (double)wj[k];
                s += d * d;
            }
        }
    }
    return s / ((double)nnz + 1e-12);
}

void cw_laplacian_backward(real *dw, double dloss, const real *w, const int64_t *indptr,
                           const int32_t *indices, int64_t rows, int64_t cols) {
    const int64_t nnz = indptr[rows];
    if (nnz == 0) return;
    /* symmetric pattern: dLAP/dW_i = 4/(nnz + 1e-12) sum_{j in N(i)} (W_i - W_j); rows are
     * independent */
    const real scale = (real)(4.0 * dloss / ((double)nnz + 1e-12));
#pragma omp parallel for schedule(static) if (nnz * cols >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < rows; i++) {
        const real *wi = w + i * cols;
        real *di = dw + i * cols;
        for (int64_t e = indptr[i]; e < indptr[i + 1]; e++) {
            const real *wj = w + (int64_t)indices[e] * cols;
            for (int64_t k = 0; k < cols; k++) di[k] += scale * (wi[k] - wj[k]);
        }
    }
}
