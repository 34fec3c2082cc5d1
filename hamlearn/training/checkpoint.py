"""Checkpoints: model + optimizer state + loop state, written atomically.

A checkpoint is two files in one folder: the leaves (equinox serialisation of
``(model, opt_state)``) in ``<name>.<sha12>.eqx`` and ``<name>.json`` (step, epoch, best
metric, counters, the blob's file name and its SHA-256). The blob gets a new name per
content and the JSON is renamed into place last: that rename is the one commit point, so a
kill at any moment leaves the previous checkpoint or the new one, complete (replacing a
fixed-name blob first and the JSON second left a new blob with the old checksum when
killed in between). Older blobs are removed after the commit. A mismatching checksum is an
error, never a silent load. Deserialising needs a skeleton of the same structure (the
model built from the saved config, a fresh optimizer state).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import equinox as eqx

from hamlearn.faults import fault_point


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, incomplete or does not match its checksum."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _atomic_write_bytes(path: Path, writer) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        writer(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(folder: str | Path, name: str, tree: Any, meta: dict) -> Path:
    """Write ``tree`` (any pytree of arrays/modules) and ``meta`` (JSON-able) atomically.

    Returns:
        The path of the JSON file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{name}.eqx.tmp{os.getpid()}"
    _atomic_write_bytes(tmp, lambda f: eqx.tree_serialise_leaves(f, tree))
    sha = _sha256(tmp)
    blob = folder / f"{name}.{sha[:12]}.eqx"
    os.replace(tmp, blob)
    fault_point("checkpoint_blob")
    meta = dict(meta, sha256=sha, blob=blob.name)
    info = folder / f"{name}.json"
    _atomic_write_bytes(info, lambda f: f.write(json.dumps(meta, indent=1).encode()))
    for old in folder.glob(f"{name}.*.eqx"):
        if old.name != blob.name and old.name.count(".") == 2:
            old.unlink(missing_ok=True)
    return info


def _meta(info: Path) -> dict:
    """A checkpoint's JSON; a truncated or invalid file is a `CheckpointError` naming it."""
    try:
        meta = json.loads(info.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"checkpoint file {info} is damaged (not valid JSON: {err}); "
                              "restore it or start a new run") from None
    if not isinstance(meta, dict) or "sha256" not in meta:
        raise CheckpointError(f"checkpoint file {info} is damaged (no checksum)")
    return meta


def _blob(folder: Path, name: str) -> Path | None:
    info = folder / f"{name}.json"
    if not info.is_file():
        return None
    return folder / _meta(info).get("blob", f"{name}.eqx")


def checkpoint_exists(folder: str | Path, name: str) -> bool:
    blob = _blob(Path(folder), name)
    return blob is not None and blob.is_file()


def load_checkpoint(folder: str | Path, name: str, skeleton: Any) -> tuple[Any, dict]:
    """Read a checkpoint into a pytree shaped like ``skeleton``; verify its checksum.

    Raises:
        CheckpointError: if a file is missing or the checksum does not match.
    """
    folder = Path(folder)
    info, blob = folder / f"{name}.json", _blob(folder, name)
    if blob is None:
        raise CheckpointError(f"no checkpoint '{name}' in {folder}")
    if not blob.is_file():
        raise CheckpointError(f"checkpoint '{name}' in {folder}: its leaves file {blob.name} "
                              "is missing")
    meta = _meta(info)
    if _sha256(blob) != meta.get("sha256"):
        raise CheckpointError(f"checkpoint {blob} does not match its checksum (corrupted?)")
    with open(blob, "rb") as f:
        tree = eqx.tree_deserialise_leaves(f, skeleton)
    return tree, meta
