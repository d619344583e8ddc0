/* model_setup.c: graphs, extra inputs and configuration of a family model (model_setup.h). */
#include "models/model_setup.h"

#include "core/alloc.h"
#include "core/status.h"
#include "data/graph_h5ad.h"
#include "la/matrix.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

void cw_model_inputs_free(cw_model_inputs *mi) {
    if (mi->has_graph) cw_graph_free(&mi->graph);
    if (mi->has_union) cw_union_graph_free(&mi->ugraph);
    cw_free(mi->extra);
    memset(mi, 0, sizeof *mi);
}

static uint64_t fnv(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static uint64_t adj_hash(const cw_adj *a, int64_t genes) {
    uint64_t h = 0xcbf29ce484222325ull;
    h = fnv(h, &a->n, sizeof a->n);
    h = fnv(h, &genes, sizeof genes);
    h = fnv(h, a->indptr, (size_t)(a->n + 1) * sizeof(int64_t));
    h = fnv(h, a->indices, (size_t)a->nnz * sizeof(int32_t));
    return h;
}

static cw_status read_extra(cw_model_inputs *mi, cw_h5ad *h, const char *key, int64_t n_cells) {
    cw_dmat m;
    memset(&m, 0, sizeof m);
    CW_TRY(cw_h5ad_read_obsm(h, key, &m));
    cw_status st = CW_OK;
    if (m.nrows != n_cells)
        st = cw_fail(CW_EFORMAT, "%s: /obsm/%s: %lld rows, expected one per cell (%lld)",
                     cw_h5ad_path(h), key, (long long)m.nrows, (long long)n_cells);
    else if (m.ncols < 1)
        st = cw_fail(CW_EFORMAT, "%s: /obsm/%s: no columns", cw_h5ad_path(h), key);
    for (int64_t i = 0; st == CW_OK && i < m.nrows * m.ncols; i++)
        if (!isfinite(m.data[i]))
            st = cw_fail(CW_EFORMAT, "%s: /obsm/%s: row %lld column %lld is not finite",
                         cw_h5ad_path(h), key, (long long)(i / m.ncols), (long long)(i % m.ncols));
    if (st == CW_OK) {
        mi->extra = cw_malloc_array((size_t)(m.nrows * m.ncols), sizeof(float));
        if (!mi->extra) st = cw_fail(CW_ENOMEM, "out of memory for /obsm/%s", key);
    }
    if (st == CW_OK) {
        for (int64_t i = 0; i < m.nrows * m.ncols; i++) mi->extra[i] = (float)m.data[i];
        mi->extra_dim = m.ncols;
        mi->n_cells = m.nrows;
    }
    cw_dmat_free(&m);
    return st;
}

cw_status cw_model_setup(cw_model_inputs *mi, cw_cmvae_config *mc, const cw_train_opts *o,
                         cw_h5ad *h, const cw_perturb_design *d, int64_t genes, int64_t latent) {
    memset(mi, 0, sizeof *mi);
    const int kind = cw_model_kind_parse(o->model);
    if (kind < 0)
        return cw_fail(CW_EINVAL, "--model: '%s' is not a model (cmvae, grace, vgae, multihot, "
                       "sena)", o->model ? o->model : "");
    const int gnn = cw_gnn_kind_parse(o->gnn ? o->gnn : "sage");
    if (gnn < 0) return cw_fail(CW_EINVAL, "--gnn: '%s' is not sage, gcn or gat", o->gnn);
    const int iv = cw_interv_kind_parse(o->interv_encoder ? o->interv_encoder : "mlp");
    if (iv < 0)
        return cw_fail(CW_EINVAL, "--interv-encoder: '%s' is not mlp, trivalue, trivalue-1hop or "
                       "dropedge", o->interv_encoder);
    if (kind == CW_MODEL_VGAE && iv != CW_INTERV_MLP)
        return cw_fail(CW_EINVAL, "--interv-encoder %s: vgae takes the mlp intervention encoder "
                       "only", o->interv_encoder);
    cw_cmvae_config_default(mc, genes, latent, d->n_targets);
    mc->kind = (cw_model_kind)kind;
    mc->hidden = o->hidden;
    mc->batch = o->batch;
    mc->lambda = o->lambda;
    mc->grad_clip = o->grad_clamp;
    mc->lr = o->lr;
    cw_gnn_config_default(&mc->gnn, (cw_gnn_kind)gnn, o->gnn_layers > 0 ? o->gnn_layers : 1);
    for (int l = 0; l < 7; l++)
        if (o->gnn_widths[l] > 0) mc->gnn.widths[l] = o->gnn_widths[l];
    if (o->gnn_heads > 0) mc->gnn.heads = o->gnn_heads;
    mc->interv = (cw_interv_kind)iv;
    mc->interv_dropout = o->interv_dropout;
    mc->lambda_laplacian = o->lambda_laplacian >= 0 ? o->lambda_laplacian
                           : (kind == CW_MODEL_VGAE || iv != CW_INTERV_MLP) ? 1e-4 : 0;
    mc->sena_free_units = o->sena_free_units;
    mc->sena_lambda = o->sena_lambda;
    mc->sena_min_genes = o->sena_min_genes;

    cw_status st = CW_OK;
    const int need_graph = kind != CW_MODEL_CMVAE;
    const int need_union = iv != CW_INTERV_MLP || mc->lambda_laplacian > 0;
    cw_graph_files gf = o->graph;
    if (!o->graph_seed_set) gf.seed = o->seed;
    if (need_graph) {
        if (!gf.gmt && !gf.ppi)
            st = cw_fail(CW_EINVAL, "--model %s needs a context graph: --graph-gmt and/or "
                         "--graph-ppi (with --graph-relations for gg+pg+pp)", o->model);
        if (st == CW_OK) st = cw_graph_from_files(&mi->graph, h, &gf, &mi->levels);
        if (st == CW_OK) {
            mi->has_graph = 1;
            mi->graph_hash = adj_hash(&mi->graph.adj, mi->graph.n_genes);
            mc->graph = &mi->graph;
        }
    }
    if (st == CW_OK && need_union) {
        if (!gf.ppi)
            st = cw_fail(CW_EINVAL, "%s needs --graph-ppi (the gene-union PPI graph)",
                         iv != CW_INTERV_MLP ? "--interv-encoder" : "the Laplacian term (lambda2)");
        if (st == CW_OK) st = cw_union_graph_from_files(&mi->ugraph, h, &gf, &d->targets);
        if (st == CW_OK) {
            mi->has_union = 1;
            mi->union_hash = adj_hash(&mi->ugraph.adj, mi->ugraph.n_genes);
            mc->union_graph = &mi->ugraph;
        }
    }
    if (st == CW_OK && o->extra_obsm) {
        st = read_extra(mi, h, o->extra_obsm, d->n_cells);
        if (st == CW_OK) mc->extra_inputs = mi->extra_dim;
    }
    if (st) cw_model_inputs_free(mi);
    return st;
}

json_t *cw_model_inputs_json(const cw_model_inputs *mi) {
    if (!mi->has_graph && !mi->has_union) return NULL;
    json_t *j = json_object();
    char buf[40];
    if (mi->has_graph) {
        const cw_graph_counts *c = &mi->graph.counts;
        json_object_set_new(j, "levels", json_string(mi->levels));
        json_object_set_new(j, "nodes", json_integer(mi->graph.n_nodes));
        json_object_set_new(j, "gene_nodes", json_integer(mi->graph.n_genes));
        json_object_set_new(j, "pathway_nodes", json_integer(mi->graph.n_pathways));
        json_object_set_new(j, "gg_edges", json_integer(c->gg_edges));
        json_object_set_new(j, "pg_edges", json_integer(c->pg_edges));
        json_object_set_new(j, "pp_edges", json_integer(c->pp_edges));
        json_object_set_new(j, "random_edges", json_integer(c->random_edges));
        snprintf(buf, sizeof buf, "fnv1a64:%016" PRIx64, mi->graph_hash);
        json_object_set_new(j, "fingerprint", json_string(buf));
    }
    if (mi->has_union) {
        json_object_set_new(j, "union_nodes", json_integer(mi->ugraph.adj.n));
        json_object_set_new(j, "union_edges", json_integer(mi->ugraph.adj.nnz / 2));
        snprintf(buf, sizeof buf, "fnv1a64:%016" PRIx64, mi->union_hash);
        json_object_set_new(j, "union_fingerprint", json_string(buf));
    }
    return j;
}

cw_status cw_model_inputs_check(const cw_model_inputs *mi, json_t *config,
                                const char *config_path) {
    json_t *rec = json_object_get(config, "graph");
    json_t *now = cw_model_inputs_json(mi);
    const char *keys[] = {"fingerprint", "union_fingerprint"};
    cw_status st = CW_OK;
    for (int i = 0; i < 2 && st == CW_OK; i++) {
        const char *a = json_string_value(json_object_get(rec, keys[i]));
        const char *b = json_string_value(json_object_get(now, keys[i]));
        if ((a || b) && (!a || !b || strcmp(a, b) != 0))
            st = cw_fail(CW_EFORMAT, "%s: graph.%s: the run was trained on %s, the graph files "
                         "now give %s (graph files or options changed since training)",
                         config_path, keys[i], a ? a : "no graph", b ? b : "no graph");
    }
    json_decref(now);
    return st;
}

void cw_model_gather_extra(const cw_model_inputs *mi, const int64_t *cells, int64_t n,
                           float *out) {
    const int64_t E = mi->extra_dim;
    for (int64_t r = 0; r < n && E > 0; r++)
        memcpy(out + r * E, mi->extra + cells[r] * E, (size_t)E * sizeof(float));
}
