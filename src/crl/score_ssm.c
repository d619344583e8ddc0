/* score_ssm.c: sliced score matching network, its loss with the Hessian-vector term, the hand
 * backward and the training loop (score_ssm.h; spec score_crl_and_temporal.md §A3.2).
 *
 * Shapes per batch (B rows, H hidden, p inputs), all row-major `real`:
 *   forward   a1 = tanh(x W1^T + b1) (B,H), a2 = tanh(a1 W2^T + b2) (B,H), s = a2 W3^T + b3 (B,p)
 *   tangent   t1 = v W1^T, u1 = d1 o t1, t2 = u1 W2^T, u2 = d2 o t2, u = u2 W3^T   (u = J v)
 *             with d_l = 1 - a_l^2;  q_i = v_i . u_i
 *   backward  per slice (weight c = 1/(B K)): du = c v; du2 = du W3; dW3 += du^T u2;
 *             dt2 = du2 o d2, dd2 += du2 o t2; dW2 += dt2^T u1; du1 = dt2 W2;
 *             dt1 = du1 o d1, dd1 += du1 o t1; dW1 += dt1^T v;
 *             then the primal path with ds = s / B and the extra activation gradients
 *             da_l = -2 a_l o dd_l (from d_l = 1 - a_l^2), plus 2 lambda1 theta.
 */
#include "crl/score_ssm.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "nn/activation.h"
#include "nn/adam.h"
#include "nn/linear.h"

#include <math.h>
#include <string.h>

void cw_ssm_defaults(cw_ssm_config *c) {
    c->hidden = 64;
    c->epochs = 20;
    c->batch = 512;
    c->slices = 2;
    c->lr = 1e-3;
    c->beta1 = 0.5;
    c->beta2 = 0.999;
    c->eps = 1e-8;
    c->lambda1 = 1e-5;
    c->valid_div = 10;
}

void cw_ssm_free(cw_ssm *m) {
    if (!m) return;
    cw_free(m->params);
    memset(m, 0, sizeof *m);
}

/* offsets of the six tensors in the flat buffer */
typedef struct {
    int64_t w1, b1, w2, b2, w3, b3, total;
} ssm_layout;

static ssm_layout ssm_offsets(int64_t p, int64_t h) {
    ssm_layout l;
    l.w1 = 0;
    l.b1 = l.w1 + h * p;
    l.w2 = l.b1 + h;
    l.b2 = l.w2 + h * h;
    l.w3 = l.b2 + h;
    l.b3 = l.w3 + p * h;
    l.total = l.b3 + p;
    return l;
}

/* torch.nn.Linear default: weight and bias ~ U(-1/sqrt(in), 1/sqrt(in)) */
static void ssm_init_linear(real *w, real *b, int64_t in, int64_t out, cw_rng *r) {
    const double bound = 1.0 / sqrt((double)in);
    for (int64_t i = 0; i < out * in; i++) w[i] = (real)(bound * (2 * cw_rng_uniform(r) - 1));
    for (int64_t i = 0; i < out; i++) b[i] = (real)(bound * (2 * cw_rng_uniform(r) - 1));
}

cw_status cw_ssm_init(cw_ssm *m, int64_t p, int64_t hidden, uint64_t seed) {
    if (!m) return cw_fail(CW_EINVAL, "ssm_init: NULL model");
    memset(m, 0, sizeof *m);
    if (p < 1) return cw_fail(CW_EINVAL, "ssm_init: dimension p = %lld < 1", (long long)p);
    if (hidden < 1)
        return cw_fail(CW_EINVAL, "ssm_init: hidden width %lld < 1", (long long)hidden);
    const ssm_layout l = ssm_offsets(p, hidden);
    m->params = cw_malloc_array((size_t)l.total, sizeof *m->params);
    if (!m->params)
        return cw_fail(CW_ENOMEM, "ssm_init: %lld parameters", (long long)l.total);
    m->p = p, m->hidden = hidden, m->nparams = l.total;
    m->train_loss = m->val_loss = m->val_loss_init = NAN;
    cw_rng r;
    cw_rng_substream(&r, seed, 1);
    ssm_init_linear(m->params + l.w1, m->params + l.b1, p, hidden, &r);
    ssm_init_linear(m->params + l.w2, m->params + l.b2, hidden, hidden, &r);
    ssm_init_linear(m->params + l.w3, m->params + l.b3, hidden, p, &r);
    return CW_OK;
}

int64_t cw_ssm_scratch_len(int64_t p, int64_t hidden, int64_t b) {
    return b * (11 * hidden + 3 * p);
}

/* a1, a2 (B,H), s (B,p) */
static void ssm_forward(const real *params, const ssm_layout *l, const real *x, int64_t b,
                        int64_t p, int64_t h, real *a1, real *a2, real *s) {
    cw_linear_forward(a1, x, params + l->w1, params + l->b1, b, p, h);
    cw_tanh_forward(a1, a1, b * h);
    cw_linear_forward(a2, a1, params + l->w2, params + l->b2, b, h, h);
    cw_tanh_forward(a2, a2, b * h);
    cw_linear_forward(s, a2, params + l->w3, params + l->b3, b, h, p);
}

void cw_ssm_loss_grad(const cw_ssm *m, const real *x, const real *v, int64_t b, int64_t nslices,
                      double lambda1, double *loss, real *grad, real *s_out, real *scratch) {
    const int64_t p = m->p, h = m->hidden, bh = b * h;
    CW_ASSERT(b >= 1 && nslices >= 1 && p >= 1 && h >= 1);
    const ssm_layout l = ssm_offsets(p, h);
    const real *th = m->params;
    real *a1 = scratch, *a2 = a1 + bh, *t1 = a2 + bh, *u1 = t1 + bh, *t2 = u1 + bh,
         *u2 = t2 + bh, *ga = u2 + bh, *gb = ga + bh, *dd1 = gb + bh, *dd2 = dd1 + bh,
         *dh = dd2 + bh, *s = dh + bh, *u = s + b * p, *du = u + b * p;

    ssm_forward(th, &l, x, b, p, h, a1, a2, s);
    double sq = 0;
    for (int64_t i = 0; i < b * p; i++) sq += (double)s[i] * s[i];
    double loss_v = 0.5 * sq / (double)b;

    if (grad) memset(dd1, 0, (size_t)(2 * bh) * sizeof *dd1);
    const real c = (real)(1.0 / ((double)b * (double)nslices));
    double qsum = 0;
    for (int64_t k = 0; k < nslices; k++) {
        const real *vk = v + k * b * p;
        /* tangent: u = W3 D2 W2 D1 W1 v */
        cw_linear_forward(t1, vk, th + l.w1, NULL, b, p, h);
        for (int64_t i = 0; i < bh; i++) u1[i] = (1 - a1[i] * a1[i]) * t1[i];
        cw_linear_forward(t2, u1, th + l.w2, NULL, b, h, h);
        for (int64_t i = 0; i < bh; i++) u2[i] = (1 - a2[i] * a2[i]) * t2[i];
        cw_linear_forward(u, u2, th + l.w3, NULL, b, h, p);
        for (int64_t i = 0; i < b * p; i++) qsum += (double)vk[i] * u[i];
        if (!grad) continue;
        /* backward of c * sum_i v_i . u_i */
        for (int64_t i = 0; i < b * p; i++) du[i] = c * vk[i];
        memset(ga, 0, (size_t)bh * sizeof *ga);
        cw_linear_backward(ga, grad + l.w3, NULL, du, u2, th + l.w3, b, h, p); /* du2 */
        for (int64_t i = 0; i < bh; i++) {
            gb[i] = ga[i] * (1 - a2[i] * a2[i]); /* dt2 */
            dd2[i] += ga[i] * t2[i];
        }
        memset(ga, 0, (size_t)bh * sizeof *ga);
        cw_linear_backward(ga, grad + l.w2, NULL, gb, u1, th + l.w2, b, h, h); /* du1 */
        for (int64_t i = 0; i < bh; i++) {
            gb[i] = ga[i] * (1 - a1[i] * a1[i]); /* dt1 */
            dd1[i] += ga[i] * t1[i];
        }
        cw_linear_backward(NULL, grad + l.w1, NULL, gb, vk, th + l.w1, b, p, h);
    }
    loss_v += qsum / ((double)b * (double)nslices);

    double reg = 0;
    for (int64_t i = 0; i < l.total; i++) reg += (double)th[i] * th[i];
    loss_v += lambda1 * reg;
    *loss = loss_v;
    if (s_out) memcpy(s_out, s, (size_t)(b * p) * sizeof *s);
    if (!grad) return;

    /* primal path: ds = s / B; da2 = -2 a2 o dd2 + ds W3 */
    const real ib = (real)(1.0 / (double)b);
    for (int64_t i = 0; i < b * p; i++) s[i] *= ib; /* s now holds ds */
    for (int64_t i = 0; i < bh; i++) dd2[i] = -2 * a2[i] * dd2[i];
    cw_linear_backward(dd2, grad + l.w3, grad + l.b3, s, a2, th + l.w3, b, h, p);
    for (int64_t i = 0; i < bh; i++) dh[i] = dd2[i] * (1 - a2[i] * a2[i]); /* dh2 */
    for (int64_t i = 0; i < bh; i++) dd1[i] = -2 * a1[i] * dd1[i];
    cw_linear_backward(dd1, grad + l.w2, grad + l.b2, dh, a1, th + l.w2, b, h, h);
    for (int64_t i = 0; i < bh; i++) dh[i] = dd1[i] * (1 - a1[i] * a1[i]); /* dh1 */
    cw_linear_backward(NULL, grad + l.w1, grad + l.b1, dh, x, th + l.w1, b, p, h);
    if (lambda1 != 0) {
        const real two_l = (real)(2 * lambda1);
        for (int64_t i = 0; i < l.total; i++) grad[i] += two_l * th[i];
    }
}

static cw_status ssm_check_config(const cw_ssm_config *c) {
    if (c->hidden < 1)
        return cw_fail(CW_EINVAL, "ssm: hidden width %lld < 1", (long long)c->hidden);
    if (c->epochs < 0) return cw_fail(CW_EINVAL, "ssm: epochs %lld < 0", (long long)c->epochs);
    if (c->batch < 1) return cw_fail(CW_EINVAL, "ssm: batch size %lld < 1", (long long)c->batch);
    if (c->slices < 1) return cw_fail(CW_EINVAL, "ssm: slices %lld < 1", (long long)c->slices);
    if (!(c->lr > 0) || !isfinite(c->lr)) return cw_fail(CW_EINVAL, "ssm: learning rate %g", c->lr);
    if (!(c->beta1 >= 0 && c->beta1 < 1) || !(c->beta2 >= 0 && c->beta2 < 1))
        return cw_fail(CW_EINVAL, "ssm: Adam betas (%g, %g) outside [0, 1)", c->beta1, c->beta2);
    if (!(c->eps >= 0)) return cw_fail(CW_EINVAL, "ssm: Adam eps %g", c->eps);
    if (!(c->lambda1 >= 0) || !isfinite(c->lambda1))
        return cw_fail(CW_EINVAL, "ssm: lambda1 %g", c->lambda1);
    if (c->valid_div < 0)
        return cw_fail(CW_EINVAL, "ssm: valid_div %lld < 0", (long long)c->valid_div);
    return CW_OK;
}

/* weighted mean loss over the validation rows xv (nv x p), batches of c->batch */
static double ssm_valid_loss(const cw_ssm *m, const real *xv, int64_t nv, const cw_ssm_config *c,
                             cw_rng *r, real *vbuf, real *scratch) {
    const int64_t p = m->p;
    double total = 0;
    for (int64_t off = 0; off < nv; off += c->batch) {
        const int64_t b = nv - off < c->batch ? nv - off : c->batch;
        for (int64_t i = 0; i < c->slices * b * p; i++) vbuf[i] = (real)cw_rng_normal(r);
        double loss;
        cw_ssm_loss_grad(m, xv + off * p, vbuf, b, c->slices, c->lambda1, &loss, NULL, NULL,
                         scratch);
        total += loss * (double)b;
    }
    return total / (double)nv;
}

cw_status cw_ssm_fit(cw_ssm *m, const double *x, int64_t count, int64_t p,
                     const cw_ssm_config *cfg, uint64_t seed) {
    if (!m) return cw_fail(CW_EINVAL, "ssm_fit: NULL model");
    memset(m, 0, sizeof *m);
    cw_ssm_config dflt;
    cw_ssm_defaults(&dflt);
    const cw_ssm_config *c = cfg ? cfg : &dflt;
    if (!x) return cw_fail(CW_EINVAL, "ssm_fit: NULL samples");
    if (p < 1) return cw_fail(CW_EINVAL, "ssm_fit: dimension p = %lld < 1", (long long)p);
    if (count < 2)
        return cw_fail(CW_EINVAL, "ssm_fit: %lld samples, need at least 2", (long long)count);
    CW_TRY(ssm_check_config(c));
    for (int64_t i = 0; i < count * p; i++)
        if (!isfinite(x[i]))
            return cw_fail(CW_EINVAL, "ssm_fit: sample %lld, coordinate %lld is %g",
                           (long long)(i / p), (long long)(i % p), x[i]);
    const int64_t nv = c->valid_div > 0 ? count / c->valid_div : 0, nt = count - nv;
    const int64_t bmax = nt < c->batch ? nt : c->batch;
    const int64_t vmax = nv < c->batch ? nv : c->batch;
    const int64_t bs = bmax > vmax ? bmax : vmax;

    CW_TRY(cw_ssm_init(m, p, c->hidden, seed));
    const int64_t np = m->nparams;
    real *xr = cw_malloc_array((size_t)count, (size_t)p * sizeof *xr);
    real *xb = cw_malloc_array((size_t)bmax, (size_t)p * sizeof *xb);
    real *vb = cw_malloc_array((size_t)(c->slices * bs), (size_t)p * sizeof *vb);
    real *scratch = cw_malloc_array((size_t)cw_ssm_scratch_len(p, c->hidden, bs), sizeof(real));
    real *grad = cw_malloc_array((size_t)np, sizeof *grad);
    real *am = cw_calloc((size_t)np, sizeof *am);
    real *av = cw_calloc((size_t)np, sizeof *av);
    int64_t *idx = cw_malloc_array((size_t)nt, sizeof *idx);
    cw_status st = CW_OK;
    if (!xr || !xb || !vb || !scratch || !grad || !am || !av || !idx) {
        st = cw_fail(CW_ENOMEM, "ssm_fit: %lld x %lld samples, %lld parameters",
                     (long long)count, (long long)p, (long long)np);
        goto done;
    }
    for (int64_t i = 0; i < count * p; i++) xr[i] = (real)x[i];
    const real *xt = xr + nv * p; /* training rows; validation rows are xr[0 : nv] */
    for (int64_t i = 0; i < nt; i++) idx[i] = i;
    cw_rng r_shuf, r_slice, r_val;
    cw_rng_substream(&r_shuf, seed, 2);
    cw_rng_substream(&r_slice, seed, 3);
    cw_rng_substream(&r_val, seed, 4);
    if (nv > 0) m->val_loss_init = ssm_valid_loss(m, xr, nv, c, &r_val, vb, scratch);

    for (int64_t ep = 0; ep < c->epochs; ep++) {
        cw_rng_shuffle_i64(&r_shuf, idx, nt);
        double ep_loss = 0;
        for (int64_t off = 0, bi = 0; off < nt; off += c->batch, bi++) {
            const int64_t b = nt - off < c->batch ? nt - off : c->batch;
            for (int64_t i = 0; i < b; i++)
                memcpy(xb + i * p, xt + idx[off + i] * p, (size_t)p * sizeof *xb);
            for (int64_t i = 0; i < c->slices * b * p; i++) vb[i] = (real)cw_rng_normal(&r_slice);
            memset(grad, 0, (size_t)np * sizeof *grad);
            double loss;
            cw_ssm_loss_grad(m, xb, vb, b, c->slices, c->lambda1, &loss, grad, NULL, scratch);
            if (!isfinite(loss)) {
                st = cw_fail(CW_EINVAL, "ssm_fit: loss is %g at epoch %lld, batch %lld (step %lld)",
                             loss, (long long)ep, (long long)bi, (long long)m->steps);
                goto done;
            }
            ep_loss += loss * (double)b;
            m->steps++;
            cw_adam_update(m->params, grad, am, av, np, c->lr, c->beta1, c->beta2, c->eps,
                           m->steps);
        }
        m->train_loss = ep_loss / (double)nt;
        if (nv > 0) m->val_loss = ssm_valid_loss(m, xr, nv, c, &r_val, vb, scratch);
    }
done:
    cw_free(xr);
    cw_free(xb);
    cw_free(vb);
    cw_free(scratch);
    cw_free(grad);
    cw_free(am);
    cw_free(av);
    cw_free(idx);
    if (st != CW_OK) cw_ssm_free(m);
    return st;
}

cw_status cw_ssm_eval(const cw_ssm *m, const double *x, int64_t count, double *s) {
    if (!m || !m->params) return cw_fail(CW_EINVAL, "ssm_eval: unfitted model");
    if (count < 0) return cw_fail(CW_EINVAL, "ssm_eval: count %lld < 0", (long long)count);
    if (count == 0) return CW_OK;
    const int64_t p = m->p, h = m->hidden, chunk = count < 1024 ? count : 1024;
    const ssm_layout l = ssm_offsets(p, h);
    real *buf = cw_malloc_array((size_t)chunk, (size_t)(2 * h + 2 * p) * sizeof *buf);
    if (!buf) return cw_fail(CW_ENOMEM, "ssm_eval: %lld rows", (long long)chunk);
    real *a1 = buf, *a2 = a1 + chunk * h, *xr = a2 + chunk * h, *sr = xr + chunk * p;
    for (int64_t off = 0; off < count; off += chunk) {
        const int64_t b = count - off < chunk ? count - off : chunk;
        for (int64_t i = 0; i < b * p; i++) xr[i] = (real)x[off * p + i];
        ssm_forward(m->params, &l, xr, b, p, h, a1, a2, sr);
        for (int64_t i = 0; i < b * p; i++) s[off * p + i] = (double)sr[i];
    }
    cw_free(buf);
    return CW_OK;
}
