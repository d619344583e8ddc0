/* lzf_filter.c: h5py's LZF filter (id 32000) for HDF5, on Debian's liblzf (lzf_filter.h).
 *
 * Implements issue #2 item 2 (LZF-compressed .h5ad, as written by anndata's
 * write_h5ad(compression="lzf") through h5py). Conventions follow h5py's lzf_filter.c so files
 * move both ways: set_local stores {4, LZF_VERSION, chunk bytes} in cd_values; decompression
 * starts from cd_values[2] (or the input size) and grows the buffer while lzf reports E2BIG;
 * compression writes raw lzf into a buffer the size of the input and returns 0 (HDF5 then stores
 * the chunk uncompressed, the filter being optional) when the output would not be smaller.
 * Buffers handed to and from HDF5 use H5allocate_memory/H5free_memory (HDF5 frees them), never
 * the causeway allocator.
 */
#include "io/lzf_filter.h"

#include "core/status.h"

#include <errno.h>
#include <hdf5.h>
#include <lzf.h>

#define CW_LZF_FILTER_VERSION 4

static herr_t cw_lzf_set_local(hid_t dcpl, hid_t type, hid_t space) {
    (void)space;
    unsigned flags = 0;
    size_t nelem = 8;
    unsigned values[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (H5Pget_filter_by_id2(dcpl, CW_LZF_FILTER_ID, &flags, &nelem, values, 0, NULL, NULL) < 0)
        return -1;
    if (nelem < 3) nelem = 3; /* the first three slots are ours; keep any further ones */
    if (nelem > 8) nelem = 8;
    if (values[0] == 0) values[0] = CW_LZF_FILTER_VERSION;
    if (values[1] == 0) values[1] = LZF_VERSION;
    hsize_t chunk[32];
    int ndims = H5Pget_chunk(dcpl, 32, chunk);
    if (ndims < 0 || ndims > 32) return -1;
    size_t bytes = H5Tget_size(type);
    if (bytes == 0) return -1;
    for (int i = 0; i < ndims; i++) bytes *= (size_t)chunk[i];
    values[2] = bytes > 0xffffffffu ? 0u : (unsigned)bytes; /* 0 = "no guess" */
    if (H5Pmodify_filter(dcpl, CW_LZF_FILTER_ID, flags, nelem, values) < 0) return -1;
    return 1;
}

static size_t cw_lzf_filter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[],
                            size_t nbytes, size_t *buf_size, void **buf) {
    void *out = NULL;
    size_t out_size = 0;
    unsigned status = 0;
    if (nbytes > 0xffffffffu) return 0; /* lzf lengths are unsigned int */
    if (!(flags & H5Z_FLAG_REVERSE)) {
        out_size = *buf_size;
        out = H5allocate_memory(out_size ? out_size : 1, 0);
        if (!out) return 0;
        status = lzf_compress(*buf, (unsigned)nbytes, out,
                              out_size > 0xffffffffu ? 0xffffffffu : (unsigned)out_size);
        if (status == 0) { /* would not shrink: HDF5 keeps the chunk raw (optional filter) */
            H5free_memory(out);
            return 0;
        }
    } else {
        out_size = (cd_nelmts >= 3 && cd_values[2] != 0) ? cd_values[2] : *buf_size;
        if (out_size == 0) out_size = nbytes ? 2 * nbytes : 64;
        for (;;) {
            out = H5allocate_memory(out_size, 0);
            if (!out) return 0;
            errno = 0;
            status = lzf_decompress(*buf, (unsigned)nbytes, out,
                                    out_size > 0xffffffffu ? 0xffffffffu : (unsigned)out_size);
            if (status != 0) break;
            H5free_memory(out);
            out = NULL;
            /* E2BIG: the guess was too small; anything else (EINVAL): corrupt data */
            if (errno != E2BIG || out_size >= 0xffffffffu) return 0;
            out_size += *buf_size > 0 ? *buf_size : out_size;
            if (out_size > 0xffffffffu) out_size = 0xffffffffu;
        }
    }
    H5free_memory(*buf);
    *buf = out;
    *buf_size = out_size;
    return status;
}

static const H5Z_class2_t cw_lzf_class = {
    H5Z_CLASS_T_VERS,
    (H5Z_filter_t)CW_LZF_FILTER_ID,
    1,
    1,
    "lzf (causeway)",
    NULL,
    cw_lzf_set_local,
    cw_lzf_filter,
};

cw_status cw_lzf_register(void) {
    if (H5Zregister(&cw_lzf_class) < 0)
        return cw_fail(CW_EIO, "HDF5 refused to register the LZF filter (id %d)", CW_LZF_FILTER_ID);
    return CW_OK;
}
