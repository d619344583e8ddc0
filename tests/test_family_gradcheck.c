/* test_family_gradcheck.c: finite-difference gradient check of the whole loss of every member of
 * the CMVAE family (src/models/cmvae.h; spec grace_cmvae.md §4.2-4.6, §5.1; STYLE.md "Tests" 1),
 * in DOUBLE: grace (SAGE, GCN, 3-layer GAT, 2-layer SAGE), vgae, multihot, sena, grace with the
 * tri-value and DropEdge intervention encoders, and cmvae / grace with extra per-cell inputs.
 *
 * Built like tests/test_cmvae_gradcheck.c: CW_REAL_DOUBLE is defined and every nn kernel file
 * with a backward plus src/models/{gnn_encoder,interv_encoder,pathway_features,cmvae}.c are
 * #included, so the whole model is compiled in double in this translation unit (only core/ comes
 * from libcauseway.a); their file-static helpers have distinct names for this reason.
 *
 * Graphs, built by hand:
 *   context graph, G = 6 genes (nodes 0..5), P = 3 pathways (nodes 6, 7, 8):
 *     gene-gene 0-1 1-2 2-3 0-3, gene-pathway p0 = {0,1,2}, p1 = {2,3,4}, p2 = {4},
 *     pathway-pathway 6-7 7-8; gene 5 has no neighbours.
 *   gene-union graph: the 6 genes and 2 targets not among them (nodes 6, 7), PPI edges 0-1 1-2 2-3
 *     3-4 0-4 1-6 4-6 6-7 3-7 (gene 5 isolated); C = 4 targets at nodes 1, 6, 3, 7.
 * Method exactly as test_cmvae_gradcheck.c: tiny config (G 6, Z 3, C 4, H 5, B 4), parameters
 * redrawn at O(1) scale (uniform +-0.7, narrowed by sqrt(8 / fan_in) for the intervention
 * encoder's wide matrices so its activations stay O(1); LayerNorm gains and eta_scale in
 * [0.6, 1.5], node embeddings N(0, 1)), G's strict upper triangle away from 0, fixed x, y, eps
 * and xi (cw_cmvae_noise), dropout masks fixed by reseeding the rng before every forward. The
 * total loss is differentiated by central differences (h 1e-5) w.r.t. EVERY element of every
 * tensor in the model's table; gradients start at GC_PREFILL so a backward that assigns instead
 * of accumulating fails; rel = |an - num| / max(|an| + |num|, floor) < 1e-6 with the floor
 * 1e-4 max(1, S), S the sum of the loss magnitudes that cancel (test_cmvae_gradcheck.c; here also
 * + lambda2 LAP). Each case runs a single target (MMD sigma 3) and a double perturbation (k, k2)
 * (sigma 1000). Every tensor must also have a nonzero gradient somewhere, so no check is vacuous:
 * with O(1) redraws a 3-layer GAT often has a dead ReLU channel or attention logits that never
 * straddle the LeakyReLU kink (then att_dst's gradient is exactly 0; softmax is shift-invariant),
 * so the GAT case uses a seed (421, 422) where every GNN tensor has a gradient. The seeds are fixed:
 * a redraw can put an LReLU pre-activation within h |x| of its kink, which central differences
 * cannot handle (seen once in 8 redraws of all cases: sena, pre-activation -1.2e-5, x 1.38;
 * it passes at h 1e-6). That is the method's limit, not a gradient error.
 * Also: forward / backward / train_step / predict allocate nothing (grace + 3-layer GAT, grace +
 * tri-value), and cw_cmvae_init's CW_EINVAL messages for missing graphs.
 */
#include "double_build.h"

#include "test_util.h"

#include "core/alloc.h"
#include "core/rng.h"

#include <math.h>

#define GC_DROP_SEED 4242

enum { TG = 6, TZ = 3, TC = 4, TH = 5, TB = 4, TP = 3, TE = 2 };
enum { TN = TG + TP, TU = TG + 2 }; /* context-graph and gene-union-graph nodes */

/* ---- hand-built graphs ---------------------------------------------------------------------- */

/* symmetric CSR without self loops from undirected pairs (rows in increasing column order) */
static void build_csr(int64_t n, const int (*pairs)[2], int np, int64_t *indptr, int32_t *indices) {
    indptr[0] = 0;
    for (int64_t v = 0; v < n; v++) {
        int64_t d = 0;
        for (int i = 0; i < np; i++) d += (pairs[i][0] == v) + (pairs[i][1] == v);
        indptr[v + 1] = indptr[v] + d;
    }
    int64_t w = 0;
    for (int64_t v = 0; v < n; v++)
        for (int64_t u = 0; u < n; u++)
            for (int i = 0; i < np; i++)
                if ((pairs[i][0] == v && pairs[i][1] == u) || (pairs[i][1] == v && pairs[i][0] == u))
                    indices[w++] = (int32_t)u;
    assert_int_equal(w, indptr[n]);
}

static const int g_ctx_pairs[][2] = {
    {0, 1}, {1, 2}, {2, 3}, {0, 3},               /* gene-gene */
    {0, 6}, {1, 6}, {2, 6}, {2, 7}, {3, 7}, {4, 7}, {4, 8}, /* gene-pathway */
    {6, 7}, {7, 8},                                /* pathway-pathway */
};
static const int g_gg_pairs[][2] = {{0, 1}, {1, 2}, {2, 3}, {0, 3}};
static const int g_union_pairs[][2] = {{0, 1}, {1, 2}, {2, 3}, {3, 4}, {0, 4},
                                       {1, 6}, {4, 6}, {6, 7}, {3, 7}};
static int64_t g_ptb_to_node[TC] = {1, 6, 3, 7};

static int64_t g_ctx_indptr[TN + 1], g_gg_indptr[TG + 1], g_union_indptr[TU + 1];
static int32_t g_ctx_indices[64], g_gg_indices[16], g_union_indices[32];
static cw_graph g_ctx, g_gg_only;
static cw_union_graph g_union;

static void build_graphs(void) {
    build_csr(TN, g_ctx_pairs, (int)(sizeof g_ctx_pairs / sizeof g_ctx_pairs[0]), g_ctx_indptr,
              g_ctx_indices);
    memset(&g_ctx, 0, sizeof g_ctx);
    g_ctx.n_genes = TG;
    g_ctx.n_pathways = TP;
    g_ctx.n_nodes = TN;
    g_ctx.adj = (cw_adj){TN, g_ctx_indptr[TN], g_ctx_indptr, g_ctx_indices};
    assert_int_equal(g_ctx_indptr[6] - g_ctx_indptr[5], 0); /* gene 5: no neighbours */

    build_csr(TG, g_gg_pairs, (int)(sizeof g_gg_pairs / sizeof g_gg_pairs[0]), g_gg_indptr,
              g_gg_indices);
    memset(&g_gg_only, 0, sizeof g_gg_only);
    g_gg_only.n_genes = TG;
    g_gg_only.n_pathways = 0;
    g_gg_only.n_nodes = TG;
    g_gg_only.adj = (cw_adj){TG, g_gg_indptr[TG], g_gg_indptr, g_gg_indices};

    build_csr(TU, g_union_pairs, (int)(sizeof g_union_pairs / sizeof g_union_pairs[0]),
              g_union_indptr, g_union_indices);
    memset(&g_union, 0, sizeof g_union);
    g_union.n_genes = TG;
    g_union.n_targets = TC;
    g_union.ptb_to_node = g_ptb_to_node;
    g_union.adj = (cw_adj){TU, g_union_indptr[TU], g_union_indptr, g_union_indices};
}

/* ---- cases ---------------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    cw_model_kind kind;
    cw_gnn_kind gnn;
    int layers;
    int64_t widths[2], heads;
    cw_interv_kind interv;
    double interv_dropout;
    double lambda_laplacian;
    int64_t extra;
} fam_case;

typedef struct {
    cw_cmvae m;
    real x[TB * TG], y[TB * TG], eps[TB * TZ], xi[TP], extra[TB * TE];
    int64_t k, k2;
    cw_cmvae_sched w;
    cw_rng drop_rng;
} gc_ctx;

static double g_worst_all = 0, g_worst_abs = 0;

static void fill_uniform_r(cw_rng *r, real *a, int64_t n, double lo, double hi) {
    for (int64_t i = 0; i < n; i++) a[i] = lo + (hi - lo) * cw_rng_uniform(r);
}

static cw_status forward(gc_ctx *c, cw_cmvae_losses *l) {
    cw_rng_seed(&c->drop_rng, GC_DROP_SEED); /* identical dropout masks every call */
    return cw_cmvae_forward(&c->m, c->x, c->m.cfg.extra_inputs ? c->extra : NULL, c->y, c->k, c->k2,
                            &(cw_cmvae_noise){c->eps, c->xi}, &c->drop_rng, c->w, l);
}

static double total_loss(gc_ctx *c) {
    cw_cmvae_losses l;
    assert_int_equal(forward(c, &l), CW_OK);
    return l.total;
}

static double total_loss_obj(void *c) { return total_loss(c); }

static void case_config(cw_cmvae_config *cfg, const fam_case *fc, double sigma) {
    cw_cmvae_config_default(cfg, TG, TZ, TC);
    cfg->kind = fc->kind;
    cfg->hidden = TH;
    cfg->batch = TB;
    cfg->mmd_sigma = sigma;
    cfg->lambda = 0.05;
    cfg->extra_inputs = fc->extra;
    cfg->lambda_laplacian = fc->lambda_laplacian;
    cw_gnn_config_default(&cfg->gnn, fc->gnn, fc->layers ? fc->layers : 1);
    if (fc->layers > 1) {
        cfg->gnn.widths[0] = fc->widths[0];
        cfg->gnn.widths[1] = fc->widths[1];
        cfg->gnn.heads = fc->heads;
    }
    cfg->interv = fc->interv;
    cfg->interv_dropout = fc->interv_dropout;
    cfg->sena_free_units = 2;
    cfg->sena_min_genes = 1;
    cfg->sena_lambda = 0;
    if (fc->kind != CW_MODEL_CMVAE) cfg->graph = &g_ctx;
    if (fc->interv != CW_INTERV_MLP || fc->lambda_laplacian > 0) cfg->union_graph = &g_union;
}

/* x: uniform [0, 2] with zeros (and one negative value) so pathway membership differs by row */
static void fill_x(cw_rng *rng, real *x) {
    fill_uniform_r(rng, x, TB * TG, 0.1, 2);
    x[0 * TG + 0] = x[0 * TG + 1] = x[0 * TG + 2] = 0; /* row 0: p0 off */
    x[1 * TG + 2] = x[1 * TG + 3] = x[1 * TG + 4] = 0; /* row 1: p1, p2 off */
    x[2 * TG + 4] = -0.5;                              /* row 2: p2 off (x > 0 counts) */
    x[3 * TG + 5] = 0;                                 /* gene 5 is in no pathway */
}
/* hand-computed multi-hot of the rows above: p0 = {0,1,2}, p1 = {2,3,4}, p2 = {4} */
static const real g_multihot[TB][TP] = {{0, 1, 1}, {1, 0, 0}, {1, 1, 0}, {1, 1, 1}};

static void setup_ctx(gc_ctx *c, const fam_case *fc, uint64_t seed, double sigma, int64_t k,
                      int64_t k2) {
    cw_rng rng;
    cw_rng_seed(&rng, seed);
    cw_cmvae_config cfg;
    case_config(&cfg, fc, sigma);
    assert_int_equal(cw_cmvae_init(&c->m, &cfg, &rng), CW_OK);
    cw_cmvae *m = &c->m;
    /* O(1) parameters, tensor by tensor */
    for (int t = 0; t < m->table.n; t++) {
        real *p = m->params + m->table.offset[t];
        const int64_t n = m->table.rows[t] * m->table.cols[t], cols = m->table.cols[t];
        const char *name = m->table.names[t];
        const double a = 0.7 * fmin(1, sqrt(8.0 / (double)cols));
        if (strstr(name, "node_emb"))
            for (int64_t j = 0; j < n; j++) p[j] = cw_rng_normal(&rng);
        else if (strstr(name, "ln1.weight") || strstr(name, "ln2.weight") ||
                 strstr(name, "eta_scale"))
            fill_uniform_r(&rng, p, n, 0.6, 1.5);
        else
            fill_uniform_r(&rng, p, n, -a, a);
    }
    if (cw_cmvae_has(m, CW_CMVAE_G)) {
        real *g = cw_cmvae_param(m, CW_CMVAE_G);
        for (int64_t i = 0; i < TZ; i++)
            for (int64_t j = i + 1; j < TZ; j++)
                g[i * TZ + j] = (cw_rng_uniform(&rng) < 0.5 ? -1 : 1) * (0.2 + 0.6 * cw_rng_uniform(&rng));
    }
    if (cw_cmvae_has(m, CW_CMVAE_C_SHIFT))
        fill_uniform_r(&rng, cw_cmvae_param(m, CW_CMVAE_C_SHIFT), TC, 0.5, 1.5);
    fill_x(&rng, c->x);
    fill_uniform_r(&rng, c->y, TB * TG, 0, 2);
    for (int64_t i = 0; i < TB * TZ; i++) c->eps[i] = cw_rng_normal(&rng);
    for (int64_t i = 0; i < TP; i++) c->xi[i] = cw_rng_normal(&rng);
    fill_uniform_r(&rng, c->extra, TB * TE, -1, 1);
    c->k = k;
    c->k2 = k2;
    c->w = (cw_cmvae_sched){1.7, 0.6, 1.8};
}

/* worst relative error of the case; m stays initialised (the caller frees it) */
static double gradcheck(gc_ctx *c) {
    cw_cmvae *m = &c->m;
    for (int64_t i = 0; i < m->table.total; i++) m->grads[i] = GC_PREFILL;
    cw_cmvae_losses l;
    assert_int_equal(forward(c, &l), CW_OK);
    printf("    k %lld k2 %lld sigma %g: mmd %.6e mse %.6e kl %.6e l1 %.6e lap %.6e total %.6e\n",
           (long long)c->k, (long long)c->k2, m->cfg.mmd_sigma, l.mmd, l.mse, l.kl, l.l1, l.lap,
           l.total);
    cw_cmvae_backward(m);
    const double S = c->w.alpha * (fabs(l.mmd) + 2.0 * (double)m->cfg.kernel_num * (2.0 / TB)) +
                     l.mse + c->w.beta * fabs(l.kl) + m->cfg.lambda * l.l1 +
                     m->cfg.lambda_laplacian * l.lap;
    const double floor_ = GC_FLOOR * fmax(1, S);

    double case_worst = 0;
    int64_t checked = 0;
    for (int t = 0; t < m->table.n; t++) {
        real *p = m->params + m->table.offset[t];
        const real *gr = m->grads + m->table.offset[t];
        const int64_t n = m->table.rows[t] * m->table.cols[t];
        const gc_result r = gc_compare(total_loss_obj, c, p, gr, n, floor_);
        if (r.max_abs > g_worst_abs) g_worst_abs = r.max_abs;
        checked += n;
        /* no tensor's check may be vacuous (e.g. a dead ReLU channel or GAT logits that never
         * straddle the LeakyReLU kink would leave att_dst with an exactly zero gradient) */
        double gmax = 0;
        for (int64_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(gr[i] - GC_PREFILL));
        if (!(gmax > 1e-9)) printf("      %-22s has an all-zero gradient\n", m->table.names[t]);
        assert_true(gmax > 1e-9);
        if (r.worst >= GC_TOL || getenv("CW_VERBOSE"))
            printf("      %-22s %4lld elems  worst rel %.2e  [%lld] an %+.10e num %+.10e\n",
                   m->table.names[t], (long long)n, r.worst, (long long)r.i, r.an, r.num);
        if (r.worst > case_worst) case_worst = r.worst;
        assert_true(r.worst < GC_TOL);
    }
    assert_int_equal(checked, m->table.total);
    printf("      %lld parameters in %d tensors, floor %.2e: worst rel %.2e\n", (long long)checked,
           m->table.n, floor_, case_worst);
    if (case_worst > g_worst_all) g_worst_all = case_worst;

    /* exact zeros where a parameter does not enter the loss */
    if (cw_cmvae_has(m, CW_CMVAE_G)) {
        const real *dg = cw_cmvae_grad(m, CW_CMVAE_G);
        for (int64_t i = 0; i < TZ; i++)
            for (int64_t j = 0; j <= i; j++) assert_true(dg[i * TZ + j] == GC_PREFILL);
    }
    if (cw_cmvae_has(m, CW_CMVAE_C1_W)) {
        const real *dc1 = cw_cmvae_grad(m, CW_CMVAE_C1_W), *dcs = cw_cmvae_grad(m, CW_CMVAE_C_SHIFT);
        for (int64_t col = 0; col < TC; col++) {
            if (col == c->k || col == c->k2) continue;
            assert_true(dcs[col] == GC_PREFILL);
            for (int64_t i = 0; i < TH; i++) assert_true(dc1[i * TC + col] == GC_PREFILL);
        }
    }
    return case_worst;
}

/* predict (tau 1, eval mode, same eps and xi) reproduces the training forward at tau 1 when the
 * model has no dropout */
static void check_predict(gc_ctx *c) {
    cw_cmvae *m = &c->m;
    if (m->has_interv && m->iv.cfg.dropout > 0) return;
    const cw_cmvae_sched w = c->w;
    c->w.tau = 1;
    total_loss(c);
    real yf[TB * TG], yp[TB * TG];
    memcpy(yf, m->y_hat, sizeof yf);
    assert_int_equal(cw_cmvae_predict(m, yp, c->x, m->cfg.extra_inputs ? c->extra : NULL, TB, c->k,
                                      c->k2, &(cw_cmvae_noise){c->eps, c->xi}, NULL),
                     CW_OK);
    for (int64_t i = 0; i < TB * TG; i++) assert_true(yp[i] == yf[i]);
    c->w = w;
}

static double g_case_worst[16];

/* single target (sigma 3) and double perturbation (sigma 1000); returns the worst */
static double run_family_case(const fam_case *fc, uint64_t seed, void (*extra_check)(gc_ctx *)) {
    static gc_ctx c;
    printf("  %s\n", fc->name);
    double worst = 0;
    for (int pass = 0; pass < 2; pass++) {
        const int64_t k = pass ? 0 : 1, k2 = pass ? 3 : -1;
        setup_ctx(&c, fc, seed + (uint64_t)pass, pass ? 1000 : 3, k, k2);
        worst = fmax(worst, gradcheck(&c));
        check_predict(&c);
        if (extra_check) extra_check(&c);
        cw_cmvae_free(&c.m);
    }
    return worst;
}

/* ---- per-case extra checks --------------------------------------------------------------------- */

/* grace without extra inputs reads xi: changing it changes the loss */
static void xi_matters(gc_ctx *c) {
    const double l0 = total_loss(c);
    c->xi[1] += 0.5;
    const double l1 = total_loss(c);
    c->xi[1] -= 0.5;
    assert_true(l0 != l1);
}

/* with extra inputs the pathway nodes get zeros: xi has no effect */
static void xi_ignored(gc_ctx *c) {
    const double l0 = total_loss(c);
    for (int p = 0; p < TP; p++) c->xi[p] += 0.5 + p;
    const double l1 = total_loss(c);
    for (int p = 0; p < TP; p++) c->xi[p] -= 0.5 + p;
    printf("    xi changed: loss %.17g -> %.17g\n", l0, l1);
    assert_true(l0 == l1);
    /* the GNN's input: node-major x0 (SAGE, GCN) or cell-major h[0] (GAT) */
    for (int64_t b = 0; b < TB; b++)
        for (int p = 0; p < TP; p++)
            assert_true((c->m.gnn.node_major ? c->m.gnn.x0[(TG + p) * TB + b]
                                             : c->m.gnn.h[0][b * TN + TG + p]) == 0);
    assert_int_equal(c->m.in_width, TG + TE);
}

static void no_dag(gc_ctx *c) {
    assert_int_equal(c->m.slot[CW_CMVAE_G], -1);
    assert_int_equal(cw_params_find(&c->m.table, "G"), -1);
    cw_cmvae_losses l;
    assert_int_equal(forward(c, &l), CW_OK);
    assert_true(l.lap > 0);
    assert_true(l.l1 == 0);
    for (int64_t i = 0; i < TB * TZ; i++) assert_true(c->m.u_obs[i] == c->m.z[i]);
}

static void multihot_columns(gc_ctx *c) {
    assert_int_equal(c->m.in_width, TG + TP);
    total_loss(c);
    for (int64_t b = 0; b < TB; b++) {
        for (int64_t g = 0; g < TG; g++)
            assert_true(c->m.enc_in[b * (TG + TP) + g] == c->x[b * TG + g]);
        for (int64_t p = 0; p < TP; p++)
            assert_true(c->m.enc_in[b * (TG + TP) + TG + p] == g_multihot[b][p]);
    }
}

static void sena_mask_zero(gc_ctx *c) {
    cw_cmvae *m = &c->m;
    assert_int_equal(m->enc_hidden, TP + 2); /* all 3 pathways have >= 1 gene, + 2 free units */
    assert_int_equal(m->in_width, TG);
    /* the gradient check left the analytic gradients in m->grads (prefilled) */
    const real *dw = cw_cmvae_grad(m, CW_CMVAE_FC1_W);
    int64_t zeros = 0, nonzero_kept = 0;
    for (int64_t i = 0; i < m->enc_hidden * m->in_width; i++) {
        if (m->sena_mask[i] == 0) {
            assert_true(dw[i] == GC_PREFILL);
            zeros++;
        } else {
            nonzero_kept += dw[i] != GC_PREFILL;
        }
    }
    /* p0 {0,1,2}, p1 {2,3,4}, p2 {4}: 3 + 3 + 5 masked-out weights */
    assert_int_equal(zeros, 11);
    assert_true(nonzero_kept > 0);
}

static void extra_layout(gc_ctx *c) {
    assert_int_equal(c->m.in_width, TG + TE);
    total_loss(c);
    for (int64_t b = 0; b < TB; b++)
        for (int64_t e = 0; e < TE; e++)
            assert_true(c->m.enc_in[b * (TG + TE) + TG + e] == c->extra[b * TE + e]);
}

/* ---- the tests ------------------------------------------------------------------------------- */

static const fam_case g_cases[] = {
    {"1. grace + sage (1 layer)", CW_MODEL_GRACE, CW_GNN_SAGE, 1, {0, 0}, 0, CW_INTERV_MLP, -1, 0, 0},
    {"2. grace + gcn (1 layer)", CW_MODEL_GRACE, CW_GNN_GCN, 1, {0, 0}, 0, CW_INTERV_MLP, -1, 0, 0},
    {"3. grace + gat (3 layers, widths 2 3, heads 2)", CW_MODEL_GRACE, CW_GNN_GAT, 3, {2, 3}, 2,
     CW_INTERV_MLP, -1, 0, 0},
    {"4. grace + sage (2 layers, width 2)", CW_MODEL_GRACE, CW_GNN_SAGE, 2, {2, 0}, 1,
     CW_INTERV_MLP, -1, 0, 0},
    {"5. vgae (sage, lambda2 0.3)", CW_MODEL_VGAE, CW_GNN_SAGE, 1, {0, 0}, 0, CW_INTERV_MLP, -1,
     0.3, 0},
    {"6. multihot", CW_MODEL_MULTIHOT, CW_GNN_SAGE, 1, {0, 0}, 0, CW_INTERV_MLP, -1, 0, 0},
    {"7. sena (free units 2, min genes 1, lambda 0)", CW_MODEL_SENA, CW_GNN_SAGE, 1, {0, 0}, 0,
     CW_INTERV_MLP, -1, 0, 0},
    {"8. grace + trivalue (dropout 0.1, lambda2 0.2)", CW_MODEL_GRACE, CW_GNN_SAGE, 1, {0, 0}, 0,
     CW_INTERV_TRIVALUE, 0.1, 0.2, 0},
    {"9. grace + dropedge", CW_MODEL_GRACE, CW_GNN_SAGE, 1, {0, 0}, 0, CW_INTERV_DROPEDGE, -1, 0,
     0},
    {"10a. cmvae + 2 extra inputs", CW_MODEL_CMVAE, CW_GNN_SAGE, 1, {0, 0}, 0, CW_INTERV_MLP, -1,
     0, TE},
    {"10b. grace + 2 extra inputs", CW_MODEL_GRACE, CW_GNN_SAGE, 1, {0, 0}, 0, CW_INTERV_MLP, -1,
     0, TE},
};

#define CASE_TEST(fn, idx, seed, check)                                                        \
    static void fn(void **state) {                                                             \
        (void)state;                                                                           \
        g_case_worst[idx] = run_family_case(&g_cases[idx], seed, check);                        \
    }
CASE_TEST(test_grace_sage, 0, 101, xi_matters)
CASE_TEST(test_grace_gcn, 1, 103, xi_matters)
CASE_TEST(test_grace_gat3, 2, 421, xi_matters)
CASE_TEST(test_grace_sage2, 3, 107, NULL)
CASE_TEST(test_vgae, 4, 109, no_dag)
CASE_TEST(test_multihot, 5, 111, multihot_columns)
CASE_TEST(test_sena, 6, 113, sena_mask_zero)
CASE_TEST(test_grace_trivalue, 7, 115, NULL)
CASE_TEST(test_grace_dropedge, 8, 117, NULL)
CASE_TEST(test_cmvae_extra, 9, 119, extra_layout)
CASE_TEST(test_grace_extra, 10, 121, xi_ignored)

/* trivalue with dropout: the loss does depend on the masks (so fixing them was needed) */
static void test_trivalue_dropout_masks_matter(void **state) {
    (void)state;
    static gc_ctx c;
    setup_ctx(&c, &g_cases[7], 131, 3, 2, -1);
    const double l0 = total_loss(&c), l0b = total_loss(&c);
    assert_true(l0 == l0b);
    cw_rng rng;
    cw_rng_seed(&rng, GC_DROP_SEED + 1);
    cw_cmvae_losses l;
    assert_int_equal(cw_cmvae_forward(&c.m, c.x, NULL, c.y, c.k, c.k2,
                                      &(cw_cmvae_noise){c.eps, c.xi}, &rng, c.w, &l),
                     CW_OK);
    assert_true(l.total != l0);
    cw_cmvae_free(&c.m);
}

static void no_alloc(const fam_case *fc, uint64_t seed) {
    static gc_ctx c;
    setup_ctx(&c, fc, seed, 3, 1, -1);
    cw_cmvae *m = &c.m;
    cw_rng rng;
    cw_rng_seed(&rng, 77);
    cw_cmvae_losses l;
    real yp[TB * TG];
    cw_alloc_fail_after(0);
    assert_int_equal(cw_cmvae_forward(m, c.x, NULL, c.y, 1, -1, &(cw_cmvae_noise){c.eps, c.xi},
                                      &rng, c.w, &l),
                     CW_OK);
    cw_cmvae_backward(m);
    assert_int_equal(cw_cmvae_forward(m, c.x, NULL, c.y, 2, 0, NULL, &rng, c.w, &l), CW_OK);
    cw_cmvae_backward(m);
    for (int s = 0; s < 3; s++)
        assert_int_equal(cw_cmvae_train_step(m, c.x, NULL, c.y, s, s == 1 ? 3 : -1,
                                             s == 0 ? &(cw_cmvae_noise){c.eps, c.xi} : NULL, &rng,
                                             c.w, &l),
                         CW_OK);
    assert_int_equal(cw_cmvae_predict(m, yp, c.x, NULL, TB - 1, 3, 1, NULL, &rng), CW_OK);
    const int64_t injected = cw_alloc_injected_failures();
    cw_alloc_fail_after(-1);
    assert_int_equal(injected, 0);
    assert_int_equal(m->t, 3);
    printf("  %s: forward, backward, 3 train steps, predict: no allocation\n", fc->name);
    cw_cmvae_free(m);
}

static void test_no_alloc_gat3(void **state) {
    (void)state;
    no_alloc(&g_cases[2], 141);
}
static void test_no_alloc_trivalue(void **state) {
    (void)state;
    no_alloc(&g_cases[7], 143);
}

static void expect_einval(cw_cmvae_config *cfg, const char *needle) {
    cw_rng rng;
    cw_rng_seed(&rng, 1);
    cw_cmvae m;
    assert_int_equal(cw_cmvae_init(&m, cfg, &rng), CW_EINVAL);
    printf("  %s: %s\n", cw_model_kind_name(cfg->kind), cw_errmsg());
    assert_non_null(strstr(cw_errmsg(), needle));
    assert_null(m.arena);
    assert_null(m.params);
}

static void test_init_missing_graphs(void **state) {
    (void)state;
    cw_cmvae_config cfg;
    /* grace without a context graph */
    case_config(&cfg, &g_cases[0], 1000);
    cfg.graph = NULL;
    expect_einval(&cfg, "model grace needs a context graph");
    /* sena on a graph without pathway nodes */
    case_config(&cfg, &g_cases[6], 1000);
    cfg.graph = &g_gg_only;
    expect_einval(&cfg, "model sena needs pathway nodes");
    /* trivalue without the gene-union graph */
    case_config(&cfg, &g_cases[7], 1000);
    cfg.union_graph = NULL;
    expect_einval(&cfg, "a graph intervention encoder needs the PPI graph");
    /* and the Laplacian term without it */
    case_config(&cfg, &g_cases[4], 1000);
    cfg.union_graph = NULL;
    expect_einval(&cfg, "the Laplacian term needs the PPI graph");
}

static int setup_graphs(void **state) {
    (void)state;
    build_graphs();
    return 0;
}

static int report(void **state) {
    (void)state;
    for (size_t i = 0; i < sizeof g_cases / sizeof g_cases[0]; i++)
        printf("  %-50s worst rel %.2e\n", g_cases[i].name, g_case_worst[i]);
    printf("  worst relative gradient error over all cases: %.2e (tolerance %.0e); worst absolute "
           "%.2e\n", g_worst_all, GC_TOL, g_worst_abs);
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grace_sage),
        cmocka_unit_test(test_grace_gcn),
        cmocka_unit_test(test_grace_gat3),
        cmocka_unit_test(test_grace_sage2),
        cmocka_unit_test(test_vgae),
        cmocka_unit_test(test_multihot),
        cmocka_unit_test(test_sena),
        cmocka_unit_test(test_grace_trivalue),
        cmocka_unit_test(test_grace_dropedge),
        cmocka_unit_test(test_cmvae_extra),
        cmocka_unit_test(test_grace_extra),
        cmocka_unit_test(test_trivalue_dropout_masks_matter),
        cmocka_unit_test(test_no_alloc_gat3),
        cmocka_unit_test(test_no_alloc_trivalue),
        cmocka_unit_test(test_init_missing_graphs),
    };
    return cmocka_run_group_tests_name("family_gradcheck (" CW_REAL_NAME ")", tests, setup_graphs,
                                       report);
}
