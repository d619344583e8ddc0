/* simulate.c: the ground-truth Perturb-seq simulator (simulate.h has the model; doc/simulator.md
 * the long form). Layout: options; truth (DAG, genes, targets, combinations, names, Monte Carlo
 * scaling); context graph; per-cell generation (vectorisable float kernels, per-cell RNG
 * substreams); block generation; graph files; the streaming writer.
 */
#include "data/simulate.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "eval/deg.h"
#include "io/h5ad.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* RNG substreams of the truth (cells use stream = cell index). */
#define STREAM_TRUTH UINT64_C(0xFFFFFFFFFFFF0001)
#define STREAM_MC UINT64_C(0xFFFFFFFFFFFF0002)
#define STREAM_GRAPH UINT64_C(0xFFFFFFFFFFFF0003)
#define N_MC 4096     /* Monte Carlo draws for the variance scaling */
#define N_MC_RATE 256 /* of which used for S0 (a mean of G-term sums: low variance) */
#define SLOTS 3       /* loading slots per gene: primary + up to 2 secondary */
#define MAX_LOG1P_TAB 32
#define LOGFACT_N 1024  /* log k! table of the Poisson sampler */

/* ---- options ------------------------------------------------------------------------------ */

void cw_sim_options_default(cw_sim_options *o) {
    memset(o, 0, sizeof *o);
    o->n_controls = 1000;
    o->cells_per_perturbation = 200;
    o->n_genes = 500;
    o->n_programs = 8;
    o->n_targets = 16;
    o->n_combinations = 10;
    o->seed = 0;
    o->mechanism = CW_SIM_NONLINEAR;
    o->edge_prob = 0.4;
    o->weight_min = 0.5;
    o->weight_max = 1.5;
    o->shift_min = 1.5;
    o->shift_max = 3.0;
    o->secondary_prob = 0.5;
    o->base_sd = 1.25;
    o->gene_noise_sd = 0.25;
    o->library_size = 0.0;
    o->library_sd = 0.3;
    o->nb_theta = 0.0;
    o->deg_top_n = 20;
    o->graph_noise_fraction = 0.2;
    o->pathways_per_program = 3;
    o->ppi_degree = 4.0;
    o->write_graph = 1;
    o->gzip_level = 0;
    o->block_rows = 0;
    o->threads = 0;
}

const char *cw_sim_mechanism_name(cw_sim_mechanism m) {
    return m == CW_SIM_LINEAR ? "linear" : "nonlinear";
}

cw_status cw_sim_mechanism_parse(const char *s, cw_sim_mechanism *out) {
    if (s && strcmp(s, "linear") == 0)
        *out = CW_SIM_LINEAR;
    else if (s && strcmp(s, "nonlinear") == 0)
        *out = CW_SIM_NONLINEAR;
    else
        return cw_fail(CW_EINVAL, "--mechanism: expected 'linear' or 'nonlinear', got '%s'",
                       s ? s : "(null)");
    return CW_OK;
}

static int in_range(double v, double lo, double hi) { return v >= lo && v <= hi; } /* NaN: 0 */

cw_status cw_sim_options_validate(const cw_sim_options *o) {
#define I64(field, flag, lo, hi)                                                                   \
    if (o->field < (lo) || o->field > (hi))                                                        \
        return cw_fail(CW_EINVAL, "--" flag ": expected an integer in [%lld, %lld], got %lld",     \
                       (long long)(lo), (long long)(hi), (long long)o->field);
#define F64(field, flag, lo, hi)                                                                   \
    if (!in_range(o->field, lo, hi))                                                               \
        return cw_fail(CW_EINVAL, "--" flag ": expected a number in [%g, %g], got %g",             \
                       (double)(lo), (double)(hi), o->field);
    I64(n_controls, "n-controls", 2, INT64_C(1000000000));
    I64(cells_per_perturbation, "cells-per-perturbation", 2, INT64_C(1000000000));
    I64(n_programs, "n-programs", 1, 4096);
    I64(n_genes, "n-genes", 1, INT32_MAX);
    if (o->n_genes < o->n_programs)
        return cw_fail(CW_EINVAL,
                       "--n-genes: %lld genes cannot carry %lld programs (each "
                       "program needs at least one gene; see --n-programs)",
                       (long long)o->n_genes, (long long)o->n_programs);
    I64(n_targets, "n-targets", 1, INT64_C(1000000000));
    if (o->n_targets > o->n_genes)
        return cw_fail(CW_EINVAL,
                       "--n-targets: %lld targets but only %lld genes (targets are "
                       "distinct genes; see --n-genes)",
                       (long long)o->n_targets, (long long)o->n_genes);
    int64_t pairs = o->n_targets * (o->n_targets - 1) / 2;
    if (o->n_combinations < 0)
        return cw_fail(CW_EINVAL, "--n-combinations: expected >= 0, got %lld",
                       (long long)o->n_combinations);
    if (o->n_combinations > pairs)
        return cw_fail(CW_EINVAL,
                       "--n-combinations: %lld exceeds the %lld distinct pairs of %lld "
                       "targets (n_targets choose 2)",
                       (long long)o->n_combinations, (long long)pairs, (long long)o->n_targets);
    if (o->mechanism != CW_SIM_LINEAR && o->mechanism != CW_SIM_NONLINEAR)
        return cw_fail(CW_EINVAL, "--mechanism: expected linear or nonlinear, got code %d",
                       (int)o->mechanism);
    F64(edge_prob, "edge-prob", 0.0, 1.0);
    F64(weight_min, "weight-min", 0.0, 100.0);
    F64(weight_max, "weight-max", o->weight_min, 100.0);
    F64(shift_min, "shift-min", 0.0, 100.0);
    F64(shift_max, "shift-max", o->shift_min, 100.0);
    F64(secondary_prob, "secondary-prob", 0.0, 2.0);
    F64(base_sd, "base-sd", 0.0, 5.0);
    F64(gene_noise_sd, "gene-noise-sd", 0.0, 3.0);
    if (!(o->library_size == 0.0 || in_range(o->library_size, 1.0, 1e9)))
        return cw_fail(CW_EINVAL,
                       "--library-size: expected 0 (auto: 2 x n_genes) or a number in "
                       "[1, 1e9], got %g",
                       o->library_size);
    F64(library_sd, "library-sd", 0.0, 3.0);
    F64(nb_theta, "nb-theta", 0.0, 1e6);
    I64(deg_top_n, "deg-top", 1, INT64_C(1000000000));
    F64(graph_noise_fraction, "graph-noise", 0.0, 10.0);
    I64(pathways_per_program, "pathways-per-program", 1, 1000);
    F64(ppi_degree, "ppi-degree", 0.0, 1000.0);
    I64(gzip_level, "gzip", 0, 9);
    I64(block_rows, "block-rows", 0, INT64_C(100000000));
    I64(threads, "threads", 0, 4096);
    /* total cells, without overflow */
    int64_t groups = o->n_targets + o->n_combinations;
    if (groups > (INT64_C(2000000000) - o->n_controls) / o->cells_per_perturbation)
        return cw_fail(CW_EINVAL,
                       "--cells-per-perturbation: %lld cells for each of %lld "
                       "perturbations plus %lld controls exceeds 2e9 cells",
                       (long long)o->cells_per_perturbation, (long long)groups,
                       (long long)o->n_controls);
#undef I64
#undef F64
    return CW_OK;
}

/* A growable string buffer (for JSON). */
typedef struct {
    char *s;
    size_t n, cap;
    int oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) CW_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        size_t ncap = (b->cap ? b->cap * 2 : 256) + (size_t)k + 1;
        char *ns = cw_realloc(b->s, ncap);
        if (!ns) {
            b->oom = 1;
            return;
        }
        b->s = ns;
        b->cap = ncap;
    }
}

static void sb_json_string(sbuf *b, const char *s) {
    if (!s) {
        sb_printf(b, "null");
        return;
    }
    sb_printf(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            sb_printf(b, "\\%c", *p);
        else if (*p < 0x20)
            sb_printf(b, "\\u%04x", *p);
        else
            sb_printf(b, "%c", *p);
    }
    sb_printf(b, "\"");
}

/* The shortest of %.15g / %.16g / %.17g that reads back as v (0.4, not 0.40000000000000002). */
static void sb_double(sbuf *b, const char *key, double v) {
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    sb_printf(b, "\"%s\": %s, ", key, buf);
}

cw_status cw_sim_options_json(const cw_sim_options *o, char **out) {
    sbuf b = {0};
    sb_printf(&b,
              "{\"n_controls\": %lld, \"cells_per_perturbation\": %lld, \"n_genes\": %lld, "
              "\"n_programs\": %lld, \"n_targets\": %lld, \"n_combinations\": %lld, "
              "\"seed\": %llu, \"mechanism\": \"%s\", ",
              (long long)o->n_controls, (long long)o->cells_per_perturbation,
              (long long)o->n_genes, (long long)o->n_programs, (long long)o->n_targets,
              (long long)o->n_combinations, (unsigned long long)o->seed,
              cw_sim_mechanism_name(o->mechanism));
    sb_double(&b, "edge_prob", o->edge_prob);
    sb_double(&b, "weight_min", o->weight_min);
    sb_double(&b, "weight_max", o->weight_max);
    sb_double(&b, "shift_min", o->shift_min);
    sb_double(&b, "shift_max", o->shift_max);
    sb_double(&b, "secondary_prob", o->secondary_prob);
    sb_double(&b, "base_sd", o->base_sd);
    sb_double(&b, "gene_noise_sd", o->gene_noise_sd);
    sb_double(&b, "library_size", o->library_size);
    sb_double(&b, "library_sd", o->library_sd);
    sb_double(&b, "nb_theta", o->nb_theta);
    sb_printf(&b, "\"deg_top_n\": %lld, ", (long long)o->deg_top_n);
    sb_double(&b, "graph_noise_fraction", o->graph_noise_fraction);
    sb_printf(&b, "\"pathways_per_program\": %lld, ", (long long)o->pathways_per_program);
    sb_double(&b, "ppi_degree", o->ppi_degree);
    sb_printf(&b, "\"write_graph\": %d, \"gmt_path\": ", o->write_graph);
    sb_json_string(&b, o->gmt_path);
    sb_printf(&b, ", \"ppi_path\": ");
    sb_json_string(&b, o->ppi_path);
    sb_printf(&b, ", \"relations_path\": ");
    sb_json_string(&b, o->relations_path);
    sb_printf(&b, ", \"gzip_level\": %d, \"block_rows\": %lld, \"threads\": %d}", o->gzip_level,
              (long long)o->block_rows, o->threads);
    if (b.oom) {
        cw_free(b.s);
        *out = NULL;
        return cw_fail(CW_ENOMEM, "out of memory formatting the simulator options");
    }
    *out = b.s;
    return CW_OK;
}

static char *str_concat(const char *a, size_t alen, const char *b) {
    size_t bl = strlen(b);
    char *s = cw_malloc(alen + bl + 1);
    if (!s) return NULL;
    memcpy(s, a, alen);
    memcpy(s + alen, b, bl + 1);
    return s;
}

cw_status cw_sim_graph_paths(const cw_sim_options *o, const char *out_path, char **gmt, char **ppi,
                             char **relations) {
    *gmt = *ppi = *relations = NULL;
    size_t stem = strlen(out_path);
    const char *slash = strrchr(out_path, '/');
    const char *dot = strrchr(out_path, '.');
    if (dot && (!slash || dot > slash + 1)) stem = (size_t)(dot - out_path);
    *gmt = o->gmt_path ? cw_strdup(o->gmt_path) : str_concat(out_path, stem, ".gmt");
    *ppi = o->ppi_path ? cw_strdup(o->ppi_path) : str_concat(out_path, stem, ".ppi.txt");
    *relations = o->relations_path ? cw_strdup(o->relations_path)
                                   : str_concat(out_path, stem, ".relations.txt");
    if (!*gmt || !*ppi || !*relations) {
        cw_free(*gmt);
        cw_free(*ppi);
        cw_free(*relations);
        *gmt = *ppi = *relations = NULL;
        return cw_fail(CW_ENOMEM, "out of memory for graph file names");
    }
    return CW_OK;
}

/* ---- small helpers -------------------------------------------------------------------------- */

static double unif(cw_rng *r, double lo, double hi) { return lo + (hi - lo) * cw_rng_uniform(r); }
static double rsign(cw_rng *r) { return (cw_rng_u64(r) >> 63) ? -1.0 : 1.0; }

/* Open-addressing set of uint64 keys. */
typedef struct {
    uint64_t *k; /* key + 1; 0 = empty */
    int64_t cap, n;
} u64set;

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int set_init(u64set *s, int64_t expect) {
    s->cap = 16;
    while (s->cap < 2 * expect + 16) s->cap *= 2;
    s->n = 0;
    s->k = cw_calloc((size_t)s->cap, sizeof *s->k);
    return s->k != NULL;
}

static void set_free(u64set *s) {
    cw_free(s->k);
    s->k = NULL;
}

/* 1 added, 0 present, -1 out of memory */
static int set_add(u64set *s, uint64_t key) {
    if (2 * (s->n + 1) > s->cap) {
        u64set t;
        t.cap = s->cap * 2;
        t.n = 0;
        t.k = cw_calloc((size_t)t.cap, sizeof *t.k);
        if (!t.k) return -1;
        for (int64_t i = 0; i < s->cap; i++)
            if (s->k[i]) {
                uint64_t h = mix64(s->k[i] - 1) & (uint64_t)(t.cap - 1);
                while (t.k[h]) h = (h + 1) & (uint64_t)(t.cap - 1);
                t.k[h] = s->k[i];
                t.n++;
            }
        cw_free(s->k);
        *s = t;
    }
    uint64_t h = mix64(key) & (uint64_t)(s->cap - 1);
    while (s->k[h]) {
        if (s->k[h] == key + 1) return 0;
        h = (h + 1) & (uint64_t)(s->cap - 1);
    }
    s->k[h] = key + 1;
    s->n++;
    return 1;
}

static int set_has(const u64set *s, uint64_t key) {
    uint64_t h = mix64(key) & (uint64_t)(s->cap - 1);
    while (s->k[h]) {
        if (s->k[h] == key + 1) return 1;
        h = (h + 1) & (uint64_t)(s->cap - 1);
    }
    return 0;
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_pair(const void *a, const void *b) {
    const int64_t *x = a, *y = b;
    if (x[0] != y[0]) return (x[0] > y[0]) - (x[0] < y[0]);
    return (x[1] > y[1]) - (x[1] < y[1]);
}

/* A growable int64 array. */
typedef struct {
    int64_t *v;
    int64_t n, cap;
} ivec;

static int iv_push(ivec *a, int64_t x) {
    if (a->n == a->cap) {
        int64_t nc = a->cap ? 2 * a->cap : 64;
        int64_t *nv = cw_realloc(a->v, (size_t)nc * sizeof *nv);
        if (!nv) return 0;
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = x;
    return 1;
}

static int ndigits(int64_t n) {
    int d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

/* prefix + v zero-padded to width digits (manual padding: a "%0*lld" width unknown to the
 * compiler trips -Wformat-truncation). */
static void padded_name(char *buf, size_t cap, const char *prefix, int width, int64_t v) {
    char num[32];
    int nd = snprintf(num, sizeof num, "%lld", (long long)v);
    size_t k = 0;
    for (const char *p = prefix; *p && k + 1 < cap; p++) buf[k++] = *p;
    for (int i = nd; i < width && k + 1 < cap; i++) buf[k++] = '0';
    for (int i = 0; i < nd && k + 1 < cap; i++) buf[k++] = num[i];
    buf[k] = '\0';
}

static void *xalloc(size_t n, size_t size, int *oom) {
    void *p = cw_calloc(n > 0 ? n : 1, size);
    if (!p) *oom = 1;
    return p;
}

/* ---- truth ------------------------------------------------------------------------------- */

void cw_sim_free(cw_sim *s) {
    if (!s) return;
    cw_free(s->dag);
    cw_free(s->topo_order);
    cw_free(s->target_gene);
    cw_free(s->target_program);
    cw_free(s->target_shift);
    cw_free(s->combination);
    cw_free(s->loadings);
    cw_free(s->gene_bias);
    cw_free(s->gene_program);
    cw_strings_free(&s->gene_names);
    cw_strings_free(&s->gene_symbols);
    cw_strings_free(&s->target_names);
    cw_strings_free(&s->group_labels);
    cw_free(s->group_target);
    cw_free(s->group_first_cell);
    cw_strings_free(&s->pathway_ids);
    cw_strings_free(&s->pathway_names);
    cw_free(s->pathway_program);
    cw_free(s->pathway_ptr);
    cw_free(s->pathway_genes);
    cw_free(s->ppi);
    cw_free(s->relations);
    cw_free(s->parent_ptr);
    cw_free(s->parent_idx);
    cw_free(s->parent_w);
    cw_free(s->slot_prog);
    cw_free(s->slot_w);
    cw_free(s->ebias_f);
    cw_free(s->logfact);
    cw_free(s->noise_tab);
    cw_free(s);
}

int64_t cw_sim_cell_group(const cw_sim *s, int64_t cell) {
    if (cell < s->opts.n_controls) return 0;
    return 1 + (cell - s->opts.n_controls) / s->opts.cells_per_perturbation;
}

typedef struct {
    int64_t gene, program;
    double shift;
} target_draw;

static int cmp_target(const void *a, const void *b) {
    const target_draw *x = a, *y = b;
    return (x->gene > y->gene) - (x->gene < y->gene);
}

static void draw_dag(cw_sim *s, cw_rng *r) {
    const int64_t Z = s->n_programs;
    for (int64_t i = 0; i < Z; i++) s->topo_order[i] = i;
    cw_rng_shuffle_i64(r, s->topo_order, Z);
    for (int64_t a = 0; a < Z; a++)
        for (int64_t b = a + 1; b < Z; b++) {
            double coin = cw_rng_uniform(r);
            double sg = rsign(r), mag = unif(r, s->opts.weight_min, s->opts.weight_max);
            if (coin < s->opts.edge_prob)
                s->dag[s->topo_order[a] * Z + s->topo_order[b]] = sg * mag;
        }
}

static void draw_genes(cw_sim *s, cw_rng *r, int64_t *perm) {
    const int64_t Z = s->n_programs, G = s->n_genes;
    for (int64_t g = 0; g < G; g++) perm[g] = g;
    cw_rng_shuffle_i64(r, perm, G);
    for (int64_t i = 0; i < G; i++) s->gene_program[perm[i]] = i % Z;
    double q = Z > 1 ? s->opts.secondary_prob / (double)(Z - 1) : 0.0;
    for (int64_t g = 0; g < G; g++) {
        int64_t p = s->gene_program[g];
        s->loadings[p * G + g] = rsign(r) * unif(r, 0.5, 1.0);
        int32_t *sp = s->slot_prog; /* slot k of gene g at [k * G + g] */
        float *sw = s->slot_w;
        for (int k = 0; k < SLOTS; k++) {
            sp[k * G + g] = (int32_t)p;
            sw[k * G + g] = 0.0f;
        }
        sw[g] = (float)s->loadings[p * G + g];
        int nsec = 0;
        for (int64_t k = 0; k < Z; k++) {
            if (k == p) continue;
            double coin = cw_rng_uniform(r);
            if (coin < q && nsec < SLOTS - 1) {
                double w = rsign(r) * unif(r, 0.05, 0.25);
                s->loadings[k * G + g] = w;
                nsec++;
                sp[nsec * G + g] = (int32_t)k;
                sw[nsec * G + g] = (float)w;
            }
        }
        double b = s->opts.base_sd * cw_rng_normal(r);
        s->gene_bias[g] = b > 40.0 ? 40.0 : (b < -40.0 ? -40.0 : b); /* keeps exp in range */
        s->ebias_f[g] = (float)exp(s->gene_bias[g]);
    }
}

/* Targets: program round-robin over shuffled program orders, gene from that program's module. */
static cw_status draw_targets(cw_sim *s, cw_rng *r) {
    const int64_t Z = s->n_programs, G = s->n_genes, T = s->n_targets;
    int oom = 0;
    int64_t *mod_ptr = xalloc((size_t)Z + 1, sizeof(int64_t), &oom);
    int64_t *mod_fill = xalloc((size_t)Z, sizeof(int64_t), &oom);
    int64_t *mod = xalloc((size_t)G, sizeof(int64_t), &oom);
    int64_t *mod_n = xalloc((size_t)Z, sizeof(int64_t), &oom);
    unsigned char *used = xalloc((size_t)G, 1, &oom);
    int64_t *perm = xalloc((size_t)Z, sizeof(int64_t), &oom);
    target_draw *td = xalloc((size_t)T, sizeof *td, &oom);
    cw_status st = CW_OK;
    if (oom) {
        st = cw_fail(CW_ENOMEM, "simulate: out of memory drawing targets");
        goto done;
    }
    for (int64_t g = 0; g < G; g++) mod_ptr[s->gene_program[g] + 1]++;
    for (int64_t k = 0; k < Z; k++) mod_ptr[k + 1] += mod_ptr[k];
    for (int64_t g = 0; g < G; g++) {
        int64_t k = s->gene_program[g];
        mod[mod_ptr[k] + mod_fill[k]++] = g;
    }
    for (int64_t k = 0; k < Z; k++) {
        mod_n[k] = mod_ptr[k + 1] - mod_ptr[k];
        perm[k] = k;
    }
    for (int64_t t = 0; t < T; t++) {
        if (t % Z == 0) cw_rng_shuffle_i64(r, perm, Z);
        int64_t k = perm[t % Z], gene = -1;
        while (mod_n[k] > 0) { /* random unused gene of module k (swap-remove) */
            int64_t i = cw_rng_below(r, mod_n[k]);
            int64_t g = mod[mod_ptr[k] + i];
            mod[mod_ptr[k] + i] = mod[mod_ptr[k] + mod_n[k] - 1];
            mod_n[k]--;
            if (!used[g]) {
                gene = g;
                break;
            }
        }
        if (gene < 0) { /* module exhausted: any unused gene */
            int64_t g = cw_rng_below(r, G);
            while (used[g]) g = (g + 1) % G;
            gene = g;
        }
        used[gene] = 1;
        td[t].gene = gene;
        td[t].program = k;
        double sg = rsign(r);
        td[t].shift = sg * unif(r, s->opts.shift_min, s->opts.shift_max);
    }
    qsort(td, (size_t)T, sizeof *td, cmp_target);
    for (int64_t t = 0; t < T; t++) {
        s->target_gene[t] = td[t].gene;
        s->target_program[t] = td[t].program;
        s->target_shift[t] = td[t].shift;
    }
done:
    cw_free(mod_ptr);
    cw_free(mod_fill);
    cw_free(mod);
    cw_free(mod_n);
    cw_free(used);
    cw_free(perm);
    cw_free(td);
    return st;
}

/* C distinct pairs of targets (Floyd's sampling over the T choose 2 pair indices). */
static cw_status draw_combinations(cw_sim *s, cw_rng *r) {
    const int64_t T = s->n_targets, C = s->n_combinations;
    if (C == 0) return CW_OK;
    const int64_t N = T * (T - 1) / 2;
    u64set set;
    if (!set_init(&set, C)) return cw_fail(CW_ENOMEM, "simulate: out of memory for combinations");
    int64_t n = 0;
    for (int64_t j = N - C; j < N; j++) {
        int64_t t = cw_rng_below(r, j + 1);
        int64_t pick = set_has(&set, (uint64_t)t) ? j : t;
        if (set_add(&set, (uint64_t)pick) < 0) {
            set_free(&set);
            return cw_fail(CW_ENOMEM, "simulate: out of memory for combinations");
        }
        /* pair index -> (a, b), a < b: pairs of a start at off(a) = a (2T - a - 1) / 2 */
        int64_t lo = 0, hi = T - 2;
        while (lo < hi) { /* largest a with off(a) <= pick */
            int64_t mid = lo + (hi - lo + 1) / 2;
            if (mid * (2 * T - mid - 1) / 2 <= pick) lo = mid;
            else hi = mid - 1;
        }
        int64_t off = lo * (2 * T - lo - 1) / 2;
        s->combination[2 * n] = lo;
        s->combination[2 * n + 1] = lo + 1 + (pick - off);
        n++;
    }
    set_free(&set);
    qsort(s->combination, (size_t)C, 2 * sizeof(int64_t), cmp_pair);
    return CW_OK;
}

static cw_status make_names(cw_sim *s) {
    const int64_t G = s->n_genes, T = s->n_targets, C = s->n_combinations;
    int w = ndigits(G) > 5 ? ndigits(G) : 5;
    char buf[128];
    CW_TRY(cw_strings_alloc(&s->gene_names, G));
    CW_TRY(cw_strings_alloc(&s->gene_symbols, G));
    for (int64_t g = 0; g < G; g++) {
        padded_name(buf, sizeof buf, "SIMG", w, g + 1);
        CW_TRY(cw_strings_set(&s->gene_names, g, buf));
        padded_name(buf, sizeof buf, "G", w, g + 1);
        CW_TRY(cw_strings_set(&s->gene_symbols, g, buf));
    }
    CW_TRY(cw_strings_alloc(&s->target_names, T));
    for (int64_t t = 0; t < T; t++)
        CW_TRY(cw_strings_set(&s->target_names, t, s->gene_symbols.s[s->target_gene[t]]));
    CW_TRY(cw_strings_alloc(&s->group_labels, s->n_groups));
    CW_TRY(cw_strings_set(&s->group_labels, 0, ""));
    for (int64_t g = 0; g < s->n_groups; g++)
        s->group_target[2 * g] = s->group_target[2 * g + 1] = -1;
    for (int64_t t = 0; t < T; t++) {
        CW_TRY(cw_strings_set(&s->group_labels, 1 + t, s->target_names.s[t]));
        s->group_target[2 * (1 + t)] = t;
    }
    for (int64_t c = 0; c < C; c++) {
        int64_t a = s->combination[2 * c], b = s->combination[2 * c + 1];
        snprintf(buf, sizeof buf, "%s,%s", s->target_names.s[a], s->target_names.s[b]);
        CW_TRY(cw_strings_set(&s->group_labels, 1 + T + c, buf));
        s->group_target[2 * (1 + T + c)] = a;
        s->group_target[2 * (1 + T + c) + 1] = b;
    }
    s->group_first_cell[0] = 0;
    s->group_first_cell[1] = s->opts.n_controls;
    for (int64_t g = 1; g < s->n_groups; g++)
        s->group_first_cell[g + 1] = s->group_first_cell[g] + s->opts.cells_per_perturbation;
    return CW_OK;
}

static double mech(const cw_sim *s, double u) {
    return s->opts.mechanism == CW_SIM_NONLINEAR ? tanh(u) : u;
}

/* The decoder's saturation: phi(x) = 2 artanh(tanh(1) tanh(coth(1) x / 2)), odd, slope 1 at 0,
 * range (-2, 2). exp(phi(x)) = (c y + 1) / (y + c) with y = exp(coth(1) x), c = e^2: one exp and
 * one division per gene in the float kernel. */
#define PHI_KAPPA 1.31303528549933130 /* coth(1) */
#define PHI_C 7.38905609893065023     /* e^2 */
static double phi(double x) { return 2.0 * atanh(tanh(1.0) * tanh(0.5 * PHI_KAPPA * x)); }

/* Variance scaling of incoming weights (Monte Carlo), parent lists, and S0. */
static cw_status scale_and_normalise(cw_sim *s) {
    const int64_t Z = s->n_programs, G = s->n_genes;
    int oom = 0;
    double *E = xalloc((size_t)N_MC * (size_t)Z, sizeof(double), &oom);
    double *U = xalloc((size_t)N_MC * (size_t)Z, sizeof(double), &oom);
    double *S = xalloc(N_MC, sizeof(double), &oom);
    double *rs = xalloc(N_MC_RATE, sizeof(double), &oom);
    if (oom) {
        cw_free(E);
        cw_free(U);
        cw_free(S);
        cw_free(rs);
        return cw_fail(CW_ENOMEM, "simulate: out of memory for the Monte Carlo scaling");
    }
    cw_rng r;
    cw_rng_substream(&r, s->opts.seed, STREAM_MC);
    for (int64_t i = 0; i < (int64_t)N_MC * Z; i++) E[i] = cw_rng_normal(&r);
    for (int64_t si = 0; si < Z; si++) {
        int64_t j = s->topo_order[si];
        double m = 0.0, m2 = 0.0;
        for (int64_t n = 0; n < N_MC; n++) {
            double acc = 0.0;
            for (int64_t sk = 0; sk < si; sk++) {
                int64_t i = s->topo_order[sk];
                double w = s->dag[i * Z + j];
                if (w != 0.0) acc += w * mech(s, U[n * Z + i]);
            }
            S[n] = acc;
            m += acc;
            m2 += acc * acc;
        }
        m /= N_MC;
        double v = m2 / N_MC - m * m;
        double c = v > 1.0 ? 1.0 / sqrt(v) : 1.0;
        if (c != 1.0)
            for (int64_t i = 0; i < Z; i++) s->dag[i * Z + j] *= c;
        for (int64_t n = 0; n < N_MC; n++) U[n * Z + j] = c * S[n] + E[n * Z + j];
    }
    /* parents of each program, in topological order */
    int64_t ne = 0;
    for (int64_t i = 0; i < Z * Z; i++) ne += s->dag[i] != 0.0;
    s->parent_ptr = xalloc((size_t)Z + 1, sizeof(int64_t), &oom);
    s->parent_idx = xalloc((size_t)ne, sizeof(int64_t), &oom);
    s->parent_w = xalloc((size_t)ne, sizeof(double), &oom);
    if (!oom) {
        int64_t k = 0;
        for (int64_t j = 0; j < Z; j++) {
            s->parent_ptr[j] = k;
            for (int64_t sk = 0; sk < Z; sk++) {
                int64_t i = s->topo_order[sk];
                if (s->dag[i * Z + j] != 0.0) {
                    s->parent_idx[k] = i;
                    s->parent_w[k++] = s->dag[i * Z + j];
                }
            }
        }
        s->parent_ptr[Z] = k;
        /* S0 = mean over control draws of sum_g exp(b_g + phi((u W)_g)) */
#pragma omp parallel for num_threads(s->opts.threads > 0 ? s->opts.threads : omp_get_max_threads())
        for (int64_t n = 0; n < N_MC_RATE; n++) {
            double tot = 0.0;
            for (int64_t g = 0; g < G; g++) {
                double x = 0.0;
                for (int k2 = 0; k2 < SLOTS; k2++)
                    x += (double)s->slot_w[k2 * G + g] * U[n * Z + s->slot_prog[k2 * G + g]];
                tot += exp(s->gene_bias[g] + phi(x));
            }
            rs[n] = tot;
        }
        double tot = 0.0;
        for (int64_t n = 0; n < N_MC_RATE; n++) tot += rs[n];
        s->rate_norm = tot / N_MC_RATE;
    }
    cw_free(E);
    cw_free(U);
    cw_free(S);
    cw_free(rs);
    if (oom) return cw_fail(CW_ENOMEM, "simulate: out of memory for the parent lists");
    return CW_OK;
}

/* ---- context graph ----------------------------------------------------------------------- */

static cw_status draw_graph(cw_sim *s) {
    const int64_t Z = s->n_programs, G = s->n_genes, PPP = s->opts.pathways_per_program;
    const double noise = s->opts.graph_noise_fraction;
    cw_rng r;
    cw_rng_substream(&r, s->opts.seed, STREAM_GRAPH);
    cw_status st = CW_OK;
    int oom = 0;
    int64_t n_noise_pw = noise > 0 ? (int64_t)llround(noise * (double)(Z * PPP)) : 0;
    if (noise > 0 && n_noise_pw < 1) n_noise_pw = 1;
    const int64_t NP = Z * PPP + n_noise_pw;
    /* modules sorted by |primary loading| descending */
    int64_t *mod_ptr = xalloc((size_t)Z + 1, sizeof(int64_t), &oom);
    int64_t *mod = xalloc((size_t)G, sizeof(int64_t), &oom);
    int64_t *fill = xalloc((size_t)Z, sizeof(int64_t), &oom);
    int64_t *cand = xalloc((size_t)G, sizeof(int64_t), &oom);
    unsigned char *mark = xalloc((size_t)G, 1, &oom);
    int64_t *pw_perm = xalloc((size_t)NP, sizeof(int64_t), &oom);
    int64_t *pw_prog_raw = xalloc((size_t)NP, sizeof(int64_t), &oom);
    int64_t *pw_rank = xalloc((size_t)NP, sizeof(int64_t), &oom);
    ivec members = {0}, ptr_raw = {0}, edges = {0}, rel = {0};
    u64set eset = {0}, rset = {0};
    if (oom) goto nomem;
    for (int64_t g = 0; g < G; g++) mod_ptr[s->gene_program[g] + 1]++;
    for (int64_t k = 0; k < Z; k++) mod_ptr[k + 1] += mod_ptr[k];
    for (int64_t g = 0; g < G; g++) {
        int64_t k = s->gene_program[g];
        mod[mod_ptr[k] + fill[k]++] = g;
    }
    for (int64_t k = 0; k < Z; k++) { /* insertion sort by |loading| desc, index asc */
        int64_t *m = mod + mod_ptr[k], n = mod_ptr[k + 1] - mod_ptr[k];
        for (int64_t i = 1; i < n; i++) {
            int64_t g = m[i], j = i;
            double a = fabs(s->loadings[k * G + g]);
            while (j > 0 && fabs(s->loadings[k * G + m[j - 1]]) < a) {
                m[j] = m[j - 1];
                j--;
            }
            m[j] = g;
        }
    }
    /* pathways in generation order: program pathways, then noise pathways */
    if (!iv_push(&ptr_raw, 0)) goto nomem;
    for (int64_t p = 0; p < NP; p++) {
        int64_t k = p < Z * PPP ? p / PPP : -1;
        pw_prog_raw[p] = k;
        int64_t m = k >= 0 ? mod_ptr[k + 1] - mod_ptr[k] : (G + Z - 1) / Z;
        int64_t size = (int64_t)llround(unif(&r, 0.3, 0.6) * (double)m);
        if (size < 2) size = 2;
        if (size > m && k >= 0) size = m;
        if (size > G) size = G;
        int64_t n0 = members.n;
        if (k >= 0) {
            int64_t nc = 2 * size < m ? 2 * size : m;
            memcpy(cand, mod + mod_ptr[k], (size_t)nc * sizeof *cand);
            for (int64_t i = 0; i < size; i++) { /* partial Fisher-Yates */
                int64_t j = i + cw_rng_below(&r, nc - i);
                int64_t t = cand[i];
                cand[i] = cand[j];
                cand[j] = t;
                if (!iv_push(&members, cand[i])) goto nomem;
                mark[cand[i]] = 1;
            }
            int64_t nn = (int64_t)llround(noise * (double)size);
            if (nn > G - m) nn = G - m;
            for (int64_t i = 0, tries = 0; i < nn && tries < 100 * (nn + 1); tries++) {
                int64_t g = cw_rng_below(&r, G);
                if (s->gene_program[g] == k || mark[g]) continue;
                mark[g] = 1;
                if (!iv_push(&members, g)) goto nomem;
                i++;
            }
        } else {
            for (int64_t i = 0, tries = 0; i < size && tries < 100 * (size + 1); tries++) {
                int64_t g = cw_rng_below(&r, G);
                if (mark[g]) continue;
                mark[g] = 1;
                if (!iv_push(&members, g)) goto nomem;
                i++;
            }
        }
        for (int64_t i = n0; i < members.n; i++) mark[members.v[i]] = 0;
        if (members.n > n0)
            qsort(members.v + n0, (size_t)(members.n - n0), sizeof(int64_t), cmp_i64);
        if (!iv_push(&ptr_raw, members.n)) goto nomem;
    }
    /* file order: a random permutation; pw_perm[file position] = generation index */
    for (int64_t p = 0; p < NP; p++) pw_perm[p] = p;
    cw_rng_shuffle_i64(&r, pw_perm, NP);
    for (int64_t f = 0; f < NP; f++) pw_rank[pw_perm[f]] = f;
    s->n_pathways = NP;
    s->pathway_program = xalloc((size_t)NP, sizeof(int64_t), &oom);
    s->pathway_ptr = xalloc((size_t)NP + 1, sizeof(int64_t), &oom);
    s->pathway_genes = xalloc((size_t)members.n, sizeof(int64_t), &oom);
    if (oom) goto nomem;
    if ((st = cw_strings_alloc(&s->pathway_ids, NP)) != CW_OK) goto done;
    if ((st = cw_strings_alloc(&s->pathway_names, NP)) != CW_OK) goto done;
    s->pathway_ptr[0] = 0;
    for (int64_t f = 0; f < NP; f++) {
        int64_t p = pw_perm[f];
        char buf[64];
        snprintf(buf, sizeof buf, "R-SIM-%06lld", (long long)(f + 1));
        if ((st = cw_strings_set(&s->pathway_ids, f, buf)) != CW_OK) goto done;
        snprintf(buf, sizeof buf, "SIM_PATHWAY_%04lld", (long long)(f + 1));
        if ((st = cw_strings_set(&s->pathway_names, f, buf)) != CW_OK) goto done;
        s->pathway_program[f] = pw_prog_raw[p];
        int64_t n = ptr_raw.v[p + 1] - ptr_raw.v[p];
        if (n > 0)
            memcpy(s->pathway_genes + s->pathway_ptr[f], members.v + ptr_raw.v[p],
                   (size_t)n * sizeof(int64_t));
        s->pathway_ptr[f + 1] = s->pathway_ptr[f] + n;
    }

    /* PPI */
    if (!set_init(&eset, 4 * G)) goto nomem;
#define ADD_EDGE(a_, b_)                                                                           \
    do {                                                                                           \
        int64_t lo_ = (a_) < (b_) ? (a_) : (b_), hi_ = (a_) < (b_) ? (b_) : (a_);                  \
        int rc_ = set_add(&eset, (uint64_t)(lo_ * G + hi_));                                       \
        if (rc_ < 0) goto nomem;                                                                   \
        if (rc_ == 1 && (!iv_push(&edges, lo_) || !iv_push(&edges, hi_))) goto nomem;              \
    } while (0)
    for (int64_t k = 0; k < Z; k++) {
        int64_t *m = mod + mod_ptr[k], n = mod_ptr[k + 1] - mod_ptr[k];
        if (n < 2) continue;
        double p = s->opts.ppi_degree / (double)(n - 1);
        if (p <= 0.0) continue;
        double lq = p >= 1.0 ? 0.0 : log1p(-p);
        for (int64_t i = 0; i < n; i++) {
            int64_t j = i;
            for (;;) { /* geometric skip to the next success */
                int64_t skip = 0;
                if (p < 1.0) {
                    double u = cw_rng_uniform(&r);
                    double sk = floor(log1p(-u) / lq);
                    skip = sk > (double)n ? n : (int64_t)sk;
                }
                j += 1 + skip;
                if (j >= n) break;
                ADD_EDGE(m[i], m[j]);
            }
        }
    }
    int64_t per_target = (int64_t)ceil(s->opts.ppi_degree);
    if (per_target < 1) per_target = 1;
    for (int64_t t = 0; t < s->n_targets; t++) {
        int64_t k = s->target_program[t], tg = s->target_gene[t];
        int64_t *m = mod + mod_ptr[k], n = mod_ptr[k + 1] - mod_ptr[k];
        memcpy(cand, m, (size_t)n * sizeof *cand);
        int64_t nc = n, added = 0;
        while (added < per_target && nc > 0) {
            int64_t i = cw_rng_below(&r, nc);
            int64_t g = cand[i];
            cand[i] = cand[--nc];
            if (g == tg) continue;
            ADD_EDGE(tg, g);
            added++;
        }
    }
    {
        int64_t n_true = edges.n / 2;
        int64_t n_noise = (int64_t)llround(noise * (double)n_true);
        int64_t max_pairs = G * (G - 1) / 2;
        if (n_noise > max_pairs - n_true) n_noise = max_pairs - n_true;
        for (int64_t i = 0, tries = 0; i < n_noise && tries < 100 * (n_noise + 1); tries++) {
            int64_t a = cw_rng_below(&r, G), b = cw_rng_below(&r, G);
            if (a == b) continue;
            int64_t before = edges.n;
            ADD_EDGE(a, b);
            if (edges.n > before) i++;
        }
    }
#undef ADD_EDGE
    s->n_ppi = edges.n / 2;
    if (s->n_ppi > 0) qsort(edges.v, (size_t)s->n_ppi, 2 * sizeof(int64_t), cmp_pair);
    s->ppi = edges.v;
    edges.v = NULL;

    /* pathway relations: DAG edges between the programs' pathways (file positions) */
    if (!set_init(&rset, Z * PPP * PPP + 16)) goto nomem;
#define ADD_REL(a_, b_)                                                                            \
    do {                                                                                           \
        int rc_ = set_add(&rset, (uint64_t)((a_)*NP + (b_)));                                      \
        if (rc_ < 0) goto nomem;                                                                   \
        if (rc_ == 1 && (!iv_push(&rel, (a_)) || !iv_push(&rel, (b_)))) goto nomem;                \
    } while (0)
    for (int64_t i = 0; i < Z; i++)
        for (int64_t j = 0; j < Z; j++)
            if (s->dag[i * Z + j] != 0.0)
                for (int64_t a = 0; a < PPP; a++)
                    for (int64_t b = 0; b < PPP; b++)
                        ADD_REL(pw_rank[i * PPP + a], pw_rank[j * PPP + b]);
    {
        int64_t n_true = rel.n / 2;
        int64_t n_noise = (int64_t)llround(noise * (double)n_true);
        if (n_noise > NP * (NP - 1) - n_true) n_noise = NP * (NP - 1) - n_true;
        for (int64_t i = 0, tries = 0; i < n_noise && tries < 100 * (n_noise + 1); tries++) {
            int64_t a = cw_rng_below(&r, NP), b = cw_rng_below(&r, NP);
            if (a == b) continue;
            int64_t before = rel.n;
            ADD_REL(a, b);
            if (rel.n > before) i++;
        }
    }
#undef ADD_REL
    s->n_relations = rel.n / 2;
    if (s->n_relations > 0) qsort(rel.v, (size_t)s->n_relations, 2 * sizeof(int64_t), cmp_pair);
    s->relations = rel.v;
    rel.v = NULL;
    goto done;
nomem:
    st = cw_fail(CW_ENOMEM, "simulate: out of memory building the context graph");
done:
    cw_free(mod_ptr);
    cw_free(mod);
    cw_free(fill);
    cw_free(cand);
    cw_free(mark);
    cw_free(pw_perm);
    cw_free(pw_prog_raw);
    cw_free(pw_rank);
    cw_free(members.v);
    cw_free(ptr_raw.v);
    cw_free(edges.v);
    cw_free(rel.v);
    set_free(&eset);
    set_free(&rset);
    return st;
}

cw_status cw_sim_create(const cw_sim_options *o, cw_sim **out) {
    *out = NULL;
    CW_TRY(cw_sim_options_validate(o));
    cw_sim *s = cw_calloc(1, sizeof *s);
    if (!s) return cw_fail(CW_ENOMEM, "simulate: out of memory");
    s->opts = *o;
    s->opts.gmt_path = s->opts.ppi_path = s->opts.relations_path = NULL;
    if (s->opts.library_size == 0.0) s->opts.library_size = 2.0 * (double)o->n_genes;
    const int64_t Z = o->n_programs, G = o->n_genes, T = o->n_targets, C = o->n_combinations;
    s->n_programs = Z;
    s->n_genes = G;
    s->n_targets = T;
    s->n_combinations = C;
    s->n_groups = 1 + T + C;
    s->n_cells = o->n_controls + (T + C) * o->cells_per_perturbation;
    int oom = 0;
    s->dag = xalloc((size_t)(Z * Z), sizeof(double), &oom);
    s->topo_order = xalloc((size_t)Z, sizeof(int64_t), &oom);
    s->target_gene = xalloc((size_t)T, sizeof(int64_t), &oom);
    s->target_program = xalloc((size_t)T, sizeof(int64_t), &oom);
    s->target_shift = xalloc((size_t)T, sizeof(double), &oom);
    s->combination = xalloc((size_t)(2 * C), sizeof(int64_t), &oom);
    s->loadings = xalloc((size_t)Z * (size_t)G, sizeof(double), &oom);
    s->gene_bias = xalloc((size_t)G, sizeof(double), &oom);
    s->gene_program = xalloc((size_t)G, sizeof(int64_t), &oom);
    s->group_target = xalloc((size_t)(2 * s->n_groups), sizeof(int64_t), &oom);
    s->group_first_cell = xalloc((size_t)(s->n_groups + 1), sizeof(int64_t), &oom);
    s->slot_prog = xalloc((size_t)G * SLOTS, sizeof(int32_t), &oom);
    s->slot_w = xalloc((size_t)G * SLOTS, sizeof(float), &oom);
    s->ebias_f = xalloc((size_t)G, sizeof(float), &oom);
    s->noise_tab = xalloc(1021, sizeof(float), &oom);
    s->logfact = xalloc(LOGFACT_N, sizeof(double), &oom);
    int64_t *perm = xalloc((size_t)G, sizeof(int64_t), &oom);
    cw_status st = CW_OK;
    if (oom) {
        st = cw_fail(CW_ENOMEM,
                     "simulate: out of memory for the truth of %lld programs x %lld "
                     "genes",
                     (long long)Z, (long long)G);
        goto fail;
    }
    cw_rng r;
    cw_rng_substream(&r, o->seed, STREAM_TRUTH);
    draw_dag(s, &r);
    draw_genes(s, &r, perm);
    s->logfact[0] = 0.0;
    for (int k = 1; k < LOGFACT_N; k++) s->logfact[k] = s->logfact[k - 1] + log((double)k);
    for (int i = 0; i <= 1020; i++) { /* exp(nsd * n - nsd^2 / 2) for n = (i - 510) / sd */
        double nsd = o->gene_noise_sd;
        double n = (double)(i - 510) / 147.80054127099163;
        s->noise_tab[i] = (float)exp(nsd * n - 0.5 * nsd * nsd);
    }
    if ((st = draw_targets(s, &r)) != CW_OK) goto fail;
    if ((st = draw_combinations(s, &r)) != CW_OK) goto fail;
    if ((st = make_names(s)) != CW_OK) goto fail;
    if ((st = scale_and_normalise(s)) != CW_OK) goto fail;
    if ((st = draw_graph(s)) != CW_OK) goto fail;
    cw_free(perm);
    *out = s;
    return CW_OK;
fail:
    cw_free(perm);
    cw_sim_free(s);
    return st;
}

/* ---- per-cell generation ------------------------------------------------------------------ */

/* exp(x) for x in [-87, 88]: Cody-Waite reduction + cephes expf polynomial, relative error
 * < 1e-7. Pure arithmetic and bit operations (rounding by the 1.5 * 2^23 trick: gcc does not
 * vectorise floorf without -ffast-math), so loops calling it vectorise and every lane computes
 * the scalar result exactly. Outside [-87, 88] the result is meaningless but the computation
 * stays defined (unsigned exponent arithmetic): callers keep arguments in range or discard. */
static inline float fexp_nc(float x) {
    float m = x * 1.44269504088896341f + 12582912.0f; /* round(x / ln 2) + 1.5 * 2^23 */
    float n = m - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    uint32_t mb;
    memcpy(&mb, &m, sizeof mb);
    uint32_t e = (mb - 0x4B400000u + 127u) << 23; /* 2^n as float bits */
    float sc;
    memcpy(&sc, &e, sizeof sc);
    return p * sc;
}

/* Scalar clamped exp for the rare paths. */
static float fexp(float x) {
    if (!(x > -87.0f)) return 1.6458115e-38f; /* exp(-87); also NaN */
    if (x > 88.0f) x = 88.0f;
    return fexp_nc(x);
}

typedef struct {
    float *lam, *uf;
    uint64_t *rw;
    int32_t *k;
    double *e, *u;
} sim_scratch;

static const double inv_k[64] = {
    /* 1/k */
    0.0,      1.0 / 1,  1.0 / 2,  1.0 / 3,  1.0 / 4,  1.0 / 5,  1.0 / 6,  1.0 / 7,
    1.0 / 8,  1.0 / 9,  1.0 / 10, 1.0 / 11, 1.0 / 12, 1.0 / 13, 1.0 / 14, 1.0 / 15,
    1.0 / 16, 1.0 / 17, 1.0 / 18, 1.0 / 19, 1.0 / 20, 1.0 / 21, 1.0 / 22, 1.0 / 23,
    1.0 / 24, 1.0 / 25, 1.0 / 26, 1.0 / 27, 1.0 / 28, 1.0 / 29, 1.0 / 30, 1.0 / 31,
    1.0 / 32, 1.0 / 33, 1.0 / 34, 1.0 / 35, 1.0 / 36, 1.0 / 37, 1.0 / 38, 1.0 / 39,
    1.0 / 40, 1.0 / 41, 1.0 / 42, 1.0 / 43, 1.0 / 44, 1.0 / 45, 1.0 / 46, 1.0 / 47,
    1.0 / 48, 1.0 / 49, 1.0 / 50, 1.0 / 51, 1.0 / 52, 1.0 / 53, 1.0 / 54, 1.0 / 55,
    1.0 / 56, 1.0 / 57, 1.0 / 58, 1.0 / 59, 1.0 / 60, 1.0 / 61, 1.0 / 62, 1.0 / 63,
};

static const float inv_int[8] = {0.0f,     1.0f,     1.0f / 2, 1.0f / 3,
                                 1.0f / 4, 1.0f / 5, 1.0f / 6, 1.0f / 7};

/* n draws of cw_rng_u64's xoshiro256** step with the state in registers (the same sequence as
 * calling cw_rng_u64 n times; the call overhead was 5% of a cell). */
static void fill_u64(cw_rng *r, uint64_t *restrict out, int64_t n) {
    uint64_t s0 = r->s[0], s1 = r->s[1], s2 = r->s[2], s3 = r->s[3];
    for (int64_t i = 0; i < n; i++) {
        uint64_t x = s1 * 5;
        out[i] = ((x << 7) | (x >> 57)) * 9;
        uint64_t t = s1 << 17;
        s2 ^= s0;
        s3 ^= s1;
        s1 ^= s2;
        s0 ^= s3;
        s2 ^= t;
        s3 = (s3 << 45) | (s3 >> 19);
    }
    r->s[0] = s0;
    r->s[1] = s1;
    r->s[2] = s2;
    r->s[3] = s3;
}

/* lam[g] = scale * exp(b_g + phi((u W)_g) + nsd * n_g - nsd^2 / 2) as
 * scale * ebias[g] * noise_tab[s_g] * (c y + 1) / (y + c), y = exp(kappa x): n_g from the sum s_g
 * of the four low bytes of rw[g] (Irwin-Hall, unit variance after centring and scaling).
 * Separate function with restrict parameters: inlined into the OpenMP body gcc does not
 * vectorise it. Range: |uf| <= 40 and sum_k |W_kg| <= 1.5 give |kappa x| <= 79 < 87. */
static void __attribute__((noinline))
rate_kernel(int64_t G, float *restrict lam, const uint64_t *restrict rw, const float *restrict sw,
            const int32_t *restrict sp, const float *restrict uf, const float *restrict ebias,
            const float *restrict noise_tab, float scale) {
    const float kappa = (float)PHI_KAPPA, c = (float)PHI_C;
    for (int64_t g = 0; g < G; g++) {
        float x = sw[g] * uf[sp[g]] + sw[G + g] * uf[sp[G + g]] +
                  sw[2 * G + g] * uf[sp[2 * G + g]];
        uint32_t lo = (uint32_t)rw[g];
        int32_t sb = (int32_t)(lo & 255u) + (int32_t)((lo >> 8) & 255u) +
                     (int32_t)((lo >> 16) & 255u) + (int32_t)(lo >> 24);
        float y = fexp_nc(kappa * x);
        lam[g] = scale * ebias[g] * noise_tab[sb] * ((c * y + 1.0f) / (y + c));
    }
}

/* k[g] = Poisson(lam[g]) quantile of the uniform in the high 24 bits of rw[g] when it is < 8
 * and lam < 10, else -1. Float CDF over 8 terms, branch-free. */
static void __attribute__((noinline))
poisson_kernel(int64_t G, int32_t *restrict kk, const float *restrict lam,
               const uint64_t *restrict rw) {
    for (int64_t g = 0; g < G; g++) {
        float l = lam[g];
        float uu = ((float)(int32_t)(rw[g] >> 40) + 0.5f) * 0x1.0p-24f;
        float p = fexp_nc(-l), c = p; /* garbage for l > 87: discarded below */
        int32_t k = 0;
        for (int j = 1; j < 8; j++) {
            k += uu >= c;
            p *= l * inv_int[j];
            c += p;
        }
        k += uu >= c;
        kk[g] = (k == 8 || l >= 10.0f) ? -1 : k;
    }
}

/* log k! for k > 1023 (Stirling series at k + 1; the table covers smaller k). */
static double log_factorial_big(int64_t k) {
    double x = (double)k + 1.0, r = 1.0 / x, r2 = r * r;
    return (x - 0.5) * log(x) - x + 0.91893853320467274178 +
           r * (1.0 / 12 - r2 * (1.0 / 360 - r2 / 1260));
}

/* Poisson(lambda) for lambda >= 10: PTRS (Hormann 1993), the algorithm of cw_rng_poisson, with
 * log(lambda) and log k! (a per-simulation table) computed only on the rare rejection path;
 * the eager log and lgamma were 6% of a cell. No lgamma, so no signgam race between threads. */
static int64_t poisson_ptrs(cw_rng *r, double lambda, const double *logfact) {
    const double slam = sqrt(lambda);
    const double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    const double vr = 0.9277 - 3.6224 / (b - 2.0);
    double loglam = 0.0, loginvalpha = 0.0;
    int have_logs = 0;
    for (;;) {
        double u = cw_rng_uniform(r) - 0.5, v = cw_rng_uniform(r);
        double us = 0.5 - fabs(u);
        if (!(us > 0.0)) continue;
        if (us >= 0.07 && v <= vr) return (int64_t)floor((2.0 * a / us + b) * u + lambda + 0.43);
        if (us < 0.013 && v > us) continue;
        double kf = floor((2.0 * a / us + b) * u + lambda + 0.43);
        if (kf < 0.0 || kf > 9e18) continue;
        int64_t k = (int64_t)kf;
        if (!have_logs) {
            loglam = log(lambda);
            loginvalpha = log(1.1239 + 1.1328 / (b - 3.4));
            have_logs = 1;
        }
        double lf = k < LOGFACT_N ? logfact[k] : log_factorial_big(k);
        if (log(v) + loginvalpha - log(a / (us * us) + b) <= -lambda + kf * loglam - lf) return k;
    }
}

/* One cell: its nonzero (column, value) pairs into idx/val (capacity G); returns nnz. raw = 1
 * stores counts, else log1p(count * 1e4 / total). *total = total counts; latent (Z) optional. */
static int64_t sim_cell(const cw_sim *s, int64_t cell, sim_scratch *w, int32_t *idx, float *val,
                        int raw, double *total_out, double *latent) {
    const int64_t Z = s->n_programs, G = s->n_genes;
    cw_rng r;
    cw_rng_substream(&r, s->opts.seed, (uint64_t)cell);
    const int64_t grp = cw_sim_cell_group(s, cell);
    double *e = w->e, *u = w->u;
    for (int64_t j = 0; j < Z; j++) e[j] = cw_rng_normal(&r);
    for (int q = 0; q < 2; q++) {
        int64_t t = s->group_target[2 * grp + q];
        if (t >= 0) e[s->target_program[t]] += s->target_shift[t];
    }
    const int nonlin = s->opts.mechanism == CW_SIM_NONLINEAR;
    for (int64_t si = 0; si < Z; si++) {
        int64_t j = s->topo_order[si];
        double acc = e[j];
        for (int64_t k = s->parent_ptr[j]; k < s->parent_ptr[j + 1]; k++) {
            double pu = u[s->parent_idx[k]];
            acc += s->parent_w[k] * (nonlin ? tanh(pu) : pu);
        }
        u[j] = acc;
    }
    for (int64_t j = 0; j < Z; j++) /* clip (never active in practice): keeps exp in range */
        w->uf[j] = (float)(u[j] > 40.0 ? 40.0 : (u[j] < -40.0 ? -40.0 : u[j]));
    if (latent)
        for (int64_t j = 0; j < Z; j++) latent[j] = u[j];
    const double lsd = s->opts.library_sd;
    double lib = s->opts.library_size * exp(lsd * cw_rng_normal(&r) - 0.5 * lsd * lsd);
    const float scale = (float)(lib / s->rate_norm);
    fill_u64(&r, w->rw, G);

    /* log-rates and Poisson means (vectorised) */
    rate_kernel(G, w->lam, w->rw, s->slot_w, s->slot_prog, w->uf, s->ebias_f, s->noise_tab,
                scale);
    float *lam = w->lam;
    const uint64_t *rw = w->rw;
    if (s->opts.nb_theta > 0.0) { /* gamma-Poisson: negative binomial with dispersion 1/theta */
        const double th = s->opts.nb_theta;
        for (int64_t g = 0; g < G; g++) lam[g] *= (float)(cw_rng_gamma(&r, th) / th);
    }
    /* Poisson by inversion against the first 8 CDF terms, branch-free (vectorised); -1 marks
     * the tail (count >= 8) and lambda >= 10 for the exact pass below. */
    int32_t *kk = w->k;
    poisson_kernel(G, kk, lam, rw);
    /* the exact tail, compacting nonzero (gene, count) pairs in place: n <= g */
    int64_t total = 0, n = 0;
    for (int64_t g = 0; g < G; g++) {
        int32_t k = kk[g];
        if (k < 0) {
            double l = lam[g];
            if (l < 10.0) { /* sequential search in double */
                double uu = ((double)(rw[g] >> 40) + 0.5) * 0x1.0p-24;
                double p = (double)fexp(-lam[g]), c = p;
                k = 0;
                while (uu >= c && k < 1000) {
                    k++;
                    p *= l * (k < 64 ? inv_k[k] : 1.0 / k);
                    c += p;
                }
            } else {
                int64_t k64 = poisson_ptrs(&r, l, s->logfact);
                k = k64 > INT32_MAX ? INT32_MAX : (int32_t)k64;
            }
        }
        idx[n] = (int32_t)g;
        kk[n] = k;
        n += k != 0;
        total += k;
    }
    *total_out = (double)total;
    if (raw) {
        for (int64_t i = 0; i < n; i++) val[i] = (float)kk[i];
        return n;
    }
    /* log1p(count * 1e4 / total): a table for small counts (vectorised gather), then the rest */
    float tab[MAX_LOG1P_TAB + 1];
    const double sc = n > 0 ? 1e4 / (double)total : 0.0;
    tab[0] = 0.0f;
    for (int j = 1; j <= MAX_LOG1P_TAB; j++) tab[j] = (float)log1p((double)j * sc);
    for (int64_t i = 0; i < n; i++) val[i] = tab[kk[i] <= MAX_LOG1P_TAB ? kk[i] : 0];
    for (int64_t i = 0; i < n; i++)
        if (kk[i] > MAX_LOG1P_TAB) val[i] = (float)log1p((double)kk[i] * sc);
    return n;
}

/* Block generator: per-thread scratch, rows written at stride G, then packed into blk. */
typedef struct {
    int nt;
    int64_t rows_cap;
    sim_scratch *thr;
    void *thr_mem;
    int32_t *slot_idx;
    float *slot_val;
    int64_t *row_nnz;
    cw_csr blk[2];      /* double buffer (one may be with the I/O thread); indptr rows_cap + 1 */
    int64_t blk_cap[2]; /* entries */
} sim_gen;

static void gen_free(sim_gen *g) {
    cw_free(g->thr);
    cw_free(g->thr_mem);
    cw_free(g->slot_idx);
    cw_free(g->slot_val);
    cw_free(g->row_nnz);
    for (int b = 0; b < 2; b++) {
        cw_free(g->blk[b].indptr);
        cw_free(g->blk[b].indices);
        cw_free(g->blk[b].data);
    }
    memset(g, 0, sizeof *g);
}

static int64_t auto_block_rows(const cw_sim *s) {
    if (s->opts.block_rows > 0) return s->opts.block_rows;
    int64_t b = (INT64_C(1) << 21) / s->n_genes;
    if (b < 64) b = 64;
    return b;
}

static cw_status gen_init(const cw_sim *s, int64_t rows_cap, sim_gen *g) {
    memset(g, 0, sizeof *g);
    const int64_t G = s->n_genes, Z = s->n_programs;
    g->nt = s->opts.threads > 0 ? s->opts.threads : omp_get_max_threads();
    g->rows_cap = rows_cap;
    int oom = 0;
    size_t per = (size_t)G * (sizeof(float) + sizeof(uint64_t) + sizeof(int32_t)) +
                 (size_t)Z * (2 * sizeof(double) + sizeof(float)) + 64;
    g->thr = xalloc((size_t)g->nt, sizeof *g->thr, &oom);
    g->thr_mem = xalloc((size_t)g->nt, per, &oom);
    g->slot_idx = xalloc((size_t)rows_cap * (size_t)G, sizeof(int32_t), &oom);
    g->slot_val = xalloc((size_t)rows_cap * (size_t)G, sizeof(float), &oom);
    g->row_nnz = xalloc((size_t)rows_cap, sizeof(int64_t), &oom);
    for (int b = 0; b < 2; b++) { /* never NULL, even for a block without entries */
        g->blk[b].indptr = xalloc((size_t)rows_cap + 1, sizeof(int64_t), &oom);
        g->blk[b].indices = xalloc(1, sizeof(int32_t), &oom);
        g->blk[b].data = xalloc(1, sizeof(float), &oom);
        g->blk_cap[b] = 1;
    }
    if (oom) {
        gen_free(g);
        return cw_fail(CW_ENOMEM, "simulate: out of memory for a block of %lld cells x %lld genes",
                       (long long)rows_cap, (long long)G);
    }
    for (int t = 0; t < g->nt; t++) { /* carve: uint64 first for alignment */
        char *m = (char *)g->thr_mem + (size_t)t * per;
        sim_scratch *w = &g->thr[t];
        w->rw = (uint64_t *)m;
        m += (size_t)G * sizeof(uint64_t);
        w->e = (double *)m;
        m += (size_t)Z * sizeof(double);
        w->u = (double *)m;
        m += (size_t)Z * sizeof(double);
        w->lam = (float *)m;
        m += (size_t)G * sizeof(float);
        w->uf = (float *)m;
        m += (size_t)Z * sizeof(float);
        w->k = (int32_t *)m;
    }
    return CW_OK;
}

/* The block steps below are OpenMP worksharing constructs without their own parallel region
 * ("orphaned"): every thread of the enclosing team calls them in the same order (outside a
 * parallel region they run on the calling thread alone). Messages of failures inside a team
 * are per thread, so they travel in team_err. */
typedef struct {
    cw_status st;
    char msg[1024];
} team_err;

static void team_err_set(team_err *e, cw_status st) {
    if (st == CW_OK || e->st != CW_OK) return;
    e->st = st;
    snprintf(e->msg, sizeof e->msg, "%s", cw_errmsg());
}

static cw_status team_err_raise(const team_err *e) {
    return e->st == CW_OK ? CW_OK : cw_fail(e->st, "%s", e->msg);
}

/* Worksharing: cells [row0, row0 + n) into the row slots. */
static void gen_cells_ws(const cw_sim *s, sim_gen *g, int64_t row0, int64_t n, int raw,
                         double *n_counts, double *latent) {
    const int64_t G = s->n_genes, Z = s->n_programs;
#pragma omp for schedule(dynamic, 4)
    for (int64_t i = 0; i < n; i++) {
        sim_scratch *w = &g->thr[omp_get_thread_num()];
        double tot;
        g->row_nnz[i] = sim_cell(s, row0 + i, w, g->slot_idx + i * G, g->slot_val + i * G, raw,
                                 &tot, latent ? latent + i * Z : NULL);
        if (n_counts) n_counts[i] = tot;
    }
}

/* One thread: indptr of blk[b] and its capacity. */
static cw_status pack_prepare(sim_gen *g, int b, int64_t n, int64_t G) {
    cw_csr *blk = &g->blk[b];
    int64_t *ip = blk->indptr;
    ip[0] = 0;
    for (int64_t i = 0; i < n; i++) ip[i + 1] = ip[i] + g->row_nnz[i];
    int64_t nnz = ip[n];
    if (nnz > g->blk_cap[b]) {
        int64_t cap = nnz + nnz / 4 + 1;
        int32_t *ni = cw_realloc(blk->indices, (size_t)cap * sizeof(int32_t));
        if (ni) blk->indices = ni;
        float *nv = ni ? cw_realloc(blk->data, (size_t)cap * sizeof(float)) : NULL;
        if (nv) blk->data = nv;
        if (!ni || !nv)
            return cw_fail(CW_ENOMEM, "simulate: out of memory for a block of %lld entries",
                           (long long)nnz);
        g->blk_cap[b] = cap;
    }
    blk->nrows = n;
    blk->ncols = G;
    blk->nnz = nnz;
    return CW_OK;
}

/* Worksharing: copy the row slots into blk[b]. */
static void pack_rows_ws(sim_gen *g, int b, int64_t n, int64_t G) {
    cw_csr *blk = &g->blk[b];
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        memcpy(blk->indices + blk->indptr[i], g->slot_idx + i * G,
               (size_t)g->row_nnz[i] * sizeof(int32_t));
        memcpy(blk->data + blk->indptr[i], g->slot_val + i * G,
               (size_t)g->row_nnz[i] * sizeof(float));
    }
}

/* Cells [row0, row0 + n) into g->blk[b] (indptr from 0). */
static cw_status gen_block(const cw_sim *s, sim_gen *g, int b, int64_t row0, int64_t n, int raw,
                           double *n_counts, double *latent) {
    CW_ASSERT(n <= g->rows_cap);
    team_err err = {CW_OK, ""};
#pragma omp parallel num_threads(g->nt)
    {
        gen_cells_ws(s, g, row0, n, raw, n_counts, latent);
#pragma omp single
        team_err_set(&err, pack_prepare(g, b, n, s->n_genes));
        if (err.st == CW_OK) pack_rows_ws(g, b, n, s->n_genes);
    }
    return team_err_raise(&err);
}

static cw_status generate_csr_mode(const cw_sim *s, int64_t row0, int64_t nrows, int raw,
                                   cw_csr *out, double *n_counts, double *latent) {
    memset(out, 0, sizeof *out);
    if (row0 < 0 || nrows < 0 || row0 + nrows > s->n_cells)
        return cw_fail(CW_EINVAL, "simulate: rows [%lld, %lld) outside the %lld cells",
                       (long long)row0, (long long)(row0 + nrows), (long long)s->n_cells);
    int64_t B = auto_block_rows(s);
    if (B > nrows) B = nrows > 0 ? nrows : 1;
    sim_gen g;
    CW_TRY(gen_init(s, B, &g));
    cw_status st = CW_OK;
    int64_t cap = 0;
    out->indptr = cw_calloc((size_t)nrows + 1, sizeof(int64_t));
    if (!out->indptr) {
        st = cw_fail(CW_ENOMEM, "simulate: out of memory");
        goto done;
    }
    out->nrows = nrows;
    out->ncols = s->n_genes;
    for (int64_t b0 = 0; b0 < nrows; b0 += B) {
        int64_t n = nrows - b0 < B ? nrows - b0 : B;
        st = gen_block(s, &g, 0, row0 + b0, n, raw, n_counts ? n_counts + b0 : NULL,
                       latent ? latent + b0 * s->n_programs : NULL);
        if (st != CW_OK) goto done;
        int64_t need = out->nnz + g.blk[0].nnz;
        if (need > cap) {
            int64_t nc = need + need / 2 + 1;
            int32_t *ni = cw_realloc(out->indices, (size_t)nc * sizeof(int32_t));
            if (ni) out->indices = ni;
            float *nv = ni ? cw_realloc(out->data, (size_t)nc * sizeof(float)) : NULL;
            if (nv) out->data = nv;
            if (!ni || !nv) {
                st =
                    cw_fail(CW_ENOMEM, "simulate: out of memory for %lld entries", (long long)need);
                goto done;
            }
            cap = nc;
        }
        if (g.blk[0].nnz > 0) {
            memcpy(out->indices + out->nnz, g.blk[0].indices,
                   (size_t)g.blk[0].nnz * sizeof(int32_t));
            memcpy(out->data + out->nnz, g.blk[0].data, (size_t)g.blk[0].nnz * sizeof(float));
        }
        for (int64_t i = 0; i < n; i++) out->indptr[b0 + i + 1] = out->nnz + g.blk[0].indptr[i + 1];
        out->nnz = need;
    }
    if (!out->indices) { /* nothing generated: keep the container valid */
        out->indices = cw_malloc(sizeof(int32_t));
        out->data = cw_malloc(sizeof(float));
        if (!out->indices || !out->data) st = cw_fail(CW_ENOMEM, "simulate: out of memory");
    }
done:
    gen_free(&g);
    if (st != CW_OK) cw_csr_free(out);
    return st;
}

cw_status cw_sim_generate_csr(const cw_sim *s, int64_t row0, int64_t nrows, cw_csr *out,
                              double *n_counts, double *latent) {
    return generate_csr_mode(s, row0, nrows, 0, out, n_counts, latent);
}

cw_status cw_sim_generate_dense(const cw_sim *s, int64_t row0, int64_t nrows, int normalized,
                                float *out, double *n_counts, double *latent) {
    cw_csr m;
    CW_TRY(generate_csr_mode(s, row0, nrows, !normalized, &m, n_counts, latent));
    cw_csr_rows_to_dense(&m, 0, nrows, out);
    cw_csr_free(&m);
    return CW_OK;
}

/* ---- graph files ---------------------------------------------------------------------------- */

static cw_status graph_write_files(const cw_sim *s, const char *gmt, const char *ppi,
                                   const char *rel) {
    const char *paths[3] = {gmt, ppi, rel};
    for (int f = 0; f < 3; f++) {
        FILE *fp = fopen(paths[f], "w");
        if (!fp) return cw_fail(CW_EIO, "%s: cannot open for writing: %s", paths[f], strerror(errno));
        int bad = 0;
        if (f == 0) {
            for (int64_t p = 0; p < s->n_pathways && !bad; p++) {
                bad |= fprintf(fp, "%s\t%s", s->pathway_names.s[p], s->pathway_ids.s[p]) < 0;
                for (int64_t k = s->pathway_ptr[p]; k < s->pathway_ptr[p + 1]; k++)
                    bad |= fprintf(fp, "\t%s", s->gene_symbols.s[s->pathway_genes[k]]) < 0;
                bad |= fputc('\n', fp) == EOF;
            }
        } else if (f == 1) {
            for (int64_t i = 0; i < s->n_ppi && !bad; i++)
                bad |= fprintf(fp, "%s %s\n", s->gene_symbols.s[s->ppi[2 * i]],
                               s->gene_symbols.s[s->ppi[2 * i + 1]]) < 0;
        } else {
            for (int64_t i = 0; i < s->n_relations && !bad; i++)
                bad |= fprintf(fp, "%s\t%s\n", s->pathway_ids.s[s->relations[2 * i]],
                               s->pathway_ids.s[s->relations[2 * i + 1]]) < 0;
        }
        bad |= fclose(fp) != 0;
        if (bad) return cw_fail(CW_EIO, "%s: write failed", paths[f]);
    }
    return CW_OK;
}

static char *tmp_name(const char *path) {
    char suffix[48];
    snprintf(suffix, sizeof suffix, ".tmp-%ld", (long)getpid());
    return str_concat(path, strlen(path), suffix);
}

cw_status cw_sim_write_graph(const cw_sim *s, const char *gmt, const char *ppi,
                             const char *relations) {
    const char *fin[3] = {gmt, ppi, relations};
    char *tmp[3] = {tmp_name(gmt), tmp_name(ppi), tmp_name(relations)};
    cw_status st = CW_OK;
    if (!tmp[0] || !tmp[1] || !tmp[2]) st = cw_fail(CW_ENOMEM, "out of memory");
    if (st == CW_OK) st = graph_write_files(s, tmp[0], tmp[1], tmp[2]);
    for (int f = 0; f < 3 && st == CW_OK; f++)
        if (rename(tmp[f], fin[f]) != 0)
            st = cw_fail(CW_EIO, "%s: cannot rename from %s", fin[f], tmp[f]);
    for (int f = 0; f < 3; f++) {
        if (tmp[f]) remove(tmp[f]); /* no-op after a successful rename */
        cw_free(tmp[f]);
    }
    return st;
}

/* ---- the writer ----------------------------------------------------------------------------- */

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static cw_status write_string_column(cw_column *c, const char *name, const cw_strings *v) {
    memset(c, 0, sizeof *c);
    c->name = cw_strdup(name);
    if (!c->name) return cw_fail(CW_ENOMEM, "out of memory");
    c->kind = CW_COL_STRING;
    c->n = v->n;
    CW_TRY(cw_strings_alloc(&c->values, v->n));
    for (int64_t i = 0; i < v->n; i++) CW_TRY(cw_strings_set(&c->values, i, v->s[i]));
    return CW_OK;
}

static cw_status write_obs_var(cw_h5ad_writer *w, const cw_sim *s, const double *n_counts) {
    cw_status st = CW_OK;
    cw_strings idx = {0}, guides = {0}, ptype = {0};
    cw_column cols[3];
    memset(cols, 0, sizeof cols);
    const int64_t N = s->n_cells;
    int wd = ndigits(N) > 5 ? ndigits(N) : 5;
    char buf[64];
    if ((st = cw_strings_alloc(&idx, N)) != CW_OK) goto done;
    if ((st = cw_strings_alloc(&guides, N)) != CW_OK) goto done;
    if ((st = cw_strings_alloc(&ptype, N)) != CW_OK) goto done;
    for (int64_t c = 0; c < N && st == CW_OK; c++) {
        padded_name(buf, sizeof buf, "cell", wd, c + 1);
        st = cw_strings_set(&idx, c, buf);
        int64_t g = cw_sim_cell_group(s, c);
        if (st == CW_OK) st = cw_strings_set(&guides, c, s->group_labels.s[g]);
        if (st == CW_OK)
            st = cw_strings_set(&ptype, c,
                                g == 0 ? "control" : (g <= s->n_targets ? "single" : "double"));
    }
    if (st != CW_OK) goto done;
    if ((st = cw_column_categorical(&cols[0], "guide_ids", &guides)) != CW_OK) goto done;
    if ((st = cw_column_numeric(&cols[1], "n_counts", n_counts, N, 1)) != CW_OK) goto done;
    if ((st = cw_column_categorical(&cols[2], "perturbation_type", &ptype)) != CW_OK) goto done;
    if ((st = cw_h5ad_write_dataframe(w, "obs", &idx, cols, 3)) != CW_OK) goto done;
    for (int i = 0; i < 3; i++) cw_column_free(&cols[i]);
    memset(cols, 0, sizeof cols);
    if ((st = write_string_column(&cols[0], "gene_symbols", &s->gene_symbols)) != CW_OK) goto done;
    st = cw_h5ad_write_dataframe(w, "var", &s->gene_names, cols, 1);
done:
    for (int i = 0; i < 3; i++) cw_column_free(&cols[i]);
    cw_strings_free(&idx);
    cw_strings_free(&guides);
    cw_strings_free(&ptype);
    return st;
}

static cw_status write_uns(cw_h5ad_writer *w, const cw_sim *s, const cw_sim_options *o) {
    const int64_t Z = s->n_programs, G = s->n_genes, T = s->n_targets;
    CW_TRY(cw_h5ad_write_uns_doubles(w, "causeway_truth/dag", s->dag, Z, Z));
    CW_TRY(cw_h5ad_write_uns_int64s(w, "causeway_truth/topological_order", s->topo_order, Z, 0));
    CW_TRY(cw_h5ad_write_uns_strings(w, "causeway_truth/target_names", &s->target_names));
    CW_TRY(cw_h5ad_write_uns_int64s(w, "causeway_truth/target_program", s->target_program, T, 0));
    CW_TRY(cw_h5ad_write_uns_doubles(w, "causeway_truth/target_shift", s->target_shift, T, 0));
    CW_TRY(cw_h5ad_write_uns_doubles(w, "causeway_truth/loadings", s->loadings, Z, G));
    CW_TRY(cw_h5ad_write_uns_doubles(w, "causeway_truth/gene_bias", s->gene_bias, G, 0));
    CW_TRY(cw_h5ad_write_uns_int64s(w, "causeway_truth/gene_program", s->gene_program, G, 0));
    CW_TRY(cw_h5ad_write_uns_string(w, "causeway_truth/mechanism",
                                    cw_sim_mechanism_name(s->opts.mechanism)));
    CW_TRY(cw_h5ad_write_uns_double(w, "causeway_truth/rate_norm", s->rate_norm));
    CW_TRY(cw_h5ad_write_uns_double(w, "causeway_truth/library_size", s->opts.library_size));
    {
        cw_strings combos;
        CW_TRY(cw_strings_alloc(&combos, s->n_combinations));
        cw_status st = CW_OK;
        for (int64_t c = 0; c < s->n_combinations && st == CW_OK; c++)
            st = cw_strings_set(&combos, c, s->group_labels.s[1 + T + c]);
        if (st == CW_OK) st = cw_h5ad_write_uns_strings(w, "causeway_truth/combinations", &combos);
        cw_strings_free(&combos);
        CW_TRY(st);
    }
    CW_TRY(cw_h5ad_write_uns_strings(w, "causeway_truth/pathway_ids", &s->pathway_ids));
    CW_TRY(cw_h5ad_write_uns_int64s(w, "causeway_truth/pathway_program", s->pathway_program,
                                    s->n_pathways, 0));
    CW_TRY(cw_h5ad_write_uns_string(w, "causeway/command", "simulate"));
    CW_TRY(cw_h5ad_write_uns_string(w, "causeway/version", CW_VERSION));
    CW_TRY(cw_h5ad_write_uns_int(w, "causeway/seed", (int64_t)o->seed));
    char *json = NULL;
    CW_TRY(cw_sim_options_json(o, &json));
    cw_status st = cw_h5ad_write_uns_string(w, "causeway/config", json);
    cw_free(json);
    return st;
}

cw_status cw_simulate_write(const cw_sim_options *o, const char *out_path,
                            cw_sim_progress_fn progress, void *progress_ctx,
                            cw_sim_report *report) {
    const double t0 = now_seconds();
    cw_sim *s = NULL;
    cw_h5ad_writer *w = NULL;
    char *paths[3] = {NULL, NULL, NULL}, *tmps[3] = {NULL, NULL, NULL};
    double *n_counts = NULL;
    cw_dmat latent = {0};
    int64_t *row_group = NULL;
    sim_gen g;
    memset(&g, 0, sizeof g);
    cw_deg_accum acc;
    memset(&acc, 0, sizeof acc);
    cw_deg_table deg;
    memset(&deg, 0, sizeof deg);
    int have_deg = 0;
    int64_t nnz = 0;
    cw_status st;
    if (report) memset(report, 0, sizeof *report);

    if ((st = cw_sim_create(o, &s)) != CW_OK) goto fail;
    const int64_t N = s->n_cells, G = s->n_genes, Z = s->n_programs;
    /* the writer checks the output directory: open it before any file is written */
    if ((st = cw_h5ad_writer_open(out_path, o->gzip_level, &w)) != CW_OK) goto fail;
    if (o->write_graph) {
        if ((st = cw_sim_graph_paths(o, out_path, &paths[0], &paths[1], &paths[2])) != CW_OK)
            goto fail;
        for (int f = 0; f < 3; f++)
            if (!(tmps[f] = tmp_name(paths[f]))) {
                st = cw_fail(CW_ENOMEM, "out of memory");
                goto fail;
            }
        if ((st = graph_write_files(s, tmps[0], tmps[1], tmps[2])) != CW_OK) goto fail;
    }
    const int64_t B = auto_block_rows(s) < N ? auto_block_rows(s) : N;
    n_counts = cw_malloc_array((size_t)N, sizeof(double));
    row_group = cw_malloc_array((size_t)B, sizeof(int64_t));
    if (!n_counts || !row_group) {
        st = cw_fail(CW_ENOMEM, "simulate: out of memory for %lld cells", (long long)N);
        goto fail;
    }
    if ((st = cw_dmat_alloc(&latent, N, Z)) != CW_OK) goto fail;
    if ((st = cw_deg_accum_init(&acc, s->n_groups, G)) != CW_OK) goto fail;
    if ((st = gen_init(s, B, &g)) != CW_OK) goto fail;
    if ((st = cw_h5ad_write_x_csr_begin(w, N, G)) != CW_OK) goto fail;
    /* Pipeline: in the team that generates block k, one thread first appends block k - 1
     * (single nowait), then joins the dynamically scheduled cells; the last iteration only
     * appends. Blocks alternate between two buffers. */
    const int64_t nblocks = (N + B - 1) / B;
    for (int64_t k = 0; k <= nblocks; k++) {
        const int b = (int)(k & 1);
        const int64_t r0 = k * B, n = k < nblocks ? (N - r0 < B ? N - r0 : B) : 0;
        for (int64_t i = 0; i < n; i++) row_group[i] = cw_sim_cell_group(s, r0 + i);
        team_err err = {CW_OK, ""}, io_err = {CW_OK, ""};
#pragma omp parallel num_threads(g.nt)
        {
#pragma omp single nowait
            if (k > 0) team_err_set(&io_err, cw_h5ad_write_x_csr_append(w, &g.blk[1 - b]));
            if (n > 0) {
                gen_cells_ws(s, &g, r0, n, 0, n_counts + r0, latent.data + r0 * Z);
#pragma omp single
                team_err_set(&err, pack_prepare(&g, b, n, G));
                if (err.st == CW_OK) {
                    pack_rows_ws(&g, b, n, G);
                    cw_deg_accum_add_csr_ws(&acc, &g.blk[b], row_group);
                }
            }
        }
        if ((st = team_err_raise(&io_err)) != CW_OK) goto fail;
        if ((st = team_err_raise(&err)) != CW_OK) goto fail;
        if (n > 0) {
            nnz += g.blk[b].nnz;
            if (progress) progress(r0 + n, N, progress_ctx);
        }
    }
    if ((st = cw_h5ad_write_x_csr_end(w)) != CW_OK) goto fail;
    gen_free(&g);
    if ((st = write_obs_var(w, s, n_counts)) != CW_OK) goto fail;
    if ((st = cw_h5ad_write_obsm(w, "X_truth_latent", &latent)) != CW_OK) goto fail;
    if ((st = cw_deg_accum_finalize(&acc, 0, &s->group_labels, &s->gene_names, o->deg_top_n,
                                    &deg)) != CW_OK)
        goto fail;
    have_deg = 1;
    if ((st = cw_h5ad_write_deg_table(w, &deg, "guide_ids", "", "t-test")) != CW_OK) goto fail;
    if ((st = write_uns(w, s, o)) != CW_OK) goto fail;
    st = cw_h5ad_writer_commit(w);
    w = NULL;
    if (st != CW_OK) goto fail;
    for (int f = 0; f < 3 && o->write_graph; f++)
        if (rename(tmps[f], paths[f]) != 0) {
            st = cw_fail(CW_EIO, "%s: cannot rename from %s", paths[f], tmps[f]);
            goto fail;
        }
    if (report) {
        report->n_cells = N;
        report->n_genes = G;
        report->n_groups = s->n_groups;
        report->nnz = nnz;
        report->zero_fraction = 1.0 - (double)nnz / ((double)N * (double)G);
        report->seconds = now_seconds() - t0;
        report->cells_per_second = report->seconds > 0 ? (double)N / report->seconds : 0.0;
    }
    goto cleanup;
fail:
    if (w) cw_h5ad_writer_abort(w);
cleanup:
    for (int f = 0; f < 3; f++) {
        if (tmps[f]) remove(tmps[f]); /* no-op once renamed */
        cw_free(tmps[f]);
        cw_free(paths[f]);
    }
    gen_free(&g);
    if (have_deg) cw_deg_table_free(&deg);
    cw_deg_accum_free(&acc);
    cw_dmat_free(&latent);
    cw_free(n_counts);
    cw_free(row_group);
    cw_sim_free(s);
    return st;
}
