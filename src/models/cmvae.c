/* cmvae.c: the causal discrepancy VAE family: parameter table, init, forward, backward, step,
 * predict, schedules (cmvae.h; spec §4.0-4.6, §5.1-5.6). Every layer goes through the nn kernels
 * or the encoders of gnn_encoder.c / interv_encoder.c; the only loops here are the one-hot
 * gathers/scatters of the intervention MLP, the shift z + s bc and the input assembly. */
#include "models/cmvae.h"

#include "core/alloc.h"
#include "core/dist.h"
#include "core/status.h"
#include "core/timer.h"
#include "nn/activation.h"
#include "nn/adam.h"
#include "nn/dag.h"
#include "nn/linear.h"
#include "nn/loss.h"
#include "nn/mmd.h"
#include "nn/softmax.h"
#include "nn/vae.h"

#include <math.h>
#include <string.h>

const char *cw_model_kind_name(cw_model_kind k) {
    static const char *names[] = {"cmvae", "grace", "vgae", "multihot", "sena"};
    return (int)k >= 0 && (int)k < 5 ? names[k] : "?";
}

int cw_model_kind_parse(const char *s) {
    for (int k = 0; s && k < 5; k++)
        if (!strcmp(s, cw_model_kind_name((cw_model_kind)k))) return k;
    return -1;
}

void cw_cmvae_config_default(cw_cmvae_config *cfg, int64_t genes, int64_t latent,
                             int64_t targets) {
    memset(cfg, 0, sizeof *cfg);
    cfg->genes = genes;
    cfg->latent = latent;
    cfg->targets = targets;
    cfg->hidden = 128;
    cfg->batch = 32;
    cfg->mmd_sigma = 1000;
    cfg->kernel_num = 10;
    cfg->lambda = 1e-4;
    cfg->grad_clip = 0;
    cfg->lr = 1e-3;
    cw_gnn_config_default(&cfg->gnn, CW_GNN_SAGE, 1);
    cfg->interv = CW_INTERV_MLP;
    cfg->interv_dropout = -1;
    cfg->sena_free_units = 8;
    cfg->sena_lambda = 0;
    cfg->sena_min_genes = 5;
}

void cw_cmvae_free(cw_cmvae *m) {
#ifdef CW_REAL_DOUBLE
    cw_free(m->params); /* own allocation of the four real blocks */
#endif
    cw_params_free(&m->table);
    cw_free(m->arena);
    cw_gnn_free(&m->gnn);
    cw_interv_encoder_free(&m->iv);
    cw_pathway_members_free(&m->members);
    cw_free(m->sena_mask);
    cw_free(m->lap_indptr);
    cw_free(m->lap_indices);
    cw_free(m->csr_iwork);
    memset(m, 0, sizeof *m);
}

const char *cw_cmvae_phase_name(int phase) {
    switch (phase) {
    case CW_PHASE_ENCODER: return "encoder";
    case CW_PHASE_GNN: return "gnn";
    case CW_PHASE_SAMPLE: return "sample";
    case CW_PHASE_INTERVENTION: return "intervention";
    case CW_PHASE_DAG: return "dag";
    case CW_PHASE_DECODER: return "decoder";
    case CW_PHASE_MMD: return "mmd";
    case CW_PHASE_LOSSES: return "losses";
    case CW_PHASE_COMM: return "comm";
    case CW_PHASE_ADAM: return "adam";
    default: return "?";
    }
}

/* profiling mark (cw_cmvae_prof): the time since the last mark goes to the phase being timed,
 * `next` is timed from now (-1: none) */
static void phase(cw_cmvae *m, int next) {
    cw_cmvae_prof *p = m->prof;
    if (!p) return;
    const double now = cw_now();
    if (p->cur >= 0) p->sec[p->cur] += now - p->since;
    p->cur = next;
    p->since = now;
}

static void fill_normal(cw_rng *r, real *a, int64_t n, double sd) {
    for (int64_t i = 0; i < n; i++) a[i] = (real)(sd * cw_rng_normal(r));
}

static void fill_uniform(cw_rng *r, real *a, int64_t n, double bound) {
    for (int64_t i = 0; i < n; i++) a[i] = (real)(bound * (2 * cw_rng_uniform(r) - 1));
}

static int64_t tensor_size(const cw_cmvae *m, int i) {
    return m->table.rows[m->slot[i]] * m->table.cols[m->slot[i]];
}

/* Carves the arena; with base NULL only counts. Returns the number of reals. */
static int64_t layout_arena(cw_cmvae *m, real *base) {
    const int64_t B = m->cfg.batch, G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    const int64_t He = m->enc_hidden, In = m->in_width;
    const int64_t P = m->has_gnn ? cw_gnn_pathway_nodes(&m->gnn) : 0;
    const int64_t Ws = m->cfg.kind == CW_MODEL_SENA ? He * In : 0;
    int64_t off = 0;
#define TAKE(ptr, count)                                                                       \
    do {                                                                                       \
        if (base) m->ptr = base + off;                                                         \
        off += (count);                                                                        \
    } while (0)
    TAKE(enc_in, B * In);
    TAKE(d_enc_in, B * In);
    TAKE(xi, P);
    TAKE(sena_weff, Ws);
    TAKE(sena_dw, Ws);
    TAKE(h1, B * He);
    TAKE(mu, B * Z);
    TAKE(vpre, B * Z);
    TAKE(var, B * Z);
    TAKE(eps, B * Z);
    TAKE(z, B * Z);
    TAKE(zp, B * Z);
    TAKE(hc, H);
    TAKE(hc2, H);
    TAKE(bc, Z);
    TAKE(bc2, Z);
    TAKE(u_dec, 2 * B * Z);
    TAKE(a_dec, 2 * B * H);
    TAKE(out_dec, 2 * B * G);
    TAKE(mmd_dist, cw_mmd_scratch_size(B, B));
    TAKE(dout_dec, 2 * B * G);
    TAKE(d_a, 2 * B * H);
    TAKE(d_u, 2 * B * Z);
    TAKE(d_zp, B * Z);
    TAKE(d_z, B * Z);
    TAKE(d_mu, B * Z);
    TAKE(d_var, B * Z);
    TAKE(d_vpre, B * Z);
    TAKE(d_h1, B * He);
    TAKE(d_h1pre, B * He);
    TAKE(d_bc, Z);
    TAKE(d_logits, Z);
    TAKE(d_hc, H);
    TAKE(d_hcpre, H);
    TAKE(mmd_scratch, cw_mmd_scratch_size(B, B));
    TAKE(dag_scratch, cw_dag_scratch_size(B, Z));
    TAKE(csr_wt, cw_cmvae_takes_x_csr(m) ? cw_linear_csr_scratch_size(B, He) : 0);
#undef TAKE
    return off;
}

/* places the decoder rows of this shard (n rows from r0) in the stacked blocks: obs first when
 * the shard starts the batch (x_recon, then y_hat's rows [0, n)), else int first (y_hat of the
 * batch, then x_recon): the two touch unless the shard sits inside the batch (3+ processes) */
static void place_decoder(cw_cmvae *m) {
    const int64_t B = m->cfg.batch, G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    const int64_t n = m->shard_rows, r0 = m->shard_row0;
    const int obs_first = r0 == 0;
    m->u_obs = m->u_dec + (obs_first ? 0 : n * Z);
    m->u_int = m->u_dec + (obs_first ? n * Z : 0);
    m->a_obs = m->a_dec + (obs_first ? 0 : n * H);
    m->a_int = m->a_dec + (obs_first ? n * H : 0);
    m->x_recon = m->out_dec + (obs_first ? 0 : B * G);
    m->y_hat = m->out_dec + (obs_first ? n * G : 0);
    m->d_out = m->dout_dec + (m->y_hat - m->out_dec);
    m->dec_stacked = obs_first || r0 + n == B;
}

/* gene PPI graph of the Laplacian term: the union graph's edges among the first G nodes */
static cw_status laplacian_graph(cw_cmvae *m, const cw_union_graph *u) {
    const int64_t G = m->cfg.genes;
    m->lap_indptr = cw_calloc((size_t)G + 1, sizeof(int64_t));
    if (!m->lap_indptr) return cw_fail(CW_ENOMEM, "cmvae: out of memory");
    for (int64_t i = 0; i < G; i++) {
        int64_t c = 0;
        for (int64_t e = u->adj.indptr[i]; e < u->adj.indptr[i + 1]; e++) c += u->adj.indices[e] < G;
        m->lap_indptr[i + 1] = m->lap_indptr[i] + c;
    }
    m->lap_indices = cw_malloc_array((size_t)(m->lap_indptr[G] ? m->lap_indptr[G] : 1),
                                     sizeof(int32_t));
    if (!m->lap_indices) return cw_fail(CW_ENOMEM, "cmvae: out of memory");
    for (int64_t i = 0, o = 0; i < G; i++)
        for (int64_t e = u->adj.indptr[i]; e < u->adj.indptr[i + 1]; e++)
            if (u->adj.indices[e] < G) m->lap_indices[o++] = u->adj.indices[e];
    return CW_OK;
}

/* the graph-dependent parts: GNN, multihot / sena membership, intervention encoder, Laplacian */
static cw_status init_components(cw_cmvae *m, const cw_cmvae_config *cfg) {
    const int64_t G = cfg->genes;
    const cw_model_kind kind = cfg->kind;
    const char *name = cw_model_kind_name(kind);
    m->in_width = G + cfg->extra_inputs;
    m->enc_hidden = cfg->hidden;
    if (kind == CW_MODEL_GRACE || kind == CW_MODEL_VGAE || kind == CW_MODEL_MULTIHOT ||
        kind == CW_MODEL_SENA) {
        const cw_graph *g = cfg->graph;
        if (!g)
            return cw_fail(CW_EINVAL, "model %s needs a context graph (--graph-gmt / "
                           "--graph-ppi ...)", name);
        if (g->n_genes != G)
            return cw_fail(CW_EINVAL, "model %s: the context graph has %lld gene nodes, the data "
                           "%lld genes", name, (long long)g->n_genes, (long long)G);
        if ((kind == CW_MODEL_MULTIHOT || kind == CW_MODEL_SENA) && g->n_pathways == 0)
            return cw_fail(CW_EINVAL, "model %s needs pathway nodes: give --graph-gmt and graph "
                           "levels gg+pg or gg+pg+pp", name);
        if (kind == CW_MODEL_GRACE || kind == CW_MODEL_VGAE) {
            CW_TRY(cw_gnn_init(&m->gnn, &cfg->gnn, g->n_nodes, G, g->adj.indptr, g->adj.indices,
                               cfg->batch));
            m->has_gnn = 1;
        } else {
            CW_TRY(cw_pathway_members_from_graph(&m->members, g));
        }
        if (kind == CW_MODEL_MULTIHOT) m->in_width += g->n_pathways;
        if (kind == CW_MODEL_SENA) {
            if (cfg->sena_free_units < 0 || cfg->sena_min_genes < 1 || !(cfg->sena_lambda >= 0))
                return cw_fail(CW_EINVAL, "sena: need free units >= 0, min genes >= 1, lambda >= 0");
            const int64_t kept = cw_sena_kept_pathways(&m->members, cfg->sena_min_genes);
            m->enc_hidden = kept + cfg->sena_free_units;
            if (m->enc_hidden < 1)
                return cw_fail(CW_EINVAL, "sena: no pathway has %lld or more of the data's genes "
                               "and there are no free units", (long long)cfg->sena_min_genes);
            m->sena_mask = cw_malloc_array((size_t)(m->enc_hidden * m->in_width), sizeof(real));
            if (!m->sena_mask) return cw_fail(CW_ENOMEM, "sena: out of memory for the mask");
            cw_sena_mask_fill(m->sena_mask, m->enc_hidden, m->in_width, &m->members,
                              cfg->sena_min_genes, cfg->sena_free_units, cfg->sena_lambda);
        }
    }
    if (cfg->interv != CW_INTERV_MLP || cfg->lambda_laplacian > 0) {
        const cw_union_graph *u = cfg->union_graph;
        if (!u)
            return cw_fail(CW_EINVAL, "%s needs the PPI graph (--graph-ppi)",
                           cfg->interv != CW_INTERV_MLP ? "a graph intervention encoder"
                                                        : "the Laplacian term");
        if (u->n_genes != G || u->n_targets != cfg->targets)
            return cw_fail(CW_EINVAL, "cmvae: the gene-union graph has %lld genes and %lld "
                           "targets, the model %lld and %lld", (long long)u->n_genes,
                           (long long)u->n_targets, (long long)G, (long long)cfg->targets);
        if (cfg->interv != CW_INTERV_MLP) {
            cw_interv_config ic;
            cw_interv_config_default(&ic, cfg->interv, cfg->latent, cfg->targets, cfg->hidden);
            ic.dropout = cfg->interv_dropout;
            CW_TRY(cw_interv_encoder_init(&m->iv, &ic, u->adj.n, u->adj.indptr, u->adj.indices,
                                          u->ptb_to_node));
            m->has_interv = 1;
        }
        if (cfg->lambda_laplacian > 0) CW_TRY(laplacian_graph(m, u));
    }
    return CW_OK;
}

cw_status cw_cmvae_init(cw_cmvae *m, const cw_cmvae_config *cfg, cw_rng *rng) {
    memset(m, 0, sizeof *m);
    const int64_t G = cfg->genes, Z = cfg->latent, C = cfg->targets, H = cfg->hidden;
    if (G <= 0 || Z <= 0 || C <= 0 || H <= 0 || cfg->batch <= 0 || cfg->extra_inputs < 0)
        return cw_fail(CW_EINVAL, "cmvae: sizes must be positive (genes %lld, latent %lld, "
                       "targets %lld, hidden %lld, batch %lld, extra inputs %lld)", (long long)G,
                       (long long)Z, (long long)C, (long long)H, (long long)cfg->batch,
                       (long long)cfg->extra_inputs);
    if (!(cfg->mmd_sigma > 0) || cfg->kernel_num <= 0 || cfg->kernel_num > CW_MMD_MAX_KERNELS ||
        !(cfg->lr > 0) || cfg->grad_clip < 0 || !(cfg->lambda >= 0) ||
        !(cfg->lambda_laplacian >= 0))
        return cw_fail(CW_EINVAL, "cmvae: need mmd_sigma > 0, kernel_num in 1..%d, lr > 0, "
                       "grad_clip >= 0, lambda >= 0, lambda2 >= 0", CW_MMD_MAX_KERNELS);
    if (cw_model_kind_parse(cw_model_kind_name(cfg->kind)) < 0)
        return cw_fail(CW_EINVAL, "cmvae: unknown model kind %d", (int)cfg->kind);
    if (cfg->interv < CW_INTERV_MLP || cfg->interv > CW_INTERV_DROPEDGE)
        return cw_fail(CW_EINVAL, "cmvae: unknown intervention encoder %d", (int)cfg->interv);
    m->cfg = *cfg;
    m->shard_rows = cfg->batch;
    m->shard_size = 1;
    m->cfg.graph = NULL;
    m->cfg.union_graph = NULL;
    cw_status st = init_components(m, cfg);
    if (st != CW_OK) {
        cw_cmvae_free(m);
        return st;
    }
    const int64_t He = m->enc_hidden, In = m->in_width;
    /* the table: core tensors the model has, in slot order, then the encoders' */
    const cw_param_spec core[CW_CMVAE_NPARAMS] = {
        {"fc1.weight", He, In},   {"fc1.bias", He, 1},    {"fc_mean.weight", Z, He},
        {"fc_mean.bias", Z, 1},   {"fc_var.weight", Z, He}, {"fc_var.bias", Z, 1},
        {"G", Z, Z},              {"c1.weight", H, C},    {"c1.bias", H, 1},
        {"c2.weight", Z, H},      {"c2.bias", Z, 1},      {"c_shift", C, 1},
        {"d1.weight", H, Z},      {"d1.bias", H, 1},      {"d2.weight", G, H},
        {"d2.bias", G, 1},
    };
    cw_param_spec specs[CW_CMVAE_NPARAMS + CW_GNN_MAX_TENSORS + CW_INTERV_MAX_TENSORS];
    int n = 0;
    for (int i = 0; i < CW_CMVAE_NPARAMS; i++) {
        int present = 1;
        if (i == CW_CMVAE_G) present = cfg->kind != CW_MODEL_VGAE;
        if (i >= CW_CMVAE_C1_W && i <= CW_CMVAE_C_SHIFT) present = cfg->interv == CW_INTERV_MLP;
        m->slot[i] = present ? n : -1;
        if (present) specs[n++] = core[i];
    }
    const int gnn_base = n;
    if (m->has_gnn) n += cw_gnn_param_specs(&m->gnn, specs + n);
    const int iv_base = n;
    if (m->has_interv) n += cw_interv_encoder_param_specs(&m->iv, specs + n);
    st = cw_params_init(&m->table, specs, n);
    if (st != CW_OK) {
        cw_cmvae_free(m);
        return cw_fail_prefix(st, "cmvae");
    }
#ifdef CW_REAL_DOUBLE
    const int64_t total = m->table.total;
    m->params = cw_calloc((size_t)total, 4 * sizeof(real));
    if (!m->params) {
        cw_cmvae_free(m);
        return cw_fail(CW_ENOMEM, "cmvae: out of memory for %lld parameters", (long long)total);
    }
    m->grads = m->params + total;
    m->m = m->grads + total;
    m->v = m->m + total;
#else
    m->params = m->table.params;
    m->grads = m->table.grads;
    m->m = m->table.m;
    m->v = m->table.v;
#endif
    if (m->has_gnn) cw_gnn_bind(&m->gnn, m->params, m->grads, m->table.offset + gnn_base);
    if (m->has_interv)
        cw_interv_encoder_bind(&m->iv, m->params, m->grads, m->table.offset + iv_base);
    m->arena_size = layout_arena(m, NULL);
    m->arena = cw_malloc_array((size_t)m->arena_size, sizeof(real));
    if (!m->arena) {
        cw_cmvae_free(m);
        return cw_fail(CW_ENOMEM, "cmvae: out of memory for the activation arena (%lld values)",
                       (long long)m->arena_size);
    }
    memset(m->arena, 0, (size_t)m->arena_size * sizeof(real));
    if (cw_cmvae_takes_x_csr(m)) {
        m->csr_iwork =
            cw_malloc_array((size_t)cw_linear_csr_iwork_size(cfg->batch), sizeof(int64_t));
        if (!m->csr_iwork) {
            cw_cmvae_free(m);
            return cw_fail(CW_ENOMEM, "cmvae: out of memory");
        }
    }
    layout_arena(m, m->arena);
    place_decoder(m);
    m->grads_zero = 1; /* calloc'd */

    /* §4.0 initialisation, in table order */
    for (int i = 0; i < CW_CMVAE_NPARAMS; i++) {
        if (m->slot[i] < 0) continue;
        real *p = cw_cmvae_param(m, i);
        const int64_t cnt = tensor_size(m, i);
        switch (i) {
        case CW_CMVAE_FC1_W: case CW_CMVAE_FC1_B:
            if (cfg->kind == CW_MODEL_SENA) /* SENA's layer: torch Linear default, fan_in = In */
                fill_uniform(rng, p, cnt, 1.0 / sqrt((double)In));
            else if (i == CW_CMVAE_FC1_W)
                fill_normal(rng, p, cnt, 0.02);
            else
                for (int64_t j = 0; j < cnt; j++) p[j] = 0;
            break;
        case CW_CMVAE_MEAN_W: case CW_CMVAE_VAR_W: case CW_CMVAE_D1_W: case CW_CMVAE_D2_W:
            fill_normal(rng, p, cnt, 0.02);
            break;
        case CW_CMVAE_C1_W: case CW_CMVAE_C1_B: /* torch Linear default, fan_in = C */
            fill_uniform(rng, p, cnt, 1.0 / sqrt((double)C));
            break;
        case CW_CMVAE_C2_W: case CW_CMVAE_C2_B: /* fan_in = H */
            fill_uniform(rng, p, cnt, 1.0 / sqrt((double)H));
            break;
        case CW_CMVAE_G:
            fill_normal(rng, p, cnt, 0.1);
            break;
        case CW_CMVAE_C_SHIFT:
            for (int64_t j = 0; j < cnt; j++) p[j] = 1;
            break;
        default: /* fc_mean, fc_var, d1, d2 biases */
            for (int64_t j = 0; j < cnt; j++) p[j] = 0;
        }
    }
    if (m->has_gnn) cw_gnn_init_params(&m->gnn, rng);
    if (m->has_interv) cw_interv_encoder_init_params(&m->iv, rng);
    return CW_OK;
}

cw_status cw_cmvae_set_shard(cw_cmvae *m, int rank, int size) {
    if (size < 1 || size > m->cfg.batch || rank < 0 || rank >= size)
        return cw_fail(CW_EINVAL, "cmvae: process %d of %d: need 1 <= processes <= batch size %lld",
                       rank, size, (long long)m->cfg.batch);
    cw_dist_shard(m->cfg.batch, rank, size, &m->shard_row0, &m->shard_rows);
    m->shard_size = size;
    place_decoder(m);
    return CW_OK;
}

int cw_cmvae_takes_x_csr(const cw_cmvae *m) {
    return !m->has_gnn && m->cfg.kind != CW_MODEL_SENA;
}

int cw_cmvae_csr_input_pays(const cw_cmvae *m, double stored_fraction) {
    return cw_cmvae_takes_x_csr(m) && stored_fraction < CW_CMVAE_CSR_MAX_FRACTION;
}

cw_status cw_cmvae_set_x_csr(cw_cmvae *m, const cw_csr *xs) {
    m->x_csr_next = NULL;
    if (!xs) return CW_OK;
    if (xs->nrows != m->shard_rows || xs->ncols != m->cfg.genes)
        return cw_fail(CW_EINVAL, "cmvae: sparse input of %lld x %lld, the step reads %lld x %lld",
                       (long long)xs->nrows, (long long)xs->ncols, (long long)m->shard_rows,
                       (long long)m->cfg.genes);
    if (cw_cmvae_takes_x_csr(m)) m->x_csr_next = xs;
    return CW_OK;
}

#ifdef CW_REAL_DOUBLE
#define dist_allreduce_sum cw_dist_allreduce_sum_f64
#define dist_allgather_rows cw_dist_allgather_rows_f64
#else
#define dist_allreduce_sum cw_dist_allreduce_sum_f32
#define dist_allgather_rows cw_dist_allgather_rows_f32
#endif

/* ---- forward pieces ----------------------------------------------------------------------- */

/* pathway-node inputs: xi_in copied, or drawn, or 0 (extra-input models and latent_mean) */
static void draw_xi(cw_cmvae *m, const real *xi_in, cw_rng *rng, int zero) {
    const int64_t P = cw_gnn_pathway_nodes(&m->gnn);
    if (zero)
        memset(m->xi, 0, (size_t)P * sizeof(real));
    else if (xi_in)
        memcpy(m->xi, xi_in, (size_t)P * sizeof(real));
    else
        for (int64_t p = 0; p < P; p++) m->xi[p] = (real)cw_rng_normal(rng);
}

/* encoder input: x (n, G), extra (n, E) -> m->enc (what fc1 reads: x itself or enc_in) */
static void encoder_input(cw_cmvae *m, const real *x, const real *extra, int64_t n) {
    const int64_t G = m->cfg.genes, In = m->in_width, E = m->cfg.extra_inputs;
    if (!m->has_gnn && In == G) {
        m->enc = x;
        return;
    }
    if (m->has_gnn) {
        cw_gnn_forward(&m->gnn, m->enc_in, In, x, G, m->xi, n);
    } else {
        for (int64_t b = 0; b < n; b++)
            memcpy(m->enc_in + b * In, x + b * G, (size_t)G * sizeof(real));
    }
    int64_t col = G;
    if (m->cfg.kind == CW_MODEL_MULTIHOT) {
        cw_multihot_fill(m->enc_in + col, In, x, G, n, &m->members);
        col += m->members.n_pathways;
    }
    if (E > 0)
        for (int64_t b = 0; b < n; b++)
            memcpy(m->enc_in + b * In + col, extra + b * E, (size_t)E * sizeof(real));
    m->enc = m->enc_in;
}

/* encoder: m->enc (n, In) -> h1 (n, He), mu, vpre, var (n, Z); fc1 reads the first G columns
 * from xs instead when given (cw_cmvae_set_x_csr) */
static void encode(cw_cmvae *m, int64_t n, const cw_csr *xs) {
    const int64_t Z = m->cfg.latent, He = m->enc_hidden, In = m->in_width, G = m->cfg.genes;
    if (xs) {
        const real *w1 = cw_cmvae_param(m, CW_CMVAE_FC1_W);
        cw_linear_forward_csr(m->h1, xs, w1, In, cw_cmvae_param(m, CW_CMVAE_FC1_B), He, m->csr_wt,
                              m->csr_iwork);
        /* the dense columns after x (multihot, extra inputs) */
        if (In > G) cw_gemm(0, 1, n, He, In - G, 1, m->enc + G, In, w1 + G, In, 1, m->h1, He);
        cw_lrelu_forward(m->h1, m->h1, n * He);
    } else if (m->cfg.kind == CW_MODEL_SENA) {
        cw_masked_linear_forward(m->h1, m->sena_weff, m->enc, cw_cmvae_param(m, CW_CMVAE_FC1_W),
                                 m->sena_mask, cw_cmvae_param(m, CW_CMVAE_FC1_B), n, In, He);
        cw_lrelu_forward(m->h1, m->h1, n * He);
    } else {
        cw_linear_lrelu_forward(m->h1, m->enc, cw_cmvae_param(m, CW_CMVAE_FC1_W),
                                cw_cmvae_param(m, CW_CMVAE_FC1_B), n, In, He);
    }
    cw_linear_forward(m->mu, m->h1, cw_cmvae_param(m, CW_CMVAE_MEAN_W),
                      cw_cmvae_param(m, CW_CMVAE_MEAN_B), n, He, Z);
    cw_linear_forward(m->vpre, m->h1, cw_cmvae_param(m, CW_CMVAE_VAR_W),
                      cw_cmvae_param(m, CW_CMVAE_VAR_B), n, He, Z);
    cw_softplus_forward(m->var, m->vpre, n * Z);
}

/* intervention of target k into slot s (0: k, 1: k2): bc (Z), returns the strength */
static real c_encode(cw_cmvae *m, int s, int64_t k, real tau, int train, cw_rng *rng) {
    real *bc = s ? m->bc2 : m->bc;
    if (m->has_interv) {
        real eta;
        cw_interv_encoder_forward(&m->iv, s, k, tau, train, rng, bc, &eta);
        return eta;
    }
    real *hc = s ? m->hc2 : m->hc;
    const int64_t Z = m->cfg.latent, C = m->cfg.targets, H = m->cfg.hidden;
    const real *w1 = cw_cmvae_param(m, CW_CMVAE_C1_W), *b1 = cw_cmvae_param(m, CW_CMVAE_C1_B);
    for (int64_t i = 0; i < H; i++) hc[i] = w1[i * C + k] + b1[i];
    cw_lrelu_forward(hc, hc, H);
    cw_linear_forward(bc, hc, cw_cmvae_param(m, CW_CMVAE_C2_W), cw_cmvae_param(m, CW_CMVAE_C2_B),
                      1, H, Z); /* logits */
    cw_softmax_forward(bc, bc, tau, 1, Z);
    return cw_cmvae_param(m, CW_CMVAE_C_SHIFT)[k];
}

/* u (n, Z) = zp (I - triu(G,1))^{-1}, or zp itself without a DAG (vgae) */
static void causal_layer(cw_cmvae *m, real *u, const real *zp, int64_t n) {
    const int64_t Z = m->cfg.latent;
    if (cw_cmvae_has(m, CW_CMVAE_G))
        cw_dag_forward(u, zp, cw_cmvae_param(m, CW_CMVAE_G), n, Z);
    else if (u != zp)
        memcpy(u, zp, (size_t)(n * Z) * sizeof(real));
}

/* decoder: u (n, Z) -> a (n, H) hidden after lrelu, out (n, G) */
static void decode(cw_cmvae *m, real *out, real *a, const real *u, int64_t n) {
    const int64_t G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    cw_linear_lrelu_forward(a, u, cw_cmvae_param(m, CW_CMVAE_D1_W),
                            cw_cmvae_param(m, CW_CMVAE_D1_B), n, Z, H);
    cw_linear_lrelu_forward(out, a, cw_cmvae_param(m, CW_CMVAE_D2_W),
                            cw_cmvae_param(m, CW_CMVAE_D2_B), n, H, G);
}

/* eps of `total` rows copied or drawn, rows [r0, r0 + n) kept (a shard draws the noise of the
 * whole batch, so every process leaves the rng in the same state); z = mu + sqrt(var) eps */
static void sample_z(cw_cmvae *m, int64_t n, int64_t total, int64_t r0, const real *eps,
                     cw_rng *rng) {
    const int64_t Z = m->cfg.latent;
    if (eps)
        memcpy(m->eps, eps + r0 * Z, (size_t)(n * Z) * sizeof(real));
    else {
        for (int64_t i = 0; i < total * Z; i++) m->eps[i] = (real)cw_rng_normal(rng);
        if (r0 > 0) memmove(m->eps, m->eps + r0 * Z, (size_t)(n * Z) * sizeof(real));
    }
    cw_reparam_forward(m->z, m->mu, m->var, m->eps, n * Z);
}

/* zp = z + s bc (+ s2 bc2), u_int = causal_layer(zp) */
static void intervene(cw_cmvae *m, int64_t n, int64_t k, int64_t k2, real tau, int train,
                      cw_rng *rng) {
    const int64_t Z = m->cfg.latent;
    m->s1 = c_encode(m, 0, k, tau, train, rng);
    m->s2 = k2 >= 0 ? c_encode(m, 1, k2, tau, train, rng) : 0;
    for (int64_t b = 0; b < n; b++) {
        const real *zb = m->z + b * Z;
        real *zpb = m->zp + b * Z;
        for (int64_t j = 0; j < Z; j++) zpb[j] = zb[j] + m->s1 * m->bc[j];
        if (k2 >= 0)
            for (int64_t j = 0; j < Z; j++) zpb[j] += m->s2 * m->bc2[j];
    }
    phase(m, CW_PHASE_DAG);
    causal_layer(m, m->u_int, m->zp, n);
}

/* which noise the call must draw from the rng */
static int needs_rng(const cw_cmvae *m, const cw_cmvae_noise *noise, int train) {
    if (!noise || !noise->eps) return 1;
    if (m->has_gnn && m->cfg.extra_inputs == 0 && !noise->xi) return 1;
    if (m->has_interv && train && m->iv.cfg.dropout > 0) return 1;
    return 0;
}

static cw_status check_targets(const cw_cmvae *m, int64_t k, int64_t k2) {
    const int64_t C = m->cfg.targets;
    if (k < 0 || k >= C)
        return cw_fail(CW_EINVAL, "cmvae: target index %lld outside [0, %lld)", (long long)k,
                       (long long)C);
    if (k2 < -1 || k2 >= C)
        return cw_fail(CW_EINVAL, "cmvae: second target index %lld outside [-1, %lld)",
                       (long long)k2, (long long)C);
    return CW_OK;
}

static cw_status check_call(const cw_cmvae *m, int64_t k, int64_t k2, const real *extra,
                            const cw_cmvae_noise *noise, const cw_rng *rng, int train) {
    CW_TRY(check_targets(m, k, k2));
    if (!rng && needs_rng(m, noise, train))
        return cw_fail(CW_EINVAL, "cmvae: need the noise (eps%s%s) or an rng",
                       m->has_gnn ? ", xi" : "", m->has_interv ? ", dropout" : "");
    if (m->cfg.extra_inputs > 0 && !extra)
        return cw_fail(CW_EINVAL, "cmvae: the model takes %lld extra inputs per cell; none given",
                       (long long)m->cfg.extra_inputs);
    return CW_OK;
}

cw_status cw_cmvae_forward(cw_cmvae *m, const real *x, const real *extra, const real *y,
                           int64_t k, int64_t k2, const cw_cmvae_noise *noise, cw_rng *rng,
                           cw_cmvae_sched w, cw_cmvae_losses *out) {
    const cw_csr *xs = m->x_csr_next; /* this call's sparse x, if any: taken even on failure */
    m->x_csr_next = NULL;
    CW_TRY(check_call(m, k, k2, extra, noise, rng, 1));
    const int64_t B = m->cfg.batch, G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    const int64_t n = m->shard_rows, r0 = m->shard_row0; /* this process's rows; B, 0 alone */
    m->have_forward = 0;
    const real *eps = noise ? noise->eps : NULL;
    /* draw order: eps (after the encoder, as before), xi, dropout masks */
    if (m->has_gnn) {
        phase(m, CW_PHASE_SAMPLE);
        draw_xi(m, noise ? noise->xi : NULL, rng, m->cfg.extra_inputs > 0);
        phase(m, CW_PHASE_GNN);
    } else
        phase(m, CW_PHASE_ENCODER);
    encoder_input(m, x, extra, n);
    m->x_csr = xs;
    CW_ASSERT(!xs || xs->nrows == n);
    phase(m, CW_PHASE_ENCODER);
    encode(m, n, m->x_csr);
    phase(m, CW_PHASE_SAMPLE);
    sample_z(m, n, B, r0, eps, rng);
    phase(m, CW_PHASE_INTERVENTION);
    intervene(m, n, k, k2, (real)w.tau, 1, rng); /* marks its causal layer as DAG */
    causal_layer(m, m->u_obs, m->z, n);
    phase(m, CW_PHASE_DECODER);
    if (m->dec_stacked) { /* one pass over both branches' 2n rows */
        const int obs_first = m->u_obs < m->u_int;
        decode(m, obs_first ? m->x_recon : m->y_hat + r0 * G, obs_first ? m->a_obs : m->a_int,
               obs_first ? m->u_obs : m->u_int, 2 * n);
    } else {
        decode(m, m->y_hat + r0 * G, m->a_int, m->u_int, n);
        decode(m, m->x_recon, m->a_obs, m->u_obs, n);
    }
    if (m->shard_size > 1) {
        phase(m, CW_PHASE_COMM);
        CW_TRY(dist_allgather_rows(m->y_hat, B, G));
    }

    cw_cmvae_losses l;
    phase(m, CW_PHASE_MMD);
    l.mmd = cw_mmd_forward(m->mmd_dist, m->y_hat, y, B, B, G, m->cfg.mmd_sigma, m->cfg.kernel_num);
    phase(m, CW_PHASE_LOSSES);
    /* MSE and KL are means over the batch: a shard contributes its mean times n / B */
    double part[2] = {cw_mse_forward(m->x_recon, x, n * G) * (double)n / (double)B,
                      cw_kl_forward(m->mu, m->var, n, Z) * (double)n / (double)B};
    if (m->shard_size > 1) {
        phase(m, CW_PHASE_COMM);
        CW_TRY(cw_dist_allreduce_sum_f64(part, 2));
        phase(m, CW_PHASE_LOSSES);
    }
    l.mse = part[0];
    l.kl = part[1];
    l.l1 = cw_cmvae_has(m, CW_CMVAE_G) ? cw_l1_triu_forward(cw_cmvae_param(m, CW_CMVAE_G), Z) : 0;
    l.lap = m->lap_indptr ? cw_laplacian_forward(cw_cmvae_param(m, CW_CMVAE_D2_W), m->lap_indptr,
                                                 m->lap_indices, G, H)
                          : 0;
    l.total = w.alpha * l.mmd + l.mse + w.beta * l.kl + m->cfg.lambda * l.l1 +
              m->cfg.lambda_laplacian * l.lap;
    if (out) *out = l;
    m->x = x;
    m->y = y;
    m->k = k;
    m->k2 = k2;
    m->w = w;
    m->have_forward = 1;
    return CW_OK;
}

/* ---- backward ----------------------------------------------------------------------------- */

/* decoder backward, d2's rows: dpre (rows, G) = dL/d(d2 output before its lrelu) -> d_a
 * (rows, H) at row r of the stacked blocks, overwritten (before the hidden lrelu) */
static void decode_backward_d2_rows(cw_cmvae *m, const real *dpre, int64_t r, int64_t rows) {
    const int64_t G = m->cfg.genes, H = m->cfg.hidden;
    /* d_a (rows, H) = dpre (rows, G) W2 (G, H) */
    cw_gemm(0, 0, rows, H, G, 1, dpre, G, cw_cmvae_param(m, CW_CMVAE_D2_W), H, 0, m->d_a + r * H,
            H);
}

/* decoder backward, the rest of the row-wise part, over `rows` rows from row r (d_a as
 * decode_backward_d2_rows left it): d_a times lrelu'(a) in place, d_u (rows, Z) overwritten */
static void decode_backward_rows(cw_cmvae *m, int64_t r, int64_t rows) {
    const int64_t Z = m->cfg.latent, H = m->cfg.hidden;
    real *da = m->d_a + r * H, *du = m->d_u + r * Z;
    cw_lrelu_backward_inplace(da, m->a_dec + r * H, rows * H);
    /* d_u (rows, Z) = d_a (rows, H) W1 (H, Z) */
    cw_gemm(0, 0, rows, Z, H, 1, da, H, cw_cmvae_param(m, CW_CMVAE_D1_W), Z, 0, du, Z);
}

/* decoder backward, the weight gradients of `rows` rows from row r (after decode_backward_rows
 * covered them): accumulated into d1, d2 weight and bias grads */
static void decode_backward_weights(cw_cmvae *m, const real *dpre, int64_t r, int64_t rows) {
    const int64_t G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    cw_linear_backward(NULL, cw_cmvae_grad(m, CW_CMVAE_D2_W), cw_cmvae_grad(m, CW_CMVAE_D2_B),
                       dpre, m->a_dec + r * H, NULL, rows, H, G);
    cw_linear_backward(NULL, cw_cmvae_grad(m, CW_CMVAE_D1_W), cw_cmvae_grad(m, CW_CMVAE_D1_B),
                       m->d_a + r * H, m->u_dec + r * Z, NULL, rows, Z, H);
}

/* causal layer backward: dzp (n, Z) += dL/dzp given du = dL/du and the layer's output u */
static void causal_layer_backward(cw_cmvae *m, real *dzp, const real *du, const real *u,
                                  int64_t n) {
    const int64_t Z = m->cfg.latent;
    if (cw_cmvae_has(m, CW_CMVAE_G))
        cw_dag_backward(dzp, cw_cmvae_grad(m, CW_CMVAE_G), m->dag_scratch, du, u,
                        cw_cmvae_param(m, CW_CMVAE_G), n, Z);
    else
        for (int64_t i = 0; i < n * Z; i++) dzp[i] += du[i];
}

/* intervention backward for slot s (target k): zp = z + s bc, given d_zp (n, Z) */
static void c_encode_backward(cw_cmvae *m, int s, int64_t k, int64_t n) {
    const int64_t Z = m->cfg.latent, C = m->cfg.targets, H = m->cfg.hidden;
    const real *bc = s ? m->bc2 : m->bc;
    const real strength = s ? m->s2 : m->s1;
    /* d_bc_j = s sum_b d_zp_bj, d_s = sum_bj d_zp_bj bc_j */
    double ds = 0;
    for (int64_t j = 0; j < Z; j++) {
        double col = 0;
        for (int64_t b = 0; b < n; b++) col += m->d_zp[b * Z + j];
        m->d_bc[j] = (real)(strength * col);
        ds += col * bc[j];
    }
    if (m->has_interv) {
        cw_interv_encoder_backward(&m->iv, s, m->d_bc, (real)ds);
        return;
    }
    const real *hc = s ? m->hc2 : m->hc;
    cw_cmvae_grad(m, CW_CMVAE_C_SHIFT)[k] += (real)ds;
    memset(m->d_logits, 0, (size_t)Z * sizeof(real));
    cw_softmax_backward(m->d_logits, m->d_bc, bc, (real)m->w.tau, 1, Z);
    memset(m->d_hc, 0, (size_t)H * sizeof(real));
    cw_linear_backward(m->d_hc, cw_cmvae_grad(m, CW_CMVAE_C2_W), cw_cmvae_grad(m, CW_CMVAE_C2_B),
                       m->d_logits, hc, cw_cmvae_param(m, CW_CMVAE_C2_W), 1, H, Z);
    memset(m->d_hcpre, 0, (size_t)H * sizeof(real));
    cw_lrelu_backward(m->d_hcpre, m->d_hc, hc, H);
    real *gw1 = cw_cmvae_grad(m, CW_CMVAE_C1_W), *gb1 = cw_cmvae_grad(m, CW_CMVAE_C1_B);
    for (int64_t i = 0; i < H; i++) {
        gw1[i * C + k] += m->d_hcpre[i]; /* one-hot c: dW = dh c^T touches column k only */
        gb1[i] += m->d_hcpre[i];
    }
}

/* [*lo, *hi) of the parameter blocks holding the decoder's tensors (d1, d2 weights and biases)
 * and nothing else; 0 when they do not form such a range */
static int decoder_range(const cw_cmvae *m, int64_t *lo, int64_t *hi) {
    static const int dec[4] = {CW_CMVAE_D1_W, CW_CMVAE_D1_B, CW_CMVAE_D2_W, CW_CMVAE_D2_B};
    const cw_param_table *t = &m->table;
    *lo = t->total, *hi = 0;
    int64_t inside = 0;
    for (int j = 0; j < 4; j++) {
        const int s = m->slot[dec[j]];
        if (s < 0) return 0;
        const int64_t o = t->offset[s], e = o + t->rows[s] * t->cols[s];
        *lo = o < *lo ? o : *lo, *hi = e > *hi ? e : *hi;
        inside += e - o;
    }
    for (int s = 0; s < t->n; s++) /* no other tensor within */
        if (t->offset[s] >= *lo && t->offset[s] < *hi) inside -= t->rows[s] * t->cols[s];
    return inside == 0 && *hi > *lo;
}

/* Adam (after the clamp) over parameter elements [lo, hi), leaving their gradients 0 */
static void adam_range(cw_cmvae *m, int64_t lo, int64_t hi) {
    if (hi <= lo) return;
    if (m->cfg.grad_clip > 0) cw_grad_clamp(m->grads + lo, hi - lo, (real)m->cfg.grad_clip);
    cw_adam_update_zero_grad(m->params + lo, m->grads + lo, m->m + lo, m->v + lo, hi - lo,
                             m->cfg.lr, CW_ADAM_BETA1, CW_ADAM_BETA2, CW_ADAM_EPS, m->t);
}

static void backward(cw_cmvae *m, int early_adam);

void cw_cmvae_backward(cw_cmvae *m) { backward(m, 0); }

/* early_adam (a one-process train step, m->t already counted): the decoder's tensors take their
 * Adam step as soon as their gradients are complete, while those and W2 are still in cache */
static void backward(cw_cmvae *m, int early_adam) {
    CW_ASSERT(m->have_forward);
    m->grads_zero = 0;
    const int64_t B = m->cfg.batch, G = m->cfg.genes, Z = m->cfg.latent, H = m->cfg.hidden;
    const int64_t He = m->enc_hidden, In = m->in_width;
    const int64_t n = m->shard_rows, r0 = m->shard_row0; /* this process's rows; B, 0 alone */
    const double share = (double)n / (double)B;          /* of the batch means MSE and KL */
    phase(m, CW_PHASE_MMD);

    /* interventional branch: alpha MMD(y_hat, y) over the whole batch; this shard's rows
     * through the output lrelu (in place) */
    if (m->w.alpha != 0) /* writes all of d_out (B, G): no memset first */
        cw_mmd_backward_set_dx(m->d_out, NULL, m->mmd_scratch, m->w.alpha, m->y_hat, m->y,
                               m->mmd_dist, B, B, G, m->cfg.mmd_sigma, m->cfg.kernel_num);
    else
        memset(m->d_out, 0, (size_t)(B * G) * sizeof(real));
    phase(m, CW_PHASE_DECODER);
    real *dpre_int = m->d_out + r0 * G;
    cw_lrelu_backward_inplace(dpre_int, m->y_hat + r0 * G, n * G);

    /* observational branch: MSE(x_recon, x) written directly (as cw_mse_backward into zeros),
     * then through the output lrelu in place */
    real *dpre_obs = m->dout_dec + (m->x_recon - m->out_dec);
    {
        const real scale = (real)(2.0 * share / (double)(n * G));
        const real *xr = m->x_recon, *x = m->x;
        const int64_t cnt = n * G;
#pragma omp parallel for simd schedule(static) if (cnt >= CW_OMP_MIN_ELEMS)
        for (int64_t i = 0; i < cnt; i++) dpre_obs[i] = scale * (xr[i] - x[i]);
    }
    cw_lrelu_backward_inplace(dpre_obs, m->x_recon, n * G);

    /* both decoders: the row-wise GEMMs branch by branch (d2's as one GEMM when the AVX-512
     * kernels give the same bits), the weight gradients as one GEMM over 2n rows when the rows
     * touch. (Stacking the row-wise GEMMs through OpenBLAS is equally valid, but its rounding
     * of a row depends on the row count, and together with the stacked forward it moved one
     * tiny gradient of the gat3 family parity fixture, |g| 3.7e-6, to 1.03x its tolerance.) */
    const int64_t ri = (m->u_int - m->u_dec) / Z, ro = (m->u_obs - m->u_dec) / Z;
    if (m->dec_stacked && cw_gemm_same_rows(0, 2 * n, n, H, G)) {
        /* d2's d_a over both branches in one GEMM (W2 streamed once) where that gives every
         * row the bits it gets branch by branch */
        const int obs_first = ro < ri;
        decode_backward_d2_rows(m, obs_first ? dpre_obs : dpre_int, obs_first ? ro : ri, 2 * n);
    } else {
        decode_backward_d2_rows(m, dpre_int, ri, n);
        decode_backward_d2_rows(m, dpre_obs, ro, n);
    }
    decode_backward_rows(m, ri, n);
    decode_backward_rows(m, ro, n);
    if (m->dec_stacked) {
        const int obs_first = ro < ri;
        decode_backward_weights(m, obs_first ? dpre_obs : dpre_int, obs_first ? ro : ri, 2 * n);
    } else {
        decode_backward_weights(m, dpre_int, ri, n);
        decode_backward_weights(m, dpre_obs, ro, n);
    }
    if (m->lap_indptr && r0 == 0) { /* lambda2 LAP: counted once in the group (by rank 0) */
        phase(m, CW_PHASE_LOSSES);
        cw_laplacian_backward(cw_cmvae_grad(m, CW_CMVAE_D2_W), m->cfg.lambda_laplacian,
                              cw_cmvae_param(m, CW_CMVAE_D2_W), m->lap_indptr, m->lap_indices, G,
                              H);
    }
    int64_t dlo, dhi;
    if (early_adam && decoder_range(m, &dlo, &dhi)) { /* nothing below reads d1, d2 */
        phase(m, CW_PHASE_ADAM);
        adam_range(m, dlo, dhi);
    }
    phase(m, CW_PHASE_DAG);
    const real *du_int = m->d_u + ri * Z, *du_obs = m->d_u + ro * Z;
    memset(m->d_zp, 0, (size_t)(n * Z) * sizeof(real));
    causal_layer_backward(m, m->d_zp, du_int, m->u_int, n);
    memset(m->d_z, 0, (size_t)(n * Z) * sizeof(real));
    causal_layer_backward(m, m->d_z, du_obs, m->u_obs, n);

    /* zp = z + s bc (+ s2 bc2) */
    phase(m, CW_PHASE_INTERVENTION);
    for (int64_t i = 0; i < n * Z; i++) m->d_z[i] += m->d_zp[i];
    c_encode_backward(m, 0, m->k, n);
    if (m->k2 >= 0) c_encode_backward(m, 1, m->k2, n);

    /* lambda L1: a parameter term, counted once in the group (by rank 0) */
    phase(m, CW_PHASE_LOSSES);
    if (cw_cmvae_has(m, CW_CMVAE_G) && r0 == 0)
        cw_l1_triu_backward(cw_cmvae_grad(m, CW_CMVAE_G), m->cfg.lambda,
                            cw_cmvae_param(m, CW_CMVAE_G), Z);

    /* reparameterisation, beta KL, encoder */
    phase(m, CW_PHASE_SAMPLE);
    memset(m->d_mu, 0, (size_t)(n * Z) * sizeof(real));
    memset(m->d_var, 0, (size_t)(n * Z) * sizeof(real));
    cw_reparam_backward(m->d_mu, m->d_var, m->d_z, m->var, m->eps, n * Z);
    phase(m, CW_PHASE_LOSSES);
    cw_kl_backward(m->d_mu, m->d_var, m->w.beta * share, m->mu, m->var, n, Z);
    phase(m, CW_PHASE_ENCODER);
    memset(m->d_vpre, 0, (size_t)(n * Z) * sizeof(real));
    cw_softplus_backward(m->d_vpre, m->d_var, m->vpre, n * Z);
    memset(m->d_h1, 0, (size_t)(n * He) * sizeof(real));
    cw_linear_backward(m->d_h1, cw_cmvae_grad(m, CW_CMVAE_MEAN_W),
                       cw_cmvae_grad(m, CW_CMVAE_MEAN_B), m->d_mu, m->h1,
                       cw_cmvae_param(m, CW_CMVAE_MEAN_W), n, He, Z);
    cw_linear_backward(m->d_h1, cw_cmvae_grad(m, CW_CMVAE_VAR_W), cw_cmvae_grad(m, CW_CMVAE_VAR_B),
                       m->d_vpre, m->h1, cw_cmvae_param(m, CW_CMVAE_VAR_W), n, He, Z);
    memset(m->d_h1pre, 0, (size_t)(n * He) * sizeof(real));
    cw_lrelu_backward(m->d_h1pre, m->d_h1, m->h1, n * He);
    real *d_in = NULL;
    if (m->has_gnn) {
        /* d_in (n, In) = d_h1pre (n, He) W1 (He, In), written by the GEMM (beta 0) instead of a
         * memset and an accumulating GEMM: the same values, one pass over d_in fewer */
        d_in = m->d_enc_in;
        cw_gemm(0, 0, n, In, He, 1, m->d_h1pre, He, cw_cmvae_param(m, CW_CMVAE_FC1_W), In, 0,
                d_in, In);
    }
    if (m->cfg.kind == CW_MODEL_SENA) /* (no GNN: d_in NULL) */
        cw_masked_linear_backward(d_in, cw_cmvae_grad(m, CW_CMVAE_FC1_W),
                                  cw_cmvae_grad(m, CW_CMVAE_FC1_B), m->sena_dw, m->d_h1pre,
                                  m->enc, m->sena_weff, m->sena_mask, n, In, He);
    else if (m->x_csr) { /* no input gradient: without a GNN, fc1's input is data */
        real *gw1 = cw_cmvae_grad(m, CW_CMVAE_FC1_W);
        cw_linear_backward_csr(gw1, cw_cmvae_grad(m, CW_CMVAE_FC1_B), m->d_h1pre, m->x_csr, In,
                               He, m->csr_wt, m->csr_iwork);
        if (In > G) /* the dense columns after x */
            cw_gemm(1, 0, He, In - G, n, 1, m->d_h1pre, He, m->enc + G, In, 1, gw1 + G, In);
    } else /* weight and bias gradients; the input gradient is done above */
        cw_linear_backward(NULL, cw_cmvae_grad(m, CW_CMVAE_FC1_W),
                           cw_cmvae_grad(m, CW_CMVAE_FC1_B), m->d_h1pre, m->enc,
                           cw_cmvae_param(m, CW_CMVAE_FC1_W), n, In, He);
    if (m->has_gnn) {
        phase(m, CW_PHASE_GNN);
        cw_gnn_backward(&m->gnn, d_in, In);
    }
}

cw_status cw_cmvae_train_step(cw_cmvae *m, const real *x, const real *extra, const real *y,
                              int64_t k, int64_t k2, const cw_cmvae_noise *noise, cw_rng *rng,
                              cw_cmvae_sched w, cw_cmvae_losses *out) {
    const int64_t total = m->table.total;
    if (m->prof) m->prof->cur = -1; /* (a failed step may have left one open) */
    phase(m, CW_PHASE_ADAM);
    /* the previous step's Adam zeroed the gradients in its pass; zero them here only when
     * something accumulated into them since (a backward outside a step, a failed all-reduce) */
    if (!m->grads_zero) memset(m->grads, 0, (size_t)total * sizeof(real));
    m->grads_zero = 1;
    cw_cmvae_losses l;
    CW_TRY(cw_cmvae_forward(m, x, extra, y, k, k2, noise, rng, w, &l));
    if (out) *out = l;
    /* cw_mmd_forward clamps distances with `v > 0 ? v : 0`, which maps NaN to 0: a NaN in y_hat
     * alone would leave the MMD finite, so y_hat is scanned too */
    int yhat_ok = 1;
    const int64_t ny = m->cfg.batch * m->cfg.genes;
#pragma omp parallel for reduction(& : yhat_ok) schedule(static) if (ny >= CW_OMP_MIN_ELEMS)
    for (int64_t i = 0; i < ny; i++) yhat_ok &= isfinite(m->y_hat[i]) != 0;
    const char *bad = !isfinite(l.mmd) ? "mmd" : !yhat_ok ? "mmd (y_hat)"
                    : !isfinite(l.mse) ? "mse" : !isfinite(l.kl) ? "kl"
                    : !isfinite(l.l1) ? "l1" : !isfinite(l.lap) ? "laplacian"
                    : !isfinite(l.total) ? "total" : NULL;
    if (bad)
        return cw_fail(CW_EINVAL, "%s: step %lld (target %lld): loss term %s is not finite "
                       "(mmd %g, mse %g, kl %g, l1 %g, laplacian %g)",
                       cw_model_kind_name(m->cfg.kind), (long long)(m->t + 1), (long long)k, bad,
                       l.mmd, l.mse, l.kl, l.l1, l.lap);
    /* One process: the decoder's tensors take their Adam step inside the backward, as soon as
     * their gradients are complete (the same elementwise update, so the same values), the rest
     * here. With a shard group every gradient waits for the all-reduce. */
    int64_t dlo = 0, dhi = 0;
    const int early = m->shard_size == 1 && decoder_range(m, &dlo, &dhi);
    if (early) m->t++; /* (else after the all-reduce: a failed one leaves the count) */
    backward(m, early);
    if (!early) dlo = dhi = total;
    if (m->shard_size > 1) { /* the batch's gradient */
        phase(m, CW_PHASE_COMM);
        CW_TRY(dist_allreduce_sum(m->grads, total));
    }
    if (!early) m->t++;
    phase(m, CW_PHASE_ADAM);
    /* reads every gradient (after the all-reduce and the clamp), then leaves it 0 for the next
     * step's backward (values as cw_adam_update) */
    adam_range(m, 0, dlo);
    adam_range(m, dhi, total);
    m->grads_zero = 1;
    phase(m, -1);
    return CW_OK;
}

cw_status cw_cmvae_predict(cw_cmvae *m, real *y_hat, const real *x, const real *extra, int64_t n,
                           int64_t k, int64_t k2, const cw_cmvae_noise *noise, cw_rng *rng) {
    CW_TRY(check_call(m, k, k2, extra, noise, rng, 0));
    if (n < 0 || n > m->cfg.batch)
        return cw_fail(CW_EINVAL, "cmvae: predict: %lld rows, at most the batch size %lld",
                       (long long)n, (long long)m->cfg.batch);
    m->have_forward = 0;
    if (n == 0) return CW_OK;
    if (m->has_gnn) draw_xi(m, noise ? noise->xi : NULL, rng, m->cfg.extra_inputs > 0);
    encoder_input(m, x, extra, n);
    encode(m, n, NULL);
    sample_z(m, n, n, 0, noise ? noise->eps : NULL, rng);
    intervene(m, n, k, k2, 1, 0, rng);
    decode(m, m->y_hat, m->a_int, m->u_int, n);
    memcpy(y_hat, m->y_hat, (size_t)(n * m->cfg.genes) * sizeof(real));
    return CW_OK;
}

void cw_cmvae_intervention(cw_cmvae *m, int64_t k, real tau, real *bc, real *s) {
    CW_ASSERT(k >= 0 && k < m->cfg.targets);
    *s = c_encode(m, 0, k, tau, 0, NULL);
    memcpy(bc, m->bc, (size_t)m->cfg.latent * sizeof(real));
    m->have_forward = 0;
}

/* ---- schedules (§5.3) --------------------------------------------------------------------- */

/* element i of torch.linspace(start, end, steps) in float32 (scalar kernel formula) */
static float linspace_f32(double start, double end, int64_t steps, int64_t i) {
    const float s = (float)start, e = (float)end;
    if (steps == 1) return s;
    const float step = (e - s) / (float)(steps - 1);
    if (i < steps / 2) return s + step * (float)i;
    return e - step * (float)(steps - i - 1);
}

cw_cmvae_sched cw_cmvae_schedule(int64_t epoch, int64_t epochs, double mx_alpha, double mx_beta,
                                 double mx_temp) {
    cw_cmvae_sched w = {0, 0, 1};
    if (epochs <= 1) return w;
    const int64_t half = epochs / 2;
    if (epoch >= 10) w.beta = linspace_f32(0, mx_beta, epochs - 10, epoch - 10);
    if (epoch >= half)
        w.alpha = (float)mx_alpha;
    else if (epoch >= 5)
        w.alpha = linspace_f32(0, mx_alpha, half - 5, epoch - 5);
    if (epoch >= 5) w.tau = linspace_f32(1, mx_temp, epochs - 5, epoch - 5);
    return w;
}

cw_status cw_cmvae_latent_mean(cw_cmvae *m, real *u, const real *x, const real *extra,
                               int64_t n) {
    if (n < 1 || n > m->cfg.batch)
        return cw_fail(CW_EINVAL, "cmvae: latent of %lld cells (1..%lld per call)", (long long)n,
                       (long long)m->cfg.batch);
    if (m->cfg.extra_inputs > 0 && !extra)
        return cw_fail(CW_EINVAL, "cmvae: the model takes %lld extra inputs per cell; none given",
                       (long long)m->cfg.extra_inputs);
    if (m->has_gnn) draw_xi(m, NULL, NULL, 1);
    encoder_input(m, x, extra, n);
    encode(m, n, NULL);
    causal_layer(m, u, m->mu, n);
    m->have_forward = 0;
    return CW_OK;
}
