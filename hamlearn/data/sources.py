"""Molecules from their sources: ase ``Atoms``, structure files, ase names, SMILES.

Each function returns `Structure`s (positions in Bohr) with an explicit charge and spin:
given ones win, else the source's own (``atoms.info['charge'/'spin']`` of an extxyz
frame, a SMILES' formal charge and radical electrons), else neutral closed shell.
Geometry checks that concern the QM run (NaN, clashing atoms, odd electron counts) are
done per molecule by `hamlearn.data.reference.check_structure`, so one bad molecule
does not stop a dataset; a file that cannot be parsed is an error naming file and line.

Example:
    >>> [s.formula for s in (from_ase_name("H2O"), from_smiles("CO"))]
    ['H2O', 'CH4O']
"""

from __future__ import annotations

from pathlib import Path

from hamlearn.data.structure import Structure
from hamlearn.units import ANGSTROM_TO_BOHR

#: Seed of rdkit's 3D embedding: a SMILES always gives the same geometry.
SMILES_SEED = 20250401
COOKBOOK_SETS = ("qm7", "ethane200")


class SourceError(ValueError):
    """A source that cannot be read (names the file and line, or the config key)."""


def from_atoms(atoms, *, charge: int | None = None, spin: int | None = None,
               name: str | None = None) -> Structure:
    """`Structure` from an ``ase.Atoms`` (Angstrom); charge/spin default to ``atoms.info``."""
    return Structure.from_atoms(atoms, charge=charge, spin=spin, name=name)


def from_ase_name(name: str, *, charge: int | None = None, spin: int | None = None,
                  label: str | None = None) -> Structure:
    """A molecule of ase's built-in collection (``ase.build.molecule``), e.g. 'H2O'."""
    import ase.build

    try:
        atoms = ase.build.molecule(name)
    except KeyError:
        raise SourceError(f"{name!r} is not a molecule name ase knows "
                          "(ase.collections.g2 names, e.g. 'H2O', 'CH3CH2OH')") from None
    return Structure.from_atoms(atoms, charge=charge, spin=spin, name=label or name)


def from_smiles(smiles: str, *, charge: int | None = None, spin: int | None = None,
                name: str | None = None, seed: int = SMILES_SEED) -> Structure:
    """A 3D geometry of a SMILES: rdkit ETKDG embedding (fixed ``seed``) + MMFF relaxation.

    Charge defaults to the SMILES' formal charge, spin to its radical electron count; an
    explicit value that contradicts the SMILES is an error.
    """
    from rdkit import Chem
    from rdkit.Chem import AllChem

    mol = Chem.MolFromSmiles(smiles)
    if mol is None:
        raise SourceError(f"SMILES {smiles!r}: rdkit cannot parse it")
    mol = Chem.AddHs(mol)
    params = AllChem.ETKDGv3()
    params.randomSeed = int(seed)
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise SourceError(f"SMILES {smiles!r}: rdkit 3D embedding failed")
    if AllChem.MMFFHasAllMoleculeParams(mol):
        AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    formal = Chem.GetFormalCharge(mol)
    radicals = sum(a.GetNumRadicalElectrons() for a in mol.GetAtoms())
    for what, given, implied in (("charge", charge, formal), ("spin", spin, radicals)):
        if given is not None and given != implied:
            raise SourceError(f"SMILES {smiles!r}: {what}={given} but the SMILES implies {implied}")
    return Structure(numbers=[a.GetAtomicNum() for a in mol.GetAtoms()],
                     positions=mol.GetConformer().GetPositions() * ANGSTROM_TO_BOHR,
                     charge=formal, spin=radicals, name=name or smiles)


def read_structures(path: str | Path, *, index: str = ":", charge: int | None = None,
                    spin: int | None = None, name: str | None = None) -> list[Structure]:
    """Every frame of a structure file ase reads (xyz, extxyz, ...) selected by ``index``.

    Frames are named ``name[i]`` (default: the file stem), i the frame index in the file.

    Raises:
        SourceError: missing or malformed file (naming the file and, for xyz, the line).
    """
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: structure file not found")
    try:
        frames = ase.io.read(path, index=":")
    except Exception as err:  # ase raises many types for bad files
        raise SourceError(f"{path}: {_locate_error(path) or 'cannot read'} ({err})") from None
    picked = select_frames(list(range(len(frames))), index, f"{path} (index {index!r})")
    stem = name or path.stem
    return [Structure.from_atoms(frames[i], charge=charge, spin=spin, name=f"{stem}[{i}]")
            for i in picked]


def select_frames(items: list, index: str, what: str) -> list:
    """``items`` picked by an ase-style index string (``':'``, ``':20'``, ``'-1'``)."""
    from ase.io.formats import string2index

    try:
        sel = string2index(index)
        return items[sel] if isinstance(sel, slice) else [items[sel]]
    except (ValueError, IndexError) as err:
        raise SourceError(f"{what}: bad frame selection ({err})") from None


def _locate_error(path: Path) -> str | None:
    """'line N: reason' for the first malformed line of an (ext)xyz file, else None."""
    if path.suffix.lower() not in (".xyz", ".extxyz"):
        return None
    lines = path.read_text(errors="replace").splitlines()
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        try:
            n_atoms = int(lines[i].split()[0])
        except ValueError:
            return f"line {i + 1}: expected an atom count, got {lines[i].strip()[:40]!r}"
        for k in range(i + 2, i + 2 + n_atoms):
            if k >= len(lines):
                return f"line {k + 1}: file ends inside a frame of {n_atoms} atoms (line {i + 1})"
            problem = _atom_line_problem(lines[k])
            if problem:
                return f"line {k + 1}: {problem}"
        i += 2 + n_atoms
    return None


def _atom_line_problem(line: str) -> str | None:
    from ase.data import atomic_numbers

    parts = line.split()
    if len(parts) < 4:
        return f"expected 'symbol x y z', got {line.strip()[:60]!r}"
    if parts[0] not in atomic_numbers and not parts[0].isdigit():
        return f"unknown element {parts[0]!r}"
    try:
        [float(x) for x in parts[1:4]]
    except ValueError:
        return f"coordinates are not numbers: {line.strip()[:60]!r}"
    return None


# --------------------------------------------------------------------------- config
def structures_from_source(source, root: str | Path = ".",
                           cookbook_dir: str | None = None) -> list[Structure]:
    """The molecules of one `hamlearn.config.SourceConfig` (relative paths from ``root``)."""
    kinds = [k for k in ("file", "smiles", "ase", "cookbook") if getattr(source, k) is not None]
    if len(kinds) != 1:
        raise SourceError(f"give exactly one of file, smiles, ase, cookbook (got {kinds or 'none'})")
    opts = dict(charge=source.charge, spin=source.spin)
    if source.smiles is not None:
        return [from_smiles(source.smiles, name=source.name, **opts)]
    if source.ase is not None:
        return [from_ase_name(source.ase, label=source.name, **opts)]
    if source.file is not None:
        return read_structures(_resolve(root, source.file), index=source.index,
                               name=source.name, **opts)
    return _cookbook_structures(source, root, cookbook_dir, opts)


def _cookbook_structures(source, root, cookbook_dir, opts) -> list[Structure]:
    if source.cookbook not in COOKBOOK_SETS:
        raise SourceError(f"cookbook must be one of {', '.join(COOKBOOK_SETS)}; "
                          f"got {source.cookbook!r}")
    if cookbook_dir is None:
        raise SourceError("a cookbook source needs data.cookbook_dir (the folder of "
                          "qm7.xyz, ethane200.xyz)")
    path = _resolve(root, cookbook_dir) / f"{source.cookbook}.xyz"
    return read_structures(path, index=source.index, name=source.name or source.cookbook, **opts)


def _resolve(root: str | Path, path: str | Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(root) / p


def load_structures(data, root: str | Path = ".") -> list[Structure]:
    """All molecules of a `hamlearn.config.DataConfig`, in source order.

    Args:
        data: the ``data`` section; root: the config file's folder.

    Raises:
        SourceError: a source that cannot be read, naming the key (``data.sources.3``)
            or the file and line.
    """
    out: list[Structure] = []
    for i, source in enumerate(data.sources):
        try:
            out.extend(structures_from_source(source, root, data.cookbook_dir))
        except SourceError as err:
            raise SourceError(f"data.sources.{i}: {err}") from None
    return out

