"""IR and Raman spectra of a trained hybrid run, and pyscf's own for comparison.

The learned Hamiltonian is a function of the nuclear positions through its features
(`hamlearn.features.featurize.traced_block_batch`) and through the model-basis integrals
(pyscfad, `hamlearn.qm.integrals`), so the QM layer's dipole and polarizability have exact
geometry derivatives by forward-mode AD: the atomic polar tensors ``dmu/dR`` (IR) and
``dalpha/dR`` (Raman). A delta model's baseline ``F0`` is differentiated with the rest where
it is a function of the traced integrals (``huckel``); the others (``sad``, ``gfn2``,
``scf``: a pyscf or tblite calculation) enter through central finite differences of ``F0``
in the AO basis (`BASELINE_STEP`), 6 N baseline calculations a molecule.

Harmonic modes come from a Hessian the user supplies (pyscf's analytic one, `pyscf_hessian`,
or any ase calculator's, `hessian_from_calculator`) through pyscf's `harmonic_analysis`
(translations and rotations projected out). Intensities in the usual units:

* IR: ``A_i = N_A / (12 eps0 c^2) |dmu/dQ_i|^2`` in km/mol (`IR_KM_MOL`);
* Raman activity: ``S_i = 45 a_i^2 + 7 g_i^2`` (Angstrom^4/amu) with ``a`` the mean and
  ``g^2`` the anisotropy of ``dalpha/dQ_i``.

Conventions: APTs are about a fixed lab origin, ``[mu component, atom, displacement]``, so
``sum_A dmu/dR_A = Q * identity`` (Q the total charge) -- the sum rule the tests check.
``dalpha/dR`` is ``[x, y, atom, displacement]`` (Bohr^2). Hessians are Hartree/Bohr^2,
``(atom, atom, 3, 3)`` (pyscf's layout; ``(3N, 3N)`` is accepted).

Example:
    >>> vib = predict_vibrations("runs/ethane", structure, hessian)  # doctest: +SKIP
    >>> vib["frequencies_cm1"], vib["ir_km_mol"], vib["raman_a4_amu"]  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable

import numpy as np
from scipy import constants as sc

from hamlearn.data.structure import Structure
from hamlearn.units import BOHR_TO_ANGSTROM

log = logging.getLogger("hamlearn.training")

#: km/mol per (e^2/amu): ``N_A e^2 / (12 eps0 c^2 amu)`` (974.88)
IR_KM_MOL = sc.N_A * sc.e**2 / (12 * sc.epsilon_0 * sc.c**2 * sc.atomic_mass) / 1e3
#: central-difference step (Bohr) of baselines that are not traced in the positions
BASELINE_STEP = 5e-3
#: central-difference step (Bohr) of the pyscf reference derivatives
REFERENCE_STEP = 5e-3
#: the SCF energy convergence of finite-difference SCFs (the run's, when tighter)
FD_CONV_TOL = 1e-12
#: a pyscf gradient above this (Hartree/Bohr) at a Hessian's geometry is warned about
MAX_GRADIENT = 1e-3
#: baselines the derivatives trace exactly; the rest are finite-differenced
TRACED_BASELINES = ("none", "huckel")


# ---------------------------------------------------------------------- the model's side
def model_derivatives(cfg, model, structure: Structure, *, baseline_step: float = BASELINE_STEP,
                      progress: bool = False) -> dict[str, np.ndarray]:
    """Dipole, polarizability and their geometry derivatives of a hybrid run's model.

    Args:
        cfg: the run's `Config` (``model.kind`` 'hamiltonian').
        model: its `HamiltonianModel`.
        structure: a closed-shell molecule (Bohr) of the run's elements.
        baseline_step: finite-difference step (Bohr) for an untraced baseline.

    Returns:
        ``dipole (3,)`` e Bohr (origin: the nuclear charge centre), ``polarizability
        (3, 3)`` Bohr^3, ``apt (3, atom, 3)`` e (lab origin), ``dalpha (3, 3, atom, 3)``
        Bohr^2, and ``seconds`` (wall time, baseline calculations included).

    Raises:
        DatasetError: a displaced baseline calculation failed.
    """
    import jax
    import jax.numpy as jnp

    from hamlearn.features.featurize import traced_block_batch
    from hamlearn.qm.integrals import build_mole, qm_inputs_from_mol
    from hamlearn.qm.layer import qm_forward

    t0 = time.perf_counter()
    basis, kind = cfg.model.basis, cfg.model.baseline
    mol = build_mole(structure, basis)
    nao = int(mol.nao)
    batch_of = traced_block_batch(structure, cfg.features, basis)
    huckel = None
    if kind == "huckel":
        from hamlearn.qm.huckel import extended_huckel_fock, huckel_onsite

        onsite = huckel_onsite(mol)
        huckel = lambda ovlp: extended_huckel_fock(ovlp, onsite)
    if kind in TRACED_BASELINES:
        f0 = jnp.zeros((nao, nao))
        df0 = jnp.zeros((3 * structure.n_atoms, nao, nao))
    else:
        f0, df0 = baseline_derivative(structure, cfg, baseline_step, progress=progress)

    def props(m, base):
        inputs = qm_inputs_from_mol(m)
        fock = model(batch_of(m.atom_coords()))[0, :nao, :nao] + base
        if huckel is not None:
            fock = fock + huckel(inputs.ovlp)
        out = qm_forward(fock, inputs)
        return out["dipole"], out["polarizability"]

    treedef = jax.tree_util.tree_structure(mol)
    n = structure.n_atoms
    units = jnp.eye(3 * n).reshape(3 * n, n, 3)

    @jax.jit
    def derivatives(m, base, d_base):
        primal, lin = jax.linearize(props, m, base)
        tangent = jax.vmap(lambda e, t: lin(jax.tree_util.tree_unflatten(treedef, [e]), t))
        return primal, tangent(units, d_base)

    (mu, alpha), (dmu, dalpha) = derivatives(mol, jnp.asarray(f0), jnp.asarray(df0))
    apt = np.asarray(dmu).reshape(n, 3, 3).transpose(2, 0, 1)  # (x, atom, disp)
    dalpha = np.asarray(dalpha).reshape(n, 3, 3, 3).transpose(2, 3, 0, 1)
    return {"dipole": np.asarray(mu), "polarizability": np.asarray(alpha),
            "apt": lab_origin_apt(apt, structure), "dalpha": dalpha,
            "seconds": time.perf_counter() - t0}


def lab_origin_apt(apt_moving: np.ndarray, structure: Structure) -> np.ndarray:
    """APTs about a fixed origin from those about the nuclear charge centre, which moves
    with the atoms: ``mu_lab = mu_O + Q O`` with ``O = sum_A Z_A R_A / sum Z``, so
    ``dmu_lab/dR_A = dmu_O/dR_A + Q Z_A / sum(Z) * identity``."""
    z = np.asarray(structure.numbers, float)
    return apt_moving + structure.charge * np.einsum("a,xy->xay", z / z.sum(), np.eye(3))


def displaced(structure: Structure, atom: int, axis: int, step: float) -> Structure:
    """``structure`` with one coordinate moved by ``step`` Bohr (same name and charge)."""
    pos = np.array(structure.positions, dtype=float)
    pos[atom, axis] += step
    return dataclasses.replace(structure, positions=pos)


def _central_differences(structure: Structure, fn: Callable, step: float, *,
                         progress: bool, desc: str):
    """``(fn(structure), [(fn(+h) - fn(-h)) / 2h for each coordinate])``; ``fn`` returns a
    tuple of arrays, the derivatives are stacked over the ``3 N`` coordinates (atom major)."""
    from tqdm.auto import tqdm

    centre = fn(structure)
    diffs = []
    coords = [(a, x) for a in range(structure.n_atoms) for x in range(3)]
    for a, x in tqdm(coords, desc=desc, unit="coord", disable=not progress,
                     dynamic_ncols=True):
        plus, minus = fn(displaced(structure, a, x, step)), fn(displaced(structure, a, x, -step))
        diffs.append([(p - m) / (2 * step) for p, m in zip(plus, minus)])
    return centre, [np.stack(d) for d in zip(*diffs)]


def baseline_derivative(structure: Structure, cfg, step: float = BASELINE_STEP, *,
                        progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """``F0`` and ``dF0/dR`` ``(3 N, ao, ao)`` (atom major) of the run's baseline by
    central differences in the AO basis (no cache: displaced geometries are not data);
    pyscf SCFs converged to at least `FD_CONV_TOL`."""
    from hamlearn.data.baseline import baseline_focks
    from hamlearn.data.reference import ReferenceSettings
    from hamlearn.training.references import unlabelled_reference

    settings = ReferenceSettings.from_config(cfg.data)
    settings = dataclasses.replace(settings, conv_tol=min(settings.conv_tol, FD_CONV_TOL))

    def f0(s):
        (fock,) = baseline_focks([unlabelled_reference(s, cfg.model.basis)],
                                 cfg.model.baseline, settings, None)
        return (np.asarray(fock),)

    (centre,), (d,) = _central_differences(structure, f0, step, progress=progress,
                                           desc=f"baseline {cfg.model.baseline}")
    return centre, d


# ------------------------------------------------------------------- pyscf's reference
def reference_derivatives(structure: Structure, basis: str, settings, *,
                          polarizability: str = "uncoupled", step: float = REFERENCE_STEP,
                          progress: bool = False) -> dict[str, np.ndarray]:
    """pyscf's dipole and polarizability and their geometry derivatives in ``basis`` (the
    run's method, `ReferenceSettings`) by central differences of converged SCFs (6 N + 1),
    same conventions and keys as `model_derivatives`; ``polarizability`` 'uncoupled' (sum
    over states of the converged Fock) or 'coupled' (CPKS)."""
    from hamlearn.data.reference import basis_labels, run_scf

    t0 = time.perf_counter()
    settings = dataclasses.replace(settings, conv_tol=min(settings.conv_tol, FD_CONV_TOL),
                                   polarizability=(polarizability,), excitations=0)

    def labels(s):
        lab, _, _ = basis_labels(run_scf(s, basis, settings), basis, settings,
                                 s.charge_centre())
        return np.asarray(lab.dipole), np.asarray(getattr(lab, f"polarizability_{polarizability}"))

    (mu, alpha), (dmu, dalpha) = _central_differences(structure, labels, step,
                                                      progress=progress, desc=f"pyscf {basis}")
    n = structure.n_atoms
    apt = dmu.reshape(n, 3, 3).transpose(2, 0, 1)
    return {"dipole": mu, "polarizability": alpha, "apt": lab_origin_apt(apt, structure),
            "dalpha": dalpha.reshape(n, 3, 3, 3).transpose(2, 3, 0, 1),
            "seconds": time.perf_counter() - t0}


def pyscf_hessian(structure: Structure, basis: str, settings) -> np.ndarray:
    """pyscf's analytic Hessian ``(atom, atom, 3, 3)`` (Hartree/Bohr^2) of the converged
    SCF with the run's method in ``basis``."""
    from hamlearn.data.reference import run_scf

    settings = dataclasses.replace(settings, conv_tol=min(settings.conv_tol, FD_CONV_TOL))
    mf = run_scf(structure, basis, settings)
    grad = np.abs(mf.nuc_grad_method().kernel()).max()
    if grad > MAX_GRADIENT:
        log.warning("%s: largest %s/%s gradient %.1e Hartree/Bohr: not a stationary point, "
                    "so its harmonic modes are not the molecule's (relax it first: "
                    "`optimize_geometry`)", structure.label, settings.method, basis, grad)
    return np.asarray(mf.Hessian().kernel())


def optimize_geometry(structure: Structure, basis: str, settings, *, fmax: float = 2e-4,
                      steps: int = 100) -> Structure:
    """``structure`` relaxed to a minimum with the run's method in ``basis`` (ase's BFGS on
    pyscf's analytic gradient; ``fmax`` Hartree/Bohr): harmonic modes need a stationary
    point.

    Raises:
        ReferenceDataError: an SCF failed, or no convergence within ``steps``.
    """
    from ase.calculators.calculator import Calculator, all_changes
    from ase.optimize import BFGS
    from ase.units import Bohr, Hartree

    from hamlearn.data.reference import ReferenceDataError, run_scf

    settings = dataclasses.replace(settings, conv_tol=min(settings.conv_tol, FD_CONV_TOL))

    class _PySCF(Calculator):
        implemented_properties = ("energy", "forces")

        def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
            super().calculate(atoms, properties, system_changes)
            s = Structure.from_atoms(self.atoms, charge=structure.charge, spin=structure.spin,
                                     name=structure.name)
            mf = run_scf(s, basis, settings)
            grad = mf.nuc_grad_method().kernel()
            self.results = {"energy": mf.e_tot * Hartree, "forces": -grad * Hartree / Bohr}

    atoms = structure.to_atoms()
    atoms.calc = _PySCF()
    opt = BFGS(atoms, logfile=None)
    if not opt.run(fmax=fmax * Hartree / Bohr, steps=steps):
        raise ReferenceDataError(f"{structure.label}: geometry not converged in {steps} steps")
    return Structure.from_atoms(atoms, charge=structure.charge, spin=structure.spin,
                                name=structure.name)


def hessian_from_calculator(structure: Structure, calc, step_ang: float = 0.005) -> np.ndarray:
    """The Hessian ``(atom, atom, 3, 3)`` (Hartree/Bohr^2) of any ase calculator with
    forces, by central differences of its forces (``step_ang`` Angstrom), symmetrised."""
    from ase.units import Bohr, Hartree

    atoms = structure.to_atoms()
    atoms.calc = calc
    n = len(atoms)
    h = np.zeros((n, 3, n, 3))
    for a in range(n):
        for x in range(3):
            forces = []
            for sign in (1, -1):
                moved = atoms.copy()
                moved.calc = calc
                moved.positions[a, x] += sign * step_ang
                forces.append(moved.get_forces())
            h[a, x] = -(forces[0] - forces[1]) / (2 * step_ang)  # eV/Angstrom^2
    h = 0.5 * (h + h.transpose(2, 3, 0, 1)) * Bohr**2 / Hartree
    return h.transpose(0, 2, 1, 3)


# ------------------------------------------------------------ modes and intensities
def as_pyscf_hessian(hessian, n_atoms: int) -> np.ndarray:
    """A Hessian as ``(atom, atom, 3, 3)``; ``(3N, 3N)`` (atom-major coordinates) accepted.

    Raises:
        ValueError: for another shape or a non-finite or asymmetric matrix.
    """
    h = np.asarray(hessian, dtype=float)
    if h.shape == (3 * n_atoms, 3 * n_atoms):
        h = h.reshape(n_atoms, 3, n_atoms, 3).transpose(0, 2, 1, 3)
    if h.shape != (n_atoms, n_atoms, 3, 3):
        raise ValueError(f"Hessian of shape {h.shape}; expected ({n_atoms}, {n_atoms}, 3, 3) "
                         f"or ({3 * n_atoms}, {3 * n_atoms}) for {n_atoms} atoms")
    if not np.all(np.isfinite(h)):
        raise ValueError("the Hessian has non-finite entries")
    flat = h.transpose(0, 2, 1, 3).reshape(3 * n_atoms, 3 * n_atoms)
    asym = np.abs(flat - flat.T).max()
    if asym > 1e-4 * max(np.abs(flat).max(), 1e-12):
        raise ValueError(f"the Hessian is not symmetric (largest asymmetry {asym:.2e})")
    return h


def harmonic_modes(structure: Structure, hessian) -> dict[str, np.ndarray]:
    """Harmonic frequencies and Cartesian normal modes (pyscf's `harmonic_analysis`:
    isotope-averaged masses, translations and rotations projected out).

    Returns:
        ``frequencies_cm1 (mode,)`` (imaginary ones as negative numbers) and ``modes
        (mode, atom, 3)``: Cartesian displacements per unit mass-weighted normal
        coordinate (amu^-1/2).
    """
    from pyscf import gto
    from pyscf.hessian.thermo import harmonic_analysis

    mol = gto.M(atom=structure.pyscf_atom(), unit="Bohr", basis="sto-3g",
                charge=structure.charge, spin=structure.spin, verbose=0)
    res = harmonic_analysis(mol, as_pyscf_hessian(hessian, structure.n_atoms),
                            imaginary_freq=False)
    return {"frequencies_cm1": np.asarray(res["freq_wavenumber"], float),
            "modes": np.asarray(res["norm_mode"], float)}


def ir_intensities(apt: np.ndarray, modes: np.ndarray) -> np.ndarray:
    """IR intensities (km/mol) of ``modes (mode, atom, 3)`` from APTs ``(3, atom, 3)`` (e)."""
    dmu_dq = np.einsum("xay,iay->ix", apt, modes)  # e / amu^1/2
    return IR_KM_MOL * np.sum(dmu_dq**2, axis=1)


def raman_activities(dalpha: np.ndarray, modes: np.ndarray) -> np.ndarray:
    """Raman activities ``45 a^2 + 7 g^2`` (Angstrom^4/amu) of ``modes (mode, atom, 3)``
    from ``dalpha/dR (3, 3, atom, 3)`` (Bohr^2)."""
    d = np.einsum("xyaz,iaz->ixy", dalpha, modes) * BOHR_TO_ANGSTROM**2  # A^2 / amu^1/2
    d = 0.5 * (d + np.swapaxes(d, 1, 2))
    mean = np.trace(d, axis1=1, axis2=2) / 3
    dev = d - mean[:, None, None] * np.eye(3)
    aniso = 1.5 * np.sum(dev**2, axis=(1, 2))  # = the usual g^2 of the six components
    return 45 * mean**2 + 7 * aniso


def vibrational_spectrum(derivs: dict, modes: dict) -> dict[str, list]:
    """Per mode: frequency (cm^-1), IR intensity (km/mol), Raman activity (A^4/amu)."""
    return {"frequencies_cm1": modes["frequencies_cm1"].tolist(),
            "ir_km_mol": ir_intensities(derivs["apt"], modes["modes"]).tolist(),
            "raman_a4_amu": raman_activities(derivs["dalpha"], modes["modes"]).tolist()}


def lorentzian(freqs, weights, grid, fwhm: float) -> np.ndarray:
    """Lorentzian-broadened stick spectrum on ``grid`` (same units as ``freqs``; each
    line integrates to its weight)."""
    g = 0.5 * fwhm
    x = np.asarray(grid)[:, None] - np.asarray(freqs)[None, :]
    return (g / np.pi / (x * x + g * g)) @ np.asarray(weights)


# ------------------------------------------------------------------ a run's spectra
def read_hessians(path, structures) -> list[np.ndarray]:
    """Hessians (Hartree/Bohr^2) of ``structures`` from a file: ``.npy`` (one structure)
    or ``.npz`` with one array per structure, keyed by its label or its position (``'0'``).

    Raises:
        ValueError: a structure without a Hessian, or a wrong shape.
    """
    from pathlib import Path

    path = Path(path)
    if path.suffix == ".npy":
        if len(structures) != 1:
            raise ValueError(f"{path}: one Hessian (.npy) for {len(structures)} structures; "
                             "use an .npz with one array per structure")
        arrays = [np.load(path)]
    elif path.suffix == ".npz":
        with np.load(path) as z:
            missing = [s.label for k, s in enumerate(structures)
                       if s.label not in z and str(k) not in z]
            if missing:
                raise ValueError(f"{path}: no Hessian for {missing} (keys: {sorted(z.files)})")
            arrays = [z[s.label] if s.label in z else z[str(k)]
                      for k, s in enumerate(structures)]
    else:
        raise ValueError(f"{path}: a Hessian file is .npy or .npz (Hartree/Bohr^2)")
    return [as_pyscf_hessian(h, s.n_atoms) for h, s in zip(arrays, structures)]


def predict_vibrations(run_dir, structures, hessians="pyscf", *, hessian_basis: str | None = None,
                       reference: bool = False, progress: bool = False) -> list[dict]:
    """IR and Raman spectra of ``structures`` from a hybrid run, one entry per structure:
    ``frequencies_cm1``, ``ir_km_mol``, ``raman_a4_amu``, ``apt_e`` (lab origin),
    ``seconds``; with ``reference`` pyscf's own (the run's method and target basis, by
    finite differences) under ``reference`` with the same keys, and the mean absolute
    errors ``mae_ir_km_mol``, ``mae_raman_a4_amu``, ``mae_apt_e``. Both use the same modes.

    Args:
        hessians: ``'pyscf'`` (the analytic Hessian with the run's method in
            ``hessian_basis``, default the target basis) or one array per structure.

    Raises:
        ConfigError: for a run that does not predict a Hamiltonian.
    """
    from tqdm.auto import tqdm

    from hamlearn.config import ConfigError
    from hamlearn.data.reference import ReferenceSettings
    from hamlearn.data.validate import split_valid
    from hamlearn.errors import DatasetError
    from hamlearn.runs import load_run

    cfg, model = load_run(run_dir)
    if cfg.model.kind != "hamiltonian":
        raise ConfigError(f"{run_dir}: model.kind {cfg.model.kind!r} predicts no Hamiltonian "
                          "to differentiate; use a hybrid run")
    settings = ReferenceSettings.from_config(cfg.data)
    basis = hessian_basis or cfg.train.target_basis
    _, rejected = split_valid(structures, bases=(cfg.model.basis,),
                              species=cfg.features.species)
    bad = {r.name: {"name": r.name, "ok": False, "error": r.reason} for r in rejected}
    given = None if isinstance(hessians, str) else list(hessians)
    out = []
    for k, s in enumerate(tqdm(structures, desc="vibrations", unit="mol",
                               disable=not progress, dynamic_ncols=True)):
        if s.label in bad:
            out.append(bad[s.label])
            continue
        try:
            t0 = time.perf_counter()
            hess = (pyscf_hessian(s, basis, settings) if given is None
                    else as_pyscf_hessian(given[k], s.n_atoms))
            t_hess = time.perf_counter() - t0
            modes = harmonic_modes(s, hess)
            mine = model_derivatives(cfg, model, s)
            entry = {"name": s.label, "ok": True, **vibrational_spectrum(mine, modes),
                     "apt_e": mine["apt"].tolist(), "seconds": mine["seconds"],
                     "hessian": {"source": "pyscf" if given is None else "given",
                                 **({"basis": basis, "seconds": t_hess} if given is None
                                    else {})}}
            if reference:
                ref = reference_derivatives(s, cfg.train.target_basis, settings,
                                            polarizability=cfg.train.loss.polarizability_kind)
                entry["reference"] = {"basis": cfg.train.target_basis,
                                      "method": cfg.data.method,
                                      **vibrational_spectrum(ref, modes),
                                      "apt_e": ref["apt"].tolist(), "seconds": ref["seconds"]}
                for key in ("ir_km_mol", "raman_a4_amu", "apt_e"):
                    entry[f"mae_{key}"] = float(np.mean(np.abs(
                        np.subtract(entry[key], entry["reference"][key]))))
        except (DatasetError, ValueError) as err:
            entry = {"name": s.label, "ok": False, "error": f"{s.label}: {err}"}
        out.append(entry)
    return out


def write_vibrational_spectra(entries: list[dict], prefix, *, fwhm_cm1: float = 20.0,
                              grid_cm1: tuple = (0.0, 4000.0, 4001), max_panels: int = 6):
    """``prefix_ir.csv`` / ``prefix_raman.csv`` (wavenumber, one Lorentzian-broadened column
    per molecule and per pyscf reference) and ``prefix_vib.png`` (IR above Raman per
    molecule, sticks and curves). Entries without ``vibrations`` are skipped."""
    import matplotlib

    matplotlib.use("Agg")
    from pathlib import Path

    import matplotlib.pyplot as plt

    ok = [e for e in entries if e.get("ok") and "vibrations" in e]
    if not ok:
        return []
    grid = np.linspace(*grid_cm1)
    written = []
    for key, name in (("ir_km_mol", "ir"), ("raman_a4_amu", "raman")):
        cols, names = [grid], ["wavenumber_cm1"]
        for e in ok:
            v = e["vibrations"]
            cols.append(lorentzian(v["frequencies_cm1"], v[key], grid, fwhm_cm1))
            names.append(e["name"])
            if "reference" in v:
                r = v["reference"]
                cols.append(lorentzian(v["frequencies_cm1"], r[key], grid, fwhm_cm1))
                names.append(f"{e['name']} (pyscf {r['method']}/{r['basis']})")
        path = Path(f"{prefix}_{name}.csv")
        np.savetxt(path, np.stack(cols, axis=1), delimiter=",", comments="",
                   header=",".join(n.replace(",", ";") for n in names))
        written.append(path)
    shown = ok[:max_panels]
    fig, axes = plt.subplots(2, len(shown), figsize=(4.2 * len(shown), 5.4), squeeze=False)
    for col, e in enumerate(shown):
        v = e["vibrations"]
        for row, (key, label) in enumerate((("ir_km_mol", "IR (km/mol)"),
                                            ("raman_a4_amu", "Raman (A^4/amu)"))):
            ax = axes[row, col]
            ax.vlines(v["frequencies_cm1"], 0, v[key], colors="C0", lw=2, label="model")
            if "reference" in v:
                ax.vlines(np.asarray(v["frequencies_cm1"]) + 15, 0, v["reference"][key],
                          colors="k", lw=2, label=f"pyscf/{v['reference']['basis']}")
            ax.set(xlabel="wavenumber (cm$^{-1}$)", ylabel=label,
                   title=e["name"] if row == 0 else None)
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    png = Path(f"{prefix}_vib.png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return written + [png]
