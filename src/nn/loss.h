/* loss.h: reconstruction MSE and the L1 sparsity penalty on the DAG weights (spec §5.1 items 2
 * and 4, §5.6).
 *   MSE = mean over all N entries of (pred - target)^2        (nn.MSELoss, reduction mean)
 *   L1  = sum_{i<j} |G_ij|   (strict upper triangle of the Z x Z matrix G; subgradient sign(G_ij),
 *         0 at 0; the diagonal and lower triangle get no gradient)
 *   LAP = (1 / (nnz + 1e-12)) sum_{(i,j) directed edge} ||W_i - W_j||^2   (Laplacian smoothness of
 *         the decoder's output weights d2.weight (G, H) over the gene-gene PPI edges, §5.1 item 5;
 *         the CSR pattern must be symmetric, so each undirected pair counts twice and
 *         dLAP/dW_i = (4 / (nnz + 1e-12)) sum_{j in N(i)} (W_i - W_j))
 * Losses accumulate in double and are returned; backward takes dloss (the loss weight) and
 * accumulates (+=) into the gradient buffers. */
#ifndef CW_NN_LOSS_H
#define CW_NN_LOSS_H

#include "nn/real.h"

#include <stdint.h>

/* mse: pred (N), target (N) -> returns mean (pred - target)^2 */
double cw_mse_forward(const real *pred, const real *target, int64_t n);
/* accumulates: dpred (N) += dloss 2 (pred - target) / N */
void cw_mse_backward(real *dpred, double dloss, const real *pred, const real *target, int64_t n);

/* l1 of the strict upper triangle: g (Z, Z) -> returns sum_{i<j} |g_ij| */
double cw_l1_triu_forward(const real *g, int64_t z);
/* accumulates: dg_ij (Z, Z) += dloss sign(g_ij) for i < j; other entries untouched */
void cw_l1_triu_backward(real *dg, double dloss, const real *g, int64_t z);

/* laplacian smoothness: w (ROWS, COLS), symmetric CSR over the rows (indptr (ROWS+1), indices
 * (nnz)) -> returns LAP (0 when nnz = 0) */
double cw_laplacian_forward(const real *w, const int64_t *indptr, const int32_t *indices,
                            int64_t rows, int64_t cols);
/* accumulates: dw (ROWS, COLS) += dloss dLAP/dw */
void cw_laplacian_backward(real *dw, double dloss, const real *w, const int64_t *indptr,
                           const int32_t *indices, int64_t rows, int64_t cols);

#endif
