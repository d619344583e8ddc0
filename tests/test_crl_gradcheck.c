/* test_crl_gradcheck.c: finite-difference gradient checks of the score networks of spec
 * score_crl_and_temporal.md §A3.2 (sliced score matching) and §A3.3 (classification-based
 * score differences), in DOUBLE (tests/double_build_crl.h; STYLE.md "Tests" 1).
 *
 * Checks, exhaustive over every element on tiny shapes, central differences h = 1e-5, per
 * element rel = |an - num| / max(|an| + |num|, 1e-4), each tensor's worst rel < 1e-6:
 *   - SSM: every parameter of the full sliced loss (1/2 |s|^2 + Hessian-vector term with two
 *     fixed slices + lambda1 |theta|^2, lambda1 = 0.01 so the penalty is visible); p = 3,
 *     H = 5, B = 4, weights scaled x1.5 so that the tanh curvature (the d(1 - a^2) path) matters;
 *   - SSM: the Hessian-vector term itself (loss with lambda1 = 0 minus 1/2 mean |s|^2) against
 *     mean_{k,i} v_ik . (s(x_i + h v_ik) - s(x_i - h v_ik)) / 2h, i.e. u = J_s v is right;
 *   - LDR: every parameter of the BCE (depths 2, 3 and 4, width 4, p = 3, B = 6, both labels,
 *     nu = 0.6) and the input gradient grad_x r (cw_ldr_score_diff) against central
 *     differences of r (cw_ldr_logit). Inputs stay away from the ReLU kinks (asserted).
 * Gradient buffers start at GC_PREFILL so an assigning backward fails.
 */
#include "double_build_crl.h"

#include "test_util.h"

#include "core/rng.h"

#include <math.h>

static double g_worst_all = 0;

static void gc_tensor(const char *what, gc_objective f, void *ctx, real *x, const real *grad,
                      int64_t n) {
    const gc_result r = gc_compare(f, ctx, x, grad, n, GC_FLOOR);
    printf("  gradcheck %-16s %4lld elems  worst rel %.2e  [%lld] an %+.10f num %+.10f\n", what,
           (long long)n, r.worst, (long long)r.i, r.an, r.num);
    if (r.worst > g_worst_all) g_worst_all = r.worst;
    assert_true(r.worst < GC_TOL);
}

/* ---- SSM ------------------------------------------------------------------------------------ */

enum { SP = 3, SH = 5, SB = 4, SK = 2 };

typedef struct {
    cw_ssm m;
    real x[SB * SP], v[SK * SB * SP];
    double lambda1;
    real *scratch;
} ssm_ctx;

static double ssm_obj(void *vctx) {
    ssm_ctx *c = vctx;
    double loss;
    cw_ssm_loss_grad(&c->m, c->x, c->v, SB, SK, c->lambda1, &loss, NULL, NULL, c->scratch);
    return loss;
}

static void ssm_setup(ssm_ctx *c, uint64_t seed) {
    memset(c, 0, sizeof *c);
    assert_int_equal(cw_ssm_init(&c->m, SP, SH, seed), CW_OK);
    for (int64_t i = 0; i < c->m.nparams; i++) c->m.params[i] *= 1.5;
    cw_rng r;
    cw_rng_seed(&r, seed + 100);
    for (int i = 0; i < SB * SP; i++) c->x[i] = cw_rng_normal(&r);
    for (int i = 0; i < SK * SB * SP; i++) c->v[i] = cw_rng_normal(&r);
    c->scratch = malloc(sizeof(real) * (size_t)cw_ssm_scratch_len(SP, SH, SB));
    assert_non_null(c->scratch);
}

static void test_ssm_param_grads(void **state) {
    (void)state;
    ssm_ctx c;
    ssm_setup(&c, 7);
    c.lambda1 = 0.01;
    const int64_t np = c.m.nparams;
    real *grad = malloc(sizeof(real) * (size_t)np);
    for (int64_t i = 0; i < np; i++) grad[i] = GC_PREFILL;
    double loss;
    cw_ssm_loss_grad(&c.m, c.x, c.v, SB, SK, c.lambda1, &loss, grad, NULL, c.scratch);
    assert_true(isfinite(loss));
    const char *names[6] = {"ssm W1", "ssm b1", "ssm W2", "ssm b2", "ssm W3", "ssm b3"};
    const int64_t sizes[6] = {SH * SP, SH, SH * SH, SH, SP * SH, SP};
    int64_t off = 0;
    for (int t = 0; t < 6; t++) {
        gc_tensor(names[t], ssm_obj, &c, c.m.params + off, grad + off, sizes[t]);
        off += sizes[t];
    }
    assert_int_equal(off, np);
    free(grad);
    free(c.scratch);
    cw_ssm_free(&c.m);
}

static void test_ssm_hessian_term(void **state) {
    (void)state;
    ssm_ctx c;
    ssm_setup(&c, 8);
    double loss;
    real s[SB * SP];
    cw_ssm_loss_grad(&c.m, c.x, c.v, SB, SK, 0.0, &loss, NULL, s, c.scratch);
    double sq = 0;
    for (int i = 0; i < SB * SP; i++) sq += s[i] * s[i];
    const double hvp_an = loss - 0.5 * sq / SB;
    /* numeric: directional derivative of s along each slice, dotted with the slice */
    double hvp_num = 0;
    for (int k = 0; k < SK; k++)
        for (int i = 0; i < SB; i++) {
            double xp[SP], xm[SP], sp[SP], sm[SP];
            const real *v = c.v + (k * SB + i) * SP;
            for (int j = 0; j < SP; j++)
                xp[j] = c.x[i * SP + j] + GC_H * v[j], xm[j] = c.x[i * SP + j] - GC_H * v[j];
            assert_int_equal(cw_ssm_eval(&c.m, xp, 1, sp), CW_OK);
            assert_int_equal(cw_ssm_eval(&c.m, xm, 1, sm), CW_OK);
            for (int j = 0; j < SP; j++) hvp_num += v[j] * (sp[j] - sm[j]) / (2 * GC_H);
        }
    hvp_num /= SB * SK;
    const double rel = fabs(hvp_an - hvp_num) / fmax(fabs(hvp_an) + fabs(hvp_num), GC_FLOOR);
    printf("  hessian term v^T J v: analytic %+.12f numeric %+.12f rel %.2e\n", hvp_an, hvp_num,
           rel);
    assert_true(fabs(hvp_an) > 0.05); /* not trivially zero */
    assert_true(rel < GC_TOL);
    free(c.scratch);
    cw_ssm_free(&c.m);
}

/* ---- LDR ------------------------------------------------------------------------------------ */

enum { LP = 3, LW = 4, LB = 6 };

typedef struct {
    cw_ldr m;
    real x[LB * LP], y[LB];
    real *scratch;
} ldr_ctx;

static double ldr_obj(void *vctx) {
    ldr_ctx *c = vctx;
    double loss;
    cw_ldr_loss_grad(&c->m, c->x, c->y, LB, &loss, NULL, c->scratch);
    return loss;
}

/* smallest |pre-activation| of any hidden unit over the batch (kink distance) */
static double ldr_min_preact(const cw_ldr *m, const real *x, int64_t b) {
    double mn = INFINITY;
    real *h = malloc(sizeof(real) * (size_t)(b * m->width));
    real *h2 = malloc(sizeof(real) * (size_t)(b * m->width));
    const real *in = x;
    for (int64_t l = 0; l + 1 < m->depth; l++) {
        const int64_t di = ldr_dim(m, l), dout = ldr_dim(m, l + 1);
        const real *w = m->params + ldr_off(m, l);
        real *out = (l % 2) ? h2 : h;
        cw_linear_forward(out, in, w, w + dout * di, b, di, dout);
        for (int64_t i = 0; i < b * dout; i++) {
            mn = fmin(mn, fabs(out[i]));
            out[i] = out[i] > 0 ? out[i] : 0;
        }
        in = out;
    }
    free(h);
    free(h2);
    return mn;
}

static void ldr_check_depth(int64_t depth, uint64_t seed) {
    ldr_ctx c;
    memset(&c, 0, sizeof c);
    assert_int_equal(cw_ldr_init(&c.m, LP, LW, depth, log(0.6), seed), CW_OK);
    for (int64_t i = 0; i < c.m.nparams; i++) c.m.params[i] *= 2.0;
    cw_rng r;
    cw_rng_seed(&r, seed + 100);
    for (int i = 0; i < LB * LP; i++) c.x[i] = cw_rng_normal(&r);
    for (int i = 0; i < LB; i++) c.y[i] = (real)(i % 2);
    const double kink = ldr_min_preact(&c.m, c.x, LB);
    printf("  ldr depth %lld: min |pre-activation| %.3g\n", (long long)depth, kink);
    assert_true(kink > 1e-3);
    c.scratch = malloc(sizeof(real) * (size_t)cw_ldr_scratch_len(&c.m, LB));
    const int64_t np = c.m.nparams;
    real *grad = malloc(sizeof(real) * (size_t)np);
    for (int64_t i = 0; i < np; i++) grad[i] = GC_PREFILL;
    double loss;
    cw_ldr_loss_grad(&c.m, c.x, c.y, LB, &loss, grad, c.scratch);
    assert_true(isfinite(loss));
    for (int64_t l = 0; l < depth; l++) {
        const int64_t di = ldr_dim(&c.m, l), dout = ldr_dim(&c.m, l + 1), off = ldr_off(&c.m, l);
        char name[32];
        snprintf(name, sizeof name, "ldr%lld W%lld", (long long)depth, (long long)l);
        gc_tensor(name, ldr_obj, &c, c.m.params + off, grad + off, dout * di);
        snprintf(name, sizeof name, "ldr%lld b%lld", (long long)depth, (long long)l);
        gc_tensor(name, ldr_obj, &c, c.m.params + off + dout * di, grad + off + dout * di, dout);
    }
    /* input gradient grad_x r against differences of r */
    double xd[LB * LP], ds[LB * LP];
    for (int i = 0; i < LB * LP; i++) xd[i] = c.x[i];
    assert_int_equal(cw_ldr_score_diff(&c.m, xd, LB, ds), CW_OK);
    double worst = 0;
    for (int i = 0; i < LB * LP; i++) {
        double rp[LB], rm[LB];
        const double save = xd[i];
        xd[i] = save + GC_H;
        assert_int_equal(cw_ldr_logit(&c.m, xd, LB, rp), CW_OK);
        xd[i] = save - GC_H;
        assert_int_equal(cw_ldr_logit(&c.m, xd, LB, rm), CW_OK);
        xd[i] = save;
        const double num = (rp[i / LP] - rm[i / LP]) / (2 * GC_H);
        worst = fmax(worst, fabs(ds[i] - num) / fmax(fabs(ds[i]) + fabs(num), GC_FLOOR));
    }
    printf("  gradcheck ldr%lld d r/dx      %4d elems  worst rel %.2e\n", (long long)depth,
           LB * LP, worst);
    assert_true(worst < GC_TOL);
    free(grad);
    free(c.scratch);
    cw_ldr_free(&c.m);
}

static void test_ldr_grads(void **state) {
    (void)state;
    ldr_check_depth(2, 21);
    ldr_check_depth(3, 22);
    ldr_check_depth(4, 23);
}

static void test_summary(void **state) {
    (void)state;
    printf("  worst relative error over all CRL gradient checks: %.2e (tolerance %.0e)\n",
           g_worst_all, GC_TOL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssm_param_grads),
        cmocka_unit_test(test_ssm_hessian_term),
        cmocka_unit_test(test_ldr_grads),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
