"""Charged closed shells (OH-, NH4+) through the QM layer reproduce pyscf.

For a charged molecule the dipole depends on the origin; hamlearn's origin is the nuclear
charge centre, so pyscf's ``dip_moment(origin=...)`` is asked about the same point.
"""

import ase.build
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from qm_helpers import run_pyscf

from hamlearn.data.record import ModelBasisData
from hamlearn.data.structure import Structure
from hamlearn.qm import QMInputs, homo_lumo_gap, qm_forward

TOL_E = 1e-8  # Hartree
TOL_DIP = 1e-8  # e*Bohr
forward = jax.jit(qm_forward)


def hydroxide() -> Structure:
    oh = ase.build.molecule("OH")
    return Structure.from_atoms(oh, charge=-1, spin=0, name="OH-")


def ammonium() -> Structure:
    ch4 = Structure.from_atoms(ase.build.molecule("CH4"))  # tetrahedral; C -> N, N-H ~ C-H
    return Structure(np.array([7, 1, 1, 1, 1]), ch4.positions * 0.95, charge=1, name="NH4+")


@pytest.fixture(scope="module", params=["OH-", "NH4+"])
def case(request):
    structure = {"OH-": hydroxide, "NH4+": ammonium}[request.param]()
    return run_pyscf(structure)


def test_inputs_count_the_charge(case):
    s = case.structure
    model = ModelBasisData("sto-3g", case.ovlp, case.dip_ints, case.origin, case.fock)
    inp = QMInputs.from_model_data(model, s)
    assert float(inp.mo_occ.sum()) == case.mol.nelectron == int(s.numbers.sum()) - s.charge
    np.testing.assert_array_equal(inp.mo_occ, case.mf.mo_occ)


def test_charged_layer_reproduces_pyscf(case):
    model = ModelBasisData("sto-3g", case.ovlp, case.dip_ints, case.origin, case.fock)
    inp = QMInputs.from_model_data(model, case.structure)
    out = forward(jnp.asarray(case.fock), inp)
    np.testing.assert_allclose(out["mo_energy"], case.mf.mo_energy, atol=TOL_E)
    np.testing.assert_allclose(out["dm"], case.mf.make_rdm1(), atol=1e-8)
    ref_dip = case.mf.dip_moment(unit="AU", origin=case.origin, verbose=0)
    np.testing.assert_allclose(out["dipole"], ref_dip, atol=TOL_DIP)
    # about another origin pyscf's value moves by -q * shift: the origin really matters here
    shifted = case.mf.dip_moment(unit="AU", origin=case.origin + 1.0, verbose=0)
    np.testing.assert_allclose(shifted - ref_dip, -case.structure.charge * np.ones(3),
                               atol=1e-8)
    nocc = case.mol.nelectron // 2
    for key, value in zip(("homo", "lumo", "gap"), homo_lumo_gap(case.mf.mo_energy, nocc)):
        assert float(out[key]) == pytest.approx(float(value), abs=TOL_E)
