"""The references of a run, shared by every model kind (`hamlearn.runs`): the pyscf
pipeline through the cache, or published labels (the QM7 cookbook, QM9) as they are;
and the check that the features know every element of the data.
"""

from __future__ import annotations

import dataclasses
import logging

from hamlearn.config import Config, ConfigError
from hamlearn.data.cookbook import load_cookbook
from hamlearn.data.generate import load_dataset, load_model_references
from hamlearn.data.record import Reference
from hamlearn.data.reference import model_basis_data
from hamlearn.data.structure import Structure
from hamlearn.errors import DatasetError

log = logging.getLogger("hamlearn.training")


def load_references(cfg: Config, *, progress: bool = True) -> list[Reference]:
    """The run's references: published cookbook labels or the pyscf pipeline (cached).

    With ``data.labels: published`` every source must be a ``cookbook`` or ``qm9`` source;
    their published labels are used as they are. Otherwise the references come from
    `hamlearn.data.generate.load_dataset` (failures are reported and left out).
    """
    data = cfg.data
    if getattr(data, "labels", "compute") == "published":
        return _published_references(cfg, progress)
    result = load_dataset(data, cfg.root, progress=progress)
    if result.failures:
        log.warning("%d molecule(s) failed and are left out (reasons above)",
                    len(result.failures))
    if not result.references:
        raise DatasetError("no reference data: every molecule failed (see the lines above)")
    return result.references


def _published_references(cfg: Config, progress: bool) -> list[Reference]:
    """Cookbook sources: their published labels and Fock matrices as they are. qm9 sources:
    the model-basis references from the pipeline (cached; the ridge initialisation and the
    plain minimal-basis row need their Fock) with QM9's invariant labels attached under
    ``6-31g(2df,p)`` (source 'qm9'), or, for ``full_spectrum`` selections, the shipped
    full-spectrum labels (`hamlearn.data.labelset`)."""
    data = cfg.data
    refs = []
    for i, src in enumerate(data.sources):
        if src.cookbook is not None:
            folder = cfg.resolve_path(data.cookbook_dir) if data.cookbook_dir else None
            refs += load_cookbook(folder, src.cookbook, src.index)
        elif src.qm9 is not None:
            from hamlearn.data.qm9 import QM9, attach_published

            only = dataclasses.replace(data, sources=(src,), target_bases=())
            result = load_model_references(only, cfg.root, progress=progress)
            if result.failures:
                log.warning("%d molecule(s) failed and are left out (reasons above)",
                            len(result.failures))
            if src.qm9.full_spectrum:
                from hamlearn.data.labelset import attach_full_spectrum

                refs += attach_full_spectrum(result.references)
            else:
                refs += attach_published(result.references, QM9.open(slice_only=src.qm9.slice))
        else:
            raise ConfigError(f"data.sources.{i}: data.labels=published needs cookbook or qm9 "
                              "sources (published labels exist only for those)")
    if not refs:
        raise DatasetError("no reference data: every molecule failed (see the lines above)")
    return refs


def check_species(structures: list[Structure], cfg: Config) -> None:
    """Every element of the data must be in ``features.species`` (else one clear error)."""
    from ase.data import chemical_symbols

    known = set(cfg.features.species)
    missing: dict[int, list[str]] = {}
    for s in structures:
        for z in sorted(set(s.numbers.tolist()) - known):
            missing.setdefault(z, []).append(s.label)
    if missing:
        parts = [f"{chemical_symbols[z]} (Z={z}, {len(names)} molecules, e.g. {names[0]})"
                 for z, names in missing.items()]
        raise DatasetError(f"features.species {sorted(known)} lacks elements of the data: "
                           f"{'; '.join(parts)}: add them to features.species")


def unlabelled_reference(structure: Structure, basis: str) -> Reference:
    """A `Reference` with model-basis integrals only (labels empty), for prediction."""
    return Reference(structure=structure, method="none",
                     model=model_basis_data(structure, basis), labels={})


def series_references(cfg: Config, *, families=None, max_atoms: int | None = None,
                      progress: bool = True) -> list[Reference]:
    """The shipped size series (`hamlearn.data.size_series`) as references of a run: the
    model-basis SCF through the run's cache (the ridge/plain rows and the 'scf' baseline
    need it), the shipped B3LYP/6-31G(2df,p) labels attached. Members without shipped
    labels are left out.

    Raises:
        ConfigError: the run's target basis is not the series' (6-31g(2df,p)).
        DatasetError: no member left (none labelled, or every SCF failed).
    """
    from hamlearn.data import size_series as ss
    from hamlearn.data.generate import generate
    from hamlearn.data.reference import ReferenceSettings

    if cfg.train.target_basis.lower() != ss.BASIS:
        raise ConfigError(f"the size series is labelled in {ss.BASIS}; the run's target basis "
                          f"is {cfg.train.target_basis!r}")
    labels = ss.shipped_labels()
    structures = [s for s in ss.shipped_structures(families, max_atoms) if s.name in labels]
    if not structures:
        raise DatasetError("no member of the size-series selection has shipped labels")
    settings = ReferenceSettings.from_config(dataclasses.replace(cfg.data, target_bases=()))
    res = generate(structures, settings, cfg.resolve_path(cfg.data.cache_dir),
                   n_workers=cfg.data.n_workers, threads_per_worker=cfg.data.threads_per_worker,
                   progress=progress)
    for f in res.failures:
        log.warning("size series: %s failed (%s), left out", f.name, f.reason)
    if not res.references:
        raise DatasetError("size series: every model-basis SCF failed (see the lines above)")
    return [dataclasses.replace(r, labels={**r.labels, ss.BASIS: labels[r.structure.name]},
                                meta={**r.meta, "labels_source": ss.SOURCE})
            for r in res.references]
