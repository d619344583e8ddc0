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
 * OpenMP build). It must not be called inside an `omp parallel` region (asserted). With more
 * than one OpenMP thread, a skinny product (an output side of at most CW_GEMM_SPLIT_MAX_SIDE,
 * as the training step's batch-sized GEMMs are) is split by us: each thread gets a 16-aligned
 * range of the longer output side and calls BLAS on it, single-threaded (OpenBLAS runs one
 * thread inside a parallel region). OpenBLAS's own threading splits such shapes badly (the
 * (5000, 128) weight gradient of a 64-row batch ran slower on 2 threads than on 1). Each output
 * element is still one BLAS dot product over all of K, no reduction across threads.
 * A small output with a long K (A (m, k) times B (n, k) transposed, m n <= 8192, k >= 2048: the
 * encoder's x W^T and the MMD's Gram blocks) is cut along K instead, into a chunk count fixed by
 * k (at most 4): each chunk one single-threaded BLAS call into its own buffer, the chunks added
 * in order, whatever the thread count (cw_gemm_ksplit).
 * Before all that, float products with at most 64 rows go to the AVX-512 kernels of
 * nn/gemm_small.h when the CPU has AVX-512 (they take the shapes the step spends its time in,
 * and return 0 for the rest, which then take the paths above).
 */
#ifndef CW_NN_REAL_H
#define CW_NN_REAL_H

#include "core/status.h"
#ifndef CW_REAL_DOUBLE
#include "nn/gemm_small.h"
#endif

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

/* Elementwise kernels limited by the vector units (Adam's square root and division) are compiled
 * twice, for the build's target and for x86-64-v4 (AVX-512), and the loader picks the one this
 * CPU runs (gcc's target_clones, an ifunc). The operations are the same IEEE ones, so the values
 * are the same bits on either path; only the vector width changes. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_ADDRESS__)
#define CW_CLONES_AVX512 __attribute__((target_clones("arch=x86-64-v4", "default")))
#else
#define CW_CLONES_AVX512
#endif

/* Sums that run in parallel (cw_mse_forward) add blocks of CW_SUM_BLOCK elements each, in groups
 * of CW_SUM_GROUP blocks, the block sums in order: fixed by the length alone, never by the
 * thread count, so the value is the same on any number of threads. */
#define CW_SUM_BLOCK ((int64_t)8192)
#define CW_SUM_GROUP 64

/* gemm: op(A) (M, K), op(B) (K, N), C (M, N), all row-major with leading dimensions
 * lda, ldb, ldc; op(X) = X^T when trans_x != 0.  C = alpha op(A) op(B) + beta C.
 * M, N or K may be 0 (K = 0 gives C = beta C). */

/* one BLAS call, no checks (cw_gemm's) */
static inline void cw_gemm_blas(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                real alpha, const real *a, int64_t lda, const real *b,
                                int64_t ldb, real beta, real *c, int64_t ldc) {
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

/* cw_gemm splits products whose shorter output side is at most this and that have at least
 * CW_GEMM_SPLIT_MIN_WORK multiply-adds (smaller ones cost more to fork than to compute) */
#define CW_GEMM_SPLIT_MAX_SIDE 512
#define CW_GEMM_SPLIT_MIN_WORK ((int64_t)1 << 20)

/* threads for cw_gemm's split of an (m, n, k) product; 1: one BLAS call (BLAS's threading) */
static inline int cw_gemm_split_threads(int64_t m, int64_t n, int64_t k) {
    const int t = omp_get_max_threads();
    const int64_t side = m > n ? m : n, shortside = m > n ? n : m;
    if (t < 2 || shortside > CW_GEMM_SPLIT_MAX_SIDE || m * n * k < CW_GEMM_SPLIT_MIN_WORK)
        return 1;
    const int64_t by16 = side / 16; /* every thread at least 16 of the long side */
    return by16 < 2 ? 1 : by16 < t ? (int)by16 : t;
}

/* K-split (see the header comment): products C (m, n) = alpha A op(B)^T-style with a small
 * output and a long K, A not transposed and B transposed (the encoder's first layer and the MMD's
 * Gram blocks: x W^T, x y^T). OpenBLAS threads these over C's few columns, each thread packing
 * all of A; cutting K instead lets each thread stream its own part of both operands. */
#define CW_GEMM_KSPLIT_MAX_OUT 8192 /* m n at most */
#define CW_GEMM_KSPLIT_MIN_K 2048   /* K of at least; chunks of at least 1024 */
#define CW_GEMM_KSPLIT_CHUNKS 4

/* chunks of cw_gemm's K-split of an (m, n, k) product; 1: none. The count depends on the shape
 * only, never on the thread count, so C is the same on any number of threads. */
static inline int cw_gemm_ksplit_chunks(int trans_a, int trans_b, int64_t m, int64_t n,
                                        int64_t k) {
    if (trans_a || !trans_b || m * n > CW_GEMM_KSPLIT_MAX_OUT || k < CW_GEMM_KSPLIT_MIN_K ||
        m * n * k < CW_GEMM_SPLIT_MIN_WORK)
        return 1;
    const int64_t c = k / 1024;
    return c < CW_GEMM_KSPLIT_CHUNKS ? (int)c : CW_GEMM_KSPLIT_CHUNKS;
}

/* chunk ic of nc over K: [*k0, *k1), chunks of a 16-aligned length fixed by k and nc (the last
 * ones may be short or empty) */
static inline void cw_gemm_ksplit_range(int64_t k, int nc, int ic, int64_t *k0, int64_t *k1) {
    const int64_t ck = ((k + nc - 1) / nc + 15) / 16 * 16;
    *k0 = ic * ck < k ? ic * ck : k;
    *k1 = *k0 + ck < k ? *k0 + ck : k;
}

/* C (m, n) = alpha (sum of the nc partial products part[ic stride ...] (m, n), added in chunk
 * order) + beta C */
static inline void cw_gemm_ksplit_sum(const real *part, int64_t stride, int nc, int64_t m,
                                      int64_t n, real alpha, real beta, real *c, int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            real s = part[i * n + j];
            for (int ic = 1; ic < nc; ic++) s += part[ic * stride + i * n + j];
            c[i * ldc + j] = beta == 0 ? alpha * s : alpha * s + beta * c[i * ldc + j];
        }
}

/* C = alpha (sum of the K chunks' products A_c B_c^T, added in chunk order) + beta C: the
 * chunks' products in parallel, one single-threaded BLAS call each into its own buffer (on this
 * function's stack: CW_GEMM_KSPLIT_CHUNKS CW_GEMM_KSPLIT_MAX_OUT reals) */
__attribute__((noinline)) static void cw_gemm_ksplit(int64_t m, int64_t n, int64_t k, int nc,
                                                     real alpha, const real *a, int64_t lda,
                                                     const real *b, int64_t ldb, real beta,
                                                     real *c, int64_t ldc) {
    real part[CW_GEMM_KSPLIT_CHUNKS][CW_GEMM_KSPLIT_MAX_OUT];
#pragma omp parallel for schedule(static, 1)
    for (int ic = 0; ic < nc; ic++) {
        int64_t k0, k1;
        cw_gemm_ksplit_range(k, nc, ic, &k0, &k1);
        if (k1 > k0)
            cw_gemm_blas(0, 1, m, n, k1 - k0, 1, a + k0, lda, b + k0, ldb, 0, part[ic], n);
        else
            for (int64_t e = 0; e < m * n; e++) part[ic][e] = 0;
    }
    cw_gemm_ksplit_sum(&part[0][0], CW_GEMM_KSPLIT_MAX_OUT, nc, m, n, alpha, beta, c, ldc);
}

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
#ifndef CW_REAL_DOUBLE
    if (cw_gemm_small(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)) return;
#endif
    const int nc = cw_gemm_ksplit_chunks(trans_a, trans_b, m, n, k);
    if (nc > 1) {
        cw_gemm_ksplit(m, n, k, nc, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    const int nt = cw_gemm_split_threads(m, n, k);
    if (nt < 2) {
        cw_gemm_blas(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    const int split_n = n >= m; /* the longer output side: C's columns, or C's rows */
    const int64_t side = split_n ? n : m;
#pragma omp parallel num_threads(nt)
    {
        const int64_t T = omp_get_num_threads(), tid = omp_get_thread_num();
        const int64_t chunk = ((side + T - 1) / T + 15) / 16 * 16;
        const int64_t s0 = tid * chunk < side ? tid * chunk : side;
        const int64_t s1 = s0 + chunk < side ? s0 + chunk : side;
        if (s1 > s0 && split_n) /* op(B)'s columns s0..s1: B's rows when it is transposed */
            cw_gemm_blas(trans_a, trans_b, m, s1 - s0, k, alpha, a, lda,
                         trans_b ? b + s0 * ldb : b + s0, ldb, beta, c + s0, ldc);
        else if (s1 > s0) /* op(A)'s rows s0..s1: A's columns when it is transposed */
            cw_gemm_blas(trans_a, trans_b, s1 - s0, n, k, alpha, trans_a ? a + s0 : a + s0 * lda,
                         lda, b, ldb, beta, c + s0 * ldc, ldc);
    }
}

/* 1 when cw_gemm gives a row of op(A) the same bits in an (m1, n, k) and an (m2, n, k) product
 * (A not transposed): blocks of rows may then be stacked into one call without changing a value.
 * Only the AVX-512 kernels promise that (gemm_small.h); BLAS's rounding of a row may depend on
 * the row count. */
static inline int cw_gemm_same_rows(int trans_b, int64_t m1, int64_t m2, int64_t n, int64_t k) {
#ifdef CW_REAL_DOUBLE
    (void)trans_b, (void)m1, (void)m2, (void)n, (void)k;
    return 0;
#else
    return cw_gemm_small_same_rows(trans_b, m1, m2, n, k);
#endif
}

/* a development build's per-shape GEMM totals (nn/gemm_trace.c): every call timed */
#ifdef CW_GEMM_TRACE
void cw_gemm_trace(int ta, int tb, int64_t m, int64_t n, int64_t k, double sec);
static inline void cw_gemm_traced(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k,
                                  real alpha, const real *a, int64_t lda, const real *b,
                                  int64_t ldb, real beta, real *c, int64_t ldc) {
    const double t0 = omp_get_wtime();
    cw_gemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    cw_gemm_trace(trans_a, trans_b, m, n, k, omp_get_wtime() - t0);
}
#define cw_gemm cw_gemm_traced
#endif

#endif
