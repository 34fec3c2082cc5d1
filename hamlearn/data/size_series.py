"""The size series of arXiv:2504.01187: conjugated molecules growing past the training sizes.

Three families built from SMILES (rdkit ETKDG with `hamlearn.data.sources.SMILES_SEED`,
MMFF relaxed, so a name always gives the same geometry):

- ``polyene_n``: all-trans H2C=CH-(CH=CH)_(n-2)-CH=CH2, C_(2n)H_(2n+2), 4n + 2 atoms;
- ``acene_n``: n linearly fused benzene rings (benzene, naphthalene, ..., pentacene),
  C_(4n+2)H_(2n+4), 6n + 6 atoms;
- ``polyenoic_acid_n``: all-trans H2C=CH-(CH=CH)_(n-1)-COOH, C_(2n+1)H_(2n+2)O_2, 4n + 5 atoms.

Models trained on QM9 molecules with <= 7 heavy atoms (<= ~20 atoms) meet here chains and
ribbons of up to 42 atoms, with the small gaps and large, anisotropic polarizabilities of
long conjugation: where a direct surrogate can only extrapolate, a Hamiltonian model builds
the delocalised orbitals from local blocks.

The labels (B3LYP/6-31G(2df,p), QM9's level, computed by hamlearn's own pipeline with
`configs/size_series.yaml`) ship with the package in `DIRECTORY` (geometries as xyz,
labels as one compressed npz, no matrices);
`hamlearn.training.references.series_references` attaches them to the model-basis
references of a run, so evaluating on the series needs no SCF in the target basis. The
geometries go to 42 atoms; the labels shipped so far cover the members up to 30 atoms
(the target-basis SCF + CPKS grows ~N^3: 17 s for butadiene, 26 min for C14H16 on one
core here; the 42-atom members would take over an hour each). Members without labels
are skipped where labels are needed. Regenerate or extend them with::

    python scripts/generate_data.py --config configs/size_series.yaml
    python scripts/export_labels.py --config configs/size_series.yaml --series

Example:
    >>> series_smiles("polyene", 3), series_smiles("acene", 2)
    ('C=C/C=C/C=C', 'c1ccc2ccccc2c1')
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hamlearn.data.sources import SourceError

DIRECTORY = Path(__file__).resolve().parent / "published" / "size-series"
XYZ = DIRECTORY / "size_series.xyz"
LABELS = DIRECTORY / "size_series_631g2dfp.npz"
BASIS = "6-31g(2df,p)"
SOURCE = "hamlearn size-series (pyscf B3LYP/6-31G(2df,p))"
FAMILIES = ("polyene", "acene", "polyenoic_acid")
#: the members that ship (sizes n of each family): up to 42 atoms
SIZES = {"polyene": tuple(range(2, 11)), "acene": tuple(range(1, 6)),
         "polyenoic_acid": tuple(range(1, 10))}
_ACENES = {1: "c1ccccc1", 2: "c1ccc2ccccc2c1", 3: "c1ccc2cc3ccccc3cc2c1",
           4: "c1ccc2cc3cc4ccccc4cc3cc2c1", 5: "c1ccc2cc3cc4cc5ccccc5cc4cc3cc2c1"}
_NAME = re.compile(r"^(polyene|acene|polyenoic_acid)_(\d+)$")


def series_smiles(family: str, n: int) -> str:
    """SMILES of member ``n`` of ``family`` (all-trans for the chains)."""
    if family not in FAMILIES:
        raise SourceError(f"size series: unknown family {family!r} (one of {', '.join(FAMILIES)})")
    low = {"polyene": 2, "acene": 1, "polyenoic_acid": 1}[family]
    if int(n) != n or n < low:
        raise SourceError(f"size series: {family} needs an integer n >= {low}, got {n!r}")
    n = int(n)
    if family == "polyene":
        return "C=C" + "/C=C" * (n - 1)
    if family == "polyenoic_acid":
        return "C=C" + "/C=C" * (n - 1) + "/C(=O)O"
    if n not in _ACENES:
        raise SourceError(f"size series: acenes up to n = {max(_ACENES)}, got {n}")
    return _ACENES[n]


def member_name(family: str, n: int) -> str:
    return f"{family}_{n}"


def parse_name(name: str) -> tuple[str, int]:
    """(family, n) of a member name such as ``polyene_5``."""
    m = _NAME.match(name)
    if not m:
        raise SourceError(f"size series: {name!r} is not a member name (e.g. polyene_5)")
    return m.group(1), int(m.group(2))


def members(families: Sequence[str] | None = None, max_atoms: int | None = None
            ) -> list[tuple[str, int]]:
    """(family, n) of the shipped members, family by family, by size."""
    fams = tuple(families) if families else FAMILIES
    out = []
    for fam in fams:
        if fam not in FAMILIES:
            raise SourceError(f"size series: unknown family {fam!r} (one of {', '.join(FAMILIES)})")
        for n in SIZES[fam]:
            if max_atoms is None or n_atoms(fam, n) <= max_atoms:
                out.append((fam, n))
    return out


def n_atoms(family: str, n: int) -> int:
    return {"polyene": 4 * n + 2, "acene": 6 * n + 6, "polyenoic_acid": 4 * n + 5}[family]


def build_structures(families: Sequence[str] | None = None, max_atoms: int | None = None):
    """Fresh rdkit geometries of the members (what the shipped xyz was written from)."""
    from hamlearn.data.sources import from_smiles

    return [from_smiles(series_smiles(f, n), name=member_name(f, n))
            for f, n in members(families, max_atoms)]


def write_xyz(structures, path: str | Path = XYZ) -> Path:
    """The members' geometries as one extxyz file (Angstrom; ``name`` in each comment line)."""
    import ase.io

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ase.io.write(path, [s.to_atoms() for s in structures], format="extxyz")
    return path


def shipped_structures(families: Sequence[str] | None = None, max_atoms: int | None = None,
                       path: str | Path = XYZ):
    """The shipped geometries (`XYZ`) of the members, named ``family_n``."""
    import ase.io

    from hamlearn.data.structure import Structure

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"the size-series geometries {path} are missing (broken install?)")
    by_name = {}
    for atoms in ase.io.read(path, index=":", format="extxyz"):
        s = Structure.from_atoms(atoms)
        by_name[s.name] = s
    want = [member_name(f, n) for f, n in members(families, max_atoms)]
    missing = [w for w in want if w not in by_name]
    if missing:
        raise SourceError(f"size series: {', '.join(missing)} not in {path}")
    return [by_name[w] for w in want]


@functools.lru_cache(maxsize=2)
def _label_arrays(path: str) -> dict[str, np.ndarray]:
    p = Path(path)
    if not p.is_file():
        raise SourceError(f"the size-series labels {p} are missing; regenerate them with "
                          "scripts/export_labels.py --series")
    with np.load(p) as f:
        return {k: f[k] for k in f.files}


def meta(path: str | Path = LABELS) -> dict:
    """What the shipped labels were computed with (settings, config, date, seconds each)."""
    import json

    return json.loads(str(_label_arrays(str(path))["meta"]))


def shipped_labels(path: str | Path = LABELS) -> dict:
    """{member name: `hamlearn.data.record.Labels`} of the shipped label file."""
    from hamlearn.data.record import Labels

    a = _label_arrays(str(path))
    out = {}
    start = 0
    for i, name in enumerate(a["names"].tolist()):
        nmo = int(a["nmo"][i])
        out[name] = Labels(
            basis=BASIS, mo_energy=a["mo_energy"][start:start + nmo].astype(np.float64),
            nocc=int(a["nocc"][i]), dipole=a["dipole"][i].astype(np.float64),
            polarizability_uncoupled=a["polarizability_uncoupled"][i].astype(np.float64),
            polarizability_coupled=a["polarizability_coupled"][i].astype(np.float64),
            e_tot=float(a["e_tot"][i]), source=SOURCE)
        start += nmo
    return out


def write_labels(refs, path: str | Path = LABELS, info: dict | None = None) -> dict:
    """The target-basis labels of ``refs`` (references of shipped members, named
    ``family_n`` or in `XYZ` order) as one compressed npz; returns a summary."""
    arrays: dict[str, list] = {k: [] for k in ("names", "nmo", "nocc", "mo_energy", "dipole",
                                              "polarizability_uncoupled",
                                              "polarizability_coupled", "e_tot")}
    for r in refs:
        lab = r.target(BASIS)
        parse_name(r.structure.name)
        arrays["names"].append(r.structure.name)
        arrays["nmo"].append(len(lab.mo_energy))
        arrays["nocc"].append(lab.nocc)
        arrays["mo_energy"].append(np.asarray(lab.mo_energy))
        arrays["dipole"].append(np.asarray(lab.dipole))
        for kind in ("uncoupled", "coupled"):
            arrays[f"polarizability_{kind}"].append(np.asarray(lab.polarizability(kind)))
        arrays["e_tot"].append(lab.e_tot)
    out = {k: (np.concatenate(v) if k == "mo_energy" else np.asarray(v))
           for k, v in arrays.items()}
    import json

    out["meta"] = np.asarray(json.dumps(info or {}))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **out)
    _label_arrays.cache_clear()
    return {"molecules": len(refs), "bytes": path.stat().st_size}
