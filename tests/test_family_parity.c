/* test_family_parity.c: the float graph models of the CMVAE family (src/models/cmvae.c with
 * gnn_encoder.c and interv_encoder.c) against an independent PyTorch float64 run
 * (tests/py/make_family_parity.py; spec grace_cmvae.md §4.0-4.5, §5.1-5.4; STYLE.md "Tests" 2).
 * Needs no torch: it reads the committed fixtures tests/fixtures/family_parity_<case>.bin (format
 * in the script). Cases: GraCE with 1-layer SAGE (gradient clamp 0.05, active), 1-layer GCN,
 * 3-layer GAT (widths 2, 3, 2 heads), 2-layer SAGE and 2-layer GCN (width 3: the backward through
 * a layer's input, which 1-layer models never run), VGAE (SAGE, Laplacian weight 1e-2) and GraCE
 * with the tri-value intervention encoder (dropout 0, Laplacian 1e-2, tau 12 clamped to 10).
 *
 * Each case builds cw_graph / cw_union_graph from the fixture's CSR arrays, initialises the model
 * with the case's cw_cmvae_config, overwrites every parameter by tensor name (cw_params_find; the
 * fixture must hold exactly the model's tensors), and compares: the GNN read-out, the
 * intervention (bc, s) of target k, y_hat, x_recon, each loss term (mmd, mse, kl, l1, lap,
 * total), every gradient tensor, a double-target prediction (tau 1), the losses before each of 3
 * Adam steps and every parameter after them. An element passes when |c - ref| <= atol +
 * rtol |ref|; the worst element per tensor is printed as that ratio (must be <= 1).
 * Tolerances as tests/test_cmvae_parity.c: outputs atol 1e-6 rtol 1e-5; gradients atol 1e-5 max
 * |ref| of the tensor, rtol 1e-4 (float32 rounding is relative to the largest terms summed);
 * losses atol 1e-7 rtol 1e-6; parameters after the steps atol 1e-6 (1e-3 of one Adam step of lr
 * 1e-3) rtol 1e-5.
 * A fixture that is absent skips its case with the command that regenerates it.
 */
#include "models/cmvae.h"

#include "fixture_reader.h"
#include "test_util.h"

#include <math.h>

/* ---- comparisons ----------------------------------------------------------------------------- */

typedef struct {
    const char *group;
    double worst_ratio, worst_abs, worst_rel;
} group_stat;

enum { GRP_OUT, GRP_LOSS, GRP_GRAD, GRP_STEP, GRP_FINAL, NGRP };
static group_stat g_stat[NGRP];
static double g_worst = 0;

static void note(int grp, double ratio, double absd, double ref) {
    group_stat *s = &g_stat[grp];
    if (ratio > s->worst_ratio) s->worst_ratio = ratio;
    if (absd > s->worst_abs) s->worst_abs = absd;
    const double rel = absd / fmax(fabs(ref), 1e-30);
    if (absd > 0 && rel > s->worst_rel) s->worst_rel = rel;
    if (ratio > g_worst) g_worst = ratio;
}

static int g_failures = 0;

/* worst |c - ref| / (atol + rtol |ref|) over n elements; printed; counted as a failure if > 1 */
static void expect_close(int grp, const char *what, const float *c, const float *ref, int64_t n,
                         double atol, double rtol) {
    double worst = 0, wabs = 0;
    int64_t wi = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = fabs((double)c[i] - ref[i]);
        double r = d / (atol + rtol * fabs(ref[i]));
        if (isnan(r)) r = INFINITY; /* a NaN in c (or ref) fails */
        if (!(r <= worst)) worst = r, wi = i;
        if (d > wabs) wabs = d;
        note(grp, r, isnan(d) ? INFINITY : d, ref[i]);
    }
    printf("  %-26s %5lld  worst %.2e of tol  [%lld] c %+.9e ref %+.9e  max|d| %.1e%s\n", what,
           (long long)n, worst, (long long)wi, n ? c[wi] : 0.0, n ? ref[wi] : 0.0, wabs,
           worst <= 1 ? "" : "  FAIL");
    if (!(worst <= 1)) g_failures++;
}

static void expect_close_d(int grp, const char *what, double c, double ref, double atol,
                           double rtol) {
    const double d = fabs(c - ref), r = d / (atol + rtol * fabs(ref));
    note(grp, r, d, ref);
    printf("  %-26s c %+.12e ref %+.12e  %.2e of tol%s\n", what, c, ref, r,
           r <= 1 ? "" : "  FAIL");
    if (!(r <= 1)) g_failures++;
}

/* ---- one case -------------------------------------------------------------------------------- */

static void fixture_path(char *p, size_t cap, const char *name) {
    char f[96];
    snprintf(f, sizeof f, "family_parity_%s.bin", name);
    cwt_fixture(p, cap, f);
}

/* int64 CSR of the fixture -> int32 indices */
static int32_t *indices32(const int64_t *ix, int64_t nnz) {
    int32_t *o = malloc((size_t)(nnz ? nnz : 1) * sizeof(int32_t));
    assert_non_null(o);
    for (int64_t i = 0; i < nnz; i++) o[i] = (int32_t)ix[i];
    return o;
}

static void run_case(const char *name) {
    char path[256];
    fixture_path(path, sizeof path, name);
    fxr_file fx;
    if (!fxr_load(&fx, path, "CWFAMP01")) {
        printf("  %s absent: run /usr/bin/python3 tests/py/make_family_parity.py %s\n", path,
               name);
        skip();
    }
    printf("case %s (%s)\n", name, path);
    const int64_t *sz = fxr_get(&fx, "cfg.sizes", FXR_I64, 9);
    const int64_t G = sz[0], Z = sz[1], C = sz[2], H = sz[3], B = sz[4], P = sz[5], k = sz[6];
    const int64_t k2 = sz[7], nsteps = sz[8];
    const double *rl = fxr_get(&fx, "cfg.real", FXR_F64, 10);
    const double alpha = rl[0], beta = rl[1], tau = rl[2], lambda = rl[3], lap = rl[4];
    const double clip = rl[5], lr = rl[6], sigma = rl[7], knum = rl[8], ivdrop = rl[9];

    /* graphs */
    const int64_t N = G + P;
    const int64_t *ip = fxr_get(&fx, "graph.indptr", FXR_I64, N + 1);
    cw_graph graph;
    memset(&graph, 0, sizeof graph);
    graph.n_genes = G;
    graph.n_pathways = P;
    graph.n_nodes = N;
    graph.adj.n = N;
    graph.adj.nnz = ip[N];
    graph.adj.indptr = (int64_t *)ip;
    graph.adj.indices = indices32(fxr_get(&fx, "graph.indices", FXR_I64, ip[N]), ip[N]);
    const fxr_rec *uipr = fxr_find(&fx, "union.indptr");
    assert_non_null(uipr);
    const int64_t NU = uipr->count - 1;
    const int64_t *uip = fxr_get(&fx, "union.indptr", FXR_I64, NU + 1);
    cw_union_graph ug;
    memset(&ug, 0, sizeof ug);
    ug.n_genes = G;
    ug.n_targets = C;
    ug.ptb_to_node = (int64_t *)fxr_get(&fx, "union.ptb_to_node", FXR_I64, C);
    ug.adj.n = NU;
    ug.adj.nnz = uip[NU];
    ug.adj.indptr = (int64_t *)uip;
    ug.adj.indices = indices32(fxr_get(&fx, "union.indices", FXR_I64, uip[NU]), uip[NU]);

    /* model */
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, G, Z, C);
    cfg.kind = (cw_model_kind)fxr_get_i64(&fx, "cfg.kind");
    cfg.hidden = H;
    cfg.batch = B;
    cfg.lambda = lambda;
    cfg.lambda_laplacian = lap;
    cfg.grad_clip = clip;
    cfg.lr = lr;
    cfg.mmd_sigma = sigma;
    cfg.kernel_num = (int64_t)knum;
    const int layers = (int)fxr_get_i64(&fx, "cfg.gnn_layers");
    cw_gnn_config_default(&cfg.gnn, (cw_gnn_kind)fxr_get_i64(&fx, "cfg.gnn_kind"), layers);
    const int64_t *widths = fxr_get(&fx, "cfg.gnn_widths", FXR_I64, layers - 1);
    for (int l = 0; l + 1 < layers; l++) cfg.gnn.widths[l] = widths[l];
    cfg.gnn.heads = fxr_get_i64(&fx, "cfg.gnn_heads");
    cfg.interv = (cw_interv_kind)fxr_get_i64(&fx, "cfg.interv");
    cfg.interv_dropout = ivdrop;
    cfg.graph = &graph;
    cfg.union_graph = &ug;
    cw_rng rng;
    cw_rng_seed(&rng, 1);
    cw_cmvae m;
    assert_int_equal(cw_cmvae_init(&m, &cfg, &rng), CW_OK);

    /* parameters by name: the fixture holds exactly the model's tensors */
    int n_param_recs = 0;
    for (int i = 0; i < fx.n; i++) {
        if (strncmp(fx.r[i].name, "param/", 6)) continue;
        n_param_recs++;
        const int t = cw_params_find(&m.table, fx.r[i].name + 6);
        if (t < 0) fail_msg("fixture tensor %s is not in the model", fx.r[i].name + 6);
    }
    assert_int_equal(n_param_recs, m.table.n);
    float *init = malloc((size_t)m.table.total * sizeof(float));
    assert_non_null(init);
    for (int t = 0; t < m.table.n; t++) {
        char key[80];
        snprintf(key, sizeof key, "param/%s", m.table.names[t]);
        const int64_t n = m.table.rows[t] * m.table.cols[t];
        memcpy(m.params + m.table.offset[t], fxr_get(&fx, key, FXR_F32, n),
               (size_t)n * sizeof(float));
    }
    memcpy(init, m.params, (size_t)m.table.total * sizeof(float));

    const float *x = fxr_get(&fx, "x", FXR_F32, B * G), *y = fxr_get(&fx, "y", FXR_F32, B * G);
    const cw_cmvae_noise noise = {fxr_get(&fx, "eps", FXR_F32, B * Z),
                                  fxr_get(&fx, "xi", FXR_F32, P)};
    const cw_cmvae_sched w = {alpha, beta, tau};

    /* forward */
    cw_params_zero_grad(&m.table);
    cw_cmvae_losses l;
    assert_int_equal(cw_cmvae_forward(&m, x, NULL, y, k, -1, &noise, NULL, w, &l), CW_OK);
    expect_close(GRP_OUT, "enc (GNN read-out)", m.enc, fxr_get(&fx, "enc", FXR_F32, B * G), B * G,
                 1e-6, 1e-5);
    expect_close(GRP_OUT, "bc", m.bc, fxr_get(&fx, "bc", FXR_F32, Z), Z, 1e-6, 1e-5);
    expect_close(GRP_OUT, "s", &m.s1, fxr_get(&fx, "s", FXR_F32, 1), 1, 1e-6, 1e-5);
    expect_close(GRP_OUT, "y_hat", m.y_hat, fxr_get(&fx, "y_hat", FXR_F32, B * G), B * G, 1e-6,
                 1e-5);
    expect_close(GRP_OUT, "x_recon", m.x_recon, fxr_get(&fx, "x_recon", FXR_F32, B * G), B * G,
                 1e-6, 1e-5);
    const double *ref_l = fxr_get(&fx, "loss", FXR_F64, 6);
    const char *tn[6] = {"loss mmd", "loss mse", "loss kl", "loss l1", "loss lap", "loss total"};
    const double tc[6] = {l.mmd, l.mse, l.kl, l.l1, l.lap, l.total};
    for (int i = 0; i < 6; i++) expect_close_d(GRP_LOSS, tn[i], tc[i], ref_l[i], 1e-7, 1e-6);

    /* every gradient */
    cw_cmvae_backward(&m);
    for (int t = 0; t < m.table.n; t++) {
        char key[80], what[80];
        snprintf(key, sizeof key, "grad/%s", m.table.names[t]);
        snprintf(what, sizeof what, "d %s", m.table.names[t]);
        const int64_t n = m.table.rows[t] * m.table.cols[t];
        const float *ref = fxr_get(&fx, key, FXR_F32, n);
        double mx = 0;
        for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
        expect_close(GRP_GRAD, what, m.grads + m.table.offset[t], ref, n, 1e-5 * mx + 1e-12,
                     1e-4);
    }

    /* double-target prediction at tau 1 (evaluation mode) */
    float *yd = malloc((size_t)(B * G) * sizeof(float));
    assert_non_null(yd);
    assert_int_equal(cw_cmvae_predict(&m, yd, x, NULL, B, k, k2, &noise, NULL), CW_OK);
    expect_close(GRP_OUT, "y_hat (k, k2)", yd, fxr_get(&fx, "y_hat_double", FXR_F32, B * G), B * G,
                 1e-6, 1e-5);

    /* Adam steps (clamp as configured) from the same weights */
    memcpy(m.params, init, (size_t)m.table.total * sizeof(float));
    const double *ref_steps = fxr_get(&fx, "step_losses", FXR_F64, nsteps);
    for (int64_t s = 0; s < nsteps; s++) {
        assert_int_equal(cw_cmvae_train_step(&m, x, NULL, y, k, -1, &noise, NULL, w, &l), CW_OK);
        char what[32];
        snprintf(what, sizeof what, "step %lld loss", (long long)s);
        expect_close_d(GRP_STEP, what, l.total, ref_steps[s], 1e-7, 1e-6);
    }
    for (int t = 0; t < m.table.n; t++) {
        char key[80], what[80];
        snprintf(key, sizeof key, "final/%s", m.table.names[t]);
        snprintf(what, sizeof what, "%s (step %lld)", m.table.names[t], (long long)nsteps);
        const int64_t n = m.table.rows[t] * m.table.cols[t];
        expect_close(GRP_FINAL, what, m.params + m.table.offset[t],
                     fxr_get(&fx, key, FXR_F32, n), n, 1e-6, 1e-5);
    }

    cw_cmvae_free(&m);
    free(yd);
    free(init);
    free(graph.adj.indices);
    free(ug.adj.indices);
    fxr_free(&fx);
}

static void report_groups(const char *name) {
    static const char *gn[NGRP] = {"outputs", "loss terms", "gradients", "step losses",
                                   "params after steps"};
    printf("  summary %s:\n", name);
    for (int i = 0; i < NGRP; i++)
        printf("    %-19s worst %.2e of tol, max |c - ref| %.2e, max rel %.2e\n", gn[i],
               g_stat[i].worst_ratio, g_stat[i].worst_abs, g_stat[i].worst_rel);
}

static int setup(void **state) {
    (void)state;
    memset(g_stat, 0, sizeof g_stat);
    g_failures = 0;
    return 0;
}

#define CASE(nm)                                                                               \
    static void test_##nm(void **state) {                                                      \
        (void)state;                                                                           \
        run_case(#nm);                                                                         \
        report_groups(#nm);                                                                    \
        assert_int_equal(g_failures, 0);                                                       \
    }
CASE(sage)
CASE(gcn)
CASE(gat3)
CASE(sage2)
CASE(gcn2)
CASE(vgae)
CASE(trivalue)

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_sage, setup),  cmocka_unit_test_setup(test_gcn, setup),
        cmocka_unit_test_setup(test_gat3, setup),  cmocka_unit_test_setup(test_sage2, setup),
        cmocka_unit_test_setup(test_gcn2, setup),  cmocka_unit_test_setup(test_vgae, setup),
        cmocka_unit_test_setup(test_trivalue, setup),
    };
    int rc = cmocka_run_group_tests_name("family_parity (" CW_REAL_NAME ")", tests, NULL, NULL);
    printf("worst over all comparisons: %.2e of tolerance\n", g_worst);
    return rc;
}
