/* model_setup.h: everything a model of the CMVAE family needs besides its weights, built from a
 * run's options and its data file (issue #4): the context graph (grace, vgae, multihot, sena),
 * the gene-union PPI graph (graph intervention encoders and the Laplacian term), the extra
 * per-cell inputs (--extra-input-obsm) and the model configuration. Training, evaluate, predict
 * and dag all go through cw_model_setup, so a run is rebuilt exactly as it was trained.
 *
 * Graph fingerprints: FNV-1a 64 over node counts, CSR indptr and indices. config.json records
 * them under "graph"; cw_model_inputs_check refuses to use a run whose graph files now give a
 * different graph (a changed GMT would silently shift node ids, spec §8.3 item 11).
 */
#ifndef CW_MODELS_MODEL_SETUP_H
#define CW_MODELS_MODEL_SETUP_H

#include "causeway.h"
#include "data/graph.h"
#include "data/perturb.h"
#include "io/h5ad.h"
#include "models/cmvae.h"
#include "models/trainer.h"

#include <stdint.h>

struct json_t;

typedef struct {
    int has_graph, has_union;
    cw_graph graph;
    const char *levels;          /* levels in effect (static string) */
    cw_union_graph ugraph;
    uint64_t graph_hash, union_hash;
    float *extra;                /* (n_cells, extra_dim) or NULL */
    int64_t extra_dim, n_cells;
} cw_model_inputs;

/* Fills mc (sizes, kind, encoders, lambda2) from o and builds what it needs. genes: G; latent: Z.
 * Errors name the option, file or obsm key at fault. */
cw_status cw_model_setup(cw_model_inputs *mi, cw_cmvae_config *mc, const cw_train_opts *o,
                         cw_h5ad *h, const cw_perturb_design *d, int64_t genes, int64_t latent);
void cw_model_inputs_free(cw_model_inputs *mi);

/* {"levels", nodes, edges by type, fingerprints} for config.json ("graph" key); NULL when the
 * model uses no graph. */
struct json_t *cw_model_inputs_json(const cw_model_inputs *mi);
/* The run's recorded graph (config key "graph", may be absent for graph-free runs) must match. */
cw_status cw_model_inputs_check(const cw_model_inputs *mi, struct json_t *config,
                                const char *config_path);

/* rows of the extra inputs of the given cells: out (n, extra_dim); nothing when extra_dim = 0 */
void cw_model_gather_extra(const cw_model_inputs *mi, const int64_t *cells, int64_t n,
                           float *out);

#endif
