"""The published QM7 / ethane reference data (atomistic-cookbook) as `Reference`s.

Two layouts of the same B3LYP data are read (README of `PUBLISHED_DIR` explains the keys):
the full one (``<set>.xyz`` + ``<set>_reference.npz``: converged STO-3G Fock and overlap,
and in STO-3G and def2-TZVP all MO energies, the dipole and the *uncoupled*
polarizability), and the compact copy shipped in the package (``<set>_compact.npz``: the
same labels; Fock and overlap as upper triangles, the overlap only where pyscf's
``int1e_ovlp`` of the xyz geometry misses it by more than 1e-14: qm7's is recomputed
(2e-16 off), ethane200's xyz has too few digits for that (8e-7 off) so its overlap is
stored). This module turns it into the same contract as
`hamlearn.data.reference.compute_reference`: model basis 'sto-3g' (Fock and overlap as
published, dipole integrals computed with pyscf about the nuclear charge centre), labels
for 'sto-3g' and 'def2-tzvp' (no e_tot, no coupled polarizability), nocc
from the electron count.

Example:
    >>> refs = load_cookbook(None, "qm7", index=":3")   # the shipped copy
    >>> round(float(refs[0].target("def2-tzvp").gap), 4)
    0.4425
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hamlearn.data.record import Labels, ModelBasisData, Reference
from hamlearn.data.reference import model_basis_data
from hamlearn.data.sources import COOKBOOK_SETS, SourceError, select_frames, read_structures
from hamlearn.data.structure import Structure

#: The copy shipped with the package (BSD-3-Clause, LICENSE and README beside the files);
#: what `hamlearn.config.DataConfig.cookbook_dir` None (the default) means.
PUBLISHED_DIR = Path(__file__).resolve().parent / "published" / "qm7-cookbook"
MODEL_BASIS = "sto-3g"
#: basis name -> npz key infix
BASES = {"sto-3g": "sto3g", "def2-tzvp": "def2tzvp"}
METHOD = "b3lyp"
SOURCE = "atomistic-cookbook examples/hamiltonian-qm7 (183b6f9c)"


def _blocks(flat: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Split a flat array of row-major ``n x n`` blocks."""
    ends = np.cumsum(sizes**2)
    return [b.reshape(n, n) for b, n in zip(np.split(flat, ends[:-1]), sizes)]


def _from_triu(flat: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Symmetric ``n x n`` blocks from concatenated row-major upper triangles."""
    ends = np.cumsum(sizes * (sizes + 1) // 2)
    out = []
    for tri, n in zip(np.split(flat, ends[:-1]), sizes):
        m = np.zeros((n, n))
        m[np.triu_indices(n)] = tri
        out.append(m + np.triu(m, 1).T)
    return out


def _overlap(structure: Structure) -> np.ndarray:
    return model_basis_data(structure, MODEL_BASIS).ovlp


def _model_data(structure: Structure, fock: np.ndarray, ovlp: np.ndarray | None
                ) -> ModelBasisData:
    return model_basis_data(structure, MODEL_BASIS, fock=fock, ovlp=ovlp)


def _labels(npz, k: int, nocc: int) -> dict[str, Labels]:
    out = {}
    for basis, tag in BASES.items():
        offsets = npz[f"eva_{tag}_offsets"]
        out[basis] = Labels(basis=basis,
                            mo_energy=npz[f"eva_{tag}_flat"][offsets[k]:offsets[k + 1]],
                            nocc=nocc, dipole=npz[f"dipole_{tag}"][k],
                            polarizability_uncoupled=npz[f"polarizability_{tag}"][k])
    return out


def _read(directory: Path, which: str):
    """Structures, npz arrays, Fock blocks and overlap blocks (None: to be recomputed)."""
    if which not in COOKBOOK_SETS:
        raise SourceError(f"cookbook set must be one of {', '.join(COOKBOOK_SETS)}; got {which!r}")
    structures = read_structures(directory / f"{which}.xyz", name=which)
    full, compact = directory / f"{which}_reference.npz", directory / f"{which}_compact.npz"
    npz_path = full if full.is_file() or not compact.is_file() else compact
    if not npz_path.is_file():
        raise SourceError(f"{directory}: neither {full.name} nor {compact.name} found")
    with np.load(npz_path) as f:
        npz = {k: f[k] for k in f.files}
    nao = npz["nao_sto3g"]
    if len(nao) != len(structures):
        raise SourceError(f"{npz_path}: {len(nao)} molecules, {which}.xyz has {len(structures)}")
    if npz_path == full:
        return structures, npz, _blocks(npz["fock_sto3g_flat"], nao), _blocks(
            npz["overlap_sto3g_flat"], nao)
    ovlps = (_from_triu(npz["overlap_sto3g_triu"], nao) if "overlap_sto3g_triu" in npz
             else None)
    return structures, npz, _from_triu(npz["fock_sto3g_triu"], nao), ovlps


def reference_arrays(directory: str | Path, which: str = "qm7") -> dict[str, np.ndarray]:
    """The arrays of ``<which>_reference.npz`` (the full layout) from either layout;
    overlaps missing from a compact copy are recomputed with pyscf."""
    structures, npz, focks, ovlps = _read(Path(directory), which)
    if ovlps is None:
        ovlps = [_overlap(s) for s in structures]
    out = {k: v for k, v in npz.items() if not k.endswith("_triu")}
    out["fock_sto3g_flat"] = np.concatenate([f.ravel() for f in focks])
    out["overlap_sto3g_flat"] = np.concatenate([s.ravel() for s in ovlps])
    return out


def compact_arrays(full: dict[str, np.ndarray], keep_overlap: bool) -> dict[str, np.ndarray]:
    """The compact layout of `reference_arrays`' output: Fock (and, if ``keep_overlap``,
    overlap) as concatenated row-major upper triangles.

    Raises:
        ValueError: if a block is not exactly symmetric (its triangle would lose data).
    """
    out = {k: v for k, v in full.items() if k not in ("fock_sto3g_flat", "overlap_sto3g_flat")}
    for name in ("fock", "overlap") if keep_overlap else ("fock",):
        blocks = _blocks(full[f"{name}_sto3g_flat"], full["nao_sto3g"])
        if any(not np.array_equal(b, b.T) for b in blocks):
            raise ValueError(f"a {name} block is not exactly symmetric")
        out[f"{name}_sto3g_triu"] = np.concatenate([b[np.triu_indices(len(b))] for b in blocks])
    return out


def load_cookbook(directory: str | Path | None = None, which: str = "qm7",
                  index: str = ":") -> list[Reference]:
    """The cookbook molecules ``which`` ('qm7' or 'ethane200') selected by ``index``.

    Args:
        directory: folder with ``<which>.xyz`` and ``<which>_reference.npz`` (or the compact
            ``<which>_compact.npz``); None: the copy shipped in the package (`PUBLISHED_DIR`).
        which: 'qm7' (150 molecules) or 'ethane200' (200 ethane geometries).
        index: ase-style selection (``':'``, ``':20'``, ``'5'``) in file order.

    Returns:
        References named ``which[i]`` (i the position in the file), method 'b3lyp'.
    """
    directory = PUBLISHED_DIR if directory is None else Path(directory)
    structures, npz, focks, ovlps = _read(directory, which)
    refs = []
    for k in select_frames(list(range(len(structures))), index, f"{which} (index {index!r})"):
        s = structures[k]
        meta = {"source": SOURCE, "file": str(directory / f"{which}.xyz"), "index": k}
        ovlp = None if ovlps is None else ovlps[k]  # None: pyscf's int1e_ovlp
        refs.append(Reference(structure=s, method=METHOD, model=_model_data(s, focks[k], ovlp),
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
