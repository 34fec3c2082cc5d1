"""`Structure`: one molecule as hamlearn sees it (host side, numpy, atomic units).

Every later step (reference data, features, model, QM layer) starts from a `Structure`.
Positions are stored in Bohr; Angstrom appears only in `from_atoms` / `to_atoms` and in
the names of arguments that carry it.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from hamlearn.units import ANGSTROM_TO_BOHR, BOHR_TO_ANGSTROM

#: Positions are rounded to this many decimals (Bohr) before hashing, so that a
#: structure read back from a text file hashes to the same key.
HASH_DECIMALS = 8


class StructureError(ValueError):
    """A structure that cannot be used (names the molecule and the reason)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Structure:
    """A molecule: atomic numbers, positions (Bohr), total charge and spin.

    Attributes:
        numbers: ``(atom,)`` int atomic numbers.
        positions: ``(atom, 3)`` float64 Cartesian positions in Bohr.
        charge: total charge (e).
        spin: number of unpaired electrons ``2S`` (pyscf's ``Mole.spin``); 0 is closed shell.
        name: a label used in messages and reports.

    Example:
        >>> import ase.build
        >>> s = Structure.from_atoms(ase.build.molecule("H2O"), name="water")
        >>> s.n_electrons
        10
    """

    numbers: np.ndarray
    positions: np.ndarray
    charge: int = 0
    spin: int = 0
    name: str = ""

    def __post_init__(self) -> None:
        numbers = np.asarray(self.numbers, dtype=np.int64).reshape(-1)
        positions = np.asarray(self.positions, dtype=np.float64).reshape(-1, 3)
        object.__setattr__(self, "numbers", numbers)
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "charge", int(self.charge))
        object.__setattr__(self, "spin", int(self.spin))
        if len(numbers) != len(positions):
            raise StructureError(
                f"{self.label}: {len(numbers)} atomic numbers but {len(positions)} positions"
            )

    # ---------------------------------------------------------------- constructors
    @classmethod
    def from_atoms(cls, atoms, *, charge: int | None = None, spin: int | None = None,
                   name: str | None = None) -> Structure:
        """Build from an ``ase.Atoms`` (positions in Angstrom).

        Charge and spin default to ``atoms.info['charge']`` / ``atoms.info['spin']`` when
        present, else 0 (neutral closed shell).
        """
        info = getattr(atoms, "info", {}) or {}
        return cls(
            numbers=atoms.get_atomic_numbers(),
            positions=np.asarray(atoms.get_positions(), dtype=np.float64) * ANGSTROM_TO_BOHR,
            charge=int(info.get("charge", 0) if charge is None else charge),
            spin=int(info.get("spin", 0) if spin is None else spin),
            name=str(name if name is not None else info.get("name", atoms.get_chemical_formula())),
        )

    def to_atoms(self):
        """The same molecule as an ``ase.Atoms`` (Angstrom), charge/spin/name in ``info``."""
        import ase

        atoms = ase.Atoms(numbers=self.numbers, positions=self.positions_ang)
        atoms.info.update(charge=self.charge, spin=self.spin, name=self.name)
        return atoms

    # ---------------------------------------------------------------- derived
    @property
    def label(self) -> str:
        return self.name or "<unnamed structure>"

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def positions_ang(self) -> np.ndarray:
        return self.positions * BOHR_TO_ANGSTROM

    @property
    def n_electrons(self) -> int:
        return int(self.numbers.sum()) - self.charge

    @property
    def symbols(self) -> list[str]:
        from ase.data import chemical_symbols

        return [chemical_symbols[z] for z in self.numbers]

    @property
    def formula(self) -> str:
        from ase.formula import Formula

        return str(Formula.from_list(self.symbols).format("hill"))

    def charge_centre(self) -> np.ndarray:
        """Nuclear charge centre ``sum_A Z_A R_A / sum_A Z_A`` (Bohr): the dipole origin."""
        z = self.numbers.astype(np.float64)
        return (z[:, None] * self.positions).sum(0) / z.sum()

    def pyscf_atom(self) -> list:
        """pyscf ``atom`` argument; pair it with ``unit='Bohr'``."""
        return [[int(z), tuple(float(x) for x in r)] for z, r in zip(self.numbers, self.positions)]

    def content_hash(self, *extra: object) -> str:
        """SHA-256 of numbers, rounded positions, charge, spin and any ``extra`` items."""
        h = hashlib.sha256()
        h.update(self.numbers.astype("<i8").tobytes())
        pos = np.round(self.positions, HASH_DECIMALS) + 0.0  # +0.0 folds -0.0 into 0.0
        h.update(pos.astype("<f8").tobytes())
        h.update(f"|{self.charge}|{self.spin}|".encode())
        for item in extra:
            h.update(f"|{item!r}".encode())
        return h.hexdigest()

    def __repr__(self) -> str:
        return (f"Structure({self.label!r}, {self.formula}, n_atoms={self.n_atoms}, "
                f"charge={self.charge}, spin={self.spin})")
