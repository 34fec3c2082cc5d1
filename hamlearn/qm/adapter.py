"""Wrap a predicted Fock matrix into a pyscf mean-field object, for pyscf's property code.

The adapter is a host-side (numpy) bridge, not part of the differentiable path: any pyscf
code that reads ``mo_energy``, ``mo_coeff``, ``mo_occ``, ``make_rdm1()`` or
``get_fock()``/``get_ovlp()`` of a converged SCF (``dip_moment``, ``mulliken_pop``,
``analyze``, localisation, ...) can then run on a prediction.
"""

from __future__ import annotations

import numpy as np
from jaxtyping import Array, Float

from hamlearn.qm.density import closed_shell_occupations
from hamlearn.qm.eigh import generalized_eigh


def as_pyscf_scf(mol, fock: Float[Array, "ao ao"], ovlp: Float[Array, "ao ao"] | None = None):
    """A converged-looking pyscf ``RHF`` whose orbitals are the eigenvectors of ``fock``.

    The orbitals come from this package's `generalized_eigh` (so they are the layer's),
    occupations are closed-shell aufbau. ``get_fock`` returns the predicted Fock and
    ``get_ovlp`` the given (or the molecule's own) overlap. No SCF is run.

    Args:
        mol: a built pyscf ``Mole`` (a pyscfad ``Mole`` is converted with ``to_pyscf``),
            closed shell, in the basis ``fock`` is expressed in.
        fock: ``(ao, ao)`` predicted Fock (Hartree), pyscf AO order of ``mol``.
        ovlp: ``(ao, ao)`` overlap; default ``mol.intor('int1e_ovlp')``.

    Returns:
        ``pyscf.scf.hf.RHF`` with ``mo_energy (mo,)``, ``mo_coeff (ao, mo)``,
        ``mo_occ (mo,)`` set and ``converged = True``; e.g. ``mf.dip_moment(unit='AU')``.
    """
    from pyscf import scf

    if hasattr(mol, "to_pyscf"):
        mol = mol.to_pyscf()
    if mol.spin != 0 or mol.nelectron % 2:
        raise ValueError(f"closed shell only (nelectron={mol.nelectron}, spin={mol.spin})")
    fock = np.asarray(fock, dtype=np.float64)
    ovlp = mol.intor_symmetric("int1e_ovlp") if ovlp is None else np.asarray(ovlp, np.float64)
    if fock.shape != (mol.nao, mol.nao) or ovlp.shape != fock.shape:
        raise ValueError(f"fock {fock.shape} / ovlp {ovlp.shape} do not match mol.nao={mol.nao}")
    mo_energy, mo_coeff = generalized_eigh(fock, ovlp)
    mf = scf.RHF(mol)
    mf.verbose = 0
    mf.mo_energy = np.asarray(mo_energy)
    mf.mo_coeff = np.asarray(mo_coeff)
    mf.mo_occ = np.asarray(closed_shell_occupations(mol.nao, mol.nelectron // 2))
    mf.converged = True
    mf.get_fock = lambda *args, **kwargs: fock
    mf.get_ovlp = lambda *args, **kwargs: ovlp
    return mf
