/* test_interv_encoder.c: the graph-guided intervention encoders trivalue, trivalue-1hop and
 * dropedge (src/models/interv_encoder.h; spec grace_cmvae.md §4.5, §3.6, §4.8), in DOUBLE.
 *
 * Built like tests/test_nn_gradcheck.c: CW_REAL_DOUBLE is defined and the nn kernel .c files and
 * src/models/interv_encoder.c are #included, so the encoder is compiled in double in this
 * translation unit (the float objects of libcauseway.a are never pulled in: every symbol they
 * define is defined here; only core/ and data/graph.c come from the archive).
 *
 * Graph: 9 nodes, undirected edges 0-1 1-2 2-3 0-3 3-4 4-5 5-7 7-8, node 6 isolated; C = 4
 * targets at nodes 1, 4, 6, 1 (targets 0 and 3 share a node). The 1-hop subgraph of {1, 4, 6} is
 * nodes 0..6 (7 and 8 drop out, the neighbour-neighbour edges 0-3 and 2-3 stay). emb 3, hidden 4,
 * mlp_hidden 5, Z 3.
 *
 * Gradient check: parameters redrawn at O(1) scale, dropout 0.1 with train 1 and the rng reseeded
 * identically before every evaluation (fixed masks), tau 1.7, L = sum_j r_j bc_j + 0.7 eta (and,
 * with both slots, + sum_j r2_j bc2_j + 0.4 eta2: forward 0, forward 1, backward 0, backward 1,
 * so slot 0's backward fails if slot 1's forward overwrote anything it reads). Every parameter
 * element is checked by central differences (h 1e-5), rel = |a - n| / max(|a| + |n|, 1e-4) <
 * 1e-6, gradients prefilled with 0.25 (a backward that assigns instead of accumulating fails).
 * The remaining error is central differences' truncation error (it shrinks 100x from h 1e-4 to
 * 1e-5): LayerNorm over H = 4 features leaves some rows with a small spread (rstd ~ 5-9), and two
 * such layers in a row make the loss strongly curved. Over 21 redraw seeds the worst element of
 * any kind stayed below 8e-7 (typically 1e-7 to 3e-7); a missing residual or dropout-mask
 * gradient, a backward reading the other slot, or assignment instead of accumulation all fail.
 * Behaviour: dropedge's output for target k ignores the embeddings of node(k)'s neighbours (its
 * edges are gone) while trivalue's does not; train 0 is deterministic and equals train 1 when
 * dropout is 0; tau is clamped to [1e-3, 10]; parameter names, shapes and the §4.8 counts;
 * invalid input and every allocation failure of init are reported (no leaks under ASan).
 */
#include "double_build.h"

#include "test_util.h"

#include "core/alloc.h"
#include "core/rng.h"

#include <math.h>

#define GC_TAU 1.7
#define GC_SEED 99

enum { TN = 9, TC = 4, TEMB = 3, TH = 4, TMH = 5, TZ = 3 };

static const int64_t g_targets[TC] = {1, 4, 6, 1};

/* symmetric CSR of the test graph */
static void test_graph(int64_t *indptr, int32_t *indices) {
    static const int pairs[][2] = {{0, 1}, {1, 2}, {2, 3}, {0, 3}, {3, 4}, {4, 5}, {5, 7}, {7, 8}};
    const int np = (int)(sizeof pairs / sizeof pairs[0]);
    int deg[TN] = {0};
    for (int i = 0; i < np; i++) deg[pairs[i][0]]++, deg[pairs[i][1]]++;
    indptr[0] = 0;
    for (int v = 0; v < TN; v++) indptr[v + 1] = indptr[v] + deg[v];
    int64_t w = 0;
    for (int v = 0; v < TN; v++) /* rows in increasing column order */
        for (int u = 0; u < TN; u++)
            for (int i = 0; i < np; i++)
                if ((pairs[i][0] == v && pairs[i][1] == u) || (pairs[i][1] == v && pairs[i][0] == u))
                    indices[w++] = u;
    assert_int_equal(w, indptr[TN]);
}

typedef struct {
    cw_interv_encoder e;
    cw_param_spec specs[CW_INTERV_MAX_TENSORS];
    int64_t offset[CW_INTERV_MAX_TENSORS];
    int n;
    int64_t total;
    real *params, *grads;
    /* objective */
    int two_slots;
    int64_t k, k2;
    int train;
    real r[TZ], r2[TZ];
    real bc[TZ], bc2[TZ], eta, eta2;
} iv_ctx;

static void fill_u(cw_rng *r, real *a, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * cw_rng_uniform(r);
}

static void ctx_init(iv_ctx *c, cw_interv_kind kind, double dropout) {
    memset(c, 0, sizeof *c);
    int64_t indptr[TN + 1];
    int32_t indices[32];
    test_graph(indptr, indices);
    cw_interv_config cfg;
    cw_interv_config_default(&cfg, kind, TZ, TC, TMH);
    cfg.emb = TEMB;
    cfg.hidden = TH;
    cfg.dropout = dropout;
    assert_int_equal(cw_interv_encoder_init(&c->e, &cfg, TN, indptr, indices, g_targets), CW_OK);
    c->n = cw_interv_encoder_param_specs(&c->e, c->specs);
    for (int i = 0; i < c->n; i++) {
        c->offset[i] = c->total;
        c->total += c->specs[i].rows * c->specs[i].cols;
    }
    c->params = calloc((size_t)c->total, sizeof(real));
    c->grads = calloc((size_t)c->total, sizeof(real));
    assert_non_null(c->params);
    assert_non_null(c->grads);
    cw_interv_encoder_bind(&c->e, c->params, c->grads, c->offset);
    cw_rng rng;
    cw_rng_seed(&rng, 5);
    cw_interv_encoder_init_params(&c->e, &rng);
}

/* O(1) parameters: the default init leaves LayerNorm at gamma 1, beta 0, biases and
 * ptb_strength at 0, which would hide mistakes in their gradients */
static void ctx_redraw(iv_ctx *c, uint64_t seed) {
    cw_rng rng;
    cw_rng_seed(&rng, seed);
    for (int i = 0; i < c->n; i++) {
        real *p = c->e.p[i];
        const int64_t n = c->specs[i].rows * c->specs[i].cols;
        const char *name = c->specs[i].name;
        if (strstr(name, "ln1.weight") || strstr(name, "ln2.weight") || strstr(name, "eta_scale"))
            fill_u(&rng, p, n, 0.6, 1.5);
        else if (strstr(name, "node_emb"))
            for (int64_t j = 0; j < n; j++) p[j] = cw_rng_normal(&rng);
        else
            fill_u(&rng, p, n, -1, 1);
    }
    fill_u(&rng, c->r, TZ, -1, 1);
    fill_u(&rng, c->r2, TZ, -1, 1);
}

static void ctx_free(iv_ctx *c) {
    cw_interv_encoder_free(&c->e);
    free(c->params);
    free(c->grads);
}

static double ctx_loss(iv_ctx *c) {
    cw_rng rng;
    cw_rng_seed(&rng, GC_SEED);
    cw_interv_encoder_forward(&c->e, 0, c->k, GC_TAU, c->train, &rng, c->bc, &c->eta);
    double l = 0.7 * c->eta;
    for (int j = 0; j < TZ; j++) l += c->r[j] * c->bc[j];
    if (c->two_slots) {
        cw_interv_encoder_forward(&c->e, 1, c->k2, GC_TAU, c->train, &rng, c->bc2, &c->eta2);
        l += 0.4 * c->eta2;
        for (int j = 0; j < TZ; j++) l += c->r2[j] * c->bc2[j];
    }
    return l;
}

static double ctx_obj(void *c) { return ctx_loss(c); }

static double g_worst[4]; /* per kind */

/* analytic gradients (prefilled) then every element by central differences */
static void gradcheck(iv_ctx *c, const char *what) {
    for (int64_t i = 0; i < c->total; i++) c->grads[i] = GC_PREFILL;
    ctx_loss(c);
    cw_interv_encoder_backward(&c->e, 0, c->r, 0.7);
    if (c->two_slots) cw_interv_encoder_backward(&c->e, 1, c->r2, 0.4);
    double worst_case = 0;
    for (int t = 0; t < c->n; t++) {
        real *p = c->e.p[t];
        const real *g = c->e.g[t];
        const int64_t n = c->specs[t].rows * c->specs[t].cols;
        const gc_result r = gc_compare(ctx_obj, c, p, g, n, GC_FLOOR);
        if (r.worst >= GC_TOL || getenv("CW_VERBOSE"))
            printf("  %-14s %-22s %3lld elems  worst rel %.2e  [%lld] an %+.10f num %+.10f\n",
                   what, c->specs[t].name, (long long)n, r.worst, (long long)r.i, r.an, r.num);
        if (r.worst > worst_case) worst_case = r.worst;
        assert_true(r.worst < GC_TOL);
    }
    printf("  gradcheck %-14s %-13s worst rel %.2e\n", cw_interv_kind_name(c->e.cfg.kind), what,
           worst_case);
    if (worst_case > g_worst[c->e.cfg.kind]) g_worst[c->e.cfg.kind] = worst_case;
}

static void gradcheck_kind(cw_interv_kind kind) {
    iv_ctx c;
    ctx_init(&c, kind, 0.1);
    ctx_redraw(&c, 1 + (uint64_t)kind);
    c.train = 1;
    c.k = 0; /* node 1, with neighbours */
    gradcheck(&c, "single k=0");
    c.k = 1; /* node 4 */
    gradcheck(&c, "single k=1");
    c.two_slots = 1; /* the isolated node 6 and the node shared by targets 0 and 3 */
    c.k = 2;
    c.k2 = 3;
    gradcheck(&c, "slots k=2,3");
    c.k = 1;
    c.k2 = 0;
    gradcheck(&c, "slots k=1,0");
    /* with dropout on, some activations really were dropped */
    int64_t dropped = 0;
    for (int64_t i = 0; i < c.e.n_nodes * TH; i++) dropped += c.e.slot[0].mask1[i] == 0;
    assert_true(dropped > 0);
    ctx_free(&c);
}

static void test_gradcheck_trivalue(void **state) {
    (void)state;
    gradcheck_kind(CW_INTERV_TRIVALUE);
}

static void test_gradcheck_trivalue_1hop(void **state) {
    (void)state;
    gradcheck_kind(CW_INTERV_TRIVALUE_1HOP);
}

static void test_gradcheck_dropedge(void **state) {
    (void)state;
    gradcheck_kind(CW_INTERV_DROPEDGE);
}

/* ---- behaviour ---------------------------------------------------------------------------- */

static double max_abs_diff(const real *a, const real *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m;
}

/* changing node 0's embedding (a neighbour of target 0's node 1) moves trivalue's bc for target
 * 0, not dropedge's; node 5, 4 hops away, moves neither */
static void test_dropedge_removes_edges(void **state) {
    (void)state;
    for (int kind = CW_INTERV_TRIVALUE; kind <= CW_INTERV_DROPEDGE; kind += 2) {
        iv_ctx c;
        ctx_init(&c, (cw_interv_kind)kind, 0.1);
        ctx_redraw(&c, 77);
        c.train = 1;
        c.k = 0;
        real bc0[TZ], bc1[TZ];
        ctx_loss(&c);
        memcpy(bc0, c.bc, sizeof bc0);
        const double eta0 = c.eta;
        real *e0 = c.e.p[IV_EMB] + 0 * TEMB;
        for (int j = 0; j < TEMB; j++) e0[j] += 0.5;
        ctx_loss(&c);
        memcpy(bc1, c.bc, sizeof bc1);
        const double d = max_abs_diff(bc0, bc1, TZ);
        if (kind == CW_INTERV_DROPEDGE) {
            assert_true(d == 0);
            assert_true(c.eta == eta0);
        } else {
            assert_true(d > 1e-6);
        }
        /* node 5 is 4 hops from node 1: outside a 2-layer GCN's reach for either kind */
        real *e5 = c.e.p[IV_EMB] + 5 * TEMB;
        for (int j = 0; j < TEMB; j++) e5[j] -= 0.7;
        ctx_loss(&c);
        assert_true(max_abs_diff(bc1, c.bc, TZ) == 0);
        /* the edges of node 1 are dropped in both directions, nothing else */
        if (kind == CW_INTERV_DROPEDGE) {
            const cw_interv_slot *sl = &c.e.slot[0];
            for (int64_t v = 0; v < TN; v++)
                for (int64_t q = c.e.indptr[v]; q < c.e.indptr[v + 1]; q++) {
                    const int touches = v == 1 || c.e.indices[q] == 1;
                    assert_int_equal(sl->keep[q], !touches);
                    assert_true(touches ? sl->val[q] == 0 : sl->val[q] > 0);
                }
            assert_true(sl->diag[1] == 1);
            assert_true(fabs(sl->diag[0] - 0.5) < 1e-15); /* 0 keeps only its edge to 3 */
        }
        ctx_free(&c);
    }
}

static void test_train_eval(void **state) {
    (void)state;
    for (int kind = CW_INTERV_TRIVALUE; kind <= CW_INTERV_DROPEDGE; kind++) {
        cw_rng rng;
        real bca[TZ], bcb[TZ], bcc[TZ], etaa, etab, etac;
        /* dropout 0.1: train 0 is deterministic whatever the rng, train 1 is not */
        iv_ctx c;
        ctx_init(&c, (cw_interv_kind)kind, 0.1);
        ctx_redraw(&c, 31);
        assert_true(c.e.cfg.dropout == 0.1);
        cw_rng_seed(&rng, 1);
        cw_interv_encoder_forward(&c.e, 0, 0, 1, 0, &rng, bca, &etaa);
        cw_rng_seed(&rng, 2);
        cw_interv_encoder_forward(&c.e, 1, 0, 1, 0, &rng, bcb, &etab);
        cw_interv_encoder_forward(&c.e, 0, 0, 1, 0, NULL, bcc, &etac); /* no rng needed */
        assert_true(max_abs_diff(bca, bcb, TZ) == 0 && etaa == etab);
        assert_true(max_abs_diff(bca, bcc, TZ) == 0 && etaa == etac);
        cw_rng_seed(&rng, 1);
        cw_interv_encoder_forward(&c.e, 0, 0, 1, 1, &rng, bcb, &etab);
        assert_true(max_abs_diff(bca, bcb, TZ) > 1e-9 || fabs(etaa - etab) > 1e-9);
        ctx_free(&c);
        /* dropout 0: train 1 equals train 0 */
        ctx_init(&c, (cw_interv_kind)kind, 0);
        ctx_redraw(&c, 31);
        cw_rng_seed(&rng, 3);
        cw_interv_encoder_forward(&c.e, 0, 1, 1, 1, &rng, bca, &etaa);
        cw_interv_encoder_forward(&c.e, 0, 1, 1, 0, &rng, bcb, &etab);
        assert_true(max_abs_diff(bca, bcb, TZ) == 0 && etaa == etab);
        ctx_free(&c);
    }
    /* the default dropout: 0.1 for the tri-value encoders, 0 for dropedge */
    iv_ctx c;
    ctx_init(&c, CW_INTERV_TRIVALUE_1HOP, -1);
    assert_true(c.e.cfg.dropout == 0.1);
    ctx_free(&c);
    ctx_init(&c, CW_INTERV_DROPEDGE, -1);
    assert_true(c.e.cfg.dropout == 0);
    ctx_free(&c);
}

static void test_tau_clamp(void **state) {
    (void)state;
    iv_ctx c;
    ctx_init(&c, CW_INTERV_TRIVALUE, 0.1);
    ctx_redraw(&c, 8);
    real a[TZ], b[TZ], eta;
    cw_interv_encoder_forward(&c.e, 0, 0, 10, 0, NULL, a, &eta);
    cw_interv_encoder_forward(&c.e, 0, 0, 50, 0, NULL, b, &eta);
    assert_true(max_abs_diff(a, b, TZ) == 0);
    assert_true(c.e.slot[0].tau == 10);
    cw_interv_encoder_forward(&c.e, 0, 0, 5, 0, NULL, b, &eta);
    assert_true(max_abs_diff(a, b, TZ) > 1e-6);
    cw_interv_encoder_forward(&c.e, 0, 0, 1e-3, 0, NULL, a, &eta);
    cw_interv_encoder_forward(&c.e, 0, 0, 0, 0, NULL, b, &eta);
    assert_true(max_abs_diff(a, b, TZ) == 0);
    cw_interv_encoder_forward(&c.e, 0, 0, -3, 0, NULL, b, &eta);
    assert_true(max_abs_diff(a, b, TZ) == 0);
    /* at tau 1e-3 bc is nearly uniform */
    for (int j = 0; j < TZ; j++) assert_true(fabs(a[j] - 1.0 / TZ) < 1e-2);
    ctx_free(&c);
}

/* eta = ptb_strength[k] + eta_scale tanh(.) for the tri-value kinds; no ptb for dropedge */
static void test_eta(void **state) {
    (void)state;
    for (int kind = CW_INTERV_TRIVALUE; kind <= CW_INTERV_DROPEDGE; kind++) {
        iv_ctx c;
        ctx_init(&c, (cw_interv_kind)kind, 0.1);
        ctx_redraw(&c, 9);
        real bc[TZ], eta;
        cw_alloc_fail_after(0); /* forward and backward allocate nothing */
        cw_interv_encoder_forward(&c.e, 0, 2, 1, 0, NULL, bc, &eta);
        cw_interv_encoder_backward(&c.e, 0, c.r, 0.5);
        assert_int_equal(cw_alloc_injected_failures(), 0);
        cw_alloc_fail_after(-1);
        const cw_interv_slot *sl = &c.e.slot[0];
        double want = c.e.p[IV_ETA_SCALE][0] * tanh(sl->eta_pre);
        if (kind != CW_INTERV_DROPEDGE) want += c.e.p[IV_PTB][2];
        assert_true(fabs(eta - want) < 1e-14);
        double s = 0;
        for (int j = 0; j < TZ; j++) s += bc[j];
        assert_true(fabs(s - 1) < 1e-14);
        /* targets 0 and 3 share node 1: same bc, eta differs only through ptb_strength */
        real bc0[TZ], bc3[TZ], eta0, eta3;
        cw_interv_encoder_forward(&c.e, 0, 0, 1, 0, NULL, bc0, &eta0);
        cw_interv_encoder_forward(&c.e, 1, 3, 1, 0, NULL, bc3, &eta3);
        assert_true(max_abs_diff(bc0, bc3, TZ) == 0);
        if (kind == CW_INTERV_DROPEDGE)
            assert_true(eta0 == eta3);
        else
            assert_true(fabs((eta0 - eta3) - (c.e.p[IV_PTB][0] - c.e.p[IV_PTB][3])) < 1e-14);
        ctx_free(&c);
    }
}

/* ---- structure ---------------------------------------------------------------------------- */

static void test_specs_and_graphs(void **state) {
    (void)state;
    static const char *names[] = {
        "interv.node_emb", "interv.conv1.weight", "interv.conv1.bias", "interv.ln1.weight",
        "interv.ln1.bias", "interv.conv2.weight", "interv.conv2.bias", "interv.ln2.weight",
        "interv.ln2.bias", "interv.mlp1.weight", "interv.mlp1.bias", "interv.mlp2.weight",
        "interv.mlp2.bias", "interv.eta.weight", "interv.eta.bias", "interv.eta_scale",
        "interv.ptb_strength"};
    for (int kind = CW_INTERV_TRIVALUE; kind <= CW_INTERV_DROPEDGE; kind++) {
        iv_ctx c;
        ctx_init(&c, (cw_interv_kind)kind, -1);
        const int tri = kind != CW_INTERV_DROPEDGE;
        assert_int_equal(c.n, tri ? 17 : 16);
        for (int i = 0; i < c.n; i++) assert_string_equal(c.specs[i].name, names[i]);
        const int64_t N = kind == CW_INTERV_TRIVALUE_1HOP ? 7 : TN;
        assert_int_equal(c.e.n_nodes, N);
        assert_int_equal(c.specs[0].rows, N);
        assert_int_equal(c.specs[0].cols, TEMB);
        assert_int_equal(c.specs[1].rows, TH);
        assert_int_equal(c.specs[1].cols, tri ? 1 + TEMB : TEMB);
        assert_int_equal(c.specs[2].rows, TH);
        assert_int_equal(c.specs[2].cols, 1);
        assert_int_equal(c.specs[9].rows, TMH);
        assert_int_equal(c.specs[9].cols, TH);
        assert_int_equal(c.specs[11].rows, TZ);
        assert_int_equal(c.specs[11].cols, TMH);
        assert_int_equal(c.specs[13].rows, 1);
        assert_int_equal(c.specs[13].cols, TMH);
        if (tri) assert_int_equal(c.specs[16].rows, TC);
        /* §4.0 init */
        const real *p = c.e.p[IV_ETA_SCALE];
        assert_true(p[0] == 1);
        for (int j = 0; j < TH; j++)
            assert_true(c.e.p[IV_LN1_W][j] == 1 && c.e.p[IV_LN1_B][j] == 0 &&
                        c.e.p[IV_C1_B][j] == 0 && c.e.p[IV_C2_B][j] == 0);
        if (tri)
            for (int j = 0; j < TC; j++) assert_true(c.e.p[IV_PTB][j] == 0);
        const double glorot = sqrt(6.0 / (TH + TH));
        for (int j = 0; j < TH * TH; j++) assert_true(fabs(c.e.p[IV_C2_W][j]) <= glorot);
        /* candidates and target nodes */
        if (kind == CW_INTERV_TRIVALUE_1HOP) {
            /* global 0..6 are local 0..6 here; edges 5-7, 7-8 are gone */
            static const int64_t want_ptr[8] = {0, 2, 4, 6, 9, 11, 12, 12};
            for (int v = 0; v <= 7; v++) assert_int_equal(c.e.indptr[v], want_ptr[v]);
            assert_int_equal(c.e.nnz, 12);
        } else {
            assert_int_equal(c.e.nnz, 16);
        }
        for (int k = 0; k < TC; k++) assert_int_equal(c.e.target_node[k], g_targets[k]);
        for (int v = 0; v < N; v++)
            assert_int_equal(c.e.candidate[v], v == 1 || v == 4 || v == 6);
        /* the tri-value column: +1 target, 0 other candidates, -1 the rest */
        real bc[TZ], eta;
        cw_interv_encoder_forward(&c.e, 0, 1, 1, 0, NULL, bc, &eta);
        const real *x = c.e.slot[0].x;
        const int64_t F1 = c.e.f1;
        for (int v = 0; v < N; v++) {
            if (tri)
                assert_true(x[v * F1] == (v == 4 ? 1 : (v == 1 || v == 6) ? 0 : -1));
            for (int j = 0; j < TEMB; j++)
                assert_true(x[v * F1 + (tri ? 1 : 0) + j] == c.e.p[IV_EMB][v * TEMB + j]);
        }
        ctx_free(&c);
    }
}

/* a 1-hop subgraph whose node ids are relabelled: targets at 5 and 8 of a path 0-1-...-9 */
static void test_1hop_relabel(void **state) {
    (void)state;
    enum { P = 10 };
    int64_t indptr[P + 1];
    int32_t indices[2 * (P - 1)];
    int64_t w = 0;
    for (int v = 0; v < P; v++) {
        indptr[v] = w;
        if (v > 0) indices[w++] = v - 1;
        if (v < P - 1) indices[w++] = v + 1;
    }
    indptr[P] = w;
    const int64_t tn[2] = {8, 5};
    cw_interv_config cfg;
    cw_interv_config_default(&cfg, CW_INTERV_TRIVALUE_1HOP, 2, 2, 3);
    cw_interv_encoder e;
    assert_int_equal(cw_interv_encoder_init(&e, &cfg, P, indptr, indices, tn), CW_OK);
    /* nodes 4 5 6 7 8 9 -> local 0..5 */
    assert_int_equal(e.n_nodes, 6);
    assert_int_equal(e.target_node[0], 4);
    assert_int_equal(e.target_node[1], 1);
    assert_int_equal(e.nnz, 10);
    for (int v = 0; v < 6; v++) assert_int_equal(e.candidate[v], v == 1 || v == 4);
    cw_interv_encoder_free(&e);
}

/* spec §4.8 on norman's sizes: tri-value 32 N + 28,692; dropedge without the unused teacher
 * 32 N + 28,692 - 105 (no ptb_strength) - 64 (conv1 has no tri-value column) */
static void test_param_counts(void **state) {
    (void)state;
    enum { NN = 110, NC = 105 };
    int64_t indptr[NN + 1] = {0};
    int32_t indices[1];
    int64_t tn[NC];
    for (int k = 0; k < NC; k++) tn[k] = k;
    for (int kind = CW_INTERV_TRIVALUE; kind <= CW_INTERV_DROPEDGE; kind++) {
        cw_interv_config cfg;
        cw_interv_config_default(&cfg, (cw_interv_kind)kind, 105, NC, 128);
        cw_interv_encoder e;
        assert_int_equal(cw_interv_encoder_init(&e, &cfg, NN, indptr, indices, tn), CW_OK);
        cw_param_spec specs[CW_INTERV_MAX_TENSORS];
        const int n = cw_interv_encoder_param_specs(&e, specs);
        int64_t total = 0;
        for (int i = 0; i < n; i++) total += specs[i].rows * specs[i].cols;
        /* 1-hop of isolated seeds: only the 105 targets */
        const int64_t N = kind == CW_INTERV_TRIVALUE_1HOP ? NC : NN;
        assert_int_equal(e.n_nodes, N);
        assert_int_equal(total - 32 * N, kind == CW_INTERV_DROPEDGE ? 28692 - 105 - 64 : 28692);
        cw_interv_encoder_free(&e);
    }
}

static void test_errors(void **state) {
    (void)state;
    int64_t indptr[TN + 1];
    int32_t indices[32];
    test_graph(indptr, indices);
    cw_interv_config cfg;
    cw_interv_encoder e;
    cw_interv_config_default(&cfg, CW_INTERV_MLP, TZ, TC, TMH);
    assert_int_equal(cw_interv_encoder_init(&e, &cfg, TN, indptr, indices, g_targets), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "interv encoder"));
    cw_interv_config_default(&cfg, CW_INTERV_TRIVALUE, TZ, TC, TMH);
    const int64_t bad[TC] = {1, 4, 9, 1};
    assert_int_equal(cw_interv_encoder_init(&e, &cfg, TN, indptr, indices, bad), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "target 2"));
    cfg.dropout = 1;
    assert_int_equal(cw_interv_encoder_init(&e, &cfg, TN, indptr, indices, g_targets), CW_EINVAL);
    cfg.dropout = -1;
    cfg.hidden = 0;
    assert_int_equal(cw_interv_encoder_init(&e, &cfg, TN, indptr, indices, g_targets), CW_EINVAL);
    cfg.hidden = TH;
    /* malformed graphs: a repeated column, then an edge without its reverse */
    int32_t asym[32];
    memcpy(asym, indices, sizeof asym);
    assert_int_equal(asym[indptr[1]], 0);
    asym[indptr[1]] = 2; /* row 1 becomes {2, 2}: not strictly increasing */
    assert_int_equal(cw_interv_encoder_init(&e, &cfg, TN, indptr, asym, g_targets), CW_EINVAL);
    memcpy(asym, indices, sizeof asym);
    asym[indptr[8]] = 6; /* 8 -> 6 without 6 -> 8 */
    assert_int_equal(cw_interv_encoder_init(&e, &cfg, TN, indptr, asym, g_targets), CW_EINVAL);
    assert_non_null(strstr(cw_errmsg(), "not symmetric"));

    /* every allocation failure of init: CW_ENOMEM, nothing leaked (ASan), then success */
    for (int kind = CW_INTERV_TRIVALUE; kind <= CW_INTERV_DROPEDGE; kind++) {
        cw_interv_config_default(&cfg, (cw_interv_kind)kind, TZ, TC, TMH);
        int ok = 0;
        for (int64_t budget = 0; budget < 50 && !ok; budget++) {
            cw_alloc_fail_after(budget);
            const cw_status st = cw_interv_encoder_init(&e, &cfg, TN, indptr, indices, g_targets);
            const int64_t injected = cw_alloc_injected_failures();
            cw_alloc_fail_after(-1);
            if (st == CW_OK) {
                assert_int_equal(injected, 0);
                ok = 1;
                cw_interv_encoder_free(&e);
            } else {
                assert_int_equal(st, CW_ENOMEM);
                assert_true(injected > 0);
            }
        }
        assert_true(ok);
    }
}

static void test_kind_names(void **state) {
    (void)state;
    assert_int_equal(cw_interv_kind_parse("mlp"), CW_INTERV_MLP);
    assert_int_equal(cw_interv_kind_parse("trivalue"), CW_INTERV_TRIVALUE);
    assert_int_equal(cw_interv_kind_parse("trivalue-1hop"), CW_INTERV_TRIVALUE_1HOP);
    assert_int_equal(cw_interv_kind_parse("dropedge"), CW_INTERV_DROPEDGE);
    assert_int_equal(cw_interv_kind_parse("gcn"), -1);
    assert_int_equal(cw_interv_kind_parse(NULL), -1);
    for (int k = CW_INTERV_MLP; k <= CW_INTERV_DROPEDGE; k++)
        assert_int_equal(cw_interv_kind_parse(cw_interv_kind_name((cw_interv_kind)k)), k);
    cw_interv_config cfg;
    cw_interv_config_default(&cfg, CW_INTERV_TRIVALUE, 105, 105, 128);
    assert_int_equal(cfg.emb, 32);
    assert_int_equal(cfg.hidden, 64);
    assert_int_equal(cfg.mlp_hidden, 128);
    assert_true(cfg.dropout < 0);
}

static void test_summary(void **state) {
    (void)state;
    printf("  worst rel error: trivalue %.2e, trivalue-1hop %.2e, dropedge %.2e\n",
           g_worst[CW_INTERV_TRIVALUE], g_worst[CW_INTERV_TRIVALUE_1HOP],
           g_worst[CW_INTERV_DROPEDGE]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_specs_and_graphs),
        cmocka_unit_test(test_1hop_relabel),
        cmocka_unit_test(test_param_counts),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_eta),
        cmocka_unit_test(test_tau_clamp),
        cmocka_unit_test(test_train_eval),
        cmocka_unit_test(test_dropedge_removes_edges),
        cmocka_unit_test(test_gradcheck_trivalue),
        cmocka_unit_test(test_gradcheck_trivalue_1hop),
        cmocka_unit_test(test_gradcheck_dropedge),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests_name("interv_encoder", tests, NULL, NULL);
}
