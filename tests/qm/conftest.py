"""QM-layer fixtures: converged pyscf references (F, S, <r - O>, observables), built once."""

from __future__ import annotations

import ase.build
import pytest
from qm_helpers import PyscfCase, run_pyscf

from hamlearn.data.structure import Structure

_CACHE: dict = {}


@pytest.fixture(scope="session")
def pyscf_case(small_molecules):
    """``pyscf_case(name, xc=None)``: cached `PyscfCase` for H2/H2O/NH3/CH4 or ase's ``name``."""

    def get(name: str, xc: str | None = None) -> PyscfCase:
        key = (name, xc)
        if key not in _CACHE:
            structure = small_molecules.get(name) or Structure.from_atoms(
                ase.build.molecule(name), name=name)
            _CACHE[key] = run_pyscf(structure, xc)
        return _CACHE[key]

    return get
