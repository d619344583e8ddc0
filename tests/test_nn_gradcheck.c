/* test_nn_gradcheck.c: finite-difference gradient checks of every nn kernel with a backward
 * (STYLE.md "Tests" 1; spec grace_cmvae.md §4.0, §5.1, §5.6), in DOUBLE.
 *
 * How this file is built: the Makefile compiles tests/test_*.c against the float library. To
 * check gradients in double, this file defines CW_REAL_DOUBLE and #includes the kernel .c files
 * themselves, so `real` is double here and the kernels are compiled a second time, in this
 * translation unit. The float kernels in libcauseway.a are never linked in: the linker only
 * pulls an archive member to resolve an undefined symbol, and every nn symbol is defined here.
 * A kernel file added to src/nn with a backward must be #included in tests/double_build.h and
 * checked here.
 *
 * Method: central differences (h = 1e-5), exhaustive over every element of every input and
 * parameter, on tiny shapes (N = 3, IN = 4, OUT = 5, Z = 4 or 5; the graph kernels on a 5-node
 * symmetric graph with an isolated node, 2 cells, 2 heads of 3 features). Array-valued kernels are
 * reduced to a scalar L = sum_k r_k out_k with fixed random r (so backward receives dout = r);
 * losses are scaled by dloss = 0.7. Every gradient buffer starts at GC_PREFILL, not 0, so a
 * backward that assigns instead of accumulating fails. Per element,
 *     rel = |analytic - numeric| / max(|analytic| + |numeric|, 1e-4)
 * and each tensor passes when its worst rel < 1e-6. The floor 1e-4 makes the test absolute
 * (|a - n| < 1e-10) only for gradients below 1e-4, where central differences of an O(1)
 * objective cannot resolve more: their rounding noise is ~ eps |L| / h ~ 1e-11 (softplus at -25
 * has a true gradient of 1e-11). Inputs are kept away from kinks (LeakyReLU
 * and L1 at 0, softplus at its threshold 20, the MMD's clamp at distance 0).
 * A self-test proves the checker fails on a wrong slope, a missing mask and a backward that
 * overwrites instead of accumulating.
 */
#include "double_build.h"

#include "test_util.h"

#include "core/rng.h"

#include <math.h>

#define GC_DLOSS 0.7

static double g_worst_all = 0;

/* Checks, prints one report line, asserts. */
static void gc_expect(const char *kernel, const char *wrt, gc_objective f, void *ctx, real *x,
                      const real *grad, int64_t n) {
    const gc_result r = gc_compare(f, ctx, x, grad, n, GC_FLOOR);
    printf("  gradcheck %-10s d/d%-6s %3lld elems  worst rel %.2e  [%lld] an %+.10f num %+.10f\n",
           kernel, wrt, (long long)n, r.worst, (long long)r.i, r.an, r.num);
    if (r.worst > g_worst_all) g_worst_all = r.worst;
    assert_true(r.worst < GC_TOL);
}

static void prefill(real *g, int64_t n) {
    for (int64_t i = 0; i < n; i++) g[i] = GC_PREFILL;
}

static void gc_fill_uniform(cw_rng *r, real *a, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * cw_rng_uniform(r);
}

/* uniform magnitude in [lo, hi] with a random sign: away from 0 */
static void fill_away_from_zero(cw_rng *r, real *a, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++)
        a[i] = (cw_rng_uniform(r) < 0.5 ? -1 : 1) * (lo + (hi - lo) * cw_rng_uniform(r));
}

static double dot(const real *a, const real *b, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

enum { N = 3, IN = 4, H = 6, OUT = 5, Z = 5 };

/* ---- linear ----------------------------------------------------------------------------- */

typedef struct {
    real inp[N * IN], w[OUT * IN], b[OUT], r[N * OUT], out[N * OUT];
} linear_ctx;

static double linear_obj(void *p) {
    linear_ctx *c = p;
    cw_linear_forward(c->out, c->inp, c->w, c->b, N, IN, OUT);
    return dot(c->r, c->out, N * OUT);
}

static void test_gc_linear(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 11);
    linear_ctx c;
    gc_fill_uniform(&rng, c.inp, N * IN, -1, 1);
    gc_fill_uniform(&rng, c.w, OUT * IN, -1, 1);
    gc_fill_uniform(&rng, c.b, OUT, -1, 1);
    gc_fill_uniform(&rng, c.r, N * OUT, -1, 1);
    real dinp[N * IN], dw[OUT * IN], db[OUT];
    prefill(dinp, N * IN), prefill(dw, OUT * IN), prefill(db, OUT);
    cw_linear_backward(dinp, dw, db, c.r, c.inp, c.w, N, IN, OUT);
    gc_expect("linear", "inp", linear_obj, &c, c.inp, dinp, N * IN);
    gc_expect("linear", "weight", linear_obj, &c, c.w, dw, OUT * IN);
    gc_expect("linear", "bias", linear_obj, &c, c.b, db, OUT);
}

/* ---- activations ------------------------------------------------------------------------ */

typedef struct {
    real x[N * IN], r[N * IN], out[N * IN];
} act_ctx;

static double lrelu_obj(void *p) {
    act_ctx *c = p;
    cw_lrelu_forward(c->out, c->x, N * IN);
    return dot(c->r, c->out, N * IN);
}

static double softplus_obj(void *p) {
    act_ctx *c = p;
    cw_softplus_forward(c->out, c->x, N * IN);
    return dot(c->r, c->out, N * IN);
}

static void test_gc_activations(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 12);
    act_ctx c;
    real dx[N * IN], y[N * IN];
    fill_away_from_zero(&rng, c.x, N * IN, 0.1, 2);
    gc_fill_uniform(&rng, c.r, N * IN, -1, 1);
    prefill(dx, N * IN);
    cw_lrelu_backward(dx, c.r, c.x, N * IN);
    gc_expect("lrelu", "inp", lrelu_obj, &c, c.x, dx, N * IN);
    /* backward from the forward's output (in-place use) gives the same */
    cw_lrelu_forward(y, c.x, N * IN);
    prefill(dx, N * IN);
    cw_lrelu_backward(dx, c.r, y, N * IN);
    gc_expect("lrelu", "inp(o)", lrelu_obj, &c, c.x, dx, N * IN);

    /* softplus over its whole range: very negative, moderate, and above the threshold 20 */
    gc_fill_uniform(&rng, c.x, N * IN, -6, 6);
    c.x[0] = -25, c.x[1] = 25, c.x[2] = 19.5, c.x[3] = 20.5, c.x[4] = -0.0;
    prefill(dx, N * IN);
    cw_softplus_backward(dx, c.r, c.x, N * IN);
    gc_expect("softplus", "inp", softplus_obj, &c, c.x, dx, N * IN);
}

/* ---- reparameterisation, KL, MSE, L1 ---------------------------------------------------- */

typedef struct {
    real mu[N * Z], var[N * Z], eps[N * Z], r[N * Z], z[N * Z], target[N * Z];
    real g[Z * Z];
} vae_ctx;

static double reparam_obj(void *p) {
    vae_ctx *c = p;
    cw_reparam_forward(c->z, c->mu, c->var, c->eps, N * Z);
    return dot(c->r, c->z, N * Z);
}
static double kl_obj(void *p) {
    vae_ctx *c = p;
    return GC_DLOSS * cw_kl_forward(c->mu, c->var, N, Z);
}
static double mse_obj(void *p) {
    vae_ctx *c = p;
    return GC_DLOSS * cw_mse_forward(c->mu, c->target, N * Z);
}
static double l1_obj(void *p) {
    vae_ctx *c = p;
    return GC_DLOSS * cw_l1_triu_forward(c->g, Z);
}

static void test_gc_vae_losses(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 13);
    vae_ctx c;
    gc_fill_uniform(&rng, c.mu, N * Z, -1.5, 1.5);
    gc_fill_uniform(&rng, c.var, N * Z, 0.2, 2.5);
    gc_fill_uniform(&rng, c.eps, N * Z, -2, 2);
    gc_fill_uniform(&rng, c.r, N * Z, -1, 1);
    gc_fill_uniform(&rng, c.target, N * Z, -1, 1);
    fill_away_from_zero(&rng, c.g, Z * Z, 0.05, 1);
    real dmu[N * Z], dvar[N * Z], dg[Z * Z];

    prefill(dmu, N * Z), prefill(dvar, N * Z);
    cw_reparam_backward(dmu, dvar, c.r, c.var, c.eps, N * Z);
    gc_expect("reparam", "mu", reparam_obj, &c, c.mu, dmu, N * Z);
    gc_expect("reparam", "var", reparam_obj, &c, c.var, dvar, N * Z);

    prefill(dmu, N * Z), prefill(dvar, N * Z);
    cw_kl_backward(dmu, dvar, GC_DLOSS, c.mu, c.var, N, Z);
    gc_expect("kl", "mu", kl_obj, &c, c.mu, dmu, N * Z);
    gc_expect("kl", "var", kl_obj, &c, c.var, dvar, N * Z);

    prefill(dmu, N * Z);
    cw_mse_backward(dmu, GC_DLOSS, c.mu, c.target, N * Z);
    gc_expect("mse", "pred", mse_obj, &c, c.mu, dmu, N * Z);

    prefill(dg, Z * Z);
    cw_l1_triu_backward(dg, GC_DLOSS, c.g, Z);
    gc_expect("l1_triu", "G", l1_obj, &c, c.g, dg, Z * Z);
    for (int64_t i = 0; i < Z; i++) /* diagonal and lower triangle: exactly no gradient */
        for (int64_t j = 0; j <= i; j++) assert_true(dg[i * Z + j] == GC_PREFILL);
}

/* ---- softmax ---------------------------------------------------------------------------- */

typedef struct {
    real l[N * OUT], r[N * OUT], p[N * OUT], tau;
} softmax_ctx;

static double softmax_obj(void *p) {
    softmax_ctx *c = p;
    cw_softmax_forward(c->p, c->l, c->tau, N, OUT);
    return dot(c->r, c->p, N * OUT);
}

static void test_gc_softmax(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 14);
    softmax_ctx c;
    const real taus[3] = {1.0, 2.5, 0.4};
    for (int k = 0; k < 3; k++) {
        c.tau = taus[k];
        gc_fill_uniform(&rng, c.l, N * OUT, -2, 2);
        gc_fill_uniform(&rng, c.r, N * OUT, -1, 1);
        real dl[N * OUT];
        softmax_obj(&c);
        prefill(dl, N * OUT);
        cw_softmax_backward(dl, c.r, c.p, c.tau, N, OUT);
        gc_expect("softmax", "logits", softmax_obj, &c, c.l, dl, N * OUT);
    }
}

/* ---- MMD -------------------------------------------------------------------------------- */

enum { MN = 3, MD = 4 };

typedef struct {
    real x[MN * MD], y[MN * MD], dist[(2 * MN) * (2 * MN)];
    int64_t m; /* real rows: MN or fewer */
    double sigma;
} mmd_ctx;

static double mmd_obj(void *p) {
    mmd_ctx *c = p;
    return GC_DLOSS * cw_mmd_forward(c->dist, c->x, c->y, MN, c->m, MD, c->sigma, 10);
}

static void mmd_case(cw_rng *rng, int64_t m, double sigma, double scale, const char *label) {
    mmd_ctx c;
    c.m = m;
    c.sigma = sigma;
    gc_fill_uniform(rng, c.x, MN * MD, -scale, scale);
    gc_fill_uniform(rng, c.y, m * MD, -0.5 * scale, 1.5 * scale);
    real dx[MN * MD], dy[MN * MD], scr[(2 * MN) * (2 * MN)];
    mmd_obj(&c);
    prefill(dx, MN * MD), prefill(dy, m * MD);
    cw_mmd_backward(dx, dy, scr, GC_DLOSS, c.x, c.y, c.dist, MN, m, MD, sigma, 10);
    gc_expect(label, "x", mmd_obj, &c, c.x, dx, MN * MD);
    gc_expect(label, "y", mmd_obj, &c, c.y, dy, m * MD);
}

static void test_gc_mmd(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 15);
    mmd_case(&rng, MN, 4.0, 1.0, "mmd s=4");        /* b = 0.125 .. 64: all bandwidths matter */
    mmd_case(&rng, MN, 1000.0, 10.0, "mmd s=1e3"); /* the spec's sigma, distances ~ 100s */
    mmd_case(&rng, 2, 4.0, 1.0, "mmd m=2");         /* unequal set sizes */
}

/* ---- DAG layer -------------------------------------------------------------------------- */

typedef struct {
    real zp[N * Z], g[Z * Z], r[N * Z], u[N * Z];
} dag_ctx;

static double dag_obj(void *p) {
    dag_ctx *c = p;
    cw_dag_forward(c->u, c->zp, c->g, N, Z);
    return dot(c->r, c->u, N * Z);
}

static void test_gc_dag(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 16);
    dag_ctx c;
    gc_fill_uniform(&rng, c.zp, N * Z, -1, 1);
    gc_fill_uniform(&rng, c.g, Z * Z, -0.8, 0.8); /* full matrix; only the strict upper is used */
    gc_fill_uniform(&rng, c.r, N * Z, -1, 1);
    real dzp[N * Z], dg[Z * Z], scr[2 * N * Z];
    assert_int_equal(cw_dag_scratch_size(N, Z), 2 * N * Z);
    dag_obj(&c);
    prefill(dzp, N * Z), prefill(dg, Z * Z);
    cw_dag_backward(dzp, dg, scr, c.r, c.u, c.g, N, Z);
    gc_expect("dag", "z'", dag_obj, &c, c.zp, dzp, N * Z);
    gc_expect("dag", "G", dag_obj, &c, c.g, dg, Z * Z);
    /* the diagonal and lower triangle: exactly zero gradient, analytically and numerically */
    for (int64_t i = 0; i < Z; i++)
        for (int64_t j = 0; j <= i; j++) {
            assert_true(dg[i * Z + j] == GC_PREFILL);
            const real save = c.g[i * Z + j];
            c.g[i * Z + j] = save + 0.5;
            const double f1 = dag_obj(&c);
            c.g[i * Z + j] = save;
            assert_true(f1 == dag_obj(&c));
        }
}

/* ---- composites ------------------------------------------------------------------------- */

/* Two inputs through one MLP (linear -> lrelu -> linear), MSE on each, summed with weights:
 * the shared weights receive two accumulated contributions, as the decoder does for y_hat and
 * x_recon in the model. */
typedef struct {
    real x1[N * IN], x2[N * IN], t1[N * OUT], t2[N * OUT];
    real w1[H * IN], b1[H], w2[OUT * H], b2[OUT];
    real h1[N * H], h2[N * H], o1[N * OUT], o2[N * OUT];
} mlp_ctx;

static double mlp_branch(mlp_ctx *c, const real *x, real *h, real *o, const real *t) {
    cw_linear_forward(h, x, c->w1, c->b1, N, IN, H);
    cw_lrelu_forward(h, h, N * H); /* in place: backward uses the output */
    cw_linear_forward(o, h, c->w2, c->b2, N, H, OUT);
    return cw_mse_forward(o, t, N * OUT);
}

static double mlp_obj(void *p) {
    mlp_ctx *c = p;
    return mlp_branch(c, c->x1, c->h1, c->o1, c->t1) +
           0.3 * mlp_branch(c, c->x2, c->h2, c->o2, c->t2);
}

static void mlp_branch_backward(mlp_ctx *c, double dloss, const real *x, const real *h,
                                const real *o, const real *t, real *dx, real *dw1, real *db1,
                                real *dw2, real *db2) {
    real dout[N * OUT] = {0}, dh[N * H] = {0}, dpre[N * H] = {0}; /* activation grads: zeroed */
    cw_mse_backward(dout, dloss, o, t, N * OUT);
    cw_linear_backward(dh, dw2, db2, dout, h, c->w2, N, H, OUT);
    cw_lrelu_backward(dpre, dh, h, N * H);
    cw_linear_backward(dx, dw1, db1, dpre, x, c->w1, N, IN, H);
}

static void test_gc_composite_mlp(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 17);
    mlp_ctx c;
    gc_fill_uniform(&rng, c.x1, N * IN, -1, 1);
    gc_fill_uniform(&rng, c.x2, N * IN, -1, 1);
    gc_fill_uniform(&rng, c.t1, N * OUT, -1, 1);
    gc_fill_uniform(&rng, c.t2, N * OUT, -1, 1);
    gc_fill_uniform(&rng, c.w1, H * IN, -1, 1);
    gc_fill_uniform(&rng, c.b1, H, -0.5, 0.5);
    gc_fill_uniform(&rng, c.w2, OUT * H, -1, 1);
    gc_fill_uniform(&rng, c.b2, OUT, -0.5, 0.5);
    mlp_obj(&c);
    /* keep every hidden pre-activation away from the LeakyReLU kink */
    for (int64_t i = 0; i < N * H; i++) {
        assert_true(fabs(c.h1[i]) > 1e-3);
        assert_true(fabs(c.h2[i]) > 1e-3);
    }
    real dx1[N * IN], dx2[N * IN], dw1[H * IN], db1[H], dw2[OUT * H], db2[OUT];
    prefill(dx1, N * IN), prefill(dx2, N * IN), prefill(dw1, H * IN), prefill(db1, H);
    prefill(dw2, OUT * H), prefill(db2, OUT);
    mlp_branch_backward(&c, 1.0, c.x1, c.h1, c.o1, c.t1, dx1, dw1, db1, dw2, db2);
    mlp_branch_backward(&c, 0.3, c.x2, c.h2, c.o2, c.t2, dx2, dw1, db1, dw2, db2);
    gc_expect("mlp", "x1", mlp_obj, &c, c.x1, dx1, N * IN);
    gc_expect("mlp", "x2", mlp_obj, &c, c.x2, dx2, N * IN);
    gc_expect("mlp", "W1", mlp_obj, &c, c.w1, dw1, H * IN);
    gc_expect("mlp", "b1", mlp_obj, &c, c.b1, db1, H);
    gc_expect("mlp", "W2", mlp_obj, &c, c.w2, dw2, OUT * H);
    gc_expect("mlp", "b2", mlp_obj, &c, c.b2, db2, OUT);
}

/* The latent path of the model (spec Appendix A): mu = h Wm^T + bm, var = softplus(h Wv^T + bv),
 * z = mu + sqrt(var) eps, u = dag(z + bc, G) with bc = softmax(tau l), loss = MMD(u, y) + KL +
 * L1(G): mu and var each feed two terms, G two. */
typedef struct {
    real h[N * IN], wm[Z * IN], bm[Z], wv[Z * IN], bv[Z], eps[N * Z], l[Z], g[Z * Z];
    real y[N * Z], tau;
    real mu[N * Z], pre[N * Z], var[N * Z], z[N * Z], bc[Z], zp[N * Z], u[N * Z];
    real dist[(2 * N) * (2 * N)];
} latent_ctx;

static double latent_obj(void *p) {
    latent_ctx *c = p;
    cw_linear_forward(c->mu, c->h, c->wm, c->bm, N, IN, Z);
    cw_linear_forward(c->pre, c->h, c->wv, c->bv, N, IN, Z);
    cw_softplus_forward(c->var, c->pre, N * Z);
    cw_reparam_forward(c->z, c->mu, c->var, c->eps, N * Z);
    cw_softmax_forward(c->bc, c->l, c->tau, 1, Z);
    for (int64_t b = 0; b < N; b++)
        for (int64_t j = 0; j < Z; j++) c->zp[b * Z + j] = c->z[b * Z + j] + c->bc[j];
    cw_dag_forward(c->u, c->zp, c->g, N, Z);
    return cw_mmd_forward(c->dist, c->u, c->y, N, N, Z, 4.0, 10) +
           0.5 * cw_kl_forward(c->mu, c->var, N, Z) + 0.1 * cw_l1_triu_forward(c->g, Z);
}

static void test_gc_composite_latent(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 18);
    latent_ctx c;
    gc_fill_uniform(&rng, c.h, N * IN, -1, 1);
    gc_fill_uniform(&rng, c.wm, Z * IN, -1, 1);
    gc_fill_uniform(&rng, c.bm, Z, -0.5, 0.5);
    gc_fill_uniform(&rng, c.wv, Z * IN, -1, 1);
    gc_fill_uniform(&rng, c.bv, Z, -0.5, 0.5);
    gc_fill_uniform(&rng, c.eps, N * Z, -2, 2);
    gc_fill_uniform(&rng, c.l, Z, -1, 1);
    fill_away_from_zero(&rng, c.g, Z * Z, 0.05, 0.8);
    gc_fill_uniform(&rng, c.y, N * Z, -1, 2);
    c.tau = 2.0;
    latent_obj(&c);

    real dh[N * IN], dwm[Z * IN], dbm[Z], dwv[Z * IN], dbv[Z], dl[Z], dg[Z * Z];
    prefill(dh, N * IN), prefill(dwm, Z * IN), prefill(dbm, Z), prefill(dwv, Z * IN);
    prefill(dbv, Z), prefill(dl, Z), prefill(dg, Z * Z);
    real du[N * Z] = {0}, dzp[N * Z] = {0}, dmu[N * Z] = {0}, dvar[N * Z] = {0};
    real dpre[N * Z] = {0}, dbc[Z] = {0}, scr_mmd[(2 * N) * (2 * N)], scr_dag[2 * N * Z];
    cw_mmd_backward(du, NULL, scr_mmd, 1.0, c.u, c.y, c.dist, N, N, Z, 4.0, 10);
    cw_l1_triu_backward(dg, 0.1, c.g, Z);
    cw_dag_backward(dzp, dg, scr_dag, du, c.u, c.g, N, Z);
    for (int64_t b = 0; b < N; b++)
        for (int64_t j = 0; j < Z; j++) dbc[j] += dzp[b * Z + j];
    cw_softmax_backward(dl, dbc, c.bc, c.tau, 1, Z);
    cw_kl_backward(dmu, dvar, 0.5, c.mu, c.var, N, Z);
    cw_reparam_backward(dmu, dvar, dzp, c.var, c.eps, N * Z);
    cw_softplus_backward(dpre, dvar, c.pre, N * Z);
    cw_linear_backward(dh, dwm, dbm, dmu, c.h, c.wm, N, IN, Z);
    cw_linear_backward(dh, dwv, dbv, dpre, c.h, c.wv, N, IN, Z);
    gc_expect("latent", "h", latent_obj, &c, c.h, dh, N * IN);
    gc_expect("latent", "Wmu", latent_obj, &c, c.wm, dwm, Z * IN);
    gc_expect("latent", "bmu", latent_obj, &c, c.bm, dbm, Z);
    gc_expect("latent", "Wvar", latent_obj, &c, c.wv, dwv, Z * IN);
    gc_expect("latent", "bvar", latent_obj, &c, c.bv, dbv, Z);
    gc_expect("latent", "logits", latent_obj, &c, c.l, dl, Z);
    gc_expect("latent", "G", latent_obj, &c, c.g, dg, Z * Z);
}

/* ---- graph convolutions ----------------------------------------------------------------- */

/* A small symmetric graph: edges 0-1, 0-2, 1-2, 2-3; node 4 has no neighbours. */
enum { GN = 5, GNNZ = 8, GB = 2, GF = 3, GK = 2, GKF = GK * GF };
static const int64_t g_indptr[GN + 1] = {0, 2, 4, 7, 8, 8};
static const int32_t g_indices[GNNZ] = {1, 2, 0, 2, 0, 1, 3, 2};

typedef struct {
    real x[GB * GN * GF], r[GB * GN * GF], out[GB * GN * GF];
    real val[GNNZ], tval[GNNZ], diag[GN];
    int use_diag;
} spmm_ctx;

static double spmm_obj(void *p) {
    spmm_ctx *c = p;
    cw_spmm(c->out, c->x, g_indptr, g_indices, c->val, c->use_diag ? c->diag : NULL, GB, GN, GF,
            0);
    return dot(c->r, c->out, GB * GN * GF);
}

static void test_gc_spmm(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 20);
    spmm_ctx c;
    real dx[GB * GN * GF];
    gc_fill_uniform(&rng, c.x, GB * GN * GF, -1, 1);
    gc_fill_uniform(&rng, c.r, GB * GN * GF, -1, 1);

    /* SAGE mean: val is not symmetric (1/deg of the row), backward uses the transpose's values */
    cw_sage_mean_values(c.val, c.tval, g_indptr, g_indices, GN);
    c.use_diag = 0;
    prefill(dx, GB * GN * GF);
    cw_spmm(dx, c.r, g_indptr, g_indices, c.tval, NULL, GB, GN, GF, 1);
    gc_expect("spmm sage", "x", spmm_obj, &c, c.x, dx, GB * GN * GF);
    for (int64_t i = (GB * GN - 1) * GF; i < GB * GN * GF; i++) /* isolated node 4 of cell 1 */
        assert_true(dx[i] == GC_PREFILL);

    /* GCN with self loops; the pair 1-2 dropped in both directions: val is symmetric */
    /* slot 3 = (1, 2), slot 5 = (2, 1) */
    static const uint8_t keep[GNNZ] = {1, 1, 1, 0, 1, 0, 1, 1};
    cw_gcn_norm_values(c.val, c.diag, g_indptr, g_indices, keep, GN);
    assert_true(c.val[3] == 0 && c.val[5] == 0);
    c.use_diag = 1;
    prefill(dx, GB * GN * GF);
    cw_spmm(dx, c.r, g_indptr, g_indices, c.val, c.diag, GB, GN, GF, 1);
    gc_expect("spmm gcn", "x", spmm_obj, &c, c.x, dx, GB * GN * GF);
}

typedef struct {
    real xw[GB * GN * GKF], as[GKF], ad[GKF], bias[GKF], r[GB * GN * GKF];
    real out[GB * GN * GKF], alpha[GB * (GNNZ + GN) * GK];
} gat_ctx;

static double gat_obj(void *p) {
    gat_ctx *c = p;
    cw_gat_forward(c->out, c->alpha, c->xw, c->as, c->ad, c->bias, g_indptr, g_indices, GB, GN,
                   GK, GF);
    return dot(c->r, c->out, GB * GN * GKF);
}

/* smallest |s_src[u] + s_dst[v]| over the attention pairs (incl. self loops): LeakyReLU kink;
 * *npos, *nneg count the pairs on each side of it */
static double gat_min_logit(const gat_ctx *c, int *npos, int *nneg) {
    double mn = INFINITY;
    *npos = *nneg = 0;
    for (int64_t b = 0; b < GB; b++)
        for (int64_t v = 0; v < GN; v++)
            for (int64_t e = g_indptr[v]; e <= g_indptr[v + 1]; e++) {
                const int64_t u = e < g_indptr[v + 1] ? g_indices[e] : v;
                for (int64_t k = 0; k < GK; k++) {
                    const real *xu = c->xw + (b * GN + u) * GKF + k * GF;
                    const real *xv = c->xw + (b * GN + v) * GKF + k * GF;
                    const double z = dot(c->as + k * GF, xu, GF) + dot(c->ad + k * GF, xv, GF);
                    if (fabs(z) < mn) mn = fabs(z);
                    *npos += z > 0, *nneg += z < 0;
                }
            }
    return mn;
}

static void test_gc_gat(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 21);
    gat_ctx c;
    gc_fill_uniform(&rng, c.xw, GB * GN * GKF, -1, 1);
    gc_fill_uniform(&rng, c.as, GKF, -1, 1);
    gc_fill_uniform(&rng, c.ad, GKF, -1, 1);
    gc_fill_uniform(&rng, c.bias, GKF, -0.5, 0.5);
    gc_fill_uniform(&rng, c.r, GB * GN * GKF, -1, 1);
    int npos, nneg;
    const double mn = gat_min_logit(&c, &npos, &nneg);
    printf("  gat: smallest |logit| before LeakyReLU %.3g (%d > 0, %d < 0)\n", mn, npos, nneg);
    assert_true(mn > 1e-3);
    assert_true(npos > 0 && nneg > 0); /* both LeakyReLU branches are exercised */
    assert_int_equal(cw_gat_alpha_size(GB, GN, GNNZ, GK), GB * (GNNZ + GN) * GK);
    gat_obj(&c);
    const int64_t ns = cw_gat_scratch_size(GB, GN, GNNZ, GK, GF);
    real *scr = malloc((size_t)ns * sizeof(real));
    assert_non_null(scr);
    for (int64_t i = 0; i < ns; i++) scr[i] = NAN; /* backward must not read stale scratch */
    real dxw[GB * GN * GKF], das[GKF], dad[GKF], db[GKF];
    prefill(dxw, GB * GN * GKF), prefill(das, GKF), prefill(dad, GKF), prefill(db, GKF);
    cw_gat_backward(dxw, das, dad, db, c.r, c.xw, c.alpha, c.as, c.ad, g_indptr, g_indices, scr,
                    GB, GN, GK, GF);
    gc_expect("gat", "xw", gat_obj, &c, c.xw, dxw, GB * GN * GKF);
    gc_expect("gat", "att_src", gat_obj, &c, c.as, das, GKF);
    gc_expect("gat", "att_dst", gat_obj, &c, c.ad, dad, GKF);
    gc_expect("gat", "bias", gat_obj, &c, c.bias, db, GKF);
    free(scr);
}

/* ---- layernorm, dropout ----------------------------------------------------------------- */

typedef struct {
    real x[N * OUT], gamma[OUT], beta[OUT], r[N * OUT], out[N * OUT], mean[N], rstd[N];
} ln_ctx;

static double ln_obj(void *p) {
    ln_ctx *c = p;
    cw_layernorm_forward(c->out, c->mean, c->rstd, c->x, c->gamma, c->beta, N, OUT);
    return dot(c->r, c->out, N * OUT);
}

static void test_gc_layernorm(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 22);
    ln_ctx c;
    gc_fill_uniform(&rng, c.x, N * OUT, -2, 2);
    gc_fill_uniform(&rng, c.gamma, OUT, 0.5, 1.5);
    gc_fill_uniform(&rng, c.beta, OUT, -0.5, 0.5);
    gc_fill_uniform(&rng, c.r, N * OUT, -1, 1);
    ln_obj(&c);
    real dx[N * OUT], dg[OUT], dbt[OUT];
    prefill(dx, N * OUT), prefill(dg, OUT), prefill(dbt, OUT);
    cw_layernorm_backward(dx, dg, dbt, c.r, c.x, c.mean, c.rstd, c.gamma, N, OUT);
    gc_expect("layernorm", "inp", ln_obj, &c, c.x, dx, N * OUT);
    gc_expect("layernorm", "gamma", ln_obj, &c, c.gamma, dg, OUT);
    gc_expect("layernorm", "beta", ln_obj, &c, c.beta, dbt, OUT);
}

typedef struct {
    real x[N * IN], r[N * IN], out[N * IN], mask[N * IN];
} drop_ctx;

static double dropout_obj(void *p) {
    drop_ctx *c = p;
    cw_rng rng;
    cw_rng_seed(&rng, 99); /* the same mask in every evaluation */
    cw_dropout_forward(c->out, c->mask, c->x, 0.4, N * IN, &rng);
    return dot(c->r, c->out, N * IN);
}

static void test_gc_dropout(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 23);
    drop_ctx c;
    gc_fill_uniform(&rng, c.x, N * IN, -1, 1);
    gc_fill_uniform(&rng, c.r, N * IN, -1, 1);
    dropout_obj(&c);
    int dropped = 0, kept = 0;
    for (int64_t i = 0; i < N * IN; i++) dropped += c.mask[i] == 0, kept += c.mask[i] != 0;
    assert_true(dropped > 0 && kept > 0); /* both branches are checked */
    real dx[N * IN];
    prefill(dx, N * IN);
    cw_dropout_backward(dx, c.r, c.mask, N * IN);
    gc_expect("dropout", "inp", dropout_obj, &c, c.x, dx, N * IN);
}

/* ---- ReLU, tanh ------------------------------------------------------------------------- */

static double relu_obj(void *p) {
    act_ctx *c = p;
    cw_relu_forward(c->out, c->x, N * IN);
    return dot(c->r, c->out, N * IN);
}

static double tanh_obj(void *p) {
    act_ctx *c = p;
    cw_tanh_forward(c->out, c->x, N * IN);
    return dot(c->r, c->out, N * IN);
}

static void test_gc_relu_tanh(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 24);
    act_ctx c;
    real dx[N * IN], y[N * IN];
    fill_away_from_zero(&rng, c.x, N * IN, 0.1, 2);
    c.x[0] = -0.7, c.x[1] = 0.9; /* both branches */
    gc_fill_uniform(&rng, c.r, N * IN, -1, 1);
    prefill(dx, N * IN);
    cw_relu_backward(dx, c.r, c.x, N * IN);
    gc_expect("relu", "inp", relu_obj, &c, c.x, dx, N * IN);
    cw_relu_forward(y, c.x, N * IN); /* backward from the output gives the same */
    prefill(dx, N * IN);
    cw_relu_backward(dx, c.r, y, N * IN);
    gc_expect("relu", "inp(o)", relu_obj, &c, c.x, dx, N * IN);

    gc_fill_uniform(&rng, c.x, N * IN, -3, 3);
    c.x[0] = -0.0, c.x[1] = 8;
    cw_tanh_forward(y, c.x, N * IN);
    prefill(dx, N * IN);
    cw_tanh_backward(dx, c.r, y, N * IN);
    gc_expect("tanh", "inp", tanh_obj, &c, c.x, dx, N * IN);
}

/* ---- Laplacian smoothness --------------------------------------------------------------- */

typedef struct {
    real w[GN * GF];
} lap_ctx;

static double lap_obj(void *p) {
    lap_ctx *c = p;
    return GC_DLOSS * cw_laplacian_forward(c->w, g_indptr, g_indices, GN, GF);
}

static void test_gc_laplacian(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 25);
    lap_ctx c;
    gc_fill_uniform(&rng, c.w, GN * GF, -1, 1);
    real dw[GN * GF];
    prefill(dw, GN * GF);
    cw_laplacian_backward(dw, GC_DLOSS, c.w, g_indptr, g_indices, GN, GF);
    gc_expect("laplacian", "W", lap_obj, &c, c.w, dw, GN * GF);
    for (int64_t k = 0; k < GF; k++) assert_true(dw[4 * GF + k] == GC_PREFILL); /* isolated */
}

/* ---- masked linear ---------------------------------------------------------------------- */

typedef struct {
    real inp[N * IN], w[OUT * IN], mask[OUT * IN], b[OUT], r[N * OUT], out[N * OUT];
    real weff[OUT * IN];
} mlin_ctx;

static double mlin_obj(void *p) {
    mlin_ctx *c = p;
    cw_masked_linear_forward(c->out, c->weff, c->inp, c->w, c->mask, c->b, N, IN, OUT);
    return dot(c->r, c->out, N * OUT);
}

static void test_gc_masked_linear(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 26);
    mlin_ctx c;
    gc_fill_uniform(&rng, c.inp, N * IN, -1, 1);
    gc_fill_uniform(&rng, c.w, OUT * IN, -1, 1);
    gc_fill_uniform(&rng, c.b, OUT, -1, 1);
    gc_fill_uniform(&rng, c.r, N * OUT, -1, 1);
    int zeros = 0;
    for (int64_t i = 0; i < OUT * IN; i++) {
        c.mask[i] = (i % 3 == 1) ? 0 : 1;
        zeros += c.mask[i] == 0;
    }
    assert_true(zeros > 0);
    mlin_obj(&c);
    real dinp[N * IN], dw[OUT * IN], db[OUT], dscr[OUT * IN];
    prefill(dinp, N * IN), prefill(dw, OUT * IN), prefill(db, OUT);
    for (int64_t i = 0; i < OUT * IN; i++) dscr[i] = NAN; /* scratch is overwritten, not read */
    cw_masked_linear_backward(dinp, dw, db, dscr, c.r, c.inp, c.weff, c.mask, N, IN, OUT);
    gc_expect("mlinear", "inp", mlin_obj, &c, c.inp, dinp, N * IN);
    gc_expect("mlinear", "weight", mlin_obj, &c, c.w, dw, OUT * IN);
    gc_expect("mlinear", "bias", mlin_obj, &c, c.b, db, OUT);
    for (int64_t i = 0; i < OUT * IN; i++) /* masked-out weights: exactly no gradient */
        if (c.mask[i] == 0) assert_true(dw[i] == GC_PREFILL);
}

/* ---- the checker can fail --------------------------------------------------------------- */

static void test_gc_catches_wrong_gradients(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 19);

    /* 1. LeakyReLU backward with slope 0.25 instead of 0.2 */
    act_ctx a;
    fill_away_from_zero(&rng, a.x, N * IN, 0.1, 2);
    a.x[0] = -1; /* at least one negative input */
    gc_fill_uniform(&rng, a.r, N * IN, -1, 1);
    real dx[N * IN];
    for (int64_t i = 0; i < N * IN; i++) dx[i] = GC_PREFILL + a.r[i] * (a.x[i] > 0 ? 1 : 0.25);
    double w1 = gc_compare(lrelu_obj, &a, a.x, dx, N * IN, GC_FLOOR).worst;
    printf("  self-test: wrong lrelu slope          worst rel %.2e (must be > 1e-2)\n", w1);
    assert_true(w1 > 1e-2);

    /* 2. DAG gradient without the strict-upper-triangle mask (dense u^T v) */
    dag_ctx d;
    gc_fill_uniform(&rng, d.zp, N * Z, -1, 1);
    gc_fill_uniform(&rng, d.g, Z * Z, -0.8, 0.8);
    gc_fill_uniform(&rng, d.r, N * Z, -1, 1);
    dag_obj(&d);
    real dzp[N * Z], dg[Z * Z], scr[2 * N * Z];
    prefill(dzp, N * Z), prefill(dg, Z * Z);
    cw_dag_backward(dzp, dg, scr, d.r, d.u, d.g, N, Z);
    for (int64_t i = 0; i < Z; i++) /* v = du M^T = dzp - GC_PREFILL */
        for (int64_t j = 0; j <= i; j++)
            for (int64_t b = 0; b < N; b++)
                dg[i * Z + j] += d.u[b * Z + i] * (dzp[b * Z + j] - GC_PREFILL);
    double w2 = gc_compare(dag_obj, &d, d.g, dg, Z * Z, GC_FLOOR).worst;
    printf("  self-test: unmasked dag gradient      worst rel %.2e (must be > 1e-2)\n", w2);
    assert_true(w2 > 1e-2);

    /* 3. a backward that assigns instead of accumulating (linear dbias = sum dout) */
    linear_ctx l;
    gc_fill_uniform(&rng, l.inp, N * IN, -1, 1);
    gc_fill_uniform(&rng, l.w, OUT * IN, -1, 1);
    gc_fill_uniform(&rng, l.b, OUT, -1, 1);
    gc_fill_uniform(&rng, l.r, N * OUT, -1, 1);
    real db[OUT];
    for (int64_t o = 0; o < OUT; o++) {
        double s = 0;
        for (int64_t i = 0; i < N; i++) s += l.r[i * OUT + o];
        db[o] = s; /* '=' where it should be '+=' onto GC_PREFILL */
    }
    double w3 = gc_compare(linear_obj, &l, l.b, db, OUT, GC_FLOOR).worst;
    printf("  self-test: overwriting backward       worst rel %.2e (must be > 1e-2)\n", w3);
    assert_true(w3 > 1e-2);
}

static int report(void **state) {
    (void)state;
    printf("  worst relative gradient error over all checks: %.2e (tolerance %.0e)\n",
           g_worst_all, GC_TOL);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gc_linear),
        cmocka_unit_test(test_gc_activations),
        cmocka_unit_test(test_gc_vae_losses),
        cmocka_unit_test(test_gc_softmax),
        cmocka_unit_test(test_gc_mmd),
        cmocka_unit_test(test_gc_dag),
        cmocka_unit_test(test_gc_spmm),
        cmocka_unit_test(test_gc_gat),
        cmocka_unit_test(test_gc_layernorm),
        cmocka_unit_test(test_gc_dropout),
        cmocka_unit_test(test_gc_relu_tanh),
        cmocka_unit_test(test_gc_laplacian),
        cmocka_unit_test(test_gc_masked_linear),
        cmocka_unit_test(test_gc_composite_mlp),
        cmocka_unit_test(test_gc_composite_latent),
        cmocka_unit_test(test_gc_catches_wrong_gradients),
    };
    return cmocka_run_group_tests_name("nn_gradcheck (" CW_REAL_NAME ")", tests, NULL, report);
}
