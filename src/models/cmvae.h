/* cmvae.h: the causal discrepancy VAE family (spec grace_cmvae.md §4.0-4.6, §5.1-5.6, Appendix A;
 * issue #3, issue #4): CMVAE and, around the same causal decoder, GraCE-VAE, VGAE,
 * CMVAE-multihot, SENA and the graph-guided intervention encoders. Parameter table,
 * initialisation, forward with the loss terms, hand-written backward, training step (clamp +
 * Adam), prediction and the epoch schedules.
 *
 *   encoder input  e = cmvae, sena: x;  grace, vgae: GNN(x, xi) at the gene nodes
 *                      (models/gnn_encoder.h);  multihot: [x, m(x)] (models/pathway_features.h);
 *                      then [e, extra] when the model takes extra per-cell inputs
 *   (mu, var) = encode(e):  h = lrelu(e W1^T + b1) (sena: W1 o M, pathway-masked),
 *                           mu = h Wmu^T + bmu, var = softplus(h Wv^T + bv)
 *   z         = mu + sqrt(var) eps
 *   target k: mlp (one-hot c, a column gather): hc = lrelu(Wc1[:,k] + bc1),
 *                 bc = softmax(tau (hc Wc2^T + bc2)), s = c_shift[k]
 *             graph encoders (models/interv_encoder.h): (bc, s = eta) from a GCN on the PPI graph
 *   u_int = (z + s bc [+ s2 bc2]) (I - triu(G,1))^{-1},   u_obs = z (I - triu(G,1))^{-1}
 *             (vgae: no DAG, u_int = z + s bc [+ s2 bc2], u_obs = z)
 *   y_hat = lrelu(lrelu(u_int Wd1^T + bd1) Wd2^T + bd2),  x_recon likewise from u_obs
 *   L = alpha MMD(y_hat, y) + MSE(x_recon, x) + beta KL(mu, var) + lambda sum_{i<j} |G_ij|
 *       + lambda2 LAP(d2.weight)   (Laplacian smoothness over the gene PPI edges, §5.1 item 5)
 *
 * Conventions: rows are cells; matrices row-major, torch Linear layout weight (OUT, IN). The
 * scalar type is `real` (nn/real.h): float in the library; the gradient-check tests compile this
 * file in double. Parameters, gradients and Adam moments use the cw_param_table layout; in the
 * float build m->params etc. ARE the table's blocks, in a double build they are a separate real
 * allocation with the same layout. Core tensors are addressed by the CW_CMVAE_* slots below
 * (a slot a model does not have maps to -1: vgae has no G, the graph intervention encoders no
 * c1/c2/c_shift); the encoders' tensors follow them in the table. All activations and scratch
 * live in arenas allocated by cw_cmvae_init: forward, backward, train_step and predict allocate
 * nothing. backward accumulates into m->grads (train_step zeroes them first, or finds them
 * zeroed by the previous step's Adam). The intervention MLP's gradient reaches only column k
 * (and k2) of c1.weight, c1.bias, c2.*, c_shift[k] (and [k2]); Adam then updates every element
 * (torch: every tensor has a gradient, zero elsewhere).
 * forward is training mode (dropout of the graph intervention encoders on); predict and
 * latent_mean are evaluation mode.
 */
#ifndef CW_MODELS_CMVAE_H
#define CW_MODELS_CMVAE_H

#include "causeway.h"
#include "core/rng.h"
#include "data/graph.h"
#include "la/matrix.h"
#include "models/gnn_encoder.h"
#include "models/interv_encoder.h"
#include "models/params.h"
#include "models/pathway_features.h"
#include "nn/real.h"

#include <stdint.h>

/* Tensor indices in the parameter table (this order; names as the torch state_dict). */
enum {
    CW_CMVAE_FC1_W,   /* fc1.weight     (H, G) */
    CW_CMVAE_FC1_B,   /* fc1.bias       (H)    */
    CW_CMVAE_MEAN_W,  /* fc_mean.weight (Z, H) */
    CW_CMVAE_MEAN_B,  /* fc_mean.bias   (Z)    */
    CW_CMVAE_VAR_W,   /* fc_var.weight  (Z, H) */
    CW_CMVAE_VAR_B,   /* fc_var.bias    (Z)    */
    CW_CMVAE_G,       /* G              (Z, Z) strict upper triangle used */
    CW_CMVAE_C1_W,    /* c1.weight      (H, C) */
    CW_CMVAE_C1_B,    /* c1.bias        (H)    */
    CW_CMVAE_C2_W,    /* c2.weight      (Z, H) */
    CW_CMVAE_C2_B,    /* c2.bias        (Z)    */
    CW_CMVAE_C_SHIFT, /* c_shift        (C)    */
    CW_CMVAE_D1_W,    /* d1.weight      (H, Z) */
    CW_CMVAE_D1_B,    /* d1.bias        (H)    */
    CW_CMVAE_D2_W,    /* d2.weight      (G, H) */
    CW_CMVAE_D2_B,    /* d2.bias        (G)    */
    CW_CMVAE_NPARAMS
};

typedef enum {
    CW_MODEL_CMVAE = 0,    /* discrepancy VAE, §4.1 */
    CW_MODEL_GRACE = 1,    /* GNN encoder over the context graph, §4.2 (and §4.5 with --interv-encoder) */
    CW_MODEL_VGAE = 2,     /* GNN encoder, no DAG, Laplacian term, §4.3 */
    CW_MODEL_MULTIHOT = 3, /* x and pathway multi-hot of the paired control, §4.4 */
    CW_MODEL_SENA = 4      /* pathway-masked first encoder layer (doc/models.md) */
} cw_model_kind;

const char *cw_model_kind_name(cw_model_kind k); /* "cmvae", "grace", "vgae", "multihot", "sena" */
int cw_model_kind_parse(const char *s);          /* -1 if unknown */

typedef struct {
    cw_model_kind kind;
    int64_t genes;      /* G (D in the spec): genes per cell */
    int64_t latent;     /* Z */
    int64_t targets;    /* C: intervention targets (one-hot width) */
    int64_t hidden;     /* H: 128 */
    int64_t batch;      /* B: rows per training batch (and max rows per predict call); 32 */
    double mmd_sigma;   /* 1000 */
    int64_t kernel_num; /* 10 */
    double lambda;      /* L1 weight on triu(G, 1); 1e-4 (GraCE) */
    double grad_clip;   /* clamp every gradient element to [-c, c] when > 0; 0 = off */
    double lr;          /* Adam learning rate, 1e-3 (betas 0.9, 0.999, eps 1e-8) */
    int64_t extra_inputs;    /* E: per-cell inputs appended to the encoder input (0 = none) */
    double lambda_laplacian; /* lambda2 on LAP(d2.weight); needs union_graph (its gene PPI edges) */
    cw_gnn_config gnn;       /* grace, vgae */
    cw_interv_kind interv;   /* CW_INTERV_MLP (the lookup MLP) or a graph encoder */
    double interv_dropout;   /* graph intervention encoders; < 0 = their default */
    int64_t sena_free_units; /* sena: unmasked first-layer units */
    double sena_lambda;      /* sena: mask value of non-member genes */
    int64_t sena_min_genes;  /* sena: pathways with fewer member genes are left out */
    /* read by cw_cmvae_init only (not kept): */
    const cw_graph *graph;             /* grace, vgae, multihot, sena: the context graph */
    const cw_union_graph *union_graph; /* graph intervention encoders, lambda_laplacian > 0 */
} cw_cmvae_config;

/* Noise a forward uses; a NULL member (or a NULL cw_cmvae_noise) is drawn from the rng. */
typedef struct {
    const real *eps; /* (n, Z) reparameterisation noise */
    const real *xi;  /* (P) pathway-node inputs of the GNN encoder */
} cw_cmvae_noise;

/* Per-epoch loss weights and softmax inverse temperature (§5.3). */
typedef struct {
    double alpha, beta, tau;
} cw_cmvae_sched;

/* Loss terms of the last forward (double) and
 * total = alpha MMD + MSE + beta KL + lambda L1 + lambda2 LAP. */
typedef struct {
    double mmd, mse, kl, l1, lap, total;
} cw_cmvae_losses;

/* Where a train step's time goes (`bench train`, issue #6 item 3): with cw_cmvae.prof set,
 * forward, backward and cw_cmvae_train_step add the wall time of each stretch of work to its
 * phase (cw_now() at every boundary; every moment of the step belongs to exactly one phase, so
 * the phases add up to the step). The marks read the clock only: the values computed are the
 * same with or without them. */
typedef enum {
    CW_PHASE_ENCODER,      /* encoder input (no GNN), fc1, fc_mean, fc_var, and their backward */
    CW_PHASE_GNN,          /* GNN encoder forward and backward */
    CW_PHASE_SAMPLE,       /* noise draws (xi, eps), z = mu + sqrt(var) eps and its backward */
    CW_PHASE_INTERVENTION, /* intervention encoder, zp = z + s bc, and their backward */
    CW_PHASE_DAG,          /* the causal layer's solves, forward and backward, both branches */
    CW_PHASE_DECODER,      /* d1, d2 and their activations, both branches, fwd + bwd */
    CW_PHASE_MMD,          /* MMD Gram blocks and kernel sums, fwd + d y_hat */
    CW_PHASE_LOSSES,       /* MSE, KL, L1, Laplacian terms and the finite check */
    CW_PHASE_COMM,         /* data-parallel all-gather and all-reduces */
    CW_PHASE_ADAM,         /* clamp and Adam */
    CW_PHASE_N
} cw_cmvae_phase;
const char *cw_cmvae_phase_name(int phase); /* "encoder", "gnn", ... */
typedef struct {
    double sec[CW_PHASE_N]; /* accumulated seconds; the caller resets them when it likes */
    int cur;                /* the phase being timed, -1 between steps */
    double since;           /* when it began */
} cw_cmvae_prof;

typedef struct {
    cw_cmvae_config cfg;  /* cfg.graph and cfg.union_graph are NULL after init */
    cw_cmvae_prof *prof;  /* NULL (default): no timing */
    cw_param_table table;
    int slot[CW_CMVAE_NPARAMS]; /* table index of each core tensor, -1 when absent */
    int64_t in_width;     /* fc1 input: G, + P (multihot), + E (extra inputs) */
    int64_t enc_hidden;   /* fc1 output: hidden, or sena's kept pathways + free units */
    int has_gnn, has_interv;
    cw_gnn gnn;
    cw_interv_encoder iv;
    cw_pathway_members members;  /* multihot, sena */
    real *sena_mask;             /* (enc_hidden, in_width) */
    int64_t *lap_indptr;         /* gene PPI graph of the Laplacian term (G + 1) */
    int32_t *lap_indices;
    real *params, *grads, *m, *v; /* table.total each, table layout */
    int64_t t;                    /* Adam steps taken */
    int grads_zero;               /* grads known to be all 0 (init, after a train_step's Adam);
                                   * cw_cmvae_backward clears it. Code that writes m->grads by
                                   * other means before a train_step must clear it too. */
    /* data-parallel shard (cw_cmvae_set_shard): rows [shard_row0, shard_row0 + shard_rows) of
     * every global batch of cfg.batch rows, one of shard_size processes; default 0, B, 1 */
    int64_t shard_row0, shard_rows;
    int shard_size;

    /* sparse encoder input (cw_cmvae_set_x_csr): the one given for the next forward, the one
     * the last forward used (NULL: dense); fc1's CSR scratch */
    const cw_csr *x_csr_next, *x_csr;
    int64_t *csr_iwork; /* cw_linear_csr_iwork_size(B) */

    real *arena; /* one allocation; the pointers below point into it */
    /* forward state, batch rows n = cfg.batch */
    real *enc_in, *d_enc_in;   /* (B, in_width) assembled encoder input and its gradient */
    real *xi;                  /* (P) pathway-node inputs of the last forward */
    real *sena_weff, *sena_dw; /* (enc_hidden, in_width) */
    real *h1;                  /* (B, He) encoder hidden, after lrelu */
    real *mu, *vpre, *var;     /* (B, Z) */
    real *eps, *z, *zp;        /* (B, Z) */
    real *hc, *hc2;            /* (H) intervention hidden, after lrelu */
    real *bc, *bc2;            /* (Z) */
    /* the decoder's inputs, hidden and outputs live in stacked (2B, .) blocks so that the two
     * decoder passes can run as one over 2n rows: the shard starting the batch keeps its obs
     * rows first (x_recon directly before y_hat), the others int first (y_hat of the whole
     * batch, then x_recon); dec_stacked says whether this shard's int and obs rows touch */
    real *u_dec, *a_dec, *out_dec, *dout_dec; /* (2B, Z), (2B, H), (2B, G), (2B, G) */
    int dec_stacked;
    real *u_int, *u_obs;       /* (B, Z) (n rows each in a shard), in u_dec */
    real *a_int, *a_obs;       /* (B, H) decoder hidden, after lrelu, in a_dec */
    real *y_hat, *x_recon;     /* (B, G), in out_dec */
    real *mmd_dist;            /* (2B, 2B) */
    /* backward scratch */
    real *d_out;               /* (B, G) dL/dy_hat, in dout_dec (at y_hat's offset) */
    real *d_a;                 /* (2B, H), laid out as a_dec */
    real *d_u;                 /* (2B, Z), laid out as u_dec */
    real *d_zp, *d_z;          /* (B, Z) */
    real *d_mu, *d_var, *d_vpre; /* (B, Z) */
    real *d_h1, *d_h1pre;      /* (B, He) */
    real *d_bc, *d_logits;     /* (Z) */
    real *d_hc, *d_hcpre;      /* (H) */
    real *mmd_scratch;         /* (2B, 2B) */
    real *dag_scratch;         /* 2 B Z */
    real *csr_wt;              /* cw_linear_csr_scratch_size(B, He) when fc1 reads a CSR x */
    int64_t arena_size;        /* reals */

    /* what backward needs from the last forward */
    const real *x, *y, *enc;   /* enc: what fc1 read (x itself or enc_in) */
    int64_t k, k2;
    real s1, s2;               /* intervention strengths of the last forward */
    cw_cmvae_sched w;
    int have_forward;
} cw_cmvae;

/* Defaults of §5.5 (GraCE): kind cmvae, H 128, B 32, sigma 1000, kernel_num 10, lambda 1e-4,
 * clip off, lr 1e-3, no extra inputs, lambda2 0, 1-layer SAGE, mlp intervention encoder,
 * sena: 8 free units, lambda 0, pathways of >= 5 genes. */
void cw_cmvae_config_default(cw_cmvae_config *cfg, int64_t genes, int64_t latent,
                             int64_t targets);

/* Lays out the parameter table, allocates the arena and initialises the weights from rng
 * (§4.0): fc1, fc_mean, fc_var, d1, d2 weights N(0, 0.02^2), biases 0 (sena's fc1 weight and bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)) as SENA's layer); c1, c2 weight and bias
 * U(-1/sqrt(fan_in), 1/sqrt(fan_in)); G N(0, 0.1^2); c_shift 1; then the GNN's and the graph
 * intervention encoder's tensors (their headers); drawn in table order. */
cw_status cw_cmvae_init(cw_cmvae *m, const cw_cmvae_config *cfg, cw_rng *rng);
void cw_cmvae_free(cw_cmvae *m);
/* core tensor of slot i (CW_CMVAE_*); the model must have it (asserted) */
static inline real *cw_cmvae_param(const cw_cmvae *m, int i) {
    CW_ASSERT(m->slot[i] >= 0);
    return m->params + m->table.offset[m->slot[i]];
}
static inline real *cw_cmvae_grad(const cw_cmvae *m, int i) {
    CW_ASSERT(m->slot[i] >= 0);
    return m->grads + m->table.offset[m->slot[i]];
}
static inline int cw_cmvae_has(const cw_cmvae *m, int i) { return m->slot[i] >= 0; }

/* Data-parallel training (issue #6 item 4): this process is `rank` of the `size` processes of
 * the dist group (core/dist.h) and takes the cw_dist_shard(B, rank, size) rows of every global
 * batch. forward then reads x and extra for the shard's rows only, y (and noise->eps) for all B
 * rows; it draws the noise of all B rows (every process keeps the same rng state), computes the
 * encoder and decoders on its rows, gathers y_hat of all rows (one Allgather: the MMD couples
 * every pair of cells of the batch, so it is computed on the whole batch by every process) and
 * sums the MSE and KL partial sums over the group; the losses are those of the global batch.
 * backward accumulates the shard's share (the parameter-only L1 and Laplacian terms on rank 0);
 * train_step sums the gradient buffer over the group (one Allreduce) before clamp and Adam, so
 * every process takes the same step as one process on the whole batch (up to summation order).
 * size 1 (the default) is the one-process model. CW_EINVAL unless 1 <= size <= B. */
cw_status cw_cmvae_set_shard(cw_cmvae *m, int rank, int size);

/* Sparse encoder input (issue #6 item 3) for the NEXT cw_cmvae_forward or train_step only
 * (that call takes it and later calls are dense again unless given one): xs (n, G) in CSR holds
 * the same values as that call's x, n its rows (B, or the shard's rows). fc1 then visits only
 * the stored entries (nn/linear.h, cw_linear_forward_csr / cw_linear_backward_csr): 2 nnz He
 * flops for the product and 2 nnz He for the weight gradient instead of 2 n G He each; results
 * differ from the dense path by summation order only. x must still be passed (the MSE reads it).
 * Used by the models whose fc1 reads x itself as its first G columns: cmvae and multihot, with
 * or without extra inputs (the remaining columns go through the dense GEMM); grace, vgae (fc1
 * reads the GNN output) and sena (masked weight) ignore it, see cw_cmvae_takes_x_csr. NULL
 * clears it. CW_EINVAL unless xs has n rows and G columns. */
cw_status cw_cmvae_set_x_csr(cw_cmvae *m, const cw_csr *xs);
/* 1 when the model's fc1 can read a CSR x (cw_cmvae_set_x_csr is not ignored) */
int cw_cmvae_takes_x_csr(const cw_cmvae *m);
/* The stored fraction of X (io/xstore.h cw_xstore_stored_fraction) below which the trainer
 * gives fc1 the CSR batch. Both paths touch all of W and its gradient each step, so the CSR one
 * only wins when there are few entries. Encoder phase at Norman size (G 5000, He 128, batch
 * 32), CSR against dense, two runs each: 2 % stored 0.30-0.38 / 0.50-0.55 ms on 2 threads,
 * 0.51-0.61 / 0.77-0.82 on 1; 15 %: 0.46-0.57 / 0.50-0.54 and 0.69-0.82 / 0.78-0.88; 20 %:
 * 0.48-0.63 / 0.50-0.57 and 0.89-1.17 / 0.76-0.80 (doc/PERFORMANCE.md). A property of the data,
 * not of the thread count: the two paths round differently, and a run's result must not depend
 * on its threads. */
#define CW_CMVAE_CSR_MAX_FRACTION 0.15
/* 1 when the model takes a CSR x and a stored fraction of X this low makes it pay */
int cw_cmvae_csr_input_pays(const cw_cmvae *m, double stored_fraction);

/* Forward over one batch: x (B, G) paired controls, extra (B, E) their extra inputs (NULL when
 * E = 0), y (B, G) real cells of target k; k in [0, C), k2 in [0, C) or -1; noise NULL or with
 * NULL members to draw from rng (xi, then eps, then dropout masks). Fills the loss terms. Keeps x,
 * extra and y (not copied) for backward. CW_EINVAL on bad indices or missing noise and rng. */
cw_status cw_cmvae_forward(cw_cmvae *m, const real *x, const real *extra, const real *y,
                           int64_t k, int64_t k2, const cw_cmvae_noise *noise, cw_rng *rng,
                           cw_cmvae_sched w, cw_cmvae_losses *out);
/* accumulates: m->grads += dL/dparams for the last forward's L (CW_ASSERTs one happened). */
void cw_cmvae_backward(cw_cmvae *m);
/* zero grads (skipped when grads_zero says they are: the previous step's Adam leaves them 0),
 * forward, (stop with CW_EINVAL if a loss term is not finite: parameters untouched), backward,
 * the data-parallel all-reduce, optional clamp, Adam with the gradient reset fused in
 * (cw_adam_update_zero_grad). */
cw_status cw_cmvae_train_step(cw_cmvae *m, const real *x, const real *extra, const real *y,
                              int64_t k, int64_t k2, const cw_cmvae_noise *noise, cw_rng *rng,
                              cw_cmvae_sched w, cw_cmvae_losses *out);
/* Prediction (§6.1: tau = 1, evaluation mode, a fresh sample of eps and xi): x (N, G) controls
 * and extra (N, E), N <= B -> y_hat (N, G) under target k (and k2, or -1). Overwrites the
 * forward state. */
cw_status cw_cmvae_predict(cw_cmvae *m, real *y_hat, const real *x, const real *extra, int64_t n,
                           int64_t k, int64_t k2, const cw_cmvae_noise *noise, cw_rng *rng);

/* The causal latent variables of cells without intervention, at the posterior mean with the
 * pathway-node inputs at their mean xi = 0: u = mu(x) (I - triu(G,1))^{-1} (vgae: u = mu)
 * (N, Z), N <= B. Overwrites the forward state. */
cw_status cw_cmvae_latent_mean(cw_cmvae *m, real *u, const real *x, const real *extra,
                               int64_t n);

/* The intervention of target k in evaluation mode at inverse temperature tau (evaluation uses
 * 1; the graph encoders clamp it to [1e-3, 10]): bc (Z) and the strength s. */
void cw_cmvae_intervention(cw_cmvae *m, int64_t k, real tau, real *bc, real *s);

/* Number of parameters of the model (all tensors of its table). */
static inline int64_t cw_cmvae_n_params(const cw_cmvae *m) { return m->table.total; }

/* Schedules of §5.3 for epoch n in [0, E) (alpha, beta from mx_alpha, mx_beta; tau from
 * mx_temp), as float32 values: torch.linspace's scalar formula in float arithmetic (start +
 * step i in the first half, end - step (steps - 1 - i) in the second). torch's vectorised path
 * may differ in the last bit. E == 1: alpha = beta = 0, tau = 1. */
cw_cmvae_sched cw_cmvae_schedule(int64_t epoch, int64_t epochs, double mx_alpha, double mx_beta,
                                 double mx_temp);

#endif
