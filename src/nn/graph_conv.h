/* graph_conv.h: message passing over one graph shared by a batch of cells (spec grace_cmvae.md
 * §4.2 layer formulas, §4.5 GCN layers of the intervention encoders; issue #4 item 2).
 *
 * Layout: node features of a batch are x (B, N, F) row-major: cell b, node v, feature f at
 * x[(b N + v) F + f]. The graph is CSR (int64 indptr (N+1), int32 indices (nnz), columns sorted
 * within a row, no self loops); row v lists the in-neighbours u of v (the graphs here are
 * symmetric, so in- and out-neighbours coincide). One CSR serves every cell: nothing is copied
 * per cell. Every kernel here runs its outer loop over cells in parallel (OpenMP) when B > 1
 * (cw_spmm with B = 1: over node rows), never calls BLAS, allocates nothing, and gives
 * bit-identical results for any thread count (per-cell partial sums of parameter gradients are
 * reduced in cell order).
 *
 * spmm: out[b,v,:] = sum_{e in row v} val[e] x[b, idx[e], :] + diag[v] x[b, v, :]
 *   The aggregation of SAGE (val[e] = 1/deg(v), diag NULL: mean over neighbours, 0 when v has
 *   none) and of GCN (self loops and symmetric normalisation: d(v) = 1 + deg(v),
 *   val[e] = 1/sqrt(d(v) d(u)), diag[v] = 1/d(v)). Its backward is spmm with the transpose's
 *   values: for a symmetric pattern the entry (u, v) of A^T sits in row u at the slot of column
 *   v, so tval[e in row u, column v] = val[slot of u in row v]; cw_spmm_transpose_values fills it.
 *   GCN's matrix is symmetric, so tval = val there.
 *
 * gat (PyG GATConv with heads K, F features per head, concat, negative_slope 0.2, self loops,
 * dropout 0): given xw (B, N, K F) = x W^T (the layer's linear map, applied by the caller),
 *   s_src[b,v,k] = <att_src[k], xw[b,v,k]>,  s_dst[b,v,k] = <att_dst[k], xw[b,v,k]>
 *   for u in N(v) and u = v:  e_vu = lrelu_0.2(s_src[u] + s_dst[v]),  alpha_v. = softmax_u(e_v.)
 *   out[b,v,k] = sum_u alpha_vu xw[b,u,k] + bias[k]            (bias (K F) or NULL)
 *   The attention of the self loop of row v is stored after row v's edges: slot
 *   indptr[v] + v + j for the j-th neighbour, indptr[v+1] + v for the self loop, so alpha holds
 *   B (nnz + N) K values (cell b at offset b (nnz + N) K; slot-major, head fastest).
 *   The softmax subtracts the row max; unlike PyG it adds no 1e-16 to the denominator (the self
 *   loop makes it >= 1, so the difference is below 1e-16 relative).
 */
#ifndef CW_NN_GRAPH_CONV_H
#define CW_NN_GRAPH_CONV_H

#include "nn/real.h"

#include <stdint.h>

/* spmm: x (B, N, F), CSR (indptr, indices, val (nnz)), diag (N) or NULL -> out (B, N, F).
 * accumulate 0: out is overwritten; 1: out += A x (this is how backward is applied).
 * out may not alias x. B = 1 parallelises over node rows: this is the node-major form, x (N, C F)
 * with the C cells of a batch side by side in each node's row (F = C F'), which turns width-1
 * features into one contiguous C-wide axpy per edge. */
void cw_spmm(real *out, const real *x, const int64_t *indptr, const int32_t *indices,
             const real *val, const real *diag, int64_t batch, int64_t n, int64_t f,
             int accumulate);
/* tval (nnz): values of A^T in A's (symmetric) pattern: tval[e] = val[slot of (idx[e] -> row)].
 * Requires a symmetric pattern (asserted). */
void cw_spmm_transpose_values(real *tval, const real *val, const int64_t *indptr,
                              const int32_t *indices, int64_t n);
/* SAGE mean aggregation values: val[e in row v] = 1/deg(v); tval[e in row u, column v] =
 * 1/deg(v) (the transpose, for a symmetric pattern). Either output may be NULL. */
void cw_sage_mean_values(real *val, real *tval, const int64_t *indptr, const int32_t *indices,
                         int64_t n);
/* GCN normalisation with self loops: keep (nnz) or NULL = every edge kept; a dropped edge gets
 * val 0 and does not count in the degrees. d(v) = 1 + kept edges of row v; val[e] =
 * 1/sqrt(d(v) d(u)) for kept edges, diag[v] = 1/d(v). With a symmetric keep mask val is
 * symmetric (its own transpose). val and diag are both required (diag holds d during the call). */
void cw_gcn_norm_values(real *val, real *diag, const int64_t *indptr, const int32_t *indices,
                        const uint8_t *keep, int64_t n);

/* reals of scratch cw_gat_forward/backward need for B cells, N nodes, nnz edges, K heads, F */
int64_t cw_gat_alpha_size(int64_t batch, int64_t n, int64_t nnz, int64_t heads);
int64_t cw_gat_scratch_size(int64_t batch, int64_t n, int64_t nnz, int64_t heads, int64_t f);
/* gat: xw (B, N, K F), att_src, att_dst (K, F), bias (K F) or NULL -> out (B, N, K F); alpha
 * (cw_gat_alpha_size) receives the attention weights, which backward needs. out may not alias
 * xw (it holds the source scores during the call). */
void cw_gat_forward(real *out, real *alpha, const real *xw, const real *att_src,
                    const real *att_dst, const real *bias, const int64_t *indptr,
                    const int32_t *indices, int64_t batch, int64_t n, int64_t heads, int64_t f);
/* accumulates: dxw (B, N, K F) += dL/dxw, datt_src, datt_dst (K, F) += ..., dbias (K F) += sum
 * of dout (datt_src, datt_dst, dbias may be NULL; dxw may not); dout (B, N, K F); xw, alpha as in
 * forward; scratch of cw_gat_scratch_size reals (its contents on entry do not matter). */
void cw_gat_backward(real *dxw, real *datt_src, real *datt_dst, real *dbias, const real *dout,
                     const real *xw, const real *alpha, const real *att_src, const real *att_dst,
                     const int64_t *indptr, const int32_t *indices, real *scratch, int64_t batch,
                     int64_t n, int64_t heads, int64_t f);

#endif
