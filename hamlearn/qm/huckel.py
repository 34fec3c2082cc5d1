"""A fixed, parameter-free Hamiltonian model: extended Hueckel on the model-basis overlap.

``F_ii = h_i``, ``F_ij = K S_ij (h_i + h_j) / 2`` (Wolfsberg-Helmholz, ``K = 1.75``), with
on-site energies ``h`` per element and shell. It depends on the geometry only through S,
so it is a smooth, differentiable-in-R stand-in for a learned model: used to show (and
test) nuclear-position derivatives such as dmu/dR, and as a cheap guess Hamiltonian.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from hamlearn.units import EV_TO_HARTREE

#: On-site energies (Hartree) per (element, shell label): valence ionisation potentials of
#: Hoffmann's extended Hueckel (eV) and approximate Hartree-Fock 1s core energies.
ONSITE_HARTREE: dict[tuple[str, str], float] = {
    ("H", "1s"): -13.6 * EV_TO_HARTREE,
    ("C", "1s"): -11.3, ("C", "2s"): -21.4 * EV_TO_HARTREE, ("C", "2p"): -11.4 * EV_TO_HARTREE,
    ("N", "1s"): -15.6, ("N", "2s"): -26.0 * EV_TO_HARTREE, ("N", "2p"): -13.4 * EV_TO_HARTREE,
    ("O", "1s"): -20.7, ("O", "2s"): -32.3 * EV_TO_HARTREE, ("O", "2p"): -14.8 * EV_TO_HARTREE,
    ("F", "1s"): -26.4, ("F", "2s"): -40.0 * EV_TO_HARTREE, ("F", "2p"): -18.1 * EV_TO_HARTREE,
}


def huckel_onsite(mol) -> np.ndarray:
    """``(ao,)`` on-site energies (Hartree) for a pyscf/pyscfad ``Mole`` in a minimal basis.

    Raises:
        KeyError: for an element or shell without a tabulated energy.
    """
    values = []
    for _, symbol, shell, _ in mol.ao_labels(fmt=False):
        values.append(ONSITE_HARTREE[(symbol, shell[:2])])
    return np.asarray(values)


def extended_huckel_fock(
    ovlp: Float[Array, "ao ao"], onsite: Float[Array, " ao"], k: float = 1.75
) -> Float[Array, "ao ao"]:
    """Extended-Hueckel Hamiltonian ``F_ij = K S_ij (h_i + h_j)/2`` (i != j), ``F_ii = h_i``.

    Args:
        ovlp: ``(ao, ao)`` overlap S (unit diagonal).
        onsite: ``(ao,)`` on-site energies h (Hartree), see `huckel_onsite`.
        k: Wolfsberg-Helmholz constant.

    Returns:
        ``(ao, ao)`` symmetric Hamiltonian (Hartree).
    """
    mean = 0.5 * (onsite[:, None] + onsite[None, :])
    off = k * ovlp * mean
    return jnp.where(jnp.eye(ovlp.shape[-1], dtype=bool), mean, off)
