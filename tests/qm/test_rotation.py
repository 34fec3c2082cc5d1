"""Rotating the molecule rotates the dipole as a vector and alpha as R alpha R^T."""

import dataclasses

import jax
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from qm_helpers import run_pyscf
from hamlearn.qm import qm_forward

TOL = 1e-7  # two independent SCFs converged to conv_tol 1e-13 / grad 1e-10


def rotate(structure, rot):
    centre = structure.charge_centre()
    return dataclasses.replace(structure, positions=(structure.positions - centre) @ rot.T
                               + centre, name=f"{structure.name}-rotated")


@pytest.mark.parametrize("improper", [False, True])
def test_dipole_and_polarizability_rotate(pyscf_case, improper):
    case = pyscf_case("NH3")
    rot = Rotation.random(random_state=7).as_matrix()
    if improper:
        rot = rot @ np.diag([1.0, 1.0, -1.0])
    rotated = run_pyscf(rotate(case.structure, rot))
    forward = jax.jit(qm_forward)
    out, out_rot = (forward(c.fock_jax, c.inputs) for c in (case, rotated))
    np.testing.assert_allclose(out_rot["mo_energy"], out["mo_energy"], atol=TOL)
    np.testing.assert_allclose(out_rot["dipole"], rot @ out["dipole"], atol=TOL)
    np.testing.assert_allclose(out_rot["polarizability"],
                               rot @ out["polarizability"] @ rot.T, atol=TOL)
    assert np.abs(out["dipole"]).max() > 0.1  # a polar molecule: the check has teeth
