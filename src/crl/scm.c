/* scm.c: latent additive-Gaussian-noise SCMs, interventions, exact scores and log-densities
 * (spec §A2.1-§A2.4, §A2.7-1).
 *
 * Conventions: adj[j*n + i] = edge j -> i; every link is evaluated on the full latent vector z
 * (n) with parameters that are zero off pa(i), so the link gradient is an n-vector that is zero
 * off pa(i). Parameters are drawn node by node in index order after the DAG.
 *   quadratic: f = sqrt(z^T A z), grad = A z / (f + 1e-12) (guards the kink at z_pa = 0);
 *   mlp: W1 (HIDDEN x n) and b1 entries ~ U(+-1/sqrt(|pa|)), w2 and b2 ~ U(+-1/sqrt(HIDDEN))
 *        (PyTorch's nn.Linear default), all zero for roots (link 0);
 *   box: each value redrawn in place until |z_i| <= box_size (at most BOX_MAX_TRIES draws per
 *        value, else CW_EINVAL); cw_scm_score returns CW_EINVAL, cw_scm_log_density NaN.
 */
#include "crl/scm.h"

#include "core/alloc.h"
#include "core/status.h"
#include "crl/dag_ops.h"
#include "la/lapack.h"

#include <math.h>
#include <string.h>

#define H CW_SCM_MLP_HIDDEN
#define QUAD_EPS 1e-12
#define QUAD_MIN_SV 0.1
#define BOX_MAX_TRIES 10000000

void cw_scm_free(cw_scm *s) {
    if (!s) return;
    cw_free(s->adj);
    cw_free(s->order);
    cw_free(s->var);
    cw_free(s->weight);
    cw_free(s->quad);
    cw_free(s->w1);
    cw_free(s->b1);
    cw_free(s->w2);
    cw_free(s->b2);
    memset(s, 0, sizeof *s);
}

static double unif(cw_rng *r, double lo, double hi) { return lo + (hi - lo) * cw_rng_uniform(r); }

/* A_i = B^T B on pa(i), B ~ U[-1,1]^{k x k} redrawn until sigma_min(B) >= 0.1 */
static cw_status quad_params(cw_scm *s, cw_rng *rng) {
    int64_t n = s->n;
    int64_t *pa = cw_malloc_array((size_t)n, sizeof *pa);
    double *b = cw_malloc_array((size_t)(n * n), sizeof *b);
    double *sv = cw_malloc_array((size_t)n, sizeof *sv);
    cw_status st = CW_OK;
    if (!pa || !b || !sv) {
        st = cw_fail(CW_ENOMEM, "quadratic SCM: out of memory (n = %lld)", (long long)n);
        goto done;
    }
    for (int64_t i = 0; i < n && st == CW_OK; i++) {
        int64_t k = 0;
        for (int64_t j = 0; j < n; j++)
            if (s->adj[j * n + i]) pa[k++] = j;
        if (k == 0) continue;
        for (int64_t tries = 0;; tries++) {
            if (tries >= 100000) {
                st = cw_fail(CW_EINVAL, "quadratic SCM: node %lld: no B with sigma_min >= %g",
                             (long long)i, QUAD_MIN_SV);
                goto done;
            }
            for (int64_t a = 0; a < k * k; a++) b[a] = unif(rng, -1.0, 1.0);
            st = cw_la_svd(NULL, sv, NULL, b, k, k);
            if (st != CW_OK) goto done;
            if (sv[k - 1] >= QUAD_MIN_SV) break;
        }
        double *a = s->quad + i * n * n;
        for (int64_t p = 0; p < k; p++)
            for (int64_t q = 0; q < k; q++) {
                double acc = 0; /* (B^T B)[p, q] */
                for (int64_t r = 0; r < k; r++) acc += b[r * k + p] * b[r * k + q];
                a[pa[p] * n + pa[q]] = acc;
            }
    }
done:
    cw_free(pa);
    cw_free(b);
    cw_free(sv);
    return st;
}

cw_status cw_scm_init(cw_scm *s, cw_scm_kind kind, int64_t n, double fill_rate,
                      int randomize_order, double box_size, cw_rng *rng) {
    memset(s, 0, sizeof *s);
    if (n < 1) return cw_fail(CW_EINVAL, "SCM: number of latents %lld < 1", (long long)n);
    if (kind < CW_SCM_LINEAR || kind > CW_SCM_BOX)
        return cw_fail(CW_EINVAL, "SCM: unknown kind %d", (int)kind);
    if (kind == CW_SCM_BOX && !(box_size > 0))
        return cw_fail(CW_EINVAL, "box SCM: box_size %g must be > 0", box_size);
    s->kind = kind;
    s->n = n;
    s->box_size = kind == CW_SCM_BOX ? box_size : 0;
    cw_status st = CW_OK;
    s->adj = cw_calloc((size_t)(n * n), 1);
    s->order = cw_malloc_array((size_t)n, sizeof *s->order);
    s->var = cw_malloc_array((size_t)n, sizeof *s->var);
    if (!s->adj || !s->order || !s->var) goto oom;
    cw_dag_random(s->adj, s->order, n, fill_rate, randomize_order, rng);
    for (int64_t i = 0; i < n; i++)
        s->var[i] = kind == CW_SCM_BOX ? unif(rng, 0.01, 0.02) : unif(rng, 0.5, 1.5);
    switch (kind) {
    case CW_SCM_LINEAR:
    case CW_SCM_BOX:
        s->weight = cw_calloc((size_t)(n * n), sizeof *s->weight);
        if (!s->weight) goto oom;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                if (!s->adj[j * n + i]) continue;
                double sign = cw_rng_uniform(rng) < 0.5 ? -1.0 : 1.0;
                double mag = kind == CW_SCM_LINEAR ? 0.5 + cw_rng_uniform(rng)
                                                   : unif(rng, 0.25, 1.0);
                s->weight[j * n + i] = sign * mag;
            }
        break;
    case CW_SCM_QUADRATIC:
        s->quad = cw_calloc((size_t)(n * n * n), sizeof *s->quad);
        if (!s->quad) goto oom;
        st = quad_params(s, rng);
        break;
    case CW_SCM_MLP:
        s->w1 = cw_calloc((size_t)(n * H * n), sizeof *s->w1);
        s->b1 = cw_calloc((size_t)(n * H), sizeof *s->b1);
        s->w2 = cw_calloc((size_t)(n * H), sizeof *s->w2);
        s->b2 = cw_calloc((size_t)n, sizeof *s->b2);
        if (!s->w1 || !s->b1 || !s->w2 || !s->b2) goto oom;
        for (int64_t i = 0; i < n; i++) {
            int64_t k = 0;
            for (int64_t j = 0; j < n; j++) k += s->adj[j * n + i] != 0;
            if (k == 0) continue; /* root: link 0 */
            double b1v = 1.0 / sqrt((double)k), b2v = 1.0 / sqrt((double)H);
            double *w1 = s->w1 + i * H * n;
            for (int64_t h = 0; h < H; h++)
                for (int64_t j = 0; j < n; j++)
                    if (s->adj[j * n + i]) w1[h * n + j] = unif(rng, -b1v, b1v);
            for (int64_t h = 0; h < H; h++) s->b1[i * H + h] = unif(rng, -b1v, b1v);
            for (int64_t h = 0; h < H; h++) s->w2[i * H + h] = unif(rng, -b2v, b2v);
            s->b2[i] = unif(rng, -b2v, b2v);
        }
        break;
    }
    if (st != CW_OK) cw_scm_free(s);
    return st;
oom:
    cw_scm_free(s);
    return cw_fail(CW_ENOMEM, "SCM %s: out of memory (n = %lld)", cw_scm_kind_name(kind),
                   (long long)n);
}

/* f_i^obs(z); grad (n, may be NULL) receives its gradient (zero off pa(i)). */
static double link(const cw_scm *s, int64_t i, const double *z, double *grad) {
    int64_t n = s->n;
    if (grad) memset(grad, 0, (size_t)n * sizeof *grad);
    switch (s->kind) {
    case CW_SCM_LINEAR:
    case CW_SCM_BOX: {
        double f = 0;
        for (int64_t j = 0; j < n; j++) {
            double w = s->weight[j * n + i];
            if (w == 0) continue;
            f += w * z[j];
            if (grad) grad[j] = w;
        }
        return f;
    }
    case CW_SCM_QUADRATIC: {
        const double *a = s->quad + i * n * n;
        double q = 0;
        for (int64_t j = 0; j < n; j++) {
            if (!s->adj[j * n + i]) continue;
            double az = 0;
            for (int64_t k = 0; k < n; k++) az += a[j * n + k] * z[k];
            q += z[j] * az;
            if (grad) grad[j] = az;
        }
        double f = sqrt(q > 0 ? q : 0);
        if (grad)
            for (int64_t j = 0; j < n; j++) grad[j] /= f + QUAD_EPS;
        return f;
    }
    case CW_SCM_MLP: {
        const double *w1 = s->w1 + i * H * n, *b1 = s->b1 + i * H, *w2 = s->w2 + i * H;
        double f = s->b2[i];
        for (int64_t h = 0; h < H; h++) {
            double u = b1[h];
            for (int64_t j = 0; j < n; j++) u += w1[h * n + j] * z[j];
            if (u <= 0) continue;
            f += w2[h] * u;
            if (grad)
                for (int64_t j = 0; j < n; j++) grad[j] += w2[h] * w1[h * n + j];
        }
        return f;
    }
    }
    return 0;
}

static int is_target(const cw_env_spec *env, int64_t i) {
    return env && env->targets && env->targets[i];
}

/* The mechanism of node i in env: f (and grad scaled alike) and its noise variance. */
static double mech(const cw_scm *s, const cw_env_spec *env, int64_t i, const double *z,
                   double *grad, double *var) {
    double v = s->var[i];
    if (!is_target(env, i)) {
        *var = v;
        return link(s, i, z, grad);
    }
    *var = env->rule == CW_VAR_SCALE ? v * env->var_change : v + env->var_change;
    if (env->type == CW_INTERV_HARD) {
        if (grad) memset(grad, 0, (size_t)s->n * sizeof *grad);
        return 0;
    }
    double f = link(s, i, z, grad);
    if (grad)
        for (int64_t j = 0; j < s->n; j++) grad[j] *= 0.5;
    return 0.5 * f;
}

static cw_status check_env(const cw_scm *s, const cw_env_spec *env, const char *what) {
    if (!env || !env->targets) return CW_OK;
    int any = 0;
    for (int64_t i = 0; i < s->n; i++) any |= env->targets[i] != 0;
    if (!any) return CW_OK;
    if (env->type != CW_INTERV_HARD && env->type != CW_INTERV_SOFT)
        return cw_fail(CW_EINVAL, "%s: unknown intervention type %d", what, (int)env->type);
    if (env->rule == CW_VAR_SCALE && !(env->var_change > 0))
        return cw_fail(CW_EINVAL, "%s: variance scale %g must be > 0", what, env->var_change);
    if (!isfinite(env->var_change))
        return cw_fail(CW_EINVAL, "%s: variance increase %g is not a number", what,
                       env->var_change);
    if (env->rule != CW_VAR_SCALE && env->rule != CW_VAR_INCREASE)
        return cw_fail(CW_EINVAL, "%s: unknown variance rule %d", what, (int)env->rule);
    for (int64_t i = 0; i < s->n; i++) {
        if (!env->targets[i]) continue;
        double v = env->rule == CW_VAR_SCALE ? s->var[i] * env->var_change
                                             : s->var[i] + env->var_change;
        if (!(v > 0))
            return cw_fail(CW_EINVAL, "%s: node %lld: intervened noise variance %g <= 0", what,
                           (long long)i, v);
    }
    return CW_OK;
}

cw_status cw_scm_sample(const cw_scm *s, const cw_env_spec *env, int64_t count, double *z,
                        cw_rng *rng) {
    CW_TRY(check_env(s, env, "SCM sample"));
    int64_t n = s->n;
    for (int64_t r = 0; r < count; r++) {
        double *zr = z + r * n;
        memset(zr, 0, (size_t)n * sizeof *zr); /* unset coordinates never enter a link */
        for (int64_t a = 0; a < n; a++) {
            int64_t i = s->order[a];
            double v;
            double f = mech(s, env, i, zr, NULL, &v);
            double sd = sqrt(v);
            if (s->kind != CW_SCM_BOX) {
                zr[i] = f + sd * cw_rng_normal(rng);
                continue;
            }
            /* truncated: redraw this value in place (rows stay aligned, §A2.7-1) */
            int64_t tries = 0;
            double val;
            do {
                if (tries++ >= BOX_MAX_TRIES)
                    return cw_fail(CW_EINVAL, "box SCM: node %lld: no value in [-%g, %g] after "
                                   "%d draws (mean %g, sd %g)", (long long)i, s->box_size,
                                   s->box_size, BOX_MAX_TRIES, f, sd);
                val = f + sd * cw_rng_normal(rng);
            } while (fabs(val) > s->box_size);
            zr[i] = val;
        }
    }
    return CW_OK;
}

cw_status cw_scm_score(const cw_scm *s, const cw_env_spec *env, const double *z, int64_t count,
                       double *score) {
    if (s->kind == CW_SCM_BOX)
        return cw_fail(CW_EINVAL, "SCM score: the box (truncated) family has no score function");
    CW_TRY(check_env(s, env, "SCM score"));
    int64_t n = s->n;
    double stack[64];
    double *grad = n <= 64 ? stack : cw_malloc_array((size_t)n, sizeof *grad);
    if (!grad) return cw_fail(CW_ENOMEM, "SCM score: out of memory (n = %lld)", (long long)n);
    for (int64_t r = 0; r < count; r++) {
        const double *zr = z + r * n;
        double *sr = score + r * n;
        memset(sr, 0, (size_t)n * sizeof *sr);
        for (int64_t i = 0; i < n; i++) {
            double v;
            double f = mech(s, env, i, zr, grad, &v);
            double res = -(zr[i] - f) / v; /* d/dz_i log N(z_i; f, v) */
            sr[i] += res;
            for (int64_t j = 0; j < n; j++) sr[j] -= res * grad[j];
        }
    }
    if (grad != stack) cw_free(grad);
    return CW_OK;
}

double cw_scm_log_density(const cw_scm *s, const cw_env_spec *env, const double *z) {
    if (s->kind == CW_SCM_BOX) return NAN;
    double lp = 0;
    for (int64_t i = 0; i < s->n; i++) {
        double v;
        double f = mech(s, env, i, z, NULL, &v);
        double e = z[i] - f;
        lp += -0.5 * log(2 * 3.14159265358979323846 * v) - 0.5 * e * e / v;
    }
    return lp;
}

cw_status cw_scm_kind_parse(cw_scm_kind *out, const char *s) {
    static const char *names[] = {"linear", "quadratic", "mlp", "box"};
    for (int k = 0; k < 4; k++)
        if (s && strcmp(s, names[k]) == 0) {
            *out = (cw_scm_kind)k;
            return CW_OK;
        }
    return cw_fail(CW_EINVAL, "SCM kind '%s': expected linear, quadratic, mlp or box",
                   s ? s : "(null)");
}

const char *cw_scm_kind_name(cw_scm_kind k) {
    switch (k) {
    case CW_SCM_LINEAR: return "linear";
    case CW_SCM_QUADRATIC: return "quadratic";
    case CW_SCM_MLP: return "mlp";
    case CW_SCM_BOX: return "box";
    }
    return "unknown";
}
