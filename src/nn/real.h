/* real.h: the scalar type of the nn kernels, per-type math helpers and the GEMM wrapper.
 *
 * `real` is float (storage and compute, STYLE.md "Kernels"); compiling with -DCW_REAL_DOUBLE
 * makes it double, which the gradient-check test uses (tests/test_nn_gradcheck.c includes the
 * kernel .c files after defining it). Every translation unit of one program must agree on the
 * choice: the library is built in float.
 *
 * Kernels call r_exp, r_log, r_tanh, ... (never plain expf/exp) so that the double build really
 * computes in double. Losses and norms accumulate in double whatever `real` is.
 *
 * cw_gemm: row-major C = alpha op(A) op(B) + beta C through cblas_sgemm / cblas_dgemm (OpenBLAS,
 * OpenMP build). It must not be called inside an `omp parallel` region (asserted).
 */
#ifndef CW_NN_REAL_H
#define CW_NN_REAL_H

#include "core/status.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>

#ifdef CW_REAL_DOUBLE
typedef double real;
#define CW_REAL_NAME "double"
static inline real r_exp(real x) { return exp(x); }
static inline real r_log(real x) { return log(x); }
static inline real r_log1p(real x) { return log1p(x); }
static inline real r_sqrt(real x) { return sqrt(x); }
static inline real r_fabs(real x) { return fabs(x); }
static inline real r_tanh(real x) { return tanh(x); }
#else
typedef float real;
#define CW_REAL_NAME "float"
static inline real r_exp(real x) { return expf(x); }
static inline real r_log(real x) { return logf(x); }
static inline real r_log1p(real x) { return log1pf(x); }
static inline real r_sqrt(real x) { return sqrtf(x); }
static inline real r_fabs(real x) { return fabsf(x); }
static inline real r_tanh(real x) { return tanhf(x); }
#endif

/* Elementwise loops run in parallel only above this many elements (below it the fork/join
 * costs more than the loop). */
#define CW_OMP_MIN_ELEMS ((int64_t)1 << 16)

/* gemm: op(A) (M, K), op(B) (K, N), C (M, N), all row-major with leading dimensions
 * lda, ldb, ldc; op(X) = X^T when trans_x != 0.  C = alpha op(A) op(B) + beta C.
 * M, N or K may be 0 (K = 0 gives C = beta C). */
static inline void cw_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, real alpha,
                           const real *a, int64_t lda, const real *b, int64_t ldb, real beta,
                           real *c, int64_t ldc) {
    CW_ASSERT(m >= 0 && n >= 0 && k >= 0);
    CW_ASSERT(!omp_in_parallel());
    if (m == 0 || n == 0) return;
    if (k == 0) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++) c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
        return;
    }
    /* OpenBLAS is built with 32-bit BLAS integers. */
    CW_ASSERT(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX);
    CW_ASSERT(lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX);
    enum CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
#ifdef CW_REAL_DOUBLE
    cblas_dgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb,
                beta, c, (int)ldc);
#else
    cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha, a, (int)lda, b, (int)ldb,
                beta, c, (int)ldc);
#endif
}

#endif
