"""QM9 geometries and their published labels (B3LYP/6-31G(2df,p), Gaussian 09).

The data come from the ``qm9pack`` wheel (PyPI, MIT; ~100 MB: ``pip install
'hamlearn[qm9]'``): three CSV parts (geometries in Angstrom, SMILES, HOMO/LUMO/gap,
|mu|, isotropic polarizability, <R^2>, ...) and ``qm9_polarizability.csv`` (the static
polarizability tensor). Only the data files are read (the package itself is never
imported: it needs pandas and ``pkg_resources``). The first use parses the CSVs once
(~1 min) into a compact table in ``$HAMLEARN_QM9_CACHE`` (default
``~/.cache/hamlearn/qm9``), memory-mapped afterwards. Without the extra, the slice
shipped in the package (`SLICE_PATH`: a few hundred molecules, same columns) can be
opened with ``QM9.open(slice_only=True)``; tests use it.

Labels are in atomic units and carry their source and level (`QM9Labels.source`,
`QM9Labels.level`), so they are never mixed silently with labels computed by pyscf.

The tensor of ``qm9_polarizability.csv`` is *not* in the frame of the QM9 coordinates:
for planar water it is diagonal while the tensor computed in the coordinates' frame has
a 0.8 a.u. off-diagonal element (Gaussian reports it in its own standard orientation;
`benchmarks/qm9_agreement.py` measures this on a sample). Only its rotation invariants
(`QM9Labels.polarizability_principal`, the trace) may be compared with a prediction.

Example:
    >>> qm9 = QM9.open(slice_only=True)
    >>> rows = qm9.select(max_heavy=3, elements="HCNO")
    >>> s, lab = qm9.structure(rows[0]), qm9.labels(rows[0])
    >>> s.name, round(lab.homo, 4)
    ('qm9_000001', -0.3877)
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import importlib.util
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from hamlearn.data.sources import SourceError
from hamlearn.data.structure import Structure
from hamlearn.units import ANGSTROM_TO_BOHR, DEBYE_TO_AU

LEVEL = "B3LYP/6-31G(2df,p)"
PROGRAM = "Gaussian 09"
SOURCE = ("QM9 (Ramakrishnan et al., Sci. Data 1, 140022 (2014)) via qm9pack 1.0.3 "
          "(https://github.com/raghurama123/qm9pack, MIT)")
#: molecules of QM9 with <= 7 heavy atoms (train/validation pool) and with 8 (transfer)
N_LE7, N_8 = 3921, 17879
#: the slice shipped in the package (tests, examples without the extra)
SLICE_PATH = Path(__file__).resolve().parent / "published" / "qm9-slice" / "qm9_slice.csv.gz"
PARTS = ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")
TENSOR_FILE = "qm9_polarizability.csv"
_SYMBOLS = {"H": 1, "C": 6, "N": 7, "O": 8, "F": 9}
#: label columns: name -> (CSV column, factor to atomic units)
_LABEL_COLUMNS = {
    "homo": ("HOMO_au", 1.0),
    "lumo": ("LUMO_au", 1.0),
    "gap": ("HOMO_LUMO_gap_au", 1.0),
    "dipole_norm": ("Dipole_debye", DEBYE_TO_AU),
    "polarizability_iso": ("Polarizability_bohr3", 1.0),
    "r2": ("R2_bohr2", 1.0),
}
_TENSOR_COLUMNS = ("A_xx", "A_xy", "A_yy", "A_xz", "A_yz", "A_zz")
_CACHE_VERSION = 2


class QM9MissingError(SourceError):
    """The qm9pack data are not installed."""


@dataclasses.dataclass(frozen=True)
class QM9Labels:
    """QM9's published labels of one molecule (atomic units).

    Attributes:
        index: QM9 index (1..133885; ``dsgdb9nsd_<index>.xyz``).
        homo, lumo, gap: frontier orbital energies and their difference (Hartree).
        dipole_norm: |mu| (e Bohr); QM9 publishes no vector.
        polarizability_iso: isotropic static polarizability (Bohr^3).
        polarizability_tensor: ``(3, 3)`` static polarizability (Bohr^3) in QM9's own frame
            (not the coordinates'); use `polarizability_principal`. None if absent.
        r2: electronic spatial extent <R^2> (Bohr^2).
        smiles: QM9's SMILES (of the relaxed geometry).
        source, level: where the numbers come from and at which level of theory.
    """

    index: int
    homo: float
    lumo: float
    gap: float
    dipole_norm: float
    polarizability_iso: float
    polarizability_tensor: np.ndarray | None
    r2: float
    smiles: str
    source: str = SOURCE
    level: str = f"{LEVEL} ({PROGRAM})"

    @property
    def polarizability_principal(self) -> np.ndarray | None:
        """Eigenvalues of the tensor, ascending (Bohr^3): frame-independent."""
        if self.polarizability_tensor is None:
            return None
        return np.linalg.eigvalsh(self.polarizability_tensor)


def qm9pack_data_dir() -> Path | None:
    """The ``data`` folder of an installed qm9pack (found without importing it), or None."""
    spec = importlib.util.find_spec("qm9pack")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        d = Path(loc) / "data"
        if all((d / p).is_file() for p in (*PARTS, TENSOR_FILE)):
            return d
    return None


def _cache_dir() -> Path:
    env = os.environ.get("HAMLEARN_QM9_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "hamlearn" / "qm9"


def _parse_list(text: str, what: str, where: str) -> list[str]:
    text = text.strip()
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"{where}: column {what} is not a list: {text[:40]!r}")
    return [t.strip().strip("'\"") for t in text.strip("[]").replace("[", "").replace("]", "")
            .split(",") if t.strip()]


def _read_rows(files: Iterable[tuple[str, io.TextIOBase]], tensors: dict[str, list[float]],
               report=None) -> dict[str, np.ndarray]:
    """Parse QM9 CSV rows into flat arrays; a row that cannot be parsed is skipped and
    reported (``report(message)``), never guessed."""
    csv.field_size_limit(1 << 30)
    index, natoms, numbers, positions, smiles = [], [], [], [], []
    labels = {k: [] for k in _LABEL_COLUMNS}
    tensor_rows, skipped = [], 0
    for fname, handle in files:
        reader = csv.DictReader(handle)
        for line_no, row in enumerate(reader, start=2):
            where = f"{fname}:{line_no}"
            try:
                elems = _parse_list(row["Elements"], "Elements", where)
                z = [_SYMBOLS[e] for e in elems]
                xyz = np.asarray([float(v) for v in _parse_list(row["XYZ_Ang"], "XYZ_Ang",
                                                                  where)], dtype=np.float64)
                if xyz.size != 3 * len(z) or len(z) != int(row["N_atoms"]):
                    raise ValueError(f"{len(z)} elements, {xyz.size // 3} positions, "
                                     f"N_atoms {row['N_atoms']}")
                vals = {k: float(row[c]) * f for k, (c, f) in _LABEL_COLUMNS.items()}
                if not np.isfinite(xyz).all():
                    raise ValueError("non-finite coordinates")
                bad = [k for k, v in vals.items() if not np.isfinite(v)]
                if bad:
                    raise ValueError(f"non-finite label(s) {', '.join(bad)}")
                idx = int(row["Index"])
            except (KeyError, ValueError) as err:
                skipped += 1
                if report is not None:
                    name = row.get("XYZ_file") or f"row {line_no}"
                    report(f"{where}: {name} skipped ({type(err).__name__}: {err})")
                continue
            index.append(idx)
            natoms.append(len(z))
            numbers.extend(z)
            positions.append(xyz.reshape(-1, 3))
            smiles.append(row["SMILES"])
            for k, v in vals.items():
                labels[k].append(v)
            t = tensors.get(row["XYZ_file"])
            tensor_rows.append(t if t is not None else [np.nan] * 6)
    out = {"index": np.asarray(index, dtype=np.int64), "n_atoms": np.asarray(natoms, np.int64),
           "numbers": np.asarray(numbers, dtype=np.int8),
           "positions_ang": np.concatenate(positions) if positions else np.zeros((0, 3)),
           "smiles": np.asarray(smiles, dtype=str),
           "tensor6": np.asarray(tensor_rows, dtype=np.float64).reshape(-1, 6),
           "n_skipped": np.asarray(skipped)}
    out.update({k: np.asarray(v, dtype=np.float64) for k, v in labels.items()})
    return out


def _read_tensors(handle) -> dict[str, list[float]]:
    out = {}
    for row in csv.DictReader(handle):
        try:
            out[row["XYZ_file"]] = [float(row[c]) for c in _TENSOR_COLUMNS]
        except (KeyError, ValueError):
            continue
    return out


def _tensor(t6: np.ndarray) -> np.ndarray | None:
    if not np.isfinite(t6).all():
        return None
    xx, xy, yy, xz, yz, zz = t6
    return np.array([[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]])


class QM9:
    """The QM9 table: geometries and labels of every molecule, selectable by row.

    Rows are positions in the table (ordered by QM9 index); `select` returns rows,
    `structure` and `labels` turn a row into a `Structure` (Bohr) and `QM9Labels`.
    """

    def __init__(self, arrays: dict[str, np.ndarray], origin: str):
        self._a = arrays
        self.origin = origin
        self._offsets = np.concatenate([[0], np.cumsum(arrays["n_atoms"])])
        z = arrays["numbers"].astype(np.int64)
        mol = np.repeat(np.arange(len(arrays["n_atoms"])), arrays["n_atoms"])
        self.n_heavy = np.bincount(mol, weights=(z > 1), minlength=len(self)).astype(np.int64)
        self._elements = np.zeros((len(self), 10), dtype=bool)
        self._elements[mol, z] = True
        self._row_of = {int(i): r for r, i in enumerate(arrays["index"])}

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, *, slice_only: bool = False, full_spectrum: bool = False,
             report=None) -> QM9:
        """The full table from the installed qm9pack (parsed once, then cached), or with
        ``slice_only`` the slice shipped in the package, or with ``full_spectrum`` the
        molecules of the shipped full-spectrum label set (`hamlearn.data.labelset`).

        Raises:
            QM9MissingError: qm9pack is not installed (and neither option is set).
        """
        if slice_only and full_spectrum:
            raise SourceError("qm9: slice and full_spectrum exclude each other")
        if full_spectrum:
            from hamlearn.data import labelset

            return cls(labelset.table_arrays(), origin=str(labelset.PATH))
        if slice_only:
            return cls(_load_slice(report), origin=str(SLICE_PATH))
        data = qm9pack_data_dir()
        if data is None:
            raise QM9MissingError(
                "the qm9 source needs the QM9 data of the optional extra: "
                "pip install 'hamlearn[qm9]' (the qm9pack wheel, ~100 MB); "
                "or use the shipped slice (qm9: {slice: true})")
        return cls(_load_cached(data, report), origin=str(data))

    def __len__(self) -> int:
        return len(self._a["index"])

    @property
    def indices(self) -> np.ndarray:
        """QM9 index of every row."""
        return self._a["index"]

    # ----------------------------------------------------------------- selection
    def select(self, *, min_heavy: int = 0, max_heavy: int | None = None,
               heavy: Sequence[int] | None = None, elements: str | Sequence | None = None,
               indices: Sequence[int] | None = None, exclude: Sequence[int] | None = None,
               sample: int | None = None, seed: int = 0) -> np.ndarray:
        """Rows matching every given criterion, ascending; ``sample`` then picks that many
        of them at random (``seed``; the same call always gives the same rows).

        Args:
            min_heavy, max_heavy: heavy-atom count range (inclusive); ``heavy``: exact counts.
            elements: allowed elements (symbols 'HCNO', a list of symbols or atomic
                numbers): molecules with any other element are dropped.
            indices: QM9 indices to keep (an unknown index is an error).
            exclude: QM9 indices to drop (e.g. a training set, for a disjoint test set).
            sample: number of molecules drawn without replacement (error if more than match).

        Raises:
            SourceError: an unknown index, an unknown element, or a too large sample.
        """
        keep = self.n_heavy >= min_heavy
        if max_heavy is not None:
            keep &= self.n_heavy <= max_heavy
        if heavy is not None:
            keep &= np.isin(self.n_heavy, np.asarray(list(heavy), dtype=np.int64))
        if elements is not None:
            allowed = np.zeros(10, dtype=bool)
            for e in (list(elements) if isinstance(elements, str) else elements):
                z = _SYMBOLS.get(e) if isinstance(e, str) else int(e)
                if z is None or not 0 < z < 10:
                    raise SourceError(f"qm9: element {e!r} is not one of QM9's (H, C, N, O, F)")
                allowed[z] = True
            keep &= ~(self._elements & ~allowed).any(axis=1)
        if indices is not None:
            missing = [int(i) for i in indices if int(i) not in self._row_of]
            if missing:
                raise SourceError(f"qm9: indices not in {self.origin}: {missing[:10]}"
                                  + (" ..." if len(missing) > 10 else ""))
            mask = np.zeros(len(self), dtype=bool)
            mask[[self._row_of[int(i)] for i in indices]] = True
            keep &= mask
        if exclude is not None:
            keep &= ~np.isin(self.indices, np.asarray(list(exclude), dtype=np.int64))
        rows = np.flatnonzero(keep)
        if sample is not None:
            if sample > len(rows):
                raise SourceError(f"qm9: sample of {sample} requested but only {len(rows)} "
                                  "molecules match the selection")
            rng = np.random.default_rng(seed)
            rows = np.sort(rng.choice(rows, size=sample, replace=False))
        return rows

    # ----------------------------------------------------------------- rows
    def structure(self, row: int) -> Structure:
        """The geometry of ``row`` (Bohr), neutral singlet, named ``qm9_<index>``."""
        a, b = self._offsets[row], self._offsets[row + 1]
        return Structure(numbers=self._a["numbers"][a:b].astype(np.int64),
                         positions=self._a["positions_ang"][a:b] * ANGSTROM_TO_BOHR,
                         name=f"qm9_{int(self.indices[row]):06d}")

    def labels(self, row: int) -> QM9Labels:
        a = self._a
        return QM9Labels(index=int(a["index"][row]), homo=float(a["homo"][row]),
                         lumo=float(a["lumo"][row]), gap=float(a["gap"][row]),
                         dipole_norm=float(a["dipole_norm"][row]),
                         polarizability_iso=float(a["polarizability_iso"][row]),
                         polarizability_tensor=_tensor(a["tensor6"][row]),
                         r2=float(a["r2"][row]), smiles=str(a["smiles"][row]))

    def table(self, rows: Sequence[int]) -> dict[str, np.ndarray]:
        """The table columns of ``rows`` (in that order), the layout `QM9` is built from."""
        return _reorder(self._a, np.asarray(list(rows), dtype=np.int64))

    def structures(self, rows: Iterable[int]) -> list[Structure]:
        return [self.structure(int(r)) for r in rows]

    def row_of(self, index: int) -> int:
        """The row of QM9 index ``index``."""
        try:
            return self._row_of[int(index)]
        except KeyError:
            raise SourceError(f"qm9: index {index} not in {self.origin}") from None


# --------------------------------------------------------------------------- labels
#: the basis name QM9's labels are filed under in a `Reference` (with source 'qm9')
LABEL_BASIS = "6-31g(2df,p)"


def published_labels(lab: QM9Labels, nocc: int):
    """QM9's labels as a `hamlearn.data.record.Labels` of source 'qm9': invariants only
    (HOMO, LUMO, gap, |mu|, the coupled polarizability's isotropic value and anisotropy
    (from the tensor's principal values, which do not depend on its frame), <R^2>)."""
    from hamlearn.data.record import Labels, anisotropy_sq

    inv = {"homo": lab.homo, "lumo": lab.lumo, "gap": lab.gap, "dipole_norm": lab.dipole_norm,
           "polarizability_iso_coupled": lab.polarizability_iso, "r2": lab.r2}
    if lab.polarizability_tensor is not None:  # a rotation invariant: any frame will do
        inv["polarizability_aniso_coupled"] = float(np.sqrt(anisotropy_sq(
            lab.polarizability_tensor)))
    return Labels(basis=LABEL_BASIS, mo_energy=None, nocc=nocc, dipole=None,
                  invariants=inv, source="qm9")


def index_of(structure: Structure) -> int:
    """The QM9 index of a structure of the qm9 source (named ``qm9_<index>``)."""
    name = structure.name
    if not name.startswith("qm9_") or not name[4:].isdigit():
        raise SourceError(f"{structure.label}: not a molecule of the qm9 source")
    return int(name[4:])


def attach_published(refs: list, qm9: QM9) -> list:
    """``refs`` (model-basis references of qm9-source molecules) with QM9's labels added
    under `LABEL_BASIS`; a molecule QM9 does not have is an error naming it."""
    import dataclasses

    out = []
    for r in refs:
        row = qm9.row_of(index_of(r.structure))
        labels = {**r.labels, LABEL_BASIS: published_labels(qm9.labels(row), r.nocc)}
        out.append(dataclasses.replace(r, labels=labels,
                                       meta={**r.meta, "labels_source": SOURCE,
                                             "labels_level": f"{LEVEL} ({PROGRAM})"}))
    return out


# --------------------------------------------------------------------------- files
def _load_slice(report=None) -> dict[str, np.ndarray]:
    """The shipped slice: one gzipped CSV with the columns of qm9pack's parts plus the
    tensor columns."""
    if not SLICE_PATH.is_file():
        raise SourceError(f"the shipped QM9 slice {SLICE_PATH} is missing (broken install?)")
    return read_csv_gz(SLICE_PATH, report)


def read_csv_gz(path: Path, report=None) -> dict[str, np.ndarray]:
    """Arrays of a gzipped CSV in the slice layout (qm9pack columns + tensor columns)."""
    with gzip.open(path, "rt", newline="") as f:
        text = f.read()
    tensors = _read_tensors(io.StringIO(text))
    return _read_rows([(Path(path).name, io.StringIO(text))], tensors, report)


def _fingerprint(data: Path) -> str:
    h = hashlib.sha256()
    for name in (*PARTS, TENSOR_FILE):
        st = (data / name).stat()
        h.update(f"{name}:{st.st_size}:{int(st.st_mtime)};".encode())
    h.update(f"v{_CACHE_VERSION}".encode())
    return h.hexdigest()[:16]


def _load_cached(data: Path, report=None) -> dict[str, np.ndarray]:
    cache = _cache_dir() / f"qm9pack-{_fingerprint(data)}.npz"
    if cache.is_file():
        try:
            with np.load(cache) as f:
                return {k: f[k] for k in f.files}
        except (OSError, ValueError, EOFError):  # a damaged cache is rebuilt, not trusted
            if report is not None:
                report(f"{cache}: damaged QM9 cache, rebuilding it")
    with open(data / TENSOR_FILE, newline="") as f:
        tensors = _read_tensors(f)
    handles = [open(data / p, newline="") for p in PARTS]
    try:
        arrays = _read_rows([(str(data / p), h) for p, h in zip(PARTS, handles)], tensors, report)
    finally:
        for h in handles:
            h.close()
    order = np.argsort(arrays["index"], kind="stable")
    arrays = _reorder(arrays, order)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + f".tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, cache)
    return arrays


def _reorder(a: dict[str, np.ndarray], order: np.ndarray) -> dict[str, np.ndarray]:
    off = np.concatenate([[0], np.cumsum(a["n_atoms"])])
    atom_idx = np.concatenate([np.arange(off[r], off[r + 1]) for r in order]) if len(order) \
        else np.zeros(0, dtype=np.int64)
    out = dict(a)
    for k in ("numbers", "positions_ang"):
        out[k] = a[k][atom_idx]
    for k, v in a.items():
        if k not in ("numbers", "positions_ang", "n_skipped"):
            out[k] = v[order]
    return out


def write_slice(qm9: QM9, rows: Sequence[int], path: str | Path, data: Path) -> dict:
    """Write the rows' original CSV lines (and tensor columns) as a gzipped CSV slice.

    Reads the qm9pack parts again so the slice holds the published text unchanged.
    Returns a summary (rows, bytes).
    """
    wanted = {f"dsgdb9nsd_{int(qm9.indices[r]):06d}.xyz" for r in rows}
    with open(data / TENSOR_FILE, newline="") as f:
        tensor_rows = {row["XYZ_file"]: row for row in csv.DictReader(f)
                       if row["XYZ_file"] in wanted}
    csv.field_size_limit(1 << 30)
    found, header = [], None
    for part in PARTS:
        with open(data / part, newline="") as f:
            reader = csv.DictReader(f)
            header = reader.fieldnames
            found += [row for row in reader if row["XYZ_file"] in wanted]
    found.sort(key=lambda r: int(r["Index"]))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", newline="", compresslevel=9) as f:
        w = csv.DictWriter(f, fieldnames=[*header, *_TENSOR_COLUMNS], quoting=csv.QUOTE_MINIMAL)
        w.writeheader()
        for row in found:
            t = tensor_rows.get(row["XYZ_file"], {})
            w.writerow({**row, **{c: t.get(c, "") for c in _TENSOR_COLUMNS}})
    return {"rows": len(found), "bytes": path.stat().st_size}

