/* score_ldr.c: DenseLdr classifier, BCE loss and hand backward, input gradient, warm-restart
 * schedule and training loop (score_ldr.h; spec score_crl_and_temporal.md §A3.3).
 *
 * Shapes per batch (B rows): layer l maps (B, d_l) -> (B, d_{l+1}), d_0 = p, d_1..d_{L-1} = W,
 * d_L = 1; ReLU after every layer but the last. Activations act_l (B, d_l) are kept for the
 * backward (act_0 = x). Logit r (B); z = r - log nu; loss = mean_i BCE(sigmoid(z_i), y_i);
 * dr_i = (sigmoid(z_i) - y_i) / B. The input gradient runs the same backward with dr = 1 and
 * no parameter gradients: grad_x r = W_0^T M_1 W_1^T ... M_{L-1} w_{L-1}, M_l the ReLU masks.
 */
#include "crl/score_ldr.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "nn/adam.h"
#include "nn/linear.h"

#include <math.h>
#include <string.h>

#define LDR_PI 3.14159265358979323846

void cw_ldr_defaults(cw_ldr_config *c) {
    c->width = 64;
    c->depth = 3;
    c->epochs = 50;
    c->batch = 256;
    c->lr = 1e-2;
    c->beta1 = 0.9;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->t0 = 0;
    c->t_mult = 4;
}

void cw_ldr_free(cw_ldr *m) {
    if (!m) return;
    cw_free(m->params);
    memset(m, 0, sizeof *m);
}

/* width of the input of layer l (l = 0..depth) */
static int64_t ldr_dim(const cw_ldr *m, int64_t l) {
    return l == 0 ? m->p : (l == m->depth ? 1 : m->width);
}

/* offset of W_l in the flat buffer (b_l follows W_l) */
static int64_t ldr_off(const cw_ldr *m, int64_t l) {
    int64_t off = 0;
    for (int64_t k = 0; k < l; k++) off += ldr_dim(m, k + 1) * (ldr_dim(m, k) + 1);
    return off;
}

cw_status cw_ldr_init(cw_ldr *m, int64_t p, int64_t width, int64_t depth, double log_nu,
                      uint64_t seed) {
    if (!m) return cw_fail(CW_EINVAL, "ldr_init: NULL model");
    memset(m, 0, sizeof *m);
    if (p < 1) return cw_fail(CW_EINVAL, "ldr_init: dimension p = %lld < 1", (long long)p);
    if (width < 1) return cw_fail(CW_EINVAL, "ldr_init: width %lld < 1", (long long)width);
    if (depth < 2) return cw_fail(CW_EINVAL, "ldr_init: depth %lld < 2", (long long)depth);
    if (!isfinite(log_nu)) return cw_fail(CW_EINVAL, "ldr_init: log nu = %g", log_nu);
    cw_ldr t = {.p = p, .width = width, .depth = depth, .log_nu = log_nu, .train_loss = NAN};
    t.nparams = ldr_off(&t, depth);
    t.params = cw_malloc_array((size_t)t.nparams, sizeof *t.params);
    if (!t.params) return cw_fail(CW_ENOMEM, "ldr_init: %lld parameters", (long long)t.nparams);
    cw_rng r;
    cw_rng_substream(&r, seed, 1);
    for (int64_t l = 0; l < depth; l++) {
        const int64_t in = ldr_dim(&t, l), out = ldr_dim(&t, l + 1);
        real *w = t.params + ldr_off(&t, l);
        const double bound = 1.0 / sqrt((double)in);
        for (int64_t i = 0; i < out * (in + 1); i++)
            w[i] = (real)(bound * (2 * cw_rng_uniform(&r) - 1));
    }
    *m = t;
    return CW_OK;
}

int64_t cw_ldr_scratch_len(const cw_ldr *m, int64_t b) {
    return (m->depth - 1) * b * m->width + 2 * b * (m->width > m->p ? m->width : m->p) + 2 * b;
}

/* forward: acts (depth-1 blocks of B x width) and r (B) */
static void ldr_forward(const cw_ldr *m, const real *x, int64_t b, real *acts, real *r) {
    const real *in = x;
    for (int64_t l = 0; l < m->depth; l++) {
        const int64_t di = ldr_dim(m, l), d_o = ldr_dim(m, l + 1);
        const real *w = m->params + ldr_off(m, l);
        real *out = l + 1 < m->depth ? acts + l * b * m->width : r;
        cw_linear_forward(out, in, w, w + d_o * di, b, di, d_o);
        if (l + 1 < m->depth)
            for (int64_t i = 0; i < b * d_o; i++) out[i] = out[i] > 0 ? out[i] : 0;
        in = out;
    }
}

/* backward from dr (B): accumulates parameter gradients into grad (NULL: none) and, when dx is
 * not NULL, ACCUMULATES the input gradient (B x p) into dx. g0, g1: 2 buffers of B x max(W, p). */
static void ldr_backward(const cw_ldr *m, const real *x, int64_t b, const real *acts,
                         const real *dr, real *grad, real *dx, real *g0, real *g1) {
    const real *dout = dr;
    for (int64_t l = m->depth - 1; l >= 0; l--) {
        const int64_t di = ldr_dim(m, l), d_o = ldr_dim(m, l + 1), off = ldr_off(m, l);
        const real *inp = l == 0 ? x : acts + (l - 1) * b * m->width;
        real *din = NULL;
        if (l > 0) {
            din = (dout == g0) ? g1 : g0;
            memset(din, 0, (size_t)(b * di) * sizeof *din);
        } else {
            din = dx;
        }
        cw_linear_backward(din, grad ? grad + off : NULL, grad ? grad + off + d_o * di : NULL,
                           dout, inp, m->params + off, b, di, d_o);
        if (l > 0)
            for (int64_t i = 0; i < b * di; i++)
                if (!(inp[i] > 0)) din[i] = 0; /* ReLU mask (output 0 <=> input <= 0) */
        dout = din;
    }
}

static double softplus_d(double v) { return v > 0 ? v + log1p(exp(-v)) : log1p(exp(v)); }

void cw_ldr_loss_grad(const cw_ldr *m, const real *x, const real *y, int64_t b, double *loss,
                      real *grad, real *scratch) {
    CW_ASSERT(b >= 1);
    const int64_t wmax = m->width > m->p ? m->width : m->p;
    real *acts = scratch, *g0 = acts + (m->depth - 1) * b * m->width, *g1 = g0 + b * wmax,
         *r = g1 + b * wmax, *dr = r + b;
    ldr_forward(m, x, b, acts, r);
    double total = 0;
    for (int64_t i = 0; i < b; i++) {
        const double z = (double)r[i] - m->log_nu;
        total += y[i] > 0.5 ? softplus_d(-z) : softplus_d(z);
        const double sig = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
        dr[i] = (real)((sig - (double)y[i]) / (double)b);
    }
    *loss = total / (double)b;
    if (grad) ldr_backward(m, x, b, acts, dr, grad, NULL, g0, g1);
}

double cw_ldr_lr_at(const cw_ldr_config *c, int64_t epoch) {
    int64_t ti = c->t0 > 0 ? c->t0 : c->epochs / 5 + 1, tcur = epoch;
    while (tcur >= ti) {
        tcur -= ti;
        ti *= c->t_mult;
    }
    return c->lr * (1 + cos(LDR_PI * (double)tcur / (double)ti)) / 2;
}

static cw_status ldr_check_config(const cw_ldr_config *c) {
    if (c->width < 1) return cw_fail(CW_EINVAL, "ldr: width %lld < 1", (long long)c->width);
    if (c->depth < 2) return cw_fail(CW_EINVAL, "ldr: depth %lld < 2", (long long)c->depth);
    if (c->epochs < 0) return cw_fail(CW_EINVAL, "ldr: epochs %lld < 0", (long long)c->epochs);
    if (c->batch < 1) return cw_fail(CW_EINVAL, "ldr: batch size %lld < 1", (long long)c->batch);
    if (!(c->lr > 0) || !isfinite(c->lr)) return cw_fail(CW_EINVAL, "ldr: learning rate %g", c->lr);
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        return cw_fail(CW_EINVAL, "ldr: Adam betas (%g, %g) outside [0, 1)", c->beta1, c->beta2);
    if (!(c->eps >= 0)) return cw_fail(CW_EINVAL, "ldr: Adam eps %g", c->eps);
    if (c->t0 < 0) return cw_fail(CW_EINVAL, "ldr: restart period t0 %lld < 0", (long long)c->t0);
    if (c->t_mult < 1)
        return cw_fail(CW_EINVAL, "ldr: restart multiplier %lld < 1", (long long)c->t_mult);
    return CW_OK;
}

static cw_status ldr_check_samples(const double *x, int64_t n, int64_t p, const char *name) {
    if (!x) return cw_fail(CW_EINVAL, "ldr_fit: NULL samples %s", name);
    if (n < 2)
        return cw_fail(CW_EINVAL, "ldr_fit: %lld samples in %s, need at least 2", (long long)n,
                       name);
    for (int64_t i = 0; i < n * p; i++)
        if (!isfinite(x[i]))
            return cw_fail(CW_EINVAL, "ldr_fit: %s sample %lld, coordinate %lld is %g", name,
                           (long long)(i / p), (long long)(i % p), x[i]);
    return CW_OK;
}

cw_status cw_ldr_fit(cw_ldr *m, const double *xa, int64_t na, const double *xb, int64_t nb,
                     int64_t p, const cw_ldr_config *cfg, uint64_t seed) {
    if (!m) return cw_fail(CW_EINVAL, "ldr_fit: NULL model");
    memset(m, 0, sizeof *m);
    cw_ldr_config dflt;
    cw_ldr_defaults(&dflt);
    const cw_ldr_config *c = cfg ? cfg : &dflt;
    if (p < 1) return cw_fail(CW_EINVAL, "ldr_fit: dimension p = %lld < 1", (long long)p);
    CW_TRY(ldr_check_samples(xa, na, p, "a"));
    CW_TRY(ldr_check_samples(xb, nb, p, "b"));
    CW_TRY(ldr_check_config(c));
    CW_TRY(cw_ldr_init(m, p, c->width, c->depth, log((double)na / (double)nb), seed));
    const int64_t n = na + nb, np = m->nparams, bmax = n < c->batch ? n : c->batch;
    real *xr = cw_malloc_array((size_t)n, (size_t)p * sizeof *xr);
    real *yr = cw_malloc_array((size_t)n, sizeof *yr);
    real *xbat = cw_malloc_array((size_t)bmax, (size_t)p * sizeof *xbat);
    real *ybat = cw_malloc_array((size_t)bmax, sizeof *ybat);
    real *scratch = cw_malloc_array((size_t)cw_ldr_scratch_len(m, bmax), sizeof(real));
    real *grad = cw_malloc_array((size_t)np, sizeof *grad);
    real *am = cw_calloc((size_t)np, sizeof *am);
    real *av = cw_calloc((size_t)np, sizeof *av);
    int64_t *idx = cw_malloc_array((size_t)n, sizeof *idx);
    cw_status st = CW_OK;
    if (!xr || !yr || !xbat || !ybat || !scratch || !grad || !am || !av || !idx) {
        st = cw_fail(CW_ENOMEM, "ldr_fit: %lld + %lld samples x %lld", (long long)na,
                     (long long)nb, (long long)p);
        goto done;
    }
    for (int64_t i = 0; i < na * p; i++) xr[i] = (real)xa[i];
    for (int64_t i = 0; i < nb * p; i++) xr[na * p + i] = (real)xb[i];
    for (int64_t i = 0; i < n; i++) yr[i] = i < na ? 0 : 1, idx[i] = i;
    cw_rng r_shuf;
    cw_rng_substream(&r_shuf, seed, 2);
    for (int64_t ep = 0; ep < c->epochs; ep++) {
        const double lr = cw_ldr_lr_at(c, ep);
        cw_rng_shuffle_i64(&r_shuf, idx, n);
        double ep_loss = 0;
        int64_t nbat = 0;
        for (int64_t off = 0; off < n; off += c->batch, nbat++) {
            const int64_t b = n - off < c->batch ? n - off : c->batch;
            for (int64_t i = 0; i < b; i++) {
                memcpy(xbat + i * p, xr + idx[off + i] * p, (size_t)p * sizeof *xbat);
                ybat[i] = yr[idx[off + i]];
            }
            memset(grad, 0, (size_t)np * sizeof *grad);
            double loss;
            cw_ldr_loss_grad(m, xbat, ybat, b, &loss, grad, scratch);
            if (!isfinite(loss)) {
                st = cw_fail(CW_EINVAL, "ldr_fit: BCE is %g at epoch %lld, batch %lld (step %lld)",
                             loss, (long long)ep, (long long)nbat, (long long)m->steps);
                goto done;
            }
            ep_loss += loss;
            m->steps++;
            cw_adam_update(m->params, grad, am, av, np, lr, c->beta1, c->beta2, c->eps, m->steps);
        }
        m->train_loss = ep_loss / (double)nbat; /* the authors' per-epoch mean of batch losses */
    }
done:
    cw_free(xr);
    cw_free(yr);
    cw_free(xbat);
    cw_free(ybat);
    cw_free(scratch);
    cw_free(grad);
    cw_free(am);
    cw_free(av);
    cw_free(idx);
    if (st != CW_OK) cw_ldr_free(m);
    return st;
}

/* shared driver of score_diff (want_grad) and logit */
static cw_status ldr_eval(const cw_ldr *m, const double *x, int64_t count, double *out,
                          int want_grad, const char *what) {
    if (!m || !m->params) return cw_fail(CW_EINVAL, "%s: unfitted model", what);
    if (count < 0) return cw_fail(CW_EINVAL, "%s: count %lld < 0", what, (long long)count);
    if (count == 0) return CW_OK;
    const int64_t p = m->p, chunk = count < 1024 ? count : 1024;
    const int64_t wmax = m->width > p ? m->width : p;
    const int64_t len = cw_ldr_scratch_len(m, chunk) + 2 * chunk * p;
    real *buf = cw_malloc_array((size_t)len, sizeof *buf);
    if (!buf) return cw_fail(CW_ENOMEM, "%s: %lld rows", what, (long long)chunk);
    real *acts = buf, *g0 = acts + (m->depth - 1) * chunk * m->width, *g1 = g0 + chunk * wmax,
         *r = g1 + chunk * wmax, *dr = r + chunk, *xr = dr + chunk, *dx = xr + chunk * p;
    for (int64_t off = 0; off < count; off += chunk) {
        const int64_t b = count - off < chunk ? count - off : chunk;
        for (int64_t i = 0; i < b * p; i++) xr[i] = (real)x[off * p + i];
        ldr_forward(m, xr, b, acts, r);
        if (!want_grad) {
            for (int64_t i = 0; i < b; i++) out[off + i] = (double)r[i];
            continue;
        }
        for (int64_t i = 0; i < b; i++) dr[i] = 1;
        memset(dx, 0, (size_t)(b * p) * sizeof *dx);
        ldr_backward(m, xr, b, acts, dr, NULL, dx, g0, g1);
        for (int64_t i = 0; i < b * p; i++) out[off * p + i] = (double)dx[i];
    }
    cw_free(buf);
    return CW_OK;
}

cw_status cw_ldr_score_diff(const cw_ldr *m, const double *x, int64_t count, double *ds) {
    return ldr_eval(m, x, count, ds, 1, "ldr_score_diff");
}

cw_status cw_ldr_logit(const cw_ldr *m, const double *x, int64_t count, double *r) {
    return ldr_eval(m, x, count, r, 0, "ldr_logit");
}
