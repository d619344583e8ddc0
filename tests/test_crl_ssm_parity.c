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

#include "test_util.h"

#include <math.h>

enum { REC_F64 = 1, REC_I64 = 2, MAX_RECS = 64 };

typedef struct {
    char name[64];
    int32_t type;
    int64_t count;
    void *data; /* 8-byte aligned copy */
} rec;

typedef struct {
    char *buf, *aligned;
    int n;
    rec r[MAX_RECS];
} fixture;

static int load_fixture(fixture *fx, const char *path) {
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    const long size = ftell(f);
    assert_true(size >= 8);
    rewind(f);
    fx->buf = malloc((size_t)size);
    assert_non_null(fx->buf);
    assert_int_equal(fread(fx->buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    assert_memory_equal(fx->buf, "CWSSMP01", 8);
    fx->aligned = malloc((size_t)size + 8 * MAX_RECS);
    assert_non_null(fx->aligned);
    long off = 8, ao = 0;
    while (off < size) {
        assert_true(fx->n < MAX_RECS);
        rec *r = &fx->r[fx->n++];
        int32_t len;
        assert_true(off + 4 <= size);
        memcpy(&len, fx->buf + off, 4), off += 4;
        assert_true(len > 0 && len < (int32_t)sizeof r->name && off + len + 12 <= size);
        memcpy(r->name, fx->buf + off, (size_t)len), off += len;
        r->name[len] = 0;
        memcpy(&r->type, fx->buf + off, 4), off += 4;
        memcpy(&r->count, fx->buf + off, 8), off += 8;
        assert_true((r->type == REC_F64 || r->type == REC_I64) && r->count >= 0);
        const long nb = (long)r->count * 8;
        assert_true(off + nb <= size);
        memcpy(fx->aligned + ao, fx->buf + off, (size_t)nb);
        r->data = fx->aligned + ao, off += nb, ao += nb;
    }
    return 1;
}

static const void *get(const fixture *fx, const char *name, int type, int64_t count) {
    for (int i = 0; i < fx->n; i++)
        if (!strcmp(fx->r[i].name, name)) {
            assert_int_equal(fx->r[i].type, type);
            if (fx->r[i].count != count)
                fail_msg("fixture record %s: %lld values, expected %lld", name,
                         (long long)fx->r[i].count, (long long)count);
            return fx->r[i].data;
        }
    fail_msg("fixture record %s missing", name);
    return NULL;
}

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
    fixture fx;
    if (!load_fixture(&fx, path)) {
        printf("  %s absent: run /usr/bin/python3 tests/py/make_ssm_parity.py\n", path);
        skip();
    }
    const int64_t *sz = get(&fx, "cfg.sizes", REC_I64, 5);
    const int64_t p = sz[0], h = sz[1], b = sz[2], k = sz[3], nsteps = sz[4];
    const double *cr = get(&fx, "cfg.real", REC_F64, 5);
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
        memcpy(m.params + off, get(&fx, nm, REC_F64, sizes[t]), sizeof(double) * (size_t)sizes[t]);
        offs[t] = off, off += sizes[t];
    }
    assert_int_equal(off, m.nparams);
    const double *x = get(&fx, "x", REC_F64, b * p), *v = get(&fx, "v", REC_F64, k * b * p);

    real *scratch = malloc(sizeof(real) * (size_t)cw_ssm_scratch_len(p, h, b));
    real *grad = calloc((size_t)m.nparams, sizeof(real));
    real *s = malloc(sizeof(real) * (size_t)(b * p));
    double loss, loss0;
    cw_ssm_loss_grad(&m, x, v, b, k, lambda1, &loss, grad, s, scratch);
    cw_ssm_loss_grad(&m, x, v, b, k, 0.0, &loss0, NULL, NULL, scratch);
    double sq = 0;
    for (int64_t i = 0; i < b * p; i++) sq += s[i] * s[i];
    const double hvp = loss0 - 0.5 * sq / (double)b;

    expect_close("s(x)", s, get(&fx, "s", REC_F64, b * p), b * p, 1e-12, 1e-10);
    expect_close("loss.hvp", &hvp, get(&fx, "loss.hvp", REC_F64, 1), 1, 1e-12, 1e-10);
    expect_close("loss.total", &loss, get(&fx, "loss.total", REC_F64, 1), 1, 1e-12, 1e-10);
    for (int t = 0; t < 6; t++) {
        char nm[32];
        snprintf(nm, sizeof nm, "grad/%s", names[t]);
        expect_close(nm, grad + offs[t], get(&fx, nm, REC_F64, sizes[t]), sizes[t], 1e-12, 1e-10);
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
    expect_close("step_losses", step_losses, get(&fx, "step_losses", REC_F64, nsteps), nsteps,
                 1e-12, 1e-10);
    for (int t = 0; t < 6; t++) {
        char nm[32];
        snprintf(nm, sizeof nm, "final/%s", names[t]);
        expect_close(nm, m.params + offs[t], get(&fx, nm, REC_F64, sizes[t]), sizes[t], 1e-11,
                     1e-10);
    }
    /* the steps moved the parameters by about lr per step (the comparison is not vacuous) */
    double moved = 0;
    for (int t = 0; t < 6; t++) {
        char nm[32];
        snprintf(nm, sizeof nm, "param/%s", names[t]);
        const double *p0 = get(&fx, nm, REC_F64, sizes[t]);
        for (int64_t i = 0; i < sizes[t]; i++)
            moved = fmax(moved, fabs(m.params[offs[t] + i] - p0[i]));
    }
    printf("  max |parameter change| over %lld steps: %.3e\n", (long long)nsteps, moved);
    assert_true(moved > 0.5 * lr * (double)nsteps);
    printf("  worst over all tensors: %.2e of tolerance\n", g_worst);
    free(scratch), free(grad), free(s), free(am), free(av), free(step_losses);
    free(fx.buf), free(fx.aligned);
    cw_ssm_free(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_ssm_parity)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
