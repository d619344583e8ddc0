/* cmd_simulate.c: `causeway simulate --out F.h5ad [options]`: writes a simulated Perturb-seq
 * dataset with known causal truth and its context graph (issue #2 item 5; data/simulate.h has
 * the generative model, doc/simulator.md the long form). Flag names match the option fields
 * (n_combinations <-> --n-combinations) so validation messages name the right flag.
 */
#include "cli/cli.h"

#include "core/alloc.h"
#include "core/status.h"
#include "data/simulate.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static void simulate_help(void) {
    cw_sim_options d;
    cw_sim_options_default(&d);
    printf("usage: causeway simulate --out FILE.h5ad [options]\n\n"
           "Simulates Perturb-seq cells from a latent causal model: %lld programs on a random\n"
           "DAG, targets acting by soft interventions on one program each, single and double\n"
           "perturbations, a nonlinear mixing to genes, Poisson counts, normalize_total + log1p.\n"
           "Writes FILE.h5ad (obs/guide_ids, var/gene_symbols, uns/rank_genes_groups, the truth\n"
           "in uns/causeway_truth) and the context graph FILE-stem .gmt/.ppi.txt/.relations.txt.\n\n"
           "design:\n"
           "  --n-controls N              control cells (%lld)\n"
           "  --cells-per-perturbation N  cells of every single and double (%lld)\n"
           "  --n-genes N                 genes (%lld)\n"
           "  --n-programs N              latent programs Z (%lld)\n"
           "  --n-targets N               perturbed genes (%lld)\n"
           "  --n-combinations N          double perturbations (%lld)\n"
           "  --mechanism linear|nonlinear  latent SCM mechanism (%s)\n"
           "  --seed S                    random seed (%llu)\n"
           "model:\n"
           "  --edge-prob P               DAG edge probability (%g)\n"
           "  --shift-min X --shift-max X |intervention shift| range (%g, %g)\n"
           "  --library-size L            mean counts per control cell (0 = 2 x genes)\n"
           "  --nb-theta T                negative-binomial theta; 0 = Poisson (%g)\n"
           "outputs:\n"
           "  --deg-top N                 rows of the DEG table (%lld)\n"
           "  --graph-noise F             fraction of noise edges/pathways (%g)\n"
           "  --pathways-per-program N    (%lld)\n"
           "  --gmt F --ppi F --relations F  graph file paths (default: next to --out)\n"
           "  --no-graph                  do not write the graph files\n"
           "  --gzip L                    gzip level 0-9 of the h5ad datasets (%d)\n"
           "  --threads N                 OpenMP threads (0 = all cores); output does not depend on it\n"
           "  --quiet                     no summary line\n",
           (long long)d.n_programs, (long long)d.n_controls, (long long)d.cells_per_perturbation,
           (long long)d.n_genes, (long long)d.n_programs, (long long)d.n_targets,
           (long long)d.n_combinations, cw_sim_mechanism_name(d.mechanism),
           (unsigned long long)d.seed, d.edge_prob, d.shift_min, d.shift_max, d.nb_theta,
           (long long)d.deg_top_n, d.graph_noise_fraction, (long long)d.pathways_per_program,
           d.gzip_level);
}

typedef struct {
    int tty;
} progress_ctx;

static void progress(int64_t done, int64_t n, void *ctx) {
    progress_ctx *p = ctx;
    if (!p->tty) return;
    int width = 30, filled = (int)(width * (double)done / (double)(n > 0 ? n : 1));
    fprintf(stderr, "\rsimulate [");
    for (int i = 0; i < width; i++) fputc(i < filled ? '#' : ' ', stderr);
    fprintf(stderr, "] %lld/%lld cells", (long long)done, (long long)n);
    if (done >= n) fputc('\n', stderr);
    fflush(stderr);
}

int cmd_simulate(int argc, char **argv) {
    const char *cmd = "simulate";
    cw_sim_options o;
    cw_sim_options_default(&o);
    const char *out = NULL;
    int quiet = 0;
    enum {
        O_OUT = 256, O_CTRL, O_CPP, O_GENES, O_PROG, O_TGT, O_COMB, O_MECH, O_SEED, O_EDGE,
        O_SMIN, O_SMAX, O_LIB, O_NB, O_DEG, O_GNOISE, O_PPP, O_GMT, O_PPI, O_REL, O_NOGRAPH,
        O_GZIP, O_THREADS, O_QUIET
    };
    static const struct option opts[] = {
        {"out", required_argument, 0, O_OUT},
        {"n-controls", required_argument, 0, O_CTRL},
        {"cells-per-perturbation", required_argument, 0, O_CPP},
        {"n-genes", required_argument, 0, O_GENES},
        {"n-programs", required_argument, 0, O_PROG},
        {"n-targets", required_argument, 0, O_TGT},
        {"n-combinations", required_argument, 0, O_COMB},
        {"mechanism", required_argument, 0, O_MECH},
        {"seed", required_argument, 0, O_SEED},
        {"edge-prob", required_argument, 0, O_EDGE},
        {"shift-min", required_argument, 0, O_SMIN},
        {"shift-max", required_argument, 0, O_SMAX},
        {"library-size", required_argument, 0, O_LIB},
        {"nb-theta", required_argument, 0, O_NB},
        {"deg-top", required_argument, 0, O_DEG},
        {"graph-noise", required_argument, 0, O_GNOISE},
        {"pathways-per-program", required_argument, 0, O_PPP},
        {"gmt", required_argument, 0, O_GMT},
        {"ppi", required_argument, 0, O_PPI},
        {"relations", required_argument, 0, O_REL},
        {"no-graph", no_argument, 0, O_NOGRAPH},
        {"gzip", required_argument, 0, O_GZIP},
        {"threads", required_argument, 0, O_THREADS},
        {"quiet", no_argument, 0, O_QUIET},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    const int64_t BIG = (int64_t)1 << 40;
    int64_t v;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'h': simulate_help(); return 0;
        case O_OUT: out = optarg; break;
        case O_CTRL: bad = cli_parse_i64(cmd, "--n-controls", optarg, 0, BIG, &o.n_controls); break;
        case O_CPP:
            bad = cli_parse_i64(cmd, "--cells-per-perturbation", optarg, 1, BIG,
                                &o.cells_per_perturbation);
            break;
        case O_GENES: bad = cli_parse_i64(cmd, "--n-genes", optarg, 1, BIG, &o.n_genes); break;
        case O_PROG: bad = cli_parse_i64(cmd, "--n-programs", optarg, 1, 100000, &o.n_programs); break;
        case O_TGT: bad = cli_parse_i64(cmd, "--n-targets", optarg, 0, BIG, &o.n_targets); break;
        case O_COMB: bad = cli_parse_i64(cmd, "--n-combinations", optarg, 0, BIG, &o.n_combinations); break;
        case O_MECH:
            if (cw_sim_mechanism_parse(optarg, &o.mechanism))
                return cli_error(cmd, "--mechanism: expected linear or nonlinear, got '%s'", optarg);
            break;
        case O_SEED: bad = cli_parse_u64(cmd, "--seed", optarg, &o.seed); break;
        case O_EDGE: bad = cli_parse_f64(cmd, "--edge-prob", optarg, 0, 1, &o.edge_prob); break;
        case O_SMIN: bad = cli_parse_f64(cmd, "--shift-min", optarg, 0, 1e6, &o.shift_min); break;
        case O_SMAX: bad = cli_parse_f64(cmd, "--shift-max", optarg, 0, 1e6, &o.shift_max); break;
        case O_LIB: bad = cli_parse_f64(cmd, "--library-size", optarg, 0, 1e12, &o.library_size); break;
        case O_NB: bad = cli_parse_f64(cmd, "--nb-theta", optarg, 0, 1e12, &o.nb_theta); break;
        case O_DEG: bad = cli_parse_i64(cmd, "--deg-top", optarg, 1, BIG, &o.deg_top_n); break;
        case O_GNOISE:
            bad = cli_parse_f64(cmd, "--graph-noise", optarg, 0, 10, &o.graph_noise_fraction);
            break;
        case O_PPP:
            bad = cli_parse_i64(cmd, "--pathways-per-program", optarg, 0, 10000,
                                &o.pathways_per_program);
            break;
        case O_GMT: o.gmt_path = optarg; break;
        case O_PPI: o.ppi_path = optarg; break;
        case O_REL: o.relations_path = optarg; break;
        case O_NOGRAPH: o.write_graph = 0; break;
        case O_GZIP:
            bad = cli_parse_i64(cmd, "--gzip", optarg, 0, 9, &v);
            o.gzip_level = (int)v;
            break;
        case O_THREADS:
            bad = cli_parse_i64(cmd, "--threads", optarg, 0, 4096, &v);
            o.threads = (int)v;
            break;
        case O_QUIET: quiet = 1; break;
        default: return CLI_EXIT_USAGE;
        }
        if (bad) return CLI_EXIT_USAGE;
    }
    if (optind < argc) return cli_error(cmd, "unexpected argument '%s' (see --help)", argv[optind]);
    if (!out) return cli_error(cmd, "--out FILE.h5ad is required (see --help)");
    progress_ctx pc = {cli_stderr_is_tty() && !quiet};
    cw_sim_report rep;
    cw_status st = cw_simulate_write(&o, out, progress, &pc, &rep);
    if (st) return cli_fail(cmd, st);
    if (!quiet) {
        printf("wrote %s: %lld cells x %lld genes, %lld groups, %.1f%% zeros, seed %llu "
               "(%.2f s, %.0f cells/s)\n",
               out, (long long)rep.n_cells, (long long)rep.n_genes, (long long)rep.n_groups,
               100.0 * rep.zero_fraction, (unsigned long long)o.seed, rep.seconds,
               rep.cells_per_second);
        if (o.write_graph) {
            char *gmt = NULL, *ppi = NULL, *rel = NULL;
            if (cw_sim_graph_paths(&o, out, &gmt, &ppi, &rel) == CW_OK)
                printf("context graph: %s, %s, %s\n", gmt, ppi, rel);
            cw_free(gmt);
            cw_free(ppi);
            cw_free(rel);
        }
    }
    return 0;
}
