#!/usr/bin/python3
"""make_h5ad_fixtures.py: writes the small .h5ad fixtures of tests/test_h5ad.c (issue #2 item 4).

Run with Debian's python (anndata 0.8, h5py, scipy, numpy):
    /usr/bin/python3 tests/py/make_h5ad_fixtures.py            # from the repository root
Deterministic: every value comes from a formula (no random numbers); tests/test_h5ad.c recomputes
the same formulas (x_small, x_lzf, deg_name, ...) and also checks literal values printed by
`make_h5ad_fixtures.py --print` (row sums, nnz).

Fixtures (tests/fixtures/):
  h5ad_dense.h5ad     anndata 0.8: dense float32 X (12 x 8); obs categorical with a missing
                      value, string-array, float64, int64 and bool columns; var gene_symbols;
                      obsm X_pca; uns rank_genes_groups as scanpy stores it (record arrays:
                      names 'O', scores/logfoldchanges float32, pvals/pvals_adj float64).
  h5ad_csr64_gzip.h5ad  anndata 0.8: CSR float64 X with int64 indices/indptr, gzip; a
                      categorical with 130 categories (int16 codes); nested uns values;
                      rank_genes_groups in the legacy "group of per-group datasets" layout.
  h5ad_csr_lzf.h5ad   anndata 0.8: CSR float32 X (200 x 50), write_h5ad(compression="lzf").
  h5ad_v07.h5ad       anndata 0.7 layout written with h5py: X group with h5sparse_format /
                      h5sparse_shape, obs categorical as int8 codes + `categories` object
                      reference into obs/__categories, rank_genes_groups names as a 2-D
                      fixed-length byte string array (groups = obs[params/groupby] categories).
  h5ad_legacy_deg.h5ad  h5py: dense int32 X (6 x 4), fixed-length byte-string obs index, var
                      index in a dataset named "index" (no _index attribute), uint8 and
                      fixed-length string columns, categoricals of int64 and float64 numbers,
                      a nullable-integer column (anndata >= 0.9), rank_genes_groups record
                      arrays with fixed-length 'S' name fields.
  h5ad_csc.h5ad       anndata 0.8: CSC X (the reader must refuse it with a clear message).
To keep each file well under 30 KB they are written with libver="latest" (compact chunk indexes);
groups carry no timestamps, so a rerun reproduces the committed files byte for byte.
"""
import os
import sys

import h5py
import numpy as np
import pandas as pd
import scipy.sparse as sp

import anndata as ad

OUT = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] != "--print" else os.path.join(os.path.dirname(__file__), "..", "fixtures")

_File = h5py.File


class _LatestFile(_File):
    """h5py.File defaulting to libver='latest' (anndata opens files through h5py.File)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("libver", "latest")
        super().__init__(*args, **kwargs)


def _create_group(self, name, track_order=None):
    """Group.create_group without object timestamps, so reruns give byte-identical files."""
    name, lcpl = self._e(name, lcpl=True)
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    return h5py.Group(h5py.h5g.create(self.id, name, lcpl=lcpl, gcpl=gcpl))


def _make_fcpl(*args, **kwargs):
    """h5py's file creation properties, without timestamps on the root group."""
    plist = _orig_make_fcpl(*args, **kwargs) or h5py.h5p.create(h5py.h5p.FILE_CREATE)
    plist.set_obj_track_times(False)
    return plist


_orig_make_fcpl = h5py._hl.files.make_fcpl
h5py._hl.files.make_fcpl = _make_fcpl
h5py.File = _LatestFile
h5py.Group.create_group = _create_group

N_OBS, N_VARS = 12, 8


def x_small(i, j):
    """The 12 x 8 matrix of fixtures a, b, d: zero where (i + j) % 3 == 0."""
    return 0.0 if (i + j) % 3 == 0 else ((i * 8 + j) % 7) * 0.25 + 0.5


def x_lzf(i, j):
    """The 200 x 50 matrix of fixture c: 20 % dense."""
    return float((i * 13 + j * 7) % 10 + 1) if (i * 3 + j * 7) % 5 == 0 else 0.0


def dense(f, n, m, dtype):
    return np.array([[f(i, j) for j in range(m)] for i in range(n)], dtype=dtype)


PERTS = ["ctrl", "geneA", "geneB"]


def small_obs():
    pert = [PERTS[i % 3] for i in range(N_OBS)]
    pert[5] = None  # a missing categorical value (code -1)
    x = dense(x_small, N_OBS, N_VARS, np.float64)
    return pd.DataFrame(
        {
            "perturbation": pd.Categorical(pert, categories=PERTS),
            "barcode": [f"bc{i:02d}" for i in range(N_OBS)],  # unique: stays a string-array
            "n_counts": x.sum(axis=1),
            "n_genes": (x != 0).sum(axis=1).astype(np.int64),
            "is_ctrl": np.array([i % 3 == 0 for i in range(N_OBS)]),
        },
        index=[f"cell_{i:02d}" for i in range(N_OBS)],
    )


def small_var():
    return pd.DataFrame(
        {"gene_symbols": [f"SYM{j}" for j in range(N_VARS)]},
        index=[f"gene_{j}" for j in range(N_VARS)],
    )


GROUPS = ["geneA", "geneB"]
N_TOP = 4


def deg_name(g, r):
    return f"gene_{(g * 3 + r * 2) % N_VARS}"


def deg_score(g, r):
    return 10.0 - r * 1.5 + g * 0.25


def deg_pval(g, r):
    return 10.0 ** (-(8 - r - g))


def rank_genes_groups():
    def rec(f, dtype):
        return np.rec.fromarrays(
            [np.array([f(g, r) for r in range(N_TOP)], dtype=dtype) for g in range(len(GROUPS))],
            names=GROUPS,
        )

    return {
        "names": rec(deg_name, "O"),
        "scores": rec(deg_score, "float32"),
        "pvals": rec(deg_pval, "float64"),
        "pvals_adj": rec(lambda g, r: min(1.0, deg_pval(g, r) * 4), "float64"),
        "logfoldchanges": rec(lambda g, r: 2.0 - r * 0.5 - g, "float32"),
        "params": {
            "groupby": "perturbation",
            "reference": "ctrl",
            "method": "wilcoxon",
            "use_raw": False,
            "corr_method": "benjamini-hochberg",
        },
    }


def compact(path):
    """Rewrites path object by object (HDF5 does not reclaim the space of deleted datasets)."""
    tmp = path + ".compact"
    with h5py.File(path, "r") as src, h5py.File(tmp, "w") as dst:
        for k, v in src.attrs.items():
            dst.attrs[k] = v
        for k in src:
            src.copy(src[k], dst, name=k)
    os.replace(tmp, path)


def fixture_dense(path):
    a = ad.AnnData(X=dense(x_small, N_OBS, N_VARS, np.float32), obs=small_obs(), var=small_var())
    a.obsm["X_pca"] = np.array([[i + k / 10 for k in range(3)] for i in range(N_OBS)])
    a.uns["rank_genes_groups"] = rank_genes_groups()
    a.write_h5ad(path)


def fixture_csr64(path):
    x = sp.csr_matrix(dense(x_small, N_OBS, N_VARS, np.float64))
    x.indices = x.indices.astype(np.int64)
    x.indptr = x.indptr.astype(np.int64)
    obs = small_obs()
    many = [f"c{k:03d}" for k in range(130)]
    obs["many"] = pd.Categorical([many[(i * 11) % 130] for i in range(N_OBS)], categories=many)
    a = ad.AnnData(X=x, obs=obs, var=small_var(), dtype=np.float64)
    a.uns["cfg"] = {
        "alpha": 0.5,
        "n": 3,
        "mat": np.arange(6, dtype=np.float64).reshape(2, 3) / 2,
        "labels": np.array(["x", "yy", "zzz"], dtype=object),
        "title": "causeway fixture",
    }
    a.write_h5ad(path, compression="gzip")
    with h5py.File(path, "a") as f:
        # scipy/anndata downcast the index arrays: store them as int64 as large files have them
        for key in ("indices", "indptr"):
            v = f["X"][key][()].astype(np.int64)
            del f["X"][key]
            f["X"].create_dataset(key, data=v, compression="gzip", maxshape=(None,))
        # legacy layout: a group with one dataset per group name
        g = f["uns"].create_group("rank_genes_groups")
        for key, fn, dt in [("names", deg_name, h5py.string_dtype()), ("scores", deg_score, "f4")]:
            sub = g.create_group(key)
            for gi, name in enumerate(GROUPS):
                sub.create_dataset(name, data=np.array([fn(gi, r) for r in range(N_TOP)], dtype=dt))
    compact(path)
    d = h5py.File(path, "r")["X"]
    assert d["indices"].dtype == np.int64 and d["indptr"].dtype == np.int64
    assert d["data"].dtype == np.float64 and d["data"].compression == "gzip"


def fixture_lzf(path):
    x = sp.csr_matrix(dense(x_lzf, 200, 50, np.float32))
    obs = pd.DataFrame(index=[f"c{i}" for i in range(200)])
    var = pd.DataFrame(index=[f"g{j}" for j in range(50)])
    ad.AnnData(X=x, obs=obs, var=var).write_h5ad(path, compression="lzf")
    with h5py.File(path, "r") as f:
        d = f["X/data"]
        assert d.compression == "lzf"
        assert d.id.get_storage_size() < d.size * d.dtype.itemsize, "LZF did not compress"


def vlen_str():
    return h5py.string_dtype(encoding="utf-8")


def fixture_v07(path):
    x = sp.csr_matrix(dense(x_small, N_OBS, N_VARS, np.float32))
    obs = small_obs()
    with h5py.File(path, "w") as f:
        X = f.create_group("X")
        X.attrs["h5sparse_format"] = "csr"
        X.attrs["h5sparse_shape"] = np.array([N_OBS, N_VARS])
        X.create_dataset("data", data=x.data)
        X.create_dataset("indices", data=x.indices.astype(np.int32))
        X.create_dataset("indptr", data=x.indptr.astype(np.int32))
        o = f.create_group("obs")
        o.attrs["_index"] = "_index"
        o.attrs["column-order"] = np.array(["perturbation", "n_counts"], dtype=object)
        o.attrs["encoding-type"] = "dataframe"
        o.attrs["encoding-version"] = "0.1.0"
        o.create_dataset("_index", data=np.array(obs.index, dtype=object), dtype=vlen_str())
        cats = o.create_group("__categories")
        c = cats.create_dataset("perturbation", data=np.array(PERTS, dtype=object), dtype=vlen_str())
        codes = o.create_dataset("perturbation", data=obs["perturbation"].cat.codes.to_numpy().astype(np.int8))
        codes.attrs["categories"] = c.ref
        o.create_dataset("n_counts", data=obs["n_counts"].to_numpy())
        v = f.create_group("var")
        v.attrs["_index"] = "_index"
        v.attrs["column-order"] = np.array([], dtype=np.float64)
        v.attrs["encoding-type"] = "dataframe"
        v.attrs["encoding-version"] = "0.1.0"
        v.create_dataset("_index", data=np.array(small_var().index, dtype=object), dtype=vlen_str())
        m = f.create_group("obsm")
        m.create_dataset("X_pca", data=np.array([[i + k / 10 for k in range(3)] for i in range(N_OBS)], dtype=np.float32))
        u = f.create_group("uns").create_group("rank_genes_groups")
        # 3 groups (the categories of obs/perturbation), names (N_TOP, 3) fixed-length bytes
        names = np.array([[deg_name(g, r).encode() for g in range(3)] for r in range(N_TOP)], dtype="S12")
        u.create_dataset("names", data=names)
        u.create_dataset("scores", data=np.array([[deg_score(g, r) for g in range(3)] for r in range(N_TOP)], dtype=np.float32))
        p = u.create_group("params")
        p.create_dataset("groupby", data="perturbation", dtype=vlen_str())


def fixture_legacy_deg(path):
    with h5py.File(path, "w") as f:
        f.create_dataset("X", data=np.array([[i * 4 + j for j in range(4)] for i in range(6)], dtype=np.int32))
        o = f.create_group("obs")
        o.attrs["_index"] = "_index"
        o.create_dataset("_index", data=np.array([f"c{i}".encode() for i in range(6)], dtype="S4"))
        o.create_dataset("flag", data=np.array([i % 2 for i in range(6)], dtype=np.uint8))
        o.create_dataset("label", data=np.array([b"lo", b"lo", b"mid", b"mid", b"high", b"high"], dtype="S4"))
        for name, cats in [("dose", np.array([10, 100], dtype=np.int64)),
                           ("ratio", np.array([0.5, 2.0]))]:  # categoricals of numbers
            g = o.create_group(name)
            g.attrs["encoding-type"] = "categorical"
            g.attrs["encoding-version"] = "0.2.0"
            g.attrs["ordered"] = False
            g.create_dataset("categories", data=cats)
            g.create_dataset("codes", data=np.array([0, 1, -1, 0, 1, 0], dtype=np.int8))
        g = o.create_group("nullable")  # anndata >= 0.9 nullable integers
        g.attrs["encoding-type"] = "nullable-integer"
        g.attrs["encoding-version"] = "0.1.0"
        g.create_dataset("values", data=np.arange(6, dtype=np.int64) * 10)
        g.create_dataset("mask", data=np.array([False, False, True, False, False, False]))
        v = f.create_group("var")
        v.create_dataset("index", data=np.array([f"g{j}".encode() for j in range(4)], dtype="S3"))
        u = f.create_group("uns").create_group("rank_genes_groups")
        names = np.rec.fromarrays(
            [np.array([f"g{(g + r) % 4}".encode() for r in range(3)], dtype="S8") for g in range(2)],
            names=["A", "B"],
        )
        u.create_dataset("names", data=names)
        u.create_dataset("scores", data=np.rec.fromarrays(
            [np.array([5.0 - r - g for r in range(3)], dtype=np.float64) for g in range(2)], names=["A", "B"]))
        u.create_dataset("pvals", data=np.rec.fromarrays(
            [np.array([0.001 * (r + 1) * (g + 1) for r in range(3)], dtype=np.float32) for g in range(2)], names=["A", "B"]))


def fixture_csc(path):
    x = sp.csc_matrix(dense(x_small, N_OBS, N_VARS, np.float32))
    ad.AnnData(X=x, obs=pd.DataFrame(index=[f"c{i}" for i in range(N_OBS)]),
               var=pd.DataFrame(index=[f"g{j}" for j in range(N_VARS)])).write_h5ad(path)


def print_expected():
    xs = dense(x_small, N_OBS, N_VARS, np.float64)
    xl = dense(x_lzf, 200, 50, np.float64)
    print("small: nnz", int((xs != 0).sum()), "row sums", xs.sum(axis=1).tolist())
    print("lzf: nnz", int((xl != 0).sum()), "total", xl.sum(), "row sums 0..3", xl.sum(axis=1)[:4].tolist())


def main():
    if "--print" in sys.argv:
        print_expected()
        return
    os.makedirs(OUT, exist_ok=True)
    makers = {
        "h5ad_dense.h5ad": fixture_dense,
        "h5ad_csr64_gzip.h5ad": fixture_csr64,
        "h5ad_csr_lzf.h5ad": fixture_lzf,
        "h5ad_v07.h5ad": fixture_v07,
        "h5ad_legacy_deg.h5ad": fixture_legacy_deg,
        "h5ad_csc.h5ad": fixture_csc,
    }
    for name, fn in makers.items():
        path = os.path.join(OUT, name)
        if os.path.exists(path):
            os.remove(path)
        fn(path)
        size = os.path.getsize(path)
        print(f"{path}: {size} bytes")
        assert size < 30_000, f"{name} is {size} bytes; fixtures must stay under 30 KB"


if __name__ == "__main__":
    main()
