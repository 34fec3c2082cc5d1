"""Physical baseline Hamiltonians in the model basis, for delta learning (`model.baseline`).

With a baseline ``F0`` the model predicts a correction: ``F = F0 + dF(features)``; the ridge
initialisation fits ``dF`` to ``F_scf - F0`` and indirect training corrects from there. The
baselines, cheapest first (all in the model basis, pyscf AO order, Hartree; each is
available at inference, for molecules without any reference):

* ``huckel``: extended Hueckel on the overlap (`hamlearn.qm.huckel`; no integrals beyond S).
* ``sad``: the Fock/Kohn-Sham matrix of a superposition of atomic densities: pyscf's
  spherically averaged atomic HF densities in the model basis (``init_guess_by_atom``), one
  Fock build with the run's functional and grid, no SCF iterations.
* ``scf``: the converged model-basis SCF Fock (the plain minimal-basis calculation itself),
  from the reference when it has one, else computed through the reference cache.

``sad`` matrices are cached one file per molecule under ``<cache_dir>/baseline-sad/``
(keyed by geometry, functional, basis, grid and pyscf version); ``scf`` ones are reference
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

BASELINES = ("none", "huckel", "sad", "scf")


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


def sad_key(structure: Structure, settings: ReferenceSettings) -> str:
    import pyscf

    grid = None if settings.is_hf else settings.grid_level
    return structure.content_hash("hamlearn-sad-v1", settings.method, settings.model_basis,
                                  grid, settings.density_fit, pyscf.__version__)


def _cached_sad(structure, settings, folder: Path | None) -> np.ndarray:
    path = None
    if folder is not None:
        key = sad_key(structure, settings)
        path = folder / key[:2] / f"{key}.npy"
        if path.is_file():
            try:
                return np.load(path)
            except (OSError, ValueError) as err:
                log.warning("baseline record %s is damaged (%s): recomputing it", path, err)
                path.unlink(missing_ok=True)
    fock = sad_fock(structure, settings)
    if path is not None:  # tmp file + rename: an interruption leaves no partial record
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".sad.", suffix=".npy", dir=path.parent)
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
                          else _cached_sad(r.structure, settings, folder))
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
