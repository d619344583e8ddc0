/* cmd_bench_train.c: `causeway bench train --model cmvae|grace ...`: times full training steps
 * (cw_cmvae_train_step: forward, backward, Adam; schedule alpha 1, beta 1, tau 1) on seeded
 * random data, after an untimed validation step (finite loss) and warm-up steps. Prints the
 * context (threads, OpenBLAS core, commit), median / p10 / p90 ms per step, cells/s
 * (B / median), GFLOP/s from the explicit count below (STYLE.md "Benchmarks"), optionally the
 * fraction of the sgemm peak measured in the same run (--peak), and the share of the step's
 * phases (issue #6 items 1 and 3).
 *
 * grace runs GraCE-VAE with the default encoder (1-layer SAGE, --gnn to change) on a random
 * context graph of --nodes nodes and --edges directed edges (cli_bench_random_graph; --size
 * norman: 7,694 nodes, 63,380 directed edges; replogle: 11,000 and 360,000).
 *
 * FLOPs of one step (2 per multiply-add; GEMMs, the DAG triangular solves and the GNN's SpMM and
 * per-node products only, counted from the kernels in nn/linear.c, nn/mmd.c, nn/dag.c,
 * nn/graph_conv.c, models/gnn_encoder.c; elementwise work, softmax, kernel sums and Adam are
 * not counted):
 *   forward   fc1 2BGH; fc_mean + fc_var 2 * 2BHZ; c2 (one row) 2HZ;
 *             DAG solve for u_int and u_obs 2 * B Z(Z-1);
 *             decoder twice 2 * (2BZH + 2BHG);
 *             MMD Gram blocks x x^T, y y^T, x y^T 3 * 2B^2 G          = 6BGH + 8BHZ + 2HZ
 *                                                                     + 2BZ(Z-1) + 6B^2 G
 *   backward  MMD d y_hat: p_xx x + p_xy y 2 * 2B^2 G;
 *             decoder twice 2 * (d2: 2 * 2BGH, d1: 2 * 2BHZ);
 *             DAG twice 2 * (solve B Z(Z-1) + dG B Z(Z-1));
 *             c2 (one row) 2 * 2HZ; fc_mean + fc_var 2 * 2 * 2BHZ;
 *             fc1 weight only (no input gradient) 2BGH               = 10BGH + 16BHZ + 4HZ
 *                                                                     + 4BZ(Z-1) + 4B^2 G
 *   cmvae     16BGH + 24BHZ + 6HZ + 6BZ(Z-1) + 10B^2 G
 *   sparse x  cmvae reads its batch as CSR (cw_cmvae_set_x_csr) where the trainer would (its
 *             stored fraction, --density, below CW_CMVAE_CSR_MAX_FRACTION) or with
 *             --csr-input: fc1 forward and weight gradient visit the stored entries only,
 *             2 nnz H each instead of 2BGH each: cmvae - 4BGH + 4 nnz H
 *   grace     cmvae + fc1 input gradient 2BGH (it feeds the GNN)
 *             + SAGE (1 layer, width 1, N nodes, E directed edges): forward SpMM 2BE, lin_l and
 *             lin_r 2 * 2BN; backward lin_l and lin_r weights 2 * 2BN (no input gradient)
 *             = cmvae + 2BGH + 2BE + 8BN            (gcn/gat: the same count is printed)
 *
 * Phase shares: during the timed steps the model's own marks (cw_cmvae_prof, models/cmvae.h)
 * time every stretch of each step and add it to its phase: encoder, gnn (grace), sample (noise
 * draws, reparameterisation), intervention, dag, decoder, mmd, losses (MSE, KL, L1, Laplacian,
 * the finite check) and adam, each forward and backward together (comm, the all-reduces, is
 * empty in one process and not shown). Each phase's median over the steps is divided by the
 * step's median; "other" is the step's median minus the phases' medians (the phases cover the
 * whole step, so it is the spread between medians and sums, near 0). The marks only read the
 * clock (about 25 reads a step). FLOPs of the phases with GEMMs or solves:
 *   encoder       fc1 + lrelu, fc_mean, fc_var + softplus, backward     4BGH + 12BHZ (grace +2BGH;
 *                 sparse x: 4 nnz H + 12BHZ)
 *   gnn           cw_gnn_forward + cw_gnn_backward                       2BE + 8BN
 *   intervention  c2 (one row) and its backward                         6HZ
 *   dag           two solves and two backward solves                     6BZ(Z-1)
 *   decoder       d1 + lrelu, d2 + lrelu, twice, and their backward      12BGH + 12BHZ
 *   mmd           cw_mmd_forward + cw_mmd_backward_set_dx (d y_hat)      10B^2 G
 */
#include "cli/cli.h"
#include "cli/cmd_bench_kernels.h"
#include "cli/cmd_extra.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/timer.h"
#include "la/blas_info.h"
#include "models/cmvae.h"
#include "nn/activation.h"
#include "nn/adam.h"
#include "nn/dag.h"
#include "nn/linear.h"
#include "nn/mmd.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void openblas_set_num_threads(int num_threads);

/* ---- shared with bench kernels / bench all ------------------------------------------------ */

int cli_bench_size_lookup(const char *name, cli_bench_size *out) {
    static const cli_bench_size sizes[] = {
        {"tiny", 50, 6, 8, 4, 80, 400},
        {"norman", 5000, 105, 128, 32, 7694, 63380},
        {"replogle", 8563, 414, 128, 32, 11000, 360000},
    };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (strcmp(name, sizes[i].name) == 0) {
            *out = sizes[i];
            return 0;
        }
    return -1;
}

static int cmp_u64(const void *a, const void *b) {
    const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

cw_status cli_bench_random_graph(cw_graph *g, int64_t genes, int64_t nodes,
                                 int64_t directed_edges, uint64_t seed) {
    memset(g, 0, sizeof *g);
    const int64_t want = directed_edges / 2;
    if (genes < 1 || nodes < genes || nodes > INT32_MAX || want < 0 ||
        (double)want > (double)nodes * (double)(nodes - 1) / 2)
        return cw_fail(CW_EINVAL, "random graph: need 1 <= genes <= nodes < 2^31 and at most "
                       "nodes (nodes - 1) / 2 undirected edges (genes %lld, nodes %lld, edges "
                       "%lld)", (long long)genes, (long long)nodes, (long long)want);
    uint64_t *key = cw_malloc_array((size_t)(want > 0 ? want : 1), sizeof(uint64_t));
    int64_t *indptr = cw_calloc((size_t)(nodes + 1), sizeof(int64_t));
    int32_t *indices = cw_malloc_array((size_t)(2 * want > 0 ? 2 * want : 1), sizeof(int32_t));
    int64_t *fill = cw_calloc((size_t)nodes, sizeof(int64_t));
    if (!key || !indptr || !indices || !fill) {
        cw_free(key);
        cw_free(indptr);
        cw_free(indices);
        cw_free(fill);
        return cw_fail(CW_ENOMEM, "random graph: out of memory for %lld edges", (long long)want);
    }
    cw_rng r;
    cw_rng_substream(&r, seed, CW_RNG_STREAM_GRAPH);
    /* draw pairs a < b as keys a N + b; sort, deduplicate, draw the missing ones again */
    int64_t have = 0;
    while (have < want) {
        for (int64_t i = have; i < want; i++) {
            int64_t a, b;
            do {
                a = cw_rng_below(&r, nodes);
                b = cw_rng_below(&r, nodes);
            } while (a == b);
            if (a > b) {
                const int64_t t = a;
                a = b;
                b = t;
            }
            key[i] = (uint64_t)a * (uint64_t)nodes + (uint64_t)b;
        }
        qsort(key, (size_t)want, sizeof(uint64_t), cmp_u64);
        have = 0;
        for (int64_t i = 0; i < want; i++)
            if (have == 0 || key[i] != key[have - 1]) key[have++] = key[i];
    }
    for (int64_t i = 0; i < want; i++) {
        indptr[key[i] / (uint64_t)nodes + 1]++;
        indptr[key[i] % (uint64_t)nodes + 1]++;
    }
    for (int64_t v = 0; v < nodes; v++) indptr[v + 1] += indptr[v];
    /* keys in (a, b) order: row v receives its b < v neighbours (from keys (b, v)) before its
     * b > v ones, each in increasing order, so rows come out sorted */
    for (int64_t i = 0; i < want; i++) {
        const int64_t a = (int64_t)(key[i] / (uint64_t)nodes), b = (int64_t)(key[i] % (uint64_t)nodes);
        indices[indptr[a] + fill[a]++] = (int32_t)b;
        indices[indptr[b] + fill[b]++] = (int32_t)a;
    }
    cw_free(key);
    cw_free(fill);
    g->n_genes = genes;
    g->n_pathways = nodes - genes;
    g->n_nodes = nodes;
    g->adj.n = nodes;
    g->adj.nnz = 2 * want;
    g->adj.indptr = indptr;
    g->adj.indices = indices;
    g->counts.gene_nodes = genes;
    g->counts.pathway_nodes = nodes - genes;
    g->counts.edges = want;
    g->counts.original_edges = want;
    return CW_OK;
}

double cli_bench_sgemm_peak(int64_t n, double *median_ms) {
    float *a = cw_malloc_array((size_t)(3 * n * n), sizeof(float));
    if (!a) {
        if (median_ms) *median_ms = 0;
        return 0;
    }
    float *b = a + n * n, *c = b + n * n;
    for (int64_t i = 0; i < 2 * n * n; i++) a[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    memset(c, 0, (size_t)(n * n) * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a,
                (int)n, b, (int)n, 0.0f, c, (int)n); /* warm-up */
    double t[200];
    int reps = 0;
    const double start = cw_now();
    while (reps < 200 && (reps < 5 || cw_now() - start < 0.5)) {
        const double t0 = cw_now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, 1.0f, a,
                    (int)n, b, (int)n, 0.0f, c, (int)n);
        t[reps++] = cw_now() - t0;
    }
    const double med = cw_quantile(t, reps, 0.5);
    cw_free(a);
    if (median_ms) *median_ms = med * 1e3;
    return 2.0 * (double)n * (double)n * (double)n / med / 1e9;
}

static double bt_last_median_ms;
double cli_bench_train_last_median_ms(void) { return bt_last_median_ms; }

/* ---- FLOP counts (header comment) ---------------------------------------------------------- */

static double bt_flops(int64_t B, int64_t G, int64_t Z, int64_t H) {
    const double b = (double)B, g = (double)G, z = (double)Z, h = (double)H;
    return 16 * b * g * h + 24 * b * h * z + 6 * h * z + 6 * b * z * (z - 1) + 10 * b * b * g;
}

/* what each phase of the step covers (cw_cmvae_phase) */
static const char *const ph_what[CW_PHASE_N] = {
    "fc1, fc_mean, fc_var (+ act.), fwd + bwd", "GNN encoder (SpMM, SAGE), fwd + bwd",
    "noise draws, reparameterisation, fwd + bwd", "intervention MLP, z + s bc, fwd + bwd",
    "DAG triangular solves, fwd + bwd", "d1, d2 (+ act.) twice, fwd + bwd",
    "MMD Gram blocks + kernel sums, fwd + bwd", "MSE, KL, L1 terms, finite check",
    "all-gather / all-reduce (MPI)", "Adam over all parameters"};

/* FLOPs of a phase (the step's count, header comment); 0: not counted */
static double ph_flops(int ph, const cw_cmvae *m) {
    const double b = (double)m->cfg.batch, g = (double)m->cfg.genes, z = (double)m->cfg.latent,
                 h = (double)m->cfg.hidden;
    switch (ph) {
    case CW_PHASE_ENCODER:
        if (m->x_csr) return 4 * (double)m->x_csr->nnz * h + 12 * b * h * z;
        return 4 * b * g * h + 12 * b * h * z + (m->has_gnn ? 2 * b * g * h : 0);
    case CW_PHASE_GNN:
        return m->has_gnn ? 2 * b * (double)m->gnn.nnz + 8 * b * (double)m->gnn.n_nodes : 0;
    case CW_PHASE_INTERVENTION: return 6 * h * z;
    case CW_PHASE_DAG: return 6 * b * z * (z - 1);
    case CW_PHASE_DECODER: return 12 * b * g * h + 12 * b * h * z;
    case CW_PHASE_MMD: return 10 * b * b * g;
    default: return 0;
    }
}

/* phases a step of this model spends time in (the others are left out of the table) */
static int ph_shown(int ph, const cw_cmvae *m) {
    return (ph != CW_PHASE_GNN || m->has_gnn) && ph != CW_PHASE_COMM;
}

static void bt_help(void) {
    printf("usage: causeway bench train --model cmvae|grace (--size S | --genes G --latent-dim Z\n"
           "                            --batch-size B) [--hidden H] [--targets C] [--nodes N]\n"
           "                            [--edges E] [--gnn sage|gcn|gat] [--steps N] [--warmup W]\n"
           "                            [--threads T] [--seed S] [--peak] [--no-phases]\n"
           "                            [--density D] [--dense-input | --csr-input] [--json]\n\n"
           "Times N training steps (forward, backward, Adam; alpha 1, beta 1, tau 1) on seeded\n"
           "random data after W warm-up steps and one validation step (loss must be finite).\n"
           "Prints median / p10 / p90 ms per step, cells/s (B / median) and GFLOP/s with\n"
           "FLOPs = 16BGH + 24BHZ + 6HZ + 6BZ(Z-1) + 10B^2G (GEMMs and DAG solves; grace adds\n"
           "2BGH + 2BE + 8BN for the fc1 input gradient and the GNN; cmvae reads its batch as\n"
           "CSR where the trainer would (density below %.0f%%) or with --csr-input, so fc1 and\n"
           "its weight gradient cost 2 nnz H each: - 4BGH + 4 nnz H), then the share of each\n"
           "phase of the step (encoder, gnn, sample, intervention, dag, decoder, mmd, losses,\n"
           "adam), timed inside the timed steps by the model's own marks.\n\n"
           "  --model M        cmvae or grace (GraCE-VAE on a random context graph)\n"
           "  --size S         tiny | norman | replogle: G, Z, H, B, nodes and edges at once\n"
           "                   (norman: 5000, 105, 128, 32, 7694 nodes, 63380 directed edges;\n"
           "                   replogle: 8563, 414, 128, 32, 11000, 360000); flags after it override\n"
           "  --genes G        genes per cell\n"
           "  --latent-dim Z   latent programs\n"
           "  --batch-size B   cells per step\n"
           "  --hidden H       hidden width (128)\n"
           "  --targets C      intervention targets (= Z)\n"
           "  --nodes N        grace: context-graph nodes (G + 2694 * G / 5000 when not given)\n"
           "  --edges E        grace: directed edges (about 8.24 per node when not given)\n"
           "  --gnn K          grace: sage (default), gcn or gat\n"
           "  --steps N        timed steps (50)\n"
           "  --warmup W       untimed warm-up steps (5)\n"
           "  --threads T      OpenMP and OpenBLAS threads (0 = default)\n"
           "  --seed S         seed of the data, graph and model (0)\n"
           "  --peak           also measure the sgemm peak (2048^3) and print the fraction of it\n"
           "  --no-phases      skip the phase shares\n"
           "  --density D      fraction of nonzero values in x and y (0.2)\n"
           "  --dense-input    cmvae: feed fc1 the dense batch whatever the density\n"
           "  --csr-input      cmvae: feed fc1 the CSR batch whatever the density\n"
           "  --json           one JSON object instead of the table\n",
           100.0 * CW_CMVAE_CSR_MAX_FRACTION);
}

int cmd_bench_train(int argc, char **argv) {
    const char *cmd = "bench train";
    const char *model = NULL, *gnn_name = "sage";
    int64_t G = -1, Z = -1, B = -1, H = 128, C = -1, steps = 50, warmup = 5, threads = 0;
    int64_t nodes = -1, edges = -1;
    uint64_t seed = 0;
    int as_json = 0, bad = 0, peak = 0, phases = 1, input_mode = 0; /* 1 dense, 2 CSR */
    double density = 0.2; /* fraction of nonzero inputs */
    enum {
        O_MODEL = 256, O_G, O_Z, O_B, O_H, O_C, O_STEPS, O_WARM, O_THR, O_SEED, O_JSON, O_SIZE,
        O_NODES, O_EDGES, O_GNN, O_PEAK, O_NOPH, O_DENSE, O_CSR, O_DENSITY
    };
    static const struct option opts[] = {{"model", required_argument, 0, O_MODEL},
                                         {"size", required_argument, 0, O_SIZE},
                                         {"genes", required_argument, 0, O_G},
                                         {"latent-dim", required_argument, 0, O_Z},
                                         {"batch-size", required_argument, 0, O_B},
                                         {"hidden", required_argument, 0, O_H},
                                         {"targets", required_argument, 0, O_C},
                                         {"nodes", required_argument, 0, O_NODES},
                                         {"edges", required_argument, 0, O_EDGES},
                                         {"gnn", required_argument, 0, O_GNN},
                                         {"steps", required_argument, 0, O_STEPS},
                                         {"warmup", required_argument, 0, O_WARM},
                                         {"threads", required_argument, 0, O_THR},
                                         {"seed", required_argument, 0, O_SEED},
                                         {"peak", no_argument, 0, O_PEAK},
                                         {"no-phases", no_argument, 0, O_NOPH},
                                         {"dense-input", no_argument, 0, O_DENSE},
                                         {"csr-input", no_argument, 0, O_CSR},
                                         {"density", required_argument, 0, O_DENSITY},
                                         {"json", no_argument, 0, O_JSON},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const int64_t BIG = (int64_t)1 << 24;
    optind = 1;
    int c;
    while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': bt_help(); return 0;
        case O_MODEL: model = optarg; break;
        case O_SIZE: {
            cli_bench_size s;
            if (cli_bench_size_lookup(optarg, &s))
                return cli_error(cmd, "--size: unknown size '%s' (tiny, norman, replogle)",
                                 optarg);
            G = s.genes, Z = s.latent, H = s.hidden, B = s.batch, nodes = s.nodes,
            edges = s.edges;
            break;
        }
        case O_G: bad = cli_parse_i64(cmd, "--genes", optarg, 1, BIG, &G); break;
        case O_Z: bad = cli_parse_i64(cmd, "--latent-dim", optarg, 1, 1 << 16, &Z); break;
        case O_B: bad = cli_parse_i64(cmd, "--batch-size", optarg, 1, 1 << 16, &B); break;
        case O_H: bad = cli_parse_i64(cmd, "--hidden", optarg, 1, 1 << 16, &H); break;
        case O_C: bad = cli_parse_i64(cmd, "--targets", optarg, 1, BIG, &C); break;
        case O_NODES: bad = cli_parse_i64(cmd, "--nodes", optarg, 1, INT32_MAX, &nodes); break;
        case O_EDGES: bad = cli_parse_i64(cmd, "--edges", optarg, 0, (int64_t)1 << 40, &edges); break;
        case O_GNN: gnn_name = optarg; break;
        case O_STEPS: bad = cli_parse_i64(cmd, "--steps", optarg, 1, 1000000, &steps); break;
        case O_WARM: bad = cli_parse_i64(cmd, "--warmup", optarg, 0, 1000000, &warmup); break;
        case O_THR: bad = cli_parse_i64(cmd, "--threads", optarg, 0, 4096, &threads); break;
        case O_SEED: bad = cli_parse_u64(cmd, "--seed", optarg, &seed); break;
        case O_PEAK: peak = 1; break;
        case O_NOPH: phases = 0; break;
        case O_DENSE: input_mode = 1; break;
        case O_CSR: input_mode = 2; break;
        case O_DENSITY: bad = cli_parse_f64(cmd, "--density", optarg, 0, 1, &density); break;
        case O_JSON: as_json = 1; break;
        default: return 2;
        }
    }
    if (bad) return 2;
    if (optind != argc) return cli_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model) return cli_error(cmd, "--model is required (available: cmvae, grace)");
    const int grace = strcmp(model, "grace") == 0;
    if (!grace && strcmp(model, "cmvae") != 0)
        return cli_error(cmd, "unknown model '%s' (available: cmvae, grace)", model);
    if (G < 0 || Z < 0 || B < 0)
        return cli_error(cmd, "--size, or --genes, --latent-dim and --batch-size, are required");
    const int gnn_kind = cw_gnn_kind_parse(gnn_name);
    if (gnn_kind < 0) return cli_error(cmd, "--gnn: unknown '%s' (sage, gcn, gat)", gnn_name);
    if (C < 0) C = Z;
    if (grace) {
        if (nodes < 0) nodes = G + (2694 * G + 4999) / 5000;
        if (edges < 0) edges = (int64_t)(8.24 * (double)nodes);
        if (nodes < G)
            return cli_error(cmd, "--nodes %lld: the graph needs at least the %lld gene nodes",
                             (long long)nodes, (long long)G);
        if ((double)(edges / 2) > (double)nodes * (double)(nodes - 1) / 2)
            return cli_error(cmd, "--edges %lld: more than %lld nodes can hold", (long long)edges,
                             (long long)nodes);
    }
    if (threads > 0) {
        omp_set_num_threads((int)threads);
        openblas_set_num_threads((int)threads);
    }
    bt_last_median_ms = 0;

    cw_graph graph;
    memset(&graph, 0, sizeof graph);
    cw_cmvae m;
    memset(&m, 0, sizeof m);
    float *x = NULL, *y = NULL;
    double *t = NULL, *ph_t = NULL; /* step times; phase times (CW_PHASE_N, steps) */
    cw_cmvae_prof prof;
    memset(&prof, 0, sizeof prof);
    cw_csr xs; /* the batch as CSR (cmvae unless --dense-input) */
    memset(&xs, 0, sizeof xs);
    int sparse = 0;
    int rc = 0;
    cw_status st = CW_OK;
    if (grace) st = cli_bench_random_graph(&graph, G, nodes, edges, seed);
    if (st) {
        rc = cli_fail(cmd, st);
        goto done;
    }
    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, G, Z, C);
    cfg.hidden = H;
    cfg.batch = B;
    if (grace) {
        cfg.kind = CW_MODEL_GRACE;
        cw_gnn_config_default(&cfg.gnn, (cw_gnn_kind)gnn_kind, 1);
        cfg.graph = &graph;
    }
    cw_rng rng;
    cw_rng_substream(&rng, seed, 1);
    st = cw_cmvae_init(&m, &cfg, &rng);
    if (st) {
        rc = cli_fail(cmd, st);
        goto done;
    }
    /* data: nonnegative, log1p-count-like values, a fraction `density` of them nonzero (x and
     * y both) */
    x = cw_malloc_array((size_t)(B * G), sizeof(float));
    y = cw_malloc_array((size_t)(B * G), sizeof(float));
    t = calloc((size_t)steps, sizeof(double));
    ph_t = calloc((size_t)(CW_PHASE_N * steps), sizeof(double));
    if (!x || !y || !t || !ph_t) {
        rc = cli_fail(cmd, cw_fail(CW_ENOMEM, "out of memory for a %lld x %lld batch",
                                   (long long)B, (long long)G));
        goto done;
    }
    {
        cw_rng drng;
        cw_rng_substream(&drng, seed, 2);
        for (int64_t i = 0; i < B * G; i++) {
            double u = cw_rng_uniform(&drng), v = cw_rng_uniform(&drng);
            x[i] = u < 1.0 - density ? 0.0f : (float)log1p(1.0 + 4.0 * v);
            u = cw_rng_uniform(&drng);
            v = cw_rng_uniform(&drng);
            y[i] = u < 1.0 - density ? 0.0f : (float)log1p(1.0 + 5.0 * v);
        }
    }
    if (input_mode == 2 ? cw_cmvae_takes_x_csr(&m)
                        : input_mode == 0 && cw_cmvae_csr_input_pays(&m, density)) {
        st = cw_csr_from_dense(&xs, x, B, G);
        if (st) {
            rc = cli_fail(cmd, st);
            goto done;
        }
        sparse = 1;
    }
/* every step takes the CSR batch (cw_cmvae_set_x_csr holds for one step) */
#define BT_SET_X() (sparse ? cw_cmvae_set_x_csr(&m, &xs) : CW_OK)
    const cw_cmvae_sched w = {1.0, 1.0, 1.0};
    cw_cmvae_losses l;
    /* validation: one step with a finite loss (train_step itself refuses non-finite terms) */
    st = BT_SET_X();
    if (!st) st = cw_cmvae_train_step(&m, x, NULL, y, 0, -1, NULL, &rng, w, &l);
    if (st == CW_OK && !isfinite(l.total))
        st = cw_fail(CW_EINVAL, "validation step: loss %g is not finite", l.total);
    if (st) {
        rc = cli_fail(cmd, st);
        goto done;
    }
    const double loss0 = l.total;
    for (int64_t i = 0; i < warmup && !st; i++) {
        st = BT_SET_X();
        if (!st) st = cw_cmvae_train_step(&m, x, NULL, y, (1 + i) % C, -1, NULL, &rng, w, &l);
    }
    if (phases) m.prof = &prof; /* the step's own marks (cw_cmvae_prof: reads the clock only) */
    for (int64_t i = 0; i < steps && !st; i++) {
        double t0 = cw_now();
        st = BT_SET_X();
        if (!st)
            st = cw_cmvae_train_step(&m, x, NULL, y, (1 + warmup + i) % C, -1, NULL, &rng, w, &l);
        t[i] = cw_now() - t0;
        for (int p = 0; p < CW_PHASE_N; p++) {
            ph_t[p * steps + i] = prof.sec[p];
            prof.sec[p] = 0;
        }
    }
    m.prof = NULL;
#undef BT_SET_X
    if (st) {
        rc = cli_fail(cmd, st);
        goto done;
    }
    {
        const double p10 = cw_quantile(t, (int)steps, 0.10) * 1e3;
        const double med = cw_quantile(t, (int)steps, 0.50) * 1e3;
        const double p90 = cw_quantile(t, (int)steps, 0.90) * 1e3;
        const double loss_last = l.total;
        double flops = bt_flops(B, G, Z, H);
        if (sparse) /* fc1 forward and weight gradient over the stored entries */
            flops += -4.0 * (double)B * (double)G * (double)H + 4.0 * (double)xs.nnz * (double)H;
        if (grace)
            flops += 2.0 * (double)B * (double)G * (double)H +
                     2.0 * (double)B * (double)graph.adj.nnz + 8.0 * (double)B * (double)nodes;
        const double cps = (double)B / (med * 1e-3), gflops = flops / (med * 1e-3) / 1e9;
        double peak_gflops = 0, peak_ms = 0;
        if (peak) peak_gflops = cli_bench_sgemm_peak(2048, &peak_ms);
        double ph_ms[CW_PHASE_N] = {0}, ph_sum = 0; /* phase medians */
        if (phases)
            for (int p = 0; p < CW_PHASE_N; p++) {
                ph_ms[p] = cw_quantile(ph_t + p * steps, (int)steps, 0.5) * 1e3;
                ph_sum += ph_ms[p];
            }
        bt_last_median_ms = med;
        char commit[64];
        cli_git_commit(commit, sizeof commit);
        const char *core = cw_blas_core();
        char blas[160];
        cw_blas_describe(blas, sizeof blas);
        const char *gnn_str = grace ? cw_gnn_kind_name((cw_gnn_kind)gnn_kind) : "none";
        if (as_json) {
            json_t *o = json_object();
            json_object_set_new(o, "model", json_string(model));
            json_object_set_new(o, "genes", json_integer(G));
            json_object_set_new(o, "latent_dim", json_integer(Z));
            json_object_set_new(o, "batch_size", json_integer(B));
            json_object_set_new(o, "hidden", json_integer(H));
            json_object_set_new(o, "targets", json_integer(C));
            if (grace) {
                json_object_set_new(o, "gnn", json_string(gnn_str));
                json_object_set_new(o, "nodes", json_integer(nodes));
                json_object_set_new(o, "edges", json_integer(graph.adj.nnz));
            }
            json_object_set_new(o, "params", json_integer(cw_cmvae_n_params(&m)));
            json_object_set_new(o, "sparse_input", json_boolean(sparse));
            if (sparse) json_object_set_new(o, "input_nnz", json_integer(xs.nnz));
            json_object_set_new(o, "steps", json_integer(steps));
            json_object_set_new(o, "warmup", json_integer(warmup));
            json_object_set_new(o, "seed", json_integer((json_int_t)seed));
            json_object_set_new(o, "threads", json_integer(omp_get_max_threads()));
            json_object_set_new(o, "openblas_core", json_string(core));
            json_object_set_new(o, "openblas_core_forced", json_boolean(cw_blas_core_forced()));
            json_object_set_new(o, "gemm_small", json_boolean(cw_gemm_small_available()));
            json_object_set_new(o, "commit", json_string(commit));
            json_object_set_new(o, "validated", json_true());
            json_object_set_new(o, "step_ms_median", json_real(med));
            json_object_set_new(o, "step_ms_p10", json_real(p10));
            json_object_set_new(o, "step_ms_p90", json_real(p90));
            json_object_set_new(o, "cells_per_s", json_real(cps));
            json_object_set_new(o, "gflops", json_real(gflops));
            json_object_set_new(o, "flops_per_step", json_real(flops));
            if (peak) {
                json_object_set_new(o, "sgemm_peak_gflops", json_real(peak_gflops));
                json_object_set_new(o, "peak_fraction",
                                    json_real(peak_gflops > 0 ? gflops / peak_gflops : 0));
            }
            json_object_set_new(o, "loss_first", json_real(loss0));
            json_object_set_new(o, "loss_last", json_real(loss_last));
            if (phases) {
                json_t *ph = json_object();
                for (int p = 0; p < CW_PHASE_N; p++) {
                    if (!ph_shown(p, &m)) continue;
                    json_object_set_new(ph, cw_cmvae_phase_name(p),
                                        json_pack("{s:f,s:f,s:f}", "ms", ph_ms[p], "share",
                                                  ph_ms[p] / med, "flops", ph_flops(p, &m)));
                }
                json_object_set_new(ph, "other", json_pack("{s:f,s:f}", "ms", med - ph_sum,
                                                           "share", (med - ph_sum) / med));
                json_object_set_new(o, "phases", ph);
            }
            char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("%s\n", s ? s : "{}");
            free(s);
            json_decref(o);
        } else {
            cli_bench_context(stdout);
            printf("model %s: genes %lld, latent %lld, targets %lld, hidden %lld, batch %lld",
                   model, (long long)G, (long long)Z, (long long)C, (long long)H, (long long)B);
            if (grace)
                printf(", gnn %s, random graph %lld nodes / %lld directed edges", gnn_str,
                       (long long)nodes, (long long)graph.adj.nnz);
            printf("; %lld parameters; %lld steps after %lld warm-up, seed %llu\n",
                   (long long)cw_cmvae_n_params(&m), (long long)steps, (long long)warmup,
                   (unsigned long long)seed);
            if (sparse)
                printf("input: CSR batch, %lld stored of %lld (%.1f%%), fc1 sparse\n",
                       (long long)xs.nnz, (long long)(B * G),
                       100.0 * (double)xs.nnz / (double)(B * G));
            else
                printf("input: dense batch\n");
            printf("validation: ok, first step loss %.6g (finite); last %.6g\n", loss0, loss_last);
            printf("%12s %12s %12s %14s %10s", "median ms", "p10 ms", "p90 ms", "cells/s",
                   "GFLOP/s");
            if (peak) printf(" %10s", "% peak");
            printf("\n%12.3f %12.3f %12.3f %14.0f %10.2f", med, p10, p90, cps, gflops);
            if (peak) printf(" %9.1f%%", peak_gflops > 0 ? 100 * gflops / peak_gflops : 0);
            printf("\n(%.4g GFLOP per step: 16BGH + 24BHZ + 6HZ + 6BZ(Z-1) + 10B^2G%s)\n",
                   flops / 1e9, grace ? " + 2BGH + 2BE + 8BN" : sparse ? " - 4BGH + 4 nnz H" : "");
            if (peak)
                printf("sgemm peak (2048^3, this run): %.2f GFLOP/s (%.2f ms per call)\n",
                       peak_gflops, peak_ms);
            if (phases) {
                printf("phase shares (timed inside each step by its own marks, median of %lld "
                       "steps):\n", (long long)steps);
                printf("  %-12s %-42s %10s %8s %10s\n", "phase", "what", "median ms", "share",
                       "GFLOP/s");
                for (int p = 0; p < CW_PHASE_N; p++) {
                    if (!ph_shown(p, &m)) continue;
                    const double f = ph_flops(p, &m);
                    printf("  %-12s %-42s %10.3f %7.1f%% ", cw_cmvae_phase_name(p), ph_what[p],
                           ph_ms[p], 100 * ph_ms[p] / med);
                    if (f > 0 && ph_ms[p] > 0)
                        printf("%10.2f\n", f / (ph_ms[p] * 1e-3) / 1e9);
                    else
                        printf("%10s\n", "-");
                }
                printf("  %-12s %-42s %10.3f %7.1f%% %10s\n", "other",
                       "step median - sum of phase medians", med - ph_sum, 100 * (med - ph_sum) / med,
                       "-");
            }
        }
    }
done:
    cw_csr_free(&xs);
    cw_free(x);
    cw_free(y);
    free(t);
    free(ph_t);
    cw_cmvae_free(&m);
    cw_graph_free(&graph);
    return rc;
}
