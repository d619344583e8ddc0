/* graph_h5ad.c: the context graph of an .h5ad dataset from graph files (see the header). */
#include "data/graph_h5ad.h"

#include "core/status.h"

#include <string.h>

/* The dataset's gene symbols: var column `col` (NULL: gene_symbols if present, else the var
 * index). *out points into *c or *genes, which the caller frees. */
static cw_status gene_symbols(cw_h5ad *h, const char *col, cw_column *c, cw_strings *genes,
                              const cw_strings **out) {
    memset(c, 0, sizeof *c);
    if (!col && cw_h5ad_has_column(h, "var", "gene_symbols")) col = "gene_symbols";
    if (!col) {
        *out = genes;
        return cw_h5ad_read_index(h, "var", genes);
    }
    *out = &c->values;
    CW_TRY(cw_h5ad_read_column(h, "var", col, c));
    if (c->kind != CW_COL_STRING)
        return cw_fail(CW_EFORMAT, "%s: /var/%s: expected gene symbols (strings), found numbers",
                       cw_h5ad_path(h), col);
    return CW_OK;
}

cw_status cw_graph_from_files(cw_graph *out, cw_h5ad *h, const cw_graph_files *f,
                              const char **levels_used) {
    memset(out, 0, sizeof *out);
    const char *lv = f->levels;
    if (!lv) lv = f->gmt ? (f->relations ? "gg+pg+pp" : "gg+pg") : "gg";
    cw_graph_opts o;
    memset(&o, 0, sizeof o);
    o.levels = !strcmp(lv, "gg") ? CW_GRAPH_GG : !strcmp(lv, "gg+pg") ? CW_GRAPH_GG_PG
                                                                       : CW_GRAPH_GG_PG_PP;
    o.involved_only = f->involved_only;
    o.corrupt_fraction = f->corrupt_fraction;
    o.graph_seed = f->seed;
    if (o.levels != CW_GRAPH_GG && !f->gmt)
        return cw_fail(CW_EINVAL, "--graph-levels %s needs --graph-gmt (pathway nodes)", lv);
    if (o.levels == CW_GRAPH_GG_PG_PP && !f->relations)
        return cw_fail(CW_EINVAL, "--graph-levels %s needs --graph-relations", lv);
    if (o.levels == CW_GRAPH_GG && !f->ppi)
        return cw_fail(CW_EINVAL, "--graph-levels gg needs --graph-ppi (gene-gene edges)");
    cw_column c;
    cw_strings genes = {0, NULL};
    const cw_strings *g = NULL;
    cw_status st = gene_symbols(h, f->gene_column, &c, &genes, &g);
    cw_gmt gmt;
    cw_relations rel;
    cw_ppi ppi;
    memset(&gmt, 0, sizeof gmt);
    memset(&rel, 0, sizeof rel);
    memset(&ppi, 0, sizeof ppi);
    if (st == CW_OK && f->gmt && o.levels != CW_GRAPH_GG) st = cw_gmt_read(f->gmt, &gmt);
    if (st == CW_OK && f->relations && o.levels == CW_GRAPH_GG_PG_PP)
        st = cw_relations_read(f->relations, &rel);
    if (st == CW_OK && f->ppi) st = cw_ppi_read(f->ppi, &ppi);
    if (st == CW_OK)
        st = cw_graph_build(out, g, f->gmt && o.levels != CW_GRAPH_GG ? &gmt : NULL,
                            f->relations && o.levels == CW_GRAPH_GG_PG_PP ? &rel : NULL,
                            f->ppi ? &ppi : NULL, &o);
    if (st == CW_OK && levels_used) *levels_used = lv;
    cw_gmt_free(&gmt);
    cw_relations_free(&rel);
    cw_ppi_free(&ppi);
    cw_column_free(&c);
    cw_strings_free(&genes);
    return st;
}

cw_status cw_union_graph_from_files(cw_union_graph *out, cw_h5ad *h, const cw_graph_files *f,
                                    const cw_strings *targets) {
    memset(out, 0, sizeof *out);
    if (!f->ppi) return cw_fail(CW_EINVAL, "the gene-union graph needs --graph-ppi");
    cw_column c;
    cw_strings genes = {0, NULL};
    const cw_strings *g = NULL;
    cw_ppi ppi;
    memset(&ppi, 0, sizeof ppi);
    cw_status st = gene_symbols(h, f->gene_column, &c, &genes, &g);
    if (st == CW_OK) st = cw_ppi_read(f->ppi, &ppi);
    if (st == CW_OK) st = cw_union_graph_build(out, g, targets, &ppi);
    cw_ppi_free(&ppi);
    cw_column_free(&c);
    cw_strings_free(&genes);
    return st;
}
