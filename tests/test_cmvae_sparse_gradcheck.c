/* test_cmvae_sparse_gradcheck.c: finite-difference gradient check of the CMVAE loss through the
 * sparse first encoder layer (cw_cmvae_set_x_csr; nn/linear.h cw_linear_forward_csr /
 * cw_linear_backward_csr), in DOUBLE (tests/double_build.h; method and floor as
 * tests/test_cmvae_gradcheck.c, whose header explains the floor scaled by the loss magnitude).
 *
 * Config: G 70 (two column blocks of the sparse kernels, 64 + 6), Z 3, C 4, H 5, B 4, O(1)
 * parameters, x about 60% zeros with row 1 empty and columns 64..69 zero in every row (the second
 * block is skipped), x values float-representable (the CSR stores float). Every forward of the
 * objective, and the analytic one, reads x through the CSR. Cases: cmvae, and cmvae with 2 extra
 * inputs (fc1's columns after x go through the dense GEMM). Every parameter element is checked
 * (rel < 1e-6), with every fc1 pre-activation asserted away from the leaky-ReLU kink (a seed
 * that put one within 1e-5 of it made central differences straddle the kink); fc1.weight's
 * columns that no row of x has must get exactly zero gradient.
 */
#include "double_build.h"

#include "test_util.h"

#include "core/rng.h"
#include "la/matrix.h"

#include <math.h>

enum { TG = 70, TZ = 3, TC = 4, TH = 5, TB = 4, TE = 2, ZERO0 = 64 };

typedef struct {
    cw_cmvae m;
    real x[TB * TG], y[TB * TG], eps[TB * TZ], ex[TB * TE];
    float xf[TB * TG];
    cw_csr xs;
    int64_t extra;
    cw_cmvae_sched w;
} sgc_ctx;

static double total_loss(void *ctx) {
    sgc_ctx *c = ctx;
    cw_cmvae_losses l;
    assert_int_equal(cw_cmvae_set_x_csr(&c->m, &c->xs), CW_OK);
    assert_int_equal(cw_cmvae_forward(&c->m, c->x, c->extra ? c->ex : NULL, c->y, 1, -1,
                                      &(cw_cmvae_noise){c->eps, NULL}, NULL, c->w, &l), CW_OK);
    assert_true(c->m.x_csr == &c->xs);
    return l.total;
}

static void run_case(uint64_t seed, int64_t extra) {
    static sgc_ctx c;
    memset(&c, 0, sizeof c);
    cw_rng rng;
    cw_rng_seed(&rng, seed);
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, TG, TZ, TC);
    cfg.hidden = TH;
    cfg.batch = TB;
    cfg.mmd_sigma = 3;
    cfg.lambda = 0.05;
    cfg.extra_inputs = extra;
    c.extra = extra;
    cw_cmvae *m = &c.m;
    assert_int_equal(cw_cmvae_init(m, &cfg, &rng), CW_OK);
    assert_true(cw_cmvae_takes_x_csr(m));
    for (int64_t i = 0; i < m->table.total; i++) m->params[i] = -0.7 + 1.4 * cw_rng_uniform(&rng);
    real *g = cw_cmvae_param(m, CW_CMVAE_G);
    for (int64_t i = 0; i < TZ; i++)
        for (int64_t j = i + 1; j < TZ; j++)
            g[i * TZ + j] =
                (cw_rng_uniform(&rng) < 0.5 ? -1 : 1) * (0.2 + 0.6 * cw_rng_uniform(&rng));
    for (int64_t i = 0; i < TB; i++)
        for (int64_t j = 0; j < TG; j++) {
            const double u = cw_rng_uniform(&rng), v = cw_rng_uniform(&rng);
            const float val = (i == 1 || j >= ZERO0 || u < 0.6) ? 0.0f : (float)(0.1 + 1.9 * v);
            c.xf[i * TG + j] = val;
            c.x[i * TG + j] = val;
        }
    for (int64_t i = 0; i < TB * TG; i++) c.y[i] = 2 * cw_rng_uniform(&rng);
    for (int64_t i = 0; i < TB * TZ; i++) c.eps[i] = cw_rng_normal(&rng);
    for (int64_t i = 0; i < TB * TE; i++) c.ex[i] = cw_rng_uniform(&rng);
    assert_int_equal(cw_csr_from_dense(&c.xs, c.xf, TB, TG), CW_OK);
    c.w = (cw_cmvae_sched){1.7, 0.6, 1.8};
    printf("  case: extra inputs %lld, x %lld stored of %d\n", (long long)extra,
           (long long)c.xs.nnz, TB * TG);

    for (int64_t i = 0; i < m->table.total; i++) m->grads[i] = GC_PREFILL;
    const double L = total_loss(&c);
    cw_cmvae_backward(m);
    cw_cmvae_losses l;
    assert_int_equal(cw_cmvae_forward(m, c.x, extra ? c.ex : NULL, c.y, 1, -1,
                                      &(cw_cmvae_noise){c.eps, NULL}, NULL, c.w, &l), CW_OK);
    assert_true(fabs(l.total - L) <= 1e-12 * fabs(L)); /* the dense path: the same loss */
    /* central differences need every fc1 pre-activation away from the leaky-ReLU kink (h1
     * holds lrelu(pre): pre = h1 / 0.2 below 0); seeds are chosen so */
    for (int64_t i = 0; i < TB * TH; i++) {
        const double pre = m->h1[i] > 0 ? m->h1[i] : m->h1[i] / CW_LRELU_SLOPE;
        assert_true(fabs(pre) > 1e-3);
    }
    const double S = c.w.alpha * (fabs(l.mmd) + 2.0 * (double)m->cfg.kernel_num * (2.0 / TB)) +
                     l.mse + c.w.beta * fabs(l.kl) + m->cfg.lambda * l.l1;
    const double floor_ = GC_FLOOR * fmax(1, S);
    for (int t = 0; t < m->table.n; t++) {
        const int64_t off = m->table.offset[t], n = m->table.rows[t] * m->table.cols[t];
        const gc_result r = gc_compare(total_loss, &c, m->params + off, m->grads + off, n, floor_);
        printf("    %-15s %4lld elems  worst rel %.2e  [%lld] an %+.10e num %+.10e\n",
               m->table.names[t], (long long)n, r.worst, (long long)r.i, r.an, r.num);
        assert_true(r.worst < GC_TOL);
    }
    /* columns of x that no row has: fc1.weight gradient exactly untouched */
    const real *gw1 = cw_cmvae_grad(m, CW_CMVAE_FC1_W);
    const int64_t in = m->in_width;
    for (int64_t o = 0; o < TH; o++)
        for (int64_t j = ZERO0; j < TG; j++) assert_true(gw1[o * in + j] == GC_PREFILL);
    cw_csr_free(&c.xs);
    cw_cmvae_free(m);
}

static void test_sparse_cmvae(void **state) {
    (void)state;
    run_case(41, 0);
}

static void test_sparse_cmvae_extra_inputs(void **state) {
    (void)state;
    run_case(43, TE);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sparse_cmvae),
        cmocka_unit_test(test_sparse_cmvae_extra_inputs),
    };
    return cmocka_run_group_tests_name("cmvae_sparse_gradcheck (" CW_REAL_NAME ")", tests, NULL,
                                       NULL);
}
