/* status.c: the thread-local error message behind cw_errmsg(). */
#include "core/status.h"

#include <stdarg.h>
#include <string.h>

#define CW_ERRMSG_CAP 1024
static _Thread_local char cw_errbuf[CW_ERRMSG_CAP];

const char *cw_errmsg(void) { return cw_errbuf; }

void cw_clear_error(void) { cw_errbuf[0] = '\0'; }

const char *cw_status_name(cw_status st) {
    switch (st) {
    case CW_OK: return "CW_OK";
    case CW_ENOMEM: return "CW_ENOMEM";
    case CW_EIO: return "CW_EIO";
    case CW_EFORMAT: return "CW_EFORMAT";
    case CW_EINVAL: return "CW_EINVAL";
    case CW_ENOTFOUND: return "CW_ENOTFOUND";
    }
    return "CW_E?";
}

cw_status cw_fail(cw_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cw_errbuf, sizeof cw_errbuf, fmt, ap);
    va_end(ap);
    return st;
}

cw_status cw_fail_prefix(cw_status st, const char *fmt, ...) {
    char prefix[CW_ERRMSG_CAP];
    char joined[2 * CW_ERRMSG_CAP + 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t np = strlen(prefix), no = strlen(cw_errbuf);
    memcpy(joined, prefix, np);
    joined[np] = ':';
    joined[np + 1] = ' ';
    memcpy(joined + np + 2, cw_errbuf, no + 1);
    size_t n = np + 2 + no;
    if (n >= CW_ERRMSG_CAP) n = CW_ERRMSG_CAP - 1; /* truncate, keeping the front */
    memcpy(cw_errbuf, joined, n);
    cw_errbuf[n] = '\0';
    return st;
}
