"""`qm_forward`: one call from a predicted Fock matrix to every observable of the layer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from hamlearn.qm.density import make_density
from hamlearn.qm.excitations import broadened_spectrum, stda
from hamlearn.qm.inputs import QMInputs
from hamlearn.qm.padding import apply_padding
from hamlearn.qm.properties import dipole_moment, frontier_orbitals, spatial_extent
from hamlearn.qm.response import eigh_sos


def qm_forward(fock: Float[Array, "ao ao"], inputs: QMInputs) -> dict[str, Array]:
    """Solve ``F C = S C e`` and derive the layer's observables (pure, jit/vmap/grad-able).

    Padded AOs (``inputs.ao_mask`` False) are decoupled and shifted to the top of the
    spectrum (`hamlearn.qm.padding`), so the same function serves single molecules and
    padded batches: ``jax.vmap(qm_forward)(focks, pad_batch(...))``. One eigensolve
    (`hamlearn.qm.response.eigh_sos`): derivatives are finite at degenerate MOs, and exact
    for the density, dipole, gap and polarizability (equal-occupation degeneracies are
    handled analytically); derivatives of a single MO energy inside a degenerate set
    depend on the eigensolver's basis choice: use symmetric functions of such sets.

    Args:
        fock: ``(ao, ao)`` symmetric effective Hamiltonian (Hartree), pyscf AO order;
            entries on padded AOs are ignored.
        inputs: the molecule's `QMInputs`.

    Returns:
        dict with
        ``mo_energy (mo,)`` ascending MO energies (Hartree; padded MOs at the end, ~1e6),
        ``mo_coeff (ao, mo)`` MO coefficients (gauge dependent),
        ``mo_occ (mo,)`` occupations, ``mo_mask (mo,)`` True on real MOs (= ``ao_mask``),
        ``dm (ao, ao)`` density matrix, ``dipole (3,)`` e*Bohr (nuclear - electronic),
        ``polarizability (3, 3)`` uncoupled sum over states (Bohr^3),
        ``homo``, ``lumo``, ``gap`` scalars (Hartree), and, when ``inputs.r2_ints`` is
        given, ``r2``: the electronic spatial extent <R^2> = tr(D R2) (Bohr^2); when
        ``inputs.gamma_k`` and ``inputs.stda`` are given, ``excitation_energies (state,)``
        (Hartree), ``oscillator_strengths (state,)`` and ``transition_dipoles (state, 3)``
        of `hamlearn.qm.excitations.stda`, and with ``inputs.stda.spectrum_grid`` their
        broadened ``spectrum (grid,)`` (per Hartree).
    """
    mask = inputs.ao_mask
    fock, ovlp, dip_ints = apply_padding(fock, inputs.ovlp, inputs.dip_ints, mask)
    mo_energy, mo_coeff, alpha = eigh_sos(fock, ovlp, dip_ints, inputs.mo_occ, mask)
    dm = make_density(mo_coeff, inputs.mo_occ)
    homo, lumo, gap = frontier_orbitals(mo_energy, inputs.mo_occ, mask)
    extra = {}
    if inputs.r2_ints is not None:
        extra["r2"] = spatial_extent(dm, inputs.r2_ints, mask)
    if inputs.gamma_k is not None and inputs.stda is not None:
        ex = stda(mo_energy, mo_coeff, inputs.mo_occ, ovlp, dip_ints, inputs.gamma_j,
                  inputs.gamma_k, inputs.stda, mask)
        extra["excitation_energies"] = ex["energies"]
        extra["oscillator_strengths"] = ex["strengths"]
        extra["transition_dipoles"] = ex["transition_dipoles"]
        if inputs.stda.spectrum_grid is not None:
            extra["spectrum"] = broadened_spectrum(
                ex["energies"], ex["strengths"], jnp.asarray(inputs.stda.grid()),
                inputs.stda.spectrum_width, ex["state_mask"])
    return dict(
        **extra,
        mo_energy=mo_energy,
        mo_coeff=mo_coeff,
        mo_occ=inputs.mo_occ,
        mo_mask=mask,
        dm=dm,
        dipole=dipole_moment(dm, dip_ints, inputs.nuclear_dipole),
        polarizability=alpha,
        homo=homo,
        lumo=lumo,
        gap=gap,
    )


#: The batched layer: ``(batch, ao, ao)`` Focks and a batched `QMInputs` -> dict of
#: arrays with a leading ``batch`` axis.
qm_forward_batch = jax.vmap(qm_forward)
