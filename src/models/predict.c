/* predict.c: cells for requested perturbations from a trained run (see predict.h). */
#include "models/predict.h"

#include "core/alloc.h"
#include "core/rng.h"
#include "core/status.h"
#include "io/h5ad.h"
#include "models/run.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Edit distance of two short strings (names), capped at 64 characters each. */
static int edit_distance(const char *a, const char *b) {
    int la = (int)strlen(a), lb = (int)strlen(b);
    if (la > 64) la = 64;
    if (lb > 64) lb = 64;
    int prev[65], cur[65];
    for (int j = 0; j <= lb; j++) prev[j] = j;
    for (int i = 1; i <= la; i++) {
        cur[0] = i;
        for (int j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof(int) * (size_t)(lb + 1));
    }
    return prev[lb];
}

/* "unknown target 'KLF' in --perturb 'KLF,SET'; closest known: KLF1, KLF2, KLF4". */
static cw_status unknown_target(const cw_strings *targets, const char *name, const char *req) {
    int best[3] = {1 << 30, 1 << 30, 1 << 30};
    int64_t who[3] = {-1, -1, -1};
    for (int64_t t = 0; t < targets->n; t++) {
        int d = edit_distance(name, targets->s[t]);
        for (int k = 0; k < 3; k++)
            if (d < best[k]) {
                for (int m = 2; m > k; m--) best[m] = best[m - 1], who[m] = who[m - 1];
                best[k] = d, who[k] = t;
                break;
            }
    }
    char list[512] = "";
    for (int k = 0; k < 3 && who[k] >= 0; k++) {
        size_t n = strlen(list);
        snprintf(list + n, sizeof list - n, "%s%s", k ? ", " : "", targets->s[who[k]]);
    }
    return cw_fail(CW_ENOTFOUND, "--perturb '%s': unknown target '%s'; closest known: %s", req,
                   name, list[0] ? list : "(none)");
}

/* Parses one request into target indices k, k2 (-1 when single). */
static cw_status parse_request(const cw_perturb_design *d, const char *req, int64_t *k, int64_t *k2,
                               char *label, size_t cap) {
    char buf[512];
    snprintf(buf, sizeof buf, "%s", req);
    int64_t idx[3];
    int n = 0;
    for (char *tok = strtok(buf, ",+"); tok; tok = strtok(NULL, ",+")) {
        while (*tok == ' ') tok++;
        size_t L = strlen(tok);
        while (L && tok[L - 1] == ' ') tok[--L] = '\0';
        if (!L || strcmp(tok, "ctrl") == 0) continue;
        int64_t t = cw_perturb_target(d, tok);
        if (t < 0) return unknown_target(&d->targets, tok, req);
        if (n == 2) return cw_fail(CW_EINVAL, "--perturb '%s': at most two targets per cell "
                                              "(the model combines two shifts, spec §4.6)", req);
        if (n == 1 && idx[0] == t) continue;
        idx[n++] = t;
    }
    if (n == 0) return cw_fail(CW_EINVAL, "--perturb '%s': no target named", req);
    if (n == 2 && idx[1] < idx[0]) {
        int64_t s = idx[0];
        idx[0] = idx[1];
        idx[1] = s;
    }
    *k = idx[0];
    *k2 = n == 2 ? idx[1] : -1;
    if (n == 2) snprintf(label, cap, "%s,%s", d->targets.s[idx[0]], d->targets.s[idx[1]]);
    else snprintf(label, cap, "%s", d->targets.s[idx[0]]);
    return CW_OK;
}

cw_status cw_predict(const char *run_dir, const cw_strings *requests, int64_t cells,
                     uint64_t seed, const char *out_path, int64_t memory_cap) {
    if (cells < 1) return cw_fail(CW_EINVAL, "--cells: expected at least 1");
    if (requests->n < 1) return cw_fail(CW_EINVAL, "give at least one --perturb");
    cw_run r;
    CW_TRY(cw_run_open_capped(&r, run_dir, NULL, memory_cap));
    const int64_t G = r.x.ncols, B = r.model.cfg.batch, nreq = requests->n, N = nreq * cells;
    cw_status st = CW_OK;
    int64_t *k = cw_calloc((size_t)nreq, sizeof(int64_t)), *k2 = cw_calloc((size_t)nreq, sizeof(int64_t));
    float *X = cw_malloc_array((size_t)N * (size_t)G, sizeof(float));
    float *xb = cw_malloc_array((size_t)B * (size_t)G, sizeof(float));
    int64_t *ctrl = cw_malloc_array((size_t)B, sizeof(int64_t));
    float *eb = cw_malloc_array((size_t)B * (size_t)(r.mi.extra_dim + 1), sizeof(float));
    cw_strings labels = {0, NULL}, obs_names = {0, NULL}, var_names = {0, NULL};
    double *ntg = cw_malloc_array((size_t)N, sizeof(double));
    cw_column cols[2];
    memset(cols, 0, sizeof cols);
    cw_h5ad_writer *w = NULL;
    if (!k || !k2 || !X || !xb || !ctrl || !eb || !ntg)
        st = cw_fail(CW_ENOMEM, "out of memory for %lld predicted cells", (long long)N);
    if (st == CW_OK && r.d.n_controls == 0)
        st = cw_fail(CW_EFORMAT, "%s: no control cells to generate from", r.opts.data_path);
    for (int64_t i = 0; st == CW_OK && i < nreq; i++) {
        char label[512];
        st = parse_request(&r.d, requests->s[i], &k[i], &k2[i], label, sizeof label);
        for (int64_t j = 0; st == CW_OK && j < cells; j++) {
            char name[64];
            snprintf(name, sizeof name, "pred_%lld_%lld", (long long)i, (long long)j);
            st = cw_strings_push(&labels, label);
            if (st == CW_OK) st = cw_strings_push(&obs_names, name);
            ntg[i * cells + j] = k2[i] >= 0 ? 2 : 1;
        }
    }
    for (int64_t i = 0; st == CW_OK && i < nreq; i++) {
        cw_rng rng;
        cw_rng_substream(&rng, seed, CW_RNG_STREAM_PREDICT + (uint64_t)i);
        for (int64_t j0 = 0; st == CW_OK && j0 < cells; j0 += B) {
            int64_t n = cells - j0 < B ? cells - j0 : B;
            for (int64_t j = 0; j < n; j++)
                ctrl[j] = r.d.control_cells[cw_rng_below(&rng, r.d.n_controls)];
            st = cw_xstore_gather(&r.x, ctrl, n, xb);
            if (st == CW_OK)
                st = cw_cmvae_predict(&r.model, X + (i * cells + j0) * G, xb,
                                  cw_run_gather_extra(&r, ctrl, n, eb), n, k[i], k2[i], NULL,
                                  &rng);
        }
    }
    if (st == CW_OK) st = cw_h5ad_read_index(r.h, "var", &var_names);
    if (st == CW_OK) st = cw_column_categorical(&cols[0], "perturbation", &labels);
    if (st == CW_OK) st = cw_column_numeric(&cols[1], "n_targets", ntg, N, 1);
    if (st == CW_OK) st = cw_h5ad_writer_open(out_path, 0, &w);
    if (st == CW_OK) st = cw_h5ad_write_x_dense(w, X, N, G);
    if (st == CW_OK) st = cw_h5ad_write_dataframe(w, "obs", &obs_names, cols, 2);
    if (st == CW_OK) st = cw_h5ad_write_dataframe(w, "var", &var_names, NULL, 0);
    if (st == CW_OK) st = cw_h5ad_write_uns_string(w, "causeway/command", "predict");
    if (st == CW_OK) st = cw_h5ad_write_uns_string(w, "causeway/run", run_dir);
    if (st == CW_OK) st = cw_h5ad_write_uns_string(w, "causeway/version", CW_VERSION);
    if (st == CW_OK) {
        char s[32];
        snprintf(s, sizeof s, "%" PRIu64, seed);
        st = cw_h5ad_write_uns_string(w, "causeway/seed", s);
    }
    if (st == CW_OK) {
        char *cfg = json_dumps(r.config, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(17));
        st = cfg ? cw_h5ad_write_uns_string(w, "causeway/config", cfg)
                 : cw_fail(CW_ENOMEM, "out of memory");
        free(cfg);
    }
    if (st == CW_OK) {
        st = cw_h5ad_writer_commit(w);
        w = NULL;
    }
    if (w) cw_h5ad_writer_abort(w);
    cw_column_free(&cols[0]);
    cw_column_free(&cols[1]);
    cw_strings_free(&labels);
    cw_strings_free(&obs_names);
    cw_strings_free(&var_names);
    cw_free(k);
    cw_free(k2);
    cw_free(X);
    cw_free(xb);
    cw_free(ctrl);
    cw_free(eb);
    cw_free(ntg);
    cw_run_close(&r);
    return st;
}
