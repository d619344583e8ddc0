/* main.c: the causeway program: `causeway <command> [options]`, one file per command. */
#include "cli/cli.h"
#include "cli/cmd_crl.h"
#include "cli/cmd_evaluate.h"
#include "cli/cmd_extra.h"

#include <stdio.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <string.h>

typedef struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"simulate", cmd_simulate, "write a simulated Perturb-seq dataset with known causal truth"},
    {"info", cmd_info, "summarise an .h5ad file as a perturbation dataset"},
    {"train", cmd_train, "train a model (cmvae, grace, vgae, multihot, sena); --resume continues"},
    {"evaluate", cmd_evaluate, "metrics of a trained run on held-out perturbations, beside baselines"},
    {"predict", cmd_predict, "generate cells for any combination of known targets into an .h5ad"},
    {"ablate", cmd_ablate, "train and evaluate every model variant over seeds: the ablation table"},
    {"dag", cmd_dag, "write a run's learned latent DAG (TSV, DOT, SVG) and target assignments"},
    {"split", cmd_split, "make, save or check a seeded train/val/test split"},
    {"crl", cmd_crl, "score-based causal representation learning: LSCALE-I, UMNI-CRL, GSCALE-I"},
    {"bench", cmd_bench, "time the library's kernels and I/O (medians and ratios)"},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void usage(FILE *f) {
    fprintf(f,
            "causeway %s: learn latent causal programs from single-cell perturbation data\n\n"
            "usage: causeway <command> [options]   (causeway <command> --help for its options)\n\n"
            "commands:\n",
            CW_VERSION);
    for (int i = 0; i < n_commands; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv) {
#if defined(__GLIBC__)
    /* Large blocks (row blocks of X, model buffers) are freed and allocated again many times;
     * by default glibc returns each to the kernel (mmap above 32 MiB) and the next one pays
     * page faults: 10x on block reads of X. Keep them in the heap instead. */
    mallopt(M_MMAP_THRESHOLD, 1 << 30);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("causeway %s\n", CW_VERSION);
        return CLI_EXIT_OK;
    }
    for (int i = 0; i < n_commands; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "causeway: error: unknown command '%s' (see causeway --help)\n", argv[1]);
    return CLI_EXIT_USAGE;
}
