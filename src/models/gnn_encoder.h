/* gnn_encoder.h: the graph encoder of GraCE-VAE and VGAE (spec grace_cmvae.md §4.2, §4.3; issue
 * #4 item 2): message passing over the biological context graph, read out at the gene nodes.
 *
 * Node features of cell b (feature width 1): gene node v < G carries x[b, v]; pathway node
 * G + p carries xi[p], ONE draw of P standard normals per forward call shared by all cells of the
 * batch, as the reference code does (§4.2 item 1, §9 item 9), or 0 when the model takes extra
 * per-cell inputs (the scFM variant). Layers l = 0..L-1, each a
 *   sage: h_v = W_l mean_{u in N(v)} h_u + b_l + W_r h_v          (PyG SAGEConv, aggr mean)
 *   gcn:  h_v = W sum_{u in N(v) + v} h_u / sqrt(d_u d_v) + b      (PyG GCNConv, d incl. self loop)
 *   gat:  K heads, h_v = concat_k sum_{u in N(v) + v} alpha^k_vu W^k h_u + b  (PyG GATConv)
 * with ReLU between layers (not after the last). Widths: layer l < L-1 outputs widths[l] features
 * per head (GAT: heads of them, concatenated; SAGE/GCN: one head); the last layer outputs 1
 * feature with 1 head. The read-out is the last layer's output at the gene nodes 0..G-1 (no
 * activation): out (B, G). Defaults (1 layer, or 3-layer GAT widths 4, 8 with 4 heads) are the
 * reference's modes 15, 5, 11 and 13.
 *
 * One CSR (copied at init, with its normalisation values) serves every cell; activations live in
 * an arena sized at init for `batch` cells. Parameters live in the owning model's table: the
 * encoder declares its tensors (cw_gnn_param_specs; names "gnn.<layer>.<PyG name>") and the
 * model binds their addresses after laying out the table. Initialisation as PyG: SAGE lin_l,
 * lin_r weights and lin_l bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)); GCN and GAT lin weight and
 * GAT att_src/att_dst glorot uniform, biases 0.
 */
#ifndef CW_MODELS_GNN_ENCODER_H
#define CW_MODELS_GNN_ENCODER_H

#include "causeway.h"
#include "core/rng.h"
#include "models/params.h"
#include "nn/real.h"

#include <stdint.h>

#define CW_GNN_MAX_LAYERS 8
#define CW_GNN_MAX_TENSORS (4 * CW_GNN_MAX_LAYERS)
#define CW_GNN_NODE_BLOCK 32 /* nodes per OpenMP work unit and per gradient partial sum */

typedef enum { CW_GNN_SAGE = 0, CW_GNN_GCN = 1, CW_GNN_GAT = 2 } cw_gnn_kind;

typedef struct {
    cw_gnn_kind kind;
    int layers;                             /* L in 1..CW_GNN_MAX_LAYERS */
    int64_t widths[CW_GNN_MAX_LAYERS - 1];  /* per-head output width of hidden layers 0..L-2 */
    int64_t heads;                          /* GAT heads of the hidden layers (last layer: 1) */
} cw_gnn_config;

/* 1 layer; hidden widths 4, 8, 8, ... and 4 heads (used when layers > 1) */
void cw_gnn_config_default(cw_gnn_config *c, cw_gnn_kind kind, int layers);
const char *cw_gnn_kind_name(cw_gnn_kind k);
/* "sage", "gcn", "gat" -> kind; -1 if unknown */
int cw_gnn_kind_parse(const char *s);

typedef struct {
    cw_gnn_config cfg;
    int64_t n_nodes, n_genes, batch;    /* N, G (nodes 0..G-1 are the genes), B */
    int64_t nnz;
    int64_t *indptr;                    /* N + 1 (owned copy) */
    int32_t *indices;                   /* nnz */
    real *val, *tval, *diag;            /* SAGE: val, tval; GCN: val, diag; GAT: unused */
    int64_t fin[CW_GNN_MAX_LAYERS], fout[CW_GNN_MAX_LAYERS], heads[CW_GNN_MAX_LAYERS];
    int n_tensors;
    char names[CW_GNN_MAX_TENSORS][CW_PARAM_NAME_MAX];
    int64_t rows[CW_GNN_MAX_TENSORS], cols[CW_GNN_MAX_TENSORS];
    real *p[CW_GNN_MAX_TENSORS], *g[CW_GNN_MAX_TENSORS]; /* bound parameter / gradient tensors */
    /* arena: per layer l, input h[l] (B N fin), mid[l] (aggregate or x W^T), alpha[l] (GAT);
     * h[L] the last output; backward scratch.
     * Layout: GAT's h[0] is cell-major (b N + v), the input as given. SAGE and GCN run
     * node-major (node_major = 1): x0 (in h[0]'s place) holds the input as (N, B), written
     * straight from x and the pathway inputs xi, and every later h[l],
     * mid[l] and gradient is (N, B, F): node v, cell b, feature f at (v B + b) F + f, so the
     * aggregation is one SpMM B F wide per edge. GAT stays cell-major (B, N, F). */
    real *arena;
    real *h[CW_GNN_MAX_LAYERS + 1], *mid[CW_GNN_MAX_LAYERS], *alpha[CW_GNN_MAX_LAYERS];
    real *dh, *dh2, *dmid, *gat_scratch, *x0;
    int node_major;
    /* parameter-gradient partial sums per block of CW_GNN_NODE_BLOCK nodes (fixed blocks,
     * reduced in block order: thread-count independent); red_per doubles per block */
    double *red;
    int64_t red_per;
    int64_t n_last; /* cells of the last forward */
} cw_gnn;

/* adjacency: symmetric CSR over N nodes (first G are genes), no self loops. */
cw_status cw_gnn_init(cw_gnn *g, const cw_gnn_config *cfg, int64_t n_nodes, int64_t n_genes,
                      const int64_t *indptr, const int32_t *indices, int64_t batch);
void cw_gnn_free(cw_gnn *g);
/* The encoder's tensors, in table order (cw_gnn_init fills g->names/rows/cols): n_tensors specs
 * written to specs (room for CW_GNN_MAX_TENSORS). */
int cw_gnn_param_specs(const cw_gnn *g, cw_param_spec *specs);
/* params/grads: the model's blocks; offset: the table's offsets of the encoder's tensors (in
 * cw_gnn_param_specs order). */
void cw_gnn_bind(cw_gnn *g, real *params, real *grads, const int64_t *offset);
/* PyG default initialisation of the bound tensors, in table order. */
void cw_gnn_init_params(cw_gnn *g, cw_rng *rng);
int64_t cw_gnn_pathway_nodes(const cw_gnn *g);

/* forward: x (n, ldx) with the G gene values in columns 0..G-1, xi (N - G) or NULL (zeros),
 * n <= batch -> out (n, ldo) columns 0..G-1. Keeps what backward needs. */
void cw_gnn_forward(cw_gnn *g, real *out, int64_t ldo, const real *x, int64_t ldx,
                    const real *xi, int64_t n);
/* accumulates parameter gradients for dL/dout (n, ldd) (columns 0..G-1) of the last forward. */
void cw_gnn_backward(cw_gnn *g, const real *dout, int64_t ldd);

#endif
