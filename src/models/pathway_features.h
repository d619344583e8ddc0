/* pathway_features.h: what CMVAE-multihot and SENA take from pathway membership (spec
 * grace_cmvae.md §3.7, §4.4; doc/models.md "SENA"; issue #4 items 4 and 5).
 *
 * Membership comes from the context graph's gene-pathway edges (data/graph.h): pathway p (node
 * G + p) contains gene g when the edge (g, G + p) exists. So a corrupted graph corrupts the
 * membership too, and the graph options (--graph-involved-only, levels) decide the pathway set.
 *
 * multi-hot (§3.7, with the reference's misalignment fixed, §8.3 item 2): for each cell row,
 *   m[p] = 1 if some member gene g of pathway p has x[g] > 0, else 0,
 * computed from the row's OWN paired control cell every time it is used (the reference
 * precomputes one tensor per batch position and reuses it after reshuffling, so features and
 * cells no longer match).
 *
 * SENA mask: rows are the encoder's first-layer units, columns its inputs. The first P' rows are
 * the pathways with at least min_genes member genes (SENA's num_gene_th), in pathway order; row
 * p has 1 at member genes and `lambda` elsewhere (SENA's lambda_parameter: 0 = strictly masked);
 * the last `free` rows are unmasked units (all 1). Columns past the G genes (extra inputs) count
 * as non-members for pathway rows.
 */
#ifndef CW_MODELS_PATHWAY_FEATURES_H
#define CW_MODELS_PATHWAY_FEATURES_H

#include "causeway.h"
#include "data/graph.h"
#include "nn/real.h"

#include <stdint.h>

typedef struct {
    int64_t n_pathways;  /* P: the graph's pathway nodes */
    int64_t *indptr;     /* P + 1 */
    int32_t *genes;      /* member genes of pathway p: genes[indptr[p] .. indptr[p+1]) ascending */
} cw_pathway_members;

cw_status cw_pathway_members_from_graph(cw_pathway_members *out, const cw_graph *g);
void cw_pathway_members_free(cw_pathway_members *m);

/* multi-hot: x (n, ldx) gene values -> out (n, ldo) columns 0..P-1 in {0, 1} */
void cw_multihot_fill(real *out, int64_t ldo, const real *x, int64_t ldx, int64_t n,
                      const cw_pathway_members *m);

/* Pathways with >= min_genes members (SENA's kept set): their count. */
int64_t cw_sena_kept_pathways(const cw_pathway_members *m, int64_t min_genes);
/* mask (rows, cols) with rows = kept + free_units, cols >= G (G = the genes: the first columns) */
void cw_sena_mask_fill(real *mask, int64_t rows, int64_t cols, const cw_pathway_members *m,
                       int64_t min_genes, int64_t free_units, double lambda);

#endif
