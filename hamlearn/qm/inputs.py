"""`QMInputs`: everything the QM layer needs about one molecule besides its Fock matrix."""

from __future__ import annotations

import equinox as eqx
import numpy as np
from jaxtyping import Array, Bool, Float

from hamlearn.arrays import to_device
from hamlearn.data.record import ModelBasisData
from hamlearn.data.structure import Structure
from hamlearn.qm.density import closed_shell_occupations


class QMInputs(eqx.Module):
    """Per-molecule inputs of `qm_forward` (a pytree; stack/vmap it for batches).

    Attributes:
        ovlp: ``(ao, ao)`` overlap S, pyscf AO order.
        dip_ints: ``(3, ao, ao)`` dipole integrals ``<mu| r - O |nu>`` (Bohr).
        nuclear_dipole: ``(3,)`` ``sum_A Z_A (R_A - O)`` (e*Bohr), same origin O.
        mo_occ: ``(mo,)`` occupations (2/0 for closed shells; 0 on padded MOs).
        ao_mask: ``(ao,)`` bool, True on real AOs, False on padding (at the end).
        r2_ints: ``(ao, ao)`` integrals ``<mu| |r - O|^2 |nu>`` (Bohr^2), same origin, or
            None: then the layer returns no ``r2`` (electronic spatial extent <R^2>).
        base_fock: ``(ao, ao)`` a physical baseline Hamiltonian (Hartree, pyscf AO order;
            `hamlearn.data.baseline`) that the model's output is added to (delta learning),
            or None (the model predicts F itself).
        gamma_j, gamma_k: ``(ao, ao)`` the excitation layer's damped Coulomb kernels on AO
            pairs (`hamlearn.qm.excitations.ao_kernels`), or None: then the layer returns
            no excitations.
        stda: the excitation layer's `STDASettings` (static), with ``gamma_j``/``gamma_k``.

    A batch (`hamlearn.qm.padding.pad_batch`) has the same fields with a leading
    ``batch`` axis.
    """

    ovlp: Float[Array, "ao ao"]
    dip_ints: Float[Array, "3 ao ao"]
    nuclear_dipole: Float[Array, " 3"]
    mo_occ: Float[Array, " mo"]
    ao_mask: Bool[Array, " ao"]
    r2_ints: Float[Array, "ao ao"] | None = None
    base_fock: Float[Array, "ao ao"] | None = None
    gamma_j: Float[Array, "ao ao"] | None = None
    gamma_k: Float[Array, "ao ao"] | None = None
    stda: object = eqx.field(static=True, default=None)

    #: the fields a molecule may lack (None); a batch has each for all molecules or none
    OPTIONAL = ("r2_ints", "base_fock", "gamma_j", "gamma_k")

    @property
    def nao(self) -> int:
        """AO count (padded AOs included)."""
        return int(self.ovlp.shape[-1])

    @classmethod
    def from_arrays(cls, ovlp, dip_ints, nuclear_dipole, nocc: int) -> QMInputs:
        """Closed-shell inputs from host/JAX arrays (``nocc`` doubly occupied MOs, no padding)."""
        ovlp = to_device(ovlp, np.float64)
        nao = ovlp.shape[-1]
        _check_nocc(nocc, nao)
        return cls(
            ovlp=ovlp,
            dip_ints=to_device(dip_ints, np.float64),
            nuclear_dipole=to_device(nuclear_dipole, np.float64),
            mo_occ=closed_shell_occupations(nao, nocc),
            ao_mask=to_device(np.ones(nao, bool)),
        )

    @classmethod
    def from_model_data(cls, model: ModelBasisData, structure: Structure, *,
                        r2: bool = False, base_fock: np.ndarray | None = None,
                        excitations=None) -> QMInputs:
        """Inputs of a closed-shell molecule from its model-basis data, as host (numpy)
        arrays (`pad_batch` them, or pass them to a jitted `qm_forward`).

        The nuclear dipole is taken about ``model.origin``, the origin of
        ``model.dip_ints``; with ``r2`` the ``<|r - O|^2>`` integrals about the same origin
        are computed (pyscf, ~1 ms) so that the layer returns <R^2>; ``base_fock`` (the
        baseline Hamiltonian of delta learning) is attached as given; with ``excitations``
        (`hamlearn.qm.excitations.STDASettings`) the layer's AO-pair kernels are computed
        and the layer returns the excitations too.

        Raises:
            ValueError: for an open-shell structure (odd electron count or ``spin != 0``).
        """
        if structure.spin != 0 or structure.n_electrons % 2:
            raise ValueError(f"{structure.label}: QMInputs are closed shell "
                             f"(n_electrons={structure.n_electrons}, spin={structure.spin})")
        nocc, nao = structure.n_electrons // 2, len(model.ovlp)
        _check_nocc(nocc, nao, f"{structure.label}: ")
        # host (numpy) arrays: a dataset's inputs are batched by `pad_batch` on the host, and
        # one device transfer per molecule here cost more than its integrals (2 ms each);
        # so is the nuclear dipole (`hamlearn.qm.properties.nuclear_dipole` in numpy)
        nuc = np.asarray(structure.numbers, np.float64) @ (
            np.asarray(structure.positions) - np.asarray(model.origin))
        r2_ints = None
        if r2:
            from hamlearn.data.reference import r2_integrals

            r2_ints = r2_integrals(structure, model.basis, model.origin)
            if r2_ints.shape != (nao, nao):
                raise ValueError(f"{structure.label}: {model.basis} r^2 integrals have "
                                 f"{len(r2_ints)} AOs, the model data {nao}")
        if base_fock is not None:
            base_fock = np.asarray(base_fock, np.float64)
            if base_fock.shape != (nao, nao):
                raise ValueError(f"{structure.label}: baseline Fock {base_fock.shape}, "
                                 f"the model data has {nao} AOs")
        gamma_j = gamma_k = None
        if excitations is not None:
            from hamlearn.data.reference import _mole
            from hamlearn.qm.excitations import ao_kernels

            ao_atom = [a for a, *_ in _mole(structure, model.basis).ao_labels(fmt=False)]
            gamma_j, gamma_k = ao_kernels(structure.numbers, structure.positions, ao_atom,
                                          excitations)
        return cls(ovlp=np.asarray(model.ovlp, np.float64),
                   dip_ints=np.asarray(model.dip_ints, np.float64),
                   nuclear_dipole=nuc, mo_occ=np.where(np.arange(nao) < nocc, 2.0, 0.0),
                   ao_mask=np.ones(nao, bool), r2_ints=r2_ints, base_fock=base_fock,
                   gamma_j=gamma_j, gamma_k=gamma_k, stda=excitations)


def _check_nocc(nocc: int, nao: int, where: str = "") -> None:
    if not 0 < nocc < nao:
        raise ValueError(f"{where}nocc={nocc} must be in 1..nao-1={nao - 1} (closed shell)")
