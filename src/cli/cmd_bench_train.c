/* cmd_bench_train.c: `causeway bench train --model cmvae ...`: times full CMVAE training steps
 * (cw_cmvae_train_step: forward, backward, Adam; schedule alpha 1, beta 1, tau 1) on seeded
 * random data, after an untimed validation step (finite loss) and warm-up steps. Prints the
 * context (threads, OpenBLAS core, commit), median / p10 / p90 ms per step, cells/s
 * (B / median) and GFLOP/s from the explicit count below (STYLE.md "Benchmarks").
 *
 * FLOPs of one step (2 per multiply-add; GEMMs and the DAG triangular solves only, counted from
 * the kernels in nn/linear.c, nn/mmd.c, nn/dag.c; elementwise work, softmax, kernel sums and
 * Adam are not counted):
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
 *   total     16BGH + 24BHZ + 6HZ + 6BZ(Z-1) + 10B^2 G
 */
#include "cli/cli.h"
#include "cli/cmd_extra.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/timer.h"
#include "models/cmvae.h"

#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *openblas_get_corename(void);
void openblas_set_num_threads(int num_threads);

/* The step's FLOP count (header comment). */
static double bt_flops(int64_t B, int64_t G, int64_t Z, int64_t H) {
    const double b = (double)B, g = (double)G, z = (double)Z, h = (double)H;
    return 16 * b * g * h + 24 * b * h * z + 6 * h * z + 6 * b * z * (z - 1) + 10 * b * b * g;
}

static void bt_help(void) {
    printf("usage: causeway bench train --model cmvae --genes G --latent-dim Z --batch-size B\n"
           "                            [--hidden H] [--targets C] [--steps N] [--warmup W]\n"
           "                            [--threads T] [--seed S] [--json]\n\n"
           "Times N training steps (forward, backward, Adam; alpha 1, beta 1, tau 1) on seeded\n"
           "random data after W warm-up steps and one validation step (loss must be finite).\n"
           "Prints median / p10 / p90 ms per step, cells/s (B / median) and GFLOP/s with\n"
           "FLOPs = 16BGH + 24BHZ + 6HZ + 6BZ(Z-1) + 10B^2G (GEMMs and DAG solves).\n\n"
           "  --model M        cmvae (the only one available)\n"
           "  --genes G        genes per cell (required)\n"
           "  --latent-dim Z   latent programs (required)\n"
           "  --batch-size B   cells per step (required)\n"
           "  --hidden H       hidden width (128)\n"
           "  --targets C      intervention targets (= Z)\n"
           "  --steps N        timed steps (50)\n"
           "  --warmup W       untimed warm-up steps (5)\n"
           "  --threads T      OpenMP and OpenBLAS threads (0 = default)\n"
           "  --seed S         seed of the data and the model (0)\n"
           "  --json           one JSON object instead of the table\n");
}

int cmd_bench_train(int argc, char **argv) {
    const char *cmd = "bench train";
    const char *model = NULL;
    int64_t G = -1, Z = -1, B = -1, H = 128, C = -1, steps = 50, warmup = 5, threads = 0;
    uint64_t seed = 0;
    int as_json = 0, bad = 0;
    enum { O_MODEL = 256, O_G, O_Z, O_B, O_H, O_C, O_STEPS, O_WARM, O_THR, O_SEED, O_JSON };
    static const struct option opts[] = {{"model", required_argument, 0, O_MODEL},
                                         {"genes", required_argument, 0, O_G},
                                         {"latent-dim", required_argument, 0, O_Z},
                                         {"batch-size", required_argument, 0, O_B},
                                         {"hidden", required_argument, 0, O_H},
                                         {"targets", required_argument, 0, O_C},
                                         {"steps", required_argument, 0, O_STEPS},
                                         {"warmup", required_argument, 0, O_WARM},
                                         {"threads", required_argument, 0, O_THR},
                                         {"seed", required_argument, 0, O_SEED},
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
        case O_G: bad = cli_parse_i64(cmd, "--genes", optarg, 1, BIG, &G); break;
        case O_Z: bad = cli_parse_i64(cmd, "--latent-dim", optarg, 1, 1 << 16, &Z); break;
        case O_B: bad = cli_parse_i64(cmd, "--batch-size", optarg, 1, 1 << 16, &B); break;
        case O_H: bad = cli_parse_i64(cmd, "--hidden", optarg, 1, 1 << 16, &H); break;
        case O_C: bad = cli_parse_i64(cmd, "--targets", optarg, 1, BIG, &C); break;
        case O_STEPS: bad = cli_parse_i64(cmd, "--steps", optarg, 1, 1000000, &steps); break;
        case O_WARM: bad = cli_parse_i64(cmd, "--warmup", optarg, 0, 1000000, &warmup); break;
        case O_THR: bad = cli_parse_i64(cmd, "--threads", optarg, 0, 4096, &threads); break;
        case O_SEED: bad = cli_parse_u64(cmd, "--seed", optarg, &seed); break;
        case O_JSON: as_json = 1; break;
        default: return 2;
        }
    }
    if (bad) return 2;
    if (optind != argc) return cli_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (!model) return cli_error(cmd, "--model is required (available: cmvae)");
    if (strcmp(model, "cmvae") != 0)
        return cli_error(cmd, "unknown model '%s' (available: cmvae)", model);
    if (G < 0 || Z < 0 || B < 0)
        return cli_error(cmd, "--genes, --latent-dim and --batch-size are required");
    if (C < 0) C = Z;
    if (threads > 0) {
        omp_set_num_threads((int)threads);
        openblas_set_num_threads((int)threads);
    }

    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, G, Z, C);
    cfg.hidden = H;
    cfg.batch = B;
    cw_rng rng;
    cw_rng_substream(&rng, seed, 1);
    cw_cmvae m;
    memset(&m, 0, sizeof m);
    cw_status st = cw_cmvae_init(&m, &cfg, &rng);
    if (st) {
        cw_cmvae_free(&m);
        return cli_fail(cmd, st);
    }
    /* data: nonnegative, log1p-count-like values, about 80% zeros */
    float *x = cw_malloc_array((size_t)(B * G), sizeof(float));
    float *y = cw_malloc_array((size_t)(B * G), sizeof(float));
    double *t = calloc((size_t)steps, sizeof(double));
    int rc = 0;
    if (!x || !y || !t) {
        rc = cli_fail(cmd, cw_fail(CW_ENOMEM, "out of memory for a %lld x %lld batch",
                                   (long long)B, (long long)G));
        goto done;
    }
    {
        cw_rng drng;
        cw_rng_substream(&drng, seed, 2);
        for (int64_t i = 0; i < B * G; i++) {
            double u = cw_rng_uniform(&drng), v = cw_rng_uniform(&drng);
            x[i] = u < 0.8 ? 0.0f : (float)log1p(1.0 + 4.0 * v);
            u = cw_rng_uniform(&drng);
            v = cw_rng_uniform(&drng);
            y[i] = u < 0.8 ? 0.0f : (float)log1p(1.0 + 5.0 * v);
        }
    }
    const cw_cmvae_sched w = {1.0, 1.0, 1.0};
    cw_cmvae_losses l;
    /* validation: one step with a finite loss (train_step itself refuses non-finite terms) */
    st = cw_cmvae_train_step(&m, x, NULL, y, 0, -1, NULL, &rng, w, &l);
    if (st == CW_OK && !isfinite(l.total))
        st = cw_fail(CW_EINVAL, "validation step: loss %g is not finite", l.total);
    if (st) {
        rc = cli_fail(cmd, st);
        goto done;
    }
    const double loss0 = l.total;
    for (int64_t i = 0; i < warmup && !st; i++)
        st = cw_cmvae_train_step(&m, x, NULL, y, (1 + i) % C, -1, NULL, &rng, w, &l);
    for (int64_t i = 0; i < steps && !st; i++) {
        double t0 = cw_now();
        st = cw_cmvae_train_step(&m, x, NULL, y, (1 + warmup + i) % C, -1, NULL, &rng, w, &l);
        t[i] = cw_now() - t0;
    }
    if (st) {
        rc = cli_fail(cmd, st);
        goto done;
    }
    {
        const double p10 = cw_quantile(t, (int)steps, 0.10) * 1e3;
        const double med = cw_quantile(t, (int)steps, 0.50) * 1e3;
        const double p90 = cw_quantile(t, (int)steps, 0.90) * 1e3;
        const double flops = bt_flops(B, G, Z, H);
        const double cps = (double)B / (med * 1e-3), gflops = flops / (med * 1e-3) / 1e9;
        char commit[64];
        cli_git_commit(commit, sizeof commit);
        const char *core = openblas_get_corename();
        if (as_json) {
            json_error_t jerr;
            json_t *o = json_pack_ex(&jerr, 0,
                "{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i,s:s,s:s,s:f,s:f,s:f,s:f,s:f,s:f,s:f,"
                "s:f}",
                "model", model, "genes", (json_int_t)G, "latent_dim", (json_int_t)Z,
                "batch_size", (json_int_t)B, "hidden", (json_int_t)H, "targets", (json_int_t)C,
                "steps", (json_int_t)steps, "warmup", (json_int_t)warmup, "seed", (json_int_t)seed,
                "threads", omp_get_max_threads(), "openblas_core", core ? core : "unknown",
                "commit", commit, "step_ms_median", med, "step_ms_p10", p10, "step_ms_p90", p90,
                "cells_per_s", cps, "gflops", gflops, "flops_per_step", flops,
                "loss_first", loss0, "loss_last", l.total);
            if (!o) {
                rc = cli_fail(cmd, cw_fail(CW_ENOMEM, "cannot build the JSON result: %s",
                                           jerr.text));
                goto done;
            }
            char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            printf("%s\n", s ? s : "{}");
            free(s);
            json_decref(o);
        } else {
            printf("context: threads=%d openblas_core=%s commit=%s compiler=gcc-%d.%d\n",
                   omp_get_max_threads(), core ? core : "unknown", commit, __GNUC__,
                   __GNUC_MINOR__);
            printf("model cmvae: genes %lld, latent %lld, targets %lld, hidden %lld, batch %lld; "
                   "%lld steps after %lld warm-up, seed %llu\n",
                   (long long)G, (long long)Z, (long long)C, (long long)H, (long long)B,
                   (long long)steps, (long long)warmup, (unsigned long long)seed);
            printf("validation: first step loss %.6g (finite); last %.6g\n", loss0, l.total);
            printf("%12s %12s %12s %14s %10s\n", "median ms", "p10 ms", "p90 ms", "cells/s",
                   "GFLOP/s");
            printf("%12.3f %12.3f %12.3f %14.0f %10.2f\n", med, p10, p90, cps, gflops);
            printf("(%.4g GFLOP per step: 16BGH + 24BHZ + 6HZ + 6BZ(Z-1) + 10B^2G)\n",
                   flops / 1e9);
        }
    }
done:
    cw_free(x);
    cw_free(y);
    free(t);
    cw_cmvae_free(&m);
    return rc;
}
