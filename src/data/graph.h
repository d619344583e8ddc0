/* graph.h: the biological context graph (spec grace_cmvae.md §3.1-3.6).
 *
 * Files (§3.1): Reactome GMT (tab-separated: display name, stable id, gene symbols...), pathway
 * relations (tab-separated: parent stable id, child stable id), PPI edge list (two gene symbols a
 * line, space- or tab-separated; self pairs dropped). Empty lines and CR/LF endings are accepted;
 * a malformed line is CW_EFORMAT "<path>:<line>: expected ..., found ..."; a missing file CW_EIO.
 *
 * Nodes (§3.2): genes 0..G-1 in dataset order, then pathways G..G+P-1 in order of first
 * appearance of their stable id in the GMT (a repeated id joins the earlier node). Dataset genes
 * are matched to file symbols by exact string; if a symbol occurs twice in the dataset, the FIRST
 * occurrence is the one matched (the later one gets no edges); NULL (missing) symbols never match.
 *
 * Edges (§3.3): a symmetric adjacency without self loops or duplicates, in CSR form (int64
 * indptr, int32 indices sorted within each row), built by sorting and deduplicating a list of
 * undirected pairs (never a dense N x N matrix). Edge counts are undirected (nnz = 2 * edges).
 *
 * Corrupted graph (§3.5): of the |Eu| unique undirected pairs keep round((1-f)|Eu|) chosen at
 * random, then add uniform random pairs a != b (any node types) absent from both the kept set and
 * the ORIGINAL graph until there are |Eu| again, so the result holds exactly round((1-f)|Eu|)
 * original edges. (The reference only avoids already chosen pairs, so a random draw may restore a
 * dropped original; on norman that is ~0.1% of draws. Random pairs span all N nodes, the
 * reference uses max index + 1.) Draws come from cw_rng_substream(graph_seed, CW_RNG_STREAM_GRAPH).
 *
 * Gene-union graph (§3.6): dataset genes followed by every target symbol not among them (in target
 * order, once each), PPI edges only; ptb_to_node maps each target to its node. Its 1-hop induced
 * subgraph around the targets is relabelled 0..n-1 by sorted global id.
 */
#ifndef CW_GRAPH_H
#define CW_GRAPH_H

#include "causeway.h"
#include "core/strings.h"

#include <stdint.h>
#include <stdio.h>

#define CW_RNG_STREAM_GRAPH 0x4752415048ull /* "GRAPH" */

/* ---- parsed files ----------------------------------------------------------------------- */

typedef struct {
    int64_t n_pathways;     /* unique stable ids */
    cw_strings names;       /* n_pathways display names (of the first line with that id) */
    cw_strings ids;         /* n_pathways stable ids, first-appearance order */
    cw_strings symbols;     /* unique gene symbols over all lines, first-appearance order */
    int64_t n_members;      /* membership entries (a repeated gene in a pathway is kept here) */
    int32_t *member_pathway; /* n_members: index into ids */
    int32_t *member_symbol;  /* n_members: index into symbols */
    int64_t n_lines;        /* non-empty lines read */
} cw_gmt;

typedef struct {
    int64_t n;          /* pairs in the file (all species) */
    cw_strings parent;  /* n */
    cw_strings child;   /* n */
} cw_relations;

typedef struct {
    cw_strings symbols;     /* unique symbols of all lines (self pairs too), first appearance */
    int64_t n_pairs;        /* pairs kept (self pairs dropped; duplicates kept) */
    int32_t *a, *b;         /* n_pairs: indices into symbols */
    int64_t n_self_dropped; /* lines whose two symbols were equal */
} cw_ppi;

cw_status cw_gmt_read(const char *path, cw_gmt *out);
void cw_gmt_free(cw_gmt *g);
cw_status cw_relations_read(const char *path, cw_relations *out);
void cw_relations_free(cw_relations *r);
cw_status cw_ppi_read(const char *path, cw_ppi *out);
void cw_ppi_free(cw_ppi *p);

/* ---- adjacency ---------------------------------------------------------------------------- */

typedef struct {
    int64_t n;        /* nodes */
    int64_t nnz;      /* directed entries = 2 * undirected edges */
    int64_t *indptr;  /* n + 1 */
    int32_t *indices; /* nnz, strictly increasing within a row, no self loops */
} cw_adj;

void cw_adj_free(cw_adj *a);
/* 1 if j is a neighbour of i (binary search in row i). */
int cw_adj_has_edge(const cw_adj *a, int64_t i, int64_t j);

/* ---- the context graph --------------------------------------------------------------------- */

typedef enum {
    CW_GRAPH_GG = 1,       /* PPI only, no pathway nodes (mode 3) */
    CW_GRAPH_GG_PG = 2,    /* + pathway nodes and gene-pathway membership (mode 4) */
    CW_GRAPH_GG_PG_PP = 3  /* + pathway-pathway relations (modes 5, 6, 11, 13, 15) */
} cw_graph_levels;

typedef struct {
    cw_graph_levels levels;
    int involved_only;       /* keep only pathways containing >= 1 dataset gene */
    double corrupt_fraction; /* 0 = the true graph; f in (0, 1]: §3.5 */
    uint64_t graph_seed;     /* seeds the corruption */
} cw_graph_opts;

typedef struct {
    int64_t gene_nodes, pathway_nodes;      /* nodes by type */
    int64_t gg_edges, pg_edges, pp_edges;   /* undirected edges by type (of the final graph) */
    int64_t edges;                          /* gg + pg + pp */
    int64_t genes_in_ppi, genes_in_gmt;     /* dataset genes whose symbol is in the file */
    int64_t genes_missing;                  /* dataset genes in neither file (incl. duplicates) */
    int64_t duplicate_genes;                /* dataset positions repeating an earlier symbol */
    int64_t pathways_in_file;               /* unique stable ids in the GMT (0 without a GMT) */
    int64_t original_edges;                 /* |Eu| before corruption */
    int64_t kept_edges, random_edges;       /* corruption: originals kept, random pairs added */
} cw_graph_counts;

typedef struct {
    int64_t n_genes, n_pathways, n_nodes;
    int32_t *pathway_index; /* n_pathways: node G+k is GMT pathway pathway_index[k] */
    cw_adj adj;
    cw_graph_counts counts;
} cw_graph;

/* genes: the dataset's G symbols (e.g. var/gene_symbols). gmt and rel may be NULL when the
 * levels do not need them (rel is only read for CW_GRAPH_GG_PG_PP); ppi may be NULL (no GG). */
cw_status cw_graph_build(cw_graph *out, const cw_strings *genes, const cw_gmt *gmt,
                         const cw_relations *rel, const cw_ppi *ppi, const cw_graph_opts *opts);
void cw_graph_free(cw_graph *g);
/* One line: "nodes 7694 (5000 genes, 2694 pathways), edges 31690 (gg 6191, pg 22786, pp 2713) ..." */
void cw_graph_counts_print(const cw_graph_counts *c, FILE *f);

/* ---- gene-union graph (§3.6) ---------------------------------------------------------------- */

typedef struct {
    cw_strings nodes;     /* dataset genes then targets not among them */
    int64_t n_genes;      /* G: the first G nodes are the dataset genes */
    int64_t n_targets;
    int64_t *ptb_to_node; /* n_targets */
    cw_adj adj;           /* PPI edges among nodes */
} cw_union_graph;

cw_status cw_union_graph_build(cw_union_graph *out, const cw_strings *genes,
                               const cw_strings *targets, const cw_ppi *ppi);
void cw_union_graph_free(cw_union_graph *u);

typedef struct {
    int64_t n;
    int64_t *global; /* n: sorted global node ids; local node i = global[i] */
    cw_adj adj;      /* induced subgraph in local ids */
} cw_subgraph;

/* Induced subgraph on the seeds and all their neighbours in g, relabelled by sorted global id. */
cw_status cw_subgraph_1hop(cw_subgraph *out, const cw_adj *g, const int64_t *seeds,
                           int64_t n_seeds);
void cw_subgraph_free(cw_subgraph *s);

#endif
