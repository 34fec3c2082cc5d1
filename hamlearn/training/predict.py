"""Predictions for new molecules without any reference calculation.

Only the model-basis integrals (S, dipole integrals; no SCF) are computed with pyscf;
features, model and QM layer do the rest. Outputs are written in user units with the
unit in each key.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hamlearn.data.record import Reference
from hamlearn.data.reference import model_basis_data
from hamlearn.data.sources import read_structures
from hamlearn.data.structure import Structure
from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV


def unlabelled_reference(structure: Structure, basis: str) -> Reference:
    """A `Reference` with model-basis integrals only (labels empty), for prediction."""
    return Reference(structure=structure, method="none",
                     model=model_basis_data(structure, basis), labels={})


def predict_structures(run_dir: str | Path, structures: list[Structure]) -> list[dict]:
    """Per-structure predictions in user units (eV, Debye, a.u.)."""
    from hamlearn.training.batches import Batcher, prepare
    from hamlearn.training.evaluate import predict_indices
    from hamlearn.training.run import load_run

    cfg, model = load_run(run_dir)
    if cfg.model.kind != "hamiltonian":  # a direct surrogate: no integrals needed
        from hamlearn.surrogate.run import predict_direct

        return predict_direct(model, cfg, structures)
    refs = [unlabelled_reference(s, cfg.model.basis) for s in structures]
    data = prepare(refs, cfg)
    batcher = Batcher(data, cfg, min(len(refs), 32), with_targets=False)
    preds = predict_indices(model, data, batcher, range(len(refs)))
    return [{
        "name": s.label,
        "gap_ev": float(p["gap"]) * HARTREE_TO_EV,
        "homo_ev": float(p["homo"]) * HARTREE_TO_EV,
        "lumo_ev": float(p["lumo"]) * HARTREE_TO_EV,
        "dipole_debye": (np.asarray(p["dipole"]) * AU_TO_DEBYE).tolist(),
        "polarizability_au": np.asarray(p["polarizability"]).tolist(),
        "mo_energies_ev": (np.asarray(p["mo_energy"]) * HARTREE_TO_EV).tolist(),
        "n_occupied": int(np.sum(np.asarray(p["mo_occ"]) > 0)),
    } for s, p in zip(structures, preds)]


def predict_file(run_dir: str | Path, path: str | Path, prefix: str | Path, *,
                 index: str = ":") -> int:
    """Predict every structure of ``path``; write ``prefix.extxyz`` and ``prefix.json``."""
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"structure file {path} does not exist")
    structures = read_structures(path, index=index)
    results = predict_structures(run_dir, structures)
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for s, r in zip(structures, results):
        atoms = s.to_atoms()
        atoms.info.update({k: (np.asarray(v) if isinstance(v, list) else v)
                           for k, v in r.items()})
        frames.append(atoms)
    ase.io.write(f"{prefix}.extxyz", frames, format="extxyz")
    Path(f"{prefix}.json").write_text(json.dumps(results, indent=1))
    return len(results)
