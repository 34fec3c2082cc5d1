"""The shipped full-spectrum label set: QM9 molecules at QM9's own level, computed by pyscf.

QM9 publishes frontier levels and rotation invariants only. This set adds, for a few
hundred QM9 molecules with <= 7 heavy atoms, what the paper-style model trains on: every
MO energy, the dipole vector and the uncoupled and coupled (CPKS) polarizability tensors
(in the coordinates' frame), at B3LYP/6-31G(2df,p) computed with hamlearn's own reference
pipeline (`configs/qm9_full_spectrum.yaml`: spherical d/f, density fitting, grid level 1).
One compressed npz (`PATH`), labels and QM9 indices only (no matrices), with the QM9
table rows of the same molecules (geometries, QM9's published labels), so it needs
neither the qm9 extra nor any SCF in the target basis.

Used as ``data.sources: [{qm9: {full_spectrum: true, ...}}]`` with ``data.labels:
published``: the labels are filed under basis ``6-31g(2df,p)`` with source `SOURCE`
(never mixed with QM9's own labels in one run). Regenerate with::

    python scripts/generate_data.py --config configs/qm9_full_spectrum.yaml
    python scripts/export_labels.py --config configs/qm9_full_spectrum.yaml

Example:
    >>> labels = full_spectrum_labels()
    >>> water = labels[3]                       # QM9 index 3: H2O
    >>> len(water.mo_energy), water.nocc
    (36, 5)
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hamlearn.data.record import Labels, Reference
from hamlearn.data.sources import SourceError

DIRECTORY = Path(__file__).resolve().parent / "published" / "qm9-631g2dfp"
PATH = DIRECTORY / "qm9_631g2dfp.npz"
BASIS = "6-31g(2df,p)"
SOURCE = "hamlearn qm9-631g2dfp (pyscf B3LYP/6-31G(2df,p))"
#: keys of our labels in the npz; every other array is a QM9 table column
_OURS = ("fs_nmo", "fs_nocc", "fs_mo_energy", "fs_dipole", "fs_polarizability_uncoupled",
         "fs_polarizability_coupled", "fs_e_tot", "fs_meta")


@functools.lru_cache(maxsize=4)
def _arrays(path: str) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"the full-spectrum label set {p} is missing (broken install?); "
                          "regenerate it with scripts/export_labels.py")
    with np.load(p) as f:
        return {k: f[k] for k in f.files}


def table_arrays(path: str | Path = PATH) -> dict[str, np.ndarray]:
    """The QM9 table columns of the set's molecules (the layout of `hamlearn.data.qm9.QM9`)."""
    return {k: v for k, v in _arrays(str(path)).items() if k not in _OURS}


def meta(path: str | Path = PATH) -> dict:
    """How the labels were made: method, basis, settings, pyscf version, config."""
    return json.loads(str(_arrays(str(path))["fs_meta"]))


def full_spectrum_labels(path: str | Path = PATH) -> dict[int, Labels]:
    """QM9 index -> `Labels` in `BASIS` with source `SOURCE` (atomic units)."""
    a = _arrays(str(path))
    offsets = np.concatenate([[0], np.cumsum(a["fs_nmo"])])
    out = {}
    for k, index in enumerate(a["index"]):
        out[int(index)] = Labels(
            basis=BASIS, mo_energy=a["fs_mo_energy"][offsets[k]:offsets[k + 1]],
            nocc=int(a["fs_nocc"][k]), dipole=a["fs_dipole"][k],
            polarizability_uncoupled=a["fs_polarizability_uncoupled"][k],
            polarizability_coupled=a["fs_polarizability_coupled"][k],
            e_tot=float(a["fs_e_tot"][k]), source=SOURCE)
    return out


def attach_full_spectrum(refs: list[Reference], path: str | Path = PATH) -> list[Reference]:
    """``refs`` (model-basis references of the set's molecules) with the set's labels under
    `BASIS`; a molecule the set does not have is an error naming it."""
    from hamlearn.data.qm9 import index_of

    labels = full_spectrum_labels(path)
    out = []
    for r in refs:
        lab = labels.get(index_of(r.structure))
        if lab is None:
            raise SourceError(f"{r.structure.label}: not in the full-spectrum label set {path}")
        if lab.nocc != r.nocc:
            raise SourceError(f"{r.structure.label}: the label set has {lab.nocc} occupied "
                              f"MOs, the structure {r.nocc}")
        out.append(dataclasses.replace(r, labels={**r.labels, BASIS: lab},
                                       meta={**r.meta, "labels_source": SOURCE}))
    return out


def write_label_set(table: dict[str, np.ndarray], refs: Sequence[Reference], path: str | Path,
                    info: dict) -> dict:
    """Write the set: ``table`` (QM9 table columns of the same molecules, in the same order
    as ``refs``) and the `BASIS` labels of ``refs``; ``info`` goes into the metadata.
    Returns a summary (molecules, bytes)."""
    from hamlearn.data.qm9 import index_of

    if [index_of(r.structure) for r in refs] != [int(i) for i in table["index"]]:
        raise ValueError("write_label_set: the table rows and the references differ")
    labs = [r.target(BASIS) for r in refs]
    missing = [r.structure.label for r, lab in zip(refs, labs)
               if lab.polarizability_coupled is None or lab.polarizability_uncoupled is None]
    if missing:
        raise ValueError(f"write_label_set: no coupled/uncoupled polarizability for {missing[:5]}")
    ours = {
        "fs_nmo": np.array([len(lab.mo_energy) for lab in labs], np.int32),
        "fs_nocc": np.array([lab.nocc for lab in labs], np.int32),
        "fs_mo_energy": np.concatenate([lab.mo_energy for lab in labs]),
        "fs_dipole": np.stack([lab.dipole for lab in labs]),
        "fs_polarizability_uncoupled": np.stack([lab.polarizability_uncoupled for lab in labs]),
        "fs_polarizability_coupled": np.stack([lab.polarizability_coupled for lab in labs]),
        "fs_e_tot": np.array([lab.e_tot for lab in labs], np.float64),
        "fs_meta": np.array(json.dumps({"source": SOURCE, "basis": BASIS, **info},
                                       sort_keys=True)),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **table, **ours)
    tmp.replace(path)
    _arrays.cache_clear()
    return {"molecules": len(refs), "bytes": path.stat().st_size}
