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
dependence: ``F C = S C e`` is ill-conditioned), or a molecule outside the training data:
every entry of a run with an ``ood.npz`` carries ``ood_score`` (`hamlearn.training.ood`),
flagged above `OOD_THRESHOLD`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hamlearn.config import Config
from hamlearn.data.sources import read_structures
from hamlearn.data.structure import Structure
from hamlearn.data.validate import split_valid
from hamlearn.runs import load_run, runner_for
from hamlearn.training.evaluate import MIN_GAP_EV, MIN_OVERLAP_EIGENVALUE, prediction_entry
from hamlearn.training.ood import OOD_THRESHOLD, FeatureSupport, load_support, ood_warning
from hamlearn.training.references import unlabelled_reference

__all__ = ["CHUNK", "MIN_GAP_EV", "MIN_OVERLAP_EIGENVALUE", "OOD_THRESHOLD", "failed", "predict_file",
           "predict_structures", "predict_with_model", "prediction_entry",
           "unlabelled_reference"]

#: molecules per prediction chunk (integrals, features and forward pass held at once)
CHUNK = 64
def failed(name: str, reason: str) -> dict:
    """The output entry of a molecule that could not be predicted."""
    return {"name": name, "ok": False, "error": reason}


def predict_structures(run_dir: str | Path, structures: Sequence[Structure], *,
                       progress: bool = False) -> list[dict]:
    """Per-structure predictions in user units (eV, Debye, a.u.) of a run's best model,
    one entry per input structure (see `predict_with_model`)."""
    cfg, model = load_run(run_dir)
    return predict_with_model(cfg, model, structures, progress=progress,
                              support=load_support(cfg, run_dir))


def predict_with_model(cfg: Config, model, structures: Sequence[Structure], *,
                       progress: bool = False,
                       support: FeatureSupport | None = None) -> list[dict]:
    """One entry per structure, in input order: the predictions (``ok`` true, maybe
    ``warnings``) or ``ok`` false with the ``error``. With ``support`` (the run's training
    environments) each prediction gets its ``ood_score`` and a warning above
    `OOD_THRESHOLD`."""
    from tqdm.auto import tqdm

    runner = runner_for(cfg)
    bases = (cfg.model.basis,) if runner.needs_integrals else ()
    valid, rejected = split_valid(structures, bases=bases, species=cfg.features.species)
    out: list[dict | None] = [None] * len(structures)
    for r in rejected:
        out[r.index] = failed(r.name, r.reason)
    todo = [i for i in range(len(structures)) if out[i] is None]
    with tqdm(total=len(todo), desc="predict", unit="mol", disable=not progress,
              dynamic_ncols=True) as bar:
        for start in range(0, len(todo), CHUNK):
            chunk = todo[start:start + CHUNK]
            entries = runner.predict(model, cfg, [structures[i] for i in chunk])
            if support is not None:
                scores = support.score([structures[i] for i in chunk])
                entries = [_with_ood(e, float(v)) for e, v in zip(entries, scores)]
            for i, entry in zip(chunk, entries):
                out[i] = _finite_or_failed(entry)
            bar.update(len(chunk))
    return out


def _with_ood(entry: dict, score: float) -> dict:
    if not entry.get("ok"):
        return entry
    entry = {**entry, "ood_score": score if np.isfinite(score) else None}
    warning = ood_warning(score)
    if warning:
        entry["warnings"] = [*entry.get("warnings", []), warning]
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

    skipped: list = []
    structures = read_structures(path, index=index, skipped=skipped)
    cfg, model = load_run(run_dir)
    results = predict_with_model(cfg, model, structures, progress=progress,
                                 support=load_support(cfg, run_dir))
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
                               for k, v in r.items()
                               if k not in ("ok", "warnings") and v is not None})
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
