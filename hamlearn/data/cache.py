"""On-disk cache of `Reference`s: one checksummed ``.npz`` file per molecule and settings.

The key is ``structure.content_hash(*settings.cache_items())``: geometry, charge, spin,
method, bases, the SCF settings that change numbers and the pyscf version. A record is
written to a temporary file, fsync'ed and renamed into place, so a killed run leaves
either a whole record or none; each record stores a SHA-256 of its own contents, and a
truncated or altered file is reported (`Cache.corrupted`), deleted and treated as
missing, never returned.

Example:
    >>> cache = Cache("/tmp/refs")                        # doctest: +SKIP
    >>> key = cache_key(structure, settings)              # doctest: +SKIP
    >>> cache.get(key) or cache.put(key, compute_reference(structure, settings))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

from hamlearn.data.record import Labels, ModelBasisData, Reference
from hamlearn.data.structure import Structure
from hamlearn.faults import fault_point

log = logging.getLogger(__name__)

FORMAT = "hamlearn-reference-cache-v1"
_LABEL_ARRAYS = ("mo_energy", "dipole", "polarizability_uncoupled", "polarizability_coupled",
                 "excitation_energies", "oscillator_strengths", "transition_dipoles")
_MODEL_ARRAYS = ("ovlp", "dip_ints", "origin", "fock")


def cache_key(structure: Structure, settings) -> str:
    """Hex key of one molecule under `hamlearn.data.reference.ReferenceSettings`."""
    return structure.content_hash(*settings.cache_items())


# --------------------------------------------------------------------------- (de)serialise
def reference_to_arrays(ref: Reference) -> dict[str, np.ndarray]:
    """Flat name -> array dict of a `Reference` (scalars and meta in a JSON header)."""
    s = ref.structure
    arrays = {"structure/numbers": s.numbers, "structure/positions": s.positions}
    for name in _MODEL_ARRAYS:
        value = getattr(ref.model, name)
        if value is not None:
            arrays[f"model/{name}"] = np.asarray(value)
    header = {"format": FORMAT, "method": ref.method, "meta": ref.meta,
              "structure": {"charge": s.charge, "spin": s.spin, "name": s.name},
              "model_basis": ref.model.basis, "labels": {}}
    for i, (basis, lab) in enumerate(ref.labels.items()):
        header["labels"][str(i)] = {"basis": basis, "nocc": lab.nocc, "e_tot": lab.e_tot}
        for name in _LABEL_ARRAYS:
            value = getattr(lab, name)
            if value is not None:
                arrays[f"labels/{i}/{name}"] = np.asarray(value)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return arrays


def reference_from_arrays(arrays: dict[str, np.ndarray]) -> Reference:
    """Inverse of `reference_to_arrays`."""
    header = json.loads(bytes(arrays["header"]).decode())
    if header.get("format") != FORMAT:
        raise ValueError(f"unknown record format {header.get('format')!r}")
    st = header["structure"]
    structure = Structure(numbers=arrays["structure/numbers"],
                          positions=arrays["structure/positions"], **st)
    model = ModelBasisData(basis=header["model_basis"],
                           **{n: arrays.get(f"model/{n}") for n in _MODEL_ARRAYS})
    labels = {}
    for i, info in header["labels"].items():
        labels[info["basis"]] = Labels(basis=info["basis"], nocc=int(info["nocc"]),
                                       e_tot=info["e_tot"],
                                       **{n: arrays.get(f"labels/{i}/{n}") for n in _LABEL_ARRAYS})
    return Reference(structure=structure, method=header["method"], model=model, labels=labels,
                     meta=header["meta"])


def checksum(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over names, dtypes, shapes and bytes of all arrays (sorted by name)."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


# --------------------------------------------------------------------------- the cache
class Cache:
    """A folder of reference records, ``<dir>/<key[:2]>/<key>.npz``.

    Attributes:
        directory: the cache folder (created on first write).
        corrupted: keys whose record was found damaged (and removed) in this session.
    """

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.corrupted: list[str] = []

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.npz"

    def __contains__(self, key: str) -> bool:
        return self.path(key).is_file()

    def get(self, key: str) -> Reference | None:
        """The record of ``key``, or None if absent or damaged (damaged ones are removed)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return self._read(path)
        except Exception as err:  # truncated zip, bad checksum, bad JSON...
            log.warning("cache record %s is damaged (%s): recomputing it", path, err)
            self.corrupted.append(key)
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, ref: Reference) -> Reference:
        """Write ``ref`` under ``key`` atomically (tmp file + fsync + rename); returns it."""
        arrays = reference_to_arrays(ref)
        arrays["checksum"] = np.frombuffer(checksum(arrays).encode(), dtype=np.uint8)
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())
            fault_point("record_tmp")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return ref

    def keys(self) -> list[str]:
        return sorted(p.stem for p in self.directory.glob("??/*.npz"))

    @staticmethod
    def _read(path: Path) -> Reference:
        data = path.read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        stored = bytes(arrays.pop("checksum", b"")).decode()
        if stored != checksum(arrays):
            raise ValueError("checksum mismatch")
        return reference_from_arrays(arrays)

