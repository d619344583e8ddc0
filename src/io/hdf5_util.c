/* hdf5_util.c: HDF5 helpers shared by the h5ad reader and writer (hdf5_util.h).
 *
 * Implements the shared part of issue #2 items 2-3. Strings: vlen strings are read with a
 * memory type of the file's character set (HDF5 will not convert between ASCII and UTF-8) and
 * reclaimed with H5Dvlen_reclaim on every path; fixed-length strings are cut at the first NUL
 * (NULLTERM/NULLPAD) or have trailing blanks trimmed (SPACEPAD, Fortran style).
 */
#include "io/hdf5_util.h"

#include "core/alloc.h"
#include "core/status.h"
#include "io/lzf_filter.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

cw_status cw_h5_setup(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    return cw_lzf_register();
}

hid_t cw_h5_fapl(void) {
    hid_t p = H5Pcreate(H5P_FILE_ACCESS);
#if H5_VERSION_GE(1, 10, 7)
    if (p >= 0) H5Pset_file_locking(p, 1, 1);
#endif
    return p;
}

void cw_h5_close(hid_t *id) {
    if (*id < 0) return;
    switch (H5Iget_type(*id)) {
    case H5I_FILE: H5Fclose(*id); break;
    case H5I_GROUP: H5Gclose(*id); break;
    case H5I_DATASET: H5Dclose(*id); break;
    case H5I_ATTR: H5Aclose(*id); break;
    case H5I_DATATYPE: H5Tclose(*id); break;
    case H5I_DATASPACE: H5Sclose(*id); break;
    case H5I_GENPROP_LST: H5Pclose(*id); break;
    default: break;
    }
    *id = -1;
}

int64_t cw_h5_open_ids(void) {
    ssize_t n = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
    return n < 0 ? 0 : (int64_t)n;
}

const char *cw_h5_type_name(hid_t type, char *buf, size_t cap) {
    size_t size = H5Tget_size(type);
    switch (H5Tget_class(type)) {
    case H5T_INTEGER:
        snprintf(buf, cap, "%sint%zu", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", size * 8);
        break;
    case H5T_FLOAT: snprintf(buf, cap, "float%zu", size * 8); break;
    case H5T_STRING:
        if (H5Tis_variable_str(type) > 0) snprintf(buf, cap, "string");
        else snprintf(buf, cap, "fixed-length string (%zu bytes)", size);
        break;
    case H5T_ENUM: snprintf(buf, cap, cw_h5_kind_of(type) == CW_H5_BOOL ? "bool" : "enum"); break;
    case H5T_COMPOUND: snprintf(buf, cap, "compound (record array)"); break;
    case H5T_REFERENCE: snprintf(buf, cap, "reference"); break;
    case H5T_VLEN: snprintf(buf, cap, "variable-length sequence"); break;
    case H5T_ARRAY: snprintf(buf, cap, "array type"); break;
    case H5T_OPAQUE: snprintf(buf, cap, "opaque"); break;
    case H5T_BITFIELD: snprintf(buf, cap, "bitfield"); break;
    default: snprintf(buf, cap, "unknown type"); break;
    }
    return buf;
}

cw_h5_kind cw_h5_kind_of(hid_t type) {
    switch (H5Tget_class(type)) {
    case H5T_INTEGER: return CW_H5_INT;
    case H5T_FLOAT: return CW_H5_FLOAT;
    case H5T_STRING: return CW_H5_STRING;
    case H5T_COMPOUND: return CW_H5_COMPOUND;
    case H5T_REFERENCE: return CW_H5_REF;
    case H5T_ENUM: {
        if (H5Tget_nmembers(type) != 2 || H5Tget_size(type) != 1) return CW_H5_OTHER;
        int ok = 1;
        for (unsigned i = 0; i < 2; i++) {
            char *nm = H5Tget_member_name(type, i);
            signed char v = -1;
            if (!nm) return CW_H5_OTHER;
            H5Tget_member_value(type, i, &v);
            ok &= (strcmp(nm, "FALSE") == 0 && v == 0) || (strcmp(nm, "TRUE") == 0 && v == 1);
            H5free_memory(nm);
        }
        return ok ? CW_H5_BOOL : CW_H5_OTHER;
    }
    default: return CW_H5_OTHER;
    }
}

int cw_h5_shape(hid_t ds, hsize_t *dims, int maxrank) {
    hid_t sp = H5Dget_space(ds);
    if (sp < 0) return -1;
    int rank = H5Sget_simple_extent_ndims(sp);
    if (rank > maxrank) rank = -1;
    if (rank >= 0 && dims && H5Sget_simple_extent_dims(sp, dims, NULL) < 0) rank = -1;
    H5Sclose(sp);
    return rank;
}

int cw_h5_exists(hid_t loc, const char *path) {
    char buf[2048];
    size_t len = strlen(path);
    if (len >= sizeof buf) return 0;
    memcpy(buf, path, len + 1);
    size_t start = buf[0] == '/' ? 1 : 0;
    if (buf[start] == '\0') return start == 1; /* "/" */
    for (size_t i = start; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (i == start || H5Lexists(loc, buf, H5P_DEFAULT) <= 0) return 0;
        if (H5Oexists_by_name(loc, buf, H5P_DEFAULT) <= 0) return 0; /* dangling link */
        buf[i] = c;
        start = i + 1;
        if (c == '\0') break;
    }
    return 1;
}

H5O_type_t cw_h5_obj_type(hid_t loc, const char *path) {
    if (!cw_h5_exists(loc, path)) return H5O_TYPE_UNKNOWN;
    hid_t o = H5Oopen(loc, path, H5P_DEFAULT);
    if (o < 0) return H5O_TYPE_UNKNOWN;
    H5I_type_t t = H5Iget_type(o);
    H5Oclose(o);
    return t == H5I_GROUP ? H5O_TYPE_GROUP : t == H5I_DATASET ? H5O_TYPE_DATASET : H5O_TYPE_UNKNOWN;
}

int cw_h5_has_attr(hid_t obj, const char *name) { return H5Aexists(obj, name) > 0; }

static char *cw_strndup(const char *s, size_t n) {
    char *d = cw_malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

/* Memory type for reading strings stored as stype: a vlen char * of stype's character set when
 * stype is vlen (HDF5 will not convert between ASCII and UTF-8), else a copy of stype (same
 * size, padding and character set). *elem is the size of one string in memory. -1 on failure. */
static hid_t mem_string_type(hid_t stype, int *vlen, size_t *elem) {
    hid_t m;
    *vlen = H5Tis_variable_str(stype) > 0;
    if (*vlen) {
        m = H5Tcopy(H5T_C_S1);
        if (m >= 0 && (H5Tset_size(m, H5T_VARIABLE) < 0 || H5Tset_cset(m, H5Tget_cset(stype)) < 0))
            cw_h5_close(&m);
        *elem = sizeof(char *);
    } else {
        m = H5Tcopy(stype);
        *elem = H5Tget_size(stype);
    }
    if (m >= 0 && *elem == 0) cw_h5_close(&m);
    return m;
}

/* Copies one string read with mem_string_type's type: at p, a char * (vlen; NULL becomes "") or
 * elem bytes cut at the first NUL, trailing blanks trimmed when padded with spaces. */
static cw_status copy_string(const char *p, int vlen, size_t elem, H5T_str_t pad, const char *ctx,
                             char **dst) {
    const char *s = p;
    size_t len;
    if (vlen) {
        memcpy(&s, p, sizeof s); /* the slot may be unaligned in a caller's record */
        if (!s) s = "";
        len = strlen(s);
    } else {
        len = strnlen(p, elem);
        if (pad == H5T_STR_SPACEPAD)
            while (len > 0 && p[len - 1] == ' ') len--;
    }
    *dst = cw_strndup(s, len);
    return *dst ? CW_OK : cw_fail(CW_ENOMEM, "%s: out of memory copying strings", ctx);
}

cw_status cw_h5_read_strings_obj(hid_t obj, int is_attr, const char *ctx, cw_strings *out) {
    cw_status st = CW_OK;
    hid_t ftype = -1, space = -1, stype = -1, strmem = -1, memspace = -1;
    void *buf = NULL;
    char tn[64];
    out->n = 0;
    out->s = NULL;
    ftype = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    if (ftype < 0 || space < 0) {
        st = cw_fail(CW_EIO, "%s: cannot read the type of the stored strings", ctx);
        goto done;
    }
    hssize_t np = H5Sget_simple_extent_npoints(space);
    if (np < 0) {
        st = cw_fail(CW_EIO, "%s: cannot read the shape of the stored strings", ctx);
        goto done;
    }
    stype = H5Tcopy(ftype);
    if (stype < 0) {
        st = cw_fail(CW_EIO, "%s: cannot read the string type", ctx);
        goto done;
    }
    if (H5Tget_class(stype) != H5T_STRING) {
        st = cw_fail(CW_EFORMAT, "%s: expected strings, found %s", ctx,
                     cw_h5_type_name(stype, tn, sizeof tn));
        goto done;
    }
    int vlen;
    size_t elem;
    strmem = mem_string_type(stype, &vlen, &elem);
    if (strmem < 0) {
        st = cw_fail(CW_EIO, "%s: cannot build a memory string type", ctx);
        goto done;
    }
    st = cw_strings_alloc(out, (int64_t)np);
    if (st != CW_OK || np == 0) goto done;
    buf = cw_calloc((size_t)np, elem);
    if (!buf) {
        st = cw_fail(CW_ENOMEM, "%s: out of memory reading %lld strings", ctx, (long long)np);
        goto done;
    }
    herr_t r = is_attr ? H5Aread(obj, strmem, buf)
                       : H5Dread(obj, strmem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    if (r < 0) {
        st = cw_fail(CW_EIO, "%s: reading %lld strings failed (file truncated or damaged?)", ctx,
                     (long long)np);
        cw_free(buf); /* nothing to reclaim: HDF5 frees partial vlen reads itself */
        buf = NULL;
        goto done;
    }
    H5T_str_t pad = H5Tget_strpad(stype);
    for (hssize_t i = 0; i < np && st == CW_OK; i++)
        st = copy_string((const char *)buf + (size_t)i * elem, vlen, elem, pad, ctx, &out->s[i]);
    if (vlen) {
        hsize_t n = (hsize_t)np;
        memspace = H5Screate_simple(1, &n, NULL);
        if (memspace >= 0) H5Dvlen_reclaim(strmem, memspace, H5P_DEFAULT, buf);
    }
done:
    if (st != CW_OK) cw_strings_free(out);
    cw_free(buf);
    cw_h5_close(&memspace);
    cw_h5_close(&strmem);
    cw_h5_close(&stype);
    cw_h5_close(&space);
    cw_h5_close(&ftype);
    return st;
}

/* One string field of the memory record built by cw_h5_read_compound_strings. */
typedef struct {
    hid_t mt;    /* memory string type (mem_string_type) */
    size_t off;  /* offset in the memory record */
    size_t elem; /* bytes in memory */
    int vlen;
    H5T_str_t pad;
} cw_str_field;

cw_status cw_h5_read_compound_strings(hid_t ds, const char *ctx, cw_strings *fields,
                                      cw_strings *values) {
    cw_status st = CW_OK;
    hid_t ftype = -1, space = -1, memtype = -1, memspace = -1;
    cw_strings names = {0, NULL};
    cw_str_field *fl = NULL;
    char *buf = NULL;
    int nm = 0, any_vlen = 0, have_vlen_data = 0;
    hssize_t np = 0;
    size_t row = 0, cells = 0;
    const size_t ptr = sizeof(char *);
    char tn[64];
    values->n = 0;
    values->s = NULL;
    if (fields) {
        fields->n = 0;
        fields->s = NULL;
    }
    ftype = H5Dget_type(ds);
    space = H5Dget_space(ds);
    if (ftype < 0 || space < 0) {
        st = cw_fail(CW_EIO, "%s: cannot read the type of the stored strings", ctx);
        goto done;
    }
    np = H5Sget_simple_extent_npoints(space);
    if (np < 0) {
        st = cw_fail(CW_EIO, "%s: cannot read the shape of the stored strings", ctx);
        goto done;
    }
    if (H5Tget_class(ftype) != H5T_COMPOUND) {
        st = cw_fail(CW_EFORMAT, "%s: expected a record array (compound), found %s", ctx,
                     cw_h5_type_name(ftype, tn, sizeof tn));
        goto done;
    }
    nm = H5Tget_nmembers(ftype);
    if (nm < 0) {
        st = cw_fail(CW_EIO, "%s: cannot read the fields of the record array", ctx);
        goto done;
    }
    st = cw_strings_alloc(&names, nm);
    if (st != CW_OK) goto done;
    fl = cw_malloc_array((size_t)(nm > 0 ? nm : 1), sizeof *fl);
    if (!fl) {
        st = cw_fail(CW_ENOMEM, "%s: out of memory", ctx);
        goto done;
    }
    for (int i = 0; i < nm; i++) fl[i].mt = -1;
    /* the memory record: every field at its own offset, vlen pointers aligned */
    for (int i = 0; i < nm && st == CW_OK; i++) {
        char *name = H5Tget_member_name(ftype, (unsigned)i);
        if (!name) {
            st = cw_fail(CW_EIO, "%s: cannot read field %d", ctx, i);
            break;
        }
        st = cw_strings_set(&names, i, name);
        H5free_memory(name);
        if (st != CW_OK) break;
        hid_t stype = H5Tget_member_type(ftype, (unsigned)i);
        if (stype < 0) {
            st = cw_fail(CW_EIO, "%s: cannot read the string type", ctx);
        } else if (H5Tget_class(stype) != H5T_STRING) {
            st = cw_fail(CW_EFORMAT, "%s field %s: expected strings, found %s", ctx, names.s[i],
                         cw_h5_type_name(stype, tn, sizeof tn));
        } else {
            fl[i].mt = mem_string_type(stype, &fl[i].vlen, &fl[i].elem);
            fl[i].pad = H5Tget_strpad(stype);
            if (fl[i].mt < 0) st = cw_fail(CW_EIO, "%s: cannot build a memory string type", ctx);
        }
        cw_h5_close(&stype);
        if (st != CW_OK) break;
        /* invariant: row <= SIZE_MAX - ptr, so rounding up to a pointer never wraps */
        size_t off = fl[i].vlen ? (row + ptr - 1) / ptr * ptr : row;
        if (fl[i].elem > SIZE_MAX - ptr - off) {
            st = cw_fail(CW_ENOMEM, "%s: record of %d strings too large", ctx, nm);
            break;
        }
        any_vlen |= fl[i].vlen;
        fl[i].off = off;
        row = off + fl[i].elem;
    }
    if (st != CW_OK) goto done;
    if (any_vlen) row = (row + ptr - 1) / ptr * ptr;
    /* nm * np strings and np records of `row` bytes, without overflow */
    size_t nrows = (size_t)np;
    if (nrows > 0 && ((size_t)nm > (size_t)INT64_MAX / nrows || (size_t)nm > SIZE_MAX / nrows ||
                      row > SIZE_MAX / nrows)) {
        st = cw_fail(CW_ENOMEM, "%s: out of memory reading %d x %lld strings", ctx, nm,
                     (long long)np);
        goto done;
    }
    cells = (size_t)nm * (size_t)np;
    st = cw_strings_alloc(values, (int64_t)cells);
    if (st != CW_OK || cells == 0) goto done;
    memtype = H5Tcreate(H5T_COMPOUND, row);
    for (int i = 0; memtype >= 0 && i < nm; i++)
        if (H5Tinsert(memtype, names.s[i], fl[i].off, fl[i].mt) < 0) cw_h5_close(&memtype);
    if (memtype < 0) {
        st = cw_fail(CW_EIO, "%s: cannot build a memory record type", ctx);
        goto done;
    }
    buf = cw_calloc((size_t)np, row);
    if (!buf) {
        st = cw_fail(CW_ENOMEM, "%s: out of memory reading %lld strings", ctx, (long long)cells);
        goto done;
    }
    /* one read: converting one field at a time converts every whole record each time */
    if (H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        st = cw_fail(CW_EIO, "%s: reading %lld strings failed (file truncated or damaged?)", ctx,
                     (long long)cells);
        cw_free(buf); /* nothing to reclaim: HDF5 frees partial vlen reads itself */
        buf = NULL;
        goto done;
    }
    have_vlen_data = any_vlen;
    for (int i = 0; i < nm && st == CW_OK; i++)
        for (hssize_t r = 0; r < np && st == CW_OK; r++)
            st = copy_string(buf + (size_t)r * row + fl[i].off, fl[i].vlen, fl[i].elem, fl[i].pad,
                             ctx, &values->s[(size_t)i * (size_t)np + (size_t)r]);
done:
    if (have_vlen_data) { /* success or not, the vlen strings HDF5 allocated are freed */
        hsize_t n = (hsize_t)np;
        memspace = H5Screate_simple(1, &n, NULL);
        if (memspace >= 0) H5Dvlen_reclaim(memtype, memspace, H5P_DEFAULT, buf);
    }
    if (st != CW_OK) cw_strings_free(values);
    if (st == CW_OK && fields) *fields = names;
    else cw_strings_free(&names);
    for (int i = 0; fl && i < nm; i++) cw_h5_close(&fl[i].mt);
    cw_free(fl);
    cw_free(buf);
    cw_h5_close(&memspace);
    cw_h5_close(&memtype);
    cw_h5_close(&space);
    cw_h5_close(&ftype);
    return st;
}

/* Opens attribute `name`, checking it exists. */
static cw_status cw_attr_open(hid_t obj, const char *name, const char *ctx, hid_t *a) {
    *a = -1;
    if (!cw_h5_has_attr(obj, name))
        return cw_fail(CW_ENOTFOUND, "%s: no attribute '%s'", ctx, name);
    *a = H5Aopen(obj, name, H5P_DEFAULT);
    if (*a < 0) return cw_fail(CW_EIO, "%s: cannot open attribute '%s'", ctx, name);
    return CW_OK;
}

cw_status cw_h5_attr_strings(hid_t obj, const char *name, const char *ctx, cw_strings *out) {
    hid_t a = -1, t = -1, sp = -1;
    out->n = 0;
    out->s = NULL;
    cw_status st = cw_attr_open(obj, name, ctx, &a);
    if (st != CW_OK) return st;
    char actx[1024];
    snprintf(actx, sizeof actx, "%s: attribute '%s'", ctx, name);
    t = H5Aget_type(a);
    sp = H5Aget_space(a);
    if (t < 0 || sp < 0) {
        st = cw_fail(CW_EIO, "%s: cannot read its type", actx);
    } else if (H5Tget_class(t) != H5T_STRING && H5Sget_simple_extent_npoints(sp) == 0) {
        st = cw_strings_alloc(out, 0); /* h5py stores [] as an empty float64 array */
    } else {
        st = cw_h5_read_strings_obj(a, 1, actx, out);
    }
    cw_h5_close(&sp);
    cw_h5_close(&t);
    cw_h5_close(&a);
    return st;
}

cw_status cw_h5_attr_string(hid_t obj, const char *name, const char *ctx, char **out) {
    *out = NULL;
    cw_strings l;
    cw_status st = cw_h5_attr_strings(obj, name, ctx, &l);
    if (st != CW_OK) return st;
    if (l.n != 1) {
        st = cw_fail(CW_EFORMAT, "%s: attribute '%s': expected one string, found %lld", ctx, name,
                     (long long)l.n);
    } else {
        *out = l.s[0];
        l.s[0] = NULL;
    }
    cw_strings_free(&l);
    return st;
}

cw_status cw_h5_attr_int64s(hid_t obj, const char *name, const char *ctx, int64_t *out, int cap,
                            int *n) {
    hid_t a = -1, t = -1, sp = -1;
    char tn[64];
    *n = 0;
    cw_status st = cw_attr_open(obj, name, ctx, &a);
    if (st != CW_OK) return st;
    t = H5Aget_type(a);
    sp = H5Aget_space(a);
    hssize_t np = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    if (t < 0 || np < 0) {
        st = cw_fail(CW_EIO, "%s: attribute '%s': cannot read its type", ctx, name);
    } else if (H5Tget_class(t) != H5T_INTEGER) {
        st = cw_fail(CW_EFORMAT, "%s: attribute '%s': expected integers, found %s", ctx, name,
                     cw_h5_type_name(t, tn, sizeof tn));
    } else if (np > cap) {
        st = cw_fail(CW_EFORMAT, "%s: attribute '%s': expected at most %d integers, found %lld",
                     ctx, name, cap, (long long)np);
    } else if (np > 0 && H5Aread(a, H5T_NATIVE_INT64, out) < 0) {
        st = cw_fail(CW_EIO, "%s: attribute '%s': read failed", ctx, name);
    } else {
        *n = (int)np;
    }
    cw_h5_close(&sp);
    cw_h5_close(&t);
    cw_h5_close(&a);
    return st;
}

hid_t cw_h5_vlen_utf8(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return -1;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) cw_h5_close(&t);
    return t;
}

hid_t cw_h5_bool_type(void) {
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    if (t < 0) return -1;
    signed char f = 0, tr = 1;
    if (H5Tenum_insert(t, "FALSE", &f) < 0 || H5Tenum_insert(t, "TRUE", &tr) < 0) cw_h5_close(&t);
    return t;
}

/* Creates (replacing) attribute name of type t and space sp, writes buf. */
static cw_status cw_attr_put(hid_t obj, const char *name, hid_t t, hid_t sp, const void *buf,
                             const char *ctx) {
    if (t < 0 || sp < 0)
        return cw_fail(CW_EIO, "%s: cannot create attribute '%s' (HDF5 type/space)", ctx, name);
    if (cw_h5_has_attr(obj, name)) H5Adelete(obj, name);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) return cw_fail(CW_EIO, "%s: cannot create attribute '%s'", ctx, name);
    herr_t r = H5Awrite(a, t, buf);
    if (H5Aclose(a) < 0 || r < 0)
        return cw_fail(CW_EIO, "%s: cannot write attribute '%s'", ctx, name);
    return CW_OK;
}

cw_status cw_h5_write_attr_string(hid_t obj, const char *name, const char *value, const char *ctx) {
    hid_t t = cw_h5_vlen_utf8(), sp = H5Screate(H5S_SCALAR);
    const char *v = value ? value : "";
    cw_status st = cw_attr_put(obj, name, t, sp, &v, ctx);
    cw_h5_close(&sp);
    cw_h5_close(&t);
    return st;
}

cw_status cw_h5_write_attr_strings(hid_t obj, const char *name, const char *const *v, int64_t n,
                                   const char *ctx) {
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t t = n > 0 ? cw_h5_vlen_utf8() : H5Tcopy(H5T_IEEE_F64LE);
    double dummy = 0;
    cw_status st =
        cw_attr_put(obj, name, t, sp, n > 0 ? (const void *)v : (const void *)&dummy, ctx);
    cw_h5_close(&sp);
    cw_h5_close(&t);
    return st;
}

cw_status cw_h5_write_attr_int64s(hid_t obj, const char *name, const int64_t *v, int64_t n,
                                  const char *ctx) {
    hsize_t dim = (hsize_t)n;
    hid_t sp = H5Screate_simple(1, &dim, NULL);
    hid_t t = H5Tcopy(H5T_NATIVE_INT64);
    cw_status st = cw_attr_put(obj, name, t, sp, v, ctx);
    cw_h5_close(&sp);
    cw_h5_close(&t);
    return st;
}

cw_status cw_h5_write_attr_bool(hid_t obj, const char *name, int value, const char *ctx) {
    hid_t t = cw_h5_bool_type(), sp = H5Screate(H5S_SCALAR);
    signed char v = value ? 1 : 0;
    cw_status st = cw_attr_put(obj, name, t, sp, &v, ctx);
    cw_h5_close(&sp);
    cw_h5_close(&t);
    return st;
}

cw_status cw_h5_set_encoding(hid_t obj, const char *type, const char *version, const char *ctx) {
    CW_TRY(cw_h5_write_attr_string(obj, "encoding-type", type, ctx));
    return cw_h5_write_attr_string(obj, "encoding-version", version, ctx);
}
