#!/usr/bin/env python3
"""make_lscale_parity.py: an independent numpy implementation of LSCALE-I (spec
score_crl_and_temporal.md §A4.0, §A4.1 with Algorithm 2) and of the sample-complexity algorithm
(§A4.2), written from the spec (not from the authors' code), run on a small linear SCM with exact
(oracle) score differences. Writes tests/fixtures/lscale_parity.bin for tests/test_crl_lscale.c.

Conventions shared with src/crl/lscale.c (documented in lscale.h): encoder rows are signed so
that the largest-|entry| of the lifted row is positive; closest DAG = the lexicographically
smallest node order among those keeping the most edges; Kahn order takes the smallest ready node.

Fixture layout (little endian): int64 n, d, N, then float32 x (n+1, N, d), float32 ds (n, N, d),
then float64 enc_s, enc_h, enc_f (n x d each), uint8 g_s, g_h, g_f (n x n each), int64 order
(n, of g_s), float64 fs_enc (n x d), uint8 fs_g (n x n), int64 fs_order (n).
The inputs are rounded to float32 before the reference runs, so C and numpy see the same data.

Usage: /usr/bin/python3 tests/py/make_lscale_parity.py [out_path]
"""
import itertools
import sys

import numpy as np

ATOL_EDGE, ATOL_EIGV, ATOL_INTERSECT, RTOL_RANK = 1e-3, 1e-2, 1e-6, 1e-3
FS_ATOL_EIGV, FS_ATOL_ORTH = 1e-2, 1e-1


# ---------------------------------------------------------------- data: a small linear SCM
def make_case(seed, n=4, d=10, N=250, var_change=5.0):
    rng = np.random.default_rng(seed)
    while True:
        adj = np.triu(rng.random((n, n)) < 0.6, 1)
        if adj.sum() >= 3:
            break
    w = np.where(adj, np.sign(rng.random((n, n)) - 0.5) * (0.5 + rng.random((n, n))), 0.0)
    v = 0.5 + rng.random(n)
    g = rng.standard_normal((d, n))
    g /= np.abs(g).max(0)
    perm = rng.permutation(n)  # environment m intervenes node perm[m-1]

    def prec(node):  # precision of z in the environment intervening node (None: obs)
        b, vv = w.copy(), v.copy()
        if node is not None:
            b[:, node] = 0.0
            vv[node] *= var_change
        a = np.eye(n) - b
        return a @ np.diag(1 / vv) @ a.T, b, vv

    xs, zs = [], []
    for e in range(n + 1):
        _, b, vv = prec(None if e == 0 else perm[e - 1])
        z = np.zeros((N, n))
        for i in range(n):
            z[:, i] = z @ b[:, i] + np.sqrt(vv[i]) * rng.standard_normal(N)
        zs.append(z)
        xs.append(z @ g.T)
    th0 = prec(None)[0]
    enc = np.linalg.pinv(g)
    ds = []
    for m in range(1, n + 1):
        dz = zs[0] @ (prec(perm[m - 1])[0] - th0)  # s_0 - s_m = (Theta_m - Theta_0) z
        ds.append(dz @ enc)
    x = np.stack(xs).astype(np.float32)
    ds = np.stack(ds).astype(np.float32)
    return x, ds


# ---------------------------------------------------------------- shared pieces
def fix_sign(v, basis):
    lifted = basis @ v
    k = int(np.argmax(np.abs(lifted)))
    return -v if lifted[k] < 0 else v


def top_vec(r, basis):
    _, vec = np.linalg.eigh(r)
    return fix_sign(vec[:, -1].copy(), basis)


def prepare(x, ds):
    ne, N, d = x.shape
    n = ne - 1
    c = np.zeros((d, d))
    for e in range(ne):
        xe = x[e, : n + d]
        xe = xe - xe.mean(0)
        c += xe.T @ xe / xe.shape[0]
    _, vec = np.linalg.eigh(c)
    basis = vec[:, ::-1][:, :n].copy()
    dsn = ds @ basis
    r = np.stack([a.T @ a / a.shape[0] for a in dsn])
    xn = x @ basis
    xcov = np.stack([np.cov(a.T, bias=True) for a in xn])
    return basis, r, xcov, n, d


def closest_dag(adj):
    n = adj.shape[0]
    best, best_order = -1, None
    for order in itertools.permutations(range(n)):  # lexicographic; keep the first optimum
        pos = np.empty(n, int)
        pos[list(order)] = np.arange(n)
        kept = sum(1 for i in range(n) for j in range(n) if adj[i, j] and pos[i] < pos[j])
        if kept > best:
            best, best_order = kept, pos.copy()
    return np.array([[bool(adj[i, j]) and best_order[i] < best_order[j] for j in range(n)]
                     for i in range(n)])


def kahn(adj):
    n = adj.shape[0]
    done, order = np.zeros(n, bool), []
    for _ in range(n):
        ready = [j for j in range(n) if not done[j] and not any(adj[i, j] and not done[i]
                                                                  for i in range(n) if i != j)]
        order.append(ready[0])
        done[ready[0]] = True
    return np.array(order)


def closure(adj):
    n = adj.shape[0]
    t = adj.copy().astype(bool)
    for k in range(n):
        t |= np.outer(t[:, k], t[k, :])
    np.fill_diagonal(t, False)
    return t


def reduction(adj):
    tc = closure(adj)
    return adj & ~((adj.astype(int) @ tc.astype(int)) > 0)


def rz_diag(dec, r):
    n = r.shape[0]
    out = np.zeros((n, n))
    for i in range(n):
        out[:, i] = np.diag(dec.T @ r[i] @ dec)
    return out


def graph(rz):
    n = rz.shape[0]
    g = (rz >= ATOL_EDGE) & ~np.eye(n, dtype=bool)
    g = closest_dag(g)
    return g, kahn(g)


def col_space(r, tol):
    w, v = np.linalg.eigh(r)
    return v[:, w > tol][:, ::-1]


def intersect(q, u):
    if q.shape[1] == 0 or u.shape[1] == 0:
        return q[:, :0]
    m = np.hstack([q, -u])
    _, s, vt = np.linalg.svd(m)
    tol = RTOL_RANK * s[0]
    rank = int(np.sum(s > tol))
    null = vt[rank:].T  # (a+b) x k
    if null.shape[1] == 0:
        return q[:, :0]
    y = q @ null[: q.shape[1]]
    uu, _, _ = np.linalg.svd(y, full_matrices=False)
    return uu


# ---------------------------------------------------------------- LSCALE-I
def lscale(x, ds):
    basis, r, xcov, n, d = prepare(x, ds)
    h = np.stack([top_vec(r[m], basis) for m in range(n)])
    dec = np.linalg.pinv(h)
    a = basis @ dec
    dec = dec / np.abs(a).max(0)
    h = np.linalg.pinv(dec)
    g_s, order = graph(rz_diag(dec, r))
    # Algorithm 2
    tr, tc = reduction(g_s), closure(g_s)
    g_f = np.zeros((n, n), bool)
    bases = [col_space(r[i], ATOL_EIGV) for i in range(n)]
    for i in range(n):
        k = order[i]
        for j in range(i):
            t = order[j]
            if tr[t, k]:
                g_f[t, k] = True
            elif tc[t, k]:
                dim = intersect(bases[t], bases[k]).shape[1]
                common = int(np.sum(g_f[:, t] & g_f[:, k]))
                g_f[t, k] = dim > common
    h_f = np.zeros((n, n))
    for m in range(n):
        q = col_space(r[m], ATOL_INTERSECT)
        for c in range(n):
            if g_f[m, c] and q.shape[1] > 0:
                q = intersect(q, col_space(r[c], ATOL_INTERSECT))
        if q.shape[1] == 0:
            h_f[m] = h[m]
            continue
        _, vec = np.linalg.eigh(q.T @ r[m] @ q)
        row = q @ vec[:, -1]
        h_f[m] = fix_sign(row / np.linalg.norm(row), basis)
    # L3
    h_h = h.copy()
    for s in range(1, n):
        m = order[s]
        an = np.where(g_s[:, m])[0]
        if len(an) == 0:
            continue
        c = h @ xcov[m + 1] @ h.T
        u = np.linalg.solve(c[np.ix_(an, an)], c[an, m])
        h_h[m] -= u @ h[an]
    g_h, _ = graph(rz_diag(np.linalg.pinv(h_h), r))
    g_h &= g_s
    lift = lambda hh: hh @ basis.T
    return lift(h), lift(h_h), lift(h_f), g_s, g_h, g_f, order, r


# ---------------------------------------------------------------- sample-complexity algorithm
def fsample(x, ds):
    basis, r, _, n, d = prepare(x, ds)
    vt = list(range(n))
    order = np.zeros(n, int)
    for t in range(n - 1, 0, -1):
        lam = {k: np.linalg.eigvalsh(sum(r[i] for i in vt if i != k))[n - t - 1] for k in vt}
        y = min(vt, key=lambda k: (lam[k], k))
        order[t] = y
        vt.remove(y)
    order[0] = vt[0]
    g = np.zeros((n, n), bool)
    for t in range(n - 2, -1, -1):
        pt = order[t]
        _, vec = np.linalg.eigh(sum(r[order[a]] for a in range(t + 1)))
        u = vec[:, ::-1][:, : t + 1]
        for j in range(t + 1, n):
            mt = [order[a] for a in range(j + 1) if order[a] != pt and not g[pt, order[a]]]
            p = np.eye(n)
            if mt:
                w, v = np.linalg.eigh(sum(r[i] for i in mt))
                rank = int(np.sum(w > FS_ATOL_EIGV))
                if rank > 0:
                    nb = v[:, : n - rank]
                    p = nb @ nb.T
            if np.linalg.norm(p @ u, 2) <= FS_ATOL_ORTH:
                g[pt, order[j]] = True
                g[pt] |= g[order[j]]
    enc = np.stack([top_vec(r[m], basis) for m in range(n)]) @ basis.T
    return enc, g, order


def margins_ok(r, n):
    """Reject cases whose eigenvalues sit near a threshold (rounding could flip a decision)."""
    for i in range(n):
        w = np.linalg.eigvalsh(r[i])
        for tol in (ATOL_EIGV, ATOL_INTERSECT):
            if np.any((w > tol / 3) & (w < tol * 3)):
                return False
    return True


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/lscale_parity.bin"
    for seed in range(100):
        x, ds = make_case(seed)
        xd, dsd = x.astype(np.float64), ds.astype(np.float64)
        enc_s, enc_h, enc_f, g_s, g_h, g_f, order, r = lscale(xd, dsd)
        basis, _, _, n, d = prepare(xd, dsd)
        rz = rz_diag(np.linalg.pinv(enc_s @ basis), r)
        off = rz[~np.eye(n, dtype=bool)]
        if np.any((off > ATOL_EDGE / 3) & (off < ATOL_EDGE * 3)) or not margins_ok(r, n):
            continue
        if g_s.sum() < 2:
            continue
        fs_enc, fs_g, fs_order = fsample(xd, dsd)
        break
    else:
        raise SystemExit("no case with clear margins")
    n, N, d = ds.shape
    with open(out, "wb") as f:
        f.write(np.array([n, d, N], "<i8").tobytes())
        f.write(x.astype("<f4").tobytes())
        f.write(ds.astype("<f4").tobytes())
        for a in (enc_s, enc_h, enc_f):
            f.write(a.astype("<f8").tobytes())
        for a in (g_s, g_h, g_f):
            f.write(a.astype(np.uint8).tobytes())
        f.write(np.asarray(order, "<i8").tobytes())
        f.write(fs_enc.astype("<f8").tobytes())
        f.write(fs_g.astype(np.uint8).tobytes())
        f.write(np.asarray(fs_order, "<i8").tobytes())
    print(f"seed {seed}: n {n} d {d} N {N}; g_s edges {int(g_s.sum())}, g_h {int(g_h.sum())}, "
          f"g_f {int(g_f.sum())}, fs_g {int(fs_g.sum())} -> {out}")


if __name__ == "__main__":
    main()
