/* cmd_bench.c: `causeway bench ...`: timing entry points. Each prints medians, p10/p90 and the
 * context (threads, OpenBLAS core, build flags, commit) so a number in a note can be reproduced.
 *   bench read FILE.h5ad   X read throughput in row blocks, as dense rows and as CSR rows
 *   bench kernels          the training step's kernels, validated then timed, beside the sgemm
 *                          peak of the same run (cmd_bench_kernels.c)
 *   bench train            training-step time of cmvae / grace and its phase shares
 *                          (cmd_bench_train.c)
 *   bench crl              stages of a score-based CRL run (cmd_bench_crl.c)
 *   bench stream           training and evaluation under --memory-cap (cmd_bench_stream.c)
 *   bench all              every benchmark on data it generates itself (`make bench`), with the
 *                          PyTorch baseline's medians beside ours when the bridge
 *                          (cli/bench_torch.c) is built and python3-torch is installed
 */
#include "cli/cli.h"
#include "cli/cmd_bench_kernels.h"
#include "cli/cmd_extra.h"

#include "core/alloc.h"
#include "core/status.h"
#include "core/timer.h"
#include "data/simulate.h"
#include "la/blas_info.h"
#include "io/h5ad.h"

#include <getopt.h>
#include <jansson.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void openblas_set_num_threads(int num_threads);

/* The PyTorch baseline bridge (cli/bench_torch.c, issue #6 item 2) is optional: a weak reference
 * is NULL when the program is linked without it, and `bench all` then says so. */
#if defined(__has_include)
#if __has_include("cli/bench_torch.h")
#include "cli/bench_torch.h"
#endif
#endif
cw_status cli_bench_torch(double *median_ms, double *p10_ms, double *p90_ms, const char *model,
                          int64_t G, int64_t Z, int64_t H, int64_t B, int64_t nodes,
                          int64_t edges, int threads, const char *dtype, int64_t steps)
    __attribute__((weak));

typedef struct {
    double median, p10, p90;
} bench_stats;

static bench_stats stats_of(double *t, int n) {
    bench_stats s;
    s.p10 = cw_quantile(t, n, 0.10);
    s.median = cw_quantile(t, n, 0.50);
    s.p90 = cw_quantile(t, n, 0.90);
    return s;
}

/* Reads all of X in blocks of `block` rows, as dense rows or as CSR rows. With times == NULL
 * it is the untimed validation pass: *checksum becomes the sum of every value of X (double),
 * which must agree across both read paths and across files holding the same matrix. Timed
 * passes touch only two values per block. */
static cw_status read_pass(cw_h5ad *h, int dense, int64_t block, float *buf, double *seconds,
                           double *checksum) {
    int64_t n = cw_h5ad_n_obs(h), g = cw_h5ad_n_vars(h);
    int full = seconds == NULL;
    cw_status st = CW_OK;
    double t0 = cw_now(), sum = 0.0;
    for (int64_t row = 0; row < n && st == CW_OK; row += block) {
        int64_t m = n - row < block ? n - row : block;
        if (dense) {
            st = cw_h5ad_read_x_dense_rows(h, row, m, buf);
            if (st != CW_OK) break;
            if (full)
                for (int64_t i = 0; i < m * g; i++) sum += buf[i];
            else
                sum += buf[0] + buf[(size_t)m * (size_t)g - 1];
        } else {
            cw_csr c;
            st = cw_h5ad_read_x_csr_rows(h, row, m, &c);
            if (st != CW_OK) break;
            if (full)
                for (int64_t k = 0; k < c.nnz; k++) sum += c.data[k];
            else if (c.nnz)
                sum += c.data[0] + c.data[c.nnz - 1];
            cw_csr_free(&c);
        }
    }
    if (seconds) *seconds = cw_now() - t0;
    *checksum = sum;
    return st;
}

static int bench_read(int argc, char **argv) {
    const char *cmd = "bench read";
    int64_t block = 4096, repeat = 5;
    int as_json = 0;
    static const struct option opts[] = {{"block-rows", required_argument, 0, 'b'},
                                         {"repeat", required_argument, 0, 'r'},
                                         {"json", no_argument, 0, 'j'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (cli_parse_i64(cmd, "--block-rows", optarg, 1, 1 << 24, &block)) return 2;
            break;
        case 'r':
            if (cli_parse_i64(cmd, "--repeat", optarg, 1, 1000, &repeat)) return 2;
            break;
        case 'j': as_json = 1; break;
        case 'h':
            printf("usage: causeway bench read FILE.h5ad [--block-rows N] [--repeat K] [--json]\n"
                   "Reads all of X in row blocks K times, as dense float32 rows and as CSR rows;\n"
                   "prints median/p10/p90 seconds, MB/s of X as stored (uncompressed bytes) and "
                   "cells/s.\nAn untimed first pass sums every value of X (printed, to compare read paths and\n"
                   "files) and warms the page cache.\n");
            return 0;
        default: return 2;
        }
    }
    if (optind != argc - 1) return cli_error(cmd, "expected one FILE.h5ad (see --help)");
    const char *path = argv[optind];
    cw_h5ad *h = NULL;
    cw_status st = cw_h5ad_open(path, &h);
    if (st) return cli_fail(cmd, st);
    int64_t n = cw_h5ad_n_obs(h), g = cw_h5ad_n_vars(h), nnz = cw_h5ad_x_nnz(h);
    int sparse = cw_h5ad_x_is_sparse(h);
    /* bytes of X as stored, uncompressed: float32 values (+ int32 indices + int64 indptr) */
    double bytes = sparse ? (double)nnz * 8.0 + (double)(n + 1) * 8.0 : (double)n * (double)g * 4.0;
    struct stat sb;
    double file_mb = stat(path, &sb) == 0 ? (double)sb.st_size / 1e6 : 0.0;
    double *t = calloc((size_t)repeat, sizeof(double));
    json_t *out = json_object();
    if (!as_json) {
        cli_bench_context(stdout);
        printf("file: %s  %lld cells x %lld genes, X %s, %lld stored entries, %.1f MB on disk\n",
               path, (long long)n, (long long)g, sparse ? "CSR" : "dense", (long long)nnz, file_mb);
        printf("%-10s %10s %10s %10s %12s %12s %22s\n", "read as", "median s", "p10 s", "p90 s",
               "MB/s", "cells/s", "sum of X (validation)");
    }
    float *buf = cw_malloc_array((size_t)block * (size_t)(g > 0 ? g : 1), sizeof(float));
    if (!buf) st = cw_fail(CW_ENOMEM, "out of memory for a %lld-row block", (long long)block);
    for (int dense = 1; dense >= 0 && st == CW_OK; dense--) {
        double checksum = 0, dummy = 0;
        st = read_pass(h, dense, block, buf, NULL, &checksum); /* validation + warm-up */
        for (int r = 0; r < repeat && st == CW_OK; r++)
            st = read_pass(h, dense, block, buf, &t[r], &dummy);
        if (st) break;
        bench_stats s = stats_of(t, (int)repeat);
        double mbs = bytes / 1e6 / s.median, cps = (double)n / s.median;
        const char *name = dense ? "dense" : "csr";
        if (as_json)
            json_object_set_new(out, name,
                                json_pack("{s:f,s:f,s:f,s:f,s:f,s:f}", "median_s", s.median,
                                          "p10_s", s.p10, "p90_s", s.p90, "mb_per_s", mbs,
                                          "cells_per_s", cps, "checksum", checksum));
        else
            printf("%-10s %10.3f %10.3f %10.3f %12.1f %12.0f %22.6f\n", name, s.median, s.p10,
                   s.p90, mbs, cps, checksum);
    }
    cw_free(buf);
    free(t);
    cw_h5ad_close(h);
    if (st) {
        json_decref(out);
        return cli_fail(cmd, st);
    }
    if (as_json) {
        json_object_set_new(out, "n_cells", json_integer(n));
        json_object_set_new(out, "n_genes", json_integer(g));
        json_object_set_new(out, "x_sparse", json_boolean(sparse));
        json_object_set_new(out, "x_bytes", json_real(bytes));
        char *s = json_dumps(out, JSON_INDENT(2));
        printf("%s\n", s);
        free(s);
    }
    json_decref(out);
    return 0;
}

/* One row of the side-by-side table of `bench all`. */
typedef struct {
    const char *model;
    cli_bench_size size;
    double ours_ms;
} bench_row;

/* `bench train` at a size; appends the row with our median. */
static int bench_all_train(const char *model, const cli_bench_size *sz, const char *threads,
                           bench_row *rows, int *n_rows) {
    printf("\n== %s training step at %s size (genes %lld, latent %lld, hidden %lld, batch %lld%s)\n",
           model, sz->name, (long long)sz->genes, (long long)sz->latent, (long long)sz->hidden,
           (long long)sz->batch, strcmp(model, "grace") == 0 ? ", random graph" : "");
    fflush(stdout);
    char *args[] = {"train", "--model", (char *)model, "--size", (char *)sz->name, "--peak",
                    "--threads", (char *)threads, NULL};
    const int rc = cmd_bench_train(8, args);
    if (rc == 0) {
        rows[*n_rows].model = model;
        rows[*n_rows].size = *sz;
        rows[*n_rows].ours_ms = cli_bench_train_last_median_ms();
        (*n_rows)++;
    }
    return rc;
}

/* Our medians beside PyTorch's float32 and float64 ones (bench/torch_baseline.py through
 * cli_bench_torch), same shapes and threads. Skipped with a line saying why when the bridge is
 * not linked or python3-torch / the script is missing. */
static void bench_all_torch(const bench_row *rows, int n_rows, int threads, int64_t steps) {
    printf("\n== causeway vs PyTorch, training step (same shapes, %d threads, %lld timed steps "
           "for torch)\n", threads, (long long)steps);
    if (!cli_bench_torch) {
        printf("torch baseline skipped: this build has no PyTorch bridge (src/cli/bench_torch.c)\n");
        return;
    }
    printf("%-7s %-9s %12s %14s %9s %14s %9s\n", "model", "size", "causeway ms", "torch f32 ms",
           "f32/ours", "torch f64 ms", "f64/ours");
    for (int i = 0; i < n_rows; i++) {
        const bench_row *r = &rows[i];
        double med[2] = {0, 0};
        const char *dtypes[2] = {"float32", "float64"};
        for (int d = 0; d < 2; d++) {
            double p10, p90;
            cw_status st = cli_bench_torch(&med[d], &p10, &p90, r->model, r->size.genes,
                                           r->size.latent, r->size.hidden, r->size.batch,
                                           r->size.nodes, r->size.edges, threads, dtypes[d],
                                           steps);
            if (st) {
                printf("torch baseline skipped: %s\n", cw_errmsg());
                return;
            }
        }
        printf("%-7s %-9s %12.3f %14.3f %8.2fx %14.3f %8.2fx\n", r->model, r->size.name,
               r->ours_ms, med[0], med[0] / r->ours_ms, med[1], med[1] / r->ours_ms);
        fflush(stdout);
    }
    printf("(ratio = torch median / causeway median: > 1 means causeway is faster)\n");
}

static void bench_all_help(void) {
    printf("usage: causeway bench all [--replogle] [--threads T] [--torch-steps N] [--no-torch]\n"
           "                          [--no-read] [--no-crl] [--no-stream] [--stream-cells N]\n\n"
           "Runs every benchmark on data it generates: X read throughput, the kernels at Norman\n"
           "size (validated, beside the sgemm peak), the cmvae and grace training steps at Norman\n"
           "size with their phase shares, the PyTorch baseline's float32 and float64 medians beside\n"
           "ours (when the bridge and python3-torch are present), training and evaluation under\n"
           "--memory-cap beside X in memory (bench stream), and the score-based CRL stages.\n\n"
           "  --replogle       also the kernels and both steps at Replogle size (G 8563, Z 414,\n"
           "                   11,000 nodes, 360,000 edges; several minutes)\n"
           "  --threads T      OpenMP, OpenBLAS and torch threads (0 = default)\n"
           "  --torch-steps N  timed steps of each PyTorch run (30)\n"
           "  --no-torch       skip the PyTorch baseline\n"
           "  --no-read        skip the X read benchmark\n"
           "  --no-stream      skip the out-of-core benchmark (bench stream)\n"
           "  --stream-cells N cells of bench stream's simulated file (50000; the issue's\n"
           "                   2.5M: bench stream --cells 2500000 --targets 1000 --no-memory)\n"
           "  --no-crl         skip the CRL stages\n");
}

static int bench_all(int argc, char **argv) {
    const char *cmd = "bench all";
    int replogle = 0, torch = 1, do_read = 1, do_crl = 1, do_stream = 1, bad = 0;
    int64_t threads = 0, torch_steps = 30, stream_cells = 50000;
    enum { O_REP = 256, O_THR, O_TSTEPS, O_NOTORCH, O_NOREAD, O_NOCRL, O_NOSTREAM, O_SCELLS };
    static const struct option opts[] = {{"replogle", no_argument, 0, O_REP},
                                         {"threads", required_argument, 0, O_THR},
                                         {"torch-steps", required_argument, 0, O_TSTEPS},
                                         {"no-torch", no_argument, 0, O_NOTORCH},
                                         {"no-read", no_argument, 0, O_NOREAD},
                                         {"no-crl", no_argument, 0, O_NOCRL},
                                         {"no-stream", no_argument, 0, O_NOSTREAM},
                                         {"stream-cells", required_argument, 0, O_SCELLS},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': bench_all_help(); return 0;
        case O_REP: replogle = 1; break;
        case O_THR: bad = cli_parse_i64(cmd, "--threads", optarg, 0, 4096, &threads); break;
        case O_TSTEPS: bad = cli_parse_i64(cmd, "--torch-steps", optarg, 1, 100000, &torch_steps); break;
        case O_NOTORCH: torch = 0; break;
        case O_NOREAD: do_read = 0; break;
        case O_NOCRL: do_crl = 0; break;
        case O_NOSTREAM: do_stream = 0; break;
        case O_SCELLS:
            bad = cli_parse_i64(cmd, "--stream-cells", optarg, 1000, (int64_t)1 << 34, &stream_cells);
            break;
        default: return 2;
        }
    }
    if (bad) return 2;
    if (optind != argc) return cli_error(cmd, "unexpected argument '%s'", argv[optind]);
    char thr[32];
    snprintf(thr, sizeof thr, "%lld", (long long)threads);
    if (threads > 0) {
        omp_set_num_threads((int)threads);
        openblas_set_num_threads((int)threads);
    }
    int rc = 0;
    if (do_read) {
        char dir[] = "/tmp/cwbench-XXXXXX";
        if (!mkdtemp(dir)) return cli_error(cmd, "cannot create a temporary directory");
        char path[256];
        snprintf(path, sizeof path, "%s/bench.h5ad", dir);
        cw_sim_options o;
        cw_sim_options_default(&o);
        o.n_controls = 5000;
        o.cells_per_perturbation = 1000;
        o.n_genes = 2000;
        o.n_combinations = 4;
        o.write_graph = 0;
        printf("== X read throughput (simulated %lld controls + %lld cells per perturbation, %lld "
               "genes)\n",
               (long long)o.n_controls, (long long)o.cells_per_perturbation, (long long)o.n_genes);
        cw_status st = cw_simulate_write(&o, path, NULL, NULL, NULL);
        rc = st ? cli_fail(cmd, st) : 0;
        if (!rc) {
            char *args[] = {"read", path, NULL};
            rc = bench_read(2, args);
        }
        char rm[300];
        snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
        if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    const char *sizes[2] = {"norman", "replogle"};
    bench_row rows[4];
    int n_rows = 0;
    for (int s = 0; s < 1 + replogle && !rc; s++) {
        cli_bench_size sz;
        CW_ASSERT(cli_bench_size_lookup(sizes[s], &sz) == 0);
        printf("\n== kernels at %s size (validated, then timed)\n", sz.name);
        fflush(stdout);
        char *args[] = {"kernels", "--size", (char *)sz.name, "--threads", thr, NULL};
        rc = cmd_bench_kernels(5, args);
        if (!rc) rc = bench_all_train("cmvae", &sz, thr, rows, &n_rows);
        if (!rc) rc = bench_all_train("grace", &sz, thr, rows, &n_rows);
    }
    if (!rc && torch) bench_all_torch(rows, n_rows, omp_get_max_threads(), torch_steps);
    if (!rc && !replogle)
        printf("(Replogle size: causeway bench all --replogle, or bench kernels / bench train "
               "--size replogle)\n");
    if (!rc && do_stream) {
        printf("\n");
        fflush(stdout);
        char cells[32], thr1[32];
        snprintf(cells, sizeof cells, "%lld", (long long)stream_cells);
        snprintf(thr1, sizeof thr1, "%lld", (long long)(threads > 0 ? threads : 1));
        char *args[] = {"stream", "--cells", cells, "--threads", thr1, NULL};
        rc = cmd_bench_stream(5, args);
    }
    if (!rc && do_crl) {
        printf("\n== score-based CRL stages (authors' default sizes)\n");
        fflush(stdout);
        char *args[] = {"crl", "--repeat", "3", NULL};
        rc = cmd_bench_crl(3, args);
    }
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        printf("usage: causeway bench <what> [options]\n\n"
               "  read FILE.h5ad   X read throughput (dense and CSR row blocks)\n"
               "  kernels ...      the training step's kernels (GEMMs, SpMM, MMD, DAG, Adam), validated\n"
               "                   then timed, beside the sgemm peak (see bench kernels --help)\n"
               "  train ...        training-step time of cmvae / grace on random data and the share\n"
               "                   of each phase (see bench train --help)\n"
               "  crl              stages of a score-based CRL run: generation, scores, algorithms\n"
               "  stream ...       train and evaluate under --memory-cap vs X in memory: cells/s,\n"
               "                   peak RSS (see bench stream --help)\n"
               "  all ...          every benchmark, on data generated on the fly, beside PyTorch\n"
               "                   (make bench; see bench all --help)\n");
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "read") == 0) return bench_read(argc - 1, argv + 1);
    if (strcmp(argv[1], "train") == 0) return cmd_bench_train(argc - 1, argv + 1);
    if (strcmp(argv[1], "kernels") == 0) return cmd_bench_kernels(argc - 1, argv + 1);
    if (strcmp(argv[1], "crl") == 0) return cmd_bench_crl(argc - 1, argv + 1);
    if (strcmp(argv[1], "stream") == 0) return cmd_bench_stream(argc - 1, argv + 1);
    if (strcmp(argv[1], "all") == 0) return bench_all(argc - 1, argv + 1);
    return cli_error("bench", "unknown benchmark '%s' (see causeway bench --help)", argv[1]);
}
