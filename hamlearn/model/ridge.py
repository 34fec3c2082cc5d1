"""Closed-form ridge fit of the model's linear weights to reference Fock matrices.

The initialisation of arXiv:2504.01187 ("direct Hamiltonian learning"): choose the weights
so that ``F_pred ~ F_ref`` in the Frobenius norm, block type by block type. Because the
block templates (`block_templates`) of one type are orthogonal across irreps, shell pairs
and M, the least-squares problem splits into one ridge regression per (type, irrep):

* target ``t[n, s, M] = <P[s, M], F_ref block n> / |P[s, M]|^2`` (projection on the template);
* on-site and different-element pairs: ``t[n, s, M] ~ W[s] . x[n, :, M]`` (+ bias on on-site
  ``0e``, fitted unregularised by centring), one Gram matrix shared by all shell pairs;
* same-element pairs: ``t[n, s] ~ (W[s] . x + sigma W[s'] . Px) / 2`` with ``s' `` the
  transpose partner of s (`swap_partner`) and ``Px`` the swapped features (`pair_swap`):
  shell pairs s, s' are solved jointly.

``alpha`` is relative (dimensionless): the penalty is ``alpha * mean(diag(normal matrix))
* |W|^2`` per (type, irrep), which shrinks rarely active features hardest and generalises
best across QM7 (measured: `benchmarks/fit_fock_ridge.py`); ``standardize=True`` instead
penalises every feature relative to its own scale. Gates
(if any) are ignored: the fit is exact for a linear model (gates initialised to zero).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import numpy as np
import scipy.linalg

from hamlearn.features.featurize import FeatureSet
from hamlearn.features.pairs import pair_swap
from hamlearn.model.batch import entry_index
from hamlearn.model.blocks import block_templates, swap_partner
from hamlearn.model.hamiltonian import HamiltonianModel


def _solve(normal: np.ndarray, rhs: np.ndarray, alpha: float,
           standardize: bool = False) -> np.ndarray:
    """Ridge solution on standardised features.

    With ``d = sqrt(diag N)`` (features scaled to unit norm; floored at 1e-3 of the rms
    scale so that features (almost) absent from the data get no huge weight), solves
    ``(N / d d^T + alpha I) v = rhs / d`` and returns ``v / d``: every feature is penalised
    relative to its own scale, so one ``alpha`` serves features of very different sizes.
    """
    diag = np.clip(np.diag(normal), 0.0, None)
    if standardize:
        # floor: a feature (almost) never active in the data must not get a huge weight
        d = np.maximum(np.sqrt(diag), 1e-3 * np.sqrt(max(diag.mean(), 1e-300)))
    else:  # one penalty alpha * mean(diag N) for all features
        d = np.full(len(diag), np.sqrt(max(diag.mean(), 1e-300)))
    a = normal / np.outer(d, d) + alpha * np.eye(len(normal))
    b = rhs / (d[:, None] if rhs.ndim == 2 else d)
    try:
        v = scipy.linalg.cho_solve(scipy.linalg.cho_factor(a), b)
    except np.linalg.LinAlgError:  # not numerically positive definite: eigen-decomposition
        lam, vec = np.linalg.eigh(a)
        lam = np.where(lam > 1e-14 * lam.max(), lam, np.inf)
        v = vec @ ((vec.T @ b) / (lam[:, None] if b.ndim == 2 else lam))
    return v / (d[:, None] if rhs.ndim == 2 else d)


def _flat(x: np.ndarray) -> np.ndarray:
    """``(n, f, M) -> (n*M, f)``."""
    return np.ascontiguousarray(np.swapaxes(x, 1, 2)).reshape(-1, x.shape[1])


def _targets(ref: np.ndarray, templ: np.ndarray) -> np.ndarray:
    """Projections ``(n, s, M)`` of reference blocks ``(n, da, db)`` on templates."""
    norm = np.einsum("smpq,smpq->sm", templ, templ)
    return np.einsum("npq,smpq->nsm", ref, templ) / norm


def _fit_plain(x: np.ndarray, t: np.ndarray, alpha: float, bias: bool, std: bool):
    """One Gram matrix for all shell pairs: returns ``(W (s, f), b (s,) or None)``."""
    xf = _flat(x)  # (n*M, f)
    tf = np.swapaxes(t, 1, 2).reshape(-1, t.shape[1])  # (n*M, s)
    b = None
    if bias:
        xm, tm = xf.mean(0), tf.mean(0)
        xf, tf = xf - xm, tf - tm
    w = _solve(xf.T @ xf, xf.T @ tf, alpha, std).T
    if bias:
        b = tm - w @ xm
    return w, b


def _fit_swapped(x: np.ndarray, px: np.ndarray, t: np.ndarray, partner, sign, alpha: float,
                 std: bool):
    """Same-element pairs: coefficient ``(W[s] x + sign W[partner] Px) / 2``."""
    xf, pf = _flat(x), _flat(px)
    gxx, gpp, gxp = xf.T @ xf, pf.T @ pf, xf.T @ pf
    n_sp, nf = t.shape[1], x.shape[1]
    w = np.zeros((n_sp, nf))
    for s in range(n_sp):
        p, sg = int(partner[s]), float(sign[s])
        ts = np.swapaxes(t, 1, 2).reshape(-1, n_sp)
        if p == s:  # t = W_s . (x + sg Px) / 2
            z = 0.5 * (xf + sg * pf)
            w[s] = _solve(z.T @ z, z.T @ ts[:, s], alpha, std)
        elif s < p:  # joint unknowns [W_s, W_p]
            cross = sg * (gxp + gxp.T)
            normal = 0.25 * np.block([[gxx + gpp, cross], [cross, gxx + gpp]])
            rhs = 0.5 * np.concatenate([xf.T @ ts[:, s] + sg * pf.T @ ts[:, p],
                                        sg * pf.T @ ts[:, s] + xf.T @ ts[:, p]])
            sol = _solve(normal, rhs, alpha, std)
            w[s], w[p] = sol[:nf], sol[nf:]
    return w


def ridge_fit(model: HamiltonianModel, feature_set: FeatureSet, focks: Sequence[np.ndarray],
              alpha: float = 1e-4, *, indices: Sequence[int] | None = None,
              standardize: bool = False) -> HamiltonianModel:
    """Fit all linear weights and on-site biases so that the model's F matches ``focks``.

    Args:
        model: a `HamiltonianModel` built on ``feature_set.spec``.
        feature_set: features of the molecules (`featurize`).
        focks: reference F per fitted molecule, ``(nao_k, nao_k)`` Hartree, pyscf AO order;
            ``focks[k]`` belongs to molecule ``indices[k]``.
        alpha: relative ridge penalty (see module doc).
        indices: molecules of ``feature_set`` to fit on (default: all, in order).
        standardize: penalise each feature relative to its own scale (`_solve`); False:
            one penalty ``alpha * mean(diag(normal matrix))`` for all features, which
            shrinks rarely active features harder.

    Returns:
        the model with new ``weights`` and ``biases`` (types absent from the data keep theirs).
    """
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
            x, t = tf.features[ir][idx], _targets(ref, templ)
            if kind == "pair" and elems[0] == elems[1]:
                perm, fsign = pair_swap(model.spec.cfg, ir)
                partner, sign = swap_partner(basis, elems, ir)
                w = _fit_swapped(x, x[:, perm, :] * fsign[None, :, None], t, partner, sign, alpha,
                                 standardize)
            else:
                w, b = _fit_plain(x, t, alpha, kind == "onsite" and ir == "0e", standardize)
                if b is not None:
                    biases[key] = np.asarray(b)
            weights[key][ir] = np.asarray(w)
    import jax.numpy as jnp

    to_jnp = lambda d: {k: jnp.asarray(v) for k, v in d.items()}  # noqa: E731
    weights = {k: to_jnp(v) for k, v in weights.items()}
    return eqx.tree_at(lambda m: (m.weights, m.biases), model, (weights, to_jnp(biases)))
