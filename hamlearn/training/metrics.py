"""Errors of predictions against references, in user units (eV, Debye, a.u., %).

Host-side numpy. A prediction is a dict with ``mo_energy`` (the model's MO energies,
Hartree, ascending, unpadded), ``gap`` (Hartree), ``dipole`` (e Bohr) and
``polarizability`` (Bohr^3). Names carry units: ``mae_eigenvalues_ev``,
``mae_dipole_debye``, ``mae_polarizability_au``, ``mae_polarizability_pct``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hamlearn.config import LossConfig
from hamlearn.data.record import Reference
from hamlearn.training.split import n_heavy_atoms
from hamlearn.training.targets import TARGETS, Context

#: error keys in display order (``<target>_<unit>``, the names of `molecule_errors`)
TARGET_KEYS = ("eigenvalues_ev", "gap_ev", "homo_ev", "lumo_ev", "dipole_debye",
               "dipole_norm_debye", "polarizability_au", "polarizability_pct",
               "polarizability_iso_au", "polarizability_aniso_au", "r2_au", "excitations_ev",
               "spectrum_per_ev")
_TARGET_NAMES = {"eigenvalues": "MO energies", "gap": "gap", "dipole": "dipole",
                 "polarizability": "polarizability", "homo": "HOMO", "lumo": "LUMO",
                 "dipole_norm": "dipole magnitude", "polarizability_iso": "alpha_iso",
                 "polarizability_aniso": "alpha anisotropy", "r2": "<R^2>",
                 "excitations": "excitation energies", "spectrum": "broadened spectrum"}
_UNITS = {"ev": "eV", "debye": "D", "au": "a.u.", "pct": "%", "per_ev": "1/eV"}


def molecule_errors(pred: dict, ref: Reference, loss: LossConfig, target_basis: str,
                    polarizability_kind: str | None = None) -> dict[str, np.ndarray]:
    """Signed error arrays of one molecule in user units: every target reported 'always'
    and those trained on (`hamlearn.training.targets.TARGETS`), where the molecule has the
    label (eigenvalues in the loss window).

    ``polarizability_kind`` overrides ``loss.polarizability_kind``.
    """
    if polarizability_kind is not None and polarizability_kind != loss.polarizability_kind:
        loss = dataclasses.replace(loss, polarizability_kind=polarizability_kind)
    ctx = Context(loss, target_basis)
    out: dict[str, np.ndarray] = {}
    for t in TARGETS:
        if t.reported == "always" or getattr(loss, t.name):
            out.update(t.errors(pred, ref, ctx))
    return out


def ordered_targets(targets) -> list[str]:
    """Target names (``eigenvalues_ev``...) in `TARGET_KEYS` order, others after, sorted."""
    targets = set(targets)
    return [k for k in TARGET_KEYS if k in targets] + sorted(targets - set(TARGET_KEYS))


def target_label(key: str) -> str:
    """Display name with unit: ``'eigenvalues_ev'`` or ``'mae_eigenvalues_ev'`` ->
    ``'MO energies (eV)'``; unknown keys keep their name."""
    key = key.removeprefix("mae_").removeprefix("rmse_")
    stem, _, suffix = key.rpartition("_")
    if key.endswith("_per_ev"):
        stem, suffix = key.removesuffix("_per_ev"), "per_ev"
    if suffix not in _UNITS:
        return key
    return f"{_TARGET_NAMES.get(stem, stem.replace('_', ' '))} ({_UNITS[suffix]})"


def summarize(errors: list[dict[str, np.ndarray]]) -> dict[str, float]:
    """MAE and RMSE per target over the molecules that have it (each component counts
    once); ``n_<target>`` counts them where not every molecule has the target."""
    out: dict[str, float] = {}
    keys = list(dict.fromkeys(k for e in errors for k in e))
    for key in keys:
        have = [e[key] for e in errors if key in e]
        vals = np.concatenate(have)
        out[f"mae_{key}"] = float(np.mean(np.abs(vals)))
        out[f"rmse_{key}"] = float(np.sqrt(np.mean(vals**2)))
        if len(have) != len(errors):
            out[f"n_{key}"] = len(have)
    out["n_molecules"] = len(errors)
    return out


def by_size(errors: list[dict], refs: list[Reference]) -> dict[int, dict[str, float]]:
    """`summarize` grouped by the number of heavy atoms (transferability at a glance)."""
    groups: dict[int, list] = {}
    for e, r in zip(errors, refs):
        groups.setdefault(n_heavy_atoms(r.structure), []).append(e)
    return {k: summarize(v) for k, v in sorted(groups.items())}


def format_table(metrics: dict[str, float], grouped: dict[int, dict] | None = None) -> str:
    """A plain-text table of MAE/RMSE per target (and MAE per heavy-atom count)."""
    keys = sorted({k[4:] for k in metrics if k.startswith("mae_")})
    lines = [f"{'target':<24}{'MAE':>12}{'RMSE':>12}"]
    for k in keys:
        lines.append(f"{k:<24}{metrics['mae_' + k]:>12.4g}{metrics['rmse_' + k]:>12.4g}")
    if grouped:
        lines.append("")
        lines.append("MAE by heavy-atom count: " + "  ".join(keys))
        for n, m in grouped.items():
            vals = "  ".join(f"{m.get('mae_' + k, float('nan')):.4g}" for k in keys)
            lines.append(f"  {n:>2} heavy ({m['n_molecules']:>3} mol): {vals}")
    return "\n".join(lines)
