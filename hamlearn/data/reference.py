"""One molecule's reference data from pyscf: the `Reference` of `hamlearn.data.record`.

For a `Structure` and `ReferenceSettings` this runs one closed-shell SCF (RHF or RKS with
any pyscf functional) per basis: the model basis (STO-3G by default) and every target
basis. From each converged SCF it keeps, in atomic units:

* ``Labels``: all MO energies, nocc, the dipole about the nuclear charge centre, the
  uncoupled and/or coupled (CPHF/CPKS, pyscf-properties) static polarizability, e_tot;
* in the model basis also ``ModelBasisData``: S, the dipole integrals ``<mu|r - O|nu>``
  with O the nuclear charge centre, and the converged Fock F.

Every label is computed from one final diagonalisation ``F C = S C e`` of the Fock of the
converged density, so the labels are an exact function of the stored F and S (they
differ from pyscf's ``mf.mo_energy`` by less than the SCF convergence).

Example:
    >>> from hamlearn.data.sources import from_ase_name
    >>> settings = ReferenceSettings(method="rhf", target_bases=())
    >>> ref = compute_reference(from_ase_name("H2"), settings)
    >>> ref.target("sto-3g").nocc
    1
"""

from __future__ import annotations

import dataclasses
import functools
import time
import warnings

import numpy as np

from hamlearn.data.record import Labels, ModelBasisData, Reference
from hamlearn.data.structure import Structure, StructureError
from hamlearn.data.validate import MIN_DISTANCE_ANG as MIN_DISTANCE_ANG
from hamlearn.data.validate import validate_structure

POLARIZABILITY_KINDS = ("uncoupled", "coupled")


class ReferenceDataError(ValueError):
    """A molecule whose reference cannot be computed; the message names it and the reason."""


@dataclasses.dataclass(frozen=True)
class ReferenceSettings:
    """How references are computed (everything that changes the numbers).

    Attributes:
        method: 'rhf' (or 'hf') or any pyscf/libxc functional name, e.g. 'b3lyp'.
        model_basis: the minimal basis of the model (F, S, dipole integrals are kept).
        target_bases: further pyscf basis names whose labels are computed.
        polarizability: which polarizabilities to compute: 'uncoupled', 'coupled'.
        conv_tol: SCF energy convergence (Hartree).
        grid_level: DFT integration grid level (ignored for RHF).
        max_cycle: SCF iteration limit; not converging is an error.
        cphf_conv_tol: convergence of the coupled-perturbed equations.
        cart: Cartesian d/f functions (6D/10F) instead of spherical ones (5D/7F) in the
            target bases (the model basis stays spherical: the model's blocks are real
            spherical harmonics in pyscf's order).
        density_fit: density fitting of the Coulomb/exchange integrals (pyscf's default
            auxiliary basis for the orbital basis).
        excitations: lowest singlet excitations per basis (pyscf TDA: Tamm-Dancoff TDDFT,
            CIS for HF): energies, oscillator strengths, transition dipoles; 0: none.
    """

    method: str = "b3lyp"
    model_basis: str = "sto-3g"
    target_bases: tuple[str, ...] = ("def2-svp",)
    polarizability: tuple[str, ...] = POLARIZABILITY_KINDS
    conv_tol: float = 1e-11
    grid_level: int = 4
    max_cycle: int = 100
    cphf_conv_tol: float = 1e-9
    cart: bool = False
    density_fit: bool = False
    excitations: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.lower())
        object.__setattr__(self, "model_basis", self.model_basis.lower())
        object.__setattr__(self, "target_bases", tuple(b.lower() for b in self.target_bases))
        object.__setattr__(self, "polarizability", tuple(self.polarizability))
        bad = [k for k in self.polarizability if k not in POLARIZABILITY_KINDS]
        if bad:
            raise ReferenceDataError(f"data.polarizability: unknown kind(s) {bad}; "
                                     f"choose from {list(POLARIZABILITY_KINDS)}")
        if not self.is_hf:
            _check_functional(self.method)

    @classmethod
    def from_config(cls, data) -> ReferenceSettings:
        """Settings from a `hamlearn.config.DataConfig`."""
        return cls(method=data.method, model_basis=data.model_basis,
                   target_bases=tuple(data.target_bases), polarizability=data.polarizability,
                   conv_tol=data.conv_tol, grid_level=data.grid_level,
                   max_cycle=data.max_cycle, cart=data.cart, density_fit=data.density_fit,
                   excitations=data.excitations)

    @property
    def is_hf(self) -> bool:
        return self.method in ("rhf", "hf")

    @property
    def bases(self) -> tuple[str, ...]:
        """Model basis first, then the target bases, without repeats."""
        return tuple(dict.fromkeys((self.model_basis, *self.target_bases)))

    def cache_items(self) -> tuple:
        """Everything that changes a reference's numbers, for the cache key."""
        import pyscf

        grid = None if self.is_hf else self.grid_level
        items = ("hamlearn-reference-v1", self.method, self.bases, tuple(self.polarizability),
                 self.conv_tol, grid, self.cphf_conv_tol, pyscf.__version__)
        # appended only when set, so the keys of existing caches do not change
        if self.cart:
            items += ("cart",)
        if self.density_fit:
            items += ("density_fit",)
        if self.excitations:
            items += ("tda", int(self.excitations))
        return items

    def as_meta(self) -> dict:
        import pyscf

        return {**dataclasses.asdict(self), "target_bases": list(self.target_bases),
                "polarizability": list(self.polarizability), "pyscf_version": pyscf.__version__}


def _check_functional(method: str) -> None:
    from pyscf.dft import libxc

    try:
        libxc.parse_xc(method)
    except (KeyError, ValueError) as err:
        raise ReferenceDataError(f"data.method: {method!r} is neither 'rhf' nor a functional "
                                 f"pyscf knows ({err})") from None


# --------------------------------------------------------------------------- checks
def check_structure(structure: Structure, settings: ReferenceSettings) -> None:
    """Reject inputs pyscf would fail on or silently mis-compute (`validate_structure`
    with every basis of ``settings``).

    Raises:
        ReferenceDataError: naming the molecule and the reason (non-finite coordinates,
            atoms closer than `MIN_DISTANCE_ANG`, odd electron count without spin,
            open shell, an element a basis lacks).
    """
    try:
        validate_structure(structure, bases=settings.bases)
    except StructureError as err:
        raise ReferenceDataError(str(err)) from None


# --------------------------------------------------------------------------- pyscf
def scf_object(structure: Structure, basis: str, settings: ReferenceSettings):
    """The pyscf RHF/RKS object of ``structure`` in ``basis`` (positions in Bohr) with the
    settings' functional, grid, density fitting and convergence criteria, not yet run."""
    import pyscf.dft
    import pyscf.gto
    import pyscf.scf

    mol = pyscf.gto.M(atom=structure.pyscf_atom(), unit="Bohr", basis=basis,
                      charge=structure.charge, spin=structure.spin,
                      cart=settings.cart and basis.lower() != settings.model_basis, verbose=0)
    if settings.is_hf:
        mf = pyscf.scf.RHF(mol)
    else:
        mf = pyscf.dft.RKS(mol, xc=settings.method)
        mf.grids.level = settings.grid_level
    if settings.density_fit:
        mf = mf.density_fit()
    _no_chkfile(mf)
    mf.conv_tol = settings.conv_tol
    mf.max_cycle = settings.max_cycle
    return mf


def run_scf(structure: Structure, basis: str, settings: ReferenceSettings):
    """A converged pyscf RHF/RKS of ``structure`` in ``basis`` (`scf_object`).

    Raises:
        ReferenceDataError: if the SCF does not converge within ``settings.max_cycle``.
    """
    mf = scf_object(structure, basis, settings)
    mf.kernel()
    if not mf.converged:
        raise ReferenceDataError(f"{structure.label}: {settings.method} SCF in {basis} did not "
                                 f"converge in {settings.max_cycle} cycles")
    return mf


def _no_chkfile(mf) -> None:
    """No checkpoint file: nothing to write, and no temporary file left open."""
    tmp = getattr(mf, "_chkfile", None)
    if tmp is not None:
        tmp.close()
    mf.chkfile = None


def dipole_integrals(mol, origin: np.ndarray) -> np.ndarray:
    """``(3, ao, ao)`` integrals ``<mu| r - origin |nu>`` (Bohr); ``origin`` in Bohr."""
    with mol.with_common_orig(origin):
        return mol.intor_symmetric("int1e_r", comp=3)


@functools.cache
def _parsed_basis(basis: str, element: str):
    """pyscf's parsed basis of one element (parsing the basis file was 40% of building a
    small molecule's integrals)."""
    import pyscf.gto

    return pyscf.gto.basis.load(basis, element)


def _mole(structure: Structure, basis: str):
    """A pyscf ``Mole`` of ``structure`` (Bohr) with the basis pre-parsed per element."""
    import pyscf.gto
    from pyscf.data.elements import ELEMENTS

    symbols = {ELEMENTS[int(z)] for z in structure.numbers}
    # pre-parsed per element; beyond Kr pyscf may pair a basis name with an ECP: left to it
    parsed = ({e: _parsed_basis(basis, e) for e in symbols}
              if max(structure.numbers) <= 36 else basis)
    return pyscf.gto.M(atom=structure.pyscf_atom(), unit="Bohr", basis=parsed,
                       charge=structure.charge, spin=structure.spin, verbose=0)


def r2_integrals(structure: Structure, basis: str, origin: np.ndarray) -> np.ndarray:
    """``(ao, ao)`` integrals ``<mu| |r - origin|^2 |nu>`` (Bohr^2): ``tr(D R2)`` is the
    electronic spatial extent <R^2> (QM9's ``R2_bohr2`` about the nuclear charge centre)."""
    mol = _mole(structure, basis)
    with mol.with_common_orig(np.asarray(origin, float)):
        return mol.intor_symmetric("int1e_r2")


def model_basis_data(structure: Structure, basis: str, *, fock: np.ndarray | None = None,
                     ovlp: np.ndarray | None = None) -> ModelBasisData:
    """Model-basis integrals of ``structure`` without an SCF: S (unless given) and ``<r - O>``
    about the nuclear charge centre; ``fock`` is attached as given.

    Raises:
        ValueError: if a given ``fock`` or ``ovlp`` does not match pyscf's AO count.
    """
    mol = _mole(structure, basis)
    for name, mat in (("Fock", fock), ("overlap", ovlp)):
        if mat is not None and len(mat) != mol.nao:
            raise ValueError(f"{structure.label}: {name} has {len(mat)} AOs, "
                             f"pyscf {basis} has {mol.nao}")
    origin = structure.charge_centre()
    return ModelBasisData(basis=basis,
                          ovlp=mol.intor_symmetric("int1e_ovlp") if ovlp is None else ovlp,
                          dip_ints=dipole_integrals(mol, origin), origin=origin, fock=fock)


def dipole_moment(mol, dm: np.ndarray, dip_ints: np.ndarray, origin: np.ndarray) -> np.ndarray:
    """``(3,)`` dipole (e*Bohr) ``sum_A q_A (R_A - O) - tr(P <r - O>)``.

    ``q_A`` are pyscf's nuclear charges (core charges with an ECP). For a neutral
    molecule this is origin independent and equals ``mf.dip_moment(unit='AU')``.
    """
    nuclear = mol.atom_charges() @ (mol.atom_coords() - origin)
    return nuclear - np.einsum("xij,ji->x", dip_ints, dm)


def uncoupled_polarizability(mo_energy: np.ndarray, mo_coeff: np.ndarray, nocc: int,
                             dip_ints: np.ndarray) -> np.ndarray:
    """``(3, 3)`` sum-over-states polarizability (Bohr^3) of a closed shell.

    ``alpha_xy = 4 sum_{i occ, a virt} <i|x|a><a|y|i> / (e_a - e_i)``.

    Args:
        mo_energy: ``(mo,)`` Hartree; mo_coeff: ``(ao, mo)``; nocc: doubly occupied MOs;
        dip_ints: ``(3, ao, ao)`` position integrals (Bohr).
    """
    r_ov = np.einsum("pi,xpq,qa->xia", mo_coeff[:, :nocc], dip_ints, mo_coeff[:, nocc:])
    denom = mo_energy[None, nocc:] - mo_energy[:nocc, None]
    return 4.0 * np.einsum("xia,yia->xy", r_ov, r_ov / denom)


def coupled_polarizability(mf, conv_tol: float) -> np.ndarray:
    """``(3, 3)`` static CPHF/CPKS polarizability (Bohr^3), pyscf-properties."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Module .* is under testing")
        from pyscf.prop.polarizability.rhf import Polarizability

    pol = Polarizability(mf)
    pol.conv_tol = conv_tol
    pol.max_cycle_cphf = 50
    return np.asarray(pol.polarizability())


def _final_orbitals(mf):
    """The Fock of the converged density and its eigenpairs (set back on ``mf``)."""
    fock = mf.get_fock()
    mo_energy, mo_coeff = mf.eig(fock, mf.get_ovlp())
    mf.mo_energy, mf.mo_coeff = mo_energy, mo_coeff
    mf.mo_occ = mf.get_occ(mo_energy, mo_coeff)
    return fock


#: occupied-virtual pair spaces up to this size are diagonalised exactly (pyscf's A matrix)
FULL_TDA_PAIRS = 400


#: Davidson residual-norm tolerance of `tda_excitations` (pyscf's default): on octatetraene
#: in def2-SVP the energies are stable to 1e-8 Hartree four iterations before the residual
#: reaches it; 1e-7 ran for over 30 minutes on grid-level-1 kernels
TDA_CONV_TOL = 1e-5


def tda_excitations(mf, n_states: int, conv_tol: float = TDA_CONV_TOL) -> dict[str, np.ndarray]:
    """The lowest ``n_states`` singlet excitations of a converged closed-shell SCF by pyscf's
    TDA (Tamm-Dancoff TDDFT; CIS for HF): energies (Hartree), length-gauge oscillator
    strengths and transition dipoles ``(state, 3)`` (e Bohr). Spaces of up to
    `FULL_TDA_PAIRS` pairs are diagonalised exactly, larger ones by pyscf's Davidson solver.

    Raises:
        ReferenceDataError: when the Davidson solver does not converge every state, or the
            molecule has fewer occupied-virtual pairs than ``n_states``.
    """
    mol = mf.mol
    nocc = mol.nelectron // 2
    n_pairs = nocc * (len(mf.mo_energy) - nocc)
    if n_states > n_pairs:
        raise ReferenceDataError(f"{mol.nelectron} electrons in {len(mf.mo_energy)} MOs have "
                                 f"{n_pairs} excitations, fewer than data.excitations="
                                 f"{n_states}")
    td = mf.TDA()
    td.nstates, td.conv_tol, td.verbose = n_states, conv_tol, 0
    td.singlet = True
    if n_pairs <= FULL_TDA_PAIRS:
        # a small space: the exact diagonalisation of pyscf's own A matrix (Davidson can
        # stall when the space is not much larger than the states asked for)
        a_mat = np.asarray(td.get_ab()[0]).reshape(n_pairs, n_pairs)
        w, x = np.linalg.eigh(a_mat)
        w, x = w[:n_states], x[:, :n_states]
        occ, vir = mf.mo_coeff[:, :nocc], mf.mo_coeff[:, nocc:]
        r = mol.intor_symmetric("int1e_r", comp=3)  # <i|r|a>: origin-free (C^T S C = 1)
        d_ia = np.einsum("xmn,mi,na->xia", r, occ, vir).reshape(3, n_pairs)
        tdm = np.sqrt(2.0) * (x.T @ d_ia.T)
        return {"excitation_energies": w, "oscillator_strengths": 2 / 3 * w * np.sum(
            tdm**2, axis=1), "transition_dipoles": tdm}
    # a few states beyond those asked for: Davidson stalls when the last one asked for is
    # cut out of a (near-)degenerate set
    td.nstates, td.max_cycle = min(n_states + 3, n_pairs), 300
    td.kernel()
    converged = np.asarray(td.converged)[:n_states]
    if not np.all(converged):
        raise ReferenceDataError(f"TDA did not converge {int(np.sum(~converged))} of "
                                 f"{n_states} states")
    return {"excitation_energies": np.asarray(td.e, dtype=np.float64)[:n_states],
            "oscillator_strengths": np.asarray(
                td.oscillator_strength(gauge="length"))[:n_states],
            "transition_dipoles": np.asarray(td.transition_dipole())[:n_states]}


def basis_labels(mf, basis: str, settings: ReferenceSettings, origin: np.ndarray):
    """`Labels` of a converged SCF plus ``(fock, dip_ints)`` of its basis."""
    mol = mf.mol
    fock = _final_orbitals(mf)
    nocc = mol.nelectron // 2
    dip_ints = dipole_integrals(mol, origin)
    dm = mf.make_rdm1()
    alpha = {}
    if "uncoupled" in settings.polarizability:
        alpha["uncoupled"] = uncoupled_polarizability(mf.mo_energy, mf.mo_coeff, nocc, dip_ints)
    if "coupled" in settings.polarizability:
        alpha["coupled"] = coupled_polarizability(mf, settings.cphf_conv_tol)
    excited = tda_excitations(mf, settings.excitations) if settings.excitations else {}
    labels = Labels(basis=basis, mo_energy=np.asarray(mf.mo_energy), nocc=nocc,
                    dipole=dipole_moment(mol, dm, dip_ints, origin),
                    polarizability_uncoupled=alpha.get("uncoupled"),
                    polarizability_coupled=alpha.get("coupled"), e_tot=float(mf.e_tot),
                    **excited)
    return labels, fock, dip_ints


def compute_reference(structure: Structure, settings: ReferenceSettings) -> Reference:
    """All reference data of one molecule (see the module docstring).

    Args:
        structure: a closed-shell molecule (positions in Bohr).
        settings: method, bases, SCF settings.

    Returns:
        A `Reference` with ``labels`` keyed by basis name (model basis included) and
        ``meta`` holding the settings, pyscf version and per-basis timings/cycles.

    Raises:
        ReferenceDataError: bad input or an SCF that does not converge (names the molecule).
    """
    check_structure(structure, settings)
    origin = structure.charge_centre()
    labels, model, timings = {}, None, {}
    for basis in settings.bases:
        t0 = time.perf_counter()
        mf = run_scf(structure, basis, settings)
        try:
            labels[basis], fock, dip_ints = basis_labels(mf, basis, settings, origin)
        except ReferenceDataError as err:
            raise ReferenceDataError(f"{structure.label} ({basis}): {err}") from None
        if basis == settings.model_basis:
            model = ModelBasisData(basis=basis, ovlp=mf.get_ovlp(), dip_ints=dip_ints,
                                   origin=origin, fock=fock)
        timings[basis] = {"seconds": round(time.perf_counter() - t0, 3),
                          "scf_cycles": int(getattr(mf, "cycles", -1)), "nao": int(mf.mol.nao)}
    meta = {"settings": settings.as_meta(), "timings": timings}
    return Reference(structure=structure, method=settings.method, model=model, labels=labels,
                     meta=meta)

