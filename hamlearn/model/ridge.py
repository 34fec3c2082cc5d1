"""Closed-form ridge fit of the model's linear weights to reference Fock matrices.

The initialisation of arXiv:2504.01187 ("direct Hamiltonian learning"): choose the weights
so that ``F_pred ~ F_ref`` in the Frobenius norm, block type by block type. Because the
block templates (`block_templates`) of one type are orthogonal across irreps, shell pairs
and M, the least-squares problem splits into one ridge regression per (type, irrep):

* target ``t[n, s, M] = <P[s, M], F_ref block n> / |P[s, M]|^2`` (projection on the template);
* on-site and different-element pairs: ``t[n, s, M] ~ W[s] . x[n, :, M]`` (+ an unpenalised
  bias on on-site ``0e``), one design matrix shared by all shell pairs;
* same-element pairs: ``t[n, s] ~ (W[s] . x + sigma W[s'] . Px) / 2`` with ``s'`` the
  transpose partner of s (`swap_partner`) and ``Px`` the swapped features (`pair_swap`):
  shell pairs s, s' are solved jointly.

``alpha`` is relative (dimensionless): the penalty is ``alpha * mean(diag(A^T A)) |W|^2``
per problem. Given several alphas, each (type, irrep) problem picks its own by K-fold
cross-validation over molecules (one eigen-decomposition per fold serves all alphas; the
best alpha differs between, e.g., the H on-site energy and the C-C p-p blocks), then
refits on all molecules. Gates (if any) are ignored: the
fit is exact for a linear model (gates initialised to zero).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import numpy as np
import scipy.linalg

from hamlearn.arrays import to_device
from hamlearn.features.featurize import FeatureSet
from hamlearn.features.pairs import pair_swap
from hamlearn.model.batch import entry_index
from hamlearn.model.blocks import block_templates, swap_partner
from hamlearn.model.hamiltonian import HamiltonianModel


#: feature rows (entries) read and accumulated at a time: memory does not grow with the data
CHUNK_ENTRIES = 4096


class _Gram:
    """Sufficient statistics of a ridge problem ``a w + c ~ y`` per CV fold, accumulated
    row chunk by row chunk: row counts, row sums of ``a`` and ``y``, ``a^T a``, ``a^T y``
    and ``sum y^2``. Every fit and validation error below is exact algebra on them, so
    the dense design matrix is never formed. With ``center`` the rows are shifted by the
    first chunk's means before accumulating (centring by subtracting ``n mean mean^T``
    from raw sums would cancel digits when the features have a large mean)."""

    def __init__(self, nf: int, nq: int, n_folds: int, center: bool):
        self.center = center
        self.shift_a = self.shift_y = None
        self.n = np.zeros(n_folds)
        self.sa, self.sy = np.zeros((n_folds, nf)), np.zeros((n_folds, nq))
        self.g, self.b = np.zeros((n_folds, nf, nf)), np.zeros((n_folds, nf, nq))
        self.yy = np.zeros(n_folds)

    def add(self, a: np.ndarray, y: np.ndarray, fold: np.ndarray) -> None:
        if self.shift_a is None:
            self.shift_a = a.mean(0) if self.center else np.zeros(a.shape[1])
            self.shift_y = y.mean(0) if self.center else np.zeros(y.shape[1])
        a, y = a - self.shift_a, y - self.shift_y
        for k in np.unique(fold):
            m = fold == k
            ak, yk = a[m], y[m]
            self.n[k] += len(ak)
            self.sa[k] += ak.sum(0)
            self.sy[k] += yk.sum(0)
            self.g[k] += ak.T @ ak
            self.b[k] += ak.T @ yk
            self.yy[k] += np.sum(yk * yk)

    def _centred(self, mask: np.ndarray):
        """``(mean a, mean y, centred a^T a, centred a^T y)`` of the (shifted) rows of the
        folds ``mask``; no centring without ``center``."""
        n, sa, sy = self.n[mask].sum(), self.sa[mask].sum(0), self.sy[mask].sum(0)
        g, b = self.g[mask].sum(0), self.b[mask].sum(0)
        if not self.center:
            return np.zeros(len(sa)), np.zeros(len(sy)), g, b
        am, ym = sa / n, sy / n
        return am, ym, g - n * np.outer(am, am), b - n * np.outer(am, ym)

    def _intercept(self, am, ym, w):
        """The intercept of the unshifted problem."""
        return ym + self.shift_y - (am + self.shift_a) @ w if self.center else ym - am @ w

    def path(self, mask: np.ndarray, alphas):
        """Ridge solutions ``(w, c)`` on the folds ``mask`` for every alpha (one
        eigen-decomposition): ``w = argmin |a_c w - y_c|^2 + alpha mean(diag(a_c^T a_c))
        |w|^2`` with ``a_c, y_c`` centred when ``center`` (the intercept unpenalised)."""
        am, ym, gc, bc = self._centred(mask)
        lam, vec = np.linalg.eigh(gc)
        proj = vec.T @ bc
        scale = max(float(lam.sum()) / len(lam), 1e-300)
        for al in alphas:
            w = vec @ (proj / np.maximum(lam + al * scale, 1e-300)[:, None])
            yield w, self._intercept(am, ym, w)

    def one(self, alpha: float):
        """All folds, one alpha: Cholesky (cheaper than the eigen-decomposition)."""
        mask = np.ones(len(self.n), bool)
        am, ym, gc, bc = self._centred(mask)
        scale = max(float(np.trace(gc)) / len(gc), 1e-300)
        try:
            chol = scipy.linalg.cho_factor(gc + alpha * scale * np.eye(len(gc)))
            w = scipy.linalg.cho_solve(chol, bc)
        except np.linalg.LinAlgError:
            return next(self.path(mask, [alpha]))
        return w, self._intercept(am, ym, w)

    def error(self, k: int, w: np.ndarray, c: np.ndarray) -> float:
        """``sum |a w + c - y|^2`` over the rows of fold ``k``."""
        c = c + self.shift_a @ w - self.shift_y  # the same residuals on the shifted rows
        return float(np.einsum("fq,fg,gq->", w, self.g[k], w) + 2 * (self.sa[k] @ w) @ c
                     - 2 * np.einsum("fq,fq->", w, self.b[k]) + self.n[k] * (c @ c)
                     - 2 * c @ self.sy[k] + self.yy[k])


def _folds(mol: np.ndarray, alphas, folds: int) -> tuple[np.ndarray, int]:
    """Fold of every entry (by molecule, seeded) and the fold count (1: no CV)."""
    uniq = np.unique(mol)
    if len(alphas) < 2 or len(uniq) < folds:
        return np.zeros(len(mol), np.int64), 1
    perm = np.random.default_rng(0).permutation(uniq)
    fold_of = np.empty(int(uniq.max()) + 1, np.int64)
    fold_of[perm] = np.arange(len(perm)) % folds
    return fold_of[mol], folds


def _solve(gram: _Gram, alphas) -> tuple[np.ndarray, np.ndarray, float]:
    """Alpha by K-fold CV over the folds of ``gram`` (if more than one), then the fit on all."""
    best = alphas[0]
    n_folds = len(gram.n)
    if n_folds > 1:
        err = np.zeros(len(alphas))
        for k in range(n_folds):
            train = np.arange(n_folds) != k
            for j, (w, c) in enumerate(gram.path(train, alphas)):
                err[j] += gram.error(k, w, c)
        best = alphas[int(np.argmin(err))]
    return (*gram.one(best), best)


def _flat(x: np.ndarray) -> np.ndarray:
    """``(n, f, M) -> (n*M, f)``."""
    return np.ascontiguousarray(np.swapaxes(x, 1, 2)).reshape(-1, x.shape[1])


def _targets(ref: np.ndarray, templ: np.ndarray) -> np.ndarray:
    """Projections ``(n*M, s)`` of reference blocks ``(n, da, db)`` on templates (row n*M+m)."""
    norm = np.einsum("smpq,smpq->sm", templ, templ)
    t = np.einsum("npq,smpq->nsm", ref, templ) / norm
    return np.swapaxes(t, 1, 2).reshape(-1, t.shape[1])


def _chunks(features, idx, ref, templ, fold, transform=None):
    """``(x (n*M, f), Px or None, t (n*M, s), fold (n*M,))`` for ``CHUNK_ENTRIES``
    entries at a time (features read from memory or a store, as float64)."""
    n_m = templ.shape[1]
    for lo in range(0, len(idx), CHUNK_ENTRIES):
        sl = slice(lo, lo + CHUNK_ENTRIES)
        x = np.asarray(features[idx[sl]], np.float64)
        px = None if transform is None else _flat(transform(x))
        yield _flat(x), px, _targets(ref[sl], templ), np.repeat(fold[sl], n_m)


def _fit_plain(features, idx, ref, templ, mol, alphas, bias: bool, folds: int):
    """Shared design for all shell pairs: ``(W (s, f), b (s,) or None, alpha)``."""
    fold, n_folds = _folds(mol, alphas, folds)
    gram = _Gram(features.shape[1], templ.shape[0], n_folds, bias)
    for x, _, t, fr in _chunks(features, idx, ref, templ, fold):
        gram.add(x, t, fr)
    w, c, best = _solve(gram, alphas)
    return w.T, (c if bias else None), best


def _fit_swapped(features, idx, ref, templ, mol, perm, fsign, partner, sign, alphas,
                 folds: int):
    """Same-element pairs: coefficient ``(W[s] x + sign W[partner] Px) / 2`` per orbit."""
    fold, n_folds = _folds(mol, alphas, folds)
    n_sp, nf = templ.shape[0], features.shape[1]
    orbits = [s for s in range(n_sp) if int(partner[s]) >= s]
    grams = {s: _Gram(nf if int(partner[s]) == s else 2 * nf, 1, n_folds, False)
             for s in orbits}
    swap = lambda x: x[:, perm, :] * fsign[None, :, None]  # noqa: E731
    for xf, pf, t, fr in _chunks(features, idx, ref, templ, fold, swap):
        for s in orbits:
            p, sg = int(partner[s]), float(sign[s])
            if p == s:  # t = W_s . (x + sg Px) / 2
                grams[s].add(0.5 * (xf + sg * pf), t[:, s:s + 1], fr)
            else:  # joint unknowns [W_s, W_p]; rows of s then rows of p
                a = 0.5 * np.block([[xf, sg * pf], [sg * pf, xf]])
                grams[s].add(a, np.concatenate([t[:, s], t[:, p]])[:, None],
                             np.concatenate([fr, fr]))
    w, chosen = np.zeros((n_sp, nf)), []
    for s in orbits:
        sol, _, best = _solve(grams[s], alphas)
        p = int(partner[s])
        if p == s:
            w[s] = sol[:, 0]
        else:
            w[s], w[p] = sol[:nf, 0], sol[nf:, 0]
        chosen.append(best)
    return w, max(chosen) if chosen else None


def ridge_fit(model: HamiltonianModel, feature_set: FeatureSet, focks: Sequence[np.ndarray],
              alpha: float | Sequence[float] = 1e-3, *,
              indices: Sequence[int] | None = None,
              folds: int = 4, report: dict | None = None) -> HamiltonianModel:
    """Fit all linear weights and on-site biases so that the model's F matches ``focks``.

    Args:
        model: a `HamiltonianModel` built on ``feature_set.spec``.
        feature_set: features of the molecules (`featurize`).
        focks: reference F per fitted molecule, ``(nao_k, nao_k)`` Hartree, pyscf AO order;
            ``focks[k]`` belongs to molecule ``indices[k]``.
        alpha: relative ridge penalty, or several: then chosen per (type, irrep) by
            ``folds``-fold cross-validation over molecules (see module doc).
        indices: molecules of ``feature_set`` to fit on (default: all, in order).
        report: if a dict, filled with ``{(type, irrep): chosen alpha}``.

    Returns:
        the model with new ``weights`` and ``biases`` (types absent from the data keep theirs).

    Example:
        ``model = ridge_fit(model, fs, focks, alpha=[1e-8, 1e-6, 1e-4, 1e-2])``
    """
    alphas = [float(alpha)] if np.isscalar(alpha) else [float(a) for a in alpha]
    indices = list(range(feature_set.n_molecules)) if indices is None else list(indices)
    if len(focks) != len(indices):
        raise ValueError(f"{len(focks)} Fock matrices for {len(indices)} molecules")
    where = {m: k for k, m in enumerate(indices)}
    weights = {k: dict(v) for k, v in model.weights.items()}
    biases = dict(model.biases)
    basis = model.spec.basis
    for key, (kind, elems, dims) in model.spec.types().items():
        tf = feature_set.types[key]
        idx = entry_index(feature_set, key, indices)
        if len(idx) == 0:
            continue
        ref = np.stack([np.asarray(focks[where[m]])[np.ix_(r, c)]
                        for m, r, c in zip(tf.mol[idx], tf.rows[idx], tf.cols[idx])])
        for ir in dims:
            templ = block_templates(basis, kind, elems, ir)
            if templ.shape[0] == 0:
                continue
            feats, mol = tf.features[ir], tf.mol[idx]
            if kind == "pair" and elems[0] == elems[1]:
                perm, fsign = pair_swap(model.spec.cfg, ir)
                partner, sign = swap_partner(basis, elems, ir)
                w, best = _fit_swapped(feats, idx, ref, templ, mol, perm, fsign, partner,
                                       sign, alphas, folds)
            else:
                w, b, best = _fit_plain(feats, idx, ref, templ, mol, alphas,
                                        kind == "onsite" and ir == "0e", folds)
                if b is not None:
                    biases[key] = to_device(b)
            weights[key][ir] = to_device(w)
            if report is not None:
                report[(key, ir)] = best
    return eqx.tree_at(lambda m: (m.weights, m.biases), model, (weights, biases))
