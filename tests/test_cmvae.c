/* test_cmvae.c: the float CMVAE of libcauseway.a (src/models/cmvae.c; spec grace_cmvae.md §4.0,
 * §4.1, §5.3, §5.4): the training step allocates nothing, 50 Adam steps on a fixed batch lower
 * the loss, initialisation statistics follow §4.0, the schedules match §5.3, a non-finite loss
 * stops the step with the parameters untouched, init frees everything on allocation failure,
 * the step's phase timing (cw_cmvae_prof) changes no value and covers the step, and the step
 * (the decoder's Adam inside the backward) equals forward, backward and one Adam pass.
 * Gradients are checked in double by tests/test_cmvae_gradcheck.c; parity with PyTorch by
 * tests/test_cmvae_parity.c.
 */
#include "models/cmvae.h"

#include "test_util.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/timer.h"
#include "nn/adam.h"

#include <math.h>

_Static_assert(sizeof(real) == sizeof(float), "this test exercises the float library build");

enum { G = 50, Z = 5, C = 4, B = 8 };

static void make_batch(cw_rng *rng, float *x, float *y, float *eps) {
    for (int64_t i = 0; i < B * G; i++) x[i] = (float)(2 * cw_rng_uniform(rng));
    for (int64_t i = 0; i < B * G; i++) y[i] = (float)(0.5 + 2 * cw_rng_uniform(rng));
    for (int64_t i = 0; i < B * Z; i++) eps[i] = (float)cw_rng_normal(rng);
}

static void init_model(cw_cmvae *m, cw_rng *rng, double clip) {
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, G, Z, C);
    cfg.batch = B;
    cfg.grad_clip = clip;
    assert_int_equal(cw_cmvae_init(m, &cfg, rng), CW_OK);
}

static void test_step_allocates_nothing_and_adam_descends(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 5);
    cw_cmvae m;
    init_model(&m, &rng, 0.5);
    static float x[B * G], y[B * G], eps[B * Z], yp[B * G];
    make_batch(&rng, x, y, eps);
    const cw_cmvae_sched w = {1.0, 0.5, 1.5};
    cw_cmvae_losses first = {0}, l;
    cw_alloc_fail_after(0);
    for (int s = 0; s < 50; s++) {
        /* odd steps draw eps from the rng, even ones use the fixed eps */
        const float *e = (s % 2 == 0) ? eps : NULL;
        assert_int_equal(cw_cmvae_train_step(&m, x, NULL, y, 2, -1, &(cw_cmvae_noise){e, NULL}, &rng, w, &l), CW_OK);
        if (s == 0) first = l;
    }
    assert_int_equal(cw_cmvae_train_step(&m, x, NULL, y, 1, 3, &(cw_cmvae_noise){eps, NULL}, NULL, w, &l), CW_OK);
    assert_int_equal(cw_cmvae_predict(&m, yp, x, NULL, B - 3, 1, -1, &(cw_cmvae_noise){NULL, NULL}, &rng), CW_OK);
    const int64_t injected = cw_alloc_injected_failures();
    cw_alloc_fail_after(-1);
    assert_int_equal(injected, 0);
    assert_int_equal(m.t, 51);
    cw_cmvae_losses last;
    assert_int_equal(cw_cmvae_forward(&m, x, NULL, y, 2, -1, &(cw_cmvae_noise){eps, NULL}, NULL, w, &last), CW_OK);
    printf("  loss on the fixed batch: step 0 %.6f (mmd %.4f mse %.4f kl %.4f l1 %.4f), after 51 "
           "Adam steps %.6f (mmd %.4f mse %.4f kl %.4f l1 %.4f)\n",
           first.total, first.mmd, first.mse, first.kl, first.l1, last.total, last.mmd, last.mse,
           last.kl, last.l1);
    assert_true(last.total < 0.8 * first.total);
    cw_cmvae_free(&m);
}

/* cw_cmvae_prof: the marks change no value (same bits with and without them over steps that
 * draw their noise), every phase of a cmvae step gets time, the ones it does not have (gnn,
 * comm alone) get none, and the phases cover the step (they add up to nearly its wall time) */
static void test_step_profile(void **state) {
    (void)state;
    cw_cmvae a, b;
    cw_rng ra, rb, rd;
    cw_rng_seed(&ra, 9);
    cw_rng_seed(&rb, 9);
    init_model(&a, &ra, 0);
    init_model(&b, &rb, 0);
    cw_rng_seed(&rd, 4);
    static float x[B * G], y[B * G], eps[B * Z];
    make_batch(&rd, x, y, eps);
    cw_cmvae_prof prof;
    memset(&prof, 0, sizeof prof);
    b.prof = &prof;
    const cw_cmvae_sched w = {1.0, 0.5, 1.5};
    double wall = 0;
    for (int s = 0; s < 20; s++) {
        assert_int_equal(cw_cmvae_train_step(&a, x, NULL, y, s % C, -1, NULL, &ra, w, NULL), CW_OK);
        const double t0 = cw_now();
        assert_int_equal(cw_cmvae_train_step(&b, x, NULL, y, s % C, -1, NULL, &rb, w, NULL), CW_OK);
        wall += cw_now() - t0;
    }
    const size_t bytes = (size_t)(4 * a.table.total) * sizeof(float); /* params, grads, m, v */
    assert_memory_equal(a.params, b.params, bytes);
    double sum = 0;
    for (int p = 0; p < CW_PHASE_N; p++) {
        const int absent = p == CW_PHASE_GNN || p == CW_PHASE_COMM;
        printf("  %-12s %9.1f us\n", cw_cmvae_phase_name(p), prof.sec[p] * 1e6);
        if (absent ? prof.sec[p] != 0 : !(prof.sec[p] > 0))
            fail_msg("phase %s: %g s", cw_cmvae_phase_name(p), prof.sec[p]);
        sum += prof.sec[p];
    }
    printf("  phases %.1f us of %.1f us of steps\n", sum * 1e6, wall * 1e6);
    assert_true(sum <= wall && sum > 0.5 * wall);
    assert_int_equal(prof.cur, -1); /* closed at the end of the step */
    cw_cmvae_free(&a);
    cw_cmvae_free(&b);
}

/* The step's Adam runs on the decoder's tensors inside the backward, the rest after it: the
 * parameters and moments must equal forward, backward, then one Adam pass over everything (the
 * clamp first), bit for bit, with and without the gradient clamp. */
static void test_step_equals_forward_backward_adam(void **state) {
    (void)state;
    for (int clip = 0; clip < 2; clip++) {
        cw_cmvae a, b;
        cw_rng ra, rb, rd;
        cw_rng_seed(&ra, 21);
        cw_rng_seed(&rb, 21);
        init_model(&a, &ra, clip ? 1e-3 : 0);
        init_model(&b, &rb, clip ? 1e-3 : 0);
        cw_rng_seed(&rd, 5);
        static float x[B * G], y[B * G], eps[B * Z];
        make_batch(&rd, x, y, eps);
        const cw_cmvae_sched w = {1.0, 0.5, 1.5};
        const int64_t total = a.table.total;
        for (int s = 0; s < 5; s++) {
            const cw_cmvae_noise nz = {eps, NULL};
            assert_int_equal(cw_cmvae_train_step(&a, x, NULL, y, s % C, -1, &nz, NULL, w, NULL),
                             CW_OK);
            assert_int_equal(cw_cmvae_forward(&b, x, NULL, y, s % C, -1, &nz, NULL, w, NULL),
                             CW_OK);
            cw_cmvae_backward(&b);
            if (clip) cw_grad_clamp(b.grads, total, (real)1e-3);
            b.t++;
            cw_adam_update_zero_grad(b.params, b.grads, b.m, b.v, total, b.cfg.lr, CW_ADAM_BETA1,
                                     CW_ADAM_BETA2, CW_ADAM_EPS, b.t);
            b.grads_zero = 1;
        }
        /* params, grads (all 0), m and v */
        assert_memory_equal(a.params, b.params, (size_t)(4 * total) * sizeof(float));
        cw_cmvae_free(&a);
        cw_cmvae_free(&b);
    }
}

static void test_init_statistics(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 6);
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, 400, 30, 20);
    cw_cmvae m;
    assert_int_equal(cw_cmvae_init(&m, &cfg, &rng), CW_OK);
    assert_int_equal(m.table.n, CW_CMVAE_NPARAMS);
    assert_int_equal(cw_params_find(&m.table, "c_shift"), CW_CMVAE_C_SHIFT);
    assert_int_equal(cw_params_find(&m.table, "d2.weight"), CW_CMVAE_D2_W);
    assert_int_equal(m.table.rows[CW_CMVAE_FC1_W], 128);
    assert_int_equal(m.table.cols[CW_CMVAE_FC1_W], 400);
    assert_int_equal(m.table.rows[CW_CMVAE_C1_W], 128);
    assert_int_equal(m.table.cols[CW_CMVAE_C1_W], 20);
    assert_true(m.params == m.table.params && m.grads == m.table.grads);
    for (int t = 0; t < CW_CMVAE_NPARAMS; t++) {
        const float *p = cw_cmvae_param(&m, t);
        const int64_t n = m.table.rows[t] * m.table.cols[t];
        double s = 0, s2 = 0, mx = 0;
        for (int64_t i = 0; i < n; i++) {
            s += p[i];
            s2 += (double)p[i] * p[i];
            mx = fmax(mx, fabs(p[i]));
        }
        const double mean = s / n, sd = sqrt(s2 / n - mean * mean);
        printf("  %-15s n %6lld  mean %+.4f  sd %.4f  max|.| %.4f\n", m.table.names[t],
               (long long)n, mean, sd, mx);
        switch (t) {
        case CW_CMVAE_FC1_W: case CW_CMVAE_MEAN_W: case CW_CMVAE_VAR_W: case CW_CMVAE_D1_W:
        case CW_CMVAE_D2_W:
            assert_true(fabs(sd - 0.02) < 0.002 && fabs(mean) < 0.002);
            break;
        case CW_CMVAE_G:
            assert_true(fabs(sd - 0.1) < 0.02);
            break;
        case CW_CMVAE_C1_W: case CW_CMVAE_C1_B: /* U(-1/sqrt(20), 1/sqrt(20)): sd b/sqrt(3) */
            assert_true(mx <= 1 / sqrt(20.0) && fabs(sd - 1 / sqrt(60.0)) < 0.03);
            break;
        case CW_CMVAE_C2_W: case CW_CMVAE_C2_B:
            assert_true(mx <= 1 / sqrt(128.0) && fabs(sd - 1 / sqrt(384.0)) < 0.02);
            break;
        case CW_CMVAE_C_SHIFT:
            assert_true(mean == 1 && sd == 0);
            break;
        default:
            assert_true(mx == 0);
        }
    }
    cw_cmvae_free(&m);
}

static void test_init_allocation_failures(void **state) {
    (void)state;
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, 20, 4, 3);
    int ok = 0;
    for (int64_t budget = 0; budget < 20 && !ok; budget++) {
        cw_rng rng;
        cw_rng_seed(&rng, 1);
        cw_cmvae m;
        cw_alloc_fail_after(budget);
        cw_status st = cw_cmvae_init(&m, &cfg, &rng);
        cw_alloc_fail_after(-1);
        if (st == CW_OK) {
            ok = 1;
            cw_cmvae_free(&m);
        } else {
            assert_int_equal(st, CW_ENOMEM);
            assert_null(m.arena);
            assert_null(m.table.params);
        }
    }
    assert_true(ok);
}

static void test_nonfinite_loss_stops(void **state) {
    (void)state;
    cw_rng rng;
    cw_rng_seed(&rng, 7);
    cw_cmvae m;
    init_model(&m, &rng, 0);
    static float x[B * G], y[B * G], eps[B * Z];
    make_batch(&rng, x, y, eps);
    x[3] = NAN;
    float *p0 = malloc((size_t)m.table.total * sizeof(float));
    assert_non_null(p0);
    memcpy(p0, m.params, (size_t)m.table.total * sizeof(float));
    cw_cmvae_losses l;
    assert_int_equal(cw_cmvae_train_step(&m, x, NULL, y, 0, -1, &(cw_cmvae_noise){eps, NULL}, NULL, (cw_cmvae_sched){1, 1, 1}, &l),
                     CW_EINVAL);
    printf("  message: %s\n", cw_errmsg());
    assert_non_null(strstr(cw_errmsg(), "not finite"));
    assert_int_equal(memcmp(p0, m.params, (size_t)m.table.total * sizeof(float)), 0);
    assert_int_equal(m.t, 0);
    free(p0);
    cw_cmvae_free(&m);
}

static void test_schedules(void **state) {
    (void)state;
    /* GraCE norman: mxAlpha 8, mxBeta 2, mxTemp 4, E 100 (§5.3 example) */
    const int64_t E = 100;
    for (int64_t n = 0; n < E; n++) {
        cw_cmvae_sched w = cw_cmvae_schedule(n, E, 8, 2, 4);
        const double a = n < 5 ? 0 : n < 50 ? 8.0 * (double)(n - 5) / 44 : 8;
        const double b = n < 10 ? 0 : 2.0 * (double)(n - 10) / 89;
        const double t = n < 5 ? 1 : 1 + 3.0 * (double)(n - 5) / 94;
        assert_true(fabs(w.alpha - a) <= 4e-7 * fmax(1, a));
        assert_true(fabs(w.beta - b) <= 4e-7 * fmax(1, b));
        assert_true(fabs(w.tau - t) <= 4e-7 * fmax(1, t));
        /* float32 values */
        assert_true(w.alpha == (float)w.alpha && w.beta == (float)w.beta && w.tau == (float)w.tau);
    }
    cw_cmvae_sched w = cw_cmvae_schedule(49, E, 8, 2, 4);
    assert_true(w.alpha == 8);
    w = cw_cmvae_schedule(99, E, 8, 2, 4);
    assert_true(w.beta == 2 && w.tau == 4 && w.alpha == 8);
    w = cw_cmvae_schedule(5, E, 8, 2, 4);
    assert_true(w.alpha == 0 && w.tau == 1);
    w = cw_cmvae_schedule(0, 1, 8, 2, 4);
    assert_true(w.alpha == 0 && w.beta == 0 && w.tau == 1);
    /* torch.linspace(0, 2, 90)[1] in float32 */
    w = cw_cmvae_schedule(11, E, 8, 2, 4);
    assert_true(w.beta == (float)2 / (float)89);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_allocates_nothing_and_adam_descends),
        cmocka_unit_test(test_step_profile),
        cmocka_unit_test(test_step_equals_forward_backward_adam),
        cmocka_unit_test(test_init_statistics),
        cmocka_unit_test(test_init_allocation_failures),
        cmocka_unit_test(test_nonfinite_loss_stops),
        cmocka_unit_test(test_schedules),
    };
    return cmocka_run_group_tests_name("cmvae (" CW_REAL_NAME ")", tests, NULL, NULL);
}
