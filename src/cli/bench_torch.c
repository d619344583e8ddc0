/* bench_torch.c: runs the PyTorch baseline script and reads its JSON (bench_torch.h).
 *
 * The command line is built from validated numbers, the two fixed words model and dtype, and the
 * interpreter and script paths single-quoted for /bin/sh; popen runs it, the whole stdout is read
 * and its last line starting with '{' is parsed with jansson. Whether the interpreter imports
 * torch is checked once per interpreter path (not thread-safe; bench programs are sequential).
 */
#include "cli/bench_torch.h"

#include "core/alloc.h"
#include "core/status.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BT_MMAP_THRESHOLD "1073741824" /* 1 GiB: large activations come from the heap */
#define BT_TRIM_THRESHOLD "17179869184" /* 16 GiB: freed memory is kept, not returned */

/* Appends s to buf (capacity cap) single-quoted for /bin/sh; 0 when it does not fit. */
static int bt_append_quoted(char *buf, size_t cap, const char *s) {
    size_t n = strlen(buf);
    if (n + 1 >= cap) return 0;
    buf[n++] = '\'';
    for (; *s; s++) {
        const char *piece = *s == '\'' ? "'\\''" : NULL;
        size_t len = piece ? 4 : 1;
        if (n + len + 2 >= cap) return 0;
        if (piece)
            memcpy(buf + n, piece, len);
        else
            buf[n] = *s;
        n += len;
    }
    buf[n++] = '\'';
    buf[n] = '\0';
    return 1;
}

/* Appends printf output to buf (capacity cap); 0 when it does not fit. */
static int bt_append(char *buf, size_t cap, const char *fmt, ...) CW_PRINTF(3, 4);
static int bt_append(char *buf, size_t cap, const char *fmt, ...) {
    size_t n = strlen(buf);
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(buf + n, cap - n, fmt, ap);
    va_end(ap);
    return w >= 0 && (size_t)w < cap - n;
}

static int bt_is_file(const char *path) {
    return access(path, R_OK) == 0;
}

/* The script's path into out (cap bytes); 0 when none is found. */
static int bt_find_script(char *out, size_t cap) {
    const char *env = getenv("CAUSEWAY_TORCH_BASELINE");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return bt_is_file(out);
    }
    snprintf(out, cap, "bench/torch_baseline.py");
    if (bt_is_file(out)) return 1;
    char exe[4096];
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len <= 0) return 0;
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash) return 0;
    *slash = '\0';
    static const char *const up[] = {"..", "../..", "../../.."};
    for (size_t i = 0; i < sizeof up / sizeof up[0]; i++) {
        int w = snprintf(out, cap, "%s/%s/bench/torch_baseline.py", exe, up[i]);
        if (w > 0 && (size_t)w < cap && bt_is_file(out)) return 1;
    }
    return 0;
}

/* The number member key of o into *v; 0 when absent, not a number or not finite. */
static int bt_number(const json_t *o, const char *key, double *v) {
    const json_t *j = json_object_get(o, key);
    if (!json_is_number(j)) return 0;
    *v = json_number_value(j);
    return isfinite(*v);
}

cw_status cli_bench_torch(double *median_ms, double *p10_ms, double *p90_ms, const char *model,
                          int64_t G, int64_t Z, int64_t H, int64_t B, int64_t nodes,
                          int64_t edges, int threads, const char *dtype, int64_t steps) {
    const char *what = "bench torch";
    if (!model || (strcmp(model, "cmvae") != 0 && strcmp(model, "grace") != 0))
        return cw_fail(CW_EINVAL, "%s: model '%s': expected cmvae or grace", what,
                       model ? model : "(null)");
    if (!dtype || (strcmp(dtype, "float32") != 0 && strcmp(dtype, "float64") != 0))
        return cw_fail(CW_EINVAL, "%s: dtype '%s': expected float32 or float64", what,
                       dtype ? dtype : "(null)");
    if (G < 1 || Z < 1 || H < 1 || B < 1 || steps < 1 || threads < 0)
        return cw_fail(CW_EINVAL,
                       "%s: genes %lld, latent %lld, hidden %lld, batch %lld, steps %lld must "
                       "be >= 1 and threads %d >= 0", what, (long long)G, (long long)Z,
                       (long long)H, (long long)B, (long long)steps, threads);
    const int grace = strcmp(model, "grace") == 0;
    if (grace && (nodes < G || edges < 0 || edges % 2 != 0))
        return cw_fail(CW_EINVAL,
                       "%s: grace: nodes %lld must be >= genes %lld and edges %lld even and >= 0",
                       what, (long long)nodes, (long long)G, (long long)edges);

    const char *py = getenv("CAUSEWAY_PYTHON");
    if (!py || !*py) py = "/usr/bin/python3";
    if (access(py, X_OK) != 0)
        return cw_fail(CW_ENOTFOUND, "%s: %s not found (install python3-torch, or set "
                       "CAUSEWAY_PYTHON to a python with torch)", what, py);
    /* can py import torch? (remembered for the last interpreter asked about: ~1 s each) */
    static char checked_py[4096];
    static int checked_ok;
    char cmd[12288] = "";
    if (strcmp(checked_py, py) != 0) {
        if (!bt_append_quoted(cmd, sizeof cmd, py) ||
            !bt_append(cmd, sizeof cmd, " -c 'import torch' >/dev/null 2>&1"))
            return cw_fail(CW_EINVAL, "%s: interpreter path too long", what);
        int rc = system(cmd);
        checked_ok = rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0;
        snprintf(checked_py, sizeof checked_py, "%s", py);
    }
    if (!checked_ok)
        return cw_fail(CW_ENOTFOUND, "%s: %s cannot import torch (install python3-torch, or set "
                       "CAUSEWAY_PYTHON to a python with torch)", what, py);
    char script[4096];
    if (!bt_find_script(script, sizeof script))
        return cw_fail(CW_ENOTFOUND, "%s: bench/torch_baseline.py not found (run from the source "
                       "tree, or set CAUSEWAY_TORCH_BASELINE)", what);

    cmd[0] = '\0';
    int ok = bt_append(cmd, sizeof cmd, "exec env MALLOC_MMAP_THRESHOLD_=%s "
                       "MALLOC_TRIM_THRESHOLD_=%s", BT_MMAP_THRESHOLD, BT_TRIM_THRESHOLD);
    if (ok && threads > 0) ok = bt_append(cmd, sizeof cmd, " OMP_NUM_THREADS=%d", threads);
    ok = ok && bt_append(cmd, sizeof cmd, " ") && bt_append_quoted(cmd, sizeof cmd, py) &&
         bt_append(cmd, sizeof cmd, " ") && bt_append_quoted(cmd, sizeof cmd, script) &&
         bt_append(cmd, sizeof cmd,
                   " --model %s --genes %lld --latent-dim %lld --hidden %lld --batch-size %lld"
                   " --dtype %s --threads %d --steps %lld",
                   model, (long long)G, (long long)Z, (long long)H, (long long)B, dtype, threads,
                   (long long)steps);
    if (ok && grace)
        ok = bt_append(cmd, sizeof cmd, " --nodes %lld --edges %lld", (long long)nodes,
                       (long long)edges);
    if (!ok) return cw_fail(CW_EINVAL, "%s: interpreter or script path too long", what);

    fflush(stdout);
    fflush(stderr);
    FILE *f = popen(cmd, "r");
    if (!f) return cw_fail(CW_EIO, "%s: cannot start %s", what, py);
    size_t cap = 4096, len = 0;
    char *out = cw_malloc(cap);
    int oom = !out;
    while (!oom) {
        if (len + 1024 + 1 > cap) {
            char *grown = cw_realloc(out, cap * 2);
            if (!grown) {
                oom = 1;
                break;
            }
            out = grown;
            cap *= 2;
        }
        size_t got = fread(out + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int rc = pclose(f);
    if (oom) {
        cw_free(out);
        return cw_fail(CW_ENOMEM, "%s: out of memory for the script's output", what);
    }
    out[len] = '\0';
    if (rc == -1 || !WIFEXITED(rc) || WEXITSTATUS(rc) != 0) {
        cw_free(out);
        return cw_fail(CW_EIO, "%s: %s failed (status %d; its message is above)", what, script,
                       rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc));
    }
    /* the last line that starts with '{' */
    char *line = NULL;
    for (char *p = out; p && *p; ) {
        if (*p == '{') line = p;
        p = strchr(p, '\n');
        if (p) p++;
    }
    json_error_t jerr;
    json_t *o = line ? json_loadb(line, strcspn(line, "\n"), 0, &jerr) : NULL;
    cw_status st = CW_OK;
    double med = 0, p10 = 0, p90 = 0;
    if (!o)
        st = cw_fail(CW_EFORMAT, "%s: %s printed no JSON object%s%s", what, script,
                     line ? ": " : "", line ? jerr.text : "");
    else if (!bt_number(o, "median_ms", &med) || !bt_number(o, "p10_ms", &p10) ||
             !bt_number(o, "p90_ms", &p90))
        st = cw_fail(CW_EFORMAT, "%s: %s: expected finite numbers median_ms, p10_ms, p90_ms",
                     what, script);
    else if (!json_is_string(json_object_get(o, "model")) ||
             strcmp(json_string_value(json_object_get(o, "model")), model) != 0 ||
             !json_is_string(json_object_get(o, "dtype")) ||
             strcmp(json_string_value(json_object_get(o, "dtype")), dtype) != 0)
        st = cw_fail(CW_EFORMAT, "%s: %s: the output is not for model %s, dtype %s", what,
                     script, model, dtype);
    json_decref(o);
    cw_free(out);
    if (st) return st;
    *median_ms = med;
    *p10_ms = p10;
    *p90_ms = p90;
    return CW_OK;
}
