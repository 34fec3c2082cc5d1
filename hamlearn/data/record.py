"""The reference-data contract: what one molecule's labels look like.

A `Reference` is everything hamlearn knows about one molecule from pyscf: the
model-basis integrals and Fock (the inputs of the QM layer and the direct-learning
target) and, per target basis, the observables the model is trained on. All arrays are
numpy, float64, atomic units, matrices in pyscf AO order (see `hamlearn.data.basis`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from hamlearn.data.structure import Structure


def isotropic(alpha):
    """Isotropic polarizability ``tr(alpha) / 3`` (batched; numpy or jax arrays)."""
    return (alpha[..., 0, 0] + alpha[..., 1, 1] + alpha[..., 2, 2]) / 3.0


def anisotropy_sq(alpha):
    """Squared anisotropy ``gamma^2 = 3/2 tr(d^2)``, ``d = sym(alpha) - iso I`` (batched;
    numpy or jax arrays)."""
    a = 0.5 * (alpha + alpha.swapaxes(-1, -2))
    d = a - isotropic(a)[..., None, None] * np.eye(3)
    return 1.5 * (d**2).sum(axis=(-1, -2))


@dataclasses.dataclass(frozen=True, eq=False)
class Labels:
    """Observables of one molecule in one basis (atomic units).

    A label set computed by hamlearn's pyscf pipeline has every array; a published one may
    have only rotation invariants (`invariants`, e.g. QM9: frontier levels, |mu|,
    isotropic polarizability): ``mo_energy`` and ``dipole`` are then None, and `source`
    says where the numbers come from, so label sets are never mixed silently.

    Attributes:
        basis: pyscf basis name the labels were computed in.
        mo_energy: ``(mo,)`` all MO energies, ascending (Hartree), or None.
        nocc: number of doubly occupied orbitals.
        dipole: ``(3,)`` dipole moment (e*Bohr), origin at the nuclear charge centre, or None.
        polarizability_uncoupled: ``(3, 3)`` sum over states of the converged Fock,
            ``4 sum_{i occ, a virt} <i|x|a><a|y|i> / (e_a - e_i)`` (Bohr^3), or None.
        polarizability_coupled: ``(3, 3)`` coupled-perturbed (CPHF/CPKS) static
            polarizability (Bohr^3), or None when not computed.
        e_tot: total SCF energy (Hartree), or None when not known.
        excitation_energies: ``(state,)`` lowest singlet TDA (Tamm-Dancoff TDDFT/CIS)
            excitation energies (Hartree), ascending, or None (``data.excitations: 0``).
        oscillator_strengths: ``(state,)`` their length-gauge oscillator strengths.
        transition_dipoles: ``(state, 3)`` transition dipoles (e Bohr, sign arbitrary).
        invariants: rotation-invariant labels where the full quantity is not known (atomic
            units): ``homo``, ``lumo``, ``gap``, ``dipole_norm``,
            ``polarizability_iso_<kind>``, ``polarizability_aniso_<kind>``, ``r2``.
        source: 'pyscf' (hamlearn's pipeline) or the published data set's name ('qm9').
    """

    basis: str
    mo_energy: np.ndarray | None
    nocc: int
    dipole: np.ndarray | None
    polarizability_uncoupled: np.ndarray | None = None
    polarizability_coupled: np.ndarray | None = None
    e_tot: float | None = None
    excitation_energies: np.ndarray | None = None
    oscillator_strengths: np.ndarray | None = None
    transition_dipoles: np.ndarray | None = None
    invariants: dict = dataclasses.field(default_factory=dict)
    source: str = "pyscf"

    def invariant(self, name: str) -> float | None:
        """A rotation-invariant label: computed from the full quantity when present, else
        the published value in `invariants`, else None."""
        if name in ("homo", "lumo", "gap") and self.mo_energy is not None:
            return float(getattr(self, name))
        if name == "dipole_norm" and self.dipole is not None:
            return float(np.linalg.norm(self.dipole))
        for kind in ("uncoupled", "coupled"):
            alpha = getattr(self, f"polarizability_{kind}")
            if alpha is not None and name == f"polarizability_iso_{kind}":
                return float(isotropic(alpha))
            if alpha is not None and name == f"polarizability_aniso_{kind}":
                return float(np.sqrt(anisotropy_sq(alpha)))
        value = self.invariants.get(name)
        return None if value is None else float(value)

    @property
    def homo(self) -> float:
        if self.mo_energy is None:
            return self._published("homo")
        return float(self.mo_energy[self.nocc - 1])

    @property
    def lumo(self) -> float:
        if self.mo_energy is None:
            return self._published("lumo")
        return float(self.mo_energy[self.nocc])

    @property
    def gap(self) -> float:
        if self.mo_energy is None and "gap" in self.invariants:
            return float(self.invariants["gap"])
        return self.lumo - self.homo

    def _published(self, name: str) -> float:
        if name not in self.invariants:
            raise KeyError(f"no {name} label in basis {self.basis} ({self.source})")
        return float(self.invariants[name])

    def polarizability(self, kind: str) -> np.ndarray:
        """The polarizability of ``kind`` ('uncoupled' or 'coupled'); error if absent."""
        if kind not in ("uncoupled", "coupled"):
            raise ValueError(f"polarizability kind must be 'uncoupled' or 'coupled', got {kind!r}")
        value = getattr(self, f"polarizability_{kind}")
        if value is None:
            raise KeyError(f"no {kind} polarizability stored for basis {self.basis}")
        return value


@dataclasses.dataclass(frozen=True, eq=False)
class ModelBasisData:
    """Model-basis (minimal basis) matrices of one molecule: the QM layer's inputs.

    Attributes:
        basis: pyscf basis name (STO-3G by default).
        ovlp: ``(ao, ao)`` overlap S.
        dip_ints: ``(3, ao, ao)`` dipole integrals ``<mu| r - O |nu>`` (Bohr), with
            ``O = origin``.
        origin: ``(3,)`` the origin of ``dip_ints`` (Bohr): the nuclear charge centre.
        fock: ``(ao, ao)`` converged Fock/Kohn-Sham matrix in this basis (Hartree), or
            None when not available.
    """

    basis: str
    ovlp: np.ndarray
    dip_ints: np.ndarray
    origin: np.ndarray
    fock: np.ndarray | None = None

    @property
    def nao(self) -> int:
        return int(self.ovlp.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class Reference:
    """All reference data of one molecule.

    Attributes:
        structure: the molecule.
        method: 'rhf' or a pyscf DFT functional name (e.g. 'b3lyp').
        model: model-basis matrices (`ModelBasisData`).
        labels: observables per basis name, e.g. ``{'sto-3g': ..., 'def2-tzvp': ...}``;
            the model basis is included when it was computed.
        meta: free-form provenance (pyscf version, SCF settings, source file...).
    """

    structure: Structure
    method: str
    model: ModelBasisData
    labels: dict[str, Labels]
    meta: dict = dataclasses.field(default_factory=dict)

    @property
    def n_electrons(self) -> int:
        return self.structure.n_electrons

    @property
    def nocc(self) -> int:
        """Doubly occupied orbitals (closed shell)."""
        return self.structure.n_electrons // 2

    def target(self, basis: str) -> Labels:
        """Labels in ``basis``; a KeyError naming the molecule and the bases present if absent."""
        key = basis.lower()
        for name, lab in self.labels.items():
            if name.lower() == key:
                return lab
        raise KeyError(f"{self.structure.label}: no labels in basis {basis!r} "
                       f"(have {sorted(self.labels)})")
