"""Closed-form ridge fit of a direct (linear-in-weights) surrogate model.

A direct model is affine in its weights ``theta``: ``y(x) = A(x) theta + c(x)``. The design
``A`` is the model's own Jacobian (`design_matrix`, exact for an affine model, so the fit
cannot drift from the model code) and ``c`` its output at zero weights (the ``Q * mean``
term of the charge correction). With the per-species offsets ``B`` unpenalised
(projected out, ``P = I - B B^+``) and the other weights ``w`` (columns ``A_w``)::

    min_w |P (A_w w - y)|^2 + lambda |w|^2,   lambda = alpha * mean(diag(A_w^T P A_w))

solved in the dual (rows = molecules x components, far fewer than weights):
``w = A_w^T P (P A_w A_w^T P + lambda I)^-1 P y``; one eigen-decomposition serves every
alpha. ``alpha`` is relative and dimensionless, as in `hamlearn.model.ridge`. Columns are
not standardised: scaling each feature to unit RMS amplifies features that are rare (tiny)
in training and blew up on a few QM7 test molecules (dipole errors of 10^3 D).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from hamlearn.features.spec import bucket_size
from hamlearn.surrogate.features import AtomFeatures, atom_batch
from hamlearn.surrogate.models import DirectModel


def _params(model: DirectModel):
    params, static = eqx.partition(model, eqx.is_inexact_array)
    flat, unravel = ravel_pytree(params)
    return flat, lambda v: eqx.combine(unravel(v), static)


def unpenalised_mask(model: DirectModel) -> np.ndarray:
    """``(n_weights,)`` True for the entries of the fields ``model.unpenalised``."""
    flags = jax.tree.map(lambda a: jnp.zeros_like(a, dtype=bool), model)
    names = model.unpenalised
    flags = eqx.tree_at(lambda m: [getattr(m, n) for n in names], flags,
                        [jnp.ones_like(getattr(model, n), dtype=bool) for n in names])
    return np.asarray(ravel_pytree(eqx.filter(flags, lambda a: a.dtype == bool))[0])


@eqx.filter_jit
def _design_chunk(model: DirectModel, x):
    """Per-molecule Jacobians (batch, comp, weight) at zero weights, and the outputs there."""
    flat, rebuild = _params(model)
    zero = jnp.zeros_like(flat)

    def one(xi):
        def out(v):
            return rebuild(v)(xi).ravel()

        return jax.jacrev(out)(zero), out(zero)

    return jax.vmap(one)(x)


def design_matrix(model: DirectModel, af: AtomFeatures, indices: Sequence[int], *,
                  chunk: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """``A (mol, comp, weight)`` and ``c (mol, comp)`` of the affine model on ``indices``.

    Components are the model output flattened (3 for a dipole, 9 for a polarizability).
    """
    indices = [int(i) for i in indices]
    n_pad = bucket_size(int(af.n_atoms(indices).max()))  # a few shapes: few compiles
    jacs, offs = [], []
    for k in range(0, len(indices), chunk):
        sel = indices[k:k + chunk]
        sel = sel + [sel[0]] * (chunk - len(sel))
        jac, off = _design_chunk(model, atom_batch(af, sel, n_pad))
        n = min(chunk, len(indices) - k)
        jacs.append(np.asarray(jac)[:n])
        offs.append(np.asarray(off)[:n])
    return np.concatenate(jacs), np.concatenate(offs)


class RidgeProblem:
    """The offset-projected dual ridge problem of one training set (all alphas)."""

    def __init__(self, a: np.ndarray, y: np.ndarray, free: np.ndarray):
        """``a (rows, weights)``, ``y (rows,)``, ``free (weights,)`` unpenalised flags."""
        self.free = free
        b = a[:, free]
        self.b_pinv = np.linalg.pinv(b, rcond=1e-10)
        self.b = b
        self.a_s = self._project(a[:, ~free])  # P A_w
        self.y = y
        kernel = self.a_s @ self.a_s.T
        self.lam, self.vec = np.linalg.eigh(kernel)
        self.lam = np.maximum(self.lam, 0.0)
        self.unit = max(float(np.trace(kernel)) / max(self.a_s.shape[1], 1), 1e-300)
        self.py = self.vec.T @ self._project(y)

    def _project(self, m: np.ndarray) -> np.ndarray:
        """``P m = m - B (B^+ m)`` (never forms the rows x rows projector)."""
        return m - self.b @ (self.b_pinv @ m)

    def solve(self, alpha: float) -> np.ndarray:
        """``theta (weights,)`` for relative penalty ``alpha``."""
        dual = self.vec @ (self.py / (self.lam + alpha * self.unit))
        w = self.a_s.T @ dual
        theta = np.zeros(len(self.free))
        theta[~self.free] = w
        return theta

    def finish(self, a: np.ndarray, theta: np.ndarray) -> np.ndarray:
        """Set the unpenalised offsets: least squares on the residual ``y - A_pen w``."""
        theta = theta.copy()
        theta[self.free] = self.b_pinv @ (self.y - a[:, ~self.free] @ theta[~self.free])
        return theta


def ridge_solve(a: np.ndarray, y: np.ndarray, free: np.ndarray, alpha: float) -> np.ndarray:
    """Ridge weights ``theta`` for one alpha (see module doc); ``a (rows, weights)``."""
    prob = RidgeProblem(a, y, free)
    return prob.finish(a, prob.solve(alpha))


def fit_direct(model: DirectModel, af: AtomFeatures, train: Sequence[int],
               targets: np.ndarray, alphas: Sequence[float], *,
               validation: Sequence[int] = (), val_targets: np.ndarray | None = None,
               n_folds: int = 4, seed: int = 0) -> tuple[DirectModel, dict]:
    """Ridge-fit ``model`` to ``targets`` (``(len(train), ...)`` in the model's units).

    Several ``alphas``: pick the one with the lowest RMSE on ``validation`` (when given),
    else by ``n_folds``-fold cross-validation over training molecules; then refit on
    ``train``.

    Returns:
        ``(model, info)``: the fitted model and ``{'alpha', 'rmse_by_alpha'}`` (model units).
    """
    free = unpenalised_mask(model)
    a, c = design_matrix(model, af, train)
    y = np.asarray(targets).reshape(len(train), -1) - c
    alphas = [float(v) for v in alphas]
    scores: dict[float, float] = {}
    prob = RidgeProblem(_rows(a), y.ravel(), free)
    if len(alphas) > 1 and len(validation):
        av, cv = design_matrix(model, af, validation)
        yv = np.asarray(val_targets).reshape(len(validation), -1) - cv
        for al in alphas:
            scores[al] = _rmse(_rows(av) @ prob.finish(_rows(a), prob.solve(al)) - yv.ravel())
    elif len(alphas) > 1:
        scores = _cv_scores(a, y, free, alphas, n_folds, seed)
    best = min(scores, key=scores.get) if scores else alphas[0]
    theta = prob.finish(_rows(a), prob.solve(best))
    _, rebuild = _params(model)
    return rebuild(jnp.asarray(theta)), {"alpha": best, "rmse_by_alpha": scores}


def _rows(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1, a.shape[-1])


def _rmse(e: np.ndarray) -> float:
    return float(np.sqrt(np.mean(e**2)))


def _cv_scores(a, y, free, alphas, n_folds, seed) -> dict[float, float]:
    n = len(a)
    folds = np.array_split(np.random.default_rng(seed).permutation(n), min(n_folds, n))
    errs: dict[float, list] = {al: [] for al in alphas}
    for hold in folds:
        keep = np.setdiff1d(np.arange(n), hold)
        prob = RidgeProblem(_rows(a[keep]), y[keep].ravel(), free)
        for al in alphas:
            theta = prob.finish(_rows(a[keep]), prob.solve(al))
            errs[al].append(_rows(a[hold]) @ theta - y[hold].ravel())
    return {al: _rmse(np.concatenate(e)) for al, e in errs.items()}
