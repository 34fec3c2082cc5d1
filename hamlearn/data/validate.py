"""One check of a molecule before any work: what every entry point runs per structure.

`validate_structure` rejects inputs that pyscf would fail on or silently mis-compute,
and inputs the model cannot take: no atoms, non-finite or absurd coordinates, atoms
closer than `MIN_DISTANCE_ANG`, a non-positive or odd electron count without spin, an
open shell, a charge larger than the nuclear charge, an element a basis lacks, an
element outside ``features.species``. Each problem raises `StructureError` with one
line that names the molecule and says what to change. `split_valid` applies it to a list
and returns the good ones plus one `Rejected` per bad one, so one bad molecule never
stops a dataset (`generate_data.py`, `train.py`, `evaluate.py`, `predict.py` all go
through here).

Example:
    >>> from hamlearn.data.sources import from_ase_name
    >>> validate_structure(from_ase_name("H2O"), bases=("sto-3g",))
    >>> ok, bad = split_valid([from_ase_name("OH")], bases=("sto-3g",))
    >>> bad[0].reason
    'OH: odd electron count 9 with spin=0: set the molecule's spin (2S) explicitly'
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from hamlearn.data.basis import BasisError, element_shells
from hamlearn.data.structure import Structure, StructureError

#: Atoms closer than this (Angstrom) are rejected as a broken geometry.
MIN_DISTANCE_ANG = 0.1
#: Coordinates beyond this (Angstrom) are rejected: no molecule is that large, and pyscf's
#: integral screening and the features' cutoffs lose meaning long before float64 does.
MAX_COORDINATE_ANG = 1.0e4


@dataclasses.dataclass(frozen=True)
class Rejected:
    """A molecule that did not pass `validate_structure`: its position, name and reason."""

    index: int
    name: str
    reason: str


def validate_structure(structure: Structure, *, bases: Sequence[str] = (),
                       species: Iterable[int] | None = None) -> None:
    """Raise `StructureError` (one line naming the molecule) if ``structure`` is unusable.

    Args:
        structure: the molecule.
        bases: pyscf basis names every element must have (model and target bases).
        species: atomic numbers the model knows (``features.species``); None skips it.
    """
    name = structure.label
    if structure.n_atoms == 0:
        raise StructureError(f"{name}: no atoms")
    if not np.all(np.isfinite(structure.positions)):
        bad = np.unique(np.nonzero(~np.isfinite(structure.positions))[0])
        raise StructureError(f"{name}: non-finite (NaN or inf) coordinates of atom(s) "
                             f"{bad.tolist()}")
    if np.abs(structure.positions_ang).max() > MAX_COORDINATE_ANG:
        raise StructureError(f"{name}: coordinates beyond {MAX_COORDINATE_ANG:g} Angstrom "
                             "(are the units right?)")
    if np.any(structure.numbers < 1) or np.any(structure.numbers > 118):
        raise StructureError(f"{name}: atomic numbers must be 1..118 "
                             f"(got {sorted(set(structure.numbers.tolist()))})")
    _check_distances(structure)
    _check_electrons(structure)
    if species is not None:
        unknown = sorted(set(structure.numbers.tolist()) - set(int(z) for z in species))
        if unknown:
            raise StructureError(f"{name}: element(s) {_symbols(unknown)} not in "
                                 f"features.species {sorted(species)}: the model cannot "
                                 "describe them")
    for basis in dict.fromkeys(b.lower() for b in bases):
        _check_basis(structure, basis)
        _check_orbital_count(structure, basis)


def split_valid(structures: Sequence[Structure], **kwargs) -> tuple[list[Structure],
                                                                    list[Rejected]]:
    """``(valid structures, rejected)`` under `validate_structure` (same keyword args);
    ``Rejected.index`` is the position in ``structures``."""
    ok, bad = [], []
    for i, s in enumerate(structures):
        try:
            validate_structure(s, **kwargs)
        except StructureError as err:
            bad.append(Rejected(i, s.label, str(err)))
        else:
            ok.append(s)
    return ok, bad


def _check_distances(structure: Structure) -> None:
    pos = structure.positions_ang
    if len(pos) < 2:
        return
    d = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    d[np.diag_indices(len(pos))] = np.inf
    i, j = np.unravel_index(np.argmin(d), d.shape)
    if d[i, j] < MIN_DISTANCE_ANG:
        sym = structure.symbols
        raise StructureError(
            f"{structure.label}: atoms {i} ({sym[i]}) and {j} ({sym[j]}) are {d[i, j]:.3g} "
            f"Angstrom apart (< {MIN_DISTANCE_ANG}): a broken geometry or wrong units")


def _check_electrons(structure: Structure) -> None:
    name, n_el = structure.label, structure.n_electrons
    if n_el <= 0:
        raise StructureError(f"{name}: {n_el} electrons (charge {structure.charge} against "
                             f"nuclear charge {int(structure.numbers.sum())}): lower the charge")
    if structure.spin < 0:
        raise StructureError(f"{name}: spin (2S) must be >= 0, got {structure.spin}")
    if (n_el - structure.spin) % 2:
        raise StructureError(f"{name}: odd electron count {n_el} with spin={structure.spin}: "
                             "set the molecule's spin (2S) explicitly")
    if structure.spin != 0:
        raise StructureError(f"{name}: open shell (spin={structure.spin}) is not supported: "
                             "references and the QM layer are closed-shell")


def _check_basis(structure: Structure, basis: str) -> None:
    for z in sorted(set(structure.numbers.tolist())):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Basis may be available")
                element_shells(basis, int(z))
        except BasisError as err:
            raise StructureError(f"{structure.label}: {err}") from None


def _check_orbital_count(structure: Structure, basis: str) -> None:
    """A closed shell needs an empty orbital (LUMO, gap, polarizability): 2 nao > electrons."""
    from hamlearn.data.basis import nao

    n_ao, n_el = nao(basis, structure.numbers), structure.n_electrons
    if n_el // 2 >= n_ao:
        raise StructureError(f"{structure.label}: {n_el} electrons fill all {n_ao} orbitals of "
                             f"{basis} (no LUMO): a less negative charge (now "
                             f"{structure.charge}) or a larger basis")


def _symbols(numbers) -> str:
    from ase.data import chemical_symbols

    return ", ".join(f"{chemical_symbols[z]} (Z={z})" for z in numbers)
