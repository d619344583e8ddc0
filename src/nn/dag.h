/* dag.h: the linear causal (DAG) layer of CMVAE / GraCE-VAE (spec §4.0 "Causal (DAG) layer",
 * §5.6). Rows are samples:
 *   u = z' M,  M = (I - A)^{-1},  A = triu(G, 1)   (G is Z x Z; only i < j is read)
 * computed by forward substitution with the unit upper-triangular I - A, row by row:
 *   u_j = z'_j + sum_{i<j} A_ij u_i
 * Backward (g = dL/du), by the transposed solve v (I - A)^T = g, i.e. v = g M^T:
 *   dz' += v,   dG_ij += (u^T v)_ij for i < j   (= (M^T z'^T g M^T)_ij; diagonal and lower
 *   triangle of dG untouched: they get zero gradient)
 * No inverse is formed. The caller builds z' (z, or z + s bc for an intervention). */
#ifndef CW_NN_DAG_H
#define CW_NN_DAG_H

#include "nn/real.h"

#include <stdint.h>

/* Reals of backward scratch: 2 N Z. */
int64_t cw_dag_scratch_size(int64_t n, int64_t z);

/* dag: zp (N, Z), g (Z, Z) -> u (N, Z) = zp (I - triu(g,1))^{-1}; u may alias zp */
void cw_dag_forward(real *u, const real *zp, const real *g, int64_t n, int64_t z);
/* accumulates: dzp (N, Z) += du M^T, dg (Z, Z) strict upper triangle += u^T (du M^T);
 * u (N, Z) is the forward's output; scratch (2 N Z) is overwritten; dzp or dg may be NULL */
void cw_dag_backward(real *dzp, real *dg, real *scratch, const real *du, const real *u,
                     const real *g, int64_t n, int64_t z);

#endif
