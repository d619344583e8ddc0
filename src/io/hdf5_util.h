/* hdf5_util.h: internal HDF5 helpers shared by the h5ad reader and writer (not public API).
 *
 * Implements the shared part of issue #2 items 2-3: library setup (silenced HDF5 error stack, LZF
 * filter), closing any kind of id, type descriptions for error messages, reading strings (vlen or
 * fixed length, ASCII or UTF-8, whole objects or all fields of a compound in one read), and
 * writing the attributes anndata uses (vlen UTF-8 strings, int64 arrays, h5py's bool enum).
 * Conventions: `ctx` is the "file: /hdf5/path" prefix of error messages; every function closes
 * every id it opened on every path; ids owned by the caller are never closed here.
 */
#ifndef CW_HDF5_UTIL_H
#define CW_HDF5_UTIL_H

#include "causeway.h"
#include "core/strings.h"

#include <hdf5.h>
#include <stdint.h>

/* Silences HDF5's own error printing and registers the LZF filter. Idempotent. */
cw_status cw_h5_setup(void);

/* File access properties for opening and creating: file locking is kept but ignored where the
 * file system does not support it (NFS, Lustre), as h5py does. Caller closes. */
hid_t cw_h5_fapl(void);

/* Closes id whatever it is (file, group, dataset, attribute, datatype, dataspace, property
 * list) when it is valid, and sets it to -1. Never pass predefined types (H5T_NATIVE_*). */
void cw_h5_close(hid_t *id);

/* Open files, groups, datasets, named types and attributes in the process (leak checks). */
int64_t cw_h5_open_ids(void);

/* What a type is, for messages: "int64", "uint8", "float32", "bool", "string", "compound"... */
const char *cw_h5_type_name(hid_t type, char *buf, size_t cap);

typedef enum {
    CW_H5_OTHER = 0,
    CW_H5_INT,
    CW_H5_FLOAT,
    CW_H5_STRING,
    CW_H5_BOOL, /* h5py's bool: enum {FALSE = 0, TRUE = 1} */
    CW_H5_COMPOUND,
    CW_H5_REF
} cw_h5_kind;
cw_h5_kind cw_h5_kind_of(hid_t type);

/* Rank and dims of a dataset (dims may be NULL); -1 on failure or rank > maxrank. */
int cw_h5_shape(hid_t ds, hsize_t *dims, int maxrank);

/* 1 if every component of the absolute or relative path exists under loc (no HDF5 error). */
int cw_h5_exists(hid_t loc, const char *path);
/* H5O_TYPE_GROUP, H5O_TYPE_DATASET, or H5O_TYPE_UNKNOWN when absent. */
H5O_type_t cw_h5_obj_type(hid_t loc, const char *path);

int cw_h5_has_attr(hid_t obj, const char *name);
/* Scalar (or one-element) string attribute. CW_ENOTFOUND when absent, CW_EFORMAT when not a
 * string. *out is owned by the caller (cw_free). */
cw_status cw_h5_attr_string(hid_t obj, const char *name, const char *ctx, char **out);
/* String attribute of any rank, flattened; an empty numeric array (how h5py stores []) gives an
 * empty list. */
cw_status cw_h5_attr_strings(hid_t obj, const char *name, const char *ctx, cw_strings *out);
/* Integer attribute with at most cap elements (shape, h5sparse_shape). */
cw_status cw_h5_attr_int64s(hid_t obj, const char *name, const char *ctx, int64_t *out, int cap,
                            int *n);

/* Every element of a string dataset (is_attr 0) or attribute (is_attr 1), flattened in row-major
 * order (a record array's string fields: cw_h5_read_compound_strings). NULL vlen entries become
 * "". */
cw_status cw_h5_read_strings_obj(hid_t obj, int is_attr, const char *ctx, cw_strings *out);

/* Every field of a record array (compound dataset) whose fields are all strings, with ONE
 * H5Dread into a memory record holding all fields (vlen char * where the file's field is vlen,
 * the same fixed size where fixed); reading field by field would convert every whole record
 * once per field (O(fields^2) time, and HDF5's conversion buffers grow with it). fields (may be
 * NULL) gets the field names in stored order; values gets n_fields * n_rows strings, field-major:
 * values->s[f * n_rows + r]. Strings follow cw_h5_read_strings_obj's rules (character set,
 * padding, NULL vlen entries become ""). Sizes that overflow size_t fail with CW_ENOMEM. */
cw_status cw_h5_read_compound_strings(hid_t ds, const char *ctx, cw_strings *fields,
                                      cw_strings *values);

/* Writing (anndata's conventions). */
hid_t cw_h5_vlen_utf8(void); /* caller closes */
hid_t cw_h5_bool_type(void); /* h5py's bool enum on int8; caller closes */
cw_status cw_h5_write_attr_string(hid_t obj, const char *name, const char *value, const char *ctx);
/* 1-D vlen UTF-8 array; n == 0 writes an empty float64 array, as h5py does for []. */
cw_status cw_h5_write_attr_strings(hid_t obj, const char *name, const char *const *v, int64_t n,
                                   const char *ctx);
cw_status cw_h5_write_attr_int64s(hid_t obj, const char *name, const int64_t *v, int64_t n,
                                  const char *ctx);
cw_status cw_h5_write_attr_bool(hid_t obj, const char *name, int value, const char *ctx);
/* encoding-type and encoding-version attributes. */
cw_status cw_h5_set_encoding(hid_t obj, const char *type, const char *version, const char *ctx);

#endif
