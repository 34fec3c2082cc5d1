"""Checkpoints: model + optimizer state + loop state, written atomically.

A checkpoint is two files in one folder: ``<name>.eqx`` (equinox leaf serialisation of
``(model, opt_state)``) and ``<name>.json`` (step, epoch, best metric, counters and a
SHA-256 of the ``.eqx`` file). Both are written to a temporary name and renamed, the
JSON last, so a checkpoint is either complete or absent; a mismatching checksum is an
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
    blob = folder / f"{name}.eqx"
    _atomic_write_bytes(blob, lambda f: eqx.tree_serialise_leaves(f, tree))
    meta = dict(meta, sha256=_sha256(blob))
    info = folder / f"{name}.json"
    _atomic_write_bytes(info, lambda f: f.write(json.dumps(meta, indent=1).encode()))
    return info


def checkpoint_exists(folder: str | Path, name: str) -> bool:
    folder = Path(folder)
    return (folder / f"{name}.json").is_file() and (folder / f"{name}.eqx").is_file()


def load_checkpoint(folder: str | Path, name: str, skeleton: Any) -> tuple[Any, dict]:
    """Read a checkpoint into a pytree shaped like ``skeleton``; verify its checksum.

    Raises:
        CheckpointError: if a file is missing or the checksum does not match.
    """
    folder = Path(folder)
    blob, info = folder / f"{name}.eqx", folder / f"{name}.json"
    if not (blob.is_file() and info.is_file()):
        raise CheckpointError(f"no complete checkpoint '{name}' in {folder}")
    meta = json.loads(info.read_text())
    if _sha256(blob) != meta.get("sha256"):
        raise CheckpointError(f"checkpoint {blob} does not match its checksum (corrupted?)")
    with open(blob, "rb") as f:
        tree = eqx.tree_deserialise_leaves(f, skeleton)
    return tree, meta
