/* test_util.h: shared helpers for the cmocka test programs (temporary directories, fixture
 * paths, the shared data folder, running the causeway program). Header-only. */
#ifndef CW_TEST_UTIL_H
#define CW_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the three headers above first */
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh directory under $TMPDIR (or /tmp) for one test program; removed by the caller. */
static inline const char *cwt_tmpdir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/cwtest-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            abort();
        }
    }
    return dir;
}

static inline void cwt_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/%s", cwt_tmpdir(), name);
}

static inline void cwt_rm_tmpdir(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", cwt_tmpdir());
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", cwt_tmpdir());
}

/* cmocka group teardown: removes the program's temporary directory. */
static inline int cwt_teardown(void **state) {
    (void)state;
    cwt_rm_tmpdir();
    return 0;
}

/* Number of entries in a directory (without . and ..), -1 when it cannot be opened. */
static inline int cwt_dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static inline int cwt_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Committed fixtures live in tests/fixtures (tests run from the repository root). */
static inline void cwt_fixture(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "tests/fixtures/%s", name);
}

/* ../shared/data/<rel> if present (CW_SHARED_DATA overrides); returns 0 when absent. */
static inline int cwt_shared_data(char *out, size_t cap, const char *rel) {
    const char *base = getenv("CW_SHARED_DATA");
    snprintf(out, cap, "%s/%s", base && *base ? base : "../shared/data", rel);
    return cwt_exists(out);
}

/* Path of the built program (CW_BUILD overrides the build folder). */
static inline const char *cwt_prog(void) {
    static char p[256];
    const char *b = getenv("CW_BUILD");
    snprintf(p, sizeof p, "%s/causeway", b && *b ? b : "build");
    return p;
}

/* Runs a shell command, captures stdout+stderr into out (truncated), returns the exit status
 * (or -1 when the command did not exit normally). */
static inline int cwt_run(char *out, size_t cap, const char *fmt, ...) {
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char full[4200];
    snprintf(full, sizeof full, "%s 2>&1", cmd);
    FILE *f = popen(full, "r");
    if (!f) return -1;
    size_t n = 0;
    if (out && cap) out[0] = '\0';
    char buf[1024];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (out && n + 1 < cap) {
            size_t take = k < cap - 1 - n ? k : cap - 1 - n;
            memcpy(out + n, buf, take);
            n += take;
            out[n] = '\0';
        }
    }
    int st = pclose(f);
    if (st == -1) return -1;
    if ((st & 0x7f) != 0) return -1;
    return (st >> 8) & 0xff;
}

/* A python3 that can import the given modules ("anndata,h5py"), or NULL. Debian's packages
 * live under /usr/bin/python3 even when another python3 comes first in PATH. */
static inline const char *cwt_python_with(const char *modules) {
    static char found[64];
    const char *cands[] = {"/usr/bin/python3", "python3"};
    for (int i = 0; i < 2; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "%s -c 'import %s' >/dev/null 2>&1", cands[i], modules);
        if (system(cmd) == 0) {
            snprintf(found, sizeof found, "%s", cands[i]);
            return found;
        }
    }
    return NULL;
}

#endif
