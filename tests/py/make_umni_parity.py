#!/usr/bin/python3
"""Independent numpy reference for UMNI-CRL (spec §A4.3 steps 1-3, preprocessing §A4.0), written
from the spec and the conventions documented in src/crl/umni.h (not from the authors' code), and
the fixture tests/fixtures/umni_parity.bin that tests/test_crl_umni.c compares cw_umni_run with.

Input drawn here (numpy default_rng(SEED)): n = 3 latents in topological order 0, 1, 2, edges
Bernoulli(0.5) with weights +-U(0.5, 1.5), noise variances U(0.5, 1.5); signature
D = I OR strictly upper-triangular Bernoulli(0.5), redrawn until det D != 0, columns permuted
(node i in environment m iff D[i, m-1]); hard interventions (f = 0, variance x0.25); mixing G
(d = 6) Gaussian with columns divided by their max |entry|; N = 250 samples per environment;
exact score differences ds_x^m = (s_0 - s_m)(z) G^+ at the observational samples.
SEED is the first seed >= 1 whose case exercises every branch (a multi-node environment, an
edge in the closure, a step-2 replacement W != W_c, a step-3 row update), whose result changes
under each deliberately wrong candidate order of VARIANTS (so the parity test sees them), and
whose thresholded
quantities (eigenvalues vs atol_eigv, singular values vs atol_proj, coefficient changes vs
atol_coef, p-values vs atol_ci) are all at least MARGIN away from their threshold, so that
rounding differences between the two implementations cannot flip a decision.

Algorithm (options = cw_umni_defaults with hard = 1: kappa 2, atol_eigv = atol_proj = 5e-2,
atol_ci 0.05, atol_coef 0.1):
  basis B (d x n): top-n eigenvectors of sum_e cov(x_e[:n+d]) (any orthonormal basis of col(G)
  gives the same encoders); xn = x B, dsn = ds B; R_w = mean_s (sum_m w_m dsn^m_s)(...)^T.
  step 1: candidates w in {-k..k}^n \\ 0, first non-zero > 0, gcd 1, sorted by l1 norm, ties in
  colexicographic order of the digit codes (0, 1, -1, 2, -2 -> 0..4; coordinate n-1 most
  significant); for t = 0..n-1 the first w with #sv(N_t^T U_w) > atol_proj == 1 is accepted
  (U_w: eigenvectors of R_w with eigenvalue > atol_eigv; N_t: orthonormal complement of the rows
  found), h_t = top left singular vector of U_w U_w^T N_t, W[:, t] = w.
  step 2: t = n-1..0, j = t+1..n-1 unless t -> j known; M = {i < j, i != t, not t -> i};
  (a, b), b in 1..|W_t|_1, |a| <= |W_j|_1, by increasing |a| + b, then smaller b, then
  a = |a| before -|a|; w' = a W_t + b W_j; accepted as in step 1 with N = complement of H[M]:
  h_j, W_j <- w' / gcd (first non-zero positive); none: t -> j and row j of g OR-ed into row t.
  step 3: t = 1..n-1 with ancestors an (g_s column t): u_e = -C_e[an,an]^{-1} C_e[an,t] with
  C_e = H cov(xn_e) H^T (current H, divisor count); the first environment m (ascending) with
  W_c[m-1, t] != 0 and |u_m - u_0|_2 > atol_coef gives h_t += u_m^T H[an]. Graph: edge t -> j of
  g_s kept iff the Fisher-z p-value of t _||_ j | (g_s parents of j except t) on the observational
  latent correlation (N samples) is <= atol_ci.
  Encoders: rows H B^T, unit norm, entry of largest |value| positive.
  evaluated: number of R_w eigendecompositions (step-1 results cached per candidate, step 2 not).

Fixture (little-endian): magic "CWUMNP01", then records: int32 name length, name, int32 type
(1 = float64, 2 = int64), int64 count, payload. Records: seed, n, d, count (n + 1), x<e>
(count x d, e = 0..n), ds<m> (count0 x d, m = 1..n), w_c, w (n x n, W[m, t]), g_s, g_h (n x n,
0/1), enc_c, enc_s, enc_h (n x d), evaluated, plus the truth for reading: dsig (n x n), adj.

Run: /usr/bin/python3 tests/py/make_umni_parity.py  (numpy only; ~1 s)
"""
import math
import os
import struct
import sys

import numpy as np

N_LAT, D_OBS, N_SAMP = 3, 6, 250
KAPPA, ATOL_EIGV, ATOL_PROJ, ATOL_CI, ATOL_COEF = 2, 5e-2, 5e-2, 0.05, 0.1
MARGIN = 1e-4  # relative distance of every thresholded quantity to its threshold
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "umni_parity.bin")


# ---- data -------------------------------------------------------------------------------------

def draw_case(seed):
    rng = np.random.default_rng(seed)
    n, d = N_LAT, D_OBS
    w = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            if rng.uniform() < 0.5:
                w[i, j] = rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.5)
    var = rng.uniform(0.5, 1.5, n)
    while True:
        dm = np.eye(n) + np.triu(rng.uniform(size=(n, n)) < 0.5, 1)
        if abs(np.linalg.det(dm)) > 0.5:
            break
    dsig = dm[:, rng.permutation(n)].astype(np.int64)
    g = rng.standard_normal((d, n))
    g /= np.abs(g).max(axis=0)
    targets = [np.zeros(n, bool)] + [dsig[:, m] != 0 for m in range(n)]
    zs, xs = [], []
    for e in range(n + 1):
        z = np.zeros((N_SAMP, n))
        for i in range(n):
            iv = targets[e][i]
            f = 0.0 if iv else z @ w[:, i]
            z[:, i] = f + np.sqrt(var[i] * (0.25 if iv else 1.0)) * rng.standard_normal(N_SAMP)
        zs.append(z)
        xs.append(z @ g.T)
    gp = np.linalg.pinv(g)

    def score(e, z):  # gradient of sum_i log N(z_i; f_i(z), v_i') in environment e
        s = np.zeros_like(z)
        for i in range(n):
            iv = targets[e][i]
            wi = np.zeros(n) if iv else w[:, i]
            r = -(z[:, i] - z @ wi) / (var[i] * (0.25 if iv else 1.0))
            s[:, i] += r
            s -= np.outer(r, wi)
        return s

    ds = [(score(0, zs[0]) - score(m, zs[0])) @ gp for m in range(1, n + 1)]
    adj = (w != 0).astype(np.int64)
    return xs, ds, dsig, adj


# ---- algorithm --------------------------------------------------------------------------------

class Margins:
    def __init__(self):
        self.worst = math.inf

    def check(self, values, thr):
        for v in np.atleast_1d(values):
            self.worst = min(self.worst, abs(v - thr) / thr)


def candidates(n, kappa, variant=""):
    code = {0: 0}
    for k in range(1, kappa + 1):
        code[k], code[-k] = (2 * k, 2 * k - 1) if variant == "neg_first" else (2 * k - 1, 2 * k)
    out = []
    for v in np.ndindex(*([2 * kappa + 1] * n)):
        w = [c - kappa for c in v]
        nz = [a for a in w if a]
        if not nz or nz[0] < 0 or math.gcd(*[abs(a) for a in w]) != 1:
            continue
        out.append(w)
    lex = variant == "lex"
    out.sort(key=lambda w: (sum(abs(a) for a in w), [code[a] for a in (w if lex else reversed(w))]))
    return np.array(out, dtype=np.int64)


def normalise(w, variant=""):
    g = 1 if variant == "no_gcd" else math.gcd(*[abs(int(a)) for a in w])
    first = next(a for a in w if a)
    return w // g * (1 if first > 0 or variant == "no_sign" else -1)


def complement(h, rows, n):
    if not rows:
        return np.eye(n)
    q, _ = np.linalg.qr(h[rows].T, mode="complete")
    return q[:, len(rows):]


class Umni:
    def __init__(self, xs, ds, variant=""):
        self.variant = variant
        self.n = n = len(ds)
        d = xs[0].shape[1]
        c = sum(np.cov(x[: n + d].T, bias=True) for x in xs)
        ev, evec = np.linalg.eigh(c)
        self.basis = evec[:, ::-1][:, :n]
        self.dsn = [s @ self.basis for s in ds]
        self.xn = [x @ self.basis for x in xs]
        self.evaluated = 0
        self.margins = Margins()

    def r_basis(self, w):
        a = sum(wm * s for wm, s in zip(w, self.dsn))
        r = a.T @ a / a.shape[0]
        ev, evec = np.linalg.eigh(r)
        self.evaluated += 1
        self.margins.check(ev, ATOL_EIGV)
        keep = ev > (ATOL_EIGV * ev[-1] if self.variant == "eig_rel" else ATOL_EIGV)
        return evec[:, keep][:, ::-1]

    def accept(self, u, nb):
        if u.shape[1] == 0 or nb.shape[1] == 0:
            return None
        sv = np.linalg.svd(nb.T @ u, compute_uv=False)
        self.margins.check(sv, ATOL_PROJ)
        if np.sum(sv > ATOL_PROJ) != 1:
            return None
        lu, _, _ = np.linalg.svd(u @ u.T @ nb)
        return lu[:, 0]

    def step1(self):
        n = self.n
        cand = candidates(n, KAPPA, self.variant)
        cache = {}
        h = np.zeros((n, n))
        wmat = np.zeros((n, n), dtype=np.int64)
        for t in range(n):
            nb = complement(h, list(range(t)), n)
            for k, w in enumerate(cand):
                if k not in cache:
                    cache[k] = self.r_basis(w)
                row = self.accept(cache[k], nb)
                if row is not None:
                    h[t] = row
                    wmat[:, t] = normalise(w)
                    break
            else:
                raise RuntimeError("step 1: no candidate at position %d" % t)
        return h, wmat

    def step2(self, h, wmat):
        n = self.n
        h, wmat = h.copy(), wmat.copy()
        g = np.zeros((n, n), dtype=np.int64)
        replaced = 0
        for t in range(n - 1, -1, -1):
            for j in range(t + 1, n):
                if g[t, j]:
                    continue
                rows = [i for i in range(j) if i != t and not g[t, i]]
                nb = complement(h, rows, n)
                amax, bmax = int(np.abs(wmat[:, j]).sum()), int(np.abs(wmat[:, t]).sum())
                pairs = [(a, b) for s in range(1, amax + bmax + 1) for b in range(1, min(bmax, s) + 1)
                         if s - b <= amax for a in ([0] if s == b else [s - b, b - s])]
                if self.variant == "pair_neg_first":
                    pairs = [(-a, b) for a, b in pairs]
                for a, b in pairs:
                    w2 = a * wmat[:, t] + b * wmat[:, j]
                    row = self.accept(self.r_basis(w2), nb)
                    if row is not None:
                        h[j] = row
                        w2 = normalise(w2, self.variant)
                        replaced += not np.array_equal(w2, wmat[:, j])
                        wmat[:, j] = w2
                        break
                else:
                    g[t, j] = 1
                    g[t] |= g[j]
        return h, wmat, g, replaced

    def step3(self, h, wc, gs):
        n = self.n
        h = h.copy()
        covs = [np.cov(x.T, bias=True) for x in self.xn]
        updated = 0
        for t in range(1, n):
            an = [i for i in range(n) if gs[i, t]]
            if not an:
                continue

            def coef(c):
                cz = h @ c @ h.T
                return -np.linalg.solve(cz[np.ix_(an, an)], cz[an, t])

            u0 = coef(covs[0])
            for m in range(n):
                if wc[m, t] == 0:
                    continue
                um = coef(covs[m + 1])
                dist = np.linalg.norm(um - u0)
                self.margins.check(dist, ATOL_COEF)
                if dist > ATOL_COEF:
                    h[t] += um @ h[an]
                    updated += 1
                    break
        cz = h @ covs[0] @ h.T
        sd = np.sqrt(np.diag(cz))
        corr = cz / np.outer(sd, sd)
        gh = np.zeros((n, n), dtype=np.int64)
        n0 = self.xn[0].shape[0]
        for t in range(n):
            for j in range(n):
                if not gs[t, j]:
                    continue
                s = [i for i in range(n) if gs[i, j] and i != t]
                idx = [t, j] + s
                p_inv = np.linalg.inv(corr[np.ix_(idx, idx)])
                r = -p_inv[0, 1] / math.sqrt(p_inv[0, 0] * p_inv[1, 1])
                r = min(max(r, -1 + 1e-15), 1 - 1e-15)
                pv = math.erfc(abs(math.atanh(r)) * math.sqrt(n0 - len(s) - 3) / math.sqrt(2))
                self.margins.check(pv, ATOL_CI)
                gh[t, j] = pv <= ATOL_CI
        return h, gh, updated

    def lift(self, h):
        enc = h @ self.basis.T
        enc /= np.linalg.norm(enc, axis=1, keepdims=True)
        for row in enc:
            if row[np.argmax(np.abs(row))] < 0:
                row *= -1
        return enc


def run(xs, ds, variant=""):
    u = Umni(xs, ds, variant)
    hc, wc = u.step1()
    hs, w, gs, replaced = u.step2(hc, wc)
    hh, gh, updated = u.step3(hs, wc, gs)
    return dict(enc_c=u.lift(hc), enc_s=u.lift(hs), enc_h=u.lift(hh), w_c=wc, w=w, g_s=gs, g_h=gh,
                evaluated=u.evaluated, replaced=replaced, updated=updated, margin=u.margins.worst)


# ---- fixture ----------------------------------------------------------------------------------

def write(path, records):
    with open(path, "wb") as f:
        f.write(b"CWUMNP01")
        for name, a in records:
            a = np.ascontiguousarray(a)
            typ = 1 if a.dtype.kind == "f" else 2
            a = a.astype("<f8" if typ == 1 else "<i8")
            nb = name.encode()
            f.write(struct.pack("<i", len(nb)) + nb + struct.pack("<iq", typ, a.size))
            f.write(a.tobytes())


# Deliberate defects: the chosen case must give a different W_c, W, g_s or g_h (or fail) under
# each, so that the parity test detects them: "lex" = step-1 ties in lexicographic instead of
# colexicographic order; "eig_rel" = rank of R_w relative to its largest eigenvalue instead of
# the absolute atol_eigv; "no_sign" = W columns not flipped to a positive first entry.
# Not usable: "neg_first" (digits 0, -1, 1, ...), "pair_neg_first" (step-2 a = -|a| first) and
# "no_gcd" (no division by the gcd) change no result on seeds 1..399 at n = 3 (two such
# candidates are never both acceptable), so no fixture of this size can see them;
# test_weight_order pins the digit order in C.
VARIANTS = ("lex", "eig_rel", "no_sign")


def sensitive(res, xs, ds, variant):
    try:
        alt = run(xs, ds, variant)
    except RuntimeError:
        return True
    return any(not np.array_equal(alt[k], res[k]) for k in ("w_c", "w", "g_s", "g_h"))


def main():
    for seed in range(1, 2000):
        xs, ds, dsig, adj = draw_case(seed)
        try:
            res = run(xs, ds)
        except RuntimeError:
            continue
        multi = (dsig.sum(axis=0) > 1).any()
        if not (multi and res["g_s"].any() and res["replaced"] > 0 and res["updated"] > 0
                and res["margin"] > MARGIN):
            continue
        if all(sensitive(res, xs, ds, v) for v in VARIANTS):
            break
    else:
        sys.exit("no seed in 1..1999 exercises every branch")
    n = N_LAT
    records = [("seed", np.array([seed])), ("n", np.array([n])), ("d", np.array([D_OBS])),
               ("count", np.full(n + 1, N_SAMP))]
    records += [("x%d" % e, xs[e]) for e in range(n + 1)]
    records += [("ds%d" % (m + 1), ds[m]) for m in range(n)]
    records += [(k, res[k]) for k in ("w_c", "w", "g_s", "g_h", "enc_c", "enc_s", "enc_h")]
    records += [("evaluated", np.array([res["evaluated"]])), ("dsig", dsig), ("adj", adj)]
    write(OUT, records)
    print("seed %d: dsig\n%s\nadj\n%s\nw_c\n%s\nw\n%s\ng_s\n%s\ng_h\n%s\nevaluated %d, step-2 "
          "replacements %d, step-3 updates %d, worst relative threshold margin %.3g\nwrote %s (%d "
          "bytes)" % (seed, dsig, adj, res["w_c"], res["w"], res["g_s"], res["g_h"],
                      res["evaluated"], res["replaced"], res["updated"], res["margin"],
                      os.path.normpath(OUT), os.path.getsize(OUT)))


if __name__ == "__main__":
    main()
