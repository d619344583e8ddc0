/* test_crl_dag.c: the DAG utilities of the score-based CRL layer (src/crl/dag_ops.c, spec
 * §A2.1, §A4.7, §A5): closest DAG by subset DP against brute force over all n! orders, random
 * DAG density and order, topological order, closure / reduction, surrounding parents, SHD,
 * precision / recall, permutation. */
#include "test_util.h"

#include "core/rng.h"
#include "crl/dag_ops.h"

#include <math.h>

enum { NMAX = 8 };

/* brute force: all orders in lexicographic order; the first strict improvement wins, so the
 * result is the lexicographically smallest optimal order */
typedef struct {
    const uint8_t *adj;
    int64_t n;
    int64_t cur[NMAX], best_order[NMAX];
    int used[NMAX];
    int64_t best;
} brute_t;

static void brute_rec(brute_t *b, int64_t pos, int64_t fwd) {
    if (pos >= b->n || pos >= NMAX) {
        if (fwd > b->best) {
            b->best = fwd;
            memcpy(b->best_order, b->cur, sizeof b->cur);
        }
        return;
    }
    for (int64_t v = 0; v < b->n; v++) {
        if (b->used[v]) continue;
        int64_t add = 0;
        for (int64_t p = 0; p < pos; p++) add += b->adj[b->cur[p] * b->n + v] != 0;
        b->used[v] = 1;
        b->cur[pos] = v;
        brute_rec(b, pos + 1, fwd + add);
        b->used[v] = 0;
    }
}

static int64_t brute_closest(int64_t *order, const uint8_t *adj, int64_t n) {
    brute_t b;
    memset(&b, 0, sizeof b);
    b.adj = adj;
    b.n = n;
    b.best = -1;
    brute_rec(&b, 0, 0);
    memcpy(order, b.best_order, (size_t)n * sizeof *order);
    return b.best;
}

static void test_closest_matches_brute_force(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 11);
    int cyclic = 0;
    for (int trial = 0; trial < 240; trial++) {
        int64_t n = 1 + cw_rng_below(&r, NMAX);
        double p = 0.1 + 0.8 * cw_rng_uniform(&r);
        uint8_t adj[NMAX * NMAX], out[NMAX * NMAX], nodiag[NMAX * NMAX];
        for (int64_t i = 0; i < n * n; i++) adj[i] = cw_rng_uniform(&r) < p;
        /* the diagonal is ignored on input: compare with a diagonal-free copy */
        memcpy(nodiag, adj, sizeof adj);
        for (int64_t i = 0; i < n; i++) nodiag[i * n + i] = 0;
        cyclic += !cw_dag_is_acyclic(adj, n);
        int64_t order[NMAX], border[NMAX];
        assert_int_equal(cw_dag_closest(out, order, adj, n), CW_OK);
        int64_t best = brute_closest(border, nodiag, n);
        assert_int_equal(cw_dag_edge_count(out, n), best);
        /* tie rule: the lexicographically smallest optimal order */
        for (int64_t k = 0; k < n; k++) assert_int_equal(order[k], border[k]);
        assert_true(cw_dag_is_acyclic(out, n));
        int64_t pos[NMAX];
        for (int64_t k = 0; k < n; k++) pos[order[k]] = k;
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j < n; j++) {
                if (out[i * n + j]) {
                    assert_true(nodiag[i * n + j]); /* subgraph of the input, no diagonal */
                    assert_true(pos[i] < pos[j]);   /* agrees with the order */
                }
                if (nodiag[i * n + j] && pos[i] < pos[j]) assert_true(out[i * n + j]);
            }
        /* order may be NULL */
        uint8_t out2[NMAX * NMAX];
        assert_int_equal(cw_dag_closest(out2, NULL, adj, n), CW_OK);
        assert_memory_equal(out, out2, (size_t)(n * n));
    }
    assert_true(cyclic > 100); /* the sample really exercises cyclic inputs */
}

static void test_closest_keeps_dags(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 12);
    enum { N = 16 };
    static uint8_t adj[N * N], out[N * N];
    for (int trial = 0; trial < 20; trial++) {
        int64_t n = trial < 10 ? 1 + cw_rng_below(&r, NMAX) : N;
        cw_dag_random(adj, NULL, n, cw_rng_uniform(&r), 1, &r);
        assert_int_equal(cw_dag_closest(out, NULL, adj, n), CW_OK);
        assert_memory_equal(adj, out, (size_t)(n * n));
    }
    assert_int_equal(cw_dag_closest(out, NULL, adj, 25), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "24"));
}

static void test_random_dag(void **state) {
    (void)state;
    cw_rng r;
    cw_rng_seed(&r, 13);
    enum { N = 10, DRAWS = 2000 };
    uint8_t adj[N * N], adj2[N * N];
    int64_t order[N];
    const double fills[3] = {0.2, 0.5, 0.8};
    for (int f = 0; f < 3; f++) {
        int64_t edges = 0, first[N] = {0};
        for (int d = 0; d < DRAWS; d++) {
            cw_dag_random(adj, order, N, fills[f], 1, &r);
            edges += cw_dag_edge_count(adj, N);
            int64_t pos[N];
            int seen[N] = {0};
            for (int64_t k = 0; k < N; k++) {
                assert_true(order[k] >= 0 && order[k] < N);
                assert_int_equal(seen[order[k]]++, 0);
                pos[order[k]] = k;
            }
            first[order[0]]++;
            for (int64_t i = 0; i < N; i++) {
                assert_int_equal(adj[i * N + i], 0);
                for (int64_t j = 0; j < N; j++)
                    if (adj[i * N + j]) assert_true(pos[i] < pos[j]);
            }
        }
        double density = (double)edges / (DRAWS * (N * (N - 1) / 2.0));
        /* sd of the estimate ~ sqrt(.25 / 90000) = 0.0017 */
        assert_true(fabs(density - fills[f]) < 0.01);
        /* the first node of the order is uniform over the nodes (expected 200 each) */
        for (int64_t v = 0; v < N; v++) assert_true(first[v] > 130 && first[v] < 270);
    }
    /* identity order: strictly upper triangular; clamping; order NULL draws the same graph */
    cw_dag_random(adj, order, N, 0.5, 0, &r);
    for (int64_t i = 0; i < N; i++) {
        assert_int_equal(order[i], i);
        for (int64_t j = 0; j <= i; j++) assert_int_equal(adj[i * N + j], 0);
    }
    cw_dag_random(adj, NULL, N, 1.7, 1, &r);
    assert_int_equal(cw_dag_edge_count(adj, N), N * (N - 1) / 2);
    cw_dag_random(adj, NULL, N, -0.3, 1, &r);
    assert_int_equal(cw_dag_edge_count(adj, N), 0);
    cw_rng a, b;
    cw_rng_seed(&a, 5);
    cw_rng_seed(&b, 5);
    cw_dag_random(adj, order, N, 0.4, 1, &a);
    cw_dag_random(adj2, NULL, N, 0.4, 1, &b);
    assert_memory_equal(adj, adj2, sizeof adj);
}

static void test_topological_order(void **state) {
    (void)state;
    /* 3 -> 1, 1 -> 0, 2 -> 0: ready {2, 3}: 2, then 3, then 1, then 0 */
    uint8_t g[16] = {0};
    g[3 * 4 + 1] = g[1 * 4 + 0] = g[2 * 4 + 0] = 1;
    g[2 * 4 + 2] = 1; /* a self loop is ignored */
    int64_t order[4];
    assert_int_equal(cw_dag_topological_order(order, g, 4), CW_OK);
    const int64_t want[4] = {2, 3, 1, 0};
    for (int k = 0; k < 4; k++) assert_int_equal(order[k], want[k]);
    assert_true(cw_dag_is_acyclic(g, 4));
    g[0 * 4 + 3] = 1; /* 0 -> 3 closes 3 -> 1 -> 0 -> 3 */
    assert_false(cw_dag_is_acyclic(g, 4));
    assert_int_equal(cw_dag_topological_order(order, g, 4), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "cycle"));
    /* random DAGs: the order is topological */
    cw_rng r;
    cw_rng_seed(&r, 14);
    uint8_t adj[64];
    for (int t = 0; t < 50; t++) {
        cw_dag_random(adj, NULL, 8, 0.5, 1, &r);
        int64_t o[8], pos[8];
        assert_int_equal(cw_dag_topological_order(o, adj, 8), CW_OK);
        for (int k = 0; k < 8; k++) pos[o[k]] = k;
        for (int i = 0; i < 8; i++)
            for (int j = 0; j < 8; j++)
                if (adj[i * 8 + j]) assert_true(pos[i] < pos[j]);
    }
}

static void test_closure_reduction(void **state) {
    (void)state;
    /* chain 0 -> 1 -> 2 -> 3 */
    uint8_t chain[16] = {0}, c[16], red[16];
    chain[1] = chain[6] = chain[11] = 1;
    cw_dag_transitive_closure(c, chain, 4);
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) assert_int_equal(c[i * 4 + j], i < j);
    cw_dag_transitive_reduction(red, c, 4);
    assert_memory_equal(red, chain, 16);
    /* diamond 0 -> {1, 2} -> 3 plus the shortcut 0 -> 3 */
    uint8_t dia[16] = {0};
    dia[0 * 4 + 1] = dia[0 * 4 + 2] = dia[1 * 4 + 3] = dia[2 * 4 + 3] = dia[0 * 4 + 3] = 1;
    cw_dag_transitive_reduction(red, dia, 4);
    uint8_t want[16];
    memcpy(want, dia, 16);
    want[0 * 4 + 3] = 0;
    assert_memory_equal(red, want, 16);
    cw_dag_transitive_closure(c, dia, 4);
    assert_memory_equal(c, dia, 16); /* the diamond with shortcut is already closed */
    /* random DAGs: reduction <= adj, closure(reduction) == closure(adj), idempotent */
    cw_rng r;
    cw_rng_seed(&r, 15);
    enum { N = 9 };
    uint8_t adj[N * N], c1[N * N], c2[N * N], r1[N * N], r2[N * N];
    int64_t removed = 0;
    for (int t = 0; t < 100; t++) {
        cw_dag_random(adj, NULL, N, cw_rng_uniform(&r), 1, &r);
        cw_dag_transitive_reduction(r1, adj, N);
        for (int i = 0; i < N * N; i++)
            if (r1[i]) assert_true(adj[i]);
        removed += cw_dag_edge_count(adj, N) - cw_dag_edge_count(r1, N);
        cw_dag_transitive_closure(c1, adj, N);
        cw_dag_transitive_closure(c2, r1, N);
        assert_memory_equal(c1, c2, sizeof c1);
        cw_dag_transitive_reduction(r2, c1, N); /* reduction of the closure is the same */
        assert_memory_equal(r1, r2, sizeof r1);
        /* closure by repeated squaring as an independent check */
        uint8_t p[N * N];
        memcpy(p, adj, sizeof p);
        for (int rep = 0; rep < N; rep++)
            for (int i = 0; i < N; i++)
                for (int j = 0; j < N; j++)
                    for (int k = 0; k < N; k++)
                        if (p[i * N + k] && adj[k * N + j]) p[i * N + j] = 1;
        assert_memory_equal(p, c1, sizeof p);
    }
    assert_true(removed > 100);
}

static void test_surrounding(void **state) {
    (void)state;
    /* 0 -> 1, 1 -> 2, 0 -> 2, 3 -> 1.
     * node 1: pa {0, 3}, ch(1) = {2}; ch(0) = {1, 2} contains it, ch(3) = {1} does not.
     * node 2: pa {0, 1}, ch(2) = {} : both surround. */
    uint8_t g[16] = {0}, s[16], want[16] = {0};
    g[0 * 4 + 1] = g[1 * 4 + 2] = g[0 * 4 + 2] = g[3 * 4 + 1] = 1;
    cw_dag_surrounding(s, g, 4);
    want[0 * 4 + 1] = want[0 * 4 + 2] = want[1 * 4 + 2] = 1;
    assert_memory_equal(s, want, 16);
    /* a chain has only the last edge surrounding */
    uint8_t chain[9] = {0, 1, 0, 0, 0, 1, 0, 0, 0}, s3[9];
    cw_dag_surrounding(s3, chain, 3);
    const uint8_t w3[9] = {0, 0, 0, 0, 0, 1, 0, 0, 0};
    assert_memory_equal(s3, w3, 9);
}

static void test_shd_precision_recall(void **state) {
    (void)state;
    /* truth 0 -> 1 -> 2 */
    const uint8_t t[9] = {0, 1, 0, 0, 0, 1, 0, 0, 0};
    uint8_t e[9];
    memcpy(e, t, 9);
    assert_int_equal(cw_dag_shd(t, e, 3), 0);
    assert_int_equal(cw_dag_shd_directed(t, e, 3), 0);
    e[0 * 3 + 2] = 1; /* addition */
    assert_int_equal(cw_dag_shd(t, e, 3), 1);
    assert_int_equal(cw_dag_shd_directed(t, e, 3), 1);
    memcpy(e, t, 9);
    e[1 * 3 + 2] = 0; /* deletion */
    assert_int_equal(cw_dag_shd(t, e, 3), 1);
    assert_int_equal(cw_dag_shd_directed(t, e, 3), 1);
    memcpy(e, t, 9);
    e[0 * 3 + 1] = 0;
    e[1 * 3 + 0] = 1; /* reversal */
    assert_int_equal(cw_dag_shd(t, e, 3), 1);
    assert_int_equal(cw_dag_shd_directed(t, e, 3), 2);
    e[1 * 3 + 2] = 0;
    e[0 * 3 + 2] = 1; /* reversal + deletion + addition */
    assert_int_equal(cw_dag_shd(t, e, 3), 3);
    assert_int_equal(cw_dag_shd_directed(t, e, 3), 4);
    e[0] = 1; /* diagonal ignored */
    assert_int_equal(cw_dag_shd(t, e, 3), 3);

    double p, rc;
    const uint8_t e2[9] = {0, 1, 1, 0, 0, 0, 0, 0, 0}; /* 0->1 (TP), 0->2 (FP), 1->2 missed */
    cw_dag_precision_recall(&p, &rc, t, e2, 3, 0.0);
    assert_true(fabs(p - 0.5) < 1e-15 && fabs(rc - 0.5) < 1e-15);
    const uint8_t e3[9] = {0, 1, 0, 0, 0, 1, 1, 0, 0}; /* TP 2, FP 1 */
    cw_dag_precision_recall(&p, &rc, t, e3, 3, 0.0);
    assert_true(fabs(p - 2.0 / 3.0) < 1e-15 && fabs(rc - 1.0) < 1e-15);
    const uint8_t none[9] = {0};
    cw_dag_precision_recall(&p, &rc, none, none, 3, 0.0); /* 0/0 both */
    assert_true(p == 0.0 && rc == 0.0);
    cw_dag_precision_recall(&p, &rc, none, none, 3, 1.0);
    assert_true(p == 1.0 && rc == 1.0);
    cw_dag_precision_recall(&p, &rc, t, none, 3, 1.0); /* precision 0/0, recall 0/2 */
    assert_true(p == 1.0 && rc == 0.0);
}

static void test_permute(void **state) {
    (void)state;
    /* 2 -> 0 -> 1; order (2, 0, 1) gives the chain 0 -> 1 -> 2 */
    const uint8_t g[9] = {0, 1, 0, 0, 0, 0, 1, 0, 0};
    const int64_t order[3] = {2, 0, 1};
    uint8_t out[9];
    cw_dag_permute(out, g, order, 3);
    const uint8_t want[9] = {0, 1, 0, 0, 0, 1, 0, 0, 0};
    assert_memory_equal(out, want, 9);
    assert_int_equal(cw_dag_edge_count(g, 3), 2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closest_matches_brute_force),
        cmocka_unit_test(test_closest_keeps_dags),
        cmocka_unit_test(test_random_dag),
        cmocka_unit_test(test_topological_order),
        cmocka_unit_test(test_closure_reduction),
        cmocka_unit_test(test_surrounding),
        cmocka_unit_test(test_shd_precision_recall),
        cmocka_unit_test(test_permute),
    };
    return cmocka_run_group_tests_name("crl_dag", tests, NULL, NULL);
}
