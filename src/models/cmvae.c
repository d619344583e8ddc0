/* cmvae.c: CMVAE parameter table, init, forward, backward, step, predict, schedules (cmvae.h;
 * spec §4.0, §4.1, §4.6, §5.1-5.6). Every layer goes through the nn kernels; the only loops here
 * are the one-hot gathers/scatters of the intervention MLP and the shift z + s bc. */
#include "models/cmvae.h"

#include "core/alloc.h"
#include "core/status.h"
#include "nn/activation.h"
#include "nn/adam.h"
#include "nn/dag.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/mmd.h"
#include "nn/softmax.h"
#include "nn/vae.h"

#include <math.h>
#include <string.h>

void cw_cmvae_config_default(cw_cmvae_config *cfg, int64_t genes, int64_t latent,
                             int64_t targets) {
    memset(cfg, 0, sizeof *cfg);
    cfg->genes = genes;
    cfg->latent = latent;
    cfg->targets = targets;
    cfg->hidden = 128;
    cfg->batch = 32;
    cfg->mmd_sigma = 1000;
    cfg->kernel_num = 10;
    cfg->lambda = 1e-4;
    cfg->grad_clip = 0;
    cfg->lr = 1e-3;
}

void cw_cmvae_free(cw_cmvae *m) {
#ifdef CW_REAL_DOUBLE
    cw_free(m->params); /* own allocation of the four real blocks */
#endif
    cw_params_free(&m->table);
    cw_free(m->arena);
    memset(m, 0, sizeof *m);
}

static void fill_normal(cw_rng *r, real *a, int64_t n, double sd) {
    for (int64_t i = 0; i < n; i++) a[i] = (real)(sd * cw_rng_normal(r));
}

static void fill_uniform(cw_rng *r, real *a, int64_t n, double bound) {
    for (int64_t i = 0; i < n; i++) a[i] = (real)(bound * (2 * cw_rng_uniform(r) - 1));
}

static int64_t tensor_size(const cw_cmvae *m, int i) { return m->table.rows[i] * m->table.cols[i]; }

/* Carves the arena; with base NULL only counts. Returns the number of reals. */
static int64_t layout_arena(cw_cmvae *m, real *base) {
    const int64_t B = m->cfg.batch, G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    int64_t off = 0;
#define TAKE(ptr, count)                                                                       \
    do {                                                                                       \
        if (base) m->ptr = base + off;                                                         \
        off += (count);                                                                        \
    } while (0)
    TAKE(h1, B * H);
    TAKE(mu, B * Z);
    TAKE(vpre, B * Z);
    TAKE(var, B * Z);
    TAKE(eps, B * Z);
    TAKE(z, B * Z);
    TAKE(zp, B * Z);
    TAKE(hc, H);
    TAKE(hc2, H);
    TAKE(bc, Z);
    TAKE(bc2, Z);
    TAKE(u_int, B * Z);
    TAKE(u_obs, B * Z);
    TAKE(a_int, B * H);
    TAKE(a_obs, B * H);
    TAKE(y_hat, B * G);
    TAKE(x_recon, B * G);
    TAKE(mmd_dist, cw_mmd_scratch_size(B, B));
    TAKE(d_out, B * G);
    TAKE(d_pre, B * G);
    TAKE(d_a, B * H);
    TAKE(d_apre, B * H);
    TAKE(d_u, B * Z);
    TAKE(d_zp, B * Z);
    TAKE(d_z, B * Z);
    TAKE(d_mu, B * Z);
    TAKE(d_var, B * Z);
    TAKE(d_vpre, B * Z);
    TAKE(d_h1, B * H);
    TAKE(d_h1pre, B * H);
    TAKE(d_bc, Z);
    TAKE(d_logits, Z);
    TAKE(d_hc, H);
    TAKE(d_hcpre, H);
    TAKE(mmd_scratch, cw_mmd_scratch_size(B, B));
    TAKE(dag_scratch, cw_dag_scratch_size(B, Z));
#undef TAKE
    return off;
}

cw_status cw_cmvae_init(cw_cmvae *m, const cw_cmvae_config *cfg, cw_rng *rng) {
    memset(m, 0, sizeof *m);
    const int64_t G = cfg->genes, Z = cfg->latent, C = cfg->targets, H = cfg->hidden;
    if (G <= 0 || Z <= 0 || C <= 0 || H <= 0 || cfg->batch <= 0)
        return cw_fail(CW_EINVAL, "cmvae: sizes must be positive (genes %lld, latent %lld, "
                       "targets %lld, hidden %lld, batch %lld)", (long long)G, (long long)Z,
                       (long long)C, (long long)H, (long long)cfg->batch);
    if (!(cfg->mmd_sigma > 0) || cfg->kernel_num <= 0 || !(cfg->lr > 0) || cfg->grad_clip < 0 ||
        !(cfg->lambda >= 0))
        return cw_fail(CW_EINVAL, "cmvae: need mmd_sigma > 0, kernel_num > 0, lr > 0, "
                       "grad_clip >= 0, lambda >= 0");
    m->cfg = *cfg;
    const cw_param_spec specs[CW_CMVAE_NPARAMS] = {
        {"fc1.weight", H, G},     {"fc1.bias", H, 1},     {"fc_mean.weight", Z, H},
        {"fc_mean.bias", Z, 1},   {"fc_var.weight", Z, H}, {"fc_var.bias", Z, 1},
        {"G", Z, Z},              {"c1.weight", H, C},    {"c1.bias", H, 1},
        {"c2.weight", Z, H},      {"c2.bias", Z, 1},      {"c_shift", C, 1},
        {"d1.weight", H, Z},      {"d1.bias", H, 1},      {"d2.weight", G, H},
        {"d2.bias", G, 1},
    };
    cw_status st = cw_params_init(&m->table, specs, CW_CMVAE_NPARAMS);
    if (st != CW_OK) return cw_fail_prefix(st, "cmvae");
#ifdef CW_REAL_DOUBLE
    const int64_t total = m->table.total;
    m->params = cw_calloc((size_t)total, 4 * sizeof(real));
    if (!m->params) {
        cw_cmvae_free(m);
        return cw_fail(CW_ENOMEM, "cmvae: out of memory for %lld parameters", (long long)total);
    }
    m->grads = m->params + total;
    m->m = m->grads + total;
    m->v = m->m + total;
#else
    m->params = m->table.params;
    m->grads = m->table.grads;
    m->m = m->table.m;
    m->v = m->table.v;
#endif
    m->arena_size = layout_arena(m, NULL);
    m->arena = cw_malloc_array((size_t)m->arena_size, sizeof(real));
    if (!m->arena) {
        cw_cmvae_free(m);
        return cw_fail(CW_ENOMEM, "cmvae: out of memory for the activation arena (%lld values)",
                       (long long)m->arena_size);
    }
    memset(m->arena, 0, (size_t)m->arena_size * sizeof(real));
    layout_arena(m, m->arena);

    /* §4.0 initialisation, in table order */
    for (int i = 0; i < CW_CMVAE_NPARAMS; i++) {
        real *p = cw_cmvae_param(m, i);
        const int64_t n = tensor_size(m, i);
        switch (i) {
        case CW_CMVAE_FC1_W: case CW_CMVAE_MEAN_W: case CW_CMVAE_VAR_W:
        case CW_CMVAE_D1_W: case CW_CMVAE_D2_W:
            fill_normal(rng, p, n, 0.02);
            break;
        case CW_CMVAE_C1_W: case CW_CMVAE_C1_B: /* torch Linear default, fan_in = C */
            fill_uniform(rng, p, n, 1.0 / sqrt((double)C));
            break;
        case CW_CMVAE_C2_W: case CW_CMVAE_C2_B: /* fan_in = H */
            fill_uniform(rng, p, n, 1.0 / sqrt((double)H));
            break;
        case CW_CMVAE_G:
            fill_normal(rng, p, n, 0.1);
            break;
        case CW_CMVAE_C_SHIFT:
            for (int64_t j = 0; j < n; j++) p[j] = 1;
            break;
        default: /* fc1, fc_mean, fc_var, d1, d2 biases */
            for (int64_t j = 0; j < n; j++) p[j] = 0;
        }
    }
    return CW_OK;
}

/* ---- forward pieces ----------------------------------------------------------------------- */

/* encoder: x (n, G) -> h1 (n, H), mu, vpre, var (n, Z) */
static void encode(cw_cmvae *m, const real *x, int64_t n) {
    const int64_t G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    cw_linear_forward(m->h1, x, cw_cmvae_param(m, CW_CMVAE_FC1_W), cw_cmvae_param(m, CW_CMVAE_FC1_B),
                      n, G, H);
    cw_lrelu_forward(m->h1, m->h1, n * H);
    cw_linear_forward(m->mu, m->h1, cw_cmvae_param(m, CW_CMVAE_MEAN_W),
                      cw_cmvae_param(m, CW_CMVAE_MEAN_B), n, H, Z);
    cw_linear_forward(m->vpre, m->h1, cw_cmvae_param(m, CW_CMVAE_VAR_W),
                      cw_cmvae_param(m, CW_CMVAE_VAR_B), n, H, Z);
    cw_softplus_forward(m->var, m->vpre, n * Z);
}

/* intervention MLP for target k: hc (H) after lrelu, bc (Z); returns s = c_shift[k] */
static real c_encode(cw_cmvae *m, real *hc, real *bc, int64_t k, real tau) {
    const int64_t Z = m->cfg.latent, C = m->cfg.targets, H = m->cfg.hidden;
    const real *w1 = cw_cmvae_param(m, CW_CMVAE_C1_W), *b1 = cw_cmvae_param(m, CW_CMVAE_C1_B);
    for (int64_t i = 0; i < H; i++) hc[i] = w1[i * C + k] + b1[i];
    cw_lrelu_forward(hc, hc, H);
    cw_linear_forward(bc, hc, cw_cmvae_param(m, CW_CMVAE_C2_W), cw_cmvae_param(m, CW_CMVAE_C2_B),
                      1, H, Z); /* logits */
    cw_softmax_forward(bc, bc, tau, 1, Z);
    return cw_cmvae_param(m, CW_CMVAE_C_SHIFT)[k];
}

/* decoder: u (n, Z) -> a (n, H) hidden after lrelu, out (n, G) */
static void decode(cw_cmvae *m, real *out, real *a, const real *u, int64_t n) {
    const int64_t G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    cw_linear_forward(a, u, cw_cmvae_param(m, CW_CMVAE_D1_W), cw_cmvae_param(m, CW_CMVAE_D1_B), n,
                      Z, H);
    cw_lrelu_forward(a, a, n * H);
    cw_linear_forward(out, a, cw_cmvae_param(m, CW_CMVAE_D2_W), cw_cmvae_param(m, CW_CMVAE_D2_B),
                      n, H, G);
    cw_lrelu_forward(out, out, n * G);
}

/* z = mu + sqrt(var) eps, zp = z + s bc (+ s2 bc2), u_int = DAG(zp); eps copied or drawn */
static cw_status latent(cw_cmvae *m, int64_t n, int64_t k, int64_t k2, const real *eps,
                        cw_rng *rng, real tau) {
    const int64_t Z = m->cfg.latent;
    if (eps)
        memcpy(m->eps, eps, (size_t)(n * Z) * sizeof(real));
    else
        for (int64_t i = 0; i < n * Z; i++) m->eps[i] = (real)cw_rng_normal(rng);
    cw_reparam_forward(m->z, m->mu, m->var, m->eps, n * Z);
    const real s = c_encode(m, m->hc, m->bc, k, tau);
    const real s2 = k2 >= 0 ? c_encode(m, m->hc2, m->bc2, k2, tau) : 0;
    for (int64_t b = 0; b < n; b++) {
        const real *zb = m->z + b * Z;
        real *zpb = m->zp + b * Z;
        for (int64_t j = 0; j < Z; j++) zpb[j] = zb[j] + s * m->bc[j];
        if (k2 >= 0)
            for (int64_t j = 0; j < Z; j++) zpb[j] += s2 * m->bc2[j];
    }
    cw_dag_forward(m->u_int, m->zp, cw_cmvae_param(m, CW_CMVAE_G), n, Z);
    return CW_OK;
}

static cw_status check_targets(const cw_cmvae *m, int64_t k, int64_t k2, const real *eps,
                               const cw_rng *rng) {
    const int64_t C = m->cfg.targets;
    if (k < 0 || k >= C)
        return cw_fail(CW_EINVAL, "cmvae: target index %lld outside [0, %lld)", (long long)k,
                       (long long)C);
    if (k2 < -1 || k2 >= C)
        return cw_fail(CW_EINVAL, "cmvae: second target index %lld outside [-1, %lld)",
                       (long long)k2, (long long)C);
    if (!eps && !rng) return cw_fail(CW_EINVAL, "cmvae: need eps or an rng");
    return CW_OK;
}

cw_status cw_cmvae_forward(cw_cmvae *m, const real *x, const real *y, int64_t k, int64_t k2,
                           const real *eps, cw_rng *rng, cw_cmvae_sched w, cw_cmvae_losses *out) {
    CW_TRY(check_targets(m, k, k2, eps, rng));
    const int64_t B = m->cfg.batch, G = m->cfg.genes, Z = m->cfg.latent;
    m->have_forward = 0;
    encode(m, x, B);
    CW_TRY(latent(m, B, k, k2, eps, rng, (real)w.tau));
    cw_dag_forward(m->u_obs, m->z, cw_cmvae_param(m, CW_CMVAE_G), B, Z);
    decode(m, m->y_hat, m->a_int, m->u_int, B);
    decode(m, m->x_recon, m->a_obs, m->u_obs, B);

    cw_cmvae_losses l;
    l.mmd = cw_mmd_forward(m->mmd_dist, m->y_hat, y, B, B, G, m->cfg.mmd_sigma, m->cfg.kernel_num);
    l.mse = cw_mse_forward(m->x_recon, x, B * G);
    l.kl = cw_kl_forward(m->mu, m->var, B, Z);
    l.l1 = cw_l1_triu_forward(cw_cmvae_param(m, CW_CMVAE_G), Z);
    l.total = w.alpha * l.mmd + l.mse + w.beta * l.kl + m->cfg.lambda * l.l1;
    if (out) *out = l;
    m->x = x;
    m->y = y;
    m->k = k;
    m->k2 = k2;
    m->w = w;
    m->have_forward = 1;
    return CW_OK;
}

/* ---- backward ----------------------------------------------------------------------------- */

/* decoder backward: d_out (n, G) = dL/d(decoder output) -> d_u (n, Z) (overwritten), weight grads
 * accumulated. Uses d_pre, d_a, d_apre as scratch. */
static void decode_backward(cw_cmvae *m, const real *dout, const real *out, const real *a,
                            const real *u, int64_t n) {
    const int64_t G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    memset(m->d_pre, 0, (size_t)(n * G) * sizeof(real));
    cw_lrelu_backward(m->d_pre, dout, out, n * G);
    memset(m->d_a, 0, (size_t)(n * H) * sizeof(real));
    cw_linear_backward(m->d_a, cw_cmvae_grad(m, CW_CMVAE_D2_W), cw_cmvae_grad(m, CW_CMVAE_D2_B),
                       m->d_pre, a, cw_cmvae_param(m, CW_CMVAE_D2_W), n, H, G);
    memset(m->d_apre, 0, (size_t)(n * H) * sizeof(real));
    cw_lrelu_backward(m->d_apre, m->d_a, a, n * H);
    memset(m->d_u, 0, (size_t)(n * Z) * sizeof(real));
    cw_linear_backward(m->d_u, cw_cmvae_grad(m, CW_CMVAE_D1_W), cw_cmvae_grad(m, CW_CMVAE_D1_B),
                       m->d_apre, u, cw_cmvae_param(m, CW_CMVAE_D1_W), n, Z, H);
}

/* intervention MLP backward for target k: d_zp (n, Z), the shift s and bc -> grads of c_shift[k],
 * c2.*, c1.weight[:, k], c1.bias */
static void c_encode_backward(cw_cmvae *m, const real *hc, const real *bc, int64_t k, int64_t n) {
    const int64_t Z = m->cfg.latent, C = m->cfg.targets, H = m->cfg.hidden;
    const real s = cw_cmvae_param(m, CW_CMVAE_C_SHIFT)[k];
    /* zp = z + s bc: d_bc_j = s sum_b d_zp_bj, d_s = sum_bj d_zp_bj bc_j */
    double ds = 0;
    for (int64_t j = 0; j < Z; j++) {
        double col = 0;
        for (int64_t b = 0; b < n; b++) col += m->d_zp[b * Z + j];
        m->d_bc[j] = (real)(s * col);
        ds += col * bc[j];
    }
    cw_cmvae_grad(m, CW_CMVAE_C_SHIFT)[k] += (real)ds;
    memset(m->d_logits, 0, (size_t)Z * sizeof(real));
    cw_softmax_backward(m->d_logits, m->d_bc, bc, (real)m->w.tau, 1, Z);
    memset(m->d_hc, 0, (size_t)H * sizeof(real));
    cw_linear_backward(m->d_hc, cw_cmvae_grad(m, CW_CMVAE_C2_W), cw_cmvae_grad(m, CW_CMVAE_C2_B),
                       m->d_logits, hc, cw_cmvae_param(m, CW_CMVAE_C2_W), 1, H, Z);
    memset(m->d_hcpre, 0, (size_t)H * sizeof(real));
    cw_lrelu_backward(m->d_hcpre, m->d_hc, hc, H);
    real *gw1 = cw_cmvae_grad(m, CW_CMVAE_C1_W), *gb1 = cw_cmvae_grad(m, CW_CMVAE_C1_B);
    for (int64_t i = 0; i < H; i++) {
        gw1[i * C + k] += m->d_hcpre[i]; /* one-hot c: dW = dh c^T touches column k only */
        gb1[i] += m->d_hcpre[i];
    }
}

void cw_cmvae_backward(cw_cmvae *m) {
    CW_ASSERT(m->have_forward);
    const int64_t B = m->cfg.batch, G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    const real *g = cw_cmvae_param(m, CW_CMVAE_G);
    real *dg = cw_cmvae_grad(m, CW_CMVAE_G);

    /* interventional branch: alpha MMD(y_hat, y) -> d_zp */
    memset(m->d_out, 0, (size_t)(B * G) * sizeof(real));
    if (m->w.alpha != 0)
        cw_mmd_backward(m->d_out, NULL, m->mmd_scratch, m->w.alpha, m->y_hat, m->y, m->mmd_dist, B,
                        B, G, m->cfg.mmd_sigma, m->cfg.kernel_num);
    decode_backward(m, m->d_out, m->y_hat, m->a_int, m->u_int, B);
    memset(m->d_zp, 0, (size_t)(B * Z) * sizeof(real));
    cw_dag_backward(m->d_zp, dg, m->dag_scratch, m->d_u, m->u_int, g, B, Z);

    /* observational branch: MSE(x_recon, x) -> d_z */
    memset(m->d_out, 0, (size_t)(B * G) * sizeof(real));
    cw_mse_backward(m->d_out, 1.0, m->x_recon, m->x, B * G);
    decode_backward(m, m->d_out, m->x_recon, m->a_obs, m->u_obs, B);
    memset(m->d_z, 0, (size_t)(B * Z) * sizeof(real));
    cw_dag_backward(m->d_z, dg, m->dag_scratch, m->d_u, m->u_obs, g, B, Z);

    /* zp = z + s bc (+ s2 bc2) */
    for (int64_t i = 0; i < B * Z; i++) m->d_z[i] += m->d_zp[i];
    c_encode_backward(m, m->hc, m->bc, m->k, B);
    if (m->k2 >= 0) c_encode_backward(m, m->hc2, m->bc2, m->k2, B);

    /* lambda L1 */
    cw_l1_triu_backward(dg, m->cfg.lambda, g, Z);

    /* reparameterisation, beta KL, encoder */
    memset(m->d_mu, 0, (size_t)(B * Z) * sizeof(real));
    memset(m->d_var, 0, (size_t)(B * Z) * sizeof(real));
    cw_reparam_backward(m->d_mu, m->d_var, m->d_z, m->var, m->eps, B * Z);
    cw_kl_backward(m->d_mu, m->d_var, m->w.beta, m->mu, m->var, B, Z);
    memset(m->d_vpre, 0, (size_t)(B * Z) * sizeof(real));
    cw_softplus_backward(m->d_vpre, m->d_var, m->vpre, B * Z);
    memset(m->d_h1, 0, (size_t)(B * H) * sizeof(real));
    cw_linear_backward(m->d_h1, cw_cmvae_grad(m, CW_CMVAE_MEAN_W),
                       cw_cmvae_grad(m, CW_CMVAE_MEAN_B), m->d_mu, m->h1,
                       cw_cmvae_param(m, CW_CMVAE_MEAN_W), B, H, Z);
    cw_linear_backward(m->d_h1, cw_cmvae_grad(m, CW_CMVAE_VAR_W), cw_cmvae_grad(m, CW_CMVAE_VAR_B),
                       m->d_vpre, m->h1, cw_cmvae_param(m, CW_CMVAE_VAR_W), B, H, Z);
    memset(m->d_h1pre, 0, (size_t)(B * H) * sizeof(real));
    cw_lrelu_backward(m->d_h1pre, m->d_h1, m->h1, B * H);
    cw_linear_backward(NULL, cw_cmvae_grad(m, CW_CMVAE_FC1_W), cw_cmvae_grad(m, CW_CMVAE_FC1_B),
                       m->d_h1pre, m->x, cw_cmvae_param(m, CW_CMVAE_FC1_W), B, G, H);
}

cw_status cw_cmvae_train_step(cw_cmvae *m, const real *x, const real *y, int64_t k, int64_t k2,
                              const real *eps, cw_rng *rng, cw_cmvae_sched w,
                              cw_cmvae_losses *out) {
    const int64_t total = m->table.total;
    memset(m->grads, 0, (size_t)total * sizeof(real));
    cw_cmvae_losses l;
    CW_TRY(cw_cmvae_forward(m, x, y, k, k2, eps, rng, w, &l));
    if (out) *out = l;
    /* cw_mmd_forward clamps distances with `v > 0 ? v : 0`, which maps NaN to 0: a NaN in y_hat
     * alone would leave the MMD finite, so y_hat is scanned too */
    int yhat_ok = 1;
    const int64_t ny = m->cfg.batch * m->cfg.genes;
    for (int64_t i = 0; i < ny; i++) yhat_ok &= isfinite(m->y_hat[i]) != 0;
    const char *bad = !isfinite(l.mmd) ? "mmd" : !yhat_ok ? "mmd (y_hat)"
                    : !isfinite(l.mse) ? "mse" : !isfinite(l.kl) ? "kl"
                    : !isfinite(l.l1) ? "l1" : !isfinite(l.total) ? "total" : NULL;
    if (bad)
        return cw_fail(CW_EINVAL, "cmvae: step %lld (target %lld): loss term %s is not finite "
                       "(mmd %g, mse %g, kl %g, l1 %g)", (long long)(m->t + 1), (long long)k,
                       bad, l.mmd, l.mse, l.kl, l.l1);
    cw_cmvae_backward(m);
    if (m->cfg.grad_clip > 0) cw_grad_clamp(m->grads, total, (real)m->cfg.grad_clip);
    m->t++;
    cw_adam_update(m->params, m->grads, m->m, m->v, total, m->cfg.lr, CW_ADAM_BETA1,
                   CW_ADAM_BETA2, CW_ADAM_EPS, m->t);
    return CW_OK;
}

cw_status cw_cmvae_predict(cw_cmvae *m, real *y_hat, const real *x, int64_t n, int64_t k,
                           int64_t k2, const real *eps, cw_rng *rng) {
    CW_TRY(check_targets(m, k, k2, eps, rng));
    if (n < 0 || n > m->cfg.batch)
        return cw_fail(CW_EINVAL, "cmvae: predict: %lld rows, at most the batch size %lld",
                       (long long)n, (long long)m->cfg.batch);
    m->have_forward = 0;
    if (n == 0) return CW_OK;
    encode(m, x, n);
    CW_TRY(latent(m, n, k, k2, eps, rng, 1));
    decode(m, m->y_hat, m->a_int, m->u_int, n);
    memcpy(y_hat, m->y_hat, (size_t)(n * m->cfg.genes) * sizeof(real));
    return CW_OK;
}

/* ---- schedules (§5.3) --------------------------------------------------------------------- */

/* element i of torch.linspace(start, end, steps) in float32 (scalar kernel formula) */
static float linspace_f32(double start, double end, int64_t steps, int64_t i) {
    const float s = (float)start, e = (float)end;
    if (steps == 1) return s;
    const float step = (e - s) / (float)(steps - 1);
    if (i < steps / 2) return s + step * (float)i;
    return e - step * (float)(steps - i - 1);
}

cw_cmvae_sched cw_cmvae_schedule(int64_t epoch, int64_t epochs, double mx_alpha, double mx_beta,
                                 double mx_temp) {
    cw_cmvae_sched w = {0, 0, 1};
    if (epochs <= 1) return w;
    const int64_t half = epochs / 2;
    if (epoch >= 10) w.beta = linspace_f32(0, mx_beta, epochs - 10, epoch - 10);
    if (epoch >= half)
        w.alpha = (float)mx_alpha;
    else if (epoch >= 5)
        w.alpha = linspace_f32(0, mx_alpha, half - 5, epoch - 5);
    if (epoch >= 5) w.tau = linspace_f32(1, mx_temp, epochs - 5, epoch - 5);
    return w;
}

cw_status cw_cmvae_latent_mean(cw_cmvae *m, real *u, const real *x, int64_t n) {
    if (n < 1 || n > m->cfg.batch)
        return cw_fail(CW_EINVAL, "cmvae: latent of %lld cells (1..%lld per call)", (long long)n,
                       (long long)m->cfg.batch);
    encode(m, x, n);
    cw_dag_forward(u, m->mu, cw_cmvae_param(m, CW_CMVAE_G), n, m->cfg.latent);
    m->have_forward = 0;
    return CW_OK;
}
