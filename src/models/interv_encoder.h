/* interv_encoder.h: graph-guided intervention encoders of GraCE (spec grace_cmvae.md §4.5, §3.6;
 * issue #4 item 6). Each replaces the intervention MLP's per-target lookup with a GCN over the
 * gene-union PPI graph and returns, for one target k, the soft assignment bc (Z) of the
 * intervention to the latent nodes and its scalar strength eta:
 *
 * trivalue (v1_trivalue), on the whole gene-union graph (N_int nodes):
 *   t_v = -1, 0 for every candidate node (the nodes of all C targets), +1 for the target's node
 *   X   = [t, E]                                   (N, 1 + emb), E = node embedding (N, emb)
 *   h1  = drop(LN1(lrelu(GCN1(X))))                GCN: self loops, symmetric normalisation
 *   h   = drop(LN2(lrelu(GCN2(h1) + h1)))
 *   r   = h[node(k)]                               (read-out "target": mean over T = {node(k)})
 *   q   = lrelu(r W1^T + b1)                        (hidden -> mlp_hidden)
 *   bc  = softmax(clamp(tau, 1e-3, 10) (q W2^T + b2))
 *   eta = ptb_strength[k] + eta_scale tanh(q w_eta^T + b_eta)
 * trivalue-1hop (v1_trivalue_subgraph1hop): the same on the induced 1-hop subgraph of the
 *   candidate nodes (data/graph.h cw_subgraph_1hop), nodes relabelled.
 * dropedge (v2_dropedge, student mode): X = E (no tri-value column), every edge with an endpoint
 *   at node(k) removed (the GCN normalisation recomputed without them), dropout 0 by default,
 *   eta = eta_scale tanh(q w_eta^T + b_eta) (no per-target strength).
 * Dropout (torch.nn.Dropout, p = cfg.dropout, default 0.1 for the tri-value encoders) is applied
 * when `train` is set, with masks from the caller's rng. Double perturbations call the encoder once
 * per target (§4.6); the encoder keeps two independent activation slots (0 and 1) so both calls'
 * backward passes work. The reference's unused teacher MLP and fallback c1/c2/c_shift are not
 * built. Initialisation (torch/PyG defaults): E ~ N(0, 1); GCN weights glorot uniform, biases 0;
 * LayerNorm gamma 1, beta 0; W1, W2, w_eta and their biases U(-1/sqrt(fan_in), 1/sqrt(fan_in));
 * eta_scale 1; ptb_strength 0.
 */
#ifndef CW_MODELS_INTERV_ENCODER_H
#define CW_MODELS_INTERV_ENCODER_H

#include "causeway.h"
#include "core/rng.h"
#include "models/params.h"
#include "nn/real.h"

#include <stdint.h>

#define CW_INTERV_MAX_TENSORS 20

typedef enum {
    CW_INTERV_MLP = 0,           /* the CMVAE lookup MLP (models/cmvae.c); not this file */
    CW_INTERV_TRIVALUE = 1,
    CW_INTERV_TRIVALUE_1HOP = 2,
    CW_INTERV_DROPEDGE = 3
} cw_interv_kind;

const char *cw_interv_kind_name(cw_interv_kind k); /* "mlp", "trivalue", "trivalue-1hop", "dropedge" */
int cw_interv_kind_parse(const char *s);           /* -1 if unknown */

typedef struct {
    cw_interv_kind kind;  /* TRIVALUE, TRIVALUE_1HOP or DROPEDGE */
    int64_t emb;          /* node embedding width, 32 */
    int64_t hidden;       /* GCN width, 64 */
    int64_t mlp_hidden;   /* q width, 128 (the model's hidden) */
    int64_t latent;       /* Z */
    int64_t targets;      /* C */
    double dropout;       /* 0.1 (tri-value), 0 (dropedge); < 0 = that default */
} cw_interv_config;

void cw_interv_config_default(cw_interv_config *c, cw_interv_kind kind, int64_t latent,
                              int64_t targets, int64_t mlp_hidden);

typedef struct {
    /* per call slot: activations of one forward (N nodes, F1 = input width, H = hidden) */
    int64_t k;                    /* target of the slot's last forward, -1 none */
    int train;
    real tau;                     /* clamped */
    real *x;                      /* (N, F1) */
    real *val, *diag;             /* (nnz), (N) GCN normalisation (dropedge: per target) */
    uint8_t *keep;                /* (nnz) dropedge keep mask */
    real *xw1, *a1, *ln1_mean, *ln1_rstd, *n1, *mask1, *h1;   /* (N, H) / (N) */
    real *xw2, *s2, *a2, *ln2_mean, *ln2_rstd, *n2, *mask2, *h; /* (N, H) / (N) */
    real *r, *q, *logits, *bc;    /* (H), (MH), (Z), (Z) */
    real eta_pre, eta_tanh;
} cw_interv_slot;

typedef struct {
    cw_interv_config cfg;
    int64_t n_nodes, nnz, f1;
    int64_t *indptr;              /* owned CSR of the encoder's graph */
    int32_t *indices;
    int64_t *target_node;         /* C: node of each target in this graph */
    uint8_t *candidate;           /* N: 1 for the nodes of any target */
    real *val, *diag;             /* full-graph GCN normalisation (trivalue) */
    int n_tensors;
    char names[CW_INTERV_MAX_TENSORS][CW_PARAM_NAME_MAX];
    int64_t rows[CW_INTERV_MAX_TENSORS], cols[CW_INTERV_MAX_TENSORS];
    real *p[CW_INTERV_MAX_TENSORS], *g[CW_INTERV_MAX_TENSORS];
    cw_interv_slot slot[2];
    real *scratch;                /* backward scratch */
    real *arena;
} cw_interv_encoder;

/* union_indptr/indices: the gene-union graph (symmetric CSR, n_union nodes); target_node (C):
 * node of each target in it. TRIVALUE_1HOP builds the 1-hop subgraph of the target nodes here. */
cw_status cw_interv_encoder_init(cw_interv_encoder *e, const cw_interv_config *cfg,
                                 int64_t n_union, const int64_t *union_indptr,
                                 const int32_t *union_indices, const int64_t *target_node);
void cw_interv_encoder_free(cw_interv_encoder *e);
int cw_interv_encoder_param_specs(const cw_interv_encoder *e, cw_param_spec *specs);
void cw_interv_encoder_bind(cw_interv_encoder *e, real *params, real *grads,
                            const int64_t *offset);
void cw_interv_encoder_init_params(cw_interv_encoder *e, cw_rng *rng);

/* forward for target k in slot s (0 or 1): bc (Z) and *eta; train: apply dropout with rng. */
void cw_interv_encoder_forward(cw_interv_encoder *e, int s, int64_t k, real tau, int train,
                               cw_rng *rng, real *bc, real *eta);
/* accumulates parameter gradients of slot s's last forward given dL/dbc (Z) and dL/deta. */
void cw_interv_encoder_backward(cw_interv_encoder *e, int s, const real *dbc, real deta);

#endif
