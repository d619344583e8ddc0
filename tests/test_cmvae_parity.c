/* test_cmvae_parity.c: the float CMVAE (src/models/cmvae.c) against an independent PyTorch
 * float64 run (tests/py/make_cmvae_parity.py; spec grace_cmvae.md §4.1, §4.6, §5.1, §5.4;
 * STYLE.md "Tests" 2). Needs no torch: it reads the committed fixture
 * tests/fixtures/cmvae_parity.bin (format in the script), loads the weights stored there (C's
 * own initial weights, exported by `test_cmvae_parity --export FILE`), and compares the forward
 * (y_hat, x_recon, each loss term), every gradient tensor, a double-target prediction and the
 * losses of 10 Adam steps with gradient clamping. Each comparison passes when every element has
 * |c - ref| <= atol + rtol |ref|; the worst element per tensor is reported as that ratio. The
 * gradient atol is scaled per tensor (atol_rel * max |ref| over the tensor): the tensors' gradient
 * scales span orders of magnitude and float32 rounding is relative to the largest terms summed.
 * Tolerances (float32 model vs float64 reference): y_hat, x_recon atol 1e-6 rtol 1e-5; gradients
 * atol 1e-5 max|ref| rtol 1e-4; loss terms and step losses atol 1e-7 rtol 1e-6. Measured worst:
 * < 1e-2 of these everywhere (float rounding), so a real error of 1 % fails by orders of magnitude.
 * Sizes G 50, Z 5, C 4, H 128, B 8; MMD sigma 1000, alpha 2, beta 0.5, tau 1.5, lambda 1e-3,
 * clamp 0.5 (inactive here: all gradients < 0.15), fixed eps for all steps.
 * Regenerate: see tests/py/make_cmvae_parity.py (the fixture holds the weights, so it does not
 * depend on the rng staying the same).
 */
#include "models/cmvae.h"

#include "test_util.h"

#include "core/rng.h"

#include <math.h>

enum { PG = 50, PZ = 5, PC = 4, PH = 128, PB = 8, PSEED = 42 };

static void make_model(cw_cmvae *m, double lambda, double clip) {
    cw_rng rng;
    cw_rng_seed(&rng, PSEED);
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, PG, PZ, PC);
    cfg.batch = PB;
    cfg.lambda = lambda;
    cfg.grad_clip = clip;
    assert_int_equal(cw_cmvae_init(m, &cfg, &rng), CW_OK);
}

/* --export FILE: the initial weights of make_model as float32 (header in the script) */
static int export_weights(const char *path) {
    cw_cmvae m;
    cw_rng rng;
    cw_rng_seed(&rng, PSEED);
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, PG, PZ, PC);
    cfg.batch = PB;
    if (cw_cmvae_init(&m, &cfg, &rng) != CW_OK) return 1;
    FILE *f = fopen(path, "wb");
    if (!f) return 1;
    const int64_t hdr[5] = {PG, PZ, PC, PH, m.table.total};
    int ok = fwrite("CWCMVW1", 1, 8, f) == 8 && fwrite(hdr, sizeof hdr, 1, f) == 1 &&
             fwrite(m.params, sizeof(float), (size_t)m.table.total, f) == (size_t)m.table.total;
    ok &= fclose(f) == 0;
    cw_cmvae_free(&m);
    printf("exported %lld weights to %s\n", (long long)hdr[4], path);
    return ok ? 0 : 1;
}

typedef struct {
    int64_t G, Z, C, H, B, k, k2, nsteps, total;
    double alpha, beta, tau, lambda, sigma, kernel_num, clip, lr;
    float *params, *x, *y, *eps, *y_hat, *x_recon, *grads, *y_dbl;
    double terms[5];
    double *step_losses;
    void *buf;
} fixture;

static int load_fixture(fixture *fx, const char *path) {
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char magic[8];
    int64_t h[9];
    double d[8];
    assert_int_equal(fread(magic, 1, 8, f), 8);
    assert_memory_equal(magic, "CWCMVAP1", 8);
    assert_int_equal(fread(h, sizeof h, 1, f), 1);
    assert_int_equal(fread(d, sizeof d, 1, f), 1);
    fx->G = h[0], fx->Z = h[1], fx->C = h[2], fx->H = h[3], fx->B = h[4], fx->k = h[5];
    fx->k2 = h[6], fx->nsteps = h[7], fx->total = h[8];
    fx->alpha = d[0], fx->beta = d[1], fx->tau = d[2], fx->lambda = d[3], fx->sigma = d[4];
    fx->kernel_num = d[5], fx->clip = d[6], fx->lr = d[7];
    assert_true(fx->G == PG && fx->Z == PZ && fx->C == PC && fx->H == PH && fx->B == PB);
    const int64_t bg = fx->B * fx->G, nf = 2 * fx->total + 5 * bg + fx->B * fx->Z;
    fx->buf = malloc((size_t)nf * sizeof(float) + (size_t)(5 + fx->nsteps) * sizeof(double));
    assert_non_null(fx->buf);
    float *p = fx->buf;
    fx->params = p, p += fx->total;
    fx->x = p, p += bg;
    fx->y = p, p += bg;
    fx->eps = p, p += fx->B * fx->Z;
    fx->y_hat = p, p += bg;
    fx->x_recon = p, p += bg;
    fx->grads = p, p += fx->total;
    fx->y_dbl = p, p += bg;
    assert_int_equal(fread(fx->buf, sizeof(float), (size_t)nf, f), (size_t)nf);
    assert_int_equal(fread(fx->terms, sizeof(double), 5, f), 5);
    fx->step_losses = (double *)((char *)fx->buf + (size_t)nf * sizeof(float));
    assert_int_equal(fread(fx->step_losses, sizeof(double), (size_t)fx->nsteps, f),
                     (size_t)fx->nsteps);
    char extra;
    assert_int_equal(fread(&extra, 1, 1, f), 0); /* nothing left */
    fclose(f);
    return 1;
}

static double g_worst = 0;

/* worst |c - ref| / (atol + rtol |ref|) over n elements; printed; must be <= 1 */
static void expect_close(const char *what, const float *c, const float *ref, int64_t n,
                         double atol, double rtol) {
    double worst = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++) {
        const double r = fabs((double)c[i] - ref[i]) / (atol + rtol * fabs(ref[i]));
        if (!(r <= worst)) worst = r, wi = i;
    }
    printf("  %-16s %6lld elems  worst %.2e of tol  [%lld] c %+.9e ref %+.9e  (atol %.1e rtol "
           "%.0e)\n", what, (long long)n, worst, (long long)wi, c[wi], ref[wi], atol, rtol);
    if (worst > g_worst) g_worst = worst;
    assert_true(worst <= 1);
}

static void expect_close_d(const char *what, double c, double ref, double atol, double rtol) {
    const double r = fabs(c - ref) / (atol + rtol * fabs(ref));
    printf("  %-16s c %+.9e ref %+.9e  %.2e of tol (atol %.1e rtol %.0e)\n", what, c, ref, r,
           atol, rtol);
    if (r > g_worst) g_worst = r;
    assert_true(r <= 1);
}

static const char *fixture_path(void) {
    static char p[256];
    cwt_fixture(p, sizeof p, "cmvae_parity.bin");
    return p;
}

static void test_parity(void **state) {
    (void)state;
    fixture fx;
    if (!load_fixture(&fx, fixture_path())) {
        printf("  %s absent: run tests/py/make_cmvae_parity.py\n", fixture_path());
        skip();
    }
    cw_cmvae m;
    make_model(&m, fx.lambda, fx.clip);
    assert_int_equal(m.table.total, fx.total);
    assert_true(m.cfg.mmd_sigma == fx.sigma && (double)m.cfg.kernel_num == fx.kernel_num &&
                m.cfg.lr == fx.lr);
    memcpy(m.params, fx.params, (size_t)fx.total * sizeof(float));
    const cw_cmvae_sched w = {fx.alpha, fx.beta, fx.tau};
    const int64_t bg = fx.B * fx.G;

    /* forward and every gradient */
    cw_params_zero_grad(&m.table);
    cw_cmvae_losses l;
    assert_int_equal(cw_cmvae_forward(&m, fx.x, NULL, fx.y, fx.k, -1, &(cw_cmvae_noise){fx.eps, NULL}, NULL, w, &l), CW_OK);
    expect_close("y_hat", m.y_hat, fx.y_hat, bg, 1e-6, 1e-5);
    expect_close("x_recon", m.x_recon, fx.x_recon, bg, 1e-6, 1e-5);
    const char *tn[5] = {"loss mmd", "loss mse", "loss kl", "loss l1", "loss total"};
    const double tc[5] = {l.mmd, l.mse, l.kl, l.l1, l.total};
    for (int i = 0; i < 5; i++) expect_close_d(tn[i], tc[i], fx.terms[i], 1e-7, 1e-6);
    cw_cmvae_backward(&m);
    for (int t = 0; t < CW_CMVAE_NPARAMS; t++) {
        const int64_t off = m.table.offset[t], n = m.table.rows[t] * m.table.cols[t];
        double mx = 0;
        for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(fx.grads[off + i]));
        char what[64];
        snprintf(what, sizeof what, "d %s", m.table.names[t]);
        expect_close(what, m.grads + off, fx.grads + off, n, 1e-5 * mx + 1e-12, 1e-4);
    }

    /* double perturbation prediction (tau 1) */
    static float yd[PB * PG];
    assert_int_equal(cw_cmvae_predict(&m, yd, fx.x, NULL, fx.B, fx.k, fx.k2, &(cw_cmvae_noise){fx.eps, NULL}, NULL), CW_OK);
    expect_close("y_hat (k, k2)", yd, fx.y_dbl, bg, 1e-6, 1e-5);

    /* 10 Adam steps with clamping, from the same weights */
    memcpy(m.params, fx.params, (size_t)fx.total * sizeof(float));
    for (int64_t s = 0; s < fx.nsteps; s++) {
        assert_int_equal(cw_cmvae_train_step(&m, fx.x, NULL, fx.y, fx.k, -1, &(cw_cmvae_noise){fx.eps, NULL}, NULL, w, &l),
                         CW_OK);
        char what[32];
        snprintf(what, sizeof what, "step %lld loss", (long long)s);
        expect_close_d(what, l.total, fx.step_losses[s], 1e-7, 1e-6);
    }
    printf("  worst over all comparisons: %.2e of tolerance\n", g_worst);
    cw_cmvae_free(&m);
    free(fx.buf);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--export") == 0) return export_weights(argv[2]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parity),
    };
    return cmocka_run_group_tests_name("cmvae_parity (" CW_REAL_NAME ")", tests, NULL, NULL);
}
