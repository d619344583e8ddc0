/* cli.h: shared pieces of the causeway subcommands: the command table, error printing with
 * the exit-code convention (0 ok, 1 runtime failure, 2 bad input or usage), strict number
 * parsing for flags.
 */
#ifndef CW_CLI_H
#define CW_CLI_H

#include "causeway.h"

#include <stdint.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_USAGE 2

int cmd_simulate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints "causeway <cmd>: error: <message>" to stderr; returns CLI_EXIT_USAGE. */
int cli_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Prints the library's message for st (cw_errmsg) and returns the exit code for st: bad input
 * (format, not found, invalid, unreadable input) -> 2, out of memory -> 1. */
int cli_fail(const char *cmd, cw_status st);

/* Strict parsers: the whole string must be a number in [lo, hi]; on failure print an error
 * naming the flag and return nonzero. */
int cli_parse_i64(const char *cmd, const char *flag, const char *s, int64_t lo, int64_t hi,
                  int64_t *out);
int cli_parse_f64(const char *cmd, const char *flag, const char *s, double lo, double hi,
                  double *out);
int cli_parse_u64(const char *cmd, const char *flag, const char *s, uint64_t *out);

/* 1 when stderr is a terminal (progress bars only then). */
int cli_stderr_is_tty(void);

#endif
