/* score_gaussian.h: the analytic Gaussian score estimator (spec score_crl_and_temporal.md §A3.1)
 * and the closed-form Gaussian log-density-ratio gradient (§A3.3, "Gaussian LDR").
 *
 * Fit: mean mu and covariance Sigma (centred, divisor N) of count x p samples, precision
 * theta = Sigma^{-1} (Cholesky, cw_la_spd_inverse). Score: s(x) = -theta (x - mu).
 * Deviation from the authors' gaussian_score_est, which evaluates -theta x: their generators are
 * zero-mean, so the mean term is zero there; we keep it so that the estimator is right for any
 * data (on zero-mean data the two agree up to the sampling error of mu).
 * Double precision throughout; row-major arrays.
 */
#ifndef CW_CRL_SCORE_GAUSSIAN_H
#define CW_CRL_SCORE_GAUSSIAN_H

#include "causeway.h"

#include <stdint.h>

typedef struct {
    int64_t p;
    double *mu;    /* p */
    double *theta; /* p x p, symmetric: the precision Sigma^{-1} */
} cw_gauss_score;

/* Fits g from x (count x p). CW_EINVAL when count < 2, p < 1, x is NULL, a value is not
 * finite or the covariance is not positive definite (e.g. count <= p or collinear columns);
 * CW_ENOMEM. On failure g is left empty (safe to free). */
cw_status cw_gauss_score_fit(cw_gauss_score *g, const double *x, int64_t count, int64_t p);

/* s (count x p) = -theta (x_i - mu) for every row x_i of x (count x p). */
void cw_gauss_score_eval(const cw_gauss_score *g, const double *x, int64_t count, double *s);

void cw_gauss_score_free(cw_gauss_score *g);

/* Closed-form gradient of log p_b / p_a for two fitted Gaussians a, b (same p):
 * ds (count x p) = (theta_a - theta_b) x + theta_b mu_b - theta_a mu_a
 *               = s_b(x) - s_a(x),
 * computed in the first (polynomial, GaussianLdr) form. CW_EINVAL when the dimensions differ;
 * CW_ENOMEM. */
cw_status cw_gauss_ldr_grad(const cw_gauss_score *a, const cw_gauss_score *b, const double *x,
                            int64_t count, double *ds);

#endif
