/* fixture_reader.h: reads the named-record parity fixtures written by tests/py/make_*_parity.py
 * (ssm, umni, family): an 8-byte magic, then records of int32 name length, the name, int32 type
 * (FXR_F32, FXR_F64, FXR_I64), int64 count and count values, all little-endian. fxr_load reads
 * the whole file and copies each record's values to an 8-byte aligned offset of fx->aligned;
 * fxr_get returns a record by name, failing the test when it is absent or of another type or
 * count. A malformed file fails the test; an absent one makes fxr_load return 0. Header-only. */
#ifndef CWT_FIXTURE_READER_H
#define CWT_FIXTURE_READER_H

#include "test_util.h"

enum { FXR_F32 = 0, FXR_F64 = 1, FXR_I64 = 2, FXR_MAX_RECS = 256 };

typedef struct {
    char name[64];
    int32_t type;
    int64_t count;
    void *data; /* into fxr_file.aligned (8-byte aligned) */
} fxr_rec;

typedef struct {
    char *buf;     /* the whole file */
    char *aligned; /* each record's values copied to an 8-byte aligned offset */
    int n;
    fxr_rec r[FXR_MAX_RECS];
} fxr_file;

/* 1 when read, 0 when the file cannot be opened; checks the 8-byte magic */
static inline int fxr_load(fxr_file *fx, const char *path, const char *magic) {
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    const long size = ftell(f);
    assert_true(size >= 8);
    rewind(f);
    fx->buf = malloc((size_t)size);
    fx->aligned = malloc((size_t)size + 8 * FXR_MAX_RECS);
    assert_true(fx->buf && fx->aligned);
    assert_int_equal(fread(fx->buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    assert_memory_equal(fx->buf, magic, 8);
    long off = 8, ao = 0;
    while (off < size) {
        assert_true(fx->n < FXR_MAX_RECS);
        fxr_rec *r = &fx->r[fx->n++];
        int32_t len;
        assert_true(off + 4 <= size);
        memcpy(&len, fx->buf + off, 4), off += 4;
        assert_true(len > 0 && len < (int32_t)sizeof r->name && off + len + 12 <= size);
        memcpy(r->name, fx->buf + off, (size_t)len), off += len;
        r->name[len] = 0;
        memcpy(&r->type, fx->buf + off, 4), off += 4;
        memcpy(&r->count, fx->buf + off, 8), off += 8;
        assert_true(r->type >= FXR_F32 && r->type <= FXR_I64 && r->count >= 0);
        const long nb = (long)r->count * (r->type == FXR_F32 ? 4 : 8);
        assert_true(off + nb <= size);
        memcpy(fx->aligned + ao, fx->buf + off, (size_t)nb);
        r->data = fx->aligned + ao, off += nb;
        ao += (nb + 7) / 8 * 8;
    }
    return 1;
}

static inline void fxr_free(fxr_file *fx) {
    free(fx->buf);
    free(fx->aligned);
    memset(fx, 0, sizeof *fx);
}

/* the record `name`, NULL when absent */
static inline const fxr_rec *fxr_find(const fxr_file *fx, const char *name) {
    for (int i = 0; i < fx->n; i++)
        if (!strcmp(fx->r[i].name, name)) return &fx->r[i];
    return NULL;
}

/* values of record `name` of the given type and count (count < 0: any); fails when absent */
static inline const void *fxr_get(const fxr_file *fx, const char *name, int type,
                                  int64_t count) {
    const fxr_rec *r = fxr_find(fx, name);
    if (!r) fail_msg("fixture record %s missing", name);
    assert_int_equal(r->type, type);
    if (count >= 0 && r->count != count)
        fail_msg("fixture record %s: %lld values, expected %lld", name, (long long)r->count,
                 (long long)count);
    return r->data;
}

/* the single int64 of record `name` */
static inline int64_t fxr_get_i64(const fxr_file *fx, const char *name) {
    return *(const int64_t *)fxr_get(fx, name, FXR_I64, 1);
}

#endif
