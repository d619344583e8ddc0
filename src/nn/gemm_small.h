/* gemm_small.h: float GEMMs with a short side of at most CW_GEMM_SMALL_MAX_M rows, in AVX-512
 * register kernels that read the long operand in place (issue #6 item 3: the training step's
 * batch-row products). cw_gemm (real.h) sends its float products here when the CPU has AVX-512
 * (checked at run time: the portable build is x86-64-v3) and the shape qualifies; everything
 * else, and every product of the double build, stays with BLAS.
 *
 * Two kernels, row-major throughout, C (m, n) = alpha op(A) op(B) + beta C:
 *  - B not transposed (B is (k, n)): each register tile holds up to 6 rows of C by 64 columns;
 *    every k broadcasts one element of op(A) per row and multiplies 4 vectors of B's row k.
 *    Long K is cut into chunks of CW_GEMM_SMALL_KC (the chunk of B stays in cache across C's
 *    row groups), the partial sums kept in a per-thread buffer between chunks.
 *  - B transposed (B is (n, k), the layout of a torch weight): op(A) is copied once, transposed,
 *    into a (k, 16-padded m) buffer; each register tile holds 8 rows of B by up to 32 of op(A)'s
 *    rows, C^T's tile, broadcasting B's elements along k and multiplying vectors of op(A)^T, and
 *    is transposed in registers (8x8 blocks) on its way to C.
 * In both, a small output with a long K (cw_gemm_small_kchunks: real.h's K-split rule, m n <=
 * 8192 and k >= 2048) is cut into the same K chunks as cw_gemm's BLAS K-split, each chunk's
 * partial product computed by one thread and the partials added in chunk order.
 * Both prefetch the next block of the long operand (and of C) while computing the current one:
 * inside the training step the weights come from memory (Adam streamed 22 MB through the caches
 * just before), and without it the kernels ran at half their in-cache speed there.
 * Every element of C is one lane's sum over k in order (per K chunk when K is split), one fused
 * multiply-add per term, from 0, then alpha times it plus beta C: the same bits whatever the
 * thread count or the tile it falls in, and, without a K split, whatever m (a shard of the batch
 * gets the bits its rows get in the whole batch). The columns of C (rows of B when transposed,
 * or the K chunks) are shared between OpenMP threads from CW_GEMM_SPLIT_MIN_WORK multiply-adds;
 * never call inside a parallel region (cw_gemm asserts). */
#ifndef CW_NN_GEMM_SMALL_H
#define CW_NN_GEMM_SMALL_H

#include <stdint.h>

#define CW_GEMM_SMALL_MAX_M 64
#define CW_GEMM_SMALL_KC 256
/* smaller products stay with BLAS: B transposed with fewer rows of op(A) than this (the kernel
 * computes 16 of them at a time), B not transposed below this many multiply-adds */
#define CW_GEMM_SMALL_MIN_M_NT 8
#define CW_GEMM_SMALL_MIN_WORK_NN ((int64_t)1 << 20)

/* 1 when this CPU runs the kernels (AVX-512 F, VL, DQ) and they are switched on: on by default,
 * off with CW_GEMM_SMALL=0 in the environment (read once) or cw_gemm_small_set(0) */
int cw_gemm_small_available(void);
/* switches the kernels on (1) or off (0, every product through BLAS); returns the old setting.
 * For tests and benchmarks that compare both paths; not while a product runs. */
int cw_gemm_small_set(int on);

/* K chunks of an (m, n, k) product (1: none): real.h's cw_gemm_ksplit_chunks on the shape */
int cw_gemm_small_kchunks(int64_t m, int64_t n, int64_t k);

/* 1 when the kernels take both an (m1, n, k) and an (m2, n, k) product (B transposed or not,
 * op(A) either way) with the same K chunks, so that a row of op(A) gets the same bits in either:
 * a model may then stack blocks of rows into one call without changing a value (unless the
 * call then fails to allocate its buffer and goes to BLAS) */
int cw_gemm_small_same_rows(int trans_b, int64_t m1, int64_t m2, int64_t n, int64_t k);

/* the product above through the kernels: 1 when done, 0 when not (the kernels are off or
 * unavailable, m is 0 or above CW_GEMM_SMALL_MAX_M, n or k is 0, the product is below the
 * minimums above, or the transposed-B buffer of k * 16-padded m floats could not be
 * allocated): the caller then uses BLAS */
int cw_gemm_small(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc);

#endif
