"""Out-of-distribution score: how far a molecule's atomic environments lie from the
training set's, in the model's own invariant feature space.

A model for users must say when it is outside its data instead of returning numbers
(issue: the QM7 model gave oximes gaps near zero without a warning). Each atom is
described by its on-site invariant features (the ``0e`` density correlations of
``features``, nu = ``nu_onsite``: what the on-site and, through them, the pair blocks are
linear in). Per element, `FeatureSupport.fit` keeps

* the mean and the top `N_COMPONENTS` principal axes of the training atoms' features,
* the coordinates of at most `MAX_POINTS` training atoms chosen by farthest-point
  sampling in ``(principal coordinates, norm of the residual)`` (the residual norm makes
  an environment outside the principal subspace count),
* ``radius``: the largest distance of any training atom to the *other* kept atoms.

An atom's score is its distance to the nearest kept atom divided by ``radius``; a
molecule's is the maximum over its atoms. A score above `OOD_THRESHOLD` (1) means an atom
is farther from the training environments than any training atom is: the prediction is
an extrapolation and is flagged. An element the model has no training atom of, or only
one environment of (no spread to measure), scores infinity (0 for that one environment). Fitted once per run from its training split (`fit_run`, written to
``<run>/ood.npz``), scored at prediction and evaluation.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hamlearn.config import Config, FeaturesConfig
from hamlearn.data.structure import Structure

log = logging.getLogger("hamlearn.training")

OOD_FILE = "ood.npz"
#: a molecule scoring above this is flagged (an atom farther out than any training atom)
OOD_THRESHOLD = 1.0
#: principal axes kept per element
N_COMPONENTS = 32
#: training atoms kept per element (farthest-point sampling)
MAX_POINTS = 1500
#: training atoms per element used to find the principal axes (a seeded sample)
MAX_PCA_ATOMS = 5000


@dataclasses.dataclass(frozen=True)
class ElementSupport:
    """The training environments of one element (see the module doc)."""

    mean: np.ndarray  # (f,)
    axes: np.ndarray  # (k, f) orthonormal rows
    points: np.ndarray  # (m, k + 1) kept training atoms: principal coordinates, residual norm
    radius: float
    n_train_atoms: int

    def coordinates(self, x: np.ndarray) -> np.ndarray:
        """``(n, f)`` features -> ``(n, k + 1)`` principal coordinates and residual norm."""
        xc = x - self.mean
        z = xc @ self.axes.T
        res = np.sqrt(np.maximum(np.sum(xc**2, 1) - np.sum(z**2, 1), 0.0))
        return np.concatenate([z, res[:, None]], axis=1)

    def distances(self, x: np.ndarray) -> np.ndarray:
        """Distance of each row of ``x`` (features) to the nearest kept training atom."""
        return _nearest(self.coordinates(x), self.points)


def _nearest(q: np.ndarray, points: np.ndarray, chunk: int = 2048) -> np.ndarray:
    out = np.empty(len(q))
    p2 = np.sum(points**2, 1)
    for s in range(0, len(q), chunk):
        b = q[s:s + chunk]
        d2 = np.sum(b**2, 1)[:, None] + p2[None, :] - 2.0 * b @ points.T
        out[s:s + chunk] = np.sqrt(np.maximum(d2.min(1), 0.0))
    return out


def farthest_points(x: np.ndarray, m: int, seed: int = 0) -> np.ndarray:
    """Indices of ``m`` rows of ``x`` by farthest-point sampling (seeded first pick)."""
    n = len(x)
    if m >= n:
        return np.arange(n)
    first = int(np.random.default_rng(seed).integers(n))
    chosen = [first]
    d = np.sum((x - x[first]) ** 2, 1)
    for _ in range(m - 1):
        k = int(np.argmax(d))
        chosen.append(k)
        d = np.minimum(d, np.sum((x - x[k]) ** 2, 1))
    return np.asarray(chosen)


def _fit_element(x: np.ndarray, seed: int) -> ElementSupport:
    rng = np.random.default_rng(seed)
    mean = x.mean(0)
    sample = x if len(x) <= MAX_PCA_ATOMS else x[rng.choice(len(x), MAX_PCA_ATOMS, False)]
    _, sv, vt = np.linalg.svd(sample - mean, full_matrices=False)
    keep = sv > sv[0] * 1e-8 if len(sv) and sv[0] > 0 else np.zeros(len(sv), bool)
    axes = vt[:N_COMPONENTS][keep[:N_COMPONENTS]]
    sup = ElementSupport(mean, axes, np.zeros((0, len(axes) + 1)), 0.0, len(x))
    c = sup.coordinates(x)
    kept = farthest_points(c, MAX_POINTS, seed)
    points = c[kept]
    # every training atom's distance to the other kept atoms (itself left out)
    slot = np.full(len(c), -1)
    slot[kept] = np.arange(len(kept))
    p2, worst = np.sum(points**2, 1), 0.0
    for s in range(0, len(c), 2048):
        b = c[s:s + 2048]
        d2 = np.sum(b**2, 1)[:, None] + p2[None, :] - 2.0 * b @ points.T
        own = slot[s:s + 2048]
        rows = np.nonzero(own >= 0)[0]
        d2[rows, own[rows]] = np.inf
        worst = max(worst, float(d2.min(1).max()))
    radius = float(np.sqrt(max(worst, 0.0))) if len(points) > 1 else 0.0
    return dataclasses.replace(sup, points=points, radius=radius)


@dataclasses.dataclass(frozen=True)
class FeatureSupport:
    """Per-element training environments of a run; `score` molecules against them."""

    features: FeaturesConfig
    elements: dict[int, ElementSupport]

    @classmethod
    def fit(cls, structures: Sequence[Structure], features: FeaturesConfig, *,
            seed: int = 0) -> FeatureSupport:
        """From the atoms of ``structures`` (the training molecules)."""
        z, x = atom_invariants(structures, features)
        return cls(features, {int(e): _fit_element(x[z == e], seed) for e in np.unique(z)})

    def atom_scores(self, structures: Sequence[Structure]) -> list[np.ndarray]:
        """Per molecule, each atom's distance to the training atoms over the radius (inf
        for an element without training atoms)."""
        z, x = atom_invariants(structures, self.features)
        s = np.full(len(z), np.inf)
        for e, sup in self.elements.items():
            sel = z == e
            if not sel.any():
                continue
            d = sup.distances(x[sel])
            if sup.radius > 0:
                s[sel] = d / sup.radius
            else:  # one training environment: no spread to compare with; only itself fits
                s[sel] = np.where(d <= 1e-6 * max(np.linalg.norm(sup.mean), 1e-300), 0.0, np.inf)
        offsets = np.concatenate([[0], np.cumsum([st.n_atoms for st in structures])])
        return [s[a:b] for a, b in itertools.pairwise(offsets)]

    def score(self, structures: Sequence[Structure]) -> np.ndarray:
        """One score per molecule: the maximum of its atoms' (`atom_scores`)."""
        return np.array([a.max() if len(a) else 0.0 for a in self.atom_scores(structures)])

    def save(self, path: str | Path) -> None:
        arrays = {"elements": np.array(sorted(self.elements))}
        for e, sup in self.elements.items():
            arrays.update({f"{e}_mean": sup.mean, f"{e}_axes": sup.axes,
                           f"{e}_points": sup.points, f"{e}_radius": np.array(sup.radius),
                           f"{e}_n": np.array(sup.n_train_atoms)})
        tmp = Path(path).with_suffix(".tmp.npz")
        np.savez_compressed(tmp, **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path, features: FeaturesConfig) -> FeatureSupport:
        with np.load(path) as f:
            elements = {int(e): ElementSupport(f[f"{e}_mean"], f[f"{e}_axes"], f[f"{e}_points"],
                                               float(f[f"{e}_radius"]), int(f[f"{e}_n"]))
                        for e in f["elements"]}
        return cls(features, elements)


def atom_invariants(structures: Sequence[Structure],
                    features: FeaturesConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(atomic numbers (n_atoms,), on-site 0e features (n_atoms, f))`` of all atoms."""
    from hamlearn.surrogate.features import atom_features

    structures = list(structures)
    if not structures:
        return np.zeros(0, int), np.zeros((0, 0))
    af = atom_features(structures, features, ("0e",))
    z = np.concatenate([np.asarray(s.numbers) for s in structures])
    return z, af.features["0e"][:, :, 0]


def fit_run(cfg: Config, workdir: str | Path, train_structures: Sequence[Structure]) -> Path:
    """Fit the run's support on its training molecules and write ``<workdir>/ood.npz``
    (kept when present: a resumed run's training split is the same)."""
    path = Path(workdir) / OOD_FILE
    if not path.is_file() and len(train_structures):
        FeatureSupport.fit(train_structures, cfg.features, seed=cfg.train.seed).save(path)
    return path


def load_support(cfg: Config, workdir: str | Path) -> FeatureSupport | None:
    """The run's `FeatureSupport`, None for a run trained before it was written."""
    path = Path(workdir) / OOD_FILE
    return FeatureSupport.load(path, cfg.features) if path.is_file() else None


def ood_warning(score: float) -> str | None:
    """The prediction warning of a molecule's score (None within the training data)."""
    if not score > OOD_THRESHOLD:
        return None
    how = ("an element without training atoms, or with a single training environment"
           if not np.isfinite(score)
           else f"an atom {score:.2g} x farther from the training environments than any "
                "training atom")
    return (f"out of the training data (ood_score {score:.3g} > {OOD_THRESHOLD:g}: {how}); "
            "the prediction is an extrapolation")


def ood_summary(scores: np.ndarray, errors: list[dict], names: Sequence[str]) -> dict:
    """How the score relates to the errors of evaluated molecules: how many are flagged,
    the MAE of each target over flagged and unflagged molecules, and the rank correlation
    of score and per-molecule MAE (``errors``: `molecule_errors` dicts, user units)."""
    scores = np.asarray(scores, float)
    finite = scores[np.isfinite(scores)]  # an unseen element's score is infinite
    flagged = scores > OOD_THRESHOLD
    out: dict = {"threshold": OOD_THRESHOLD, "n_molecules": len(scores),
                 "n_flagged": int(flagged.sum()),
                 "n_infinite": int(np.isinf(scores).sum()),
                 "score_percentiles": {str(q): float(np.percentile(finite, q))
                                       for q in (50, 90, 100)} if len(finite) else {},
                 "flagged": [{"name": n, "ood_score": float(s) if np.isfinite(s) else None}
                             for n, s in zip(names, scores) if s > OOD_THRESHOLD],
                 "targets": {}}
    keys = sorted({k for e in errors for k in e})
    for k in keys:
        mae = np.array([np.mean(np.abs(e[k])) if k in e else np.nan for e in errors])
        ok = np.isfinite(mae)
        row = {"mae_unflagged": float(np.mean(mae[ok & ~flagged])) if (ok & ~flagged).any()
               else None,
               "mae_flagged": float(np.mean(mae[ok & flagged])) if (ok & flagged).any() else None}
        if ok.sum() > 2 and np.ptp(scores[ok]) > 0:  # ranks: infinite scores rank last
            from scipy.stats import spearmanr

            row["spearman_score_vs_mae"] = float(spearmanr(np.where(np.isinf(scores[ok]), 1e300,
                                                                    scores[ok]), mae[ok]).statistic)
        out["targets"][k] = row
    return out


def format_ood(summary: dict) -> str:
    """Markdown of `ood_summary`."""
    lines = [f"Out-of-distribution score (max over atoms of the distance to the training "
             f"environments / the training set's own largest gap): {summary['n_flagged']} of "
             f"{summary['n_molecules']} molecules above {summary['threshold']:g}; percentiles "
             + ", ".join(f"{q}: {v:.2f}" for q, v in summary["score_percentiles"].items()), "",
             "| target | MAE unflagged | MAE flagged | Spearman(score, MAE) |", "|---|---|---|---|"]
    for k, r in summary["targets"].items():
        cells = [f"{r[c]:.3g}" if r.get(c) is not None else "-"
                 for c in ("mae_unflagged", "mae_flagged", "spearman_score_vs_mae")]
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
