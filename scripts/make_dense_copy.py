#!/usr/bin/env python3
"""Copies an .h5ad whose X is CSR into one whose X is a dense float32 array (anndata's
"array" encoding), streaming row blocks so the matrix never has to fit in memory. Used to
measure dense-X read throughput (`causeway bench read`); not used by the product.

usage: /usr/bin/python3 scripts/make_dense_copy.py IN.h5ad OUT.h5ad [--gzip LEVEL]
Needs h5py and numpy (Debian: python3-h5py, python3-numpy).
"""
import argparse

import h5py
import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("src")
ap.add_argument("dst")
ap.add_argument("--gzip", type=int, default=0)
ap.add_argument("--block", type=int, default=4096)
args = ap.parse_args()

with h5py.File(args.src, "r") as fi, h5py.File(args.dst + ".tmp", "w") as fo:
    for k, v in fi.attrs.items():
        fo.attrs[k] = v
    for name in fi:
        if name != "X":
            fi.copy(fi[name], fo, name=name)
    X = fi["X"]
    n, g = (int(s) for s in X.attrs["shape"])
    kw = dict(chunks=(min(n, 256), g), compression="gzip", compression_opts=args.gzip) if args.gzip else {}
    out = fo.create_dataset("X", shape=(n, g), dtype="float32", **kw)
    out.attrs["encoding-type"] = "array"
    out.attrs["encoding-version"] = "0.2.0"
    indptr = X["indptr"]
    for r0 in range(0, n, args.block):
        r1 = min(n, r0 + args.block)
        p = indptr[r0 : r1 + 1].astype(np.int64)
        idx = X["indices"][p[0] : p[-1]]
        val = X["data"][p[0] : p[-1]]
        block = np.zeros((r1 - r0, g), dtype=np.float32)
        rows = np.repeat(np.arange(r1 - r0), np.diff(p))
        block[rows, idx] = val
        out[r0:r1] = block
import os  # noqa: E402

os.replace(args.dst + ".tmp", args.dst)
