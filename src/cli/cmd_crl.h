/* cmd_crl.h: the `causeway crl` subcommands' shared flags and entry points (cmd_crl.c parses
 * and runs experiments, cmd_crl_data.c runs on user data, cmd_crl_reproduce.c the §A6.3 table). */
#ifndef CW_CLI_CMD_CRL_H
#define CW_CLI_CMD_CRL_H

#include "crl/experiment.h"

#include <stdint.h>
#include <stdio.h>

typedef struct {
    cw_crl_experiment e;
    int help, json, quiet, no_hard;
    int64_t threads;
    const char *data, *env_key, *obs_label, *out, *dag;
} cli_crl_args;

int cmd_crl(int argc, char **argv);

/* Parses the flags of `crl <sub>` (cmd is "crl <sub>"); 0 ok, -1 after printing an error. */
int cli_crl_parse(const char *cmd, int argc, char **argv, cli_crl_args *a);
void cli_crl_print_summary(FILE *f, const cw_crl_experiment *e, const cw_crl_summary *s, int json);
int cli_crl_user_data(const char *cmd, const cli_crl_args *a);
int cli_crl_reproduce(int argc, char **argv);
/* OpenMP and OpenBLAS threads (0 = leave the defaults). */
void cli_crl_set_threads(int64_t threads);

#endif
