/* mixing.c: the maps x = g(z) from latents to observations (spec §A2.5) and the transport of
 * latent score differences to x (§A3.5, §A1 key property 2).
 *
 * Conventions: row-major doubles; z is count x n, x is count x d; g is d x n, so x_row = g z_row.
 * The linear recipe draws the Haar matrix first, then R (redrawn until well conditioned).
 * The mlp map and Jacobian need 2n (apply) or 2n^2 (Jacobian) doubles of scratch; the void API
 * takes it from a small stack buffer, or from the allocator for n > 32 (an allocation failure
 * there is fatal: CW_ASSERT).
 */
#include "crl/mixing.h"

#include "core/alloc.h"
#include "core/status.h"
#include "la/lapack.h"

#include <math.h>
#include <string.h>

#define MIX_STACK 2048 /* doubles of stack scratch (covers 2 n^2 for n <= 32) */
#define TANH_CLAMP 1e-6

cw_status cw_haar_orthogonal(double *q, int64_t d, cw_rng *rng) {
    if (d < 1) return cw_fail(CW_EINVAL, "cw_haar_orthogonal: dimension %lld < 1", (long long)d);
    double *a = cw_malloc_array((size_t)(d * d), sizeof *a);
    double *r = cw_malloc_array((size_t)(d * d), sizeof *r);
    cw_status st = CW_OK;
    if (!a || !r) {
        st = cw_fail(CW_ENOMEM, "cw_haar_orthogonal: out of memory (d = %lld)", (long long)d);
        goto done;
    }
    for (int64_t i = 0; i < d * d; i++) a[i] = cw_rng_normal(rng);
    st = cw_la_qr(q, r, a, d, d, 0);
    if (st != CW_OK) goto done;
    /* fold sign(diag R) into Q so that the law is Haar (Mezzadri 2007) */
    for (int64_t k = 0; k < d; k++)
        if (r[k * d + k] < 0)
            for (int64_t i = 0; i < d; i++) q[i * d + k] = -q[i * d + k];
done:
    cw_free(a);
    cw_free(r);
    return st;
}

cw_status cw_mixing_linear_matrix(double *g, int64_t n, int64_t d, int normalize, cw_rng *rng) {
    if (n < 1 || d < n)
        return cw_fail(CW_EINVAL, "linear mixing: need 1 <= n <= d, got n = %lld, d = %lld",
                       (long long)n, (long long)d);
    double *q = cw_malloc_array((size_t)(d * d), sizeof *q);
    double *r = cw_malloc_array((size_t)(n * n), sizeof *r);
    double *s = cw_malloc_array((size_t)n, sizeof *s);
    double *qn = cw_malloc_array((size_t)(d * n), sizeof *qn);
    cw_status st = CW_OK;
    if (!q || !r || !s || !qn) {
        st = cw_fail(CW_ENOMEM, "linear mixing: out of memory (n = %lld, d = %lld)",
                     (long long)n, (long long)d);
        goto done;
    }
    st = cw_haar_orthogonal(q, d, rng);
    if (st != CW_OK) goto done;
    for (int64_t i = 0; i < d; i++) memcpy(qn + i * n, q + i * d, (size_t)n * sizeof *qn);
    for (int64_t tries = 0;; tries++) {
        if (tries >= 100000) {
            st = cw_fail(CW_EINVAL, "linear mixing: no R with sigma_min/sigma_max >= %g after "
                         "%lld draws", CW_MIX_MIN_COND, (long long)tries);
            goto done;
        }
        for (int64_t i = 0; i < n * n; i++) r[i] = cw_rng_uniform(rng) - 0.5;
        st = cw_la_svd(NULL, s, NULL, r, n, n);
        if (st != CW_OK) goto done;
        if (s[0] > 0 && s[n - 1] / s[0] >= CW_MIX_MIN_COND) break;
    }
    cw_la_gemm('N', 'N', d, n, n, 1.0, qn, r, 0.0, g);
    if (normalize)
        for (int64_t k = 0; k < n; k++) {
            double mx = 0;
            for (int64_t i = 0; i < d; i++) mx = fmax(mx, fabs(g[i * n + k]));
            if (mx > 0)
                for (int64_t i = 0; i < d; i++) g[i * n + k] /= mx;
        }
done:
    cw_free(q);
    cw_free(r);
    cw_free(s);
    cw_free(qn);
    return st;
}

void cw_mixing_free(cw_mixing *m) {
    if (!m) return;
    cw_free(m->g);
    cw_free(m->encoder);
    cw_free(m->a1);
    cw_free(m->a2);
    cw_free(m->a3);
    memset(m, 0, sizeof *m);
}

cw_status cw_mixing_init(cw_mixing *m, cw_mix_kind kind, int64_t n, int64_t d, int normalize,
                         cw_rng *rng) {
    memset(m, 0, sizeof *m);
    if (n < 1 || d < n)
        return cw_fail(CW_EINVAL, "mixing %s: need 1 <= n <= d, got n = %lld, d = %lld",
                       cw_mix_kind_name(kind), (long long)n, (long long)d);
    m->kind = kind;
    m->n = n;
    m->d = d;
    cw_status st = CW_OK;
    switch (kind) {
    case CW_MIX_LINEAR:
    case CW_MIX_TANH:
        m->g = cw_malloc_array((size_t)(d * n), sizeof *m->g);
        m->encoder = cw_malloc_array((size_t)(n * d), sizeof *m->encoder);
        if (!m->g || !m->encoder) {
            st = cw_fail(CW_ENOMEM, "mixing: out of memory (n = %lld, d = %lld)", (long long)n,
                         (long long)d);
            break;
        }
        st = cw_mixing_linear_matrix(m->g, n, d, kind == CW_MIX_TANH ? 1 : normalize, rng);
        if (st == CW_OK) st = cw_la_pinv(m->encoder, m->g, d, n, 1e-15);
        break;
    case CW_MIX_MLP:
        m->a1 = cw_malloc_array((size_t)(n * n), sizeof *m->a1);
        m->a2 = cw_malloc_array((size_t)(n * n), sizeof *m->a2);
        m->a3 = cw_malloc_array((size_t)(d * n), sizeof *m->a3);
        if (!m->a1 || !m->a2 || !m->a3) {
            st = cw_fail(CW_ENOMEM, "mixing: out of memory (n = %lld, d = %lld)", (long long)n,
                         (long long)d);
            break;
        }
        st = cw_mixing_linear_matrix(m->a1, n, n, 0, rng);
        if (st == CW_OK) st = cw_mixing_linear_matrix(m->a2, n, n, 0, rng);
        if (st == CW_OK) st = cw_mixing_linear_matrix(m->a3, n, d, 0, rng);
        break;
    default:
        st = cw_fail(CW_EINVAL, "mixing: unknown kind %d", (int)kind);
    }
    if (st != CW_OK) cw_mixing_free(m);
    return st;
}

static double clamp_tanh(double v) {
    double t = tanh(v);
    if (t > 1.0 - TANH_CLAMP) t = 1.0 - TANH_CLAMP;
    if (t < -1.0 + TANH_CLAMP) t = -1.0 + TANH_CLAMP;
    return t;
}

/* out (rows) = a (rows x cols) v (cols) */
static void matvec(double *out, const double *a, const double *v, int64_t rows, int64_t cols) {
    for (int64_t i = 0; i < rows; i++) {
        double acc = 0;
        const double *ai = a + i * cols;
        for (int64_t j = 0; j < cols; j++) acc += ai[j] * v[j];
        out[i] = acc;
    }
}

/* scratch of `count` doubles: the stack buffer when it fits, else the allocator */
static double *scratch(double *stack, int64_t count) {
    if (count <= MIX_STACK) return stack;
    double *p = cw_malloc_array((size_t)count, sizeof *p);
    CW_ASSERT(p != NULL);
    return p;
}

static void scratch_free(double *p, const double *stack) {
    if (p != stack) cw_free(p);
}

void cw_mixing_apply(const cw_mixing *m, const double *z, int64_t count, double *x) {
    int64_t n = m->n, d = m->d;
    if (count <= 0) return;
    if (m->kind == CW_MIX_LINEAR || m->kind == CW_MIX_TANH) {
        cw_la_gemm('N', 'T', count, d, n, 1.0, z, m->g, 0.0, x);
        if (m->kind == CW_MIX_TANH)
            for (int64_t i = 0; i < count * d; i++) x[i] = clamp_tanh(x[i]);
        return;
    }
    double stack[MIX_STACK];
    double *h = scratch(stack, 2 * n), *h1 = h, *h2 = h + n;
    for (int64_t r = 0; r < count; r++) {
        matvec(h1, m->a1, z + r * n, n, n);
        for (int64_t i = 0; i < n; i++) h1[i] = tanh(h1[i]);
        matvec(h2, m->a2, h1, n, n);
        for (int64_t i = 0; i < n; i++) h2[i] = tanh(h2[i]);
        double *xr = x + r * d;
        matvec(xr, m->a3, h2, d, n);
        for (int64_t i = 0; i < d; i++) xr[i] = tanh(xr[i]);
    }
    scratch_free(h, stack);
}

void cw_mixing_jacobian(const cw_mixing *m, const double *z, double *jac) {
    int64_t n = m->n, d = m->d;
    if (m->kind == CW_MIX_LINEAR) {
        memcpy(jac, m->g, (size_t)(d * n) * sizeof *jac);
        return;
    }
    if (m->kind == CW_MIX_TANH) {
        /* J = diag(1 - tanh(Gz)^2) G (the clamp is inactive almost surely) */
        for (int64_t i = 0; i < d; i++) {
            double u = 0;
            for (int64_t j = 0; j < n; j++) u += m->g[i * n + j] * z[j];
            double t = tanh(u), s = 1.0 - t * t;
            for (int64_t j = 0; j < n; j++) jac[i * n + j] = s * m->g[i * n + j];
        }
        return;
    }
    /* mlp: J = D3 A3 D2 A2 D1 A1, D_l = diag(1 - h_l^2) */
    double stack[MIX_STACK];
    int64_t need = 2 * n * n + 2 * n;
    double *buf = scratch(stack, need);
    double *m1 = buf, *m2 = buf + n * n, *h1 = m2 + n * n, *h2 = h1 + n;
    matvec(h1, m->a1, z, n, n);
    for (int64_t i = 0; i < n; i++) h1[i] = tanh(h1[i]);
    matvec(h2, m->a2, h1, n, n);
    for (int64_t i = 0; i < n; i++) h2[i] = tanh(h2[i]);
    for (int64_t i = 0; i < n; i++) /* m1 = D1 A1 */
        for (int64_t j = 0; j < n; j++) m1[i * n + j] = (1 - h1[i] * h1[i]) * m->a1[i * n + j];
    for (int64_t i = 0; i < n; i++) { /* m2 = D2 A2 m1 */
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t k = 0; k < n; k++) acc += m->a2[i * n + k] * m1[k * n + j];
            m2[i * n + j] = (1 - h2[i] * h2[i]) * acc;
        }
    }
    for (int64_t i = 0; i < d; i++) { /* jac = D3 A3 m2 */
        double u = 0;
        for (int64_t k = 0; k < n; k++) u += m->a3[i * n + k] * h2[k];
        double t = tanh(u), s = 1 - t * t;
        for (int64_t j = 0; j < n; j++) {
            double acc = 0;
            for (int64_t k = 0; k < n; k++) acc += m->a3[i * n + k] * m2[k * n + j];
            jac[i * n + j] = s * acc;
        }
    }
    scratch_free(buf, stack);
}

cw_status cw_mixing_transport_scores(const cw_mixing *m, const double *z, const double *ds_z,
                                     int64_t count, double *ds_x) {
    int64_t n = m->n, d = m->d;
    if (count <= 0) return CW_OK;
    if (m->kind == CW_MIX_LINEAR) {
        if (!m->encoder) return cw_fail(CW_EINVAL, "transport: linear mixing without encoder");
        /* ds_x row = encoder^T ds_z row, i.e. ds_x = ds_z encoder */
        cw_la_gemm('N', 'N', count, d, n, 1.0, ds_z, m->encoder, 0.0, ds_x);
        return CW_OK;
    }
    if (!z) return cw_fail(CW_EINVAL, "transport: %s mixing needs the latents z",
                           cw_mix_kind_name(m->kind));
    double *jac = cw_malloc_array((size_t)(d * n), sizeof *jac);
    double *pinv = cw_malloc_array((size_t)(n * d), sizeof *pinv);
    cw_status st = CW_OK;
    if (!jac || !pinv) {
        st = cw_fail(CW_ENOMEM, "transport: out of memory (n = %lld, d = %lld)", (long long)n,
                     (long long)d);
        goto done;
    }
    for (int64_t r = 0; r < count && st == CW_OK; r++) {
        cw_mixing_jacobian(m, z + r * n, jac);
        st = cw_la_pinv(pinv, jac, d, n, 1e-15);
        if (st != CW_OK) {
            st = cw_fail_prefix(st, "transport: row %lld", (long long)r);
            break;
        }
        /* ds_x = pinv(J)^T ds_z: ds_x[i] = sum_k pinv[k, i] ds_z[k] */
        const double *s = ds_z + r * n;
        double *o = ds_x + r * d;
        for (int64_t i = 0; i < d; i++) o[i] = 0;
        for (int64_t k = 0; k < n; k++) {
            const double *pk = pinv + k * d;
            for (int64_t i = 0; i < d; i++) o[i] += pk[i] * s[k];
        }
    }
done:
    cw_free(jac);
    cw_free(pinv);
    return st;
}

cw_status cw_mix_kind_parse(cw_mix_kind *out, const char *s) {
    if (s && strcmp(s, "linear") == 0) *out = CW_MIX_LINEAR;
    else if (s && strcmp(s, "tanh") == 0) *out = CW_MIX_TANH;
    else if (s && strcmp(s, "mlp") == 0) *out = CW_MIX_MLP;
    else
        return cw_fail(CW_EINVAL, "mixing kind '%s': expected linear, tanh or mlp",
                       s ? s : "(null)");
    return CW_OK;
}

const char *cw_mix_kind_name(cw_mix_kind k) {
    switch (k) {
    case CW_MIX_LINEAR: return "linear";
    case CW_MIX_TANH: return "tanh";
    case CW_MIX_MLP: return "mlp";
    }
    return "unknown";
}
