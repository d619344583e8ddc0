/* cmd_info.c: `causeway info F.h5ad [--json]`: reads an .h5ad as a perturbation dataset and
 * summarises it (issue #2 item 6): cells, genes, X encoding, controls, targets, single and
 * combination perturbations and their cells, cells per perturbation, the DEG table. Along the
 * way it validates what a training run would reject (non-finite X, duplicated gene names,
 * unknown control labels, zero-cell perturbations), so `info` is also the check of a file.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/status.h"
#include "core/strings.h"
#include "data/graph_h5ad.h"
#include "data/perturb.h"
#include "io/h5ad.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void info_help(void) {
    printf("usage: causeway info FILE.h5ad [options]\n\n"
           "Summarises FILE.h5ad as a perturbation dataset and checks it: X finite, gene names\n"
           "unique, control labels present, no perturbation without cells.\n\n"
           "  --json                   one JSON object on stdout instead of the table\n"
           CLI_PERTURB_HELP CLI_GRAPH_HELP
           "  --no-check-x             skip the scan of X for NaN/Inf (faster on large files)\n");
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Everything info reports, gathered before anything is printed. */
typedef struct {
    int64_t n_cells, n_genes, nnz;
    int sparse;
    const char *key;
    int64_t single_cells, combo_cells, n_combos;
    int64_t cpp_min, cpp_max;
    double cpp_median;
    int has_deg;
    int64_t deg_groups, deg_genes;
    int has_graph;
    const char *graph_levels;
    cw_graph_counts graph;
} info_summary;

static void print_table(const char *path, const info_summary *s, const cw_perturb_design *d) {
    printf("file:               %s\n", path);
    printf("cells x genes:      %lld x %lld\n", (long long)s->n_cells, (long long)s->n_genes);
    printf("X:                  %s, %lld stored entries (%.1f%% of cells x genes)\n",
           s->sparse ? "CSR" : "dense", (long long)s->nnz,
           100.0 * (double)s->nnz / ((double)s->n_cells * (double)s->n_genes + 1e-300));
    printf("perturbation key:   obs/%s\n", s->key);
    printf("controls:           %lld cells\n", (long long)d->n_controls);
    printf("targets:            %lld\n", (long long)d->n_targets);
    printf("single perturb.:    %lld (%lld cells)\n", (long long)d->n_singles,
           (long long)s->single_cells);
    printf("combinations:       %lld (%lld cells)\n", (long long)s->n_combos,
           (long long)s->combo_cells);
    if (d->n_perts > 0)
        printf("cells/perturbation: min %lld, median %g, max %lld\n", (long long)s->cpp_min,
               s->cpp_median, (long long)s->cpp_max);
    if (s->has_deg)
        printf("DEG table:          uns/rank_genes_groups, %lld groups x %lld genes\n",
               (long long)s->deg_groups, (long long)s->deg_genes);
    else
        printf("DEG table:          absent (evaluation computes DEGs with a Welch t-test)\n");
    if (s->has_graph) {
        printf("context graph (%s): ", s->graph_levels);
        cw_graph_counts_print(&s->graph, stdout);
    }
}

static void print_json(const info_summary *s, const cw_perturb_design *d) {
    json_t *o = json_object();
    json_object_set_new(o, "n_cells", json_integer(s->n_cells));
    json_object_set_new(o, "n_genes", json_integer(s->n_genes));
    json_object_set_new(o, "x_sparse", json_boolean(s->sparse));
    json_object_set_new(o, "x_nnz", json_integer(s->nnz));
    json_object_set_new(o, "perturbation_key", json_string(s->key));
    json_object_set_new(o, "n_controls", json_integer(d->n_controls));
    json_object_set_new(o, "n_targets", json_integer(d->n_targets));
    json_object_set_new(o, "n_single_perturbations", json_integer(d->n_singles));
    json_object_set_new(o, "n_combination_perturbations", json_integer(s->n_combos));
    json_object_set_new(o, "n_single_cells", json_integer(s->single_cells));
    json_object_set_new(o, "n_combination_cells", json_integer(s->combo_cells));
    json_t *cpp = json_object();
    json_object_set_new(cpp, "min", json_integer(d->n_perts ? s->cpp_min : 0));
    json_object_set_new(cpp, "median", json_real(d->n_perts ? s->cpp_median : 0.0));
    json_object_set_new(cpp, "max", json_integer(d->n_perts ? s->cpp_max : 0));
    json_object_set_new(o, "cells_per_perturbation", cpp);
    json_object_set_new(o, "has_deg_table", json_boolean(s->has_deg));
    if (s->has_deg) {
        json_object_set_new(o, "deg_groups", json_integer(s->deg_groups));
        json_object_set_new(o, "deg_genes_per_group", json_integer(s->deg_genes));
    }
    if (s->has_graph) {
        const cw_graph_counts *g = &s->graph;
        json_object_set_new(
            o, "graph",
            json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "levels",
                      s->graph_levels, "nodes", (json_int_t)(g->gene_nodes + g->pathway_nodes),
                      "gene_nodes", (json_int_t)g->gene_nodes, "pathway_nodes",
                      (json_int_t)g->pathway_nodes, "edges", (json_int_t)g->edges, "gg_edges",
                      (json_int_t)g->gg_edges, "pg_edges", (json_int_t)g->pg_edges, "pp_edges",
                      (json_int_t)g->pp_edges, "genes_in_ppi", (json_int_t)g->genes_in_ppi,
                      "genes_in_gmt", (json_int_t)g->genes_in_gmt, "genes_unmatched",
                      (json_int_t)g->genes_missing, "original_edges",
                      (json_int_t)g->original_edges, "random_edges",
                      (json_int_t)g->random_edges));
    }
    json_t *t = json_array();
    for (int64_t i = 0; i < d->n_targets; i++) json_array_append_new(t, json_string(d->targets.s[i]));
    json_object_set_new(o, "targets", t);
    json_t *cl = json_array();
    for (int64_t i = 0; i < d->control_labels.n; i++)
        json_array_append_new(cl, json_string(d->control_labels.s[i]));
    json_object_set_new(o, "control_labels", cl);
    char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    printf("%s\n", txt);
    free(txt);
    json_decref(o);
}

int cmd_info(int argc, char **argv) {
    const char *cmd = "info";
    int as_json = 0, check_x = 1;
    cli_perturb_args pa = {NULL, NULL, {0, NULL}};
    cli_graph_args ga;
    memset(&ga, 0, sizeof ga);
    enum { O_JSON = 256, O_NOCHECK };
    static const struct option opts[] = {{"json", no_argument, 0, O_JSON},
                                         CLI_PERTURB_LONG_OPTIONS,
                                         CLI_GRAPH_LONG_OPTIONS,
                                         {"no-check-x", no_argument, 0, O_NOCHECK},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c, rc = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int r = cli_perturb_option(c, optarg, &pa);
        if (r < 0) {
            cw_strings_free(&pa.controls);
            return cli_fail(cmd, CW_ENOMEM);
        }
        if (r) continue;
        r = cli_graph_option(cmd, c, optarg, &ga);
        if (r < 0) {
            cw_strings_free(&pa.controls);
            return CLI_EXIT_USAGE;
        }
        if (r) continue;
        switch (c) {
        case 'h': info_help(); cw_strings_free(&pa.controls); return 0;
        case O_JSON: as_json = 1; break;
        case O_NOCHECK: check_x = 0; break;
        default: cw_strings_free(&pa.controls); return CLI_EXIT_USAGE;
        }
    }
    if (optind != argc - 1) {
        cw_strings_free(&pa.controls);
        return cli_error(cmd, "expected one FILE.h5ad (see --help)");
    }
    const char *path = argv[optind];

    cw_h5ad *h = NULL;
    cw_strings var_names = {0, NULL};
    cw_perturb_design d;
    memset(&d, 0, sizeof d);
    int64_t *counts = NULL;
    info_summary s;
    memset(&s, 0, sizeof s);
    cw_status st = cw_h5ad_open(path, &h);
    if (st) goto done;
    s.n_cells = cw_h5ad_n_obs(h);
    s.n_genes = cw_h5ad_n_vars(h);
    s.nnz = cw_h5ad_x_nnz(h);
    s.sparse = cw_h5ad_x_is_sparse(h);

    /* gene names must be unique: every model indexes genes by name */
    if ((st = cw_h5ad_read_index(h, "var", &var_names))) goto done;
    int64_t dup = cw_strings_first_duplicate(&var_names);
    if (dup >= 0) {
        st = cw_fail(CW_EFORMAT,
                     "%s: /var/_index: gene name '%s' appears more than once (first again at "
                     "position %lld); expected unique names (anndata: adata.var_names_make_unique())",
                     path, var_names.s[dup], (long long)dup);
        goto done;
    }
    if (check_x && (st = cw_h5ad_check_x_finite(h))) goto done;

    if ((st = cli_perturb_design(h, &pa, &d))) goto done;
    s.key = d.key;

    counts = cw_malloc_array((size_t)(d.n_perts > 0 ? d.n_perts : 1), sizeof(int64_t));
    if (!counts) {
        st = cw_fail(CW_ENOMEM, "out of memory");
        goto done;
    }
    for (int64_t p = 0; p < d.n_perts; p++) {
        counts[p] = cw_perturb_n_cells(&d, p);
        if (p < d.n_singles) s.single_cells += counts[p];
        else s.combo_cells += counts[p];
    }
    s.n_combos = d.n_perts - d.n_singles;
    if (d.n_perts > 0) {
        qsort(counts, (size_t)d.n_perts, sizeof *counts, cmp_i64);
        s.cpp_min = counts[0];
        s.cpp_max = counts[d.n_perts - 1];
        s.cpp_median = d.n_perts % 2 ? (double)counts[d.n_perts / 2]
                                     : 0.5 * (double)(counts[d.n_perts / 2 - 1] + counts[d.n_perts / 2]);
    }
    s.has_deg = cw_h5ad_exists(h, "/uns/rank_genes_groups/names");
    if (s.has_deg) {
        cw_deg_table t;
        memset(&t, 0, sizeof t);
        if ((st = cw_h5ad_read_deg_table(h, &t))) goto done;
        s.deg_groups = t.n_groups;
        s.deg_genes = t.n_genes;
        cw_deg_table_free(&t);
    }
    if (cli_graph_wanted(&ga)) {
        cw_graph_files gf = {ga.gmt, ga.relations, ga.ppi, ga.gene_column, ga.levels,
                             ga.involved_only, ga.corrupt, ga.seed};
        cw_graph g;
        if ((st = cw_graph_from_files(&g, h, &gf, &s.graph_levels))) goto done;
        s.graph = g.counts;
        s.has_graph = 1;
        cw_graph_free(&g);
    }
    if (as_json) print_json(&s, &d);
    else print_table(path, &s, &d);

done:
    if (st) rc = cli_fail(cmd, st);
    cw_free(counts);
    cw_perturb_design_free(&d);
    cw_strings_free(&var_names);
    cw_strings_free(&pa.controls);
    if (h) cw_h5ad_close(h);
    return rc;
}
