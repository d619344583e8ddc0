/* test_crl_ssm_parity.c: the sliced-score-matching network of spec score_crl_and_temporal.md
 * §A3.2 (src/crl/score_ssm.c, built in double through tests/double_build_crl.h) against an
 * independent PyTorch float64 run (tests/py/make_ssm_parity.py, which takes the Hessian-vector
 * term from torch.autograd.grad(create_graph=True); STYLE.md "Tests" 2). Needs no torch: it reads
 * the committed fixture tests/fixtures/ssm_parity.bin (format in the script).
 *
 * Compares, with the fixture's weights, input x and slices v: the output s(x), the slice term
 * mean v^T J v, the total loss (with lambda1 = 1e-2), every parameter gradient, the losses
 * before each of 3 Adam steps (betas 0.5, 0.999; cw_adam_update, as cw_ssm_fit steps) and every
 * parameter after them. An element passes when |c - ref| <= atol + rtol |ref|; the worst element
 * per tensor is printed as that ratio (must be <= 1). Both sides compute in double, so the
 * tolerances are near rounding: atol 1e-12, rtol 1e-10 (parameters after the steps: atol 1e-11,
 * far below one Adam step of lr 1e-3, so a wrong sign or a missing term fails).
 * An absent fixture skips with the command that regenerates it.
 */
#include "double_build_crl.h"

#include "fixture_reader.h"
#include "test_util.h"

#include <math.h>

static double g_worst = 0;

/* worst |c - ref| / (atol + rtol |ref|) over n values, printed; fails above 1 */
static void expect_close(const char *what, const double *c, const double *ref, int64_t n,
                         double atol, double rtol) {
    double worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++) {
        double r = fabs(c[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        if (isnan(r)) r = INFINITY;
        if (!(r <= worst)) worst = r, wi = i;
    }
    printf("  %-16s %4lld  worst %.2e of tol  [%lld] c %+.15e ref %+.15e\n", what, (long long)n,
           worst, (long long)wi, c[wi], ref[wi]);
    if (worst > g_worst) g_worst = worst;
    assert_true(worst <= 1);
}

static void test_ssm_parity(void **state) {
    (void)state;
    char path[512];
    cwt_fixture(path, sizeof path, "ssm_parity.bin");
    fxr_file fx;
    if (!fxr_load(&fx, path, "CWSSMP01")) {
        printf("  %s absent: run /usr/bin/python3 tests/py/make_ssm_parity.py\n", path);
        skip();
    }
    const int64_t *sz = fxr_get(&fx, "cfg.sizes", FXR_I64, 5);
    const int64_t p = sz[0], h = sz[1], b = sz[2], k = sz[3], nsteps = sz[4];
    const double *cr = fxr_get(&fx, "cfg.real", FXR_F64, 5);
    const double lambda1 = cr[0], lr = cr[1], beta1 = cr[2], beta2 = cr[3], eps = cr[4];
    printf("  p %lld, H %lld, B %lld, K %lld slices, lambda1 %g, Adam lr %g betas (%g, %g)\n",
           (long long)p, (long long)h, (long long)b, (long long)k, lambda1, lr, beta1, beta2);

    cw_ssm m;
    assert_int_equal(cw_ssm_init(&m, p, h, 1), CW_OK);
    static const char *names[6] = {"W1", "b1", "W2", "b2", "W3", "b3"};
    const int64_t sizes[6] = {h * p, h, h * h, h, p * h, p};
    int64_t offs[6], off = 0;
    for (int t = 0; t < 6; t++) {
        char nm[32];
        snprintf(nm, sizeof nm, "param/%s", names[t]);
        memcpy(m.params + off, fxr_get(&fx, nm, FXR_F64, sizes[t]),
               sizeof(double) * (size_t)sizes[t]);
        offs[t] = off, off += sizes[t];
    }
    assert_int_equal(off, m.nparams);
    const double *x = fxr_get(&fx, "x", FXR_F64, b * p), *v = fxr_get(&fx, "v", FXR_F64, k * b * p);

    real *scratch = malloc(sizeof(real) * (size_t)cw_ssm_scratch_len(p, h, b));
    real *grad = calloc((size_t)m.nparams, sizeof(real));
    real *s = malloc(sizeof(real) * (size_t)(b * p));
    double loss, loss0;
    cw_ssm_loss_grad(&m, x, v, b, k, lambda1, &loss, grad, s, scratch);
    cw_ssm_loss_grad(&m, x, v, b, k, 0.0, &loss0, NULL, NULL, scratch);
    double sq = 0;
    for (int64_t i = 0; i < b * p; i++) sq += s[i] * s[i];
    const double hvp = loss0 - 0.5 * sq / (double)b;

    expect_close("s(x)", s, fxr_get(&fx, "s", FXR_F64, b * p), b * p, 1e-12, 1e-10);
    expect_close("loss.hvp", &hvp, fxr_get(&fx, "loss.hvp", FXR_F64, 1), 1, 1e-12, 1e-10);
    expect_close("loss.total", &loss, fxr_get(&fx, "loss.total", FXR_F64, 1), 1, 1e-12, 1e-10);
    for (int t = 0; t < 6; t++) {
        char nm[32];
        snprintf(nm, sizeof nm, "grad/%s", names[t]);
        expect_close(nm, grad + offs[t], fxr_get(&fx, nm, FXR_F64, sizes[t]), sizes[t], 1e-12,
                     1e-10);
    }

    /* nsteps Adam steps on the same batch and slices, as cw_ssm_fit steps */
    real *am = calloc((size_t)m.nparams, sizeof(real));
    real *av = calloc((size_t)m.nparams, sizeof(real));
    double *step_losses = malloc(sizeof(double) * (size_t)nsteps);
    for (int64_t t = 1; t <= nsteps; t++) {
        memset(grad, 0, sizeof(real) * (size_t)m.nparams);
        cw_ssm_loss_grad(&m, x, v, b, k, lambda1, &step_losses[t - 1], grad, NULL, scratch);
        cw_adam_update(m.params, grad, am, av, m.nparams, lr, beta1, beta2, eps, t);
    }
    expect_close("step_losses", step_losses, fxr_get(&fx, "step_losses", FXR_F64, nsteps), nsteps,
                 1e-12, 1e-10);
    for (int t = 0; t < 6; t++) {
        char nm[32];
        snprintf(nm, sizeof nm, "final/%s", names[t]);
        expect_close(nm, m.params + offs[t], fxr_get(&fx, nm, FXR_F64, sizes[t]), sizes[t], 1e-11,
                     1e-10);
    }
    /* the steps moved the parameters by about lr per step (the comparison is not vacuous) */
    double moved = 0;
    for (int t = 0; t < 6; t++) {
        char nm[32];
        snprintf(nm, sizeof nm, "param/%s", names[t]);
        const double *p0 = fxr_get(&fx, nm, FXR_F64, sizes[t]);
        for (int64_t i = 0; i < sizes[t]; i++)
            moved = fmax(moved, fabs(m.params[offs[t] + i] - p0[i]));
    }
    printf("  max |parameter change| over %lld steps: %.3e\n", (long long)nsteps, moved);
    assert_true(moved > 0.5 * lr * (double)nsteps);
    printf("  worst over all tensors: %.2e of tolerance\n", g_worst);
    free(scratch), free(grad), free(s), free(am), free(av), free(step_losses);
    fxr_free(&fx);
    cw_ssm_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ssm_parity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
