/* gscale.c: GSCALE-I for the GLM (1-layer tanh, spec §A4.4) and MLP (§A4.5) transforms, with
 * closed-form gradients, the greedy environment permutation and DAG post-processing
 * (§A4.4 "Post-processing", §A4.7), and the §A5 GSCALE metrics. Conventions in gscale.h.
 *
 * GLM gradient (all matrices row-major; N samples, Y = artanh(clamp(x)) N x d):
 *   A = U^T U, P = A^{-1} U^T (= pinv(U), full column rank), Zh = Y P^T, T = tanh(Zh U^T),
 *   S = mask (1 - T^2) (mask: |T| <= 1 - 1e-6, torch clamp's derivative), Xh = clamp(T),
 *   V_m = (S o DS_m) U (N x n), D[k][m] = mean_i |V_m[i][k]|.
 *   Backward: dV_m = G_D[k][m] sign(V_m) / N; dU += (S o DS_m)^T dV_m; dS += (dV_m U^T) o DS_m;
 *   dT = mask (-2 T o dS + 2 lambda / N (Xh - X)); dA = dT o (1 - T^2); dU += dA^T Zh;
 *   dZh = dA U; G_P = dZh^T Y; dU += -P^T G_P P^T + (I - U P) G_P^T A^{-1}
 *   (from dP = -P dU P + A^{-1} dU^T (I - U P)).
 * MLP: per sample, forward tangents T1 = diag(g1) V1, M2 = V2 T1, T2 = diag(g2) M2, J = V3 T2
 *   (g_l = 1 - q_l^2), and the hand-written reverse pass through them (second derivative of
 *   tanh: d g_l / d q_l = -2 q_l), see mlp_sample_backward.
 */
#include "crl/gscale.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "crl/crl_metrics.h"
#include "crl/dag_ops.h"
#include "eval/recovery.h"
#include "la/lapack.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define GS_CLAMP (1.0 - 1e-6)

void cw_gscale_defaults(cw_gscale_opts *o) {
    memset(o, 0, sizeof *o);
    o->lambda_g = 1.0;
    o->glm_lr = 1e-3;
    o->glm_lr_gamma = 0.95;
    o->glm_lr_every = 1000;
    o->glm_max_steps = 20000;
    o->glm_lambda_recon = 1.0;
    o->glm_stop_loss = 1e-2;
    o->rms_alpha = 0.99;
    o->rms_eps = 1e-8;
    o->mlp_hidden = 64;
    o->mlp_epochs = 100;
    o->mlp_batch = 256;
    o->mlp_lr = 1e-3;
    o->mlp_lr_gamma = 0.1;
    o->mlp_decay_every = 50;
    o->mlp_weight_decay = 1e-4;
    o->mlp_lambda_mse = 100.0;
    o->adam_beta1 = 0.9;
    o->adam_beta2 = 0.999;
    o->adam_eps = 1e-8;
    o->mlp_threads = 1;
}

static double sgn(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

static double clampx(double v) { return v > GS_CLAMP ? GS_CLAMP : (v < -GS_CLAMP ? -GS_CLAMP : v); }

void cw_rmsprop_step(double *p, double *v, const double *g, int64_t count, double lr,
                     double alpha, double eps) {
    for (int64_t i = 0; i < count; i++) {
        v[i] = alpha * v[i] + (1.0 - alpha) * g[i] * g[i];
        p[i] -= lr * g[i] / (sqrt(v[i]) + eps);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* GLM                                                                                          */

typedef struct {
    int64_t N, d, n;
    double *y;                 /* N x d artanh(clamp(x)) */
    double *a, *ainv, *p;      /* n x n, n x n, n x d */
    double *zh, *t, *s;        /* N x n, N x d, N x d */
    double *sd, *v, *dv;       /* n blocks N x d, n blocks N x n, n blocks N x n */
    double *ds_acc, *dt, *dzh; /* N x d, N x d, N x n */
    double *gp, *m1, *w, *pw;  /* n x d, n x n, d x n, n x n */
} glm_ws;

static void glm_ws_free(glm_ws *w) {
    double **b[] = {&w->y, &w->a, &w->ainv, &w->p, &w->zh, &w->t, &w->s, &w->sd, &w->v,
                    &w->dv, &w->ds_acc, &w->dt, &w->dzh, &w->gp, &w->m1, &w->w, &w->pw};
    for (size_t i = 0; i < sizeof b / sizeof b[0]; i++) {
        cw_free(*b[i]);
        *b[i] = NULL;
    }
}

static cw_status glm_ws_init(glm_ws *w, const double *x, int64_t N, int64_t d, int64_t n) {
    memset(w, 0, sizeof *w);
    w->N = N, w->d = d, w->n = n;
    size_t Nd = (size_t)(N * d), Nn = (size_t)(N * n), nn = (size_t)(n * n), nd = (size_t)(n * d);
    w->y = cw_malloc_array(Nd, sizeof(double));
    w->a = cw_malloc_array(nn, sizeof(double));
    w->ainv = cw_malloc_array(nn, sizeof(double));
    w->p = cw_malloc_array(nd, sizeof(double));
    w->zh = cw_malloc_array(Nn, sizeof(double));
    w->t = cw_malloc_array(Nd, sizeof(double));
    w->s = cw_malloc_array(Nd, sizeof(double));
    w->sd = cw_malloc_array(Nd * (size_t)n, sizeof(double));
    w->v = cw_malloc_array(Nn * (size_t)n, sizeof(double));
    w->dv = cw_malloc_array(Nn * (size_t)n, sizeof(double));
    w->ds_acc = cw_malloc_array(Nd, sizeof(double));
    w->dt = cw_malloc_array(Nd, sizeof(double));
    w->dzh = cw_malloc_array(Nn, sizeof(double));
    w->gp = cw_malloc_array(nd, sizeof(double));
    w->m1 = cw_malloc_array(nn, sizeof(double));
    w->w = cw_malloc_array(nd, sizeof(double));
    w->pw = cw_malloc_array(nn, sizeof(double));
    if (!w->y || !w->a || !w->ainv || !w->p || !w->zh || !w->t || !w->s || !w->sd || !w->v ||
        !w->dv || !w->ds_acc || !w->dt || !w->dzh || !w->gp || !w->m1 || !w->w || !w->pw) {
        glm_ws_free(w);
        return cw_fail(CW_ENOMEM, "gscale glm: workspace for %lld samples x %lld",
                       (long long)N, (long long)d);
    }
    for (size_t i = 0; i < Nd; i++) w->y[i] = atanh(clampx(x[i]));
    return CW_OK;
}

/* P = pinv(U) = (U^T U)^{-1} U^T; keeps A^{-1} for the backward. */
static cw_status glm_pinv(glm_ws *w, const double *u) {
    int64_t d = w->d, n = w->n;
    cw_la_gemm('T', 'N', n, n, d, 1.0, u, u, 0.0, w->a);
    cw_status st = cw_la_spd_inverse(w->ainv, w->a, n);
    if (st == CW_EINVAL)
        return cw_fail_prefix(st, "gscale glm: U^T U (U not of full column rank)");
    if (st != CW_OK) return cw_fail_prefix(st, "gscale glm: U^T U");
    cw_la_gemm('N', 'T', n, d, n, 1.0, w->ainv, u, 0.0, w->p);
    return CW_OK;
}

/* Forward up to S (and T, Zh); returns the reconstruction (1/N) sum ||Xh - X||^2. */
static double glm_forward(glm_ws *w, const double *u, const double *x) {
    int64_t N = w->N, d = w->d, n = w->n;
    cw_la_gemm('N', 'T', N, n, d, 1.0, w->y, w->p, 0.0, w->zh);
    cw_la_gemm('N', 'T', N, d, n, 1.0, w->zh, u, 0.0, w->t);
    double recon = 0;
    for (int64_t i = 0; i < N * d; i++) {
        double t = tanh(w->t[i]);
        w->t[i] = t;
        int in = fabs(t) <= GS_CLAMP;
        w->s[i] = in ? 1.0 - t * t : 0.0;
        double e = clampx(t) - x[i];
        recon += e * e;
    }
    return recon / (double)N;
}

/* V_m and D[k][m] for all m: w->sd holds the n blocks S o DS_m (N x d each), w->v the n blocks
 * V_m (N x n each), computed with one GEMM over the stacked blocks. */
static void glm_dmat(glm_ws *w, double *dhat, const double *u, const double *const *ds) {
    int64_t N = w->N, d = w->d, n = w->n;
    for (int64_t m = 0; m < n; m++) {
        const double *dsm = ds[m];
        double *sdm = w->sd + m * N * d;
        for (int64_t i = 0; i < N * d; i++) sdm[i] = w->s[i] * dsm[i];
    }
    cw_la_gemm('N', 'N', n * N, n, d, 1.0, w->sd, u, 0.0, w->v);
    for (int64_t m = 0; m < n; m++) {
        const double *vm = w->v + m * N * n;
        for (int64_t k = 0; k < n; k++) dhat[k * n + m] = 0;
        for (int64_t i = 0; i < N; i++)
            for (int64_t k = 0; k < n; k++) dhat[k * n + m] += fabs(vm[i * n + k]);
        for (int64_t k = 0; k < n; k++) dhat[k * n + m] /= (double)N;
    }
}

static cw_status glm_check(const double *u, const double *x, int64_t count, int64_t d, int64_t n,
                           const double *const *ds) {
    if (!u || !x || !ds) return cw_fail(CW_EINVAL, "gscale glm: NULL input");
    if (n < 2 || d < n || count < 1)
        return cw_fail(CW_EINVAL, "gscale glm: need 2 <= n <= d and samples (n %lld, d %lld, "
                       "count %lld)", (long long)n, (long long)d, (long long)count);
    for (int64_t m = 0; m < n; m++)
        if (!ds[m]) return cw_fail(CW_EINVAL, "gscale glm: score difference %lld is NULL",
                                   (long long)m + 1);
    return CW_OK;
}

static cw_status glm_loss_ws(glm_ws *w, double *loss, double *mainp, double *reconp, double *dhat,
                             double *grad, const double *u, const double *x,
                             const double *const *ds, double lambda_recon) {
    int64_t N = w->N, d = w->d, n = w->n;
    CW_TRY(glm_pinv(w, u));
    double recon = glm_forward(w, u, x);
    double dloc[CW_METRIC_MAX];
    double *D = dhat ? dhat : NULL;
    double *dbuf = NULL;
    if (!D) {
        if (n * n <= CW_METRIC_MAX) D = dloc;
        else {
            dbuf = cw_malloc_array((size_t)(n * n), sizeof(double));
            if (!dbuf) return cw_fail(CW_ENOMEM, "gscale glm: D");
            D = dbuf;
        }
    }
    glm_dmat(w, D, u, ds);
    double diag = 0, off = 0;
    for (int64_t k = 0; k < n; k++)
        for (int64_t m = 0; m < n; m++) {
            if (k == m) diag += 0.5 - D[k * n + k] > 0 ? 0.5 - D[k * n + k] : 0.0;
            else off += D[k * n + m];
        }
    double mainl = diag / (double)n + off / (double)(n * (n - 1));
    if (mainp) *mainp = mainl;
    if (reconp) *reconp = recon;
    *loss = mainl + lambda_recon * recon;
    if (grad) {
        memset(grad, 0, sizeof(double) * (size_t)(d * n));
        /* dV (stacked, n blocks N x n) = G_D[k][m] sign(V_m) / N */
        for (int64_t m = 0; m < n; m++) {
            const double *vm = w->v + m * N * n;
            double *dvm = w->dv + m * N * n;
            for (int64_t k = 0; k < n; k++) {
                double gd = k == m ? (0.5 - D[k * n + k] > 0 ? -1.0 / (double)n : 0.0)
                                   : 1.0 / (double)(n * (n - 1));
                for (int64_t i = 0; i < N; i++) dvm[i * n + k] = gd * sgn(vm[i * n + k]) / (double)N;
            }
        }
        cw_la_gemm('T', 'N', d, n, n * N, 1.0, w->sd, w->dv, 1.0, grad);
        /* dS = sum_m (dV_m U^T) o DS_m; the stacked product reuses sd as scratch */
        cw_la_gemm('N', 'T', n * N, d, n, 1.0, w->dv, u, 0.0, w->sd);
        memset(w->ds_acc, 0, sizeof(double) * (size_t)(N * d));
        for (int64_t m = 0; m < n; m++) {
            const double *dsm = ds[m], *pm = w->sd + m * N * d;
            for (int64_t i = 0; i < N * d; i++) w->ds_acc[i] += pm[i] * dsm[i];
        }
        for (int64_t i = 0; i < N * d; i++) {
            double t = w->t[i];
            double dtv = 0;
            if (fabs(t) <= GS_CLAMP)
                dtv = -2.0 * t * w->ds_acc[i] +
                      2.0 * lambda_recon / (double)N * (t - x[i]);
            w->dt[i] = dtv * (1.0 - t * t);
        }
        cw_la_gemm('T', 'N', d, n, N, 1.0, w->dt, w->zh, 1.0, grad);
        cw_la_gemm('N', 'N', N, n, d, 1.0, w->dt, u, 0.0, w->dzh);
        cw_la_gemm('T', 'N', n, d, N, 1.0, w->dzh, w->y, 0.0, w->gp);
        /* -P^T (G_P P^T) */
        cw_la_gemm('N', 'T', n, n, d, 1.0, w->gp, w->p, 0.0, w->m1);
        cw_la_gemm('T', 'N', d, n, n, -1.0, w->p, w->m1, 1.0, grad);
        /* W = G_P^T A^{-1}; + W - U (P W) */
        cw_la_gemm('T', 'N', d, n, n, 1.0, w->gp, w->ainv, 0.0, w->w);
        cw_la_gemm('N', 'N', n, n, d, 1.0, w->p, w->w, 0.0, w->pw);
        for (int64_t i = 0; i < d * n; i++) grad[i] += w->w[i];
        cw_la_gemm('N', 'N', d, n, n, -1.0, u, w->pw, 1.0, grad);
    }
    cw_free(dbuf);
    return CW_OK;
}

cw_status cw_gscale_glm_loss(double *loss, double *main, double *recon, double *dhat,
                             double *grad, const double *u, const double *x, int64_t count,
                             int64_t d, int64_t n, const double *const *ds, double lambda_recon) {
    CW_TRY(glm_check(u, x, count, d, n, ds));
    glm_ws w;
    CW_TRY(glm_ws_init(&w, x, count, d, n));
    cw_status st = glm_loss_ws(&w, loss, main, recon, dhat, grad, u, x, ds, lambda_recon);
    glm_ws_free(&w);
    return st;
}

cw_status cw_gscale_glm_dhat(double *dhat, const double *u, const double *x, int64_t count,
                             int64_t d, int64_t n, const double *const *ds) {
    CW_TRY(glm_check(u, x, count, d, n, ds));
    glm_ws w;
    CW_TRY(glm_ws_init(&w, x, count, d, n));
    cw_status st = glm_pinv(&w, u);
    if (st == CW_OK) {
        glm_forward(&w, u, x);
        glm_dmat(&w, dhat, u, ds);
    }
    glm_ws_free(&w);
    return st;
}

/* Environment order from dm (n x n, rows = learned latents, columns = environments): the greedy
 * rule of crl_metrics.h on the transpose, so perm[j] = the latent given to environment j (largest
 * remaining entry first; ties: smallest environment, then smallest latent). */
static cw_status env_perm(int64_t *perm, const double *dm, int64_t n, double *scratch) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) scratch[j * n + i] = dm[i * n + j];
    return cw_crl_greedy_permutation(perm, scratch, n);
}

static cw_status result_alloc(cw_gscale_result *r, cw_gscale_kind kind, int64_t n, int64_t d,
                              int64_t h) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->n = n, r->d = d, r->hidden = h;
    if (kind == CW_GSCALE_GLM) r->u = cw_malloc_array((size_t)(d * n), sizeof(double));
    else r->params = cw_malloc_array((size_t)cw_gscale_mlp_param_count(d, n, h), sizeof(double));
    r->perm = cw_malloc_array((size_t)n, sizeof(int64_t));
    r->g = cw_calloc((size_t)(n * n), 1);
    r->dhat = cw_calloc((size_t)(n * n), sizeof(double));
    r->dhat_ho = cw_calloc((size_t)(n * n), sizeof(double));
    if ((!r->u && !r->params) || !r->perm || !r->g || !r->dhat || !r->dhat_ho) {
        cw_gscale_result_free(r);
        return cw_fail(CW_ENOMEM, "gscale: result (n %lld, d %lld)", (long long)n, (long long)d);
    }
    return CW_OK;
}

void cw_gscale_result_free(cw_gscale_result *r) {
    if (!r) return;
    cw_free(r->u);
    cw_free(r->params);
    cw_free(r->perm);
    cw_free(r->g);
    cw_free(r->dhat);
    cw_free(r->dhat_ho);
    memset(r, 0, sizeof *r);
}

/* Graph from dhat_ho (environment order) > lambda_g (or / dhat[j][j] > lambda_rel when
 * lambda_rel > 0), zero diagonal, closest DAG. */
static cw_status graph_from_dho(uint8_t *g, const double *dho, const double *dhh, int64_t n,
                                double lambda_g, double lambda_rel) {
    uint8_t *raw = cw_calloc((size_t)(n * n), 1);
    if (!raw) return cw_fail(CW_ENOMEM, "gscale: graph");
    for (int64_t j = 0; j < n; j++)
        for (int64_t k = 0; k < n; k++) {
            double v = dho[j * n + k];
            int on = lambda_rel > 0 ? v > lambda_rel * dhh[j * n + j] : v > lambda_g;
            raw[j * n + k] = j != k && on;
        }
    cw_status st = cw_dag_closest(g, NULL, raw, n);
    cw_free(raw);
    return st;
}

/* rows of src (n x n) reordered: dst[j] = src[perm[j]] */
static void permute_rows(double *dst, const double *src, const int64_t *perm, int64_t n) {
    for (int64_t j = 0; j < n; j++)
        memcpy(dst + j * n, src + perm[j] * n, sizeof(double) * (size_t)n);
}

cw_status cw_gscale_glm_run(cw_gscale_result *res, const double *x, int64_t count, int64_t d,
                            int64_t n, const double *const *ds_hh, const double *const *ds_ho,
                            const cw_gscale_opts *o, uint64_t seed) {
    if (!res) return cw_fail(CW_EINVAL, "gscale glm: NULL result");
    memset(res, 0, sizeof *res);
    cw_gscale_opts def;
    if (!o) {
        cw_gscale_defaults(&def);
        o = &def;
    }
    CW_TRY(glm_check(x, x, count, d, n, ds_hh));
    if (o->glm_max_steps < 1 || o->glm_lr_every < 1 || !(o->glm_lr > 0))
        return cw_fail(CW_EINVAL, "gscale glm: max_steps, lr_every and lr must be positive");
    for (int64_t i = 0; i < count * d; i++)
        if (!isfinite(x[i])) return cw_fail(CW_EINVAL, "gscale glm: x[%lld] is not finite",
                                            (long long)i);
    CW_TRY(result_alloc(res, CW_GSCALE_GLM, n, d, 0));
    glm_ws w;
    cw_status st = glm_ws_init(&w, x, count, d, n);
    if (st != CW_OK) {
        cw_gscale_result_free(res);
        return st;
    }
    double *grad = cw_malloc_array((size_t)(d * n), sizeof(double));
    double *sq = cw_calloc((size_t)(d * n), sizeof(double));
    double *dm = cw_malloc_array((size_t)(n * n), sizeof(double));
    double *tmpu = cw_malloc_array((size_t)(d * n), sizeof(double));
    if (!grad || !sq || !dm || !tmpu) {
        st = cw_fail(CW_ENOMEM, "gscale glm: optimiser state");
        goto done;
    }
    cw_rng rng;
    cw_rng_substream(&rng, seed, 0x67736361ULL); /* "gsca" */
    double *u = res->u;
    for (int64_t i = 0; i < d * n; i++) u[i] = cw_rng_uniform(&rng) - 0.5;
    if (o->glm_init) memcpy(u, o->glm_init, sizeof(double) * (size_t)(d * n));
    double lr = o->glm_lr, loss = 0, mainl = 0, recon = 0;
    int64_t step;
    for (step = 0; step < o->glm_max_steps; step++) {
        st = glm_loss_ws(&w, &loss, &mainl, &recon, dm, grad, u, x, ds_hh, o->glm_lambda_recon);
        if (st != CW_OK) {
            cw_fail_prefix(st, "gscale glm: step %lld", (long long)step);
            goto done;
        }
        if (!isfinite(loss)) {
            st = cw_fail(CW_EINVAL, "gscale glm: step %lld: loss not finite (main %g, recon %g)",
                         (long long)step, mainl, recon);
            goto done;
        }
        cw_rmsprop_step(u, sq, grad, d * n, lr, o->rms_alpha, o->rms_eps);
        if (step % o->glm_lr_every == 0) {
            if (o->verbose)
                fprintf(stderr, "gscale glm: step %lld loss %.6g main %.6g recon %.6g\n",
                        (long long)step, loss, mainl, recon);
            if (mainl < o->glm_stop_loss) {
                step++;
                break;
            }
            lr *= o->glm_lr_gamma;
        }
    }
    res->steps = step;
    res->final_loss = mainl;
    res->final_recon = recon;
    /* unit columns, row 0 non-negative */
    for (int64_t k = 0; k < n; k++) {
        double nr = 0;
        for (int64_t i = 0; i < d; i++) nr += u[i * n + k] * u[i * n + k];
        nr = sqrt(nr);
        double sgn0 = u[k] < 0 ? -1.0 : 1.0;
        if (!(nr > 0)) {
            st = cw_fail(CW_EINVAL, "gscale glm: column %lld of U vanished", (long long)k);
            goto done;
        }
        for (int64_t i = 0; i < d; i++) u[i * n + k] *= sgn0 / nr;
    }
    /* greedy permutation on D_hh, then environment order */
    st = glm_pinv(&w, u);
    if (st != CW_OK) goto done;
    glm_forward(&w, u, x);
    glm_dmat(&w, dm, u, ds_hh);
    st = env_perm(res->perm, dm, n, tmpu);
    if (st != CW_OK) goto done;
    memcpy(tmpu, u, sizeof(double) * (size_t)(d * n));
    for (int64_t i = 0; i < d; i++)
        for (int64_t j = 0; j < n; j++) u[i * n + j] = tmpu[i * n + res->perm[j]];
    permute_rows(res->dhat, dm, res->perm, n);
    res->lambda_g = o->lambda_g, res->lambda_g_rel = o->lambda_g_rel;
    if (ds_ho) {
        for (int64_t m = 0; m < n; m++)
            if (!ds_ho[m]) {
                st = cw_fail(CW_EINVAL, "gscale glm: ds_ho[%lld] is NULL", (long long)m);
                goto done;
            }
        st = glm_pinv(&w, u);
        if (st != CW_OK) goto done;
        glm_forward(&w, u, x);
        glm_dmat(&w, res->dhat_ho, u, ds_ho);
        st = graph_from_dho(res->g, res->dhat_ho, res->dhat, n, o->lambda_g, o->lambda_g_rel);
    }
done:
    cw_free(grad);
    cw_free(sq);
    cw_free(dm);
    cw_free(tmpu);
    glm_ws_free(&w);
    if (st != CW_OK) cw_gscale_result_free(res);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* MLP                                                                                          */

typedef struct {
    int64_t w1, b1, w2, b2, w3, b3, v1, c1, v2, c2, v3, c3, total;
} mlp_layout;

static mlp_layout mlp_offsets(int64_t d, int64_t n, int64_t h) {
    mlp_layout l;
    int64_t o = 0;
    l.w1 = o, o += h * d;
    l.b1 = o, o += h;
    l.w2 = o, o += h * h;
    l.b2 = o, o += h;
    l.w3 = o, o += n * h;
    l.b3 = o, o += n;
    l.v1 = o, o += h * n;
    l.c1 = o, o += h;
    l.v2 = o, o += h * h;
    l.c2 = o, o += h;
    l.v3 = o, o += d * h;
    l.c3 = o, o += d;
    l.total = o;
    return l;
}

int64_t cw_gscale_mlp_param_count(int64_t d, int64_t n, int64_t h) {
    return mlp_offsets(d, n, h).total;
}

static void uniform_fill(double *p, int64_t count, double bound, cw_rng *r) {
    for (int64_t i = 0; i < count; i++) p[i] = (2.0 * cw_rng_uniform(r) - 1.0) * bound;
}

void cw_gscale_mlp_init(double *params, int64_t d, int64_t n, int64_t h, uint64_t seed) {
    mlp_layout l = mlp_offsets(d, n, h);
    cw_rng r;
    cw_rng_substream(&r, seed, 0x676d6c70ULL); /* "gmlp" */
    double bd = 1.0 / sqrt((double)d), bh = 1.0 / sqrt((double)h), bn = 1.0 / sqrt((double)n);
    uniform_fill(params + l.w1, h * d, bd, &r);
    uniform_fill(params + l.b1, h, bd, &r);
    uniform_fill(params + l.w2, h * h, bh, &r);
    uniform_fill(params + l.b2, h, bh, &r);
    uniform_fill(params + l.w3, n * h, bh, &r);
    uniform_fill(params + l.b3, n, bh, &r);
    uniform_fill(params + l.v1, h * n, bn, &r);
    uniform_fill(params + l.c1, h, bn, &r);
    uniform_fill(params + l.v2, h * h, bh, &r);
    uniform_fill(params + l.c2, h, bh, &r);
    uniform_fill(params + l.v3, d * h, bh, &r);
    uniform_fill(params + l.c3, d, bh, &r);
}

/* out (r) = W (r x c) v (c) + b (r) (b may be NULL) */
static void matvec(double *out, const double *w, const double *v, const double *b, int64_t r,
                   int64_t c) {
    for (int64_t i = 0; i < r; i++) {
        double acc = b ? b[i] : 0.0;
        const double *wi = w + i * c;
        for (int64_t j = 0; j < c; j++) acc += wi[j] * v[j];
        out[i] = acc;
    }
}

/* out (c) += W^T (r x c) v (r) */
static void matvec_t_acc(double *out, const double *w, const double *v, int64_t r, int64_t c) {
    for (int64_t i = 0; i < r; i++) {
        double vi = v[i];
        if (vi == 0.0) continue;
        const double *wi = w + i * c;
        for (int64_t j = 0; j < c; j++) out[j] += wi[j] * vi;
    }
}

/* out (r) = tanh(W (r x c) v (c) + b (r)) */
static void dense_tanh(double *out, const double *w, const double *v, const double *b, int64_t r,
                       int64_t c) {
    matvec(out, w, v, b, r, c);
    for (int64_t i = 0; i < r; i++) out[i] = tanh(out[i]);
}

/* y = W x + b, W (r x c), given g = dL/dy (r): accumulates dw += g x^T, db += g and, when dx is
 * not NULL, dx (c) += W^T g */
static void dense_backward_acc(double *dx, double *dw, double *db, const double *g,
                               const double *x, const double *w, int64_t r, int64_t c) {
    for (int64_t i = 0; i < r; i++) {
        double gi = g[i];
        db[i] += gi;
        for (int64_t j = 0; j < c; j++) dw[i * c + j] += gi * x[j];
    }
    if (dx) matvec_t_acc(dx, w, g, r, c);
}

/* y = tanh(p) (r): dp = dy (1 - y^2) */
static void tanh_backward(double *dp, const double *dy, const double *y, int64_t r) {
    for (int64_t i = 0; i < r; i++) dp[i] = dy[i] * (1.0 - y[i] * y[i]);
}

/* tangent through y = tanh(.): out (r x k) = diag(1 - y^2) t (r x k) */
static void tanh_tangent(double *out, const double *y, const double *t, int64_t r, int64_t k) {
    for (int64_t i = 0; i < r; i++) {
        double g = 1.0 - y[i] * y[i];
        for (int64_t q = 0; q < k; q++) out[i * k + q] = g * t[i * k + q];
    }
}

/* out = diag(1 - y^2) t, given dout: dgain (r) = row sums of dout * t (overwritten, the
 * gradient through the gains 1 - y^2), dt (r x k) += diag(1 - y^2) dout */
static void tanh_tangent_backward(double *dgain, double *dt, const double *dout, const double *y,
                                  const double *t, int64_t r, int64_t k) {
    for (int64_t i = 0; i < r; i++) {
        double g = 1.0 - y[i] * y[i], acc = 0;
        for (int64_t q = 0; q < k; q++) {
            acc += dout[i * k + q] * t[i * k + q];
            dt[i * k + q] += g * dout[i * k + q];
        }
        dgain[i] = acc;
    }
}

/* out (r x k) = W (r x c) t (c x k) */
static void matmat(double *out, const double *w, const double *t, int64_t r, int64_t c,
                   int64_t k) {
    memset(out, 0, sizeof(double) * (size_t)(r * k));
    for (int64_t i = 0; i < r; i++)
        for (int64_t a = 0; a < c; a++) {
            double wa = w[i * c + a];
            for (int64_t q = 0; q < k; q++) out[i * k + q] += wa * t[a * k + q];
        }
}

/* out = W t (matmat), given dout (r x k): accumulates dw += dout t^T, dt += W^T dout */
static void matmat_backward_acc(double *dt, double *dw, const double *dout, const double *t,
                                const double *w, int64_t r, int64_t c, int64_t k) {
    for (int64_t i = 0; i < r; i++)
        for (int64_t a = 0; a < c; a++) {
            double acc = 0, wa = w[i * c + a];
            for (int64_t q = 0; q < k; q++) {
                acc += dout[i * k + q] * t[a * k + q];
                dt[a * k + q] += wa * dout[i * k + q];
            }
            dw[i * c + a] += acc;
        }
}

/* per-sample scratch of the MLP */
typedef struct {
    double *e1, *e2, *zh, *q1, *q2, *xh;        /* h, h, n, h, h, d */
    double *t1, *m2, *t2, *jac;                 /* h x n, h x n, h x n, d x n */
    double *dj, *dt2, *dm2, *dt1, *dg1, *dg2;   /* d x n, h x n, h x n, h x n, h, h */
    double *dq1, *dq2, *dp, *dzh, *de, *dxh;    /* h, h, h, n, h, d */
    double *sv;                                 /* n x n */
    double *grad;                               /* thread's gradient accumulator */
    double *mem;
} mlp_scratch;

static int64_t mlp_scratch_size(int64_t d, int64_t n, int64_t h) {
    return 4 * h + n + d + 3 * h * n + d * n + d * n + 3 * h * n + 2 * h + 3 * h + n + h + d +
           n * n;
}

static void mlp_scratch_bind(mlp_scratch *s, double *mem, int64_t d, int64_t n, int64_t h) {
    double *p = mem;
    s->mem = mem;
    s->e1 = p, p += h;
    s->e2 = p, p += h;
    s->zh = p, p += n;
    s->q1 = p, p += h;
    s->q2 = p, p += h;
    s->xh = p, p += d;
    s->t1 = p, p += h * n;
    s->m2 = p, p += h * n;
    s->t2 = p, p += h * n;
    s->jac = p, p += d * n;
    s->dj = p, p += d * n;
    s->dt2 = p, p += h * n;
    s->dm2 = p, p += h * n;
    s->dt1 = p, p += h * n;
    s->dg1 = p, p += h;
    s->dg2 = p, p += h;
    s->dq1 = p, p += h;
    s->dq2 = p, p += h;
    s->dp = p, p += h;
    s->dzh = p, p += n;
    s->de = p, p += h;
    s->dxh = p, p += d;
    s->sv = p, p += n * n;
}

/* Forward of one sample: encoder, decoder, tangents and J; sv[m*n + k] = (J^T ds_m)_k.
 * Returns ||xh - x||^2. */
static double mlp_sample_forward(mlp_scratch *s, const double *P, const mlp_layout *l,
                                 const double *x, const double *const *ds, int64_t row,
                                 int64_t d, int64_t n, int64_t h) {
    const double *xr = x + row * d;
    dense_tanh(s->e1, P + l->w1, xr, P + l->b1, h, d);
    dense_tanh(s->e2, P + l->w2, s->e1, P + l->b2, h, h);
    matvec(s->zh, P + l->w3, s->e2, P + l->b3, n, h);
    dense_tanh(s->q1, P + l->v1, s->zh, P + l->c1, h, n);
    dense_tanh(s->q2, P + l->v2, s->q1, P + l->c2, h, h);
    matvec(s->xh, P + l->v3, s->q2, P + l->c3, d, h);
    double r = 0;
    for (int64_t j = 0; j < d; j++) {
        double e = s->xh[j] - xr[j];
        r += e * e;
    }
    /* tangents: T1 = diag(g1) V1, M2 = V2 T1, T2 = diag(g2) M2, J = V3 T2 */
    tanh_tangent(s->t1, s->q1, P + l->v1, h, n);
    matmat(s->m2, P + l->v2, s->t1, h, h, n);
    tanh_tangent(s->t2, s->q2, s->m2, h, n);
    matmat(s->jac, P + l->v3, s->t2, d, h, n);
    for (int64_t m = 0; m < n; m++) {
        const double *dsr = ds[m] + row * d;
        for (int64_t k = 0; k < n; k++) {
            double acc = 0;
            for (int64_t j = 0; j < d; j++) acc += s->jac[j * n + k] * dsr[j];
            s->sv[m * n + k] = acc;
        }
    }
    return r;
}

/* Backward of one sample (after mlp_sample_forward): dsv (n x n) = dL/dsv, coef_mse = dL/d||xh -
 * x||^2 for this sample. Accumulates into s->grad. */
static void mlp_sample_backward(mlp_scratch *s, const double *P, const mlp_layout *l,
                                const double *x, const double *const *ds, int64_t row,
                                const double *dsv, double coef_mse, int64_t d, int64_t n,
                                int64_t h) {
    const double *xr = x + row * d;
    double *G = s->grad;
    const double *v1 = P + l->v1, *v2 = P + l->v2, *v3 = P + l->v3;
    /* dJ[j][k] = sum_m ds_m[j] dsv[m][k] */
    memset(s->dj, 0, sizeof(double) * (size_t)(d * n));
    for (int64_t m = 0; m < n; m++) {
        const double *dsr = ds[m] + row * d;
        for (int64_t j = 0; j < d; j++) {
            double a = dsr[j];
            for (int64_t k = 0; k < n; k++) s->dj[j * n + k] += a * dsv[m * n + k];
        }
    }
    /* J = V3 T2, T2 = diag(g2) M2, M2 = V2 T1, T1 = diag(g1) V1 */
    memset(s->dt2, 0, sizeof(double) * (size_t)(h * n));
    matmat_backward_acc(s->dt2, G + l->v3, s->dj, s->t2, v3, d, h, n);
    memset(s->dm2, 0, sizeof(double) * (size_t)(h * n));
    tanh_tangent_backward(s->dg2, s->dm2, s->dt2, s->q2, s->m2, h, n);
    memset(s->dt1, 0, sizeof(double) * (size_t)(h * n));
    matmat_backward_acc(s->dt1, G + l->v2, s->dm2, s->t1, v2, h, h, n);
    tanh_tangent_backward(s->dg1, G + l->v1, s->dt1, s->q1, v1, h, n);
    /* g = 1 - q^2 */
    for (int64_t i = 0; i < h; i++) {
        s->dq2[i] = -2.0 * s->q2[i] * s->dg2[i];
        s->dq1[i] = -2.0 * s->q1[i] * s->dg1[i];
    }
    /* xh = V3 q2 + c3 */
    for (int64_t j = 0; j < d; j++) s->dxh[j] = 2.0 * coef_mse * (s->xh[j] - xr[j]);
    dense_backward_acc(s->dq2, G + l->v3, G + l->c3, s->dxh, s->q2, v3, d, h);
    /* q2 = tanh(V2 q1 + c2) */
    tanh_backward(s->dp, s->dq2, s->q2, h);
    dense_backward_acc(s->dq1, G + l->v2, G + l->c2, s->dp, s->q1, v2, h, h);
    /* q1 = tanh(V1 zh + c1) */
    tanh_backward(s->dp, s->dq1, s->q1, h);
    memset(s->dzh, 0, sizeof(double) * (size_t)n);
    dense_backward_acc(s->dzh, G + l->v1, G + l->c1, s->dp, s->zh, v1, h, n);
    /* encoder: zh = W3 e2 + b3, e2 = tanh(W2 e1 + b2), e1 = tanh(W1 x + b1) */
    memset(s->de, 0, sizeof(double) * (size_t)h);
    dense_backward_acc(s->de, G + l->w3, G + l->b3, s->dzh, s->e2, P + l->w3, n, h);
    tanh_backward(s->dp, s->de, s->e2, h);
    memset(s->de, 0, sizeof(double) * (size_t)h);
    dense_backward_acc(s->de, G + l->w2, G + l->b2, s->dp, s->e1, P + l->w2, h, h);
    tanh_backward(s->dp, s->de, s->e1, h);
    dense_backward_acc(NULL, G + l->w1, G + l->b1, s->dp, xr, P + l->w1, h, d);
}

/* Work space for batch passes: per thread a scratch block and a gradient accumulator. */
typedef struct {
    int64_t nthreads, d, n, h, cap;
    mlp_layout l;
    double *mem;  /* nthreads x (scratch + grad) */
    double *sv;   /* cap x n x n per-sample score projections */
    double *mse;  /* cap */
} mlp_ws;

static void mlp_ws_free(mlp_ws *w) {
    cw_free(w->mem);
    cw_free(w->sv);
    cw_free(w->mse);
    memset(w, 0, sizeof *w);
}

static cw_status mlp_ws_init(mlp_ws *w, int64_t d, int64_t n, int64_t h, int64_t cap,
                             int64_t threads) {
    memset(w, 0, sizeof *w);
    w->d = d, w->n = n, w->h = h, w->cap = cap;
    w->l = mlp_offsets(d, n, h);
#ifdef _OPENMP
    w->nthreads = threads;
#else
    (void)threads;
    w->nthreads = 1;
#endif
    if (w->nthreads < 1) w->nthreads = 1;
    int64_t per = mlp_scratch_size(d, n, h) + w->l.total;
    w->mem = cw_malloc_array((size_t)(per * w->nthreads), sizeof(double));
    w->sv = cw_malloc_array((size_t)(cap * n * n), sizeof(double));
    w->mse = cw_malloc_array((size_t)cap, sizeof(double));
    if (!w->mem || !w->sv || !w->mse) {
        mlp_ws_free(w);
        return cw_fail(CW_ENOMEM, "gscale mlp: workspace (%lld threads, batch %lld)",
                       (long long)w->nthreads, (long long)cap);
    }
    return CW_OK;
}

/* thread t's gradient accumulator in w->mem, after its scratch block */
static double *mlp_ws_grad(const mlp_ws *w, int64_t t) {
    int64_t ss = mlp_scratch_size(w->d, w->n, w->h);
    return w->mem + t * (ss + w->l.total) + ss;
}

/* binds the calling thread's scratch block and gradient accumulator */
static void mlp_thread_scratch(mlp_scratch *s, const mlp_ws *w) {
    int64_t tid = 0;
#ifdef _OPENMP
    tid = omp_get_thread_num();
#endif
    int64_t per = mlp_scratch_size(w->d, w->n, w->h) + w->l.total;
    mlp_scratch_bind(s, w->mem + tid * per, w->d, w->n, w->h);
    s->grad = mlp_ws_grad(w, tid);
}

/* One pass over rows[0..b-1]: D (n x n, env m, latent k) = mean |sv|, mse = mean ||xh - x||^2;
 * if grad != NULL, the gradient of sum|D - I| + lambda mse (overwritten). */
static void mlp_pass(mlp_ws *w, double *D, double *jac_term, double *msep, double *grad,
                     const double *P, const double *x, const double *const *ds,
                     const int64_t *rows, int64_t b, double lambda_mse) {
    int64_t d = w->d, n = w->n, h = w->h, nth = w->nthreads;
    const mlp_layout *l = &w->l;
#pragma omp parallel for schedule(static) num_threads((int)nth)
    for (int64_t i = 0; i < b; i++) {
        mlp_scratch s;
        mlp_thread_scratch(&s, w);
        int64_t row = rows ? rows[i] : i;
        w->mse[i] = mlp_sample_forward(&s, P, l, x, ds, row, d, n, h);
        memcpy(w->sv + i * n * n, s.sv, sizeof(double) * (size_t)(n * n));
    }
    double mse = 0;
    for (int64_t q = 0; q < n * n; q++) D[q] = 0;
    for (int64_t i = 0; i < b; i++) {
        mse += w->mse[i];
        for (int64_t q = 0; q < n * n; q++) D[q] += fabs(w->sv[i * n * n + q]);
    }
    mse /= (double)b;
    double jt = 0;
    for (int64_t m = 0; m < n; m++)
        for (int64_t k = 0; k < n; k++) {
            D[m * n + k] /= (double)b;
            jt += fabs(D[m * n + k] - (m == k ? 1.0 : 0.0));
        }
    if (jac_term) *jac_term = jt;
    if (msep) *msep = mse;
    if (!grad) return;
    double gd[CW_METRIC_MAX];
    for (int64_t m = 0; m < n; m++)
        for (int64_t k = 0; k < n; k++) gd[m * n + k] = sgn(D[m * n + k] - (m == k ? 1.0 : 0.0));
    for (int64_t t = 0; t < nth; t++)
        memset(mlp_ws_grad(w, t), 0, sizeof(double) * (size_t)l->total);
#pragma omp parallel for schedule(static) num_threads((int)nth)
    for (int64_t i = 0; i < b; i++) {
        mlp_scratch s;
        mlp_thread_scratch(&s, w);
        int64_t row = rows ? rows[i] : i;
        mlp_sample_forward(&s, P, l, x, ds, row, d, n, h);
        double dsv[CW_METRIC_MAX];
        for (int64_t q = 0; q < n * n; q++) dsv[q] = gd[q] * sgn(s.sv[q]) / (double)b;
        mlp_sample_backward(&s, P, l, x, ds, row, dsv, lambda_mse / (double)b, d, n, h);
    }
    memset(grad, 0, sizeof(double) * (size_t)l->total);
    for (int64_t t = 0; t < nth; t++) {
        const double *g = mlp_ws_grad(w, t);
        for (int64_t q = 0; q < l->total; q++) grad[q] += g[q];
    }
}

static cw_status mlp_check(const double *x, int64_t count, int64_t d, int64_t n, int64_t h,
                           const double *const *ds) {
    if (!x || !ds) return cw_fail(CW_EINVAL, "gscale mlp: NULL input");
    if (n < 2 || n * n > CW_METRIC_MAX || d < n || count < 1 || h < 1)
        return cw_fail(CW_EINVAL, "gscale mlp: need 2 <= n <= d, n*n <= %d, hidden >= 1 and "
                       "samples (n %lld, d %lld, hidden %lld, count %lld)", CW_METRIC_MAX,
                       (long long)n, (long long)d, (long long)h, (long long)count);
    for (int64_t m = 0; m < n; m++)
        if (!ds[m]) return cw_fail(CW_EINVAL, "gscale mlp: score difference %lld is NULL",
                                   (long long)m + 1);
    return CW_OK;
}

cw_status cw_gscale_mlp_loss(double *loss, double *jac_term, double *mse, double *grad,
                             const double *params, int64_t d, int64_t n, int64_t h,
                             const double *x, const double *const *ds, const int64_t *rows,
                             int64_t b, double lambda_mse) {
    CW_TRY(mlp_check(x, b, d, n, h, ds));
    mlp_ws w;
    CW_TRY(mlp_ws_init(&w, d, n, h, b, 1));
    double D[CW_METRIC_MAX], jt, ms;
    mlp_pass(&w, D, &jt, &ms, grad, params, x, ds, rows, b, lambda_mse);
    mlp_ws_free(&w);
    *loss = jt + lambda_mse * ms;
    if (jac_term) *jac_term = jt;
    if (mse) *mse = ms;
    return CW_OK;
}

/* D over all samples in chunks (env m, latent k). */
static void mlp_dmat_all(mlp_ws *w, double *D, const double *P, const double *x,
                         const double *const *ds, int64_t count) {
    int64_t n = w->n;
    double part[CW_METRIC_MAX];
    int64_t *rows = NULL;
    for (int64_t q = 0; q < n * n; q++) D[q] = 0;
    for (int64_t s = 0; s < count; s += w->cap) {
        int64_t b = count - s < w->cap ? count - s : w->cap;
        /* rows s .. s+b-1: shift the arrays instead of an index list */
        const double *dsh[CW_METRIC_MAX];
        for (int64_t m = 0; m < n; m++) dsh[m] = ds[m] + s * w->d;
        mlp_pass(w, part, NULL, NULL, NULL, P, x + s * w->d, dsh, rows, b, 0.0);
        for (int64_t q = 0; q < n * n; q++) D[q] += part[q] * (double)b;
    }
    for (int64_t q = 0; q < n * n; q++) D[q] /= (double)count;
}

/* Reorders latent outputs: new latent j = old latent perm[j] (W3 rows, b3, V1 columns). */
static void mlp_permute_latents(double *P, const mlp_layout *l, const int64_t *perm, int64_t n,
                                int64_t h, double *tmp) {
    memcpy(tmp, P + l->w3, sizeof(double) * (size_t)(n * h));
    for (int64_t j = 0; j < n; j++)
        memcpy(P + l->w3 + j * h, tmp + perm[j] * h, sizeof(double) * (size_t)h);
    memcpy(tmp, P + l->b3, sizeof(double) * (size_t)n);
    for (int64_t j = 0; j < n; j++) P[l->b3 + j] = tmp[perm[j]];
    memcpy(tmp, P + l->v1, sizeof(double) * (size_t)(h * n));
    for (int64_t i = 0; i < h; i++)
        for (int64_t j = 0; j < n; j++) P[l->v1 + i * n + j] = tmp[i * n + perm[j]];
}

cw_status cw_gscale_mlp_run(cw_gscale_result *res, const double *x, int64_t count, int64_t d,
                            int64_t n, const double *const *ds_hh, const double *const *ds_ho,
                            const cw_gscale_opts *o, uint64_t seed) {
    if (!res) return cw_fail(CW_EINVAL, "gscale mlp: NULL result");
    memset(res, 0, sizeof *res);
    cw_gscale_opts def;
    if (!o) {
        cw_gscale_defaults(&def);
        o = &def;
    }
    int64_t h = o->mlp_hidden;
    CW_TRY(mlp_check(x, count, d, n, h, ds_hh));
    if (o->mlp_epochs < 0 || o->mlp_batch < 1 || o->mlp_decay_every < 1 || !(o->mlp_lr > 0))
        return cw_fail(CW_EINVAL, "gscale mlp: epochs >= 0, batch, decay_every and lr > 0 "
                       "needed");
    if (ds_ho)
        for (int64_t m = 0; m < n; m++)
            if (!ds_ho[m]) return cw_fail(CW_EINVAL, "gscale mlp: ds_ho[%lld] is NULL",
                                          (long long)m);
    for (int64_t i = 0; i < count * d; i++)
        if (!isfinite(x[i])) return cw_fail(CW_EINVAL, "gscale mlp: x[%lld] is not finite",
                                            (long long)i);
    CW_TRY(result_alloc(res, CW_GSCALE_MLP, n, d, h));
    int64_t batch = o->mlp_batch < count ? o->mlp_batch : count;
    mlp_ws w;
    cw_status st = mlp_ws_init(&w, d, n, h, batch, o->mlp_threads);
    if (st != CW_OK) {
        cw_gscale_result_free(res);
        return st;
    }
    int64_t np = w.l.total;
    double *P = res->params;
    double *grad = cw_malloc_array((size_t)np, sizeof(double));
    double *am = cw_calloc((size_t)np, sizeof(double));
    double *av = cw_calloc((size_t)np, sizeof(double));
    double *tmp = cw_malloc_array((size_t)(n * h), sizeof(double));
    int64_t *order = cw_malloc_array((size_t)count, sizeof(int64_t));
    if (!grad || !am || !av || !tmp || !order) {
        st = cw_fail(CW_ENOMEM, "gscale mlp: optimiser state (%lld parameters)", (long long)np);
        goto done;
    }
    cw_gscale_mlp_init(P, d, n, h, seed);
    cw_rng rng;
    cw_rng_substream(&rng, seed, 0x67626174ULL); /* "gbat" */
    for (int64_t i = 0; i < count; i++) order[i] = i;
    double lr = o->mlp_lr, b1 = o->adam_beta1, b2 = o->adam_beta2;
    int64_t t = 0;
    double epoch_loss = 0, epoch_mse = 0;
    for (int64_t ep = 0; ep < o->mlp_epochs; ep++) {
        if (ep > 0 && ep % o->mlp_decay_every == 0) lr *= o->mlp_lr_gamma;
        cw_rng_shuffle_i64(&rng, order, count);
        epoch_loss = 0, epoch_mse = 0;
        int64_t nb = 0;
        for (int64_t s0 = 0; s0 < count; s0 += batch) {
            int64_t b = count - s0 < batch ? count - s0 : batch;
            double D[CW_METRIC_MAX], jt, ms;
            mlp_pass(&w, D, &jt, &ms, grad, P, x, ds_hh, order + s0, b, o->mlp_lambda_mse);
            double loss = jt + o->mlp_lambda_mse * ms;
            if (!isfinite(loss)) {
                st = cw_fail(CW_EINVAL, "gscale mlp: epoch %lld batch %lld: loss not finite "
                             "(jacobian term %g, mse %g)", (long long)ep, (long long)nb, jt, ms);
                goto done;
            }
            epoch_loss += loss, epoch_mse += ms, nb++;
            t++;
            double bc1 = 1.0 - pow(b1, (double)t), bc2 = 1.0 - pow(b2, (double)t);
            for (int64_t q = 0; q < np; q++) {
                double g = grad[q] + o->mlp_weight_decay * P[q];
                am[q] = b1 * am[q] + (1.0 - b1) * g;
                av[q] = b2 * av[q] + (1.0 - b2) * g * g;
                P[q] -= lr / bc1 * am[q] / (sqrt(av[q]) / sqrt(bc2) + o->adam_eps);
            }
        }
        epoch_loss /= (double)nb, epoch_mse /= (double)nb;
        if (o->verbose && (ep % 10 == 0 || ep + 1 == o->mlp_epochs))
            fprintf(stderr, "gscale mlp: epoch %lld loss %.6g mse %.6g lr %.3g\n", (long long)ep,
                    epoch_loss, epoch_mse, lr);
    }
    res->steps = o->mlp_epochs;
    res->final_loss = epoch_loss;
    res->final_recon = epoch_mse;
    /* environment order from D_hh (env m, latent k) -> latent x env for the greedy rule */
    double D[CW_METRIC_MAX] = {0}, Dt[CW_METRIC_MAX] = {0};
    mlp_dmat_all(&w, D, P, x, ds_hh, count);
    for (int64_t m = 0; m < n; m++)
        for (int64_t k = 0; k < n; k++) Dt[k * n + m] = D[m * n + k];
    st = env_perm(res->perm, Dt, n, D);
    if (st != CW_OK) goto done;
    mlp_permute_latents(P, &w.l, res->perm, n, h, tmp);
    permute_rows(res->dhat, Dt, res->perm, n);
    res->lambda_g = o->lambda_g, res->lambda_g_rel = o->lambda_g_rel;
    if (ds_ho) {
        mlp_dmat_all(&w, D, P, x, ds_ho, count);
        for (int64_t m = 0; m < n; m++)
            for (int64_t k = 0; k < n; k++) res->dhat_ho[k * n + m] = D[m * n + k];
        st = graph_from_dho(res->g, res->dhat_ho, res->dhat, n, o->lambda_g, o->lambda_g_rel);
    }
done:
    cw_free(grad);
    cw_free(am);
    cw_free(av);
    cw_free(tmp);
    cw_free(order);
    mlp_ws_free(&w);
    if (st != CW_OK) cw_gscale_result_free(res);
    return st;
}

/* ------------------------------------------------------------------------------------------ */
/* encoder and evaluation                                                                       */

cw_status cw_gscale_encode(const cw_gscale_result *r, const double *x, int64_t count,
                           double *z_hat) {
    if (!r || !x || !z_hat || count < 0) return cw_fail(CW_EINVAL, "gscale encode: bad input");
    int64_t d = r->d, n = r->n;
    if (r->kind == CW_GSCALE_GLM) {
        if (!r->u) return cw_fail(CW_EINVAL, "gscale encode: no U");
        double *p = cw_malloc_array((size_t)(n * d), sizeof(double));
        double *y = cw_malloc_array((size_t)(count * d) + 1, sizeof(double));
        if (!p || !y) {
            cw_free(p);
            cw_free(y);
            return cw_fail(CW_ENOMEM, "gscale encode: %lld samples", (long long)count);
        }
        cw_status st = cw_la_pinv(p, r->u, d, n, 1e-15);
        if (st == CW_OK) {
            for (int64_t i = 0; i < count * d; i++) y[i] = atanh(clampx(x[i]));
            cw_la_gemm('N', 'T', count, n, d, 1.0, y, p, 0.0, z_hat);
        }
        cw_free(p);
        cw_free(y);
        return st;
    }
    if (!r->params) return cw_fail(CW_EINVAL, "gscale encode: no MLP parameters");
    int64_t h = r->hidden;
    mlp_layout l = mlp_offsets(d, n, h);
    double *buf = cw_malloc_array((size_t)(2 * h), sizeof(double));
    if (!buf) return cw_fail(CW_ENOMEM, "gscale encode");
    const double *P = r->params;
    for (int64_t i = 0; i < count; i++) {
        double *e1 = buf, *e2 = buf + h;
        dense_tanh(e1, P + l.w1, x + i * d, P + l.b1, h, d);
        dense_tanh(e2, P + l.w2, e1, P + l.b2, h, h);
        matvec(z_hat + i * n, P + l.w3, e2, P + l.b3, n, h);
    }
    cw_free(buf);
    return CW_OK;
}

cw_status cw_gscale_env_order(int64_t *order, const cw_crl_data *truth) {
    int64_t n = truth->n;
    if (!truth->targets || truth->n_env < n + 1)
        return cw_fail(CW_EINVAL, "gscale: truth has %lld environments, need %lld",
                       (long long)truth->n_env, (long long)n + 1);
    for (int64_t j = 0; j < n; j++) {
        int64_t node = -1, cnt = 0;
        for (int64_t i = 0; i < n; i++)
            if (truth->targets[(j + 1) * n + i]) node = i, cnt++;
        if (cnt != 1)
            return cw_fail(CW_EINVAL, "gscale: environment %lld intervenes %lld nodes, need 1",
                           (long long)j + 1, (long long)cnt);
        order[j] = node;
    }
    return CW_OK;
}

cw_status cw_gscale_graph(uint8_t *g, const cw_gscale_result *r, double lambda_g,
                          double lambda_rel) {
    if (!g || !r || !r->dhat_ho || !r->dhat) return cw_fail(CW_EINVAL, "gscale graph: no result");
    return graph_from_dho(g, r->dhat_ho, r->dhat, r->n, lambda_g, lambda_rel);
}

cw_status cw_gscale_evaluate(cw_metric_list *out, const cw_gscale_result *r,
                             const cw_crl_data *truth, double lambda_g) {
    if (!out || !r || !truth) return cw_fail(CW_EINVAL, "gscale evaluate: NULL input");
    if (!truth->has_truth || !truth->z || !truth->x)
        return cw_fail(CW_EINVAL, "gscale evaluate: the dataset has no ground truth");
    int64_t n = r->n, d = r->d, N = truth->count[0];
    if (truth->n != n || truth->d != d)
        return cw_fail(CW_EINVAL, "gscale evaluate: result n %lld d %lld, data n %lld d %lld",
                       (long long)n, (long long)d, (long long)truth->n, (long long)truth->d);
    memset(out, 0, sizeof *out);
    int64_t *order = cw_malloc_array((size_t)n, sizeof(int64_t));
    int64_t *order_m = cw_malloc_array((size_t)n, sizeof(int64_t));
    double *zh = cw_malloc_array((size_t)(N * n), sizeof(double));
    double *ze = cw_malloc_array((size_t)(N * n), sizeof(double));
    uint8_t *goal = cw_calloc((size_t)(n * n), 1), *gh = cw_calloc((size_t)(n * n), 1);
    cw_status st = CW_OK;
    if (!order || !order_m || !zh || !ze || !goal || !gh) {
        st = cw_fail(CW_ENOMEM, "gscale evaluate");
        goto done;
    }
    st = cw_gscale_env_order(order, truth);
    if (st != CW_OK) goto done;
    st = cw_gscale_encode(r, truth->x[0], N, zh);
    if (st != CW_OK) goto done;
    double mcc = NAN;
    st = cw_mcc(&mcc, order_m, truth->z[0], n, zh, n, N);
    if (st != CW_OK) goto done;
    cw_metric_set(out, "mcc", mcc);
    if (r->kind == CW_GSCALE_GLM && truth->mixing.g) {
        /* T in environment order; U is already there (the algorithm's greedy D permutation),
         * so the alignment is the identity plus per-column signs (cw_crl_err_fro) */
        double *t = cw_malloc_array((size_t)(d * n), sizeof(double));
        if (!t) {
            st = cw_fail(CW_ENOMEM, "gscale evaluate: T");
            goto done;
        }
        for (int64_t i = 0; i < d; i++)
            for (int64_t j = 0; j < n; j++) t[i * n + j] = truth->mixing.g[i * n + order[j]];
        for (int64_t j = 0; j < n; j++) order_m[j] = j;
        double ef = NAN;
        st = cw_crl_err_fro(&ef, NULL, t, r->u, d, n, order_m);
        cw_free(t);
        if (st != CW_OK) goto done;
        cw_metric_set(out, "err_fro", ef);
    }
    /* z_err: Z in environment order, least-squares scale per column */
    for (int64_t j = 0; j < n; j++) {
        double zz = 0, hz = 0;
        for (int64_t i = 0; i < N; i++) {
            double zv = truth->z[0][i * n + order[j]], hv = zh[i * n + j];
            zz += hv * hv, hz += hv * zv;
        }
        double c = zz > 0 ? hz / zz : 0.0;
        for (int64_t i = 0; i < N; i++) ze[i * n + j] = c * zh[i * n + j] - truth->z[0][i * n + order[j]];
    }
    for (int64_t i = 0; i < N; i++)
        for (int64_t j = 0; j < n; j++) {
            ze[i * n + j] += truth->z[0][i * n + order[j]]; /* back to the scaled estimate */
            zh[i * n + j] = truth->z[0][i * n + order[j]];
        }
    double zerr = NAN;
    st = cw_crl_rel_spectral_error(&zerr, ze, zh, N, n);
    if (st != CW_OK) goto done;
    cw_metric_set(out, "z_err", zerr);
    cw_dag_permute(goal, truth->scm.adj, order, n);
    if (lambda_g >= 0) {
        st = graph_from_dho(gh, r->dhat_ho, r->dhat, n, lambda_g, r->lambda_g_rel);
        if (st != CW_OK) goto done;
    } else {
        memcpy(gh, r->g, (size_t)(n * n));
    }
    int64_t shd = cw_dag_shd(goal, gh, n);
    double prec = 0, rec = 0;
    cw_dag_precision_recall(&prec, &rec, goal, gh, n, 0.0);
    cw_metric_set(out, "shd", (double)shd);
    cw_metric_set(out, "precision", prec);
    cw_metric_set(out, "recall", rec);
    cw_metric_set(out, "recovered", shd == 0 ? 1.0 : 0.0);
    cw_metric_set(out, "n_edges_hat", (double)cw_dag_edge_count(gh, n));
    cw_metric_set(out, "steps", (double)r->steps);
done:
    cw_free(order);
    cw_free(order_m);
    cw_free(zh);
    cw_free(ze);
    cw_free(goal);
    cw_free(gh);
    return st;
}
