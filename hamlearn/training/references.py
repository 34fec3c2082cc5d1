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
