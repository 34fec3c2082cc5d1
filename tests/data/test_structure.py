import ase.build
import numpy as np
import pytest

from hamlearn.data.structure import Structure, StructureError
from hamlearn.units import ANGSTROM_TO_BOHR


def test_from_atoms_units_and_round_trip():
    atoms = ase.build.molecule("H2O")
    s = Structure.from_atoms(atoms)
    np.testing.assert_allclose(s.positions, atoms.positions * ANGSTROM_TO_BOHR)
    np.testing.assert_allclose(s.to_atoms().positions, atoms.positions, atol=1e-12)
    assert s.n_electrons == 10 and s.formula == "H2O"


def test_hash_stable_and_sensitive():
    s = Structure.from_atoms(ase.build.molecule("CH4"))
    t = Structure(s.numbers, s.positions + 1e-12, name="other name")
    assert s.content_hash("b3lyp") == t.content_hash("b3lyp")
    assert s.content_hash("b3lyp") != s.content_hash("rhf")
    u = Structure(s.numbers, s.positions, charge=1, spin=1)
    assert u.content_hash() != s.content_hash()


def test_shape_mismatch():
    with pytest.raises(StructureError, match="2 atomic numbers but 1 positions"):
        Structure([1, 1], [[0, 0, 0]], name="bad")
