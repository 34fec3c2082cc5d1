"""Molecules from their sources: ase ``Atoms``, structure files, ase names, SMILES.

Each function returns `Structure`s (positions in Bohr) with an explicit charge and spin:
given ones win, else the source's own (``atoms.info['charge'/'spin']`` of an extxyz
frame, a SMILES' formal charge and radical electrons), else neutral closed shell.
Geometry checks that concern the QM run (NaN, clashing atoms, odd electron counts) are
done per molecule by `hamlearn.data.validate.validate_structure`, so one bad molecule
does not stop a dataset; a bad frame of an (ext)xyz file is skipped and reported
(`SkippedFrame`: file, frame, line) when the caller collects them, else an error.

Example:
    >>> [s.formula for s in (from_ase_name("H2O"), from_smiles("CO"))]
    ['H2O', 'CH4O']
"""

from __future__ import annotations

import dataclasses
import io
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


@dataclasses.dataclass(frozen=True)
class SkippedFrame:
    """A frame of a structure file that could not be read (the others are kept)."""

    path: str
    frame: int
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{self.path}: {where}{self.reason} (frame {self.frame})"


def read_structures(path: str | Path, *, index: str = ":", charge: int | None = None,
                    spin: int | None = None, name: str | None = None,
                    skipped: list[SkippedFrame] | None = None) -> list[Structure]:
    """Every frame of a structure file ase reads (xyz, extxyz, ...) selected by ``index``.

    Frames are named ``name[i]`` (default: the file stem), i the frame index in the file.
    An (ext)xyz file is read frame by frame: with a ``skipped`` list, a bad frame (an
    unknown element, a coordinate that is not a number, a truncated last frame) is
    appended there, naming file, frame and line, and the other frames are kept; without
    it, any bad frame is an error.

    Raises:
        SourceError: missing, empty or unreadable file, or (without ``skipped``) a bad frame.
    """
    import ase.io

    path = Path(path)
    if not path.is_file():
        raise SourceError(f"{path}: structure file not found")
    stem = name or path.stem
    bad: list[SkippedFrame] = []
    if path.suffix.lower() in (".xyz", ".extxyz"):
        frames = _read_xyz_frames(path, bad)
    else:
        try:
            frames = ase.io.read(path, index=":")
        except Exception as err:  # ase raises many types for bad files
            raise SourceError(f"{path}: cannot read ({type(err).__name__}: {err})") from None
    if not frames and not bad:
        raise SourceError(f"{path}: no structures in the file (empty?)")
    picked = set(select_frames(list(range(len(frames))), index, f"{path} (index {index!r})"))
    bad = [b for b in bad if b.frame in picked]
    if bad and skipped is None:
        raise SourceError(str(bad[0]))
    if skipped is not None:
        skipped.extend(bad)
    return [Structure.from_atoms(frames[i], charge=charge, spin=spin, name=f"{stem}[{i}]")
            for i in sorted(picked) if frames[i] is not None]


def _read_xyz_frames(path: Path, bad: list[SkippedFrame]) -> list:
    """The frames of an (ext)xyz file as ``ase.Atoms`` (None for a bad frame, reported in
    ``bad``). A broken atom-count line ends the file there (the frames after it cannot be
    told apart)."""
    import ase.io

    lines = path.read_text(errors="replace").splitlines()
    frames: list = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        k = len(frames)
        try:
            n_atoms = int(lines[i].split()[0])
            if n_atoms < 0:
                raise ValueError
        except ValueError:
            bad.append(SkippedFrame(str(path), k, i + 1, "expected an atom count, got "
                                    f"{lines[i].strip()[:40]!r}; the rest of the file is "
                                    "skipped"))
            frames.append(None)
            break
        end = i + 2 + n_atoms
        problem = None
        if end > len(lines):
            problem = (len(lines) + 1, f"file ends inside a frame of {n_atoms} atoms "
                                       f"(started line {i + 1})")
        else:
            problem = next(((j + 1, p) for j in range(i + 2, end)
                            if (p := _atom_line_problem(lines[j]))), None)
        atoms = None
        if problem is None:
            try:
                atoms = ase.io.read(io.StringIO("\n".join(lines[i:end]) + "\n"),
                                    format="extxyz")
            except Exception as err:  # ase raises many types for bad frames
                problem = (i + 1, f"cannot read ({type(err).__name__}: {err})")
        if problem is not None:
            bad.append(SkippedFrame(str(path), k, problem[0], problem[1]))
        frames.append(atoms)
        i = end
    return frames


def select_frames(items: list, index: str, what: str) -> list:
    """``items`` picked by an ase-style index string (``':'``, ``':20'``, ``'-1'``)."""
    from ase.io.formats import string2index

    try:
        sel = string2index(index)
        return items[sel] if isinstance(sel, slice) else [items[sel]]
    except (ValueError, IndexError) as err:
        raise SourceError(f"{what}: bad frame selection ({err})") from None


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
def structures_from_source(source, root: str | Path = ".", cookbook_dir: str | None = None,
                           skipped: list[SkippedFrame] | None = None) -> list[Structure]:
    """The molecules of one `hamlearn.config.SourceConfig` (relative paths from ``root``);
    bad frames of a file go to ``skipped`` when given (see `read_structures`)."""
    kinds = [k for k in ("file", "smiles", "ase", "cookbook", "qm9")
             if getattr(source, k, None) is not None]
    if len(kinds) != 1:
        raise SourceError("give exactly one of file, smiles, ase, cookbook, qm9 "
                          f"(got {kinds or 'none'})")
    opts = dict(charge=source.charge, spin=source.spin)
    if getattr(source, "qm9", None) is not None:
        return qm9_structures(source.qm9)
    if source.smiles is not None:
        return [from_smiles(source.smiles, name=source.name, **opts)]
    if source.ase is not None:
        return [from_ase_name(source.ase, label=source.name, **opts)]
    if source.file is not None:
        return read_structures(_resolve(root, source.file), index=source.index,
                               name=source.name, skipped=skipped, **opts)
    return _cookbook_structures(source, root, cookbook_dir, opts)


def qm9_structures(sel) -> list[Structure]:
    """The QM9 molecules of a `hamlearn.config.QM9SourceConfig` (named ``qm9_<index>``).

    Raises:
        SourceError: the qm9 extra is missing, the selection is empty, or it holds
            molecules with 9 heavy atoms without ``allow_9_heavy``.
    """
    from hamlearn.data.qm9 import QM9

    qm9 = QM9.open(slice_only=sel.slice, full_spectrum=sel.full_spectrum)
    rows = qm9.select(min_heavy=sel.min_heavy, max_heavy=sel.max_heavy,
                      heavy=sel.heavy or None, elements=sel.elements,
                      indices=sel.indices or None, sample=sel.sample, seed=sel.seed)
    if len(rows) == 0:
        raise SourceError(f"qm9: no molecule of {qm9.origin} matches the selection")
    nine = int((qm9.n_heavy[rows] >= 9).sum())
    if nine and not sel.allow_9_heavy:
        raise SourceError(f"qm9: the selection holds {nine} molecules with 9 heavy atoms, "
                          "which are held out of training and model selection; add "
                          "max_heavy: 8 (or allow_9_heavy: true for a final test set)")
    return qm9.structures(rows)


def _cookbook_structures(source, root, cookbook_dir, opts) -> list[Structure]:
    if source.cookbook not in COOKBOOK_SETS:
        raise SourceError(f"cookbook must be one of {', '.join(COOKBOOK_SETS)}; "
                          f"got {source.cookbook!r}")
    if cookbook_dir is None:  # the copy shipped in the package (cookbook.PUBLISHED_DIR)
        cookbook_dir = Path(__file__).resolve().parent / "published" / "qm7-cookbook"
    path = _resolve(root, cookbook_dir) / f"{source.cookbook}.xyz"
    return read_structures(path, index=source.index, name=source.name or source.cookbook, **opts)


def _resolve(root: str | Path, path: str | Path) -> Path:
    p = Path(path).expanduser()
    return p if p.is_absolute() else Path(root) / p


def load_structures(data, root: str | Path = ".",
                    skipped: list[SkippedFrame] | None = None) -> list[Structure]:
    """All molecules of a `hamlearn.config.DataConfig`, in source order.

    Args:
        data: the ``data`` section; root: the config file's folder.
        skipped: collects the bad frames of structure files (the rest is read); None
            makes a bad frame an error.

    Raises:
        SourceError: a source that cannot be read, naming the key (``data.sources.3``)
            or the file and line.
    """
    out: list[Structure] = []
    for i, source in enumerate(data.sources):
        try:
            out.extend(structures_from_source(source, root, data.cookbook_dir, skipped))
        except SourceError as err:
            raise SourceError(f"data.sources.{i}: {err}") from None
    return out

