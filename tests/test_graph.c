/* test_graph.c: the biological context graph (spec grace_cmvae.md §3.1-3.6): parsers and their
 * error messages, node order, exact CSR per level, involved-only pathways, the corrupted graph,
 * the gene-union graph and its 1-hop subgraph, allocation failures; the real Reactome + PINNACLE
 * graph for the Norman genes when ../shared/data is present. */
#include "test_util.h"

#include "core/alloc.h"
#include "core/status.h"
#include "core/strings.h"
#include "core/timer.h"
#include "data/graph.h"
#include "io/h5ad.h"

#include <math.h>

#define OK(x) assert_int_equal((x), CW_OK)

static void write_file(const char *name, const char *text, char *path, size_t cap) {
    cwt_path(path, cap, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* Genes: A B C D E, a duplicate A (first occurrence wins), Z (in no file). */
static const char *k_genes[] = {"A", "B", "C", "D", "E", "A", "Z"};

static const char *k_gmt = "Path one\tR-HSA-1\tA\tB\tX\n"
                           "Path two\tR-HSA-2\tC\tA\n"
                           "Path none\tR-HSA-3\tX\tY\n"
                           "Path one again\tR-HSA-1\tD\n"
                           "\n"
                           "Path four\tR-HSA-4\tE\t\r\n";
static const char *k_rel = "R-HSA-1\tR-HSA-2\n"
                           "R-HSA-1\tR-HSA-3\n"
                           "R-HSA-3\tR-HSA-4\r\n"
                           "R-MMU-1\tR-HSA-2\n"
                           "R-HSA-1\tR-HSA-2\n";
static const char *k_ppi = "A B\nB A\nA B\nC\tD\nC C\nE X\nD E\nA  E\n\nB D"; /* no final newline */

typedef struct {
    cw_strings genes;
    cw_gmt gmt;
    cw_relations rel;
    cw_ppi ppi;
} fixture;

static void fixture_load(fixture *fx) {
    char p[512];
    OK(cw_strings_alloc(&fx->genes, 0));
    for (int i = 0; i < 7; i++) OK(cw_strings_push(&fx->genes, k_genes[i]));
    write_file("tiny.gmt", k_gmt, p, sizeof p);
    OK(cw_gmt_read(p, &fx->gmt));
    write_file("tiny_rel.txt", k_rel, p, sizeof p);
    OK(cw_relations_read(p, &fx->rel));
    write_file("tiny_ppi.txt", k_ppi, p, sizeof p);
    OK(cw_ppi_read(p, &fx->ppi));
}

static void fixture_free(fixture *fx) {
    cw_strings_free(&fx->genes);
    cw_gmt_free(&fx->gmt);
    cw_relations_free(&fx->rel);
    cw_ppi_free(&fx->ppi);
}

/* symmetric, strictly sorted rows, no self loops, in range */
static void check_adj(const cw_adj *a) {
    assert_int_equal(a->indptr[0], 0);
    assert_int_equal(a->indptr[a->n], a->nnz);
    assert_int_equal(a->nnz % 2, 0);
    for (int64_t i = 0; i < a->n; i++)
        for (int64_t q = a->indptr[i]; q < a->indptr[i + 1]; q++) {
            int64_t j = a->indices[q];
            assert_true(j >= 0 && j < a->n);
            assert_true(j != i);
            if (q > a->indptr[i]) assert_true(a->indices[q - 1] < j);
            assert_true(cw_adj_has_edge(a, j, i));
        }
}

static void check_rows(const cw_adj *a, const int64_t *indptr, const int32_t *indices) {
    check_adj(a);
    for (int64_t i = 0; i <= a->n; i++) assert_int_equal(a->indptr[i], indptr[i]);
    for (int64_t q = 0; q < a->nnz; q++) assert_int_equal(a->indices[q], indices[q]);
}

static void test_parsers(void **state) {
    (void)state;
    fixture fx;
    fixture_load(&fx);
    assert_int_equal(fx.gmt.n_pathways, 4);
    assert_int_equal(fx.gmt.n_lines, 5);
    assert_string_equal(fx.gmt.ids.s[0], "R-HSA-1");
    assert_string_equal(fx.gmt.names.s[0], "Path one");
    assert_string_equal(fx.gmt.ids.s[3], "R-HSA-4");
    assert_string_equal(fx.gmt.names.s[3], "Path four");
    assert_int_equal(fx.gmt.n_members, 9); /* A B X, C A, X Y, D, E */
    assert_int_equal(fx.gmt.member_pathway[7], 0); /* D joins R-HSA-1 */
    assert_string_equal(fx.gmt.symbols.s[fx.gmt.member_symbol[8]], "E"); /* CR stripped */
    assert_int_equal(fx.rel.n, 5);
    assert_string_equal(fx.rel.child.s[2], "R-HSA-4");
    assert_int_equal(fx.ppi.n_pairs, 8);
    assert_int_equal(fx.ppi.n_self_dropped, 1);
    assert_int_equal(fx.ppi.symbols.n, 6); /* A B C D E X */
    assert_string_equal(fx.ppi.symbols.s[fx.ppi.a[7]], "B");
    assert_string_equal(fx.ppi.symbols.s[fx.ppi.b[7]], "D");
    fixture_free(&fx);
}

static void test_full_graph_exact(void **state) {
    (void)state;
    fixture fx;
    fixture_load(&fx);
    cw_graph g;
    cw_graph_opts o = {CW_GRAPH_GG_PG_PP, 0, 0.0, 0};
    OK(cw_graph_build(&g, &fx.genes, &fx.gmt, &fx.rel, &fx.ppi, &o));
    assert_int_equal(g.n_genes, 7);
    assert_int_equal(g.n_pathways, 4);
    assert_int_equal(g.n_nodes, 11);
    for (int k = 0; k < 4; k++) assert_int_equal(g.pathway_index[k], k); /* R-HSA-1..4 */
    /* genes 0..6, R-HSA-1 = 7, R-HSA-2 = 8, R-HSA-3 = 9, R-HSA-4 = 10 */
    const int64_t indptr[] = {0, 4, 7, 9, 13, 16, 16, 16, 21, 24, 26, 28};
    const int32_t indices[] = {1, 4, 7, 8,    0, 3, 7,    3, 8,    1, 2, 4, 7,    0, 3, 10,
                               0, 1, 3, 8, 9, 0, 2, 7,    7, 10, 4, 9};
    check_rows(&g.adj, indptr, indices);
    const cw_graph_counts *c = &g.counts;
    assert_int_equal(c->gene_nodes, 7);
    assert_int_equal(c->pathway_nodes, 4);
    assert_int_equal(c->gg_edges, 5);
    assert_int_equal(c->pg_edges, 6);
    assert_int_equal(c->pp_edges, 3);
    assert_int_equal(c->edges, 14);
    assert_int_equal(c->genes_in_ppi, 5);
    assert_int_equal(c->genes_in_gmt, 5);
    assert_int_equal(c->genes_missing, 2); /* the duplicate A and Z */
    assert_int_equal(c->duplicate_genes, 1);
    assert_int_equal(c->pathways_in_file, 4);
    assert_int_equal(c->original_edges, 14);
    assert_int_equal(c->random_edges, 0);
    char buf[512];
    FILE *f = fmemopen(buf, sizeof buf, "w");
    assert_non_null(f);
    cw_graph_counts_print(c, f);
    fclose(f);
    assert_non_null(strstr(buf, "edges 14 (gg 5, pg 6, pp 3"));
    cw_graph_free(&g);
    fixture_free(&fx);
}

static void test_levels_and_involved(void **state) {
    (void)state;
    fixture fx;
    fixture_load(&fx);
    cw_graph g;
    cw_graph_opts o = {CW_GRAPH_GG, 0, 0.0, 0};
    OK(cw_graph_build(&g, &fx.genes, &fx.gmt, &fx.rel, &fx.ppi, &o));
    const int64_t gg_ptr[] = {0, 2, 4, 5, 8, 10, 10, 10};
    const int32_t gg_idx[] = {1, 4, 0, 3, 3, 1, 2, 4, 0, 3};
    check_rows(&g.adj, gg_ptr, gg_idx);
    assert_int_equal(g.n_pathways, 0);
    assert_int_equal(g.counts.gg_edges, 5);
    assert_int_equal(g.counts.pg_edges + g.counts.pp_edges, 0);
    assert_int_equal(g.counts.genes_in_gmt, 5); /* still counted when a GMT is given */
    cw_graph_free(&g);
    /* GG without any GMT */
    OK(cw_graph_build(&g, &fx.genes, NULL, NULL, &fx.ppi, &o));
    assert_int_equal(g.counts.edges, 5);
    assert_int_equal(g.counts.genes_in_gmt, 0);
    cw_graph_free(&g);

    o.levels = CW_GRAPH_GG_PG;
    OK(cw_graph_build(&g, &fx.genes, &fx.gmt, &fx.rel, &fx.ppi, &o));
    assert_int_equal(g.n_nodes, 11);
    assert_int_equal(g.counts.gg_edges, 5);
    assert_int_equal(g.counts.pg_edges, 6);
    assert_int_equal(g.counts.pp_edges, 0);
    check_adj(&g.adj);
    cw_graph_free(&g);

    /* involved only: R-HSA-3 (X, Y) has no dataset gene; R-HSA-4 becomes node 9 */
    o.levels = CW_GRAPH_GG_PG_PP;
    o.involved_only = 1;
    OK(cw_graph_build(&g, &fx.genes, &fx.gmt, &fx.rel, &fx.ppi, &o));
    assert_int_equal(g.n_pathways, 3);
    assert_int_equal(g.n_nodes, 10);
    assert_int_equal(g.pathway_index[0], 0);
    assert_int_equal(g.pathway_index[1], 1);
    assert_int_equal(g.pathway_index[2], 3);
    assert_int_equal(g.counts.pathways_in_file, 4);
    assert_int_equal(g.counts.pg_edges, 6);
    assert_int_equal(g.counts.pp_edges, 1); /* only R-HSA-1 - R-HSA-2 */
    assert_true(cw_adj_has_edge(&g.adj, 4, 9));
    assert_true(cw_adj_has_edge(&g.adj, 7, 8));
    assert_false(cw_adj_has_edge(&g.adj, 7, 9));
    check_adj(&g.adj);
    cw_graph_free(&g);

    /* bad options */
    o.corrupt_fraction = 1.5;
    assert_int_equal(cw_graph_build(&g, &fx.genes, &fx.gmt, &fx.rel, &fx.ppi, &o), CW_EINVAL);
    o.corrupt_fraction = 0;
    assert_int_equal(cw_graph_build(&g, &fx.genes, NULL, NULL, &fx.ppi, &o), CW_EINVAL);
    fixture_free(&fx);
}

static int64_t originals_in(const cw_adj *orig, const cw_adj *a) {
    int64_t n = 0;
    for (int64_t i = 0; i < a->n; i++)
        for (int64_t q = a->indptr[i]; q < a->indptr[i + 1]; q++)
            if (a->indices[q] > i && cw_adj_has_edge(orig, i, a->indices[q])) n++;
    return n;
}

static int same_adj(const cw_adj *a, const cw_adj *b) {
    if (a->n != b->n || a->nnz != b->nnz) return 0;
    return memcmp(a->indptr, b->indptr, (size_t)(a->n + 1) * sizeof(int64_t)) == 0 &&
           memcmp(a->indices, b->indices, (size_t)a->nnz * sizeof(int32_t)) == 0;
}

static void test_corrupted_tiny(void **state) {
    (void)state;
    fixture fx;
    fixture_load(&fx);
    cw_graph g0, g1, g2, g3;
    cw_graph_opts o = {CW_GRAPH_GG_PG_PP, 0, 0.0, 0};
    OK(cw_graph_build(&g0, &fx.genes, &fx.gmt, &fx.rel, &fx.ppi, &o));
    o.corrupt_fraction = 0.5;
    o.graph_seed = 1;
    OK(cw_graph_build(&g1, &fx.genes, &fx.gmt, &fx.rel, &fx.ppi, &o));
    OK(cw_graph_build(&g2, &fx.genes, &fx.gmt, &fx.rel, &fx.ppi, &o));
    check_adj(&g1.adj);
    assert_int_equal(g1.counts.edges, 14);
    assert_int_equal(g1.adj.nnz, 28);
    assert_int_equal(g1.counts.kept_edges, 7);
    assert_int_equal(g1.counts.random_edges, 7);
    assert_int_equal(originals_in(&g0.adj, &g1.adj), 7);
    assert_int_equal(g1.counts.gg_edges + g1.counts.pg_edges + g1.counts.pp_edges, 14);
    assert_true(same_adj(&g1.adj, &g2.adj));
    /* f = 1: nothing original survives */
    o.corrupt_fraction = 1.0;
    OK(cw_graph_build(&g3, &fx.genes, &fx.gmt, &fx.rel, &fx.ppi, &o));
    assert_int_equal(originals_in(&g0.adj, &g3.adj), 0);
    assert_int_equal(g3.counts.edges, 14);
    check_adj(&g3.adj);
    cw_graph_free(&g3);
    /* too dense to corrupt: 3 genes, complete graph, f = 1 */
    cw_strings few;
    OK(cw_strings_alloc(&few, 0));
    OK(cw_strings_push(&few, "A"));
    OK(cw_strings_push(&few, "B"));
    OK(cw_strings_push(&few, "E"));
    o.levels = CW_GRAPH_GG;
    assert_int_equal(cw_graph_build(&g3, &few, NULL, NULL, &fx.ppi, &o), CW_EINVAL);
    cw_strings_free(&few);
    cw_graph_free(&g0);
    cw_graph_free(&g1);
    cw_graph_free(&g2);
    fixture_free(&fx);
}

/* 300 genes, 1,500 random PPI lines (with repeats, reversals and self pairs). */
static void test_corrupted_random(void **state) {
    (void)state;
    char p[512];
    cwt_path(p, sizeof p, "rand_ppi.txt");
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    uint64_t x = 12345;
    for (int k = 0; k < 1500; k++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int a = (int)((x >> 33) % 300), b = (int)((x >> 13) % 300);
        fprintf(f, "G%d%s G%d\n", a, k % 3 ? "" : " ", b);
    }
    fclose(f);
    cw_ppi ppi;
    OK(cw_ppi_read(p, &ppi));
    cw_strings genes;
    OK(cw_strings_alloc(&genes, 300));
    for (int i = 0; i < 300; i++) {
        char s[16];
        snprintf(s, sizeof s, "G%d", i);
        OK(cw_strings_set(&genes, i, s));
    }
    cw_graph g0, g1, g2, g3;
    cw_graph_opts o = {CW_GRAPH_GG, 0, 0.0, 0};
    OK(cw_graph_build(&g0, &genes, NULL, NULL, &ppi, &o));
    int64_t e = g0.counts.edges;
    assert_true(e > 1300 && e < 1500);
    o.corrupt_fraction = 0.3;
    o.graph_seed = 7;
    OK(cw_graph_build(&g1, &genes, NULL, NULL, &ppi, &o));
    OK(cw_graph_build(&g2, &genes, NULL, NULL, &ppi, &o));
    o.graph_seed = 8;
    OK(cw_graph_build(&g3, &genes, NULL, NULL, &ppi, &o));
    int64_t keep = (int64_t)nearbyint(0.7 * (double)e);
    for (int k = 0; k < 3; k++) {
        const cw_graph *g = k == 0 ? &g1 : k == 1 ? &g2 : &g3;
        check_adj(&g->adj);
        assert_int_equal(g->counts.edges, e);
        assert_int_equal(g->counts.original_edges, e);
        assert_int_equal(g->counts.kept_edges, keep);
        assert_int_equal(originals_in(&g0.adj, &g->adj), keep);
    }
    assert_true(same_adj(&g1.adj, &g2.adj));
    assert_false(same_adj(&g1.adj, &g3.adj));
    cw_graph_free(&g0);
    cw_graph_free(&g1);
    cw_graph_free(&g2);
    cw_graph_free(&g3);
    cw_strings_free(&genes);
    cw_ppi_free(&ppi);
}

static void test_union_graph_and_1hop(void **state) {
    (void)state;
    fixture fx;
    fixture_load(&fx);
    cw_strings t;
    OK(cw_strings_alloc(&t, 0));
    const char *tv[] = {"E", "X", "Q", "X", "A"};
    for (int i = 0; i < 5; i++) OK(cw_strings_push(&t, tv[i]));
    cw_union_graph u;
    OK(cw_union_graph_build(&u, &fx.genes, &t, &fx.ppi));
    assert_int_equal(u.nodes.n, 9);
    assert_int_equal(u.n_genes, 7);
    assert_string_equal(u.nodes.s[7], "X");
    assert_string_equal(u.nodes.s[8], "Q");
    const int64_t ptb[] = {4, 7, 8, 7, 0};
    for (int j = 0; j < 5; j++) assert_int_equal(u.ptb_to_node[j], ptb[j]);
    /* A-B, A-E, B-D, C-D, D-E, E-X */
    const int64_t uptr[] = {0, 2, 4, 5, 8, 11, 11, 11, 12, 12};
    const int32_t uidx[] = {1, 4, 0, 3, 3, 1, 2, 4, 0, 3, 7, 4};
    check_rows(&u.adj, uptr, uidx);

    cw_subgraph s;
    OK(cw_subgraph_1hop(&s, &u.adj, u.ptb_to_node, u.n_targets));
    /* seeds {0, 4, 7, 8} + neighbours {1, 3} -> {0, 1, 3, 4, 7, 8}; C (2) is left out but the
     * neighbour-neighbour edge B-D is kept */
    assert_int_equal(s.n, 6);
    const int64_t glob[] = {0, 1, 3, 4, 7, 8};
    for (int i = 0; i < 6; i++) assert_int_equal(s.global[i], glob[i]);
    const int64_t sptr[] = {0, 2, 4, 6, 9, 10, 10};
    const int32_t sidx[] = {1, 3, 0, 2, 1, 3, 0, 2, 4, 3};
    check_rows(&s.adj, sptr, sidx);
    cw_subgraph_free(&s);
    int64_t bad = 9;
    assert_int_equal(cw_subgraph_1hop(&s, &u.adj, &bad, 1), CW_EINVAL);
    cw_union_graph_free(&u);
    cw_strings_free(&t);
    fixture_free(&fx);
}

static void expect_error(cw_status st, cw_status want, const char *file, const char *what) {
    assert_int_equal(st, want);
    const char *m = cw_errmsg();
    if (!strstr(m, file) || !strstr(m, what)) fail_msg("message '%s' lacks '%s' / '%s'", m, file, what);
}

static void test_malformed_lines(void **state) {
    (void)state;
    char p[512];
    cw_gmt gmt;
    cw_relations rel;
    cw_ppi ppi;
    write_file("bad1.gmt", "ok\tR-HSA-1\tA\n\nonly a name\n", p, sizeof p);
    expect_error(cw_gmt_read(p, &gmt), CW_EFORMAT, "bad1.gmt:3:",
                 "expected at least 2 tab-separated fields (name, stable id), found 1");
    write_file("bad2.gmt", "name\t\tA\n", p, sizeof p);
    expect_error(cw_gmt_read(p, &gmt), CW_EFORMAT, "bad2.gmt:1:", "expected a stable id");
    write_file("bad1_rel.txt", "R-HSA-1\tR-HSA-2\nR-HSA-1\tR-HSA-2\tR-HSA-3\n", p, sizeof p);
    expect_error(cw_relations_read(p, &rel), CW_EFORMAT, "bad1_rel.txt:2:",
                 "expected 2 tab-separated fields (parent id, child id), found 3");
    write_file("bad2_rel.txt", "\r\nR-HSA-1 R-HSA-2\n", p, sizeof p);
    expect_error(cw_relations_read(p, &rel), CW_EFORMAT, "bad2_rel.txt:2:", "found 1");
    write_file("bad3_rel.txt", "R-HSA-1\t\n", p, sizeof p);
    expect_error(cw_relations_read(p, &rel), CW_EFORMAT, "bad3_rel.txt:1:", "non-empty");
    write_file("bad1_ppi.txt", "A B\nA B C\n", p, sizeof p);
    expect_error(cw_ppi_read(p, &ppi), CW_EFORMAT, "bad1_ppi.txt:2:",
                 "expected 2 gene symbols separated by a space or tab, found 3 fields");
    write_file("bad2_ppi.txt", "A B\n\n\nA\n", p, sizeof p);
    expect_error(cw_ppi_read(p, &ppi), CW_EFORMAT, "bad2_ppi.txt:4:", "found 1 fields");
    write_file("bad3_ppi.txt", "A\tB\n  \n", p, sizeof p);
    expect_error(cw_ppi_read(p, &ppi), CW_EFORMAT, "bad3_ppi.txt:2:", "found 0 fields");
    cwt_path(p, sizeof p, "does_not_exist.txt");
    expect_error(cw_gmt_read(p, &gmt), CW_EIO, "does_not_exist.txt", "cannot open");
    expect_error(cw_relations_read(p, &rel), CW_EIO, "does_not_exist.txt", "cannot open");
    expect_error(cw_ppi_read(p, &ppi), CW_EIO, "does_not_exist.txt", "cannot open");
}

/* Every allocation on the read + build paths may fail: an error, never a leak (ASan) or crash. */
static void test_allocation_failures(void **state) {
    (void)state;
    fixture ref;
    fixture_load(&ref); /* writes the files */
    char pg[512], pr[512], pp[512];
    cwt_path(pg, sizeof pg, "tiny.gmt");
    cwt_path(pr, sizeof pr, "tiny_rel.txt");
    cwt_path(pp, sizeof pp, "tiny_ppi.txt");
    cw_strings t;
    OK(cw_strings_alloc(&t, 0));
    OK(cw_strings_push(&t, "E"));
    OK(cw_strings_push(&t, "Q"));
    int done = 0;
    for (int64_t budget = 0; !done && budget < 100000; budget++) {
        cw_gmt gmt;
        cw_relations rel;
        cw_ppi ppi;
        cw_graph g;
        cw_union_graph u;
        cw_subgraph s;
        int n_ok = 0;
        cw_alloc_fail_after(budget);
        cw_status st = cw_gmt_read(pg, &gmt);
        if (st == CW_OK) {
            n_ok++;
            st = cw_relations_read(pr, &rel);
            if (st == CW_OK) {
                n_ok++;
                st = cw_ppi_read(pp, &ppi);
                if (st == CW_OK) {
                    n_ok++;
                    cw_graph_opts o = {CW_GRAPH_GG_PG_PP, 1, 0.5, 3};
                    st = cw_graph_build(&g, &ref.genes, &gmt, &rel, &ppi, &o);
                    if (st == CW_OK) {
                        n_ok++;
                        cw_graph_free(&g);
                        st = cw_union_graph_build(&u, &ref.genes, &t, &ppi);
                        if (st == CW_OK) {
                            n_ok++;
                            st = cw_subgraph_1hop(&s, &u.adj, u.ptb_to_node, u.n_targets);
                            if (st == CW_OK) {
                                n_ok++;
                                cw_subgraph_free(&s);
                            }
                            cw_union_graph_free(&u);
                        }
                    }
                    cw_ppi_free(&ppi);
                }
                cw_relations_free(&rel);
            }
            cw_gmt_free(&gmt);
        }
        int64_t injected = cw_alloc_injected_failures();
        cw_alloc_fail_after(-1);
        if (st != CW_OK) {
            assert_int_equal(st, CW_ENOMEM);
            assert_true(injected > 0);
        } else {
            assert_int_equal(n_ok, 6);
            done = 1;
        }
    }
    assert_true(done);
    cw_strings_free(&t);
    fixture_free(&ref);
}

static void test_real_graph(void **state) {
    (void)state;
    char h5[512], gmtp[512], relp[512], ppip[512];
    if (!cwt_shared_data(h5, sizeof h5, "perturb/perturbench_devel/norman19_gracestyle.h5ad") ||
        !cwt_shared_data(gmtp, sizeof gmtp, "reactome/ReactomePathways.gmt") ||
        !cwt_shared_data(relp, sizeof relp, "reactome/ReactomePathwaysRelation.txt") ||
        !cwt_shared_data(ppip, sizeof ppip, "ppi/pinnacle_global_ppi_edgelist.txt")) {
        skip();
        return;
    }
    cw_h5ad *h;
    cw_column col;
    OK(cw_h5ad_open(h5, &h));
    OK(cw_h5ad_read_column(h, "var", "gene_symbols", &col));
    cw_h5ad_close(h);
    assert_int_equal(col.kind, CW_COL_STRING);
    assert_int_equal(col.n, 500);

    double t0 = cw_now();
    cw_gmt gmt;
    cw_relations rel;
    cw_ppi ppi;
    OK(cw_gmt_read(gmtp, &gmt));
    OK(cw_relations_read(relp, &rel));
    OK(cw_ppi_read(ppip, &ppi));
    double t1 = cw_now();
    cw_graph g;
    cw_graph_opts o = {CW_GRAPH_GG_PG_PP, 0, 0.0, 0};
    OK(cw_graph_build(&g, &col.values, &gmt, &rel, &ppi, &o));
    double t2 = cw_now();
    printf("real files: read %.3f s, build %.3f s; GMT %lld pathways, %lld relation lines, PPI "
           "%lld pairs (%lld self dropped) over %lld symbols\n",
           t1 - t0, t2 - t1, (long long)gmt.n_pathways, (long long)rel.n, (long long)ppi.n_pairs,
           (long long)ppi.n_self_dropped, (long long)ppi.symbols.n);
    printf("full:     ");
    cw_graph_counts_print(&g.counts, stdout);
    check_adj(&g.adj);
    assert_int_equal(g.counts.pathways_in_file, 2751);
    assert_int_equal(g.n_pathways, 2751);
    assert_int_equal(g.counts.genes_in_gmt, 272);
    assert_int_equal(g.counts.genes_in_ppi, 352);
    assert_int_equal(g.counts.gg_edges, 138);
    assert_int_equal(ppi.n_pairs + ppi.n_self_dropped, 207641);
    assert_int_equal(ppi.n_self_dropped, 3310);
    assert_int_equal(ppi.symbols.n, 15461);
    /* README: 2,763 human relation pairs with both ends in the GMT (none repeated). The PG count
     * was checked against an independent Python pass over the same files (2,951). */
    assert_int_equal(g.counts.pp_edges, 2763);
    assert_int_equal(g.counts.pg_edges, 2951);
    int64_t full_pp = g.counts.pp_edges, full_pg = g.counts.pg_edges;
    cw_graph_free(&g);

    o.involved_only = 1;
    OK(cw_graph_build(&g, &col.values, &gmt, &rel, &ppi, &o));
    printf("involved: ");
    cw_graph_counts_print(&g.counts, stdout);
    assert_int_equal(g.n_pathways, 899);
    assert_int_equal(g.counts.pg_edges, full_pg);
    assert_int_equal(g.counts.pp_edges, 898); /* independent Python pass: 898 */
    assert_true(g.counts.pp_edges <= full_pp);
    check_adj(&g.adj);
    cw_graph_free(&g);

    o.involved_only = 0;
    o.corrupt_fraction = 0.5;
    o.graph_seed = 1;
    double t3 = cw_now();
    OK(cw_graph_build(&g, &col.values, &gmt, &rel, &ppi, &o));
    printf("corrupt:  build %.3f s; ", cw_now() - t3);
    cw_graph_counts_print(&g.counts, stdout);
    assert_int_equal(g.counts.edges, g.counts.original_edges);
    check_adj(&g.adj);
    cw_graph_free(&g);

    cw_gmt_free(&gmt);
    cw_relations_free(&rel);
    cw_ppi_free(&ppi);
    cw_column_free(&col);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parsers),
        cmocka_unit_test(test_full_graph_exact),
        cmocka_unit_test(test_levels_and_involved),
        cmocka_unit_test(test_corrupted_tiny),
        cmocka_unit_test(test_corrupted_random),
        cmocka_unit_test(test_union_graph_and_1hop),
        cmocka_unit_test(test_malformed_lines),
        cmocka_unit_test(test_allocation_failures),
        cmocka_unit_test(test_real_graph),
    };
    int rc = cmocka_run_group_tests_name("graph", tests, NULL, NULL);
    cwt_rm_tmpdir();
    return rc;
}
