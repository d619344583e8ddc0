/* support.h: common preprocessing of the linear-transform algorithms (spec §A4.0): the
 * n-dimensional support basis of the observations, projection onto it, and the uncentred
 * score-difference correlation matrices R^m = E[ds ds^T].
 */
#ifndef CW_CRL_SUPPORT_H
#define CW_CRL_SUPPORT_H

#include "causeway.h"

#include <stdint.h>

/* basis (d x n, orthonormal columns) = eigenvectors of the n largest eigenvalues (descending)
 * of C = sum over environments of cov(x_e[0 : min(count_e, n + d)]) (centred, divisor = rows).
 * x[e] is count[e] x d. CW_EINVAL if n > d or an environment has fewer than 2 rows. */
cw_status cw_crl_support_basis(double *basis, const double *const *x, const int64_t *count,
                               int64_t n_env, int64_t d, int64_t n);

/* out (count x n) = x (count x d) basis (d x n). */
void cw_crl_project(double *out, const double *x, int64_t count, const double *basis, int64_t d,
                    int64_t n);

/* r (p x p) = (1/count) sum_i a_i b_i^T over rows of a, b (count x p); b may equal a. */
void cw_crl_cross_moment(double *r, const double *a, const double *b, int64_t count, int64_t p);

#endif
