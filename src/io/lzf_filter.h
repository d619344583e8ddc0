/* lzf_filter.h: the LZF compression filter of h5py (HDF5 filter id 32000), registered in-process.
 *
 * Implements issue #2 item 2 (LZF-compressed .h5ad files; STYLE.md: Debian's hdf5-plugin-lzf is
 * broken, so causeway carries its own filter on liblzf). Wire-compatible with h5py's
 * lzf_filter.c: cd_values = {filter version 4, LZF_VERSION, chunk size in bytes}; chunks hold raw
 * lzf output; a chunk that would not shrink is left uncompressed (the filter is optional).
 */
#ifndef CW_LZF_FILTER_H
#define CW_LZF_FILTER_H

#include "causeway.h"

#define CW_LZF_FILTER_ID 32000

/* Registers the filter with the HDF5 library of this process; safe to call any number of times
 * (re-registering replaces the entry, so this also survives an H5close()/re-open cycle).
 * Fails (CW_EIO) only when HDF5 refuses the registration. */
cw_status cw_lzf_register(void);

#endif
