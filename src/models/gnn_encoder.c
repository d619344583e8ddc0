/* gnn_encoder.c: the GraCE-VAE / VGAE graph encoder (gnn_encoder.h; spec §4.2, §4.3). Each layer
 * is a CSR aggregation (nn/graph_conv.h) and dense maps over all B N node rows.
 *
 * SAGE and GCN run node-major (gnn_encoder.h): one cw_spmm B F wide, and the layer's small dense
 * maps as fused loops over blocks of CW_GNN_NODE_BLOCK nodes (OpenMP over blocks, no BLAS).
 * Parameter gradients are summed in double per block and the block partials are reduced
 * serially in block order, so results do not depend on the thread count. GAT stays cell-major
 * and uses nn/linear.h (BLAS) plus cw_gat_forward/backward. */
#include "models/gnn_encoder.h"

#include "core/alloc.h"
#include "core/status.h"
#include "nn/activation.h"
#include "nn/graph_conv.h"
#include "nn/linear.h"
#include "nn/transpose.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void cw_gnn_config_default(cw_gnn_config *c, cw_gnn_kind kind, int layers) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->layers = layers;
    for (int i = 0; i < CW_GNN_MAX_LAYERS - 1; i++) c->widths[i] = i == 0 ? 4 : 8;
    c->heads = kind == CW_GNN_GAT ? 4 : 1;
}

const char *cw_gnn_kind_name(cw_gnn_kind k) {
    return k == CW_GNN_SAGE ? "sage" : k == CW_GNN_GCN ? "gcn" : k == CW_GNN_GAT ? "gat" : "?";
}

int cw_gnn_kind_parse(const char *s) {
    if (!s) return -1;
    if (!strcmp(s, "sage")) return CW_GNN_SAGE;
    if (!strcmp(s, "gcn")) return CW_GNN_GCN;
    if (!strcmp(s, "gat")) return CW_GNN_GAT;
    return -1;
}

void cw_gnn_free(cw_gnn *g) {
    cw_free(g->indptr);
    cw_free(g->indices);
    cw_free(g->val);
    cw_free(g->arena);
    cw_free(g->red);
    memset(g, 0, sizeof *g);
}

/* tensor slots of layer l: SAGE lin_l.weight, lin_l.bias, lin_r.weight; GCN lin.weight, bias;
 * GAT lin.weight, att_src, att_dst, bias */
static int tensors_per_layer(cw_gnn_kind k) { return k == CW_GNN_SAGE ? 3 : k == CW_GNN_GCN ? 2 : 4; }

static void add_tensor(cw_gnn *g, int l, const char *name, int64_t rows, int64_t cols) {
    int i = g->n_tensors++;
    snprintf(g->names[i], CW_PARAM_NAME_MAX, "gnn.%d.%s", l, name);
    g->rows[i] = rows;
    g->cols[i] = cols;
}

cw_status cw_gnn_init(cw_gnn *g, const cw_gnn_config *cfg, int64_t n_nodes, int64_t n_genes,
                      const int64_t *indptr, const int32_t *indices, int64_t batch) {
    memset(g, 0, sizeof *g);
    const int L = cfg->layers;
    if (L < 1 || L > CW_GNN_MAX_LAYERS)
        return cw_fail(CW_EINVAL, "gnn: --gnn-layers %d outside 1..%d", L, CW_GNN_MAX_LAYERS);
    if (cfg->kind != CW_GNN_SAGE && cfg->kind != CW_GNN_GCN && cfg->kind != CW_GNN_GAT)
        return cw_fail(CW_EINVAL, "gnn: unknown layer type %d", (int)cfg->kind);
    if (n_genes < 1 || n_nodes < n_genes || batch < 1)
        return cw_fail(CW_EINVAL, "gnn: %lld nodes, %lld genes, batch %lld", (long long)n_nodes,
                       (long long)n_genes, (long long)batch);
    if (L > 1 && cfg->kind == CW_GNN_GAT && cfg->heads < 1)
        return cw_fail(CW_EINVAL, "gnn: --gnn-heads must be at least 1");
    for (int l = 0; l + 1 < L; l++)
        if (cfg->widths[l] < 1)
            return cw_fail(CW_EINVAL, "gnn: hidden layer %d width %lld (need >= 1)", l,
                           (long long)cfg->widths[l]);
    g->cfg = *cfg;
    g->n_nodes = n_nodes;
    g->n_genes = n_genes;
    g->batch = batch;
    g->nnz = indptr[n_nodes];
    g->indptr = cw_malloc_array((size_t)n_nodes + 1, sizeof(int64_t));
    g->indices = cw_malloc_array((size_t)(g->nnz ? g->nnz : 1), sizeof(int32_t));
    /* val, tval (nnz each) and diag (N) in one block */
    g->val = cw_malloc_array((size_t)(2 * g->nnz + n_nodes), sizeof(real));
    if (!g->indptr || !g->indices || !g->val) {
        cw_gnn_free(g);
        return cw_fail(CW_ENOMEM, "gnn: out of memory for the graph (%lld edges)",
                       (long long)indptr[n_nodes]);
    }
    memcpy(g->indptr, indptr, (size_t)(n_nodes + 1) * sizeof(int64_t));
    if (g->nnz) memcpy(g->indices, indices, (size_t)g->nnz * sizeof(int32_t));
    g->tval = g->val + g->nnz;
    g->diag = g->tval + g->nnz;
    if (cfg->kind == CW_GNN_SAGE)
        cw_sage_mean_values(g->val, g->tval, g->indptr, g->indices, n_nodes);
    else if (cfg->kind == CW_GNN_GCN)
        cw_gcn_norm_values(g->val, g->diag, g->indptr, g->indices, NULL, n_nodes);

    /* layer shapes and tensors */
    int64_t f = 1;
    for (int l = 0; l < L; l++) {
        const int last = l == L - 1;
        const int64_t heads = (cfg->kind == CW_GNN_GAT && !last) ? cfg->heads : 1;
        const int64_t w = last ? 1 : cfg->widths[l];
        g->fin[l] = f;
        g->heads[l] = heads;
        g->fout[l] = heads * w;
        switch (cfg->kind) {
        case CW_GNN_SAGE:
            add_tensor(g, l, "lin_l.weight", w, f);
            add_tensor(g, l, "lin_l.bias", w, 1);
            add_tensor(g, l, "lin_r.weight", w, f);
            break;
        case CW_GNN_GCN:
            add_tensor(g, l, "lin.weight", w, f);
            add_tensor(g, l, "bias", w, 1);
            break;
        case CW_GNN_GAT:
            add_tensor(g, l, "lin.weight", heads * w, f);
            add_tensor(g, l, "att_src", heads, w);
            add_tensor(g, l, "att_dst", heads, w);
            add_tensor(g, l, "bias", heads * w, 1);
            break;
        }
        f = g->fout[l];
    }

    /* arena */
    const int64_t BN = batch * n_nodes;
    int64_t fmax = 1;
    for (int l = 0; l < L; l++) fmax = g->fout[l] > fmax ? g->fout[l] : fmax;
    int64_t total = 0, gat_scratch = 0;
    for (int l = 0; l < L; l++) {
        total += BN * g->fin[l];                               /* h[l] */
        total += BN * (g->fin[l] > g->fout[l] ? g->fin[l] : g->fout[l]); /* mid[l] */
        if (cfg->kind == CW_GNN_GAT) {
            total += cw_gat_alpha_size(batch, n_nodes, g->nnz, g->heads[l]);
            int64_t s = cw_gat_scratch_size(batch, n_nodes, g->nnz, g->heads[l],
                                            g->fout[l] / g->heads[l]);
            gat_scratch = s > gat_scratch ? s : gat_scratch;
        }
    }
    total += BN;                /* h[L]: the last output (width 1) */
    total += 3 * BN * fmax;     /* dh, dh2, dmid */
    total += gat_scratch;
    g->node_major = cfg->kind != CW_GNN_GAT;
    g->arena = cw_calloc((size_t)total, sizeof(real));
    g->red_per = 1;
    for (int l = 0; l < L; l++) {
        const int64_t per = 2 * g->fout[l] * g->fin[l] + g->fout[l];
        g->red_per = per > g->red_per ? per : g->red_per;
    }
    const int64_t nblk = (n_nodes + CW_GNN_NODE_BLOCK - 1) / CW_GNN_NODE_BLOCK;
    g->red = g->node_major ? cw_calloc((size_t)(nblk * g->red_per), sizeof(double)) : NULL;
    if (!g->arena || (g->node_major && !g->red)) {
        cw_gnn_free(g);
        return cw_fail(CW_ENOMEM, "gnn: out of memory for activations (%lld values)",
                       (long long)total);
    }
    real *a = g->arena;
    for (int l = 0; l < L; l++) {
        g->h[l] = a, a += BN * g->fin[l];
        g->mid[l] = a, a += BN * (g->fin[l] > g->fout[l] ? g->fin[l] : g->fout[l]);
        if (cfg->kind == CW_GNN_GAT)
            g->alpha[l] = a, a += cw_gat_alpha_size(batch, n_nodes, g->nnz, g->heads[l]);
    }
    g->h[L] = a, a += BN;
    g->dh = a, a += BN * fmax;
    g->dh2 = a, a += BN * fmax;
    g->dmid = a, a += BN * fmax;
    g->gat_scratch = a, a += gat_scratch;
    g->x0 = g->node_major ? g->h[0] : NULL; /* the input, node-major, in h[0]'s place */
    return CW_OK;
}

int cw_gnn_param_specs(const cw_gnn *g, cw_param_spec *specs) {
    for (int i = 0; i < g->n_tensors; i++) {
        specs[i].name = g->names[i];
        specs[i].rows = g->rows[i];
        specs[i].cols = g->cols[i];
    }
    return g->n_tensors;
}

void cw_gnn_bind(cw_gnn *g, real *params, real *grads, const int64_t *offset) {
    for (int i = 0; i < g->n_tensors; i++) {
        g->p[i] = params + offset[i];
        g->g[i] = grads + offset[i];
    }
}

int64_t cw_gnn_pathway_nodes(const cw_gnn *g) { return g->n_nodes - g->n_genes; }

static void gnn_fill_uniform(cw_rng *r, real *a, int64_t n, double bound) {
    for (int64_t i = 0; i < n; i++) a[i] = (real)(bound * (2 * cw_rng_uniform(r) - 1));
}

void cw_gnn_init_params(cw_gnn *g, cw_rng *rng) {
    const int per = tensors_per_layer(g->cfg.kind);
    for (int i = 0; i < g->n_tensors; i++) {
        const int l = i / per, j = i % per;
        const int64_t n = g->rows[i] * g->cols[i];
        real *p = g->p[i];
        if (g->cfg.kind == CW_GNN_SAGE) { /* PyG Linear: kaiming_uniform(a=sqrt 5) = U(+-1/sqrt fan_in) */
            gnn_fill_uniform(rng, p, n, 1.0 / sqrt((double)g->fin[l]));
        } else if ((g->cfg.kind == CW_GNN_GCN && j == 1) || (g->cfg.kind == CW_GNN_GAT && j == 3)) {
            memset(p, 0, (size_t)n * sizeof(real)); /* bias */
        } else {                                    /* glorot over the tensor's last two dims */
            gnn_fill_uniform(rng, p, n, sqrt(6.0 / (double)(g->rows[i] + g->cols[i])));
        }
    }
}

/* pointers of layer l's tensors */
static real *P(const cw_gnn *g, int l, int j) { return g->p[l * tensors_per_layer(g->cfg.kind) + j]; }
static real *D(const cw_gnn *g, int l, int j) { return g->g[l * tensors_per_layer(g->cfg.kind) + j]; }

/* ---- node-major helpers (SAGE, GCN): rows r = v n + b over N nodes and n cells ----------- */

static int64_t node_blocks(int64_t N) { return (N + CW_GNN_NODE_BLOCK - 1) / CW_GNN_NODE_BLOCK; }

/* rows [*r0, *r1) of node block blk */
static void block_rows(int64_t blk, int64_t N, int64_t n, int64_t *r0, int64_t *r1) {
    const int64_t v0 = blk * CW_GNN_NODE_BLOCK;
    const int64_t v1 = v0 + CW_GNN_NODE_BLOCK < N ? v0 + CW_GNN_NODE_BLOCK : N;
    *r0 = v0 * n;
    *r1 = v1 * n;
}

/* out (rows, fo) = [bias +] in1 W1^T [+ in2 W2^T], then ReLU if relu; W1, W2 (fo, fi);
 * in2/w2 and bias may be NULL. out may not alias the inputs. */
static void nm_dense_forward(real *restrict out, const real *restrict in1, const real *w1,
                             const real *restrict in2, const real *w2, const real *bias,
                             int64_t N, int64_t n, int64_t fi, int64_t fo, int relu) {
    const int64_t nb = node_blocks(N);
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nb; blk++) {
        int64_t r0, r1;
        block_rows(blk, N, n, &r0, &r1);
        if (fi == 1 && fo == 1) {
            const real a = w1[0], b0 = bias ? bias[0] : 0;
            if (in2) {
                const real c = w2[0];
                for (int64_t r = r0; r < r1; r++) {
                    real t = b0 + a * in1[r];
                    t += c * in2[r];
                    out[r] = relu ? (t > 0 ? t : 0) : t;
                }
            } else {
                for (int64_t r = r0; r < r1; r++) {
                    const real t = b0 + a * in1[r];
                    out[r] = relu ? (t > 0 ? t : 0) : t;
                }
            }
            continue;
        }
        for (int64_t r = r0; r < r1; r++)
            for (int64_t o = 0; o < fo; o++) {
                real t = bias ? bias[o] : 0;
                for (int64_t k = 0; k < fi; k++) t += w1[o * fi + k] * in1[r * fi + k];
                if (in2)
                    for (int64_t k = 0; k < fi; k++) t += w2[o * fi + k] * in2[r * fi + k];
                out[r * fo + o] = relu ? (t > 0 ? t : 0) : t;
            }
    }
}

/* d1 (rows, fi) = dout W1 and, if d2, d2 (rows, fi) = dout W2 (both overwritten); dout (rows, fo) */
static void nm_dense_dinput(real *restrict d1, const real *w1, real *restrict d2, const real *w2,
                            const real *restrict dout, int64_t N, int64_t n, int64_t fi,
                            int64_t fo) {
    const int64_t nb = node_blocks(N);
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nb; blk++) {
        int64_t r0, r1;
        block_rows(blk, N, n, &r0, &r1);
        for (int64_t r = r0; r < r1; r++)
            for (int64_t k = 0; k < fi; k++) {
                real t1 = 0, t2 = 0;
                for (int64_t o = 0; o < fo; o++) {
                    t1 += dout[r * fo + o] * w1[o * fi + k];
                    if (d2) t2 += dout[r * fo + o] * w2[o * fi + k];
                }
                d1[r * fi + k] = t1;
                if (d2) d2[r * fi + k] = t2;
            }
    }
}

/* sum over r in [r0, r1) of a[r] b[r] (b NULL: of a[r]) in double, in 8 lanes r mod 8 added
 * pairwise at the end: the order is fixed by r0 and r1 alone */
static double dot_lanes(const real *a, const real *b, int64_t r0, int64_t r1) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tail = 0;
    int64_t r = r0;
    if (b)
        for (; r + 8 <= r1; r += 8)
            for (int l = 0; l < 8; l++) acc[l] += (double)a[r + l] * b[r + l];
    else
        for (; r + 8 <= r1; r += 8)
            for (int l = 0; l < 8; l++) acc[l] += a[r + l];
    for (; r < r1; r++) tail += b ? (double)a[r] * b[r] : a[r];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])) +
           tail;
}

/* accumulates dw1 (fo, fi) += d^T x1, dw2 (fo, fi) += d^T x2, db (fo) += column sums of dsum;
 * d, dsum (rows, fo), x1, x2 (rows, fi); dw1/x1, dw2/x2, db/dsum may be NULL in pairs.
 * Double partial sums per node block, reduced in block order. */
static void nm_param_grads(cw_gnn *g, int64_t n, int64_t fi, int64_t fo, const real *d,
                           const real *x1, real *dw1, const real *x2, real *dw2,
                           const real *dsum, real *db) {
    const int64_t N = g->n_nodes, nb = node_blocks(N), per = 2 * fo * fi + fo;
    CW_ASSERT(per <= g->red_per);
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nb; blk++) {
        int64_t r0, r1;
        block_rows(blk, N, n, &r0, &r1);
        double *p = g->red + blk * per;
        if (fi == 1 && fo == 1) { /* 8 lanes of each sum (one chain was latency-bound) */
            p[0] = dw1 ? dot_lanes(d, x1, r0, r1) : 0;
            p[1] = dw2 ? dot_lanes(d, x2, r0, r1) : 0;
            p[2] = db ? dot_lanes(dsum, NULL, r0, r1) : 0;
            continue;
        }
        for (int64_t j = 0; j < per; j++) p[j] = 0;
        double *p1 = p, *p2 = p + fo * fi, *pb = p + 2 * fo * fi;
        for (int64_t r = r0; r < r1; r++)
            for (int64_t o = 0; o < fo; o++) {
                const double t = d ? d[r * fo + o] : 0;
                if (dw1)
                    for (int64_t k = 0; k < fi; k++) p1[o * fi + k] += t * x1[r * fi + k];
                if (dw2)
                    for (int64_t k = 0; k < fi; k++) p2[o * fi + k] += t * x2[r * fi + k];
                if (db) pb[o] += dsum[r * fo + o];
            }
    }
    for (int64_t j = 0; j < per; j++) {
        double s = 0;
        for (int64_t blk = 0; blk < nb; blk++) s += g->red[blk * per + j];
        if (j < fo * fi) {
            if (dw1) dw1[j] += (real)s;
        } else if (j < 2 * fo * fi) {
            if (dw2) dw2[j - fo * fi] += (real)s;
        } else if (db) {
            db[j - 2 * fo * fi] += (real)s;
        }
    }
}

/* out (rows, f) += bias, then ReLU if relu */
static void nm_bias_relu(real *out, const real *bias, int64_t N, int64_t n, int64_t f, int relu) {
    const int64_t nb = node_blocks(N);
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nb; blk++) {
        int64_t r0, r1;
        block_rows(blk, N, n, &r0, &r1);
        for (int64_t r = r0; r < r1; r++)
            for (int64_t o = 0; o < f; o++) {
                const real t = out[r * f + o] + bias[o];
                out[r * f + o] = relu ? (t > 0 ? t : 0) : t;
            }
    }
}

/* node-major (N, n) <- cell-major src (n, lds) columns 0..cols-1; node v >= cols gets
 * fill[v - cols] in every cell, or 0 when fill is NULL */
static void nm_from_cells(real *dst, const real *src, int64_t lds, int64_t cols,
                          const real *fill, int64_t N, int64_t n) {
    const int64_t nb = node_blocks(N);
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nb; blk++) {
        const int64_t v0 = blk * CW_GNN_NODE_BLOCK;
        const int64_t v1 = v0 + CW_GNN_NODE_BLOCK < N ? v0 + CW_GNN_NODE_BLOCK : N;
        const int64_t vc = v1 < cols ? v1 : cols > v0 ? cols : v0; /* [v0, vc) from src */
        cw_transpose(dst + v0 * n, n, src + v0, lds, n, vc - v0);
        for (int64_t v = vc; v < v1; v++) {
            const real f = fill ? fill[v - cols] : 0;
            for (int64_t b = 0; b < n; b++) dst[v * n + b] = f;
        }
    }
}

/* cell-major dst (n, ldd) columns 0..cols-1 <- node-major src (N, n) */
static void nm_to_cells(real *dst, int64_t ldd, const real *src, int64_t cols, int64_t n) {
    const int64_t nb = node_blocks(cols);
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nb; blk++) {
        const int64_t v0 = blk * CW_GNN_NODE_BLOCK;
        const int64_t v1 = v0 + CW_GNN_NODE_BLOCK < cols ? v0 + CW_GNN_NODE_BLOCK : cols;
        cw_transpose(dst + v0, ldd, src + v0 * n, n, v1 - v0, n);
    }
}

/* ---- layers --------------------------------------------------------------------------- */

/* the input of layer l in the layer's layout */
static const real *layer_in(const cw_gnn *g, int l) {
    return l == 0 && g->node_major ? g->x0 : g->h[l];
}

static void layer_forward(cw_gnn *g, int l, int64_t n) {
    const int64_t N = g->n_nodes, rows = n * N, fi = g->fin[l], fo = g->fout[l];
    const int relu = l + 1 < g->cfg.layers;
    const real *in = layer_in(g, l);
    real *out = g->h[l + 1], *mid = g->mid[l];
    switch (g->cfg.kind) {
    case CW_GNN_SAGE:
        /* node-major: mid = A_mean in (n fi wide), out = mid W_l^T + b_l + in W_r^T */
        cw_spmm(mid, in, g->indptr, g->indices, g->val, NULL, 1, N, n * fi, 0);
        nm_dense_forward(out, mid, P(g, l, 0), in, P(g, l, 2), P(g, l, 1), N, n, fi, fo, relu);
        break;
    case CW_GNN_GCN:
        /* node-major: mid = in W^T, out = Ahat mid (n fo wide) + b */
        nm_dense_forward(mid, in, P(g, l, 0), NULL, NULL, NULL, N, n, fi, fo, 0);
        cw_spmm(out, mid, g->indptr, g->indices, g->val, g->diag, 1, N, n * fo, 0);
        nm_bias_relu(out, P(g, l, 1), N, n, fo, relu);
        break;
    case CW_GNN_GAT:
        cw_linear_forward(mid, in, P(g, l, 0), NULL, rows, fi, fo);
        cw_gat_forward(out, g->alpha[l], mid, P(g, l, 1), P(g, l, 2), P(g, l, 3), g->indptr,
                       g->indices, n, N, g->heads[l], fo / g->heads[l]);
        if (relu) cw_relu_forward(out, out, rows * fo);
        break;
    }
}

void cw_gnn_forward(cw_gnn *g, real *out, int64_t ldo, const real *x, int64_t ldx,
                    const real *xi, int64_t n) {
    CW_ASSERT(n >= 1 && n <= g->batch);
    const int64_t N = g->n_nodes, G = g->n_genes, P_ = N - G;
    if (g->node_major) { /* x0 straight from x and xi: h[0] is not used */
        nm_from_cells(g->x0, x, ldx, G, xi, N, n);
    } else {
        real *h0 = g->h[0];
        for (int64_t b = 0; b < n; b++) {
            real *row = h0 + b * N;
            memcpy(row, x + b * ldx, (size_t)G * sizeof(real));
            if (xi)
                memcpy(row + G, xi, (size_t)P_ * sizeof(real));
            else
                memset(row + G, 0, (size_t)P_ * sizeof(real));
        }
    }
    for (int l = 0; l < g->cfg.layers; l++) layer_forward(g, l, n);
    const real *last = g->h[g->cfg.layers];
    if (g->node_major)
        nm_to_cells(out, ldo, last, G, n);
    else
        for (int64_t b = 0; b < n; b++)
            memcpy(out + b * ldo, last + b * N, (size_t)G * sizeof(real));
    g->n_last = n;
}

/* layer l backward: dout (rows, fo) -> parameter grads and, if din != NULL, din (rows, fi)
 * (overwritten). dout may be modified (relu mask applied in place by the caller). */
static void layer_backward(cw_gnn *g, int l, const real *dout, real *din, int64_t n) {
    const int64_t N = g->n_nodes, rows = n * N, fi = g->fin[l], fo = g->fout[l];
    const real *in = layer_in(g, l), *mid = g->mid[l];
    real *dmid = g->dmid;
    switch (g->cfg.kind) {
    case CW_GNN_SAGE:
        /* out = agg W_l^T + b_l + in W_r^T, agg = A_mean in */
        nm_param_grads(g, n, fi, fo, dout, mid, D(g, l, 0), in, D(g, l, 2), dout, D(g, l, 1));
        if (din) {
            nm_dense_dinput(dmid, P(g, l, 0), din, P(g, l, 2), dout, N, n, fi, fo);
            cw_spmm(din, dmid, g->indptr, g->indices, g->tval, NULL, 1, N, n * fi, 1);
        }
        break;
    case CW_GNN_GCN:
        /* out = Ahat (in W^T) + b; Ahat symmetric */
        cw_spmm(dmid, dout, g->indptr, g->indices, g->val, g->diag, 1, N, n * fo, 0);
        nm_param_grads(g, n, fi, fo, dmid, in, D(g, l, 0), NULL, NULL, dout, D(g, l, 1));
        if (din) nm_dense_dinput(din, P(g, l, 0), NULL, NULL, dmid, N, n, fi, fo);
        break;
    case CW_GNN_GAT:
        if (din) memset(din, 0, (size_t)(rows * fi) * sizeof(real));
        memset(dmid, 0, (size_t)(rows * fo) * sizeof(real));
        cw_gat_backward(dmid, D(g, l, 1), D(g, l, 2), D(g, l, 3), dout, mid, g->alpha[l],
                        P(g, l, 1), P(g, l, 2), g->indptr, g->indices, g->gat_scratch, n, N,
                        g->heads[l], fo / g->heads[l]);
        cw_linear_backward(din, D(g, l, 0), NULL, dmid, in, P(g, l, 0), rows, fi, fo);
        break;
    }
}

void cw_gnn_backward(cw_gnn *g, const real *dout, int64_t ldd) {
    const int64_t n = g->n_last, N = g->n_nodes, G = g->n_genes;
    CW_ASSERT(n >= 1);
    const int L = g->cfg.layers;
    /* d(last output): gene rows from dout, pathway rows 0 */
    real *d = g->dh, *dnext = g->dh2;
    if (g->node_major) {
        nm_from_cells(d, dout, ldd, G, NULL, N, n);
    } else {
        memset(d, 0, (size_t)(n * N) * sizeof(real));
        for (int64_t b = 0; b < n; b++) memcpy(d + b * N, dout + b * ldd, (size_t)G * sizeof(real));
    }
    for (int l = L - 1; l >= 0; l--) {
        real *din = l > 0 ? dnext : NULL;
        layer_backward(g, l, d, din, n);
        if (l > 0) {
            /* through the ReLU between layer l-1 and l: din is dL/d(relu output) */
            const int64_t cnt = n * N * g->fin[l];
            memset(d, 0, (size_t)cnt * sizeof(real));
            cw_relu_backward(d, din, g->h[l], cnt);
        }
    }
}
