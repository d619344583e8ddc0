#!/usr/bin/env python3
"""Writes the small perturbation .h5ad fixtures that test `causeway info` against files made by
real anndata (tests/test_cli.c), and the expected summaries next to them.

Run with a python3 that has anndata, numpy and scipy (Debian: /usr/bin/python3 with
python3-anndata): `/usr/bin/python3 tests/py/make_info_fixtures.py`. Deterministic.

Files (tests/fixtures/):
  info_dense_categorical.h5ad  dense float32 X, obs guide_ids categorical ('' control, 'A', 'A,B')
  info_csr_strings_gzip.h5ad   CSR float64 X, gzip, obs 'perturbation' as plain strings in GEARS
                               style ('ctrl', 'A+ctrl', 'A+B'), no guide_ids column
  info_csr_lzf.h5ad            CSR float32 X, LZF, obs 'condition' categorical with 'control'
  info_expected.json           what `causeway info --json` must report for each
"""
import json
import os
import sys

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(7)
expected = {}


def make(labels, n_genes, dense, dtype):
    n = len(labels)
    x = rng.poisson(0.7, size=(n, n_genes)).astype(dtype)
    x = np.log1p(x)
    X = x if dense else sp.csr_matrix(x)
    var = pd.DataFrame(
        {"gene_symbols": [f"GENE{i:02d}" for i in range(n_genes)]},
        index=[f"ENSG{i:05d}" for i in range(n_genes)],
    )
    return X, var


def summary(labels, key, ctrl, n_genes):
    singles, combos = {}, {}
    targets = set()
    n_ctrl = 0
    for lab in labels:
        if lab in ctrl:
            n_ctrl += 1
            continue
        toks = sorted({t.strip() for t in lab.replace("+", ",").split(",")
                       if t.strip() and t.strip() != "ctrl"})
        targets.update(toks)
        d = singles if len(toks) == 1 else combos
        d[",".join(toks)] = d.get(",".join(toks), 0) + 1
    counts = sorted(list(singles.values()) + list(combos.values()))
    return {
        "n_cells": len(labels),
        "n_genes": n_genes,
        "n_controls": n_ctrl,
        "n_targets": len(targets),
        "n_single_perturbations": len(singles),
        "n_combination_perturbations": len(combos),
        "n_single_cells": sum(singles.values()),
        "n_combination_cells": sum(combos.values()),
        "perturbation_key": key,
        "cells_per_perturbation_min": counts[0],
        "cells_per_perturbation_max": counts[-1],
        "cells_per_perturbation_median": float(np.median(counts)),
    }


# 1. dense, categorical guide_ids
labels = [""] * 6 + ["KLF1"] * 4 + ["BAK1"] * 3 + ["KLF1,BAK1"] * 2 + ["CEBPE"] * 5
X, var = make(labels, 9, True, np.float32)
obs = pd.DataFrame(
    {"guide_ids": pd.Categorical(labels), "n_counts": np.arange(len(labels), dtype=float),
     "batch": [f"b{i % 2}" for i in range(len(labels))]},
    index=[f"cell{i:03d}" for i in range(len(labels))],
)
ad.AnnData(X=X, obs=obs, var=var).write_h5ad(os.path.join(out, "info_dense_categorical.h5ad"))
expected["info_dense_categorical.h5ad"] = summary(labels, "guide_ids", {""}, 9)

# 2. CSR float64, gzip, plain string column in GEARS style, no guide_ids
labels = ["ctrl"] * 5 + ["KLF1+ctrl"] * 3 + ["ctrl+SET"] * 4 + ["KLF1+SET"] * 2 + ["SET+KLF1"] * 1
X, var = make(labels, 7, False, np.float64)
obs = pd.DataFrame({"perturbation": np.array(labels, dtype=object)},
                   index=[f"c{i}" for i in range(len(labels))])
a = ad.AnnData(X=X, obs=obs, var=var, dtype=X.dtype)
a.strings_to_categoricals = lambda *args, **kw: None  # keep the column as plain strings
a.write_h5ad(os.path.join(out, "info_csr_strings_gzip.h5ad"), compression="gzip")
expected["info_csr_strings_gzip.h5ad"] = summary(labels, "perturbation", {"ctrl"}, 7)

# 3. CSR float32, LZF, categorical 'condition' with 'control'
labels = ["control"] * 4 + ["MAP2K6"] * 3 + ["ETS2"] * 3 + ["ETS2+MAP2K6"] * 2
X, var = make(labels, 6, False, np.float32)
obs = pd.DataFrame({"condition": pd.Categorical(labels)}, index=[f"k{i}" for i in range(len(labels))])
ad.AnnData(X=X, obs=obs, var=var).write_h5ad(os.path.join(out, "info_csr_lzf.h5ad"), compression="lzf")
expected["info_csr_lzf.h5ad"] = summary(labels, "condition", {"control"}, 6)

with open(os.path.join(out, "info_expected.json"), "w") as f:
    json.dump(expected, f, indent=2, sort_keys=True)
print("wrote", ", ".join(sorted(expected)), file=sys.stderr)
