/* lapack.h: double-precision dense linear algebra through LAPACKE and CBLAS (spec
 * score_crl_and_temporal.md §A7: symmetric eigen, SVD, pseudo-inverse, null space, QR,
 * Cholesky and SPD solves for the score-based CRL algorithms).
 *
 * Conventions: every matrix is row-major, dense, double; shapes are given as (rows x cols).
 * Inputs are never modified (each routine copies what LAPACK overwrites). Outputs are caller
 * buffers of the stated size. Workspace is allocated per call (these matrices are small: n, d
 * <= a few hundred). Errors: CW_EINVAL with a message naming the routine (not positive
 * definite, no convergence, bad shape), CW_ENOMEM.
 */
#ifndef CW_LA_LAPACK_H
#define CW_LA_LAPACK_H

#include "causeway.h"

#include <stdint.h>

/* C (m x n) = A (m x k) B (k x n), op = transpose flags ('N' or 'T' for A and B as stored:
 * with ta = 'T', a is stored k x m). Plain cblas_dgemm. */
void cw_la_gemm(char ta, char tb, int64_t m, int64_t n, int64_t k, double alpha, const double *a,
                const double *b, double beta, double *c);

/* Symmetric eigendecomposition: a (n x n, symmetric; only the upper triangle is read) ->
 * w (n) ascending, v (n x n) with v[i*n + k] = component i of the unit eigenvector of w[k]
 * (eigenvectors are the columns of v). v may be NULL for eigenvalues only. dsyevd. */
cw_status cw_la_eigh(double *w, double *v, const double *a, int64_t n);

/* Thin SVD: a (m x n) = u diag(s) vt, k = min(m, n): u (m x k), s (k) descending, vt (k x n).
 * Vectors are computed only when u and vt are BOTH non-NULL; with either NULL, only s is
 * written (singular values only). dgesdd. */
cw_status cw_la_svd(double *u, double *s, double *vt, const double *a, int64_t m, int64_t n);

/* Moore-Penrose pseudo-inverse: a (m x n) -> p (n x m); singular values <= rcond * s_max are
 * treated as zero (numpy's pinv default rcond is 1e-15). */
cw_status cw_la_pinv(double *p, const double *a, int64_t m, int64_t n, double rcond);

/* Numerical rank: the number of singular values > rtol * s_max (and > 0). */
cw_status cw_la_rank(int64_t *rank, const double *a, int64_t m, int64_t n, double rtol);

/* Orthonormal basis of the null space {x in R^n : a x = 0} of a (m x n): rows 0..k-1 of basis
 * (n x n buffer) are the basis vectors, k = n - rank with rank as in cw_la_rank(rtol). */
cw_status cw_la_null_space(double *basis, int64_t *k, const double *a, int64_t m, int64_t n,
                           double rtol);

/* QR of a (m x n). complete = 0: q (m x kq), r (kq x n) with kq = min(m, n) (numpy "reduced");
 * complete = 1: q (m x m), r (m x n) (numpy "complete"). r is upper triangular (trapezoidal).
 * The sign convention is LAPACK's (dgeqrf + dorgqr), the same as numpy's. */
cw_status cw_la_qr(double *q, double *r, const double *a, int64_t m, int64_t n, int complete);

/* Cholesky a = l l^T of a symmetric positive definite a (n x n) -> l (n x n, lower, zeros above).
 * CW_EINVAL "not positive definite (leading minor k)" otherwise. dpotrf. */
cw_status cw_la_cholesky(double *l, const double *a, int64_t n);

/* Inverse of a symmetric positive definite a (n x n) -> inv (full, symmetric). dpotrf+dpotri. */
cw_status cw_la_spd_inverse(double *inv, const double *a, int64_t n);

/* Solve a x = b for SPD a (n x n), b and x (n x nrhs); x may equal b. dposv. */
cw_status cw_la_spd_solve(double *x, const double *a, const double *b, int64_t n, int64_t nrhs);

/* Solve a x = b for general square a (n x n), b and x (n x nrhs); x may equal b. CW_EINVAL if
 * a is exactly singular. dgesv. */
cw_status cw_la_solve(double *x, const double *a, const double *b, int64_t n, int64_t nrhs);

/* Determinant of a general square a (n x n) through LU (0 for an exactly singular matrix). */
cw_status cw_la_det(double *det, const double *a, int64_t n);

#endif
