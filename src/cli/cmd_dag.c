/* cmd_dag.c: `causeway dag RUN_DIR`: exports the learned causal graph of a trained CMVAE run
 * (spec grace_cmvae.md §7): A = triu(G, 1) thresholded at |A_ij| > T (0.005, as the reference
 * check_DAG.ipynb), and the assignment of every intervention target to a latent program by
 * argmax of bc = softmax(tau (lrelu(Wc1[:,k] + bc1) Wc2^T + bc2)) with tau = 20.
 *
 * Reads RUN_DIR/checkpoint.ckpt (model "cmvae"; config keys genes, latent_dim, targets, hidden,
 * batch_size, lambda, lr, seed, target_names); the other family members with a DAG (grace,
 * multihot, sena, and the graph intervention encoders, whose bc and strength come from the
 * encoder at tau min(T, 10)) are opened as a run (models/run.h: data and graph files as
 * trained); vgae has no DAG. Writes, each to a temporary name then renamed:
 *   dag.tsv         source, target, weight: one row per kept edge (programs named z0..z{Z-1})
 *   dag.dot         Graphviz digraph: edge label = weight (3 decimals), penwidth ~ |w|,
 *                   red positive / blue negative; node label = program + its assigned targets
 *   assignment.tsv  target, program (argmax bc), weight (c_shift[k]), then bc over z0..z{Z-1}
 *   dag.svg         `dot -Tsvg dag.dot` when dot is on PATH (skipped with a note otherwise)
 * Every input error is detected before anything is written (exit 2, one line).
 */
#include "cli/cli.h"
#include "cli/cmd_extra.h"

#include "core/status.h"
#include "io/checkpoint.h"
#include "models/cmvae.h"
#include "models/run.h"
#include "nn/activation.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void dag_help(void) {
    printf("usage: causeway dag RUN_DIR [--threshold T] [--tau T] [--out DIR]\n\n"
           "Exports the learned DAG A = triu(G, 1) of a trained cmvae run (RUN_DIR/checkpoint.ckpt)\n"
           "and assigns each intervention target to the latent program argmax bc.\n\n"
           "  --threshold T   keep edges with |A_ij| > T (0.005)\n"
           "  --tau T         softmax inverse temperature of bc for the assignment (20)\n"
           "  --out DIR       where to write (RUN_DIR; created if absent)\n\n"
           "Writes dag.tsv, dag.dot, assignment.tsv and, when Graphviz dot is on PATH, dag.svg.\n");
}

/* The run's config as the checkpoint stores it. */
typedef struct {
    int64_t genes, latent, targets, hidden, batch;
    double lambda, lr;
    char **names; /* targets entries, borrowed from the json object */
} dag_config;

/* Reads the documented keys; on a missing or mistyped key prints one line naming file + key. */
static int dag_read_config(const char *cmd, const char *path, json_t *o, dag_config *c) {
    static const char *ints[] = {"genes", "latent_dim", "targets", "hidden", "batch_size"};
    int64_t *dst[] = {&c->genes, &c->latent, &c->targets, &c->hidden, &c->batch};
    if (!json_is_object(o)) return cli_error(cmd, "%s: checkpoint config is not a JSON object", path);
    for (int i = 0; i < 5; i++) {
        json_t *v = json_object_get(o, ints[i]);
        if (!v) return cli_error(cmd, "%s: checkpoint config lacks key '%s'", path, ints[i]);
        if (!json_is_integer(v) || json_integer_value(v) < 1 ||
            json_integer_value(v) > ((int64_t)1 << 40))
            return cli_error(cmd, "%s: checkpoint config key '%s' is not a positive integer",
                             path, ints[i]);
        *dst[i] = (int64_t)json_integer_value(v);
    }
    static const char *nums[] = {"lambda", "lr"};
    double *ndst[] = {&c->lambda, &c->lr};
    for (int i = 0; i < 2; i++) {
        json_t *v = json_object_get(o, nums[i]);
        if (!v) return cli_error(cmd, "%s: checkpoint config lacks key '%s'", path, nums[i]);
        if (!json_is_number(v))
            return cli_error(cmd, "%s: checkpoint config key '%s' is not a number", path, nums[i]);
        *ndst[i] = json_number_value(v);
    }
    json_t *seed = json_object_get(o, "seed");
    if (!seed) return cli_error(cmd, "%s: checkpoint config lacks key 'seed'", path);
    if (!json_is_string(seed) && !json_is_integer(seed))
        return cli_error(cmd, "%s: checkpoint config key 'seed' is not a string or integer", path);
    json_t *names = json_object_get(o, "target_names");
    if (!names) return cli_error(cmd, "%s: checkpoint config lacks key 'target_names'", path);
    if (!json_is_array(names) || (int64_t)json_array_size(names) != c->targets)
        return cli_error(cmd, "%s: checkpoint config key 'target_names' is not an array of %lld "
                              "strings", path, (long long)c->targets);
    c->names = calloc((size_t)c->targets, sizeof(char *));
    if (!c->names) return cli_fail(cmd, cw_fail(CW_ENOMEM, "out of memory"));
    for (int64_t k = 0; k < c->targets; k++) {
        json_t *s = json_array_get(names, (size_t)k);
        if (!json_is_string(s)) {
            free(c->names);
            c->names = NULL;
            return cli_error(cmd, "%s: checkpoint config key 'target_names': entry %lld is not a "
                                  "string", path, (long long)k);
        }
        c->names[k] = (char *)json_string_value(s);
    }
    return 0;
}

/* bc for target k in double: softmax(tau (lrelu(W1[:,k] + b1) W2^T + b2)); hc scratch (H). */
static void dag_bc(const cw_cmvae *m, int64_t k, double tau, double *hc, double *bc) {
    const int64_t Z = m->cfg.latent, C = m->cfg.targets, H = m->cfg.hidden;
    const real *w1 = cw_cmvae_param(m, CW_CMVAE_C1_W), *b1 = cw_cmvae_param(m, CW_CMVAE_C1_B);
    const real *w2 = cw_cmvae_param(m, CW_CMVAE_C2_W), *b2 = cw_cmvae_param(m, CW_CMVAE_C2_B);
    for (int64_t i = 0; i < H; i++) {
        double h = (double)w1[i * C + k] + (double)b1[i];
        hc[i] = h > 0 ? h : CW_LRELU_SLOPE * h;
    }
    double mx = -INFINITY;
    for (int64_t j = 0; j < Z; j++) {
        double s = b2[j];
        for (int64_t i = 0; i < H; i++) s += (double)w2[j * H + i] * hc[i];
        bc[j] = tau * s;
        if (bc[j] > mx) mx = bc[j];
    }
    double sum = 0;
    for (int64_t j = 0; j < Z; j++) sum += bc[j] = exp(bc[j] - mx);
    for (int64_t j = 0; j < Z; j++) bc[j] /= sum;
}

/* Target names in TSV: tabs and newlines become spaces. */
static void dag_put_field(FILE *f, const char *s) {
    for (; *s; s++) fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
}

/* Inside a DOT double-quoted string. */
static void dag_put_dot(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
    }
}

typedef struct {
    char tmp[3][4160], fin[3][4096];
} dag_paths;

static int dag_on_path(const char *prog) {
    const char *path = getenv("PATH");
    if (!path) return 0;
    char buf[4096];
    while (*path) {
        size_t n = strcspn(path, ":");
        snprintf(buf, sizeof buf, "%.*s/%s", (int)(n ? n : 1), n ? path : ".", prog);
        if (access(buf, X_OK) == 0) return 1;
        path += n;
        if (*path == ':') path++;
    }
    return 0;
}

/* dot -Tsvg -o OUT.tmp IN, renamed to OUT on success; returns 0 on success. */
static int dag_run_dot(const char *dot_path, const char *svg_path) {
    char tmp[4160];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", svg_path, (long)getpid());
    char *args[] = {"dot", "-Tsvg", "-o", tmp, (char *)dot_path, NULL};
    pid_t pid;
    fflush(stdout);
    if (posix_spawnp(&pid, "dot", NULL, NULL, args, environ) != 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || rename(tmp, svg_path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

int cmd_dag(int argc, char **argv) {
    const char *cmd = "dag";
    double threshold = 0.005, tau = 20;
    const char *outdir = NULL;
    enum { O_THR = 256, O_TAU, O_OUT };
    static const struct option opts[] = {{"threshold", required_argument, 0, O_THR},
                                         {"tau", required_argument, 0, O_TAU},
                                         {"out", required_argument, 0, O_OUT},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'h': dag_help(); return 0;
        case O_THR:
            if (cli_parse_f64(cmd, "--threshold", optarg, 0, 1e30, &threshold)) return 2;
            break;
        case O_TAU:
            if (cli_parse_f64(cmd, "--tau", optarg, 1e-6, 1e6, &tau)) return 2;
            break;
        case O_OUT: outdir = optarg; break;
        default: return 2;
        }
    }
    if (optind != argc - 1) return cli_error(cmd, "expected one RUN_DIR (see --help)");
    const char *run = argv[optind];
    struct stat sb;
    if (stat(run, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return cli_error(cmd, "%s: no such run directory", run);
    if (!outdir) outdir = run;
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.ckpt", run);
    if (stat(ckpt, &sb) != 0) return cli_error(cmd, "%s: no checkpoint in the run directory", ckpt);

    cw_ckpt_meta meta;
    memset(&meta, 0, sizeof meta);
    cw_status st = cw_checkpoint_peek(ckpt, &meta);
    if (st) return cli_fail(cmd, st);
    if (!strcmp(meta.model, "vgae")) {
        int rc = cli_error(cmd, "%s: model 'vgae' has no causal layer, so no DAG to export", ckpt);
        cw_ckpt_meta_free(&meta);
        return rc;
    }
    /* a plain cmvae (mlp intervention encoder, no extra inputs) needs only its checkpoint; any
     * other model is opened as a run with its data and graph files */
    int family = strcmp(meta.model, "cmvae") != 0;
    json_error_t jerr;
    json_t *cj = json_loads(meta.config_json, JSON_DECODE_ANY, &jerr);
    cw_ckpt_meta_free(&meta);
    if (!cj) return cli_error(cmd, "%s: checkpoint config is not valid JSON: %s", ckpt, jerr.text);
    {
        const char *iv = json_string_value(json_object_get(cj, "interv_encoder"));
        json_t *ex = json_object_get(cj, "extra_inputs");
        if ((iv && strcmp(iv, "mlp") != 0) || (json_is_integer(ex) && json_integer_value(ex) > 0))
            family = 1;
    }
    dag_config cfgj;
    memset(&cfgj, 0, sizeof cfgj);
    int rc = dag_read_config(cmd, ckpt, cj, &cfgj);
    if (rc) {
        json_decref(cj);
        return rc;
    }

    cw_cmvae_config cfg;
    cw_cmvae_config_default(&cfg, cfgj.genes, cfgj.latent, cfgj.targets);
    cfg.hidden = cfgj.hidden;
    cfg.batch = cfgj.batch;
    cfg.lambda = cfgj.lambda;
    cfg.lr = cfgj.lr;
    cw_rng rng;
    cw_rng_seed(&rng, 0);
    cw_cmvae own;
    cw_run r;
    memset(&own, 0, sizeof own);
    memset(&r, 0, sizeof r);
    cw_cmvae *m = family ? &r.model : &own;
    if (family) {
        st = cw_run_open(&r, run, NULL);
    } else {
        st = cw_cmvae_init(&own, &cfg, &rng);
        if (st == CW_OK) st = cw_checkpoint_load(ckpt, &own.table, NULL);
    }
    if (st) {
        rc = cli_fail(cmd, st);
        cw_cmvae_free(&own);
        cw_run_close(&r);
        free(cfgj.names);
        json_decref(cj);
        return rc;
    }

    const int64_t Z = m->cfg.latent, C = m->cfg.targets, H = m->cfg.hidden;
    const real *g = cw_cmvae_param(m, CW_CMVAE_G);
    double *bc = malloc((size_t)(C * Z) * sizeof(double));
    double *shift = malloc((size_t)C * sizeof(double));
    real *bcr = malloc((size_t)Z * sizeof(real));
    double *hc = malloc((size_t)H * sizeof(double));
    int64_t *prog = malloc((size_t)C * sizeof(int64_t));
    char *used = calloc((size_t)Z, 1);
    FILE *f[3] = {NULL, NULL, NULL};
    dag_paths p;
    memset(&p, 0, sizeof p);
    static const char *names[3] = {"dag.tsv", "dag.dot", "assignment.tsv"};
    if (!bc || !shift || !bcr || !hc || !prog || !used) {
        rc = cli_fail(cmd, cw_fail(CW_ENOMEM, "out of memory"));
        goto done;
    }
    for (int64_t k = 0; k < C; k++) {
        double *b = bc + k * Z;
        if (!family) {
            dag_bc(m, k, tau, hc, b);
            shift[k] = cw_cmvae_param(m, CW_CMVAE_C_SHIFT)[k];
        } else {
            real sk;
            cw_cmvae_intervention(m, k, (real)tau, bcr, &sk);
            for (int64_t j = 0; j < Z; j++) b[j] = bcr[j];
            shift[k] = sk;
        }
        int64_t best = 0;
        for (int64_t j = 1; j < Z; j++)
            if (b[j] > b[best]) best = j;
        prog[k] = best;
    }
    double wmax = 0;
    int64_t n_edges = 0;
    for (int64_t i = 0; i < Z; i++)
        for (int64_t j = i + 1; j < Z; j++) {
            double a = fabs((double)g[i * Z + j]);
            if (a > threshold) {
                n_edges++;
                used[i] = used[j] = 1;
                if (a > wmax) wmax = a;
            }
        }
    for (int64_t k = 0; k < C; k++) used[prog[k]] = 1;

    if (stat(outdir, &sb) != 0) {
        if (mkdir(outdir, 0777) != 0) {
            rc = cli_error(cmd, "%s: cannot create the output directory: %s", outdir,
                           strerror(errno));
            goto done;
        }
    } else if (!S_ISDIR(sb.st_mode)) {
        rc = cli_error(cmd, "%s: --out is not a directory", outdir);
        goto done;
    }
    for (int i = 0; i < 3; i++) {
        snprintf(p.fin[i], sizeof p.fin[i], "%s/%s", outdir, names[i]);
        snprintf(p.tmp[i], sizeof p.tmp[i], "%s.tmp-%ld", p.fin[i], (long)getpid());
    }
    for (int i = 0; i < 3; i++) {
        f[i] = fopen(p.tmp[i], "w");
        if (!f[i]) {
            rc = cli_error(cmd, "%s: cannot write: %s", p.tmp[i], strerror(errno));
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    }
    /* dag.tsv */
    fprintf(f[0], "source\ttarget\tweight\n");
    for (int64_t i = 0; i < Z; i++)
        for (int64_t j = i + 1; j < Z; j++)
            if (fabs((double)g[i * Z + j]) > threshold)
                fprintf(f[0], "z%lld\tz%lld\t%.9g\n", (long long)i, (long long)j,
                        (double)g[i * Z + j]);
    /* dag.dot */
    fprintf(f[1], "// causeway dag: A = triu(G, 1), |A_ij| > %g; programs without edges or\n"
                  "// assigned targets are omitted. Red: positive weight, blue: negative.\n"
                  "digraph causeway_dag {\n  rankdir=TB;\n  node [shape=box, fontsize=10];\n",
            threshold);
    for (int64_t j = 0; j < Z; j++) {
        if (!used[j]) continue;
        fprintf(f[1], "  z%lld [label=\"z%lld", (long long)j, (long long)j);
        int first = 1;
        for (int64_t k = 0; k < C; k++)
            if (prog[k] == j) {
                fputs(first ? "\\n" : ", ", f[1]);
                dag_put_dot(f[1], cfgj.names[k]);
                first = 0;
            }
        fprintf(f[1], "\"];\n");
    }
    for (int64_t i = 0; i < Z; i++)
        for (int64_t j = i + 1; j < Z; j++) {
            double w = g[i * Z + j];
            if (fabs(w) <= threshold) continue;
            double pw = 0.5 + 4.5 * (wmax > 0 ? fabs(w) / wmax : 1.0);
            fprintf(f[1], "  z%lld -> z%lld [label=\"%.3f\", penwidth=%.2f, color=%s];\n",
                    (long long)i, (long long)j, w, pw, w > 0 ? "red" : "blue");
        }
    fprintf(f[1], "}\n");
    /* assignment.tsv */
    fprintf(f[2], "target\tprogram\tweight");
    for (int64_t j = 0; j < Z; j++) fprintf(f[2], "\tz%lld", (long long)j);
    fputc('\n', f[2]);
    for (int64_t k = 0; k < C; k++) {
        dag_put_field(f[2], cfgj.names[k]);
        fprintf(f[2], "\tz%lld\t%.9g", (long long)prog[k], (double)shift[k]);
        for (int64_t j = 0; j < Z; j++) fprintf(f[2], "\t%.6g", bc[k * Z + j]);
        fputc('\n', f[2]);
    }
    for (int i = 0; i < 3; i++) {
        int bad = ferror(f[i]) || fflush(f[i]) != 0 || fsync(fileno(f[i])) != 0;
        bad |= fclose(f[i]) != 0;
        f[i] = NULL;
        if (bad) {
            cli_error(cmd, "%s: write failed", p.tmp[i]);
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    }
    for (int i = 0; i < 3; i++)
        if (rename(p.tmp[i], p.fin[i]) != 0) {
            cli_error(cmd, "%s: cannot rename to %s: %s", p.tmp[i], p.fin[i], strerror(errno));
            rc = CLI_EXIT_FAIL;
            goto done;
        }
    int64_t n_prog = 0;
    for (int64_t j = 0; j < Z; j++) {
        int any = 0;
        for (int64_t k = 0; k < C && !any; k++) any = prog[k] == j;
        n_prog += any;
    }
    printf("dag: %s: %lld latent programs, %lld targets\n", ckpt, (long long)Z, (long long)C);
    printf("edges kept: %lld of %lld (|A_ij| > %g)\n", (long long)n_edges,
           (long long)(Z * (Z - 1) / 2), threshold);
    printf("programs with targets: %lld of %lld (argmax bc, tau %g)\n", (long long)n_prog,
           (long long)Z, tau);
    printf("wrote %s, %s, %s\n", p.fin[0], p.fin[1], p.fin[2]);
    {
        char svg[4096];
        snprintf(svg, sizeof svg, "%s/dag.svg", outdir);
        if (!dag_on_path("dot"))
            printf("note: Graphviz dot not on PATH; dag.svg not drawn\n");
        else if (dag_run_dot(p.fin[1], svg) != 0)
            printf("note: dot -Tsvg failed; dag.svg not drawn\n");
        else
            printf("wrote %s\n", svg);
    }
done:
    for (int i = 0; i < 3; i++)
        if (f[i]) {
            fclose(f[i]);
            unlink(p.tmp[i]);
        }
    if (rc)
        for (int i = 0; i < 3; i++)
            if (p.tmp[0][0]) unlink(p.tmp[i]);
    free(bc);
    free(shift);
    free(bcr);
    free(hc);
    free(prog);
    free(used);
    cw_cmvae_free(&own);
    cw_run_close(&r);
    free(cfgj.names);
    json_decref(cj);
    return rc;
}
