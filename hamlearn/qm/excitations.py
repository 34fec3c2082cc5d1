"""Singlet excitations of a (predicted) minimal-basis Hamiltonian: a simplified Tamm-Dancoff
scheme in the spirit of sTDA (Grimme, J. Chem. Phys. 138, 244104 (2013)), differentiable,
padding-safe and vmappable like `hamlearn.qm.qm_forward`.

Equations (closed shell, atomic units). MO coefficients are Loewdin-orthogonalised,
``C' = S^1/2 C``; the transition charge of MO pair (p, q) on atom A is
``q_A^pq = sum_{mu on A} C'_mu,p C'_mu,q``. Two-electron integrals become monopole sums
with Mataga-Nishimoto-Ohno-Klopman damped kernels,

    (ia|jb) = sum_AB q_A^ia q_B^jb G^K_AB,   G^K_AB = (R_AB^a + eta_AB^-a)^(-1/a)
    (ij|ab) = sum_AB q_A^ij q_B^ab G^J_AB,   G^J_AB = (R_AB^b + (a_x eta_AB)^-b)^(-1/b)

with ``eta_AB = (eta_A + eta_B) / 2`` (chemical hardness), ``a = alpha1 + a_x alpha2``,
``b = beta1 + a_x beta2`` and ``a_x`` the fraction of Fock exchange. The singlet TDA matrix on
a window of occupied-virtual pairs (the ``n_occ`` highest occupied, ``n_virt`` lowest
virtual MOs) is

    A_ia,jb = delta_ij delta_ab (e_a - e_i) + 2 (ia|jb) - (ij|ab),

its eigenpairs ``A X_n = w_n X_n`` are the excitation energies and amplitudes; the
transition dipole is ``d_n = sqrt(2) sum_ia X_ia,n <i|r|a>`` and the oscillator strength
``f_n = 2/3 w_n |d_n|^2``. With ``kernels=False`` the couplings vanish and ``w`` are the
orbital-energy differences (the simplest excitation model).

Parameters default to sTDA's (``alpha1 1.42, alpha2 0.48, beta1 0.2, beta2 1.83``) with
``a_x = 0.2`` (B3LYP); the hardness per element is Ghosh and Islam's (Int. J. Quantum Chem.
110, 1206 (2010), as tabulated in dftd4, Hartree).

State ordering: states come out sorted by energy; individual states' strengths are
ill-defined where two states are degenerate (only their sums are), which is why a broadened
spectrum (`broadened_spectrum`) is the crossing-safe target.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float
from pyscfad.scipy.linalg import eigh as _pyscfad_eigh

from hamlearn.qm.eigh import DEG_THRESH

#: chemical hardness eta_A (Hartree) by atomic number, Ghosh & Islam (2010) via dftd4
HARDNESS_HARTREE = {1: 0.47259288, 2: 0.92203391, 3: 0.17452888, 4: 0.25700733,
                    5: 0.33949086, 6: 0.42195412, 7: 0.50438193, 8: 0.58691863,
                    9: 0.66931351, 10: 0.75191607, 11: 0.17964105, 12: 0.22157276,
                    13: 0.26348578, 14: 0.30539645, 15: 0.34734014, 16: 0.38924725,
                    17: 0.43115670, 18: 0.47308269}
#: diagonal of a pair outside the window or on padding (Hartree): such states sort last
INVALID_ENERGY = 1.0e3


@dataclasses.dataclass(frozen=True)
class STDASettings:
    """The scheme's parameters (static under jit).

    Attributes:
        n_occ, n_virt: window: the highest ``n_occ`` occupied and lowest ``n_virt`` virtual
            MOs (fewer where the molecule has fewer; the missing pairs are masked).
        n_states: lowest states returned (<= n_occ * n_virt).
        ax: fraction of Fock exchange of the functional the kernels imitate.
        alpha1, alpha2, beta1, beta2: the kernels' exponents (sTDA's values).
        kernels: False drops the couplings (excitations = orbital-energy differences).
        spectrum_grid: ``(lowest, highest, points)`` energies (Hartree) on which the layer
            also returns the broadened absorption spectrum (`broadened_spectrum`), or None.
        spectrum_width: its Gaussian standard deviation (Hartree).
    """

    n_occ: int = 8
    n_virt: int = 8
    n_states: int = 10
    ax: float = 0.2
    alpha1: float = 1.42
    alpha2: float = 0.48
    beta1: float = 0.2
    beta2: float = 1.83
    kernels: bool = True
    spectrum_grid: tuple[float, float, int] | None = None
    spectrum_width: float = 0.011

    def __post_init__(self):
        if min(self.n_occ, self.n_virt, self.n_states) < 1:
            raise ValueError("STDASettings: n_occ, n_virt and n_states must be >= 1")
        if self.n_states > self.n_occ * self.n_virt:
            raise ValueError(f"STDASettings: n_states={self.n_states} exceeds the "
                             f"{self.n_occ * self.n_virt} pairs of the window")
        if not 0.0 < self.ax <= 1.0:
            raise ValueError(f"STDASettings: ax must be in (0, 1], got {self.ax}")
        if self.spectrum_grid is not None:
            lo, hi, n = self.spectrum_grid
            if not (hi > lo and int(n) >= 2 and self.spectrum_width > 0):
                raise ValueError(f"STDASettings: spectrum_grid {self.spectrum_grid} needs "
                                 "highest > lowest, >= 2 points and a width > 0")

    def grid(self) -> np.ndarray:
        """The spectrum's energies (Hartree)."""
        lo, hi, n = self.spectrum_grid
        return np.linspace(lo, hi, int(n))


def atom_hardness(numbers) -> np.ndarray:
    """``(atom,)`` chemical hardness (Hartree) of each atom.

    Raises:
        ValueError: for an element outside `HARDNESS_HARTREE`.
    """
    try:
        return np.array([HARDNESS_HARTREE[int(z)] for z in numbers])
    except KeyError as err:
        raise ValueError(f"no sTDA hardness for element Z={err.args[0]} (tabulated: "
                         f"{min(HARDNESS_HARTREE)}-{max(HARDNESS_HARTREE)})") from None


def kernels(positions: Float[Array, "atom 3"], hardness: Float[Array, " atom"],
            settings: STDASettings) -> tuple[Array, Array]:
    """``(G^J, G^K)``, each ``(atom, atom)`` (Hartree): the damped Coulomb kernels."""
    a = settings.alpha1 + settings.ax * settings.alpha2
    b = settings.beta1 + settings.ax * settings.beta2
    diff = positions[:, None, :] - positions[None, :, :]
    r2 = jnp.sum(diff * diff, axis=-1)
    # R^p through exp(p/2 log r^2), safe at R = 0 (its derivative there is 0 for p > 0)
    safe = jnp.where(r2 > 0, r2, 1.0)
    eta = 0.5 * (hardness[:, None] + hardness[None, :])

    def power(p):
        return jnp.where(r2 > 0, jnp.exp(0.5 * p * jnp.log(safe)), 0.0)

    g_k = (power(a) + eta ** (-a)) ** (-1.0 / a)
    g_j = (power(b) + (settings.ax * eta) ** (-b)) ** (-1.0 / b)
    return g_j, g_k


def ao_kernels(numbers, positions, ao_atom, settings: STDASettings = STDASettings(),
               nao_pad: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The kernels on AO pairs, ``G_mu,nu = G_atom(mu),atom(nu)`` (host arrays,
    ``(ao, ao)``; zero on padded AOs up to ``nao_pad``): monopole transition charges summed
    over an atom's AOs become plain AO sums, so a padded batch needs no atom axis.

    Args:
        numbers, positions: the molecule (positions in Bohr).
        ao_atom: ``(ao,)`` atom index of each AO (pyscf's ``ao_labels``).
    """
    ao_atom = np.asarray(ao_atom)
    g_j, g_k = (np.asarray(g) for g in kernels(np.asarray(positions, np.float64),
                                                atom_hardness(numbers), settings))
    nao = len(ao_atom)
    pad = nao if nao_pad is None else nao_pad
    out = []
    for g in (g_j, g_k):
        m = np.zeros((pad, pad))
        m[:nao, :nao] = g[np.ix_(ao_atom, ao_atom)]
        out.append(m)
    return out[0], out[1]


def _sqrtm_spd(ovlp):
    w, v = jnp.linalg.eigh(ovlp)
    return (v * jnp.sqrt(w)) @ v.T


def stda(mo_energy: Float[Array, " mo"], mo_coeff: Float[Array, "ao mo"],
         mo_occ: Float[Array, " mo"], ovlp: Float[Array, "ao ao"],
         dip_ints: Float[Array, "3 ao ao"], gamma_j: Float[Array, "ao ao"],
         gamma_k: Float[Array, "ao ao"], settings: STDASettings = STDASettings(),
         mo_mask: Bool[Array, " mo"] | None = None) -> dict[str, Array]:
    """Lowest singlet excitations of one molecule's MOs (pure: jit/vmap/grad-able).

    Args:
        mo_energy, mo_coeff, mo_occ: the MOs (`hamlearn.qm.qm_forward`'s outputs, padded
            or not; occupations 2/0, MOs ascending).
        ovlp, dip_ints: overlap and dipole integrals of the same AOs.
        gamma_j, gamma_k: `ao_kernels` of the molecule (zero on padded AOs), made with the
            same ``settings``' exponents and ``ax``.
        settings: window and state count (static).
        mo_mask: True on real MOs (default: all).

    Returns:
        dict with ``energies (state,)`` excitation energies (Hartree, ascending; a state
        beyond the window's real pairs sits at >= `INVALID_ENERGY`), ``strengths (state,)``
        oscillator strengths, ``transition_dipoles (state, 3)`` (e Bohr, sign arbitrary),
        ``state_mask (state,)`` True on real states, ``amplitudes (pair, state)``.
    """
    n_mo = mo_energy.shape[-1]
    if mo_mask is None:
        mo_mask = jnp.ones(n_mo, dtype=bool)
    occ = (mo_occ > 0) & mo_mask
    nocc = jnp.sum(occ.astype(jnp.int32))
    # window indices (static sizes), clipped into range; invalid ones masked
    i_idx = nocc - settings.n_occ + jnp.arange(settings.n_occ)
    a_idx = nocc + jnp.arange(settings.n_virt)
    i_ok = i_idx >= 0
    a_ok = (a_idx < n_mo) & mo_mask[jnp.clip(a_idx, 0, n_mo - 1)]
    i_idx, a_idx = jnp.clip(i_idx, 0, n_mo - 1), jnp.clip(a_idx, 0, n_mo - 1)
    pair_ok = (i_ok[:, None] & a_ok[None, :]).reshape(-1)

    c_orth = _sqrtm_spd(ovlp) @ mo_coeff  # Loewdin: C'^T C' = C^T S C = 1
    c_i, c_a = c_orth[:, i_idx], c_orth[:, a_idx]
    n_pair = settings.n_occ * settings.n_virt
    t_ia = (c_i[:, :, None] * c_a[:, None, :]).reshape(-1, n_pair) * pair_ok[None, :]
    de = (mo_energy[a_idx][None, :] - mo_energy[i_idx][:, None]).reshape(-1)
    diag = jnp.where(pair_ok, de, INVALID_ENERGY + jnp.arange(n_pair))
    amat = jnp.diag(diag)
    if settings.kernels:
        k_term = t_ia.T @ gamma_k @ t_ia  # (ia|jb)
        t_ij = c_i[:, :, None] * c_i[:, None, :]
        t_ab = c_a[:, :, None] * c_a[:, None, :]
        j_term = jnp.einsum("mij,mn,nab->iajb", t_ij, gamma_j, t_ab).reshape(n_pair, n_pair)
        ok2 = pair_ok[:, None] & pair_ok[None, :]
        amat = amat + jnp.where(ok2, 2.0 * k_term - j_term, 0.0)
    # degeneracy-masked derivative (pyscfad's eigh, as the ground-state solver): symmetric
    # molecules have exactly degenerate excited states (benzene's E states), where JAX's own
    # eigh rule divides by w_j - w_i = 0 and the strengths' gradients become non-finite
    w, x = _pyscfad_eigh(amat, deg_thresh=DEG_THRESH)
    w, x = w[:settings.n_states], x[:, :settings.n_states]
    d_ia = jnp.einsum("xmn,mi,na->xia", dip_ints, mo_coeff[:, i_idx], mo_coeff[:, a_idx])
    d_ia = d_ia.reshape(3, -1) * pair_ok[None, :]
    tdm = jnp.sqrt(2.0) * (x.T @ d_ia.T)  # (state, 3)
    strengths = 2.0 / 3.0 * w * jnp.sum(tdm * tdm, axis=-1)
    real = w < 0.5 * INVALID_ENERGY
    return {"energies": w, "strengths": jnp.where(real, strengths, 0.0),
            "transition_dipoles": tdm, "state_mask": real, "amplitudes": x}


def broadened_spectrum(energies: Float[Array, " state"], strengths: Float[Array, " state"],
                       grid: Float[Array, " grid"], width: float,
                       state_mask: Bool[Array, " state"] | None = None) -> Array:
    """``sum_n f_n g(E - w_n)`` on ``grid`` with a normalised Gaussian of standard deviation
    ``width`` (same unit as ``energies``): a target that is smooth through state crossings."""
    f = strengths if state_mask is None else jnp.where(state_mask, strengths, 0.0)
    z = (grid[:, None] - energies[None, :]) / width
    g = jnp.exp(-0.5 * z * z) / (width * jnp.sqrt(2.0 * jnp.pi))
    return g @ f


stda_batch = jax.vmap(stda, in_axes=(0, 0, 0, 0, 0, 0, 0, None, 0))
