/* test_cmvae_sparse.c: the sparse first encoder layer (issue #6 item 3; nn/linear.h
 * cw_linear_forward_csr / cw_linear_backward_csr, models/cmvae.h cw_cmvae_set_x_csr), in the float
 * library build (so the AVX2 paths of the kernels run where the build has them).
 *
 * 1. Kernels against a double reference on shapes that hit every path: several column blocks
 *    with a partial last one, a block no row touches, empty rows, outputs in 64-wide register
 *    blocks plus a remainder and fewer than 64, ldw > IN (columns past IN untouched), bias NULL;
 *    backward accumulates into a prefilled gradient; 1, 2 and 3 OpenMP threads give the same
 *    bits.
 * 2. Training steps, sparse against dense: two identical models (cmvae; cmvae with extra inputs,
 *    whose dense columns after x go through cw_gemm) take the same 6 steps on the same ~80%-zero
 *    batches and noise, one with cw_cmvae_set_x_csr before every step. They may differ by float
 *    summation order only: each step's loss terms agree to rtol 1e-5, and every parameter after
 *    the 6 steps to |a - b| <= 5e-5 + 1e-4 |a| (measured worst 5e-6: Adam divides each step
 *    by sqrt(v), so a rounding difference in a gradient moves a parameter by at most ~lr times its
 *    relative size; the bound leaves margin for elements whose gradient is mostly cancellation).
 * 3. The setter: one forward only, shape mismatch CW_EINVAL, NULL clears.
 * 4. The per-step memsets removed: the gradient reset fused into Adam (cw_adam_update_zero_grad,
 *    train_step's grads_zero) gives the same bits as cw_adam_update, and a stray backward before
 *    a step is still zeroed; cw_mmd_backward_set_dx gives the bits of memset + cw_mmd_backward.
 * The gradient check through the sparse path is in double: tests/test_cmvae_sparse_gradcheck.c.
 */
#include "models/cmvae.h"

#include "test_util.h"

#include "core/rng.h"
#include "io/xstore.h"
#include "la/matrix.h"
#include "nn/adam.h"
#include "nn/linear.h"
#include "nn/mmd.h"

#include <math.h>

_Static_assert(sizeof(real) == sizeof(float), "this test exercises the float library build");

/* x (n, in) with about `zero` of its entries 0, columns [z0, z1) zero in every row, rows in
 * `empty` (bitmask) all zero */
static void sparse_fill(cw_rng *r, float *x, int64_t n, int64_t in, double zero, int64_t z0,
                        int64_t z1, unsigned empty) {
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < in; j++) {
            const double u = cw_rng_uniform(r), v = cw_rng_uniform(r);
            const int off = (j >= z0 && j < z1) || (i < 32 && ((empty >> i) & 1u));
            x[i * in + j] = off || u < zero ? 0.0f : (float)(0.1 + 2 * v);
        }
}

static void check_kernels(int64_t n, int64_t in, int64_t ldw, int64_t out, int bias_on,
                          uint64_t seed) {
    cw_rng r;
    cw_rng_seed(&r, seed);
    float *x = calloc((size_t)(n * in), sizeof(float));
    float *w = calloc((size_t)(out * ldw), sizeof(float));
    float *b = calloc((size_t)out, sizeof(float));
    float *h = calloc((size_t)(n * out), sizeof(float));
    float *dh = calloc((size_t)(n * out), sizeof(float));
    float *dw = calloc((size_t)(out * ldw), sizeof(float));
    float *db = calloc((size_t)out, sizeof(float));
    float *wt = calloc((size_t)cw_linear_csr_scratch_size(n, out), sizeof(float));
    int64_t *iw = calloc((size_t)cw_linear_csr_iwork_size(n), sizeof(int64_t));
    assert_non_null(x && w && b && h && dh && dw && db && wt && iw);
    sparse_fill(&r, x, n, in, 0.8, 64, 128, 0x5u); /* rows 0 and 2 empty, block 1 untouched */
    for (int64_t i = 0; i < out * ldw; i++) w[i] = (float)(cw_rng_uniform(&r) - 0.5);
    for (int64_t i = 0; i < out; i++) b[i] = (float)(cw_rng_uniform(&r) - 0.5);
    for (int64_t i = 0; i < n * out; i++) dh[i] = (float)(cw_rng_uniform(&r) - 0.5);
    cw_csr xs;
    assert_int_equal(cw_csr_from_dense(&xs, x, n, in), CW_OK);

    cw_linear_forward_csr(h, &xs, w, ldw, bias_on ? b : NULL, out, wt, iw);
    double worst = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t o = 0; o < out; o++) {
            double ref = bias_on ? b[o] : 0, mag = fabs(ref);
            for (int64_t j = 0; j < in; j++) {
                ref += (double)x[i * in + j] * w[o * ldw + j];
                mag += fabs((double)x[i * in + j] * w[o * ldw + j]);
            }
            const double err = fabs(h[i * out + o] - ref) / (1e-30 + mag);
            worst = fmax(worst, err);
            assert_true(fabs(h[i * out + o] - ref) <= 1e-6 * mag + 1e-7);
        }

    for (int64_t i = 0; i < out * ldw; i++) dw[i] = 0.25f;
    for (int64_t i = 0; i < out; i++) db[i] = 0.25f;
    cw_linear_backward_csr(dw, db, dh, &xs, ldw, out, wt, iw);
    for (int64_t o = 0; o < out; o++) {
        for (int64_t j = 0; j < ldw; j++) {
            double ref = 0.25, mag = 0.25;
            for (int64_t i = 0; i < n && j < in; i++) {
                ref += (double)dh[i * out + o] * x[i * in + j];
                mag += fabs((double)dh[i * out + o] * x[i * in + j]);
            }
            if (j >= in || (j >= 64 && j < 128)) /* past IN, or a column no row has */
                assert_true(dw[o * ldw + j] == 0.25f);
            worst = fmax(worst, fabs(dw[o * ldw + j] - ref) / mag);
            assert_true(fabs(dw[o * ldw + j] - ref) <= 1e-6 * mag);
        }
        double ref = 0.25;
        for (int64_t i = 0; i < n; i++) ref += dh[i * out + o];
        assert_true(fabs(db[o] - ref) <= 1e-6 * (1 + fabs(ref)));
    }
    /* dbias NULL and dweight NULL are skipped */
    cw_linear_backward_csr(NULL, NULL, dh, &xs, ldw, out, wt, iw);
    printf("  kernels n %lld in %lld ldw %lld out %lld bias %d: nnz %lld, worst error / "
           "sum |terms| %.2e\n", (long long)n, (long long)in, (long long)ldw, (long long)out,
           bias_on, (long long)xs.nnz, worst);
    cw_csr_free(&xs);
    free(x), free(w), free(b), free(h), free(dh), free(dw), free(db), free(wt), free(iw);
}

static void test_kernels(void **state) {
    (void)state;
    check_kernels(7, 150, 150, 72, 1, 1);  /* 3 blocks (last 22 wide), 64 + 8 outputs */
    check_kernels(5, 200, 203, 16, 0, 2);  /* ldw > IN, < 64 outputs, no bias */
    check_kernels(9, 64, 64, 128, 1, 3);   /* exactly one block (the untouched one is past IN) */
    check_kernels(3, 300, 300, 130, 1, 4); /* 2 x 64 + 2 outputs */
}

/* OpenMP threads share the kernels' column chunks (4 here: IN 1000 is 16 blocks), a count fixed by
 * IN: the same bits with 1, 2 and 3 threads (a shape above the kernels' threshold of 2^18
 * nnz OUT), and the forward (chunk partials added in order) still matches the reference */
static void test_kernels_threads(void **state) {
    (void)state;
    enum { N = 32, IN = 1000, OUT = 130, TMAX = 3 };
    cw_rng r;
    cw_rng_seed(&r, 5);
    float *x = calloc((size_t)(N * IN), sizeof(float)), *w = calloc((size_t)(OUT * IN), 4);
    float *b = calloc(OUT, 4), *dh = calloc((size_t)(N * OUT), 4);
    float *h[TMAX], *dw[TMAX], *db[TMAX];
    float *wt = calloc((size_t)cw_linear_csr_scratch_size(N, OUT), 4);
    int64_t *iw = calloc((size_t)cw_linear_csr_iwork_size(N), sizeof(int64_t));
    assert_non_null(x && w && b && dh && wt && iw);
    sparse_fill(&r, x, N, IN, 0.8, 0, 0, 0);
    for (int64_t i = 0; i < OUT * IN; i++) w[i] = (float)(cw_rng_uniform(&r) - 0.5);
    for (int64_t i = 0; i < N * OUT; i++) dh[i] = (float)(cw_rng_uniform(&r) - 0.5);
    cw_csr xs;
    assert_int_equal(cw_csr_from_dense(&xs, x, N, IN), CW_OK);
    assert_true(xs.nnz * OUT >= (1 << 18));
    const int saved = omp_get_max_threads();
    for (int t = 0; t < TMAX; t++) {
        h[t] = calloc((size_t)(N * OUT), 4);
        dw[t] = calloc((size_t)(OUT * IN), 4);
        db[t] = calloc(OUT, 4);
        assert_non_null(h[t] && dw[t] && db[t]);
        omp_set_num_threads(t + 1);
        cw_linear_forward_csr(h[t], &xs, w, IN, b, OUT, wt, iw);
        cw_linear_backward_csr(dw[t], db[t], dh, &xs, IN, OUT, wt, iw);
        if (t > 0) {
            assert_memory_equal(h[t], h[0], (size_t)(N * OUT) * 4);
            assert_memory_equal(dw[t], dw[0], (size_t)(OUT * IN) * 4);
        }
    }
    omp_set_num_threads(saved);
    double worst = 0, worst_fwd = 0;
    for (int64_t o = 0; o < OUT; o++)
        for (int64_t j = 0; j < IN; j++) {
            double ref = 0, mag = 0;
            for (int64_t i = 0; i < N; i++) {
                ref += (double)dh[i * OUT + o] * x[i * IN + j];
                mag += fabs((double)dh[i * OUT + o] * x[i * IN + j]);
            }
            assert_true(fabs(dw[0][o * IN + j] - ref) <= 1e-6 * mag + 1e-30);
            worst = fmax(worst, fabs(dw[0][o * IN + j] - ref) / (mag + 1e-30));
        }
    for (int64_t i = 0; i < N; i++)
        for (int64_t o = 0; o < OUT; o++) {
            double ref = b[o], mag = fabs(ref);
            for (int64_t j = 0; j < IN; j++) {
                ref += (double)x[i * IN + j] * w[o * IN + j];
                mag += fabs((double)x[i * IN + j] * w[o * IN + j]);
            }
            assert_true(fabs(h[0][i * OUT + o] - ref) <= 1e-6 * mag + 1e-7);
            worst_fwd = fmax(worst_fwd, fabs(h[0][i * OUT + o] - ref) / (mag + 1e-30));
        }
    printf("  1, 2, 3 threads: identical bits (nnz %lld); worst error / sum |terms|: forward "
           "%.2e, weight gradient %.2e\n", (long long)xs.nnz, worst_fwd, worst);
    for (int t = 0; t < TMAX; t++) free(h[t]), free(dw[t]), free(db[t]);
    cw_csr_free(&xs);
    free(x), free(w), free(b), free(dh), free(wt), free(iw);
}

/* ---- training steps, sparse against dense ------------------------------------------------ */

enum { SG = 300, SZ = 6, SC = 5, SB = 8, SE = 3, STEPS = 6 };

static void init_pair(cw_cmvae *a, cw_cmvae *b, int64_t extra) {
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, SG, SZ, SC);
    cfg.hidden = 72; /* one 64-wide register block and a remainder */
    cfg.batch = SB;
    cfg.extra_inputs = extra;
    cfg.grad_clip = 0.5;
    cw_rng r1, r2;
    cw_rng_seed(&r1, 31);
    cw_rng_seed(&r2, 31);
    assert_int_equal(cw_cmvae_init(a, &cfg, &r1), CW_OK);
    assert_int_equal(cw_cmvae_init(b, &cfg, &r2), CW_OK);
    assert_true(cw_cmvae_takes_x_csr(b));
    assert_memory_equal(a->params, b->params, (size_t)a->table.total * sizeof(float));
}

static void run_pair(int64_t extra) {
    cw_cmvae dense, sparse;
    init_pair(&dense, &sparse, extra);
    cw_rng r;
    cw_rng_seed(&r, 32);
    static float x[SB * SG], y[SB * SG], eps[SB * SZ], ex[SB * SE];
    const cw_cmvae_sched w = {1.0, 0.5, 1.3};
    double worst_loss = 0;
    for (int s = 0; s < STEPS; s++) {
        sparse_fill(&r, x, SB, SG, 0.8, 0, 0, s == 2 ? 0x1u : 0u); /* step 2: an empty row */
        sparse_fill(&r, y, SB, SG, 0.8, 0, 0, 0);
        for (int64_t i = 0; i < SB * SZ; i++) eps[i] = (float)cw_rng_normal(&r);
        for (int64_t i = 0; i < SB * SE; i++) ex[i] = (float)cw_rng_uniform(&r);
        cw_csr xs;
        assert_int_equal(cw_csr_from_dense(&xs, x, SB, SG), CW_OK);
        const int64_t k = s % SC, k2 = s % 3 == 1 ? (s + 2) % SC : -1;
        const cw_cmvae_noise nz = {eps, NULL};
        cw_cmvae_losses ld, ls;
        assert_int_equal(cw_cmvae_train_step(&dense, x, extra ? ex : NULL, y, k, k2, &nz, NULL, w,
                                             &ld), CW_OK);
        assert_int_equal(cw_cmvae_set_x_csr(&sparse, &xs), CW_OK);
        assert_int_equal(cw_cmvae_train_step(&sparse, x, extra ? ex : NULL, y, k, k2, &nz, NULL,
                                             w, &ls), CW_OK);
        assert_true(sparse.x_csr == &xs && dense.x_csr == NULL);
        const double a[5] = {ld.mmd, ld.mse, ld.kl, ld.l1, ld.total};
        const double b[5] = {ls.mmd, ls.mse, ls.kl, ls.l1, ls.total};
        for (int t = 0; t < 5; t++) {
            const double rel = fabs(a[t] - b[t]) / fmax(fabs(a[t]), 1e-30);
            worst_loss = fmax(worst_loss, rel);
            assert_true(fabs(a[t] - b[t]) <= 1e-5 * fabs(a[t]) + 1e-12);
        }
        cw_csr_free(&xs);
    }
    /* every parameter, reported per tensor */
    double worst_all = 0;
    for (int t = 0; t < dense.table.n; t++) {
        const int64_t off = dense.table.offset[t], n = dense.table.rows[t] * dense.table.cols[t];
        double worst = 0;
        for (int64_t i = 0; i < n; i++) {
            const double pa = dense.params[off + i], pb = sparse.params[off + i];
            worst = fmax(worst, fabs(pa - pb));
            assert_true(fabs(pa - pb) <= 5e-5 + 1e-4 * fabs(pa));
        }
        worst_all = fmax(worst_all, worst);
        if (t == CW_CMVAE_FC1_W || t == CW_CMVAE_FC1_B || t == CW_CMVAE_D2_W)
            printf("    %-15s worst |dense - sparse| %.2e\n", dense.table.names[t], worst);
    }
    printf("  cmvae%s: %d steps, loss terms worst rel diff %.2e, parameters worst abs diff %.2e\n",
           extra ? " + extra inputs" : "", STEPS, worst_loss, worst_all);
    cw_cmvae_free(&dense);
    cw_cmvae_free(&sparse);
}

static void test_steps_sparse_match_dense(void **state) {
    (void)state;
    run_pair(0);
}

static void test_steps_sparse_match_dense_extra(void **state) {
    (void)state;
    run_pair(SE);
}

/* ---- the setter -------------------------------------------------------------------------- */

static void test_setter(void **state) {
    (void)state;
    cw_cmvae m, unused;
    init_pair(&m, &unused, 0);
    cw_cmvae_free(&unused);
    static float x[SB * SG], y[SB * SG], eps[SB * SZ];
    cw_rng r;
    cw_rng_seed(&r, 33);
    sparse_fill(&r, x, SB, SG, 0.8, 0, 0, 0);
    sparse_fill(&r, y, SB, SG, 0.8, 0, 0, 0);
    for (int64_t i = 0; i < SB * SZ; i++) eps[i] = (float)cw_rng_normal(&r);
    cw_csr xs, bad;
    assert_int_equal(cw_csr_from_dense(&xs, x, SB, SG), CW_OK);
    assert_int_equal(cw_csr_from_dense(&bad, x, SB - 1, SG), CW_OK);
    const cw_cmvae_sched w = {1.0, 0.5, 1.0};
    const cw_cmvae_noise nz = {eps, NULL};
    assert_int_equal(cw_cmvae_set_x_csr(&m, &bad), CW_EINVAL); /* rows != B */
    assert_null(m.x_csr_next);
    assert_int_equal(cw_cmvae_set_x_csr(&m, &xs), CW_OK);
    assert_int_equal(cw_cmvae_set_x_csr(&m, NULL), CW_OK); /* cleared */
    assert_int_equal(cw_cmvae_forward(&m, x, NULL, y, 0, -1, &nz, NULL, w, NULL), CW_OK);
    assert_null(m.x_csr);
    assert_int_equal(cw_cmvae_set_x_csr(&m, &xs), CW_OK);
    assert_int_equal(cw_cmvae_forward(&m, x, NULL, y, 0, -1, &nz, NULL, w, NULL), CW_OK);
    assert_true(m.x_csr == &xs); /* taken by this forward ... */
    assert_int_equal(cw_cmvae_forward(&m, x, NULL, y, 0, -1, &nz, NULL, w, NULL), CW_OK);
    assert_null(m.x_csr); /* ... and by no later one */
    /* a failing call takes it too (no stale pointer left for a later batch) */
    assert_int_equal(cw_cmvae_set_x_csr(&m, &xs), CW_OK);
    assert_int_equal(cw_cmvae_forward(&m, x, NULL, y, SC, -1, &nz, NULL, w, NULL), CW_EINVAL);
    assert_null(m.x_csr_next);
    cw_csr_free(&xs);
    cw_csr_free(&bad);
    cw_cmvae_free(&m);
}

/* the trainer's choice of fc1 input: CSR only for a model that takes it and an X that stores
 * fewer than CW_CMVAE_CSR_MAX_FRACTION of its values (cw_xstore_stored_fraction of a CSR X) */
static void test_csr_choice(void **state) {
    (void)state;
    cw_cmvae m, unused;
    init_pair(&m, &unused, 0);
    cw_cmvae_free(&unused);
    assert_true(cw_cmvae_csr_input_pays(&m, 0.0));
    assert_true(cw_cmvae_csr_input_pays(&m, 0.05));
    assert_false(cw_cmvae_csr_input_pays(&m, CW_CMVAE_CSR_MAX_FRACTION));
    assert_false(cw_cmvae_csr_input_pays(&m, 0.2));
    m.cfg.kind = CW_MODEL_SENA; /* its fc1 is masked: never CSR */
    assert_false(cw_cmvae_csr_input_pays(&m, 0.0));
    m.cfg.kind = CW_MODEL_CMVAE;
    cw_cmvae_free(&m);
    /* 3 of 4 x 5 values stored; an empty X counts as dense */
    static const float x[20] = {0, 1, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0};
    cw_csr xs, none;
    assert_int_equal(cw_csr_from_dense(&xs, x, 4, 5), CW_OK);
    assert_int_equal(cw_csr_from_dense(&none, x, 0, 5), CW_OK);
    cw_xstore st;
    cw_xstore_wrap(&st, &xs);
    assert_true(fabs(cw_xstore_stored_fraction(&st) - 0.15) < 1e-12);
    cw_xstore_wrap(&st, &none);
    assert_true(cw_xstore_stored_fraction(&st) == 1.0);
    cw_csr_free(&xs);
    cw_csr_free(&none);
}

/* the gradient reset fused into Adam: a backward outside train_step (gradients left non-zero)
 * followed by train_step gives the same step as from zeroed gradients */
static void test_fused_zero_grad(void **state) {
    (void)state;
    cw_cmvae a, b;
    init_pair(&a, &b, 0);
    static float x[SB * SG], y[SB * SG], eps[SB * SZ];
    cw_rng r;
    cw_rng_seed(&r, 34);
    sparse_fill(&r, x, SB, SG, 0.5, 0, 0, 0);
    sparse_fill(&r, y, SB, SG, 0.5, 0, 0, 0);
    for (int64_t i = 0; i < SB * SZ; i++) eps[i] = (float)cw_rng_normal(&r);
    const cw_cmvae_sched w = {1.0, 0.5, 1.0};
    const cw_cmvae_noise nz = {eps, NULL};
    assert_true(a.grads_zero && b.grads_zero);
    assert_int_equal(cw_cmvae_forward(&b, x, NULL, y, 1, -1, &nz, NULL, w, NULL), CW_OK);
    cw_cmvae_backward(&b); /* b's gradients now hold a stray backward */
    assert_false(b.grads_zero);
    for (int s = 0; s < 3; s++) {
        assert_int_equal(cw_cmvae_train_step(&a, x, NULL, y, s, -1, &nz, NULL, w, NULL), CW_OK);
        assert_int_equal(cw_cmvae_train_step(&b, x, NULL, y, s, -1, &nz, NULL, w, NULL), CW_OK);
        assert_true(a.grads_zero && b.grads_zero);
        for (int64_t i = 0; i < a.table.total; i++) assert_true(a.grads[i] == 0);
    }
    assert_memory_equal(a.params, b.params, (size_t)a.table.total * sizeof(float));
    cw_cmvae_free(&a);
    cw_cmvae_free(&b);
}

/* cw_adam_update_zero_grad: the same bits as cw_adam_update, gradients left 0 (both below and
 * above the OpenMP threshold) */
static void test_adam_zero_grad_bitwise(void **state) {
    (void)state;
    const int64_t sizes[2] = {37, CW_OMP_MIN_ELEMS + 5};
    for (int c = 0; c < 2; c++) {
        const int64_t n = sizes[c];
        float *buf = calloc((size_t)(8 * n), sizeof(float));
        assert_non_null(buf);
        float *p1 = buf, *g1 = p1 + n, *m1 = g1 + n, *v1 = m1 + n;
        float *p2 = v1 + n, *g2 = p2 + n, *m2 = g2 + n, *v2 = m2 + n;
        cw_rng r;
        cw_rng_seed(&r, 35);
        for (int64_t i = 0; i < n; i++) p1[i] = p2[i] = (float)cw_rng_normal(&r);
        for (int t = 1; t <= 4; t++) {
            for (int64_t i = 0; i < n; i++) g1[i] = g2[i] = (float)(cw_rng_normal(&r) * 1e-2);
            g1[0] = g2[0] = 0;
            cw_adam_update(p1, g1, m1, v1, n, 1e-3, CW_ADAM_BETA1, CW_ADAM_BETA2, CW_ADAM_EPS, t);
            cw_adam_update_zero_grad(p2, g2, m2, v2, n, 1e-3, CW_ADAM_BETA1, CW_ADAM_BETA2,
                                     CW_ADAM_EPS, t);
            assert_memory_equal(p1, p2, (size_t)n * sizeof(float));
            assert_memory_equal(m1, m2, (size_t)n * sizeof(float));
            assert_memory_equal(v1, v2, (size_t)n * sizeof(float));
            for (int64_t i = 0; i < n; i++) assert_true(g2[i] == 0);
        }
        free(buf);
    }
}

static void test_mmd_set_dx_bitwise(void **state) {
    (void)state;
    enum { N = 6, M = 5, D = 37 };
    static real x[N * D], y[M * D], dist[(N + M) * (N + M)], scr[(N + M) * (N + M)];
    static real d1[N * D], d2[N * D], dy1[M * D], dy2[M * D];
    cw_rng r;
    cw_rng_seed(&r, 36);
    for (int64_t i = 0; i < N * D; i++)
        x[i] = (real)(cw_rng_uniform(&r) < 0.3 ? 0 : cw_rng_normal(&r));
    for (int64_t i = 0; i < M * D; i++) y[i] = (real)cw_rng_normal(&r);
    (void)cw_mmd_forward(dist, x, y, N, M, D, 3.0, 10);
    memset(d1, 0, sizeof d1);
    for (int64_t i = 0; i < N * D; i++) d2[i] = NAN; /* overwritten, never read */
    for (int64_t i = 0; i < M * D; i++) dy1[i] = dy2[i] = 0.5f;
    cw_mmd_backward(d1, dy1, scr, 0.7, x, y, dist, N, M, D, 3.0, 10);
    cw_mmd_backward_set_dx(d2, dy2, scr, 0.7, x, y, dist, N, M, D, 3.0, 10);
    assert_memory_equal(d1, d2, sizeof d1);
    assert_memory_equal(dy1, dy2, sizeof dy1); /* dy still accumulates */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels),
        cmocka_unit_test(test_kernels_threads),
        cmocka_unit_test(test_steps_sparse_match_dense),
        cmocka_unit_test(test_steps_sparse_match_dense_extra),
        cmocka_unit_test(test_setter),
        cmocka_unit_test(test_csr_choice),
        cmocka_unit_test(test_fused_zero_grad),
        cmocka_unit_test(test_adam_zero_grad_bitwise),
        cmocka_unit_test(test_mmd_set_dx_bitwise),
    };
    return cmocka_run_group_tests_name("cmvae_sparse", tests, NULL, NULL);
}
