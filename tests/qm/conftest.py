"""QM-layer fixtures: converged pyscf references (F, S, <r - O>, observables), built once."""

from __future__ import annotations

import dataclasses

import ase.build
import jax.numpy as jnp
import numpy as np
import pytest

from hamlearn.data.structure import Structure
from hamlearn.qm import QMInputs, nuclear_dipole

#: SCF settings tight enough that pyscf's mo_energy / make_rdm1 (from the previous Fock)
#: and get_fock() (from the final density) agree far below the 1e-8 test tolerance.
SCF_CONV_TOL = 1e-13
SCF_CONV_TOL_GRAD = 1e-10


@dataclasses.dataclass(frozen=True, eq=False)
class PyscfCase:
    """One converged pyscf calculation and the QM-layer inputs built from it."""

    structure: Structure
    mol: object
    mf: object
    fock: np.ndarray
    ovlp: np.ndarray
    dip_ints: np.ndarray  # <mu| r - O |nu>, O = nuclear charge centre
    origin: np.ndarray

    @property
    def inputs(self) -> QMInputs:
        nuc = nuclear_dipole(self.structure.numbers, self.structure.positions, self.origin)
        return QMInputs.from_arrays(self.ovlp, self.dip_ints, nuc, self.mol.nelectron // 2)

    @property
    def fock_jax(self):
        return jnp.asarray(self.fock)


def dipole_integrals(mol, origin) -> np.ndarray:
    """pyscf's ``<mu| r - origin |nu>`` (3, ao, ao)."""
    with mol.with_common_orig(np.asarray(origin)):
        return mol.intor_symmetric("int1e_r", comp=3)


def run_pyscf(structure: Structure, xc: str | None = None, basis: str = "sto-3g") -> PyscfCase:
    """Tightly converged RHF (``xc=None``) or RKS of ``structure``."""
    from pyscf import dft, gto, scf

    mol = gto.M(atom=structure.pyscf_atom(), unit="Bohr", basis=basis,
                charge=structure.charge, spin=structure.spin, verbose=0)
    mf = scf.RHF(mol) if xc is None else dft.RKS(mol, xc=xc)
    mf.conv_tol, mf.conv_tol_grad = SCF_CONV_TOL, SCF_CONV_TOL_GRAD
    mf.kernel()
    assert mf.converged, structure.label
    origin = structure.charge_centre()
    return PyscfCase(structure, mol, mf, mf.get_fock(), mf.get_ovlp(),
                     dipole_integrals(mol, origin), origin)


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
