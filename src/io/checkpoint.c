/* checkpoint.c: versioned, checksummed, atomically written training checkpoints (see the
 * header for the layout). */
#define _DEFAULT_SOURCE /* fsync */
#include "io/checkpoint.h"

#include "core/alloc.h"
#include "core/status.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char cw_ckpt_magic[8] = {'C', 'W', 'C', 'K', 'P', 'T', '\n', '\0'};

void cw_ckpt_meta_free(cw_ckpt_meta *m) {
    cw_free(m->model);
    cw_free(m->config_json);
    memset(m, 0, sizeof *m);
}

typedef struct {
    FILE *f;
    uint64_t hash;
} hashed_file;

static void fnv(uint64_t *h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        *h ^= b[i];
        *h *= 0x100000001B3ull;
    }
}

static int hwrite(hashed_file *hf, const void *p, size_t n) {
    fnv(&hf->hash, p, n);
    return fwrite(p, 1, n, hf->f) == n;
}

static int hread(hashed_file *hf, void *p, size_t n) {
    if (fread(p, 1, n, hf->f) != n) return 0;
    fnv(&hf->hash, p, n);
    return 1;
}

static char *header_json(const cw_param_table *t, const cw_ckpt_meta *meta) {
    json_t *o = json_object(), *params = json_array(), *rng = json_array();
    json_t *config = json_loads(meta->config_json, JSON_DECODE_ANY, NULL);
    json_object_set_new(o, "format_version", json_integer(CW_CHECKPOINT_VERSION));
    json_object_set_new(o, "model", json_string(meta->model));
    json_object_set_new(o, "config", config ? config : json_string(meta->config_json));
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, meta->seed);
    json_object_set_new(o, "seed", json_string(buf));
    json_object_set_new(o, "epoch", json_integer(meta->epoch));
    json_object_set_new(o, "step", json_integer(meta->step));
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf, "%" PRIu64, meta->rng.s[i]);
        json_array_append_new(rng, json_string(buf));
    }
    json_array_append_new(rng, json_integer(meta->rng.has_spare));
    json_array_append_new(rng, json_real(meta->rng.spare));
    json_object_set_new(o, "rng", rng);
    json_object_set_new(o, "dtype", json_string("float32"));
    json_object_set_new(o, "total", json_integer(t->total));
    for (int i = 0; i < t->n; i++)
        json_array_append_new(params, json_pack("{s:s,s:I,s:I,s:I}", "name", t->names[i], "rows",
                                                (json_int_t)t->rows[i], "cols",
                                                (json_int_t)t->cols[i], "offset",
                                                (json_int_t)t->offset[i]));
    json_object_set_new(o, "params", params);
    char *s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(17));
    json_decref(o);
    return s;
}

cw_status cw_checkpoint_save(const char *path, const cw_param_table *t, const cw_ckpt_meta *meta) {
    if (!meta->model || !meta->config_json)
        return cw_fail(CW_EINVAL, "%s: checkpoint needs a model name and a config", path);
    size_t tl = strlen(path) + 32;
    char *tmp = cw_malloc(tl);
    if (!tmp) return cw_fail(CW_ENOMEM, "%s: out of memory", path);
    snprintf(tmp, tl, "%s.tmp-%ld", path, (long)getpid());
    char *hdr = header_json(t, meta);
    if (!hdr) {
        cw_free(tmp);
        return cw_fail(CW_ENOMEM, "%s: out of memory building the header", path);
    }
    hashed_file hf = {fopen(tmp, "wb"), 0xCBF29CE484222325ull};
    if (!hf.f) {
        cw_status st = cw_fail(CW_EIO, "%s: cannot write: %s", path, strerror(errno));
        free(hdr);
        cw_free(tmp);
        return st;
    }
    uint32_t ver[2] = {CW_CHECKPOINT_VERSION, 0};
    uint64_t hl = strlen(hdr);
    int ok = hwrite(&hf, cw_ckpt_magic, 8) && hwrite(&hf, ver, sizeof ver) &&
             hwrite(&hf, &hl, sizeof hl) && hwrite(&hf, hdr, hl);
    const float *blocks[3] = {t->params, t->m, t->v};
    for (int b = 0; b < 3 && ok; b++) ok = hwrite(&hf, blocks[b], (size_t)t->total * sizeof(float));
    uint64_t h = hf.hash;
    ok = ok && fwrite(&h, sizeof h, 1, hf.f) == 1;
    ok = ok && fflush(hf.f) == 0 && fsync(fileno(hf.f)) == 0;
    ok = (fclose(hf.f) == 0) && ok;
    free(hdr);
    cw_status st = CW_OK;
    if (!ok) st = cw_fail(CW_EIO, "%s: write failed (disk full?): %s", path, strerror(errno));
    else if (rename(tmp, path) != 0)
        st = cw_fail(CW_EIO, "%s: cannot rename the temporary file: %s", path, strerror(errno));
    if (st != CW_OK) remove(tmp);
    cw_free(tmp);
    return st;
}

/* Opens, checks magic and version, parses the header. On success *f is positioned at the
 * parameter blocks and hf->hash covers everything read. */
static cw_status open_header(const char *path, hashed_file *hf, json_t **hdr) {
    *hdr = NULL;
    hf->hash = 0xCBF29CE484222325ull;
    hf->f = fopen(path, "rb");
    if (!hf->f) return cw_fail(CW_EIO, "%s: cannot open: %s", path, strerror(errno));
    char magic[8];
    uint32_t ver[2];
    uint64_t hl = 0;
    cw_status st = CW_OK;
    if (!hread(hf, magic, 8) || memcmp(magic, cw_ckpt_magic, 8) != 0)
        st = cw_fail(CW_EFORMAT, "%s: not a causeway checkpoint (bad magic)", path);
    else if (!hread(hf, ver, sizeof ver) || ver[0] != CW_CHECKPOINT_VERSION)
        st = cw_fail(CW_EFORMAT, "%s: checkpoint format version %u, expected %d", path,
                     (unsigned)ver[0], CW_CHECKPOINT_VERSION);
    else if (!hread(hf, &hl, sizeof hl) || hl == 0 || hl > ((uint64_t)1 << 30))
        st = cw_fail(CW_EFORMAT, "%s: truncated or corrupt checkpoint header", path);
    if (st == CW_OK) {
        char *buf = cw_malloc((size_t)hl + 1);
        if (!buf) st = cw_fail(CW_ENOMEM, "%s: out of memory", path);
        else if (!hread(hf, buf, (size_t)hl))
            st = cw_fail(CW_EFORMAT, "%s: truncated checkpoint header", path);
        else {
            buf[hl] = '\0';
            json_error_t err;
            *hdr = json_loads(buf, 0, &err);
            if (!*hdr || !json_is_object(*hdr))
                st = cw_fail(CW_EFORMAT, "%s: checkpoint header is not a JSON object (%s)", path,
                             err.text);
        }
        cw_free(buf);
    }
    if (st != CW_OK) {
        json_decref(*hdr);
        *hdr = NULL;
        fclose(hf->f);
        hf->f = NULL;
    }
    return st;
}

static cw_status parse_meta(const char *path, json_t *hdr, cw_ckpt_meta *m) {
    memset(m, 0, sizeof *m);
    json_t *model = json_object_get(hdr, "model"), *config = json_object_get(hdr, "config");
    json_t *seed = json_object_get(hdr, "seed"), *rng = json_object_get(hdr, "rng");
    json_t *epoch = json_object_get(hdr, "epoch"), *step = json_object_get(hdr, "step");
    if (!json_is_string(model) || !config || !json_is_string(seed) || !json_is_integer(epoch) ||
        !json_is_integer(step) || !json_is_array(rng) || json_array_size(rng) != 6)
        return cw_fail(CW_EFORMAT, "%s: checkpoint header lacks model/config/seed/epoch/step/rng",
                       path);
    m->seed = strtoull(json_string_value(seed), NULL, 10);
    m->epoch = json_integer_value(epoch);
    m->step = json_integer_value(step);
    for (int i = 0; i < 4; i++) {
        json_t *v = json_array_get(rng, (size_t)i);
        if (!json_is_string(v)) return cw_fail(CW_EFORMAT, "%s: checkpoint rng state", path);
        m->rng.s[i] = strtoull(json_string_value(v), NULL, 10);
    }
    m->rng.has_spare = (int)json_integer_value(json_array_get(rng, 4));
    m->rng.spare = json_number_value(json_array_get(rng, 5));
    char *cfg = json_is_string(config) ? strdup(json_string_value(config))
                                       : json_dumps(config, JSON_PRESERVE_ORDER | JSON_COMPACT |
                                                                JSON_ENCODE_ANY |
                                                                JSON_REAL_PRECISION(17));
    m->model = cw_strdup(json_string_value(model));
    m->config_json = cfg ? cw_strdup(cfg) : NULL;
    free(cfg);
    if (!m->model || !m->config_json) {
        cw_ckpt_meta_free(m);
        return cw_fail(CW_ENOMEM, "%s: out of memory", path);
    }
    return CW_OK;
}

cw_status cw_checkpoint_peek(const char *path, cw_ckpt_meta *meta) {
    hashed_file hf;
    json_t *hdr;
    memset(meta, 0, sizeof *meta);
    CW_TRY(open_header(path, &hf, &hdr));
    cw_status st = parse_meta(path, hdr, meta);
    json_decref(hdr);
    fclose(hf.f);
    return st;
}

cw_status cw_checkpoint_load(const char *path, cw_param_table *t, cw_ckpt_meta *meta) {
    hashed_file hf;
    json_t *hdr;
    if (meta) memset(meta, 0, sizeof *meta);
    CW_TRY(open_header(path, &hf, &hdr));
    cw_status st = CW_OK;
    json_t *params = json_object_get(hdr, "params");
    json_t *total = json_object_get(hdr, "total"), *dtype = json_object_get(hdr, "dtype");
    if (!json_is_array(params) || !json_is_integer(total) || !json_is_string(dtype) ||
        strcmp(json_string_value(dtype), "float32") != 0)
        st = cw_fail(CW_EFORMAT, "%s: checkpoint header lacks a float32 parameter table", path);
    else if ((int64_t)json_array_size(params) != t->n)
        st = cw_fail(CW_EFORMAT, "%s: checkpoint has %zu tensors, the model has %d", path,
                     json_array_size(params), t->n);
    for (int i = 0; st == CW_OK && i < t->n; i++) {
        json_t *p = json_array_get(params, (size_t)i);
        const char *name = json_string_value(json_object_get(p, "name"));
        int64_t r = json_integer_value(json_object_get(p, "rows"));
        int64_t c = json_integer_value(json_object_get(p, "cols"));
        if (!name || strcmp(name, t->names[i]) || r != t->rows[i] || c != t->cols[i])
            st = cw_fail(CW_EFORMAT,
                         "%s: checkpoint tensor %d is %s (%lld x %lld); the model expects %s "
                         "(%lld x %lld): was it saved with another model or config?",
                         path, i, name ? name : "?", (long long)r, (long long)c, t->names[i],
                         (long long)t->rows[i], (long long)t->cols[i]);
    }
    float *blocks[3] = {t->params, t->m, t->v};
    for (int b = 0; b < 3 && st == CW_OK; b++)
        if (!hread(&hf, blocks[b], (size_t)t->total * sizeof(float)))
            st = cw_fail(CW_EFORMAT, "%s: truncated checkpoint (parameter block %d)", path, b);
    uint64_t want = hf.hash, got = 0;
    if (st == CW_OK && (fread(&got, sizeof got, 1, hf.f) != 1 || got != want))
        st = cw_fail(CW_EFORMAT, "%s: checkpoint checksum mismatch (truncated or corrupt)", path);
    if (st == CW_OK && meta) st = parse_meta(path, hdr, meta);
    json_decref(hdr);
    fclose(hf.f);
    return st;
}
