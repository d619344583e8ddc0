/* mmd.h: multi-bandwidth MMD between generated and real cells (spec §5.1 item 1, §5.6).
 *
 * T = [x; y] stacks the N generated rows x over the M real rows y (D columns each).
 *   d_ij  = ||t_i - t_j||^2, computed as ||t_i||^2 + ||t_j||^2 - 2 t_i.t_j through cw_gemm,
 *           clamped at 0, exactly 0 on the diagonal
 *   K_ij  = sum_{q=0}^{kernel_num-1} exp(-d_ij / b_q),  b_q = sigma / 2^(kernel_num/2) * 2^q
 *           (integer division; sigma 1000, kernel_num 10: b = 31.25 ... 16000)
 *   MMD   = mean(K_xx) + mean(K_yy) - 2 mean(K_xy)   (biased V-statistic, diagonal included,
 *           no square root; with N == M this is the reference's mean(XX + YY - XY - YX))
 *   dMMD/dt_a = -4 sum_j c_aj w_aj (t_a - t_j),  w = sum_q exp(-d/b_q) / b_q,
 *           c = 1/N^2 (both in x), 1/M^2 (both in y), -1/(NM) (mixed)
 * The loss is accumulated in double. Memory is the caller's: dist and scratch each hold
 * cw_mmd_scratch_size(N, M) = (N+M)^2 reals. The kernel values of a pair come from one exp
 * every 8 bandwidths and squarings between (exp(-d/b) = exp(-d/2b)^2; mmd.c). */
#ifndef CW_NN_MMD_H
#define CW_NN_MMD_H

#include "nn/real.h"

#include <stdint.h>

/* kernel_num is 1..CW_MMD_MAX_KERNELS */
#define CW_MMD_MAX_KERNELS 64

/* Reals in dist (forward output) and in the backward scratch: (N+M)^2. */
int64_t cw_mmd_scratch_size(int64_t n, int64_t m);

/* mmd: x (N, D), y (M, D) -> dist (N+M, N+M) squared distances of [x; y]; returns MMD */
double cw_mmd_forward(real *dist, const real *x, const real *y, int64_t n, int64_t m, int64_t d,
                      double sigma, int64_t kernel_num);
/* accumulates: dx (N, D) += dloss dMMD/dx, dy (M, D) += dloss dMMD/dy (either may be NULL);
 * dist (N+M, N+M) as left by the forward; scratch (N+M, N+M) is overwritten */
void cw_mmd_backward(real *dx, real *dy, real *scratch, double dloss, const real *x,
                     const real *y, const real *dist, int64_t n, int64_t m, int64_t d,
                     double sigma, int64_t kernel_num);
/* as cw_mmd_backward, but dx (N, D) is overwritten: the bits memset(dx, 0) + cw_mmd_backward
 * would give, without the memset pass (dx must not be NULL; dy accumulates as there) */
void cw_mmd_backward_set_dx(real *dx, real *dy, real *scratch, double dloss, const real *x,
                            const real *y, const real *dist, int64_t n, int64_t m, int64_t d,
                            double sigma, int64_t kernel_num);

#endif
