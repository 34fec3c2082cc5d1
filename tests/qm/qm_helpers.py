"""Helpers of the QM-layer tests: converged pyscf references and constructed eigenproblems."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

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


def random_problem(rng, n=8):
    """A random symmetric F and a well-conditioned SPD S."""
    a = rng.normal(size=(n, n))
    b = rng.normal(size=(n, n))
    return (a + a.T) / 2, b @ b.T / n + np.eye(n)


def degenerate_problem(rng, mo_energy):
    """F and S whose generalized eigenvalues are exactly ``mo_energy`` (with repeats)."""
    n = len(mo_energy)
    _, ovlp = random_problem(rng, n)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    c = np.linalg.solve(np.linalg.cholesky(ovlp).T, q)  # C^T S C = 1
    sc = ovlp @ c
    return sc @ np.diag(mo_energy) @ sc.T, ovlp
