/* cmvae.h: the CMVAE model (discrepancy VAE), spec grace_cmvae.md §4.0, §4.1, §4.6, §5.1-5.6 and
 * Appendix A (without the graph encoder): parameter table, initialisation, forward with the four
 * loss terms, hand-written backward, training step (clamp + Adam) and the epoch schedules.
 *
 *   (mu, var) = encode(x):  h = lrelu(x W1^T + b1), mu = h Wmu^T + bmu, var = softplus(h Wv^T + bv)
 *   z         = mu + sqrt(var) eps
 *   target k (one-hot c, so c1 is a column gather):
 *       hc = lrelu(Wc1[:,k] + bc1),  bc = softmax(tau (hc Wc2^T + bc2)),  s = c_shift[k]
 *   u_int = (z + s bc [+ s2 bc2]) (I - triu(G,1))^{-1},   u_obs = z (I - triu(G,1))^{-1}
 *   y_hat = lrelu(lrelu(u_int Wd1^T + bd1) Wd2^T + bd2),  x_recon likewise from u_obs
 *   L = alpha MMD(y_hat, y) + MSE(x_recon, x) + beta KL(mu, var) + lambda sum_{i<j} |G_ij|
 *
 * Conventions: rows are cells; matrices row-major, torch Linear layout weight (OUT, IN). The
 * scalar type is `real` (nn/real.h): float in the library; the gradient-check test compiles this
 * file in double. Parameters, gradients and Adam moments use the cw_param_table layout; in the
 * float build m->params etc. ARE the table's blocks, in a double build they are a separate real
 * allocation with the same layout. All activations and scratch live in one arena allocated by
 * cw_cmvae_init: forward, backward, train_step and predict allocate nothing. backward
 * accumulates into m->grads (train_step zeroes them first). The intervention MLP's gradient
 * reaches only column k (and k2) of c1.weight, c1.bias, c2.*, c_shift[k] (and [k2]); Adam then
 * updates every element (torch: every tensor has a gradient, zero in the other columns).
 */
#ifndef CW_MODELS_CMVAE_H
#define CW_MODELS_CMVAE_H

#include "causeway.h"
#include "core/rng.h"
#include "models/params.h"
#include "nn/real.h"

#include <stdint.h>

/* Tensor indices in the parameter table (this order; names as the torch state_dict). */
enum {
    CW_CMVAE_FC1_W,   /* fc1.weight     (H, G) */
    CW_CMVAE_FC1_B,   /* fc1.bias       (H)    */
    CW_CMVAE_MEAN_W,  /* fc_mean.weight (Z, H) */
    CW_CMVAE_MEAN_B,  /* fc_mean.bias   (Z)    */
    CW_CMVAE_VAR_W,   /* fc_var.weight  (Z, H) */
    CW_CMVAE_VAR_B,   /* fc_var.bias    (Z)    */
    CW_CMVAE_G,       /* G              (Z, Z) strict upper triangle used */
    CW_CMVAE_C1_W,    /* c1.weight      (H, C) */
    CW_CMVAE_C1_B,    /* c1.bias        (H)    */
    CW_CMVAE_C2_W,    /* c2.weight      (Z, H) */
    CW_CMVAE_C2_B,    /* c2.bias        (Z)    */
    CW_CMVAE_C_SHIFT, /* c_shift        (C)    */
    CW_CMVAE_D1_W,    /* d1.weight      (H, Z) */
    CW_CMVAE_D1_B,    /* d1.bias        (H)    */
    CW_CMVAE_D2_W,    /* d2.weight      (G, H) */
    CW_CMVAE_D2_B,    /* d2.bias        (G)    */
    CW_CMVAE_NPARAMS
};

typedef struct {
    int64_t genes;      /* G (D in the spec): genes per cell */
    int64_t latent;     /* Z */
    int64_t targets;    /* C: intervention targets (one-hot width) */
    int64_t hidden;     /* H: 128 */
    int64_t batch;      /* B: rows per training batch (and max rows per predict call); 32 */
    double mmd_sigma;   /* 1000 */
    int64_t kernel_num; /* 10 */
    double lambda;      /* L1 weight on triu(G, 1); 1e-4 (GraCE) */
    double grad_clip;   /* clamp every gradient element to [-c, c] when > 0; 0 = off */
    double lr;          /* Adam learning rate, 1e-3 (betas 0.9, 0.999, eps 1e-8) */
} cw_cmvae_config;

/* Per-epoch loss weights and softmax inverse temperature (§5.3). */
typedef struct {
    double alpha, beta, tau;
} cw_cmvae_sched;

/* Loss terms of the last forward (double) and total = alpha MMD + MSE + beta KL + lambda L1. */
typedef struct {
    double mmd, mse, kl, l1, total;
} cw_cmvae_losses;

typedef struct {
    cw_cmvae_config cfg;
    cw_param_table table;
    real *params, *grads, *m, *v; /* table.total each, table layout */
    int64_t t;                    /* Adam steps taken */

    real *arena; /* one allocation; the pointers below point into it */
    /* forward state, batch rows n = cfg.batch */
    real *h1;                  /* (B, H) encoder hidden, after lrelu */
    real *mu, *vpre, *var;     /* (B, Z) */
    real *eps, *z, *zp;        /* (B, Z) */
    real *hc, *hc2;            /* (H) intervention hidden, after lrelu */
    real *bc, *bc2;            /* (Z) */
    real *u_int, *u_obs;       /* (B, Z) */
    real *a_int, *a_obs;       /* (B, H) decoder hidden, after lrelu */
    real *y_hat, *x_recon;     /* (B, G) */
    real *mmd_dist;            /* (2B, 2B) */
    /* backward scratch */
    real *d_out, *d_pre;       /* (B, G) */
    real *d_a, *d_apre;        /* (B, H) */
    real *d_u, *d_zp, *d_z;    /* (B, Z) */
    real *d_mu, *d_var, *d_vpre; /* (B, Z) */
    real *d_h1, *d_h1pre;      /* (B, H) */
    real *d_bc, *d_logits;     /* (Z) */
    real *d_hc, *d_hcpre;      /* (H) */
    real *mmd_scratch;         /* (2B, 2B) */
    real *dag_scratch;         /* 2 B Z */
    int64_t arena_size;        /* reals */

    /* what backward needs from the last forward */
    const real *x, *y;
    int64_t k, k2;
    cw_cmvae_sched w;
    int have_forward;
} cw_cmvae;

/* Defaults of §5.5 (GraCE): H 128, B 32, sigma 1000, kernel_num 10, lambda 1e-4, clip off,
 * lr 1e-3. */
void cw_cmvae_config_default(cw_cmvae_config *cfg, int64_t genes, int64_t latent,
                             int64_t targets);

/* Lays out the parameter table, allocates the arena and initialises the weights from rng
 * (§4.0): fc1, fc_mean, fc_var, d1, d2 weights N(0, 0.02^2), biases 0; c1, c2 weight and bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)); G N(0, 0.1^2); c_shift 1; drawn in table order. */
cw_status cw_cmvae_init(cw_cmvae *m, const cw_cmvae_config *cfg, cw_rng *rng);
void cw_cmvae_free(cw_cmvae *m);
static inline real *cw_cmvae_param(const cw_cmvae *m, int i) {
    return m->params + m->table.offset[i];
}
static inline real *cw_cmvae_grad(const cw_cmvae *m, int i) {
    return m->grads + m->table.offset[i];
}

/* Forward over one batch: x (B, G) paired controls, y (B, G) real cells of target k; k in
 * [0, C), k2 in [0, C) or -1; eps (B, Z) or NULL to draw N(0,1) from rng. Fills the loss terms.
 * Keeps x and y (not copied) for backward. CW_EINVAL on bad indices or missing eps and rng. */
cw_status cw_cmvae_forward(cw_cmvae *m, const real *x, const real *y, int64_t k, int64_t k2,
                           const real *eps, cw_rng *rng, cw_cmvae_sched w, cw_cmvae_losses *out);
/* accumulates: m->grads += dL/dparams for the last forward's L (CW_ASSERTs one happened). */
void cw_cmvae_backward(cw_cmvae *m);
/* zero grads, forward, (stop with CW_EINVAL if a loss term is not finite: parameters
 * untouched), backward, optional clamp, Adam. */
cw_status cw_cmvae_train_step(cw_cmvae *m, const real *x, const real *y, int64_t k, int64_t k2,
                              const real *eps, cw_rng *rng, cw_cmvae_sched w,
                              cw_cmvae_losses *out);
/* Prediction (§6.1: tau = 1, a fresh sample): x (N, G) controls, N <= B -> y_hat (N, G) under
 * target k (and k2, or -1). eps (N, Z) or NULL to draw from rng. Overwrites the forward state. */
cw_status cw_cmvae_predict(cw_cmvae *m, real *y_hat, const real *x, int64_t n, int64_t k,
                           int64_t k2, const real *eps, cw_rng *rng);

/* The causal latent variables of cells without intervention, at the posterior mean:
 * u = mu(x) (I - triu(G,1))^{-1} (N, Z), N <= B. Overwrites the forward state. */
cw_status cw_cmvae_latent_mean(cw_cmvae *m, real *u, const real *x, int64_t n);

/* Schedules of §5.3 for epoch n in [0, E) (alpha, beta from mx_alpha, mx_beta; tau from
 * mx_temp), as float32 values: torch.linspace's scalar formula in float arithmetic (start +
 * step i in the first half, end - step (steps - 1 - i) in the second). torch's vectorised path
 * may differ in the last bit. E == 1: alpha = beta = 0, tau = 1. */
cw_cmvae_sched cw_cmvae_schedule(int64_t epoch, int64_t epochs, double mx_alpha, double mx_beta,
                                 double mx_temp);

#endif
