/* pathway_features.c: pathway membership, multi-hot features and the SENA mask
 * (pathway_features.h). */
#include "models/pathway_features.h"

#include "core/alloc.h"
#include "core/status.h"

#include <string.h>

void cw_pathway_members_free(cw_pathway_members *m) {
    cw_free(m->indptr);
    cw_free(m->genes);
    memset(m, 0, sizeof *m);
}

cw_status cw_pathway_members_from_graph(cw_pathway_members *out, const cw_graph *g) {
    memset(out, 0, sizeof *out);
    const int64_t G = g->n_genes, P = g->n_pathways;
    out->n_pathways = P;
    out->indptr = cw_calloc((size_t)P + 1, sizeof(int64_t));
    if (!out->indptr) return cw_fail(CW_ENOMEM, "out of memory for pathway membership");
    /* row G + p of the symmetric adjacency lists its genes first (columns sorted, genes < G) */
    for (int64_t p = 0; p < P; p++) {
        int64_t cnt = 0;
        for (int64_t e = g->adj.indptr[G + p]; e < g->adj.indptr[G + p + 1]; e++)
            cnt += g->adj.indices[e] < G;
        out->indptr[p + 1] = out->indptr[p] + cnt;
    }
    out->genes = cw_malloc_array((size_t)(out->indptr[P] ? out->indptr[P] : 1), sizeof(int32_t));
    if (!out->genes) {
        cw_pathway_members_free(out);
        return cw_fail(CW_ENOMEM, "out of memory for pathway membership");
    }
    for (int64_t p = 0; p < P; p++) {
        int64_t o = out->indptr[p];
        for (int64_t e = g->adj.indptr[G + p]; e < g->adj.indptr[G + p + 1]; e++)
            if (g->adj.indices[e] < G) out->genes[o++] = g->adj.indices[e];
    }
    return CW_OK;
}

void cw_multihot_fill(real *out, int64_t ldo, const real *x, int64_t ldx, int64_t n,
                      const cw_pathway_members *m) {
    for (int64_t b = 0; b < n; b++) {
        const real *xb = x + b * ldx;
        real *ob = out + b * ldo;
        for (int64_t p = 0; p < m->n_pathways; p++) {
            real on = 0;
            for (int64_t e = m->indptr[p]; e < m->indptr[p + 1]; e++)
                if (xb[m->genes[e]] > 0) {
                    on = 1;
                    break;
                }
            ob[p] = on;
        }
    }
}

int64_t cw_sena_kept_pathways(const cw_pathway_members *m, int64_t min_genes) {
    int64_t kept = 0;
    for (int64_t p = 0; p < m->n_pathways; p++)
        kept += m->indptr[p + 1] - m->indptr[p] >= min_genes;
    return kept;
}

void cw_sena_mask_fill(real *mask, int64_t rows, int64_t cols, const cw_pathway_members *m,
                       int64_t min_genes, int64_t free_units, double lambda) {
    int64_t r = 0;
    for (int64_t p = 0; p < m->n_pathways && r < rows; p++) {
        if (m->indptr[p + 1] - m->indptr[p] < min_genes) continue;
        real *row = mask + r * cols;
        for (int64_t c = 0; c < cols; c++) row[c] = (real)lambda;
        for (int64_t e = m->indptr[p]; e < m->indptr[p + 1]; e++) row[m->genes[e]] = 1;
        r++;
    }
    for (int64_t f = 0; f < free_units && r < rows; f++, r++)
        for (int64_t c = 0; c < cols; c++) mask[r * cols + c] = 1;
}
