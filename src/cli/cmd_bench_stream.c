/* cmd_bench_stream.c: `causeway bench stream`, the out-of-core benchmark of issue #6 item 5.
 *
 * Simulates a sparse file on the fly (never kept unless --keep), then runs `causeway train` for
 * one epoch as child processes: with X in memory (unless --no-memory) and under --memory-cap,
 * and `causeway evaluate` under the cap. Each child's peak RSS comes from wait4's rusage, its
 * cells/s and X read time from its train_log.jsonl; the two checkpoints are compared byte for
 * byte (streaming must not change the result). The cap defaults to a quarter of X as CSR.
 */
#include "cli/cli.h"
#include "cli/cmd_extra.h"

#include "core/status.h"
#include "core/timer.h"
#include "data/simulate.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
pid_t wait4(pid_t pid, int *status, int options, struct rusage *rusage);

typedef struct {
    int ok;
    double seconds, peak_mb, cells_per_s, read_s;
} child_result;

/* Runs this program with args (NULL-terminated, args[0] ignored); peak RSS from rusage. */
static child_result run_child(char **args) {
    child_result r = {0, 0, 0, 0, 0};
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (k <= 0) return r;
    self[k] = '\0';
    args[0] = self;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    pid_t pid;
    double t0 = cw_now();
    int rc = posix_spawn(&pid, self, &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return r;
    int status = 0;
    struct rusage u;
    if (wait4(pid, &status, 0, &u) != pid) return r;
    r.seconds = cw_now() - t0;
    r.ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    r.peak_mb = (double)u.ru_maxrss / 1024.0;
    return r;
}

/* The epoch's cells/s and X read seconds from dir/train_log.jsonl. */
static void read_log(const char *dir, child_result *r) {
    char path[4200], line[4096];
    snprintf(path, sizeof path, "%s/train_log.jsonl", dir);
    FILE *f = fopen(path, "r");
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        json_t *j = json_loads(line, 0, NULL);
        if (!j) continue;
        r->cells_per_s = json_number_value(json_object_get(j, "cells_per_s"));
        r->read_s = json_number_value(json_object_get(j, "x_read_seconds"));
        json_decref(j);
    }
    fclose(f);
}

static int same_file(const char *a, const char *b) {
    FILE *f = fopen(a, "rb"), *g = fopen(b, "rb");
    int same = f && g;
    while (same) {
        int x = fgetc(f), y = fgetc(g);
        if (x != y) same = 0;
        if (x == EOF || y == EOF) break;
    }
    if (f) fclose(f);
    if (g) fclose(g);
    return same;
}

static void help(void) {
    printf("usage: causeway bench stream [--cells N] [--genes G] [--targets T] [--cap SIZE]\n"
           "                             [--latent-dim Z] [--threads T] [--no-memory]\n"
           "                             [--keep DIR]\n\n"
           "Simulates an N-cell sparse file (library size 1000, about 9%% nonzero), trains cmvae\n"
           "for one epoch with X in memory and under --memory-cap (child processes), evaluates\n"
           "under the cap, and prints each run's cells/s, X read time and peak RSS, and whether\n"
           "the two checkpoints are identical.\n\n"
           "  --cells N       cells (100000); 1/25 of them controls\n"
           "  --genes G       genes (8563)\n"
           "  --targets T     single perturbations (100)\n"
           "  --cap SIZE      the memory cap (default: a quarter of X as CSR)\n"
           "  --latent-dim Z  latent programs of the model (64)\n"
           "  --threads T     threads of the children (1)\n"
           "  --no-memory     skip the in-memory run (X larger than the machine)\n"
           "  --keep DIR      write the file and runs into DIR and keep them\n");
}

int cmd_bench_stream(int argc, char **argv) {
    const char *cmd = "bench stream";
    int64_t cells = 100000, genes = 8563, targets = 100, cap = 0, latent = 64, threads = 1;
    int memory = 1, bad = 0;
    const char *keep = NULL;
    enum { O_CELLS = 256, O_GENES, O_TARGETS, O_CAP, O_LAT, O_THR, O_NOMEM, O_KEEP };
    static const struct option opts[] = {
        {"cells", required_argument, 0, O_CELLS},   {"genes", required_argument, 0, O_GENES},
        {"targets", required_argument, 0, O_TARGETS}, {"cap", required_argument, 0, O_CAP},
        {"latent-dim", required_argument, 0, O_LAT}, {"threads", required_argument, 0, O_THR},
        {"no-memory", no_argument, 0, O_NOMEM},     {"keep", required_argument, 0, O_KEEP},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    optind = 1;
    int c;
    while (!bad && (c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': help(); return 0;
        case O_CELLS: bad = cli_parse_i64(cmd, "--cells", optarg, 100, (int64_t)1 << 34, &cells); break;
        case O_GENES: bad = cli_parse_i64(cmd, "--genes", optarg, 10, 1 << 20, &genes); break;
        case O_TARGETS: bad = cli_parse_i64(cmd, "--targets", optarg, 1, 100000, &targets); break;
        case O_CAP: bad = cli_parse_size(cmd, "--cap", optarg, &cap); break;
        case O_LAT: bad = cli_parse_i64(cmd, "--latent-dim", optarg, 1, 100000, &latent); break;
        case O_THR: bad = cli_parse_i64(cmd, "--threads", optarg, 0, 4096, &threads); break;
        case O_NOMEM: memory = 0; break;
        case O_KEEP: keep = optarg; break;
        default: return 2;
        }
    }
    if (bad) return 2;
    if (optind != argc) return cli_error(cmd, "unexpected argument '%s'", argv[optind]);
    cw_sim_options o;
    cw_sim_options_default(&o);
    o.n_controls = cells / 25;
    o.n_targets = targets;
    o.cells_per_perturbation = (cells - o.n_controls) / targets;
    o.n_combinations = 0;
    o.n_genes = genes;
    o.n_programs = 16 < targets ? 16 : targets;
    o.library_size = 1000;
    o.write_graph = 0;
    o.seed = 1;
    if (o.cells_per_perturbation < 64)
        return cli_error(cmd, "--cells %lld over %lld targets leaves %lld cells per target; "
                         "expected at least 64 (fewer --targets)", (long long)cells,
                         (long long)targets, (long long)o.cells_per_perturbation);
    char dir[4096];
    if (keep) {
        snprintf(dir, sizeof dir, "%s", keep);
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return cli_error(cmd, "%s: cannot create the directory: %s", dir, strerror(errno));
    } else {
        snprintf(dir, sizeof dir, "/tmp/cwstream-XXXXXX");
        if (!mkdtemp(dir)) return cli_error(cmd, "cannot create a temporary directory");
    }
    char data[4200], mem_dir[4200], cap_dir[4200], a[4300], b[4300];
    snprintf(data, sizeof data, "%s/stream.h5ad", dir);
    snprintf(mem_dir, sizeof mem_dir, "%s/run_memory", dir);
    snprintf(cap_dir, sizeof cap_dir, "%s/run_capped", dir);
    cw_sim_report rep;
    double t0 = cw_now();
    cw_status st = cw_simulate_write(&o, data, NULL, NULL, &rep);
    int rc = st ? cli_fail(cmd, st) : 0;
    if (!rc) {
        const double csr_mb = (double)rep.nnz * 8.0 / 1048576.0;
        if (cap == 0) cap = (int64_t)((double)rep.nnz * 8.0 / 4.0) + 8 * (rep.n_cells + 1);
        printf("== out of core (simulated %lld cells x %lld genes, %lld stored entries, X as "
               "CSR %.0f MB; generated in %.1f s)\n",
               (long long)rep.n_cells, (long long)rep.n_genes, (long long)rep.nnz, csr_mb,
               cw_now() - t0);
        char thr[32], lat[32], capb[32];
        snprintf(thr, sizeof thr, "%lld", (long long)threads);
        snprintf(lat, sizeof lat, "%lld", (long long)latent);
        snprintf(capb, sizeof capb, "%lld", (long long)cap);
        printf("cmvae, latent %lld, batch 32, 1 epoch, %lld threads; --memory-cap %.0f MB\n",
               (long long)latent, (long long)threads, (double)cap / 1048576.0);
        printf("%-24s %10s %10s %10s %12s\n", "run", "seconds", "cells/s", "X read s",
               "peak RSS MB");
        child_result m = {0, 0, 0, 0, 0};
        if (memory) {
            char *args[] = {NULL, "train", data, "--out", mem_dir, "--model", "cmvae",
                            "--latent-dim", lat, "--epochs", "1", "--threads", thr,
                            "--split", "random", "--seed", "0", "--quiet", NULL};
            m = run_child(args);
            read_log(mem_dir, &m);
            printf("%-24s %10.1f %10.0f %10s %12.0f%s\n", "train, X in memory", m.seconds,
                   m.cells_per_s, "-", m.peak_mb, m.ok ? "" : "  (failed)");
        }
        char *args[] = {NULL, "train", data, "--out", cap_dir, "--model", "cmvae",
                        "--latent-dim", lat, "--epochs", "1", "--threads", thr,
                        "--split", "random", "--seed", "0", "--quiet", "--memory-cap", capb, NULL};
        child_result s = run_child(args);
        read_log(cap_dir, &s);
        printf("%-24s %10.1f %10.0f %10.1f %12.0f%s\n", "train, --memory-cap", s.seconds,
               s.cells_per_s, s.read_s, s.peak_mb, s.ok ? "" : "  (failed)");
        char *eargs[] = {NULL, "evaluate", cap_dir, "--threads", thr, "--quiet",
                         "--memory-cap", capb, NULL};
        child_result e = s.ok ? run_child(eargs) : (child_result){0, 0, 0, 0, 0};
        printf("%-24s %10.1f %10s %10s %12.0f%s\n", "evaluate, --memory-cap", e.seconds, "-",
               "-", e.peak_mb, e.ok ? "" : "  (failed)");
        if (memory && m.ok && s.ok) {
            snprintf(a, sizeof a, "%s/checkpoint.ckpt", mem_dir);
            snprintf(b, sizeof b, "%s/checkpoint.ckpt", cap_dir);
            int same = same_file(a, b);
            printf("checkpoints identical: %s; streamed / in memory: %.2fx cells/s, %.2fx peak "
                   "RSS\n",
                   same ? "yes" : "NO", s.cells_per_s / (m.cells_per_s > 0 ? m.cells_per_s : 1),
                   s.peak_mb / (m.peak_mb > 0 ? m.peak_mb : 1));
            if (!same) rc = 1;
        }
        if (!s.ok || !e.ok || (memory && !m.ok)) rc = 1;
    }
    if (!keep) {
        char rm[4300];
        snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
        if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    }
    return rc;
}
