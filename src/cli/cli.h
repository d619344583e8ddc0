/* cli.h: shared pieces of the causeway subcommands: the command table, error printing with
 * the exit-code convention (0 ok, 1 runtime failure, 2 bad input or usage), strict number
 * parsing for flags.
 */
#ifndef CW_CLI_H
#define CW_CLI_H

#include "causeway.h"
#include "core/strings.h"
#include "data/perturb.h"
#include "io/h5ad.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

int cmd_simulate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_predict(int argc, char **argv);

/* Prints "causeway <cmd>: error: <message>" to stderr; returns CLI_EXIT_USAGE. */
int cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prints the library's message for st (cw_errmsg) and returns the exit code for st: bad input
 * (format, not found, invalid, unreadable input) -> 2, out of memory -> 1. */
int cli_fail(const char *cmd, cw_status st);

/* Strict parsers: the whole string must be a number in [lo, hi]; on failure print an error
 * naming the flag and return nonzero. */
/* A memory size ("4G", "512M", bytes; io/xstore.h cw_parse_bytes) into *out; 1 on error. */
int cli_parse_size(const char *cmd, const char *flag, const char *s, int64_t *out);
int cli_parse_i64(const char *cmd, const char *flag, const char *s, int64_t lo, int64_t hi,
                  int64_t *out);
int cli_parse_f64(const char *cmd, const char *flag, const char *s, double lo, double hi,
                  double *out);
int cli_parse_u64(const char *cmd, const char *flag, const char *s, uint64_t *out);

/* The perturbation-reading flags shared by every command that reads a dataset:
 * --perturbation-key KEY, --control LABEL (repeatable), --separator CHARS. */
typedef struct {
    const char *key;
    const char *separators;
    cw_strings controls;
} cli_perturb_args;
#define CLI_PERTURB_OPT_KEY 1001
#define CLI_PERTURB_OPT_CONTROL 1002
#define CLI_PERTURB_OPT_SEPARATOR 1003
#define CLI_PERTURB_LONG_OPTIONS                                                                   \
    {"perturbation-key", required_argument, 0, CLI_PERTURB_OPT_KEY},                               \
        {"control", required_argument, 0, CLI_PERTURB_OPT_CONTROL},                                \
        {"separator", required_argument, 0, CLI_PERTURB_OPT_SEPARATOR}
#define CLI_PERTURB_HELP                                                                           \
    "  --perturbation-key KEY   obs column of perturbation labels (default: the first\n"         \
    "                           present of guide_ids, perturbation, condition, gene)\n"          \
    "  --control LABEL          a control label (repeatable; default: '', ctrl, control,\n"      \
    "                           non-targeting)\n"                                                 \
    "  --separator CHARS        characters separating the targets of a combination\n"           \
    "                           (default ',+'; 'ctrl' tokens inside combinations are dropped)\n"
/* Handles one getopt code: returns 1 if it was a perturbation flag, 0 if not, -1 on error. */
int cli_perturb_option(int c, const char *arg, cli_perturb_args *a);
/* Opens the design of an opened file with these flags. */
cw_status cli_perturb_design(cw_h5ad *h, const cli_perturb_args *a, cw_perturb_design *d);

/* The context-graph flags (issue #4 item 1; spec §3): --graph-gmt, --graph-relations,
 * --graph-ppi, --gene-column, --graph-levels gg|gg+pg|gg+pg+pp, --graph-involved-only,
 * --graph-corrupt FRACTION, --graph-seed S. */
typedef struct {
    const char *gmt, *relations, *ppi, *gene_column, *levels;
    int involved_only;
    double corrupt;
    uint64_t seed;
    int seed_set; /* --graph-seed given */
} cli_graph_args;
#define CLI_GRAPH_OPT_BASE 1100
#define CLI_GRAPH_LONG_OPTIONS                                                                     \
    {"graph-gmt", required_argument, 0, CLI_GRAPH_OPT_BASE + 0},                                   \
        {"graph-relations", required_argument, 0, CLI_GRAPH_OPT_BASE + 1},                         \
        {"graph-ppi", required_argument, 0, CLI_GRAPH_OPT_BASE + 2},                               \
        {"gene-column", required_argument, 0, CLI_GRAPH_OPT_BASE + 3},                             \
        {"graph-levels", required_argument, 0, CLI_GRAPH_OPT_BASE + 4},                            \
        {"graph-involved-only", no_argument, 0, CLI_GRAPH_OPT_BASE + 5},                           \
        {"graph-corrupt", required_argument, 0, CLI_GRAPH_OPT_BASE + 6},                           \
        {"graph-seed", required_argument, 0, CLI_GRAPH_OPT_BASE + 7}
#define CLI_GRAPH_HELP                                                                             \
    "  --graph-gmt F            Reactome GMT (name, stable id, gene symbols)\n"                    \
    "  --graph-relations F      pathway-pathway pairs (parent id, child id)\n"                     \
    "  --graph-ppi F            gene pairs, space- or tab-separated\n"                             \
    "  --gene-column COL        var column with gene symbols (default gene_symbols, else the\n"   \
    "                           var index)\n"                                                      \
    "  --graph-levels L         gg | gg+pg | gg+pg+pp (default: all the files given allow)\n"     \
    "  --graph-involved-only    only pathways containing a dataset gene\n"                         \
    "  --graph-corrupt F        replace a fraction F of the edges by random pairs (spec 3.5)\n"   \
    "  --graph-seed S           seed of the corruption (0)\n"
/* Handles one getopt code: 1 if it was a graph flag, 0 if not, -1 on a bad value (printed). */
int cli_graph_option(const char *cmd, int c, const char *arg, cli_graph_args *a);
/* 1 when any graph file was given. */
int cli_graph_wanted(const cli_graph_args *a);

/* The short git commit of the working directory ("unknown" outside a checkout), for the
 * context line of benchmarks. */
void cli_git_commit(char *commit, size_t cap);
/* The context line of every benchmark: threads, OpenBLAS core, whether the AVX-512 GEMM kernels
 * run, commit, compiler. */
void cli_bench_context(FILE *f);

/* 1 when stderr is a terminal (progress bars only then). */
int cli_stderr_is_tty(void);

#endif
