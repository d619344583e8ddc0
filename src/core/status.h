/* status.h: status codes, the thread-local error message, and assertions.
 *
 * cw_fail() formats a message and returns the status so call sites read
 *     if (bad) return cw_fail(CW_EFORMAT, "%s: /obs/%s: expected strings, found %s", ...);
 * CW_ASSERT is for programmer errors only: it prints file:line and aborts, always on.
 */
#ifndef CW_STATUS_H
#define CW_STATUS_H

#include "causeway.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__GNUC__)
#define CW_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CW_PRINTF(a, b)
#endif

/* Sets the message and returns st. */
cw_status cw_fail(cw_status st, const char *fmt, ...) CW_PRINTF(2, 3);
/* Prefixes the current message with "<prefix>: " and returns st (adds context on the way up). */
cw_status cw_fail_prefix(cw_status st, const char *fmt, ...) CW_PRINTF(2, 3);
void cw_clear_error(void);

#define CW_ASSERT(cond)                                                                        \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* Propagate a non-OK status. */
#define CW_TRY(expr)                                                                           \
    do {                                                                                       \
        cw_status cw_try_st_ = (expr);                                                         \
        if (cw_try_st_ != CW_OK) return cw_try_st_;                                            \
    } while (0)

#endif
