"""The published QM7 / ethane reference data (atomistic-cookbook) as `Reference`s.

The shared folder (``qm7.xyz``, ``qm7_reference.npz``, ``ethane200.xyz``,
``ethane200_reference.npz``; its README explains the keys) holds B3LYP data: the
converged STO-3G Fock and overlap, and in STO-3G and def2-TZVP all MO energies, the
dipole and the *uncoupled* polarizability. This module turns it into the same contract
as `hamlearn.data.reference.compute_reference`: model basis 'sto-3g' (Fock and overlap
from the file, dipole integrals computed with pyscf about the nuclear charge centre),
labels for 'sto-3g' and 'def2-tzvp' (no e_tot, no coupled polarizability), nocc from the
electron count.

Example:
    >>> refs = load_cookbook("../shared/data/qm7-cookbook", "qm7", index=":3")  # doctest: +SKIP
    >>> refs[0].target("def2-tzvp").gap                                          # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hamlearn.data.record import Labels, ModelBasisData, Reference
from hamlearn.data.reference import model_basis_data
from hamlearn.data.sources import COOKBOOK_SETS, SourceError, select_frames, read_structures
from hamlearn.data.structure import Structure

MODEL_BASIS = "sto-3g"
#: basis name -> npz key infix
BASES = {"sto-3g": "sto3g", "def2-tzvp": "def2tzvp"}
METHOD = "b3lyp"


def _blocks(flat: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Split a flat array of row-major ``n x n`` blocks."""
    ends = np.cumsum(sizes**2)
    return [b.reshape(n, n) for b, n in zip(np.split(flat, ends[:-1]), sizes)]


def _model_data(structure: Structure, fock: np.ndarray, ovlp: np.ndarray) -> ModelBasisData:
    return model_basis_data(structure, MODEL_BASIS, fock=fock, ovlp=ovlp)


def _labels(npz, k: int, nocc: int) -> dict[str, Labels]:
    out = {}
    for basis, tag in BASES.items():
        offsets = npz[f"eva_{tag}_offsets"]
        out[basis] = Labels(basis=basis, mo_energy=npz[f"eva_{tag}_flat"][offsets[k]:offsets[k + 1]],
                            nocc=nocc, dipole=npz[f"dipole_{tag}"][k],
                            polarizability_uncoupled=npz[f"polarizability_{tag}"][k])
    return out


def load_cookbook(directory: str | Path, which: str = "qm7", index: str = ":") -> list[Reference]:
    """The cookbook molecules ``which`` ('qm7' or 'ethane200') selected by ``index``.

    Args:
        directory: folder with ``<which>.xyz`` and ``<which>_reference.npz``.
        which: 'qm7' (150 molecules) or 'ethane200' (200 ethane geometries).
        index: ase-style selection (``':'``, ``':20'``, ``'5'``) in file order.

    Returns:
        References named ``which[i]`` (i the position in the file), method 'b3lyp'.
    """
    if which not in COOKBOOK_SETS:
        raise SourceError(f"cookbook set must be one of {', '.join(COOKBOOK_SETS)}; got {which!r}")
    directory = Path(directory)
    structures = read_structures(directory / f"{which}.xyz", name=which)
    npz_path = directory / f"{which}_reference.npz"
    with np.load(npz_path) as f:
        npz = {k: f[k] for k in f.files}
    if len(npz["nao_sto3g"]) != len(structures):
        raise SourceError(f"{npz_path}: {len(npz['nao_sto3g'])} molecules, "
                          f"{which}.xyz has {len(structures)}")
    focks = _blocks(npz["fock_sto3g_flat"], npz["nao_sto3g"])
    ovlps = _blocks(npz["overlap_sto3g_flat"], npz["nao_sto3g"])
    refs = []
    for k in select_frames(list(range(len(structures))), index, f"{which} (index {index!r})"):
        s = structures[k]
        meta = {"source": "atomistic-cookbook examples/hamiltonian-qm7 (183b6f9c)",
                "file": str(directory / f"{which}.xyz"), "index": k}
        refs.append(Reference(structure=s, method=METHOD, model=_model_data(s, focks[k], ovlps[k]),
                              labels=_labels(npz, k, s.n_electrons // 2), meta=meta))
    return refs


#: Agreement required between the pipeline and the cookbook data (issue #2).
TOLERANCES = {"mo_energy": 1e-5, "dipole": 1e-4, "polarizability_rel": 1e-3, "fock": 1e-5}


def compare_references(ours: Reference, theirs: Reference, basis: str) -> dict[str, float]:
    """Largest deviations in ``basis``: MO energies, dipole (abs, a.u.), uncoupled
    polarizability (relative to its largest element) and, in the model basis, the Fock."""
    a, b = ours.target(basis), theirs.target(basis)
    if a.mo_energy.shape != b.mo_energy.shape:
        raise ValueError(f"{ours.structure.label}: {len(a.mo_energy)} vs {len(b.mo_energy)} MOs "
                         f"in {basis}")
    alpha_a, alpha_b = a.polarizability("uncoupled"), b.polarizability("uncoupled")
    out = {"mo_energy": float(np.abs(a.mo_energy - b.mo_energy).max()),
           "dipole": float(np.abs(a.dipole - b.dipole).max()),
           "polarizability_rel": float(np.abs(alpha_a - alpha_b).max() / np.abs(alpha_b).max())}
    if basis == ours.model.basis == theirs.model.basis:
        out["fock"] = float(np.abs(ours.model.fock - theirs.model.fock).max())
    return out
