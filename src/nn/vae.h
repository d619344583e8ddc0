/* vae.h: reparameterisation and the Gaussian KL term of the VAE (spec §4.0 and §5.1 item 3).
 * The encoder outputs a variance (softplus), not a log-variance:
 *   z  = mu + sqrt(var) * eps,                         eps ~ N(0, I) drawn by the caller
 *   KL = -1/2 sum_{b,j} (1 + log var - mu^2 - var) / B  (sum over latents, mean over the batch)
 * The KL is accumulated in double and returned; backward takes dloss (the loss weight, beta_n)
 * and accumulates (+=) into the gradient buffers. */
#ifndef CW_NN_VAE_H
#define CW_NN_VAE_H

#include "nn/real.h"

#include <stdint.h>

/* reparameterisation: mu (N), var (N), eps (N) -> z (N) = mu + sqrt(var) eps */
void cw_reparam_forward(real *z, const real *mu, const real *var, const real *eps, int64_t n);
/* accumulates: dmu (N) += dz, dvar (N) += dz eps / (2 sqrt(var)); either may be NULL */
void cw_reparam_backward(real *dmu, real *dvar, const real *dz, const real *var, const real *eps,
                         int64_t n);

/* kl: mu (B, Z), var (B, Z) -> returns -1/2 sum (1 + log var - mu^2 - var) / B */
double cw_kl_forward(const real *mu, const real *var, int64_t b, int64_t z);
/* accumulates: dmu (B, Z) += dloss mu / B, dvar (B, Z) += dloss (1 - 1/var) / (2B);
 * either may be NULL */
void cw_kl_backward(real *dmu, real *dvar, double dloss, const real *mu, const real *var,
                    int64_t b, int64_t z);

#endif
