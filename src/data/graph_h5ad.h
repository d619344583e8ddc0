/* graph_h5ad.h: the context graph of a dataset: reads the graph files, takes the gene symbols
 * from a var column of the .h5ad (default gene_symbols, else the var index) and builds the graph
 * (data/graph.h; spec grace_cmvae.md §3). Kept apart from graph.h so the graph code does not
 * depend on the h5ad layer.
 */
#ifndef CW_GRAPH_H5AD_H
#define CW_GRAPH_H5AD_H

#include "causeway.h"
#include "data/graph.h"
#include "io/h5ad.h"

typedef struct {
    const char *gmt, *relations, *ppi; /* paths; NULL = not given */
    const char *gene_column;           /* NULL = gene_symbols if present, else the var index */
    const char *levels;                /* "gg", "gg+pg", "gg+pg+pp"; NULL = what the files allow */
    int involved_only;
    double corrupt_fraction;
    uint64_t seed;
} cw_graph_files;

/* Builds the graph; *levels_used (may be NULL) receives the levels in effect. Errors name the
 * file and line (parsers), the missing file a level needs, or the gene column. */
cw_status cw_graph_from_files(cw_graph *out, cw_h5ad *h, const cw_graph_files *f,
                              const char **levels_used);

/* The gene-union graph (§3.6) of the dataset's genes (same gene column rule) and the design's
 * targets over the PPI file. */
cw_status cw_union_graph_from_files(cw_union_graph *out, cw_h5ad *h, const cw_graph_files *f,
                                    const cw_strings *targets);

#endif
