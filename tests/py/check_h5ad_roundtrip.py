#!/usr/bin/python3
"""check_h5ad_roundtrip.py: opens an .h5ad written by causeway's C writer with anndata and checks
every value against the formulas tests/test_h5ad.c wrote it from (issue #2 item 5, STYLE.md
"h5ad round trips against anndata").

Usage: /usr/bin/python3 tests/py/check_h5ad_roundtrip.py FILE.h5ad dense|csr
Exit status 0 when anndata reads the file and every value matches, 1 otherwise (each mismatch
is printed). The file is also written back with anndata and read again, so it must be a
complete AnnData, not just readable.
"""
import os
import sys
import tempfile

import numpy as np
import pandas as pd
import scipy.sparse as sp

import anndata as ad

N, M = 10, 6
errors = []


def check(cond, what):
    if not cond:
        errors.append(what)
        print("MISMATCH:", what, file=sys.stderr)


def x_value(i, j):  # rt_x() in tests/test_h5ad.c
    return 0.0 if (i * M + j) % 4 == 0 else (i + 1) * 0.5 + j


def check_file(path, mode):
    a = ad.read_h5ad(path)
    check(a.shape == (N, M), f"shape {a.shape}")
    check(sp.issparse(a.X) == (mode == "csr"), f"X sparse={sp.issparse(a.X)}, expected {mode}")
    if mode == "csr":
        check(isinstance(a.X, sp.csr_matrix), f"X type {type(a.X)}")
    check(a.X.dtype == np.float32, f"X dtype {a.X.dtype}")
    x = a.X.toarray() if sp.issparse(a.X) else np.asarray(a.X)
    want = np.array([[x_value(i, j) for j in range(M)] for i in range(N)], dtype=np.float32)
    check(np.array_equal(x, want), f"X values\n{x}\nexpected\n{want}")
    if mode == "csr":  # scipy needs one integer type for indices and indptr to subset rows
        check(a.X.indices.dtype == a.X.indptr.dtype,
              f"indices {a.X.indices.dtype} vs indptr {a.X.indptr.dtype}")
    try:
        sub = a[np.arange(N) % 2 == 0]
        xs = sub.X.toarray() if sp.issparse(sub.X) else np.asarray(sub.X)
        check(np.array_equal(xs, want[::2]), "row subset values")
    except Exception as e:  # noqa: BLE001
        check(False, f"row subsetting failed: {e}")
    check(list(a.obs_names) == [f"c{i}" for i in range(N)], f"obs_names {list(a.obs_names)}")
    check(list(a.var_names) == [f"g{j}" for j in range(M)], f"var_names {list(a.var_names)}")
    check(list(a.obs.columns) == ["cond", "score", "count", "flag", "name"],
          f"obs columns {list(a.obs.columns)}")
    cond = a.obs["cond"]
    check(isinstance(cond.dtype, pd.CategoricalDtype), f"cond dtype {cond.dtype}")
    check(list(cond.cat.categories) == ["A", "B", "ctrl"], f"categories {list(cond.cat.categories)}")
    want_cond = [None if i == 4 else ["ctrl", "A", "B"][i % 3] for i in range(N)]
    got_cond = [None if pd.isna(v) else v for v in cond]
    check(got_cond == want_cond, f"cond values {got_cond}")
    check(a.obs["score"].dtype == np.float64, f"score dtype {a.obs['score'].dtype}")
    check(np.allclose(a.obs["score"], np.arange(N) * 1.5), "score values")
    check(a.obs["count"].dtype == np.int64, f"count dtype {a.obs['count'].dtype}")
    check(list(a.obs["count"]) == [2 * i for i in range(N)], "count values")
    check(a.obs["flag"].dtype == bool, f"flag dtype {a.obs['flag'].dtype}")
    check(list(a.obs["flag"]) == [i % 2 == 1 for i in range(N)], "flag values")
    check(list(a.obs["name"]) == [f"n{i}" for i in range(N)], f"name values {list(a.obs['name'])}")
    check(list(a.var["sym"]) == [f"S{j}" for j in range(M)], "var sym")
    emb = a.obsm["X_emb"]
    check(emb.shape == (N, 2) and emb.dtype == np.float64, f"X_emb {emb.shape} {emb.dtype}")
    check(np.allclose(emb, [[i + 0.25 * k for k in range(2)] for i in range(N)]), "X_emb values")
    cw = a.uns["causeway"]
    check(int(cw["seed"]) == 42, f"seed {cw['seed']!r}")
    check(cw["config"] == '{"a": 1}', f"config {cw['config']!r}")
    check(abs(float(cw["lr"]) - 0.001) < 1e-15, f"lr {cw['lr']!r}")
    check(np.allclose(cw["dag"], np.arange(6).reshape(2, 3) * 0.5), f"dag {cw['dag']!r}")
    check(list(cw["genes"]) == ["g0", "g1"], f"genes {cw['genes']!r}")
    check(list(cw["idx"]) == [1, 2, 3] and cw["idx"].dtype == np.int64, f"idx {cw['idx']!r}")
    check(a.uns["note"] == "hello", f"note {a.uns['note']!r}")
    rgg = a.uns["rank_genes_groups"]
    names = rgg["names"]
    check(names.dtype.names == ("A", "B"), f"names fields {names.dtype.names}")
    for g, grp in enumerate(["A", "B"]):
        check([str(s) for s in names[grp]] == [f"g{(g + r) % M}" for r in range(3)],
              f"names[{grp}] {list(names[grp])}")
        check(np.allclose(rgg["scores"][grp], [3 - r + g * 0.5 for r in range(3)]), f"scores {grp}")
        check(np.allclose(rgg["pvals"][grp], [10.0 ** -(5 - r) for r in range(3)], rtol=1e-12),
              f"pvals {grp}")
        check(np.allclose(rgg["logfoldchanges"][grp], [1 - r * 0.25 for r in range(3)]), f"lfc {grp}")
    check(rgg["scores"].dtype["A"] == np.float32, f"scores dtype {rgg['scores'].dtype}")
    check(rgg["pvals"].dtype["A"] == np.float64, f"pvals dtype {rgg['pvals'].dtype}")
    p = rgg["params"]
    check(p["groupby"] == "cond" and p["reference"] == "rest" and p["method"] == "t-test",
          f"params {p!r}")
    check(p["use_raw"] is False or p["use_raw"] == False, f"use_raw {p['use_raw']!r}")  # noqa: E712
    return a


def main():
    path, mode = sys.argv[1], sys.argv[2]
    a = check_file(path, mode)
    with tempfile.TemporaryDirectory() as d:  # anndata can write it back and read it again
        again = os.path.join(d, "again.h5ad")
        a.write_h5ad(again)
        check_file(again, mode)
    if errors:
        print(f"{len(errors)} mismatches in {path}", file=sys.stderr)
        return 1
    print(f"{path}: anndata {ad.__version__} read every value as written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
