/* mixing.h: the maps from latents to observations, x = g(z) (spec §A2.5).
 *
 *   linear: G = Q R (d x n), Q = n columns of a Haar orthogonal d x d matrix, R ~ U[-0.5,0.5]^{n x n}
 *           redrawn until sigma_min/sigma_max >= min_cond (0.1); columns optionally divided by
 *           their max |entry| ("normalize"); encoder = pinv(G) (n x d).
 *   tanh:   x = clamp(tanh(G z), -1+1e-6, 1-1e-6) with G as above (normalised), inverse
 *           z = pinv(G) artanh(x).
 *   mlp:    x = tanh(A3 tanh(A2 tanh(A1 z))), A1, A2 (n x n), A3 (d x n), each by the linear recipe
 *           without normalisation (GSCALE-I-MLP/utils.py InvertibleMlp).
 */
#ifndef CW_CRL_MIXING_H
#define CW_CRL_MIXING_H

#include "causeway.h"
#include "core/rng.h"

#include <stdint.h>

typedef enum { CW_MIX_LINEAR = 0, CW_MIX_TANH, CW_MIX_MLP } cw_mix_kind;

#define CW_MIX_MIN_COND 0.1

typedef struct {
    cw_mix_kind kind;
    int64_t n, d;
    double *g;       /* d x n (linear, tanh) */
    double *encoder; /* n x d = pinv(g) (linear, tanh) */
    double *a1, *a2; /* n x n (mlp) */
    double *a3;      /* d x n (mlp) */
} cw_mixing;

/* Haar-distributed orthogonal d x d matrix: QR of a standard Gaussian matrix with the signs of
 * diag(R) folded into Q. */
cw_status cw_haar_orthogonal(double *q, int64_t d, cw_rng *rng);

/* The linear recipe above: g (d x n), normalise columns by max |entry| if normalize. */
cw_status cw_mixing_linear_matrix(double *g, int64_t n, int64_t d, int normalize, cw_rng *rng);

/* normalize applies to linear only (tanh always normalises, mlp never). CW_EINVAL if d < n. */
cw_status cw_mixing_init(cw_mixing *m, cw_mix_kind kind, int64_t n, int64_t d, int normalize,
                         cw_rng *rng);
void cw_mixing_free(cw_mixing *m);

/* x (count x d) = g(z) for z (count x n). */
void cw_mixing_apply(const cw_mixing *m, const double *z, int64_t count, double *x);

/* Jacobian dg/dz at one latent z (n) -> jac (d x n). */
void cw_mixing_jacobian(const cw_mixing *m, const double *z, double *jac);

/* Transport latent score differences to x (§A3.5): ds_x (count x d) = pinv(J_g(z))^T ds_z
 * (count x n), J_g at each row of z (linear: encoder^T ds_z). */
cw_status cw_mixing_transport_scores(const cw_mixing *m, const double *z, const double *ds_z,
                                     int64_t count, double *ds_x);

cw_status cw_mix_kind_parse(cw_mix_kind *out, const char *s);
const char *cw_mix_kind_name(cw_mix_kind k);

#endif
