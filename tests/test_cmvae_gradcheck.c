/* test_cmvae_gradcheck.c: finite-difference gradient check of the whole CMVAE loss (spec
 * grace_cmvae.md §4.1, §4.6, §5.1-5.2, §5.6; STYLE.md "Tests" 1), in DOUBLE.
 *
 * Built like tests/test_nn_gradcheck.c: CW_REAL_DOUBLE is defined and the nn kernel .c files and
 * src/models/cmvae.c are #included, so the model is compiled in double in this translation unit
 * (the float cmvae.o of libcauseway.a is never pulled in: every symbol it defines is defined
 * here). The float model's own checks (no allocation in a step, Adam decreases the loss) are in
 * tests/test_cmvae.c, which links the float library.
 *
 * Method: tiny config (G 6, Z 3, C 4, H 5, B 4), parameters redrawn at O(1) scale (the §4.0 init
 * scale 0.02 would leave most gradients below the absolute floor), G's strict upper triangle
 * away from 0 (L1 kink), fixed x, y and eps. The total loss alpha MMD + MSE + beta KL + lambda L1
 * (alpha 1.7, beta 0.6, tau 1.8, lambda 0.05) is differentiated by central differences (h 1e-5)
 * w.r.t. EVERY parameter element; gradients start at GC_PREFILL so a backward that assigns
 * instead of accumulating fails. rel = |an - num| / max(|an| + |num|, floor) < 1e-6 per tensor.
 * The floor is test_nn_gradcheck's 1e-4 scaled by the loss magnitude S (when S > 1): that floor
 * is set for an O(1) objective, whose rounding noise eps |L| / h ~ 1e-11 it must not resolve. Here
 * the MMD V-statistic is a difference of O(alpha kernel_num (1/n + 1/m)) = O(10) terms (its
 * diagonal alone contributes 5 before the cross terms cancel it), so the loss carries rounding
 * noise ~ 1e-15 and central differences at h = 1e-5 an absolute noise ~ 3e-10 (measured; it
 * shrinks as h grows: at h = 1e-4 every tensor passes with the unscaled floor). S = alpha (|MMD|
 * + 2 kernel_num (1/n + 1/m)) + MSE + beta |KL| + lambda L1, the sum of the magnitudes that
 * cancel, so gradients below 1e-4 S are checked to |an - num| < 1e-10 S.
 * Cases: single target k, double (k, k2), each with the spec's MMD sigma 1000 and with sigma 3
 * (where the MMD dominates its branch's gradient). G's diagonal and lower triangle must get
 * exactly zero gradient, and so must the columns of c1.weight and entries of c_shift of targets
 * not in the batch.
 */
#include "double_build.h"

#include "test_util.h"

#include "core/rng.h"

#include <math.h>


enum { TG = 6, TZ = 3, TC = 4, TH = 5, TB = 4 };

typedef struct {
    cw_cmvae m;
    real x[TB * TG], y[TB * TG], eps[TB * TZ];
    int64_t k, k2;
    cw_cmvae_sched w;
} gc_ctx;

static double g_worst_all = 0, g_worst_abs = 0;

static double total_loss(gc_ctx *c) {
    cw_cmvae_losses l;
    assert_int_equal(cw_cmvae_forward(&c->m, c->x, NULL, c->y, c->k, c->k2, &(cw_cmvae_noise){c->eps, NULL}, NULL, c->w, &l),
                     CW_OK);
    return l.total;
}

static void fill_uniform_r(cw_rng *r, real *a, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * cw_rng_uniform(r);
}

static void setup_ctx(gc_ctx *c, uint64_t seed, double sigma, int64_t k, int64_t k2) {
    cw_rng rng;
    cw_rng_seed(&rng, seed);
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, TG, TZ, TC);
    cfg.hidden = TH;
    cfg.batch = TB;
    cfg.mmd_sigma = sigma;
    cfg.lambda = 0.05;
    assert_int_equal(cw_cmvae_init(&c->m, &cfg, &rng), CW_OK);
    /* O(1) parameters */
    fill_uniform_r(&rng, c->m.params, c->m.table.total, -0.7, 0.7);
    real *g = cw_cmvae_param(&c->m, CW_CMVAE_G);
    for (int64_t i = 0; i < TZ; i++)
        for (int64_t j = i + 1; j < TZ; j++)
            g[i * TZ + j] = (cw_rng_uniform(&rng) < 0.5 ? -1 : 1) * (0.2 + 0.6 * cw_rng_uniform(&rng));
    real *cs = cw_cmvae_param(&c->m, CW_CMVAE_C_SHIFT);
    fill_uniform_r(&rng, cs, TC, 0.5, 1.5);
    fill_uniform_r(&rng, c->x, TB * TG, 0, 2);
    fill_uniform_r(&rng, c->y, TB * TG, 0, 2);
    for (int64_t i = 0; i < TB * TZ; i++) c->eps[i] = cw_rng_normal(&rng);
    c->k = k;
    c->k2 = k2;
    c->w = (cw_cmvae_sched){1.7, 0.6, 1.8};
}

static void run_case(uint64_t seed, double sigma, int64_t k, int64_t k2) {
    static gc_ctx c; /* large-ish; static keeps it off the stack */
    setup_ctx(&c, seed, sigma, k, k2);
    cw_cmvae *m = &c.m;
    printf("  case: k %lld, k2 %lld, mmd sigma %g\n", (long long)k, (long long)k2, sigma);

    for (int64_t i = 0; i < m->table.total; i++) m->grads[i] = GC_PREFILL;
    cw_cmvae_losses l;
    assert_int_equal(cw_cmvae_forward(m, c.x, NULL, c.y, k, k2, &(cw_cmvae_noise){c.eps, NULL}, NULL, c.w, &l), CW_OK);
    printf("    losses: mmd %.6e  mse %.6e  kl %.6e  l1 %.6e  total %.6e\n", l.mmd, l.mse, l.kl,
           l.l1, l.total);
    cw_cmvae_backward(m);
    const double S = c.w.alpha * (fabs(l.mmd) + 2.0 * (double)m->cfg.kernel_num * (2.0 / TB)) +
                     l.mse + c.w.beta * fabs(l.kl) + m->cfg.lambda * l.l1;
    const double floor_ = GC_FLOOR * fmax(1, S);
    printf("    loss magnitude S %.3f -> floor %.2e\n", S, floor_);

    double case_worst = 0;
    for (int t = 0; t < CW_CMVAE_NPARAMS; t++) {
        real *p = cw_cmvae_param(m, t);
        const real *gr = cw_cmvae_grad(m, t);
        const int64_t n = m->table.rows[t] * m->table.cols[t];
        double worst = 0, w_an = 0, w_num = 0;
        int64_t wi = 0;
        for (int64_t i = 0; i < n; i++) {
            const real save = p[i];
            p[i] = save + GC_H;
            const double fp = total_loss(&c);
            p[i] = save - GC_H;
            const double fm = total_loss(&c);
            p[i] = save;
            const double num = (fp - fm) / (2 * GC_H);
            const double an = gr[i] - GC_PREFILL;
            const double rel = fabs(an - num) / fmax(fabs(an) + fabs(num), floor_);
            if (fabs(an - num) > g_worst_abs) g_worst_abs = fabs(an - num);
            if (!(rel <= worst)) {
                worst = rel;
                wi = i;
                w_an = an;
                w_num = num;
            }
        }
        printf("    %-15s %3lld elems  worst rel %.2e  [%lld] an %+.10e num %+.10e\n",
               m->table.names[t], (long long)n, worst, (long long)wi, w_an, w_num);
        if (worst > case_worst) case_worst = worst;
        assert_true(worst < GC_TOL);
    }
    if (case_worst > g_worst_all) g_worst_all = case_worst;

    /* exact zeros where the parameter does not enter the loss */
    const real *dg = cw_cmvae_grad(m, CW_CMVAE_G);
    for (int64_t i = 0; i < TZ; i++)
        for (int64_t j = 0; j <= i; j++) assert_true(dg[i * TZ + j] == GC_PREFILL);
    const real *dc1 = cw_cmvae_grad(m, CW_CMVAE_C1_W), *dcs = cw_cmvae_grad(m, CW_CMVAE_C_SHIFT);
    for (int64_t col = 0; col < TC; col++) {
        if (col == k || col == k2) continue;
        assert_true(dcs[col] == GC_PREFILL);
        for (int64_t i = 0; i < TH; i++) assert_true(dc1[i * TC + col] == GC_PREFILL);
    }
    assert_true(dcs[k] != GC_PREFILL);

    /* predict (tau 1, same eps) reproduces the forward's y_hat at tau 1 */
    real yp[TB * TG];
    c.w.tau = 1;
    total_loss(&c);
    real yf[TB * TG];
    memcpy(yf, m->y_hat, sizeof yf);
    assert_int_equal(cw_cmvae_predict(m, yp, c.x, NULL, TB, k, k2, &(cw_cmvae_noise){c.eps, NULL}, NULL), CW_OK);
    for (int64_t i = 0; i < TB * TG; i++) assert_true(yp[i] == yf[i]);
    cw_cmvae_free(m);
}

static void test_single_sigma1000(void **state) {
    (void)state;
    run_case(21, 1000, 1, -1);
}
static void test_double_sigma1000(void **state) {
    (void)state;
    run_case(22, 1000, 1, 3);
}
static void test_single_sigma3(void **state) {
    (void)state;
    run_case(23, 3, 2, -1);
}
static void test_double_sigma3(void **state) {
    (void)state;
    run_case(24, 3, 0, 2);
}

/* the checker fails when one weight's gradient is off: scale the d2.weight gradient by 1.01 */
static void test_gc_catches_wrong_gradient(void **state) {
    (void)state;
    static gc_ctx c;
    setup_ctx(&c, 25, 3, 1, -1);
    cw_cmvae *m = &c.m;
    memset(m->grads, 0, (size_t)m->table.total * sizeof(real));
    total_loss(&c);
    cw_cmvae_backward(m);
    real *p = cw_cmvae_param(m, CW_CMVAE_D2_W);
    const real *gr = cw_cmvae_grad(m, CW_CMVAE_D2_W);
    double worst = 0;
    for (int64_t i = 0; i < TG * TH; i++) {
        const real save = p[i];
        p[i] = save + GC_H;
        const double fp = total_loss(&c);
        p[i] = save - GC_H;
        const double fm = total_loss(&c);
        p[i] = save;
        const double num = (fp - fm) / (2 * GC_H), an = 1.01 * gr[i];
        worst = fmax(worst, fabs(an - num) / fmax(fabs(an) + fabs(num), GC_FLOOR));
    }
    printf("  self-test: d2.weight gradient x 1.01   worst rel %.2e (must be > 1e-3)\n", worst);
    assert_true(worst > 1e-3);
    cw_cmvae_free(m);
}

static void test_bad_arguments(void **state) {
    (void)state;
    static gc_ctx c;
    setup_ctx(&c, 26, 1000, 0, -1);
    cw_cmvae_losses l;
    assert_int_equal(cw_cmvae_forward(&c.m, c.x, NULL, c.y, TC, -1, &(cw_cmvae_noise){c.eps, NULL}, NULL, c.w, &l), CW_EINVAL);
    assert_int_equal(cw_cmvae_forward(&c.m, c.x, NULL, c.y, 0, -2, &(cw_cmvae_noise){c.eps, NULL}, NULL, c.w, &l), CW_EINVAL);
    assert_int_equal(cw_cmvae_forward(&c.m, c.x, NULL, c.y, 0, -1, &(cw_cmvae_noise){NULL, NULL}, NULL, c.w, &l), CW_EINVAL);
    real yp[TB * TG];
    assert_int_equal(cw_cmvae_predict(&c.m, yp, c.x, NULL, TB + 1, 0, -1, &(cw_cmvae_noise){c.eps, NULL}, NULL), CW_EINVAL);
    cw_cmvae_free(&c.m);
}

static int report(void **state) {
    (void)state;
    printf("  worst relative gradient error over all cases: %.2e (tolerance %.0e); worst absolute "
           "%.2e\n", g_worst_all, GC_TOL, g_worst_abs);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_single_sigma1000),
        cmocka_unit_test(test_double_sigma1000),
        cmocka_unit_test(test_single_sigma3),
        cmocka_unit_test(test_double_sigma3),
        cmocka_unit_test(test_gc_catches_wrong_gradient),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests_name("cmvae_gradcheck (" CW_REAL_NAME ")", tests, NULL, report);
}
