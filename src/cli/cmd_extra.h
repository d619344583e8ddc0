/* cmd_extra.h: entry points of `causeway dag` (cmd_dag.c) and `causeway bench train`
 * (cmd_bench_train.c), to be listed in the command table of main.c / cmd_bench.c. */
#ifndef CW_CLI_CMD_EXTRA_H
#define CW_CLI_CMD_EXTRA_H

#include <stdio.h>

/* causeway dag RUN_DIR [--threshold T] [--tau T] [--out DIR]; argv[0] is the command name. */
int cmd_dag(int argc, char **argv);
/* causeway ablate DATA.h5ad --out ROOT ... (cmd_ablate.c) */
int cmd_ablate(int argc, char **argv);
/* causeway bench train --model cmvae ...; argv[0] is "train" (getopt starts at argv[1]). */
int cmd_bench_train(int argc, char **argv);
/* causeway bench crl [--repeat N] (cmd_bench_crl.c). */
int cmd_bench_crl(int argc, char **argv);
/* causeway bench stream [...]: out-of-core training and evaluation (cmd_bench_stream.c). */
int cmd_bench_stream(int argc, char **argv);

#endif
