/* cli.c: error printing and strict flag parsing shared by the subcommands (cli.h). */
#include "cli/cli.h"
#include "io/xstore.h"
#include "la/blas_info.h"
#include "nn/gemm_small.h"

#include "data/perturb_h5ad.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "causeway %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return CLI_EXIT_USAGE;
}

int cli_fail(const char *cmd, cw_status st) {
    fprintf(stderr, "causeway %s: error: %s\n", cmd, cw_errmsg());
    return st == CW_ENOMEM ? CLI_EXIT_FAIL : CLI_EXIT_USAGE;
}

int cli_parse_size(const char *cmd, const char *flag, const char *s, int64_t *out) {
    int64_t v = cw_parse_bytes(s);
    if (v < 0) {
        cli_error(cmd, "%s: expected a size such as 4G, 512M or a number of bytes, got '%s'", flag,
                  s);
        return 1;
    }
    *out = v;
    return 0;
}

int cli_parse_i64(const char *cmd, const char *flag, const char *s, int64_t lo, int64_t hi,
                  int64_t *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !end || end == s || *end != '\0' || v < lo || v > hi) {
        cli_error(cmd, "%s: expected an integer in [%lld, %lld], got '%s'", flag, (long long)lo,
                  (long long)hi, s);
        return 1;
    }
    *out = (int64_t)v;
    return 0;
}

int cli_parse_u64(const char *cmd, const char *flag, const char *s, uint64_t *out) {
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || !end || end == s || *end != '\0' || s[0] == '-') {
        cli_error(cmd, "%s: expected a non-negative integer, got '%s'", flag, s);
        return 1;
    }
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_f64(const char *cmd, const char *flag, const char *s, double lo, double hi,
                  double *out) {
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || !end || end == s || *end != '\0' || !isfinite(v) || v < lo || v > hi) {
        cli_error(cmd, "%s: expected a number in [%g, %g], got '%s'", flag, lo, hi, s);
        return 1;
    }
    *out = v;
    return 0;
}

int cli_stderr_is_tty(void) { return isatty(2); }

int cli_perturb_option(int c, const char *arg, cli_perturb_args *a) {
    switch (c) {
    case CLI_PERTURB_OPT_KEY: a->key = arg; return 1;
    case CLI_PERTURB_OPT_SEPARATOR: a->separators = arg; return 1;
    case CLI_PERTURB_OPT_CONTROL: return cw_strings_push(&a->controls, arg) == CW_OK ? 1 : -1;
    default: return 0;
    }
}

cw_status cli_perturb_design(cw_h5ad *h, const cli_perturb_args *a, cw_perturb_design *d) {
    cw_perturb_opts po;
    cw_perturb_opts_default(&po);
    po.controls = a->controls.n ? &a->controls : NULL;
    po.separators = a->separators;
    return cw_perturb_design_from_h5ad(d, h, a->key, &po);
}

void cli_git_commit(char *commit, size_t cap) {
    snprintf(commit, cap, "unknown");
    FILE *p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
    if (!p) return;
    if (fgets(commit, (int)cap, p)) commit[strcspn(commit, "\n")] = '\0';
    else snprintf(commit, cap, "unknown");
    pclose(p);
}

void cli_bench_context(FILE *f) {
    char commit[64];
    cli_git_commit(commit, sizeof commit);
    char blas[160];
    fprintf(f, "context: threads=%d openblas_core=%s gemm_small=%s commit=%s compiler=gcc-%d.%d\n",
            omp_get_max_threads(), cw_blas_describe(blas, sizeof blas),
            cw_gemm_small_available() ? "avx512" : "off", commit, __GNUC__, __GNUC_MINOR__);
}

int cli_graph_option(const char *cmd, int c, const char *arg, cli_graph_args *a) {
    switch (c - CLI_GRAPH_OPT_BASE) {
    case 0: a->gmt = arg; return 1;
    case 1: a->relations = arg; return 1;
    case 2: a->ppi = arg; return 1;
    case 3: a->gene_column = arg; return 1;
    case 4:
        if (strcmp(arg, "gg") && strcmp(arg, "gg+pg") && strcmp(arg, "gg+pg+pp")) {
            cli_error(cmd, "--graph-levels: expected gg, gg+pg or gg+pg+pp, got '%s'", arg);
            return -1;
        }
        a->levels = arg;
        return 1;
    case 5: a->involved_only = 1; return 1;
    case 6: return cli_parse_f64(cmd, "--graph-corrupt", arg, 0, 1, &a->corrupt) ? -1 : 1;
    case 7:
        a->seed_set = 1;
        return cli_parse_u64(cmd, "--graph-seed", arg, &a->seed) ? -1 : 1;
    default: return 0;
    }
}

int cli_graph_wanted(const cli_graph_args *a) { return a->gmt || a->relations || a->ppi; }
