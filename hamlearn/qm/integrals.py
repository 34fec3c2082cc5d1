"""Model-basis integrals from pyscfad with traced nuclear positions, and dmu/dR.

`ao_integrals` returns S, the dipole integrals and the nuclear dipole of a pyscfad
``Mole`` as JAX arrays whose derivatives w.r.t. ``mol.coords`` (Bohr) are pyscfad's
analytic integral derivatives. A property computed from them by the QM layer is then
differentiable in the nuclear positions: ``jax.jacfwd(f)(mol).coords``.

pyscfad caveat: the *values* of the integrals come from the geometry the ``Mole`` was
built with (its libcint environment); ``mol.coords`` only carries the derivatives. So
differentiate at the built geometry, and build a new ``Mole`` (`build_mole`) for another
geometry (finite differences do exactly that).

Origin: O is the nuclear charge centre of the traced positions, so the dipole integrals
``<r - O> = <r> - O S`` and ``sum_A Z_A (R_A - O)`` follow the atoms (a neutral molecule's
dipole does not depend on O at all).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from hamlearn.data.structure import Structure
from hamlearn.qm.inputs import QMInputs
from hamlearn.qm.layer import qm_forward
from hamlearn.qm.properties import nuclear_dipole


def build_mole(structure: Structure, basis: str = "sto-3g"):
    """A pyscfad ``Mole`` of ``structure`` (Bohr) with traced ``coords`` (not exponents).

    Returns:
        ``pyscfad.gto.Mole``, built, ``mol.coords`` ``(atom, 3)`` Bohr.
    """
    from pyscfad import gto

    mol = gto.Mole(atom=structure.pyscf_atom(), unit="Bohr", basis=basis,
                   charge=structure.charge, spin=structure.spin, verbose=0)
    mol.build(trace_coords=True, trace_exp=False, trace_ctr_coeff=False)
    return mol


def ao_integrals(mol) -> tuple[Float[Array, "ao ao"], Float[Array, "3 ao ao"],
                               Float[Array, " 3"], Float[Array, " 3"]]:
    """Overlap, dipole integrals and nuclear dipole of a pyscfad ``Mole``, traced in coords.

    Args:
        mol: a built ``pyscfad.gto.Mole`` (see `build_mole`); pass it *as the argument*
            of the function being differentiated so ``mol.coords`` is traced.

    Returns:
        ``ovlp (ao, ao)``; ``dip_ints (3, ao, ao)`` ``<mu| r - O |nu>`` (Bohr);
        ``nuclear_dipole (3,)`` ``sum_A Z_A (R_A - O)`` (e*Bohr); ``origin (3,)`` O, the
        nuclear charge centre (Bohr).
    """
    coords = mol.atom_coords()  # traced (atom, 3), Bohr
    charges = jnp.asarray(mol.atom_charges(), dtype=jnp.float64)
    origin = charges @ coords / charges.sum()
    ovlp = mol.intor("int1e_ovlp")
    with mol.with_common_orig(np.zeros(3)):
        r_ints = mol.intor("int1e_r")  # about the lab origin
    dip_ints = r_ints - origin[:, None, None] * ovlp[None]
    return ovlp, dip_ints, nuclear_dipole(charges, coords, origin), origin


def qm_inputs_from_mol(mol) -> QMInputs:
    """Closed-shell `QMInputs` of a pyscfad ``Mole`` (traced in ``mol.coords``)."""
    ovlp, dip_ints, nuc, _ = ao_integrals(mol)
    if mol.spin != 0 or mol.nelectron % 2:
        raise ValueError(f"closed shell only (nelectron={mol.nelectron}, spin={mol.spin})")
    return QMInputs.from_arrays(ovlp, dip_ints, nuc, mol.nelectron // 2)


def dipole_derivatives(
    mol, fock_fn: Callable[[Array, Array], Array]
) -> Float[Array, "3 atom 3"]:
    """Atomic polar tensors ``d mu_x / d R_{A,y}`` (e) of a Hamiltonian model, by jacfwd.

    The IR intensity of a normal mode ``L`` (mass-weighted displacements ``(atom, 3)``) is
    proportional to ``|sum_{A,y} dmu/dR_{A,y} L_{A,y}|^2``.

    Args:
        mol: built pyscfad ``Mole`` (traced coords) of a closed-shell molecule.
        fock_fn: ``(ovlp (ao, ao), positions (atom, 3) Bohr) -> fock (ao, ao)`` Hartree,
            differentiable; e.g. `hamlearn.qm.huckel.extended_huckel_fock` of the overlap.

    Returns:
        ``(3, atom, 3)``: ``[mu component, atom, displacement component]``.
    """
    def dipole_of(m):
        inputs = qm_inputs_from_mol(m)
        return qm_forward(fock_fn(inputs.ovlp, m.atom_coords()), inputs)["dipole"]

    return jax.jit(jax.jacfwd(dipole_of))(mol).coords
