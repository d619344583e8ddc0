/* interv_encoder.c: graph-guided intervention encoders of GraCE, trivalue, trivalue-1hop and
 * dropedge (interv_encoder.h; spec grace_cmvae.md §4.5, §3.6, §4.0 init, §4.8 sizes).
 *
 * Conventions. One GCN layer is PyG GCNConv: xw = x W^T (no bias), out = A_hat xw + b, with
 * A_hat = D^-1/2 (A + I) D^-1/2 as cw_spmm values (val, diag); A_hat is symmetric, so its
 * backward is cw_spmm with the same values. Every activation of a forward lives in its call slot
 * (two slots, for the two targets of a double perturbation); backward overwrites only the shared
 * scratch, so slot s's backward reads nothing but slot s. All buffers (slots, scratch, the GCN
 * values and the dropedge keep masks) are carved from one arena at init: forward and backward
 * allocate nothing. Layer 1's LeakyReLU runs in place (a1 holds lrelu's output, which has the
 * sign of its input, so it serves both lrelu's and LayerNorm's backward); layer 2 keeps the
 * pre-activation s2 = GCN2(h1) + h1 and a2 = lrelu(s2). Evaluation (train 0) runs dropout with
 * p = 0, which sets the masks to 1 and draws nothing, so backward needs no special case.
 * The whole graph is propagated although only row node(k) is read out: simple, and cheap next to
 * the gene MLPs at N_int ~ 5,000 and H = 64.
 */
#include "models/interv_encoder.h"

#include "core/alloc.h"
#include "core/status.h"
#include "data/graph.h"
#include "nn/activation.h"
#include "nn/dropout.h"
#include "nn/graph_conv.h"
#include "nn/layernorm.h"
#include "nn/linear.h"
#include "nn/softmax.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* tensor indices, in specs order (ptb_strength last: absent for dropedge) */
enum {
    IV_EMB = 0,
    IV_C1_W, IV_C1_B, IV_LN1_W, IV_LN1_B,
    IV_C2_W, IV_C2_B, IV_LN2_W, IV_LN2_B,
    IV_M1_W, IV_M1_B, IV_M2_W, IV_M2_B,
    IV_ETA_W, IV_ETA_B, IV_ETA_SCALE,
    IV_PTB,
    IV_NTENSORS
};
_Static_assert(IV_NTENSORS <= CW_INTERV_MAX_TENSORS, "interv encoder: too many tensors");

#define IV_TAU_MIN 1e-3
#define IV_TAU_MAX 10.0

const char *cw_interv_kind_name(cw_interv_kind k) {
    switch (k) {
    case CW_INTERV_MLP: return "mlp";
    case CW_INTERV_TRIVALUE: return "trivalue";
    case CW_INTERV_TRIVALUE_1HOP: return "trivalue-1hop";
    case CW_INTERV_DROPEDGE: return "dropedge";
    }
    return "unknown";
}

int cw_interv_kind_parse(const char *s) {
    if (!s) return -1;
    static const cw_interv_kind all[] = {CW_INTERV_MLP, CW_INTERV_TRIVALUE,
                                         CW_INTERV_TRIVALUE_1HOP, CW_INTERV_DROPEDGE};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (!strcmp(s, cw_interv_kind_name(all[i]))) return (int)all[i];
    return -1;
}

void cw_interv_config_default(cw_interv_config *c, cw_interv_kind kind, int64_t latent,
                              int64_t targets, int64_t mlp_hidden) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->emb = 32;
    c->hidden = 64;
    c->mlp_hidden = mlp_hidden;
    c->latent = latent;
    c->targets = targets;
    c->dropout = -1; /* resolved at init: 0.1 tri-value, 0 dropedge */
}

static int iv_trivalue(const cw_interv_encoder *e) { return e->cfg.kind != CW_INTERV_DROPEDGE; }

/* Carves the arena; with base NULL only counts. Returns the number of reals. */
static int64_t iv_layout(cw_interv_encoder *e, real *base) {
    const int64_t N = e->n_nodes, nnz = e->nnz, F1 = e->f1, H = e->cfg.hidden;
    const int64_t MH = e->cfg.mlp_hidden, Z = e->cfg.latent;
    const int dropedge = e->cfg.kind == CW_INTERV_DROPEDGE;
    /* a uint8 mask of nnz bytes, rounded up to whole reals (keeps the next block aligned) */
    const int64_t keep_reals = (nnz + (int64_t)sizeof(real) - 1) / (int64_t)sizeof(real);
    int64_t off = 0;
#define IV_TAKE(ptr, count)                                                                    \
    do {                                                                                       \
        if (base) (ptr) = base + off;                                                          \
        off += (count);                                                                        \
    } while (0)
    if (!dropedge) {
        IV_TAKE(e->val, nnz);
        IV_TAKE(e->diag, N);
    }
    for (int s = 0; s < 2; s++) {
        cw_interv_slot *sl = &e->slot[s];
        IV_TAKE(sl->x, N * F1);
        if (dropedge) {
            IV_TAKE(sl->val, nnz);
            IV_TAKE(sl->diag, N);
            if (base) sl->keep = (uint8_t *)(base + off);
            off += keep_reals;
        } else if (base) {
            sl->val = e->val; /* the full-graph normalisation, shared */
            sl->diag = e->diag;
            sl->keep = NULL;
        }
        IV_TAKE(sl->xw1, N * H);
        IV_TAKE(sl->a1, N * H);
        IV_TAKE(sl->ln1_mean, N);
        IV_TAKE(sl->ln1_rstd, N);
        IV_TAKE(sl->n1, N * H);
        IV_TAKE(sl->mask1, N * H);
        IV_TAKE(sl->h1, N * H);
        IV_TAKE(sl->xw2, N * H);
        IV_TAKE(sl->s2, N * H);
        IV_TAKE(sl->a2, N * H);
        IV_TAKE(sl->ln2_mean, N);
        IV_TAKE(sl->ln2_rstd, N);
        IV_TAKE(sl->n2, N * H);
        IV_TAKE(sl->mask2, N * H);
        IV_TAKE(sl->h, N * H);
        IV_TAKE(sl->r, H);
        IV_TAKE(sl->q, MH);
        IV_TAKE(sl->logits, Z);
        IV_TAKE(sl->bc, Z);
    }
    /* backward scratch: three (N, H) buffers, dh1 (N, H), dq, dqpre (MH), dr (H), dlogits (Z) */
    IV_TAKE(e->scratch, 4 * N * H + 2 * MH + H + Z);
#undef IV_TAKE
    return off;
}

/* CSR sanity: monotone indptr, indices in range and sorted, no self loops, symmetric pattern.
 * cw_spmm's backward relies on the symmetry. */
static cw_status iv_check_graph(int64_t n, const int64_t *indptr, const int32_t *indices) {
    if (indptr[0] != 0) return cw_fail(CW_EINVAL, "interv encoder: graph indptr[0] != 0");
    for (int64_t v = 0; v < n; v++) {
        if (indptr[v + 1] < indptr[v])
            return cw_fail(CW_EINVAL, "interv encoder: graph indptr decreases at row %lld",
                           (long long)v);
        for (int64_t q = indptr[v]; q < indptr[v + 1]; q++) {
            const int64_t u = indices[q];
            if (u < 0 || u >= n || u == v || (q > indptr[v] && indices[q - 1] >= u))
                return cw_fail(CW_EINVAL, "interv encoder: graph row %lld: column %lld out of "
                               "range, a self loop or not strictly increasing", (long long)v,
                               (long long)u);
        }
    }
    for (int64_t v = 0; v < n; v++)
        for (int64_t q = indptr[v]; q < indptr[v + 1]; q++) {
            const int64_t u = indices[q];
            int64_t lo = indptr[u], hi = indptr[u + 1];
            while (lo < hi) {
                const int64_t mid = lo + (hi - lo) / 2;
                if (indices[mid] < v) lo = mid + 1;
                else hi = mid;
            }
            if (lo == indptr[u + 1] || indices[lo] != v)
                return cw_fail(CW_EINVAL, "interv encoder: graph is not symmetric (edge %lld -> "
                               "%lld without its reverse)", (long long)v, (long long)u);
        }
    return CW_OK;
}

/* index of x in the sorted array a (n), -1 when absent */
static int64_t iv_bsearch(const int64_t *a, int64_t n, int64_t x) {
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        const int64_t mid = lo + (hi - lo) / 2;
        if (a[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && a[lo] == x ? lo : -1;
}

void cw_interv_encoder_free(cw_interv_encoder *e) {
    cw_free(e->indptr);
    cw_free(e->indices);
    cw_free(e->target_node);
    cw_free(e->candidate);
    cw_free(e->arena);
    memset(e, 0, sizeof *e);
}

cw_status cw_interv_encoder_init(cw_interv_encoder *e, const cw_interv_config *cfg,
                                 int64_t n_union, const int64_t *union_indptr,
                                 const int32_t *union_indices, const int64_t *target_node) {
    memset(e, 0, sizeof *e);
    if (cfg->kind != CW_INTERV_TRIVALUE && cfg->kind != CW_INTERV_TRIVALUE_1HOP &&
        cfg->kind != CW_INTERV_DROPEDGE)
        return cw_fail(CW_EINVAL, "interv encoder: kind %d is not a graph encoder (trivalue, "
                       "trivalue-1hop, dropedge)", (int)cfg->kind);
    if (cfg->emb <= 0 || cfg->hidden <= 0 || cfg->mlp_hidden <= 0 || cfg->latent <= 0 ||
        cfg->targets <= 0)
        return cw_fail(CW_EINVAL, "interv encoder: sizes must be positive (emb %lld, hidden "
                       "%lld, mlp_hidden %lld, latent %lld, targets %lld)", (long long)cfg->emb,
                       (long long)cfg->hidden, (long long)cfg->mlp_hidden,
                       (long long)cfg->latent, (long long)cfg->targets);
    if (!(cfg->dropout < 1)) /* also rejects NaN */
        return cw_fail(CW_EINVAL, "interv encoder: dropout %g outside [0, 1)", cfg->dropout);
    if (n_union <= 0 || n_union > INT32_MAX || !union_indptr || !target_node ||
        (union_indptr[n_union] > 0 && !union_indices))
        return cw_fail(CW_EINVAL, "interv encoder: need a graph with 1..2^31-1 nodes and the "
                       "target nodes (got %lld nodes)", (long long)n_union);
    const int64_t C = cfg->targets;
    for (int64_t k = 0; k < C; k++)
        if (target_node[k] < 0 || target_node[k] >= n_union)
            return cw_fail(CW_EINVAL, "interv encoder: target %lld maps to node %lld, outside "
                           "the %lld-node gene-union graph", (long long)k,
                           (long long)target_node[k], (long long)n_union);
    CW_TRY(iv_check_graph(n_union, union_indptr, union_indices));

    e->cfg = *cfg;
    if (e->cfg.dropout < 0) e->cfg.dropout = cfg->kind == CW_INTERV_DROPEDGE ? 0.0 : 0.1;
    e->f1 = iv_trivalue(e) ? 1 + cfg->emb : cfg->emb;
    e->target_node = cw_malloc_array((size_t)C, sizeof(int64_t));
    if (!e->target_node) goto oom;

    if (cfg->kind == CW_INTERV_TRIVALUE_1HOP) {
        /* a view of the union CSR (cw_subgraph_1hop only reads it) */
        cw_adj g = {n_union, union_indptr[n_union], (int64_t *)union_indptr,
                    (int32_t *)union_indices};
        cw_subgraph sub;
        cw_status st = cw_subgraph_1hop(&sub, &g, target_node, C);
        if (st != CW_OK) {
            cw_interv_encoder_free(e);
            return cw_fail_prefix(st, "interv encoder");
        }
        for (int64_t k = 0; k < C; k++) {
            e->target_node[k] = iv_bsearch(sub.global, sub.n, target_node[k]);
            CW_ASSERT(e->target_node[k] >= 0); /* every seed is in its own 1-hop subgraph */
        }
        e->n_nodes = sub.n;
        e->nnz = sub.adj.nnz;
        e->indptr = sub.adj.indptr; /* taken over from the subgraph */
        e->indices = sub.adj.indices;
        sub.adj.indptr = NULL;
        sub.adj.indices = NULL;
        cw_subgraph_free(&sub);
    } else {
        e->n_nodes = n_union;
        e->nnz = union_indptr[n_union];
        e->indptr = cw_malloc_array((size_t)n_union + 1, sizeof(int64_t));
        e->indices = cw_malloc_array((size_t)(e->nnz > 0 ? e->nnz : 1), sizeof(int32_t));
        if (!e->indptr || !e->indices) goto oom;
        memcpy(e->indptr, union_indptr, (size_t)(n_union + 1) * sizeof(int64_t));
        if (e->nnz > 0) memcpy(e->indices, union_indices, (size_t)e->nnz * sizeof(int32_t));
        memcpy(e->target_node, target_node, (size_t)C * sizeof(int64_t));
    }
    e->candidate = cw_calloc((size_t)e->n_nodes, 1);
    if (!e->candidate) goto oom;
    for (int64_t k = 0; k < C; k++) e->candidate[e->target_node[k]] = 1;

    /* parameter table entries */
    const int64_t N = e->n_nodes, H = cfg->hidden, MH = cfg->mlp_hidden, Z = cfg->latent;
    const struct {
        const char *name;
        int64_t rows, cols;
    } t[IV_NTENSORS] = {
        {"interv.node_emb", N, cfg->emb},
        {"interv.conv1.weight", H, e->f1}, {"interv.conv1.bias", H, 1},
        {"interv.ln1.weight", H, 1},       {"interv.ln1.bias", H, 1},
        {"interv.conv2.weight", H, H},     {"interv.conv2.bias", H, 1},
        {"interv.ln2.weight", H, 1},       {"interv.ln2.bias", H, 1},
        {"interv.mlp1.weight", MH, H},     {"interv.mlp1.bias", MH, 1},
        {"interv.mlp2.weight", Z, MH},     {"interv.mlp2.bias", Z, 1},
        {"interv.eta.weight", 1, MH},      {"interv.eta.bias", 1, 1},
        {"interv.eta_scale", 1, 1},        {"interv.ptb_strength", C, 1},
    };
    e->n_tensors = iv_trivalue(e) ? IV_NTENSORS : IV_NTENSORS - 1;
    for (int i = 0; i < e->n_tensors; i++) {
        snprintf(e->names[i], CW_PARAM_NAME_MAX, "%s", t[i].name);
        e->rows[i] = t[i].rows;
        e->cols[i] = t[i].cols;
    }

    const int64_t size = iv_layout(e, NULL);
    e->arena = cw_malloc_array((size_t)size, sizeof(real));
    if (!e->arena) goto oom;
    memset(e->arena, 0, (size_t)size * sizeof(real));
    iv_layout(e, e->arena);
    if (iv_trivalue(e)) cw_gcn_norm_values(e->val, e->diag, e->indptr, e->indices, NULL, N);
    for (int s = 0; s < 2; s++) e->slot[s].k = -1;
    return CW_OK;
oom:
    cw_interv_encoder_free(e);
    return cw_fail(CW_ENOMEM, "interv encoder: out of memory (%lld nodes, %lld edges)",
                   (long long)n_union, (long long)(union_indptr[n_union] / 2));
}

int cw_interv_encoder_param_specs(const cw_interv_encoder *e, cw_param_spec *specs) {
    for (int i = 0; i < e->n_tensors; i++) {
        specs[i].name = e->names[i];
        specs[i].rows = e->rows[i];
        specs[i].cols = e->cols[i];
    }
    return e->n_tensors;
}

void cw_interv_encoder_bind(cw_interv_encoder *e, real *params, real *grads,
                            const int64_t *offset) {
    for (int i = 0; i < e->n_tensors; i++) {
        e->p[i] = params + offset[i];
        e->g[i] = grads ? grads + offset[i] : NULL;
    }
}

static void iv_fill_uniform(cw_rng *r, real *a, int64_t n, double bound) {
    for (int64_t i = 0; i < n; i++) a[i] = (real)(bound * (2 * cw_rng_uniform(r) - 1));
}

static void iv_fill(real *a, int64_t n, real v) {
    for (int64_t i = 0; i < n; i++) a[i] = v;
}

void cw_interv_encoder_init_params(cw_interv_encoder *e, cw_rng *rng) {
    for (int i = 0; i < e->n_tensors; i++) {
        CW_ASSERT(e->p[i]); /* bind first */
        real *p = e->p[i];
        const int64_t n = e->rows[i] * e->cols[i];
        switch (i) {
        case IV_EMB: /* nn.Embedding: N(0, 1) */
            for (int64_t j = 0; j < n; j++) p[j] = (real)cw_rng_normal(rng);
            break;
        case IV_C1_W: case IV_C2_W: /* GCNConv: glorot uniform, bound sqrt(6 / (in + out)) */
            iv_fill_uniform(rng, p, n, sqrt(6.0 / (double)(e->rows[i] + e->cols[i])));
            break;
        case IV_LN1_W: case IV_LN2_W: case IV_ETA_SCALE:
            iv_fill(p, n, 1);
            break;
        case IV_M1_W: case IV_M1_B: /* torch Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
            iv_fill_uniform(rng, p, n, 1.0 / sqrt((double)e->cfg.hidden));
            break;
        case IV_M2_W: case IV_M2_B: case IV_ETA_W: case IV_ETA_B:
            iv_fill_uniform(rng, p, n, 1.0 / sqrt((double)e->cfg.mlp_hidden));
            break;
        default: /* GCN biases, LayerNorm betas, ptb_strength */
            iv_fill(p, n, 0);
        }
    }
}

static void iv_zero(real *a, int64_t n) { memset(a, 0, (size_t)n * sizeof(real)); }

void cw_interv_encoder_forward(cw_interv_encoder *e, int s, int64_t k, real tau, int train,
                               cw_rng *rng, real *bc, real *eta) {
    CW_ASSERT(s == 0 || s == 1);
    CW_ASSERT(k >= 0 && k < e->cfg.targets);
    CW_ASSERT(e->p[0]); /* bound */
    cw_interv_slot *sl = &e->slot[s];
    const int64_t N = e->n_nodes, F1 = e->f1, EMB = e->cfg.emb, H = e->cfg.hidden;
    const int64_t MH = e->cfg.mlp_hidden, Z = e->cfg.latent;
    const int64_t nk = e->target_node[k];
    const double p = train ? e->cfg.dropout : 0.0;
    CW_ASSERT(p == 0 || rng);
    const int64_t *indptr = e->indptr;
    const int32_t *indices = e->indices;

    if (!(tau >= (real)IV_TAU_MIN)) tau = (real)IV_TAU_MIN; /* NaN -> the lower bound */
    if (tau > (real)IV_TAU_MAX) tau = (real)IV_TAU_MAX;
    sl->k = k;
    sl->train = train;
    sl->tau = tau;

    /* input features and the graph of this call */
    const real *E = e->p[IV_EMB];
    if (iv_trivalue(e)) {
        for (int64_t v = 0; v < N; v++) {
            real *xv = sl->x + v * F1;
            xv[0] = v == nk ? 1 : e->candidate[v] ? 0 : -1;
            memcpy(xv + 1, E + v * EMB, (size_t)EMB * sizeof(real));
        }
    } else {
        memcpy(sl->x, E, (size_t)(N * EMB) * sizeof(real));
        for (int64_t v = 0; v < N; v++)
            for (int64_t q = indptr[v]; q < indptr[v + 1]; q++)
                sl->keep[q] = !(v == nk || indices[q] == nk);
        cw_gcn_norm_values(sl->val, sl->diag, indptr, indices, sl->keep, N);
    }

    /* h1 = drop(LN1(lrelu(A_hat x W1^T + b1))) */
    cw_linear_forward(sl->xw1, sl->x, e->p[IV_C1_W], NULL, N, F1, H);
    cw_spmm(sl->a1, sl->xw1, indptr, indices, sl->val, sl->diag, 1, N, H, 0);
    cw_bias_forward(sl->a1, e->p[IV_C1_B], N, H);
    cw_lrelu_forward(sl->a1, sl->a1, N * H);
    cw_layernorm_forward(sl->n1, sl->ln1_mean, sl->ln1_rstd, sl->a1, e->p[IV_LN1_W],
                         e->p[IV_LN1_B], N, H);
    cw_dropout_forward(sl->h1, sl->mask1, sl->n1, p, N * H, rng);

    /* h = drop(LN2(lrelu(A_hat h1 W2^T + b2 + h1))) */
    cw_linear_forward(sl->xw2, sl->h1, e->p[IV_C2_W], NULL, N, H, H);
    cw_spmm(sl->s2, sl->xw2, indptr, indices, sl->val, sl->diag, 1, N, H, 0);
    cw_bias_forward(sl->s2, e->p[IV_C2_B], N, H);
    for (int64_t i = 0; i < N * H; i++) sl->s2[i] += sl->h1[i];
    cw_lrelu_forward(sl->a2, sl->s2, N * H);
    cw_layernorm_forward(sl->n2, sl->ln2_mean, sl->ln2_rstd, sl->a2, e->p[IV_LN2_W],
                         e->p[IV_LN2_B], N, H);
    cw_dropout_forward(sl->h, sl->mask2, sl->n2, p, N * H, rng);

    /* read-out and heads */
    memcpy(sl->r, sl->h + nk * H, (size_t)H * sizeof(real));
    cw_linear_forward(sl->q, sl->r, e->p[IV_M1_W], e->p[IV_M1_B], 1, H, MH);
    cw_lrelu_forward(sl->q, sl->q, MH);
    cw_linear_forward(sl->logits, sl->q, e->p[IV_M2_W], e->p[IV_M2_B], 1, MH, Z);
    cw_softmax_forward(sl->bc, sl->logits, tau, 1, Z);
    cw_linear_forward(&sl->eta_pre, sl->q, e->p[IV_ETA_W], e->p[IV_ETA_B], 1, MH, 1);
    cw_tanh_forward(&sl->eta_tanh, &sl->eta_pre, 1);
    real et = e->p[IV_ETA_SCALE][0] * sl->eta_tanh;
    if (iv_trivalue(e)) et += e->p[IV_PTB][k];
    if (bc) memcpy(bc, sl->bc, (size_t)Z * sizeof(real));
    if (eta) *eta = et;
}

void cw_interv_encoder_backward(cw_interv_encoder *e, int s, const real *dbc, real deta) {
    CW_ASSERT(s == 0 || s == 1);
    cw_interv_slot *sl = &e->slot[s];
    CW_ASSERT(sl->k >= 0); /* a forward in this slot first */
    CW_ASSERT(e->g[0]);    /* gradients bound */
    const int64_t N = e->n_nodes, F1 = e->f1, EMB = e->cfg.emb, H = e->cfg.hidden;
    const int64_t MH = e->cfg.mlp_hidden, Z = e->cfg.latent;
    const int64_t k = sl->k, nk = e->target_node[k];
    const int64_t *indptr = e->indptr;
    const int32_t *indices = e->indices;
    real *bufa = e->scratch, *bufb = bufa + N * H, *bufc = bufb + N * H, *dh1 = bufc + N * H;
    real *dq = dh1 + N * H, *dqpre = dq + MH, *dr = dqpre + MH, *dlogits = dr + H;
    real **g = e->g;
    real *const *p = e->p;

    /* heads: bc = softmax(tau logits), eta = [ptb_k +] eta_scale tanh(q w_eta^T + b_eta) */
    iv_zero(dq, MH);
    if (dbc) {
        iv_zero(dlogits, Z);
        cw_softmax_backward(dlogits, dbc, sl->bc, sl->tau, 1, Z);
        cw_linear_backward(dq, g[IV_M2_W], g[IV_M2_B], dlogits, sl->q, p[IV_M2_W], 1, MH, Z);
    }
    if (iv_trivalue(e)) g[IV_PTB][k] += deta;
    g[IV_ETA_SCALE][0] += deta * sl->eta_tanh;
    const real dtanh = deta * p[IV_ETA_SCALE][0];
    real deta_pre = 0;
    cw_tanh_backward(&deta_pre, &dtanh, &sl->eta_tanh, 1);
    cw_linear_backward(dq, g[IV_ETA_W], g[IV_ETA_B], &deta_pre, sl->q, p[IV_ETA_W], 1, MH, 1);
    iv_zero(dqpre, MH);
    cw_lrelu_backward(dqpre, dq, sl->q, MH);
    iv_zero(dr, H);
    cw_linear_backward(dr, g[IV_M1_W], g[IV_M1_B], dqpre, sl->r, p[IV_M1_W], 1, H, MH);

    /* layer 2: dh = e_nk dr^T -> dn2 -> da2 -> ds2 */
    iv_zero(bufa, N * H);
    memcpy(bufa + nk * H, dr, (size_t)H * sizeof(real));
    iv_zero(bufb, N * H);
    cw_dropout_backward(bufb, bufa, sl->mask2, N * H);
    iv_zero(bufc, N * H);
    cw_layernorm_backward(bufc, g[IV_LN2_W], g[IV_LN2_B], bufb, sl->a2, sl->ln2_mean,
                          sl->ln2_rstd, p[IV_LN2_W], N, H);
    iv_zero(bufa, N * H);
    cw_lrelu_backward(bufa, bufc, sl->s2, N * H); /* ds2 */
    memcpy(dh1, bufa, (size_t)(N * H) * sizeof(real)); /* residual */
    cw_bias_backward(g[IV_C2_B], bufa, N, H);
    cw_spmm(bufb, bufa, indptr, indices, sl->val, sl->diag, 1, N, H, 0); /* dxw2 (A_hat^T = A_hat) */
    cw_linear_backward(dh1, g[IV_C2_W], NULL, bufb, sl->h1, p[IV_C2_W], N, H, H);

    /* layer 1: dh1 -> dn1 -> da1 -> dpre1 -> dxw1 -> dW1, dE */
    iv_zero(bufc, N * H);
    cw_dropout_backward(bufc, dh1, sl->mask1, N * H);
    iv_zero(bufa, N * H);
    cw_layernorm_backward(bufa, g[IV_LN1_W], g[IV_LN1_B], bufc, sl->a1, sl->ln1_mean,
                          sl->ln1_rstd, p[IV_LN1_W], N, H);
    iv_zero(bufb, N * H);
    cw_lrelu_backward(bufb, bufa, sl->a1, N * H);
    cw_bias_backward(g[IV_C1_B], bufb, N, H);
    cw_spmm(bufc, bufb, indptr, indices, sl->val, sl->diag, 1, N, H, 0); /* dxw1 */
    cw_linear_backward(NULL, g[IV_C1_W], NULL, bufc, sl->x, p[IV_C1_W], N, F1, H);
    /* dE += dxw1 W1[:, off:] with off = 1 for the tri-value column (which has no parameter) */
    const int64_t off = F1 - EMB;
    cw_gemm(0, 0, N, EMB, H, 1, bufc, H, p[IV_C1_W] + off, F1, 1, g[IV_EMB], EMB);
}
