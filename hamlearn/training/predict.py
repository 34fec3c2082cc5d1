"""Predictions for new molecules without any reference calculation.

Only the model-basis integrals (S, dipole integrals; no SCF) are computed with pyscf;
features, model and QM layer do the rest. Every structure first goes through
`hamlearn.data.validate.validate_structure` (the check every entry point shares); a
molecule that fails it, a frame that cannot be read, or a prediction that is not finite
becomes an entry ``{"name", "ok": false, "error"}`` instead of numbers, and the rest go
on. Predictions are made in chunks of `CHUNK` molecules, so memory does not grow with
the input. Outputs are in user units with the unit in each key, and flagged (``warnings``)
when the numbers should not be trusted: a predicted gap below `MIN_GAP_EV` (unphysical
for a closed-shell molecule, and it makes the polarizability blow up) or a model-basis
overlap whose smallest eigenvalue is below `MIN_OVERLAP_EIGENVALUE` (near-linear
dependence: ``F C = S C e`` is ill-conditioned).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hamlearn.config import Config
from hamlearn.data.record import Reference
from hamlearn.data.reference import model_basis_data
from hamlearn.data.sources import read_structures
from hamlearn.data.structure import Structure
from hamlearn.data.validate import split_valid
from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV

#: molecules per prediction chunk (integrals, features and forward pass held at once)
CHUNK = 64
#: a predicted HOMO-LUMO gap below this (eV) is flagged
MIN_GAP_EV = 1.0
#: a model-basis overlap eigenvalue below this is flagged (STO-3G molecules: ~0.05-0.3)
MIN_OVERLAP_EIGENVALUE = 1e-4


def unlabelled_reference(structure: Structure, basis: str) -> Reference:
    """A `Reference` with model-basis integrals only (labels empty), for prediction."""
    return Reference(structure=structure, method="none",
                     model=model_basis_data(structure, basis), labels={})


def failed(name: str, reason: str) -> dict:
    """The output entry of a molecule that could not be predicted."""
    return {"name": name, "ok": False, "error": reason}


def predict_structures(run_dir: str | Path, structures: Sequence[Structure], *,
                       progress: bool = False) -> list[dict]:
    """Per-structure predictions in user units (eV, Debye, a.u.) of a run's best model,
    one entry per input structure (see `predict_with_model`)."""
    from hamlearn.training.run import load_run

    cfg, model = load_run(run_dir)
    return predict_with_model(cfg, model, structures, progress=progress)


def predict_with_model(cfg: Config, model, structures: Sequence[Structure], *,
                       progress: bool = False) -> list[dict]:
    """One entry per structure, in input order: the predictions (``ok`` true, maybe
    ``warnings``) or ``ok`` false with the ``error``."""
    from tqdm.auto import tqdm

    bases = (cfg.model.basis,) if cfg.model.kind == "hamiltonian" else ()
    valid, rejected = split_valid(structures, bases=bases, species=cfg.features.species)
    out: list[dict | None] = [None] * len(structures)
    for r in rejected:
        out[r.index] = failed(r.name, r.reason)
    todo = [i for i in range(len(structures)) if out[i] is None]
    with tqdm(total=len(todo), desc="predict", unit="mol", disable=not progress,
              dynamic_ncols=True) as bar:
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            for i, entry in zip(chunk, _predict_chunk(cfg, model,
                                                      [structures[i] for i in chunk])):
                out[i] = entry
            bar.update(len(chunk))
    return out


def _predict_chunk(cfg: Config, model, structures: list[Structure]) -> list[dict]:
    if cfg.model.kind != "hamiltonian":  # a direct surrogate: no integrals needed
        from hamlearn.surrogate.run import predict_direct

        return [_finite_or_failed({"ok": True, **p}) for p in predict_direct(model, cfg,
                                                                            structures)]
    from hamlearn.training.batches import Batcher, prepare
    from hamlearn.training.evaluate import predict_indices

    refs = [unlabelled_reference(s, cfg.model.basis) for s in structures]
    data = prepare(refs, cfg)
    batcher = Batcher(data, cfg, len(refs), with_targets=False)
    preds = predict_indices(model, data, batcher, range(len(refs)))
    return [_finite_or_failed(_entry(s, r, p)) for s, r, p in zip(structures, refs, preds)]


def _entry(structure: Structure, ref: Reference, p: dict) -> dict:
    gap_ev = float(p["gap"]) * HARTREE_TO_EV
    entry = {
        "name": structure.label,
        "ok": True,
        "gap_ev": gap_ev,
        "homo_ev": float(p["homo"]) * HARTREE_TO_EV,
        "lumo_ev": float(p["lumo"]) * HARTREE_TO_EV,
        "dipole_debye": (np.asarray(p["dipole"]) * AU_TO_DEBYE).tolist(),
        "polarizability_au": np.asarray(p["polarizability"]).tolist(),
        "mo_energies_ev": (np.asarray(p["mo_energy"]) * HARTREE_TO_EV).tolist(),
        "n_occupied": int(np.sum(np.asarray(p["mo_occ"]) > 0)),
    }
    warnings = []
    if gap_ev < MIN_GAP_EV:
        warnings.append(f"predicted HOMO-LUMO gap {gap_ev:.3g} eV is below {MIN_GAP_EV} eV: "
                        "unphysical for a closed-shell molecule (outside the model's data?); "
                        "the polarizability is unreliable")
    s_min = float(np.linalg.eigvalsh(ref.model.ovlp)[0])
    entry["overlap_min_eigenvalue"] = s_min
    if s_min < MIN_OVERLAP_EIGENVALUE:
        warnings.append(f"model-basis overlap nearly singular (smallest eigenvalue "
                        f"{s_min:.2g}): near-linear dependence, F C = S C e is ill-conditioned")
    if warnings:
        entry["warnings"] = warnings
    return entry


def _finite_or_failed(entry: dict) -> dict:
    """The entry, or a failure if any predicted number is NaN or infinite."""
    bad = [k for k, v in entry.items() if k not in ("name", "ok", "warnings")
           and isinstance(v, (int, float, list)) and not _all_finite(v)]
    if bad:
        return failed(entry["name"], f"{entry['name']}: the model predicted non-finite "
                                     f"{', '.join(bad)}")
    return entry


def _all_finite(value) -> bool:
    if isinstance(value, list):
        return all(_all_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


def predict_file(run_dir: str | Path, path: str | Path, prefix: str | Path, *,
                 index: str = ":", progress: bool = False) -> list[dict]:
    """Predict every frame of ``path``; write ``prefix.extxyz`` (the predicted molecules,
    properties in ``info``) and ``prefix.json`` (strict JSON: one entry per frame, failed
    and unreadable ones with their reason). Returns the entries."""
    import ase.io

    from hamlearn.training.run import load_run

    skipped: list = []
    structures = read_structures(path, index=index, skipped=skipped)
    cfg, model = load_run(run_dir)
    results = predict_with_model(cfg, model, structures, progress=progress)
    stem = Path(path).stem
    entries = sorted([(int(s.label.rsplit("[", 1)[1][:-1]), r)
                      for s, r in zip(structures, results)]
                     + [(f.frame, failed(f"{stem}[{f.frame}]", str(f))) for f in skipped],
                     key=lambda x: x[0])
    results = [r for _, r in entries]
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for s, r in zip(structures, results_by_name(results, structures)):
        if r.get("ok"):
            atoms = s.to_atoms()
            atoms.info.update({k: (np.asarray(v) if isinstance(v, list) else v)
                               for k, v in r.items() if k not in ("ok", "warnings")})
            if r.get("warnings"):
                atoms.info["warnings"] = " | ".join(r["warnings"])
            frames.append(atoms)
    if frames:
        ase.io.write(f"{prefix}.extxyz", frames, format="extxyz")
    Path(f"{prefix}.json").write_text(json.dumps(results, indent=1, allow_nan=False))
    return results


def results_by_name(results: list[dict], structures: Sequence[Structure]) -> list[dict]:
    """The entries of ``structures`` (by name) out of ``results``."""
    by_name = {r["name"]: r for r in results}
    return [by_name[s.label] for s in structures]
