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
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from hamlearn.arrays import to_device
from hamlearn.features.featurize import FeatureSet
from hamlearn.features.pairs import pair_swap
from hamlearn.model.batch import entry_index
from hamlearn.model.blocks import block_templates, swap_partner
from hamlearn.model.hamiltonian import HamiltonianModel


def _center(a: np.ndarray, y: np.ndarray, center: bool):
    """Means of ``a`` and ``y`` rows (zeros when not centring)."""
    if not center:
        return np.zeros(a.shape[1]), np.zeros(y.shape[1])
    return a.mean(0), y.mean(0)


def _ridge_path(a: np.ndarray, y: np.ndarray, alphas: Sequence[float], center: bool):
    """Ridge solutions ``(w, intercept)`` for every alpha from one eigen-decomposition.

    ``w = argmin |a_c w - y_c|^2 + alpha mean(diag(a_c^T a_c)) |w|^2`` with ``a_c, y_c``
    centred when ``center`` (the intercept is then unpenalised).
    """
    am, ym = _center(a, y, center)
    ac, yc = a - am, y - ym
    lam, vec = np.linalg.eigh(ac.T @ ac)
    proj = vec.T @ (ac.T @ yc)
    scale = max(float(lam.sum()) / len(lam), 1e-300)
    for al in alphas:
        w = vec @ (proj / np.maximum(lam + al * scale, 1e-300)[:, None])
        yield w, ym - am @ w


def _ridge(a: np.ndarray, y: np.ndarray, groups: np.ndarray, alphas: Sequence[float],
           center: bool, folds: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Ridge ``a w + c ~ y`` (``y`` (rows, k)); alpha chosen by K-fold CV over ``groups``."""
    alphas = list(alphas)
    best = alphas[0]
    uniq = np.unique(groups)
    if len(alphas) > 1 and len(uniq) >= folds:
        fold_of = {g: k % folds for k, g in enumerate(np.random.default_rng(0).permutation(uniq))}
        fold = np.array([fold_of[g] for g in groups])
        err = np.zeros(len(alphas))
        for k in range(folds):
            tr, va = fold != k, fold == k
            for j, (w, c) in enumerate(_ridge_path(a[tr], y[tr], alphas, center)):
                err[j] += np.sum((a[va] @ w + c - y[va]) ** 2)
        best = alphas[int(np.argmin(err))]
    return (*_ridge_one(a, y, best, center), best)


def _ridge_one(a: np.ndarray, y: np.ndarray, alpha: float, center: bool):
    """One alpha: Cholesky (cheaper than the eigen-decomposition); eigen path as fallback."""
    am, ym = _center(a, y, center)
    ac, yc = a - am, y - ym
    gram = ac.T @ ac
    scale = max(float(np.trace(gram)) / len(gram), 1e-300)
    try:
        chol = scipy.linalg.cho_factor(gram + alpha * scale * np.eye(len(gram)))
        w = scipy.linalg.cho_solve(chol, ac.T @ yc)
    except np.linalg.LinAlgError:
        return next(_ridge_path(a, y, [alpha], center))
    return w, ym - am @ w


def _flat(x: np.ndarray) -> np.ndarray:
    """``(n, f, M) -> (n*M, f)``."""
    return np.ascontiguousarray(np.swapaxes(x, 1, 2)).reshape(-1, x.shape[1])


def _targets(ref: np.ndarray, templ: np.ndarray) -> np.ndarray:
    """Projections ``(n*M, s)`` of reference blocks ``(n, da, db)`` on templates (row n*M+m)."""
    norm = np.einsum("smpq,smpq->sm", templ, templ)
    t = np.einsum("npq,smpq->nsm", ref, templ) / norm
    return np.swapaxes(t, 1, 2).reshape(-1, t.shape[1])


def _fit_plain(x, t, mol, alphas, bias: bool, folds: int):
    """Shared design for all shell pairs: ``(W (s, f), b (s,) or None, alpha)``."""
    w, c, best = _ridge(_flat(x), t, np.repeat(mol, x.shape[2]), alphas, bias, folds)
    return w.T, (c if bias else None), best


def _fit_swapped(x, px, t, mol, partner, sign, alphas, folds: int):
    """Same-element pairs: coefficient ``(W[s] x + sign W[partner] Px) / 2`` per orbit."""
    xf, pf = _flat(x), _flat(px)
    groups = np.repeat(mol, x.shape[2])
    n_sp, nf = t.shape[1], x.shape[1]
    w, chosen = np.zeros((n_sp, nf)), []
    for s in range(n_sp):
        p, sg = int(partner[s]), float(sign[s])
        if p == s:  # t = W_s . (x + sg Px) / 2
            sol, _, best = _ridge(0.5 * (xf + sg * pf), t[:, s:s + 1], groups, alphas, False,
                                  folds)
            w[s] = sol[:, 0]
        elif s < p:  # joint unknowns [W_s, W_p]; rows of s then rows of p
            a = 0.5 * np.block([[xf, sg * pf], [sg * pf, xf]])
            y = np.concatenate([t[:, s], t[:, p]])[:, None]
            sol, _, best = _ridge(a, y, np.concatenate([groups, groups]), alphas, False, folds)
            w[s], w[p] = sol[:nf, 0], sol[nf:, 0]
        else:
            continue
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
            x = np.asarray(tf.features[ir][idx], np.float64)  # a float32 store too
            t, mol = _targets(ref, templ), tf.mol[idx]
            if kind == "pair" and elems[0] == elems[1]:
                perm, fsign = pair_swap(model.spec.cfg, ir)
                partner, sign = swap_partner(basis, elems, ir)
                w, best = _fit_swapped(x, x[:, perm, :] * fsign[None, :, None], t, mol, partner,
                                       sign, alphas, folds)
            else:
                w, b, best = _fit_plain(x, t, mol, alphas, kind == "onsite" and ir == "0e", folds)
                if b is not None:
                    biases[key] = to_device(b)
            weights[key][ir] = to_device(w)
            if report is not None:
                report[(key, ir)] = best
    return eqx.tree_at(lambda m: (m.weights, m.biases), model, (weights, biases))
