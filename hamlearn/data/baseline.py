"""Physical baseline Hamiltonians in the model basis, for delta learning (`model.baseline`).

With a baseline ``F0`` the model predicts a correction: ``F = F0 + dF(features)``; the ridge
initialisation fits ``dF`` to ``F_scf - F0`` and indirect training corrects from there. The
baselines, cheapest first (all in the model basis, pyscf AO order, Hartree; each is
available at inference, for molecules without any reference):

* ``huckel``: extended Hueckel on the overlap (`hamlearn.qm.huckel`; no integrals beyond S).
* ``sad``: the Fock/Kohn-Sham matrix of a superposition of atomic densities: pyscf's
  spherically averaged atomic HF densities in the model basis (``init_guess_by_atom``), one
  Fock build with the run's functional and grid, no SCF iterations.
* ``gfn2``: the converged GFN2-xTB Hamiltonian (tblite, ~10 ms a molecule) carried into the
  model basis: its SCC Fock ``S_x C e C^T S_x`` Loewdin-orthogonalised in xTB's valence basis,
  placed on the model basis's valence AOs of the Loewdin-orthogonalised model basis (core AOs:
  the extended-Hueckel core level, no coupling) and transformed back, ``F0 = S^1/2 H S^1/2``.
  Its generalised eigenvalues are exactly GFN2-xTB's orbital energies plus the core levels.
  Needs ``pip install -e '.[xtb]'``; H, C, N, O and F.
* ``scf``: the converged model-basis SCF Fock (the plain minimal-basis calculation itself),
  from the reference when it has one, else computed through the reference cache.

``sad`` and ``gfn2`` matrices are cached one file per molecule under
``<cache_dir>/baseline-<kind>/`` (keyed by geometry, functional, basis, grid and the pyscf or
tblite version); ``scf`` ones are reference
records of the cache itself.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hamlearn.data.record import ModelBasisData, Reference
from hamlearn.data.reference import ReferenceDataError, ReferenceSettings, scf_object
from hamlearn.data.structure import Structure
from hamlearn.errors import DatasetError

log = logging.getLogger("hamlearn.data")

BASELINES = ("none", "huckel", "sad", "gfn2", "scf")
#: elements whose GFN2-xTB valence shells (H: 1s; C-F: 2s, 2p) map one to one onto the
#: last s and p shells of a minimal basis
GFN2_ELEMENTS = (1, 6, 7, 8, 9)
#: tblite's order of a p shell (real spherical m = -1, 0, 1: y, z, x) in pyscf's (x, y, z)
_XTB_P = {"x": 2, "y": 0, "z": 1}


def huckel_baseline(structure: Structure, model: ModelBasisData) -> np.ndarray:
    """Extended-Hueckel ``F0`` on the model-basis overlap (Hartree)."""
    from hamlearn.data.reference import _mole
    from hamlearn.qm.huckel import extended_huckel_fock, huckel_onsite

    mol = _mole(structure, model.basis)
    try:
        onsite = huckel_onsite(mol)
    except KeyError as err:
        raise ReferenceDataError(f"{structure.label}: no extended-Hueckel on-site energy for "
                                 f"{err.args[0]} (model.baseline: huckel)") from None
    return np.asarray(extended_huckel_fock(np.asarray(model.ovlp), onsite))


def sad_density(mf) -> np.ndarray:
    """``(ao, ao)`` superposition of spherically averaged atomic HF densities (pyscf's
    ``init_guess_by_atom``) in ``mf``'s basis: block diagonal over atoms."""
    import warnings

    with warnings.catch_warnings():  # pyscf's atomic HF calls its own deprecated helper
        warnings.filterwarnings("ignore", "remove_linear_dep_ is deprecated",
                                DeprecationWarning)
        return np.asarray(mf.init_guess_by_atom())


def sad_fock(structure: Structure, settings: ReferenceSettings) -> np.ndarray:
    """``F0 = h + J[D0] + V_xc[D0]`` (or ``- K[D0] / 2`` for HF) of the atomic-density
    superposition ``D0`` (`sad_density`), with the run's method and grid in the model basis."""
    mf = scf_object(structure, settings.model_basis, settings)
    return np.asarray(mf.get_fock(dm=sad_density(mf)))


def gfn2_result(structure: Structure):
    """The converged GFN2-xTB single point (tblite) of ``structure``: overlap, orbital
    coefficients, energies and density in xTB's own AO basis.

    Raises:
        ReferenceDataError: tblite is not installed, an element outside `GFN2_ELEMENTS`, an
            open shell, or an SCC that fails.
    """
    try:
        from tblite.interface import Calculator
    except ImportError:
        raise ReferenceDataError("model.baseline gfn2 needs tblite: pip install -e '.[xtb]'") \
            from None
    bad = sorted({int(z) for z in structure.numbers} - set(GFN2_ELEMENTS))
    if bad:
        raise ReferenceDataError(f"{structure.label}: no GFN2-xTB baseline for element(s) "
                                 f"{bad} (supported: {list(GFN2_ELEMENTS)})")
    if structure.spin:
        raise ReferenceDataError(f"{structure.label}: the gfn2 baseline is closed-shell only")
    calc = Calculator("GFN2-xTB", np.asarray(structure.numbers), structure.positions,
                      float(structure.charge), 0)
    calc.set("verbosity", 0)
    calc.set("save-integrals", 1)
    try:
        return calc.singlepoint()
    except RuntimeError as err:
        raise ReferenceDataError(f"{structure.label}: GFN2-xTB failed: {err}") from None


def _sym_power(ovlp: np.ndarray, power: float) -> np.ndarray:
    w, v = np.linalg.eigh(ovlp)
    return (v * w**power) @ v.T


def gfn2_fock(structure: Structure, model: ModelBasisData) -> np.ndarray:
    """GFN2-xTB's converged Hamiltonian as a model-basis ``F0`` (Hartree), see the module
    docstring: ``eigh(F0, S)`` gives GFN2-xTB's orbital energies and one core level per heavy
    atom (its extended-Hueckel on-site energy)."""
    from hamlearn.data.reference import _mole
    from hamlearn.qm.huckel import ONSITE_HARTREE

    res = gfn2_result(structure)
    sx = np.asarray(res.get("overlap-matrix"))
    c = np.asarray(res.get("orbital-coefficients"))
    e = np.asarray(res.get("orbital-energies"))
    fx = sx @ (c * e) @ c.T @ sx  # the SCC Fock: F C = S C e with C^T S C = 1
    sx_ih = _sym_power(sx, -0.5)
    h_xtb = sx_ih @ fx @ sx_ih  # Loewdin-orthogonal valence Hamiltonian
    mol = _mole(structure, model.basis)
    labels = mol.ao_labels(fmt=False)
    nao = len(labels)
    # xTB's AOs per atom: H 1s; C-F 2s then p (y, z, x)
    n_xtb = [1 if z == 1 else 4 for z in structure.numbers]
    if sum(n_xtb) != len(e):
        raise ReferenceDataError(f"{structure.label}: GFN2-xTB has {len(e)} AOs, expected "
                                 f"{sum(n_xtb)}")
    start = np.concatenate([[0], np.cumsum(n_xtb)[:-1]])
    to_model = np.full(len(e), -1)
    onsite = np.zeros(nao)
    for atom in range(len(structure.numbers)):
        mine = [(k, shell, comp) for k, (a, _, shell, comp) in enumerate(labels) if a == atom]
        s_shells = sorted({sh for _, sh, _ in mine if sh.endswith("s")})
        p_shells = sorted({sh for _, sh, _ in mine if sh.endswith("p")})
        if any(sh[-1] not in "sp" for _, sh, _ in mine) or len(p_shells) > 1 or (
                (len(p_shells) == 1) != (n_xtb[atom] == 4)):
            raise ReferenceDataError(f"{structure.label}: the gfn2 baseline needs a minimal "
                                     f"s/p basis, not {model.basis} on atom {atom}")
        symbol = labels[mine[0][0]][1]
        for k, shell, comp in mine:
            if shell == s_shells[-1]:
                to_model[start[atom]] = k
            elif shell.endswith("p"):
                to_model[start[atom] + 1 + _XTB_P[comp]] = k
            else:  # a core shell: its extended-Hueckel level, uncoupled
                onsite[k] = ONSITE_HARTREE[(symbol, shell[:2])]
    h = np.diag(onsite)
    h[np.ix_(to_model, to_model)] = h_xtb
    s_half = _sym_power(np.asarray(model.ovlp), 0.5)
    return s_half @ h @ s_half


def gfn2_key(structure: Structure, model_basis: str) -> str:
    from importlib.metadata import version

    return structure.content_hash("hamlearn-gfn2-v1", model_basis, version("tblite"))


def sad_key(structure: Structure, settings: ReferenceSettings) -> str:
    import pyscf

    grid = None if settings.is_hf else settings.grid_level
    return structure.content_hash("hamlearn-sad-v1", settings.method, settings.model_basis,
                                  grid, settings.density_fit, pyscf.__version__)


def _cached(kind: str, ref: Reference, settings, folder: Path | None) -> np.ndarray:
    """The ``sad`` or ``gfn2`` baseline of ``ref``, read from or written to ``folder``."""
    structure = ref.structure
    path = None
    if folder is not None:
        key = (sad_key(structure, settings) if kind == "sad"
               else gfn2_key(structure, settings.model_basis))
        path = folder / key[:2] / f"{key}.npy"
        if path.is_file():
            try:
                return np.load(path)
            except (OSError, ValueError) as err:
                log.warning("baseline record %s is damaged (%s): recomputing it", path, err)
                path.unlink(missing_ok=True)
    fock = (sad_fock(structure, settings) if kind == "sad"
            else gfn2_fock(structure, ref.model))
    if path is not None:  # tmp file + rename: an interruption leaves no partial record
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{kind}.", suffix=".npy", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.save(f, fock)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return fock


def baseline_focks(refs: Sequence[Reference], kind: str, settings: ReferenceSettings,
                   cache_dir: str | Path | None = None, *,
                   progress: bool = False) -> list[np.ndarray | None]:
    """The baseline ``F0`` of every reference (None for ``kind='none'``), input order.

    Args:
        refs: references (their model-basis data; ``scf`` uses their Fock when present).
        kind: one of `BASELINES`.
        settings: the run's reference settings (method, grid, model basis).
        cache_dir: the reference cache (``sad`` and missing ``scf`` matrices are stored
            there); None computes without storing.

    Raises:
        DatasetError: naming the molecules whose baseline could not be computed.
    """
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline {kind!r}; choose from {list(BASELINES)}")
    if kind == "none":
        return [None] * len(refs)
    t0 = time.perf_counter()
    out: list[np.ndarray | None] = [None] * len(refs)
    failed: list[str] = []
    if kind == "scf":
        missing = [i for i, r in enumerate(refs) if r.model.fock is None]
        for i, r in enumerate(refs):
            if r.model.fock is not None:
                out[i] = np.asarray(r.model.fock)
        if missing:
            from hamlearn.data.generate import generate

            log.info("model.baseline scf: %d molecule(s) need the model-basis SCF",
                     len(missing))
            only = dataclasses.replace(settings, target_bases=())
            res = generate([refs[i].structure for i in missing], only, cache_dir,
                           progress=progress)
            done = {f.index for f in res.failures}
            failed += [f"{f.name}: {f.reason}" for f in res.failures]
            got = iter(res.references)
            for k, i in enumerate(missing):
                if k not in done:
                    out[i] = np.asarray(next(got).model.fock)
    else:
        from tqdm.auto import tqdm

        folder = None if cache_dir is None else Path(cache_dir) / f"baseline-{kind}"
        for i, r in enumerate(tqdm(refs, desc=f"baseline {kind}", unit="mol",
                                   disable=not progress or kind == "huckel",
                                   dynamic_ncols=True)):
            try:
                out[i] = (huckel_baseline(r.structure, r.model) if kind == "huckel"
                          else _cached(kind, r, settings, folder))
            except (ReferenceDataError, ValueError, RuntimeError) as err:
                failed.append(f"{r.structure.label}: {err}")
    for i, (r, f) in enumerate(zip(refs, out)):
        if f is not None and f.shape != (r.model.nao, r.model.nao):
            failed.append(f"{r.structure.label}: baseline {f.shape} against {r.model.nao} AOs")
    if failed:
        raise DatasetError(f"model.baseline {kind}: no baseline for {len(failed)} "
                           f"molecule(s): " + "; ".join(failed[:5]))
    log.info("baseline %s for %d molecules: %.1f s", kind, len(refs), time.perf_counter() - t0)
    return out
