/* test_gemm_small.c: the AVX-512 small-row GEMM kernels (nn/gemm_small.h) against a double
 * reference, on every transpose case, tails of every register tile, padded leading dimensions,
 * alpha and beta, K chunks (B not transposed) and K splits (both); that beta 0 never reads
 * C, that padding is never written, that the bits do not depend on the thread count or (without
 * a K split) on m, that the dispatch refuses what it should and that the switch works. On a CPU
 * without AVX-512 the kernels refuse every product: the tests check that and skip the rest. */
#include "test_util.h"

#include "core/rng.h"
#include "nn/gemm_small.h"
#include "nn/real.h"

#include <math.h>
#include <omp.h>

static void *xcalloc(size_t n, size_t s) {
    void *p = calloc(n ? n : 1, s);
    assert_non_null(p);
    return p;
}

static void fill(cw_rng *r, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = (float)(2 * cw_rng_uniform(r) - 1);
}

typedef struct {
    int ta, tb;
    int64_t m, n, k, lda, ldb, ldc;
    float *a, *b, *c0;
} prob;

/* a problem with leading dimensions 3 past the minimum, everything random */
static prob make(cw_rng *r, int ta, int tb, int64_t m, int64_t n, int64_t k) {
    prob p = {ta, tb, m, n, k, (ta ? m : k) + 3, (tb ? k : n) + 3, n + 3, NULL, NULL, NULL};
    p.a = xcalloc((size_t)((ta ? k : m) * p.lda), sizeof(float));
    p.b = xcalloc((size_t)((tb ? n : k) * p.ldb), sizeof(float));
    p.c0 = xcalloc((size_t)(m * p.ldc), sizeof(float));
    fill(r, p.a, (ta ? k : m) * p.lda);
    fill(r, p.b, (tb ? n : k) * p.ldb);
    fill(r, p.c0, m * p.ldc);
    return p;
}

static void drop(prob *p) {
    free(p->a);
    free(p->b);
    free(p->c0);
}

static float opa(const prob *p, int64_t i, int64_t l) {
    return p->ta ? p->a[l * p->lda + i] : p->a[i * p->lda + l];
}
static float opb(const prob *p, int64_t l, int64_t j) {
    return p->tb ? p->b[j * p->ldb + l] : p->b[l * p->ldb + j];
}

/* runs the kernels on a copy of c0 into c (m ldc floats); 1 when they took the product */
static int run(const prob *p, float alpha, float beta, float *c) {
    memcpy(c, p->c0, (size_t)(p->m * p->ldc) * sizeof(float));
    return cw_gemm_small(p->ta, p->tb, p->m, p->n, p->k, alpha, p->a, p->lda, p->b, p->ldb, beta,
                         c, p->ldc);
}

/* every element within the float bound of a k-term sum (k + 2 roundings of at most 2^-24 of
 * sum |a b|, plus beta c), padding untouched; returns the worst error / bound */
static double check(const prob *p, float alpha, float beta, const float *c) {
    double worst = 0;
    for (int64_t i = 0; i < p->m; i++) {
        for (int64_t j = 0; j < p->n; j++) {
            double s = 0, mag = 0;
            for (int64_t l = 0; l < p->k; l++) {
                const double t = (double)opa(p, i, l) * (double)opb(p, l, j);
                s += t;
                mag += fabs(t);
            }
            const double c0 = beta != 0 ? p->c0[i * p->ldc + j] : 0; /* unread: may be NaN */
            const double ref = alpha * s + (beta != 0 ? beta * c0 : 0);
            const double bound = (double)(p->k + 3) * ldexp(1.0, -24) *
                                     (fabs(alpha) * mag + fabs(beta * c0)) +
                                 1e-30;
            const double err = fabs((double)c[i * p->ldc + j] - ref) / bound;
            if (!(err <= 1.0))
                fail_msg("ta %d tb %d m %ld n %ld k %ld: C[%ld][%ld] = %.9g, ref %.9g (%.2f x "
                         "bound)",
                         p->ta, p->tb, (long)p->m, (long)p->n, (long)p->k, (long)i, (long)j,
                         (double)c[i * p->ldc + j], ref, err);
            worst = err > worst ? err : worst;
        }
        for (int64_t j = p->n; j < p->ldc; j++) /* padding untouched */
            assert_memory_equal(c + i * p->ldc + j, p->c0 + i * p->ldc + j, sizeof(float));
    }
    return worst;
}

static int have_kernels(void) {
    if (cw_gemm_small_available()) return 1;
    /* no AVX-512 (or switched off in the environment): every product goes back to BLAS */
    float a[64] = {0}, b[64] = {0}, c[64] = {0};
    assert_int_equal(cw_gemm_small(0, 1, 8, 8, 8, 1, a, 8, b, 8, 0, c, 8), 0);
    return 0;
}

/* values on tails of every tile and chunk: m around 6- and 16-row blocks, n around 8-row and
 * 64-column tiles, k around the chunk and the K split; all four transpose cases */
static void test_values(void **state) {
    (void)state;
    if (!have_kernels()) skip();
    cw_rng r;
    cw_rng_seed(&r, 11);
    const int64_t ms[] = {8, 13, 16, 17, 31, 32, 33, 48, 63, 64};
    const int64_t ns[] = {1, 7, 8, 9, 17, 63, 64, 65, 130};
    const int64_t ks[] = {1, 5, 128, 255, 257, 600};
    double worst = 0;
    int taken = 0;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (size_t im = 0; im < sizeof ms / sizeof *ms; im++)
                for (size_t in = 0; in < sizeof ns / sizeof *ns; in++)
                    for (size_t ik = 0; ik < sizeof ks / sizeof *ks; ik++) {
                        const int64_t m = ms[im], n = ns[in], k = ks[ik];
                        prob p = make(&r, ta, tb, m, n, k);
                        float *c = xcalloc((size_t)(m * p.ldc), sizeof(float));
                        const float alpha = (im + in) % 2 ? 1.0f : -0.75f;
                        const float beta = ik % 3 == 0 ? 0.0f : ik % 3 == 1 ? 1.0f : 0.5f;
                        const int took = run(&p, alpha, beta, c);
                        /* B not transposed: only from CW_GEMM_SMALL_MIN_WORK_NN */
                        assert_int_equal(took, tb || m * n * k >= CW_GEMM_SMALL_MIN_WORK_NN);
                        if (took) {
                            const double w = check(&p, alpha, beta, c);
                            worst = w > worst ? w : worst;
                            taken++;
                        }
                        free(c);
                        drop(&p);
                    }
    print_message("  %d products through the kernels, worst error %.3f x the bound\n", taken,
                  worst);
    assert_true(taken > 500);
}

/* B not transposed from the minimum work up: K chunks (k > CW_GEMM_SMALL_KC), many panels, and
 * the long-K shapes of the training step, against the bound */
static void test_large(void **state) {
    (void)state;
    if (!have_kernels()) skip();
    cw_rng r;
    cw_rng_seed(&r, 12);
    const int64_t shapes[][5] = {
        /* ta, tb, m, n, k */
        {0, 0, 32, 128, 5000}, /* decoder: d_a = dpre W2, K split */
        {0, 0, 32, 5000, 32},  /* MMD backward */
        {1, 0, 19, 300, 700},  /* op(A) transposed, K chunks, tails */
        {1, 0, 40, 100, 3000}, /* op(A) transposed, K split, tails */
        {0, 1, 32, 128, 5000}, /* encoder fc1 forward: K split */
        {0, 1, 64, 5000, 128}, /* decoder d2 forward, both branches */
        {1, 1, 33, 70, 2600},  /* op(A) transposed, K split */
    };
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        prob p = make(&r, (int)shapes[s][0], (int)shapes[s][1], shapes[s][2], shapes[s][3],
                      shapes[s][4]);
        float *c = xcalloc((size_t)(p.m * p.ldc), sizeof(float));
        assert_int_equal(run(&p, 0.5f, 1.0f, c), 1);
        const double w = check(&p, 0.5f, 1.0f, c);
        print_message("  ta %d tb %d (%ld, %ld, %ld): worst error %.3f x the bound\n", p.ta, p.tb,
                      (long)p.m, (long)p.n, (long)p.k, w);
        free(c);
        drop(&p);
    }
}

/* beta 0 never reads C: NaN there does not leak into the result (K in one piece and split) */
static void test_beta0_ignores_c(void **state) {
    (void)state;
    if (!have_kernels()) skip();
    cw_rng r;
    cw_rng_seed(&r, 13);
    for (int v = 0; v < 4; v++) {
        const int tb = v & 1, split = v >> 1;
        prob p = make(&r, 0, tb, 40, split ? 100 : 200, split ? 3000 : 300);
        assert_int_equal(cw_gemm_small_kchunks(p.m, p.n, p.k) > 1, split);
        for (int64_t i = 0; i < p.m; i++)
            for (int64_t j = 0; j < p.n; j++) p.c0[i * p.ldc + j] = NAN;
        float *c = xcalloc((size_t)(p.m * p.ldc), sizeof(float));
        assert_int_equal(run(&p, 1.0f, 0.0f, c), 1);
        for (int64_t i = 0; i < p.m; i++)
            for (int64_t j = 0; j < p.n; j++) assert_true(isfinite(c[i * p.ldc + j]));
        check(&p, 1.0f, 0.0f, c);
        free(c);
        drop(&p);
    }
}

/* the same bits on 1, 2 and 3 threads; and (no K split) the rows of a part of op(A) get the
 * bits they get in the whole product */
static void test_bits_invariant(void **state) {
    (void)state;
    if (!have_kernels()) skip();
    cw_rng r;
    cw_rng_seed(&r, 14);
    const int saved = omp_get_max_threads();
    int same_rows = 0;
    const int64_t shapes[][5] = {{0, 0, 64, 5000, 32}, {0, 0, 32, 128, 5000},
                                 {0, 1, 64, 5000, 128}, {0, 1, 32, 128, 5000},
                                 {1, 1, 48, 900, 300}};
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        prob p = make(&r, (int)shapes[s][0], (int)shapes[s][1], shapes[s][2], shapes[s][3],
                      shapes[s][4]);
        const size_t bytes = (size_t)(p.m * p.ldc) * sizeof(float);
        float *c1 = xcalloc(bytes, 1), *ct = xcalloc(bytes, 1);
        omp_set_num_threads(1);
        assert_int_equal(run(&p, 1.0f, 1.0f, c1), 1);
        for (int t = 2; t <= 3; t++) {
            omp_set_num_threads(t);
            assert_int_equal(run(&p, 1.0f, 1.0f, ct), 1);
            assert_memory_equal(c1, ct, bytes);
        }
        /* rows [8, 8 + h) alone, h = m / 2, as a shard of the batch (or one branch of the
         * decoder) computes them: the same bits whenever cw_gemm_small_same_rows says so */
        const int64_t h = p.m / 2;
        if (cw_gemm_small_same_rows(p.tb, p.m, h, p.n, p.k)) {
            same_rows++;
            float *cs = xcalloc((size_t)(h * p.ldc), sizeof(float));
            memcpy(cs, p.c0 + 8 * p.ldc, (size_t)(h * p.ldc) * sizeof(float));
            const float *as = p.ta ? p.a + 8 : p.a + 8 * p.lda;
            assert_int_equal(cw_gemm_small(p.ta, p.tb, h, p.n, p.k, 1.0f, as, p.lda, p.b, p.ldb,
                                           1.0f, cs, p.ldc),
                             1);
            assert_memory_equal(cs, c1 + 8 * p.ldc, (size_t)(h * p.ldc) * sizeof(float));
            free(cs);
        }
        free(c1);
        free(ct);
        drop(&p);
    }
    omp_set_num_threads(saved);
    assert_int_equal(same_rows, 5); /* with and without K chunks, both transposes */
    /* the decoder's stacked d_a (64 rows against 32: 4 K chunks either way) qualifies; a product
     * whose K chunking changes with the row count (12,800 outputs against 6,400) does not */
    assert_true(cw_gemm_small_same_rows(0, 64, 32, 128, 5000));
    assert_false(cw_gemm_small_same_rows(0, 64, 32, 200, 5000));
    assert_false(cw_gemm_small_same_rows(0, 64, 32, 105, 128)); /* 32 rows: BLAS's */
    assert_false(cw_gemm_small_same_rows(1, 64, 4, 128, 128));  /* 4 rows, B transposed: BLAS's */
}

/* what the dispatch refuses, and the switch */
static void test_dispatch(void **state) {
    (void)state;
    if (!have_kernels()) skip();
    float a[8] = {0}, b[8] = {0}, c[8] = {0};
    static float big[(CW_GEMM_SMALL_MAX_M + 1) * 64];
    /* too many rows, too few for the transposed kernel, empty sides */
    assert_int_equal(cw_gemm_small(0, 1, CW_GEMM_SMALL_MAX_M + 1, 8, 8, 1, big, 8, big, 8, 0,
                                   big, 8),
                     0);
    assert_int_equal(cw_gemm_small(0, 1, CW_GEMM_SMALL_MIN_M_NT - 1, 8, 1, 1, a, 1, b, 1, 0, c, 8),
                     0);
    assert_int_equal(cw_gemm_small(0, 0, 0, 8, 8, 1, a, 8, b, 8, 0, c, 8), 0);
    assert_int_equal(cw_gemm_small(0, 1, 8, 0, 8, 1, big, 8, b, 8, 0, c, 8), 0);
    assert_int_equal(cw_gemm_small(0, 1, 8, 8, 0, 1, big, 8, big, 8, 0, big, 8), 0);
    /* switched off: BLAS; back on */
    assert_int_equal(cw_gemm_small_set(0), 1);
    assert_int_equal(cw_gemm_small_available(), 0);
    assert_int_equal(cw_gemm_small(0, 1, 8, 8, 8, 1, big, 8, big, 8, 0, big + 256, 8), 0);
    assert_int_equal(cw_gemm_small_set(1), 0);
    assert_int_equal(cw_gemm_small(0, 1, 8, 8, 8, 1, big, 8, big, 8, 0, big + 256, 8), 1);
}

/* cw_gemm through the kernels and through BLAS agree within the bound */
static void test_cw_gemm_both_paths(void **state) {
    (void)state;
    if (!have_kernels()) skip();
    cw_rng r;
    cw_rng_seed(&r, 15);
    prob p = make(&r, 0, 1, 64, 5000, 128);
    const size_t bytes = (size_t)(p.m * p.ldc) * sizeof(float);
    float *c = xcalloc(bytes, 1);
    for (int on = 0; on < 2; on++) {
        cw_gemm_small_set(on);
        memcpy(c, p.c0, bytes);
        cw_gemm(0, 1, p.m, p.n, p.k, 1.0f, p.a, p.lda, p.b, p.ldb, 1.0f, c, p.ldc);
        check(&p, 1.0f, 1.0f, c);
    }
    cw_gemm_small_set(1);
    free(c);
    drop(&p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_large),
        cmocka_unit_test(test_beta0_ignores_c),
        cmocka_unit_test(test_bits_invariant),
        cmocka_unit_test(test_dispatch),
        cmocka_unit_test(test_cw_gemm_both_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
