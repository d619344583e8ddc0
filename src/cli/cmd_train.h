/* cmd_train.h: the option parser `causeway train` and `causeway ablate` share (cmd_train.c). */
#ifndef CW_CLI_CMD_TRAIN_H
#define CW_CLI_CMD_TRAIN_H

#include "cli/cli.h"
#include "models/trainer.h"

typedef struct {
    cw_train_opts o;       /* every option, graph and perturbation flags folded in */
    cli_perturb_args pa;   /* storage of o.controls */
    cli_graph_args ga;
    const char *resume;    /* train --resume */
    const char *seeds;     /* ablate --seeds */
    const char *variants;  /* ablate --variants */
    int help;              /* --help was printed */
} cli_train_args;

/* Parses argv (getopt from argv[1]); ablate: accept --seeds/--variants and refuse the per-run
 * flags. Returns 0 (positional arguments start at optind) or the exit code of a bad flag (the
 * message printed). Free with cli_train_args_free either way. */
int cli_train_parse(const char *cmd, int argc, char **argv, int ablate, cli_train_args *t,
                    void (*help)(void));
void cli_train_args_free(cli_train_args *t);

#endif
