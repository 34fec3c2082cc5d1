"""Train / validation / test splits of a list of structures (host side)."""

from __future__ import annotations

import dataclasses

import numpy as np

from hamlearn.config import SplitConfig
from hamlearn.data.structure import Structure
from hamlearn.errors import DatasetError


@dataclasses.dataclass(frozen=True)
class Split:
    """Index arrays into the dataset."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray

    def as_dict(self) -> dict[str, list[int]]:
        return {k: [int(i) for i in getattr(self, k)] for k in ("train", "validation", "test")}


def n_heavy_atoms(structure: Structure) -> int:
    return int((structure.numbers > 1).sum())


def _fraction_counts(n: int, fractions) -> list[int]:
    fr = np.asarray(fractions, dtype=np.float64)
    fr = fr / fr.sum()
    counts = np.floor(fr * n).astype(int)
    counts[0] += n - counts.sum()  # remainder to training
    return counts.tolist()


def make_split(structures: list[Structure], cfg: SplitConfig, seed: int) -> Split:
    """Split according to ``cfg`` ('random', 'explicit' or 'size').

    Raises:
        DatasetError (a ValueError): for out-of-range or overlapping explicit indices, an empty training
            set, or a size threshold that leaves nothing to test on.
    """
    n = len(structures)
    if cfg.kind == "explicit":
        parts = [np.asarray(getattr(cfg, k), dtype=np.int64)
                 for k in ("train", "validation", "test")]
        allidx = np.concatenate(parts)
        if allidx.size and (allidx.min() < 0 or allidx.max() >= n):
            raise DatasetError(f"train.split: explicit indices must be in [0, {n})")
        if len(np.unique(allidx)) != len(allidx):
            raise DatasetError("train.split: explicit train/validation/test lists overlap")
        split = Split(*parts)
    elif cfg.kind == "random":
        order = np.random.default_rng(seed).permutation(n)
        fr = list(cfg.fractions) + [0.0] * (3 - len(cfg.fractions))
        a, b, _ = _fraction_counts(n, fr[:3])
        split = Split(np.sort(order[:a]), np.sort(order[a:a + b]), np.sort(order[a + b:]))
    elif cfg.kind == "size":
        heavy = np.array([n_heavy_atoms(s) for s in structures])
        small = np.flatnonzero(heavy <= cfg.max_train_heavy_atoms)
        large = np.flatnonzero(heavy > cfg.max_train_heavy_atoms)
        if len(large) == 0:
            raise DatasetError(f"train.split: no molecule has more than "
                             f"{cfg.max_train_heavy_atoms} heavy atoms to test on")
        order = small[np.random.default_rng(seed).permutation(len(small))]
        fr = list(cfg.fractions[:2]) if len(cfg.fractions) >= 2 else [0.8, 0.2]
        a, _ = _fraction_counts(len(order), fr)
        split = Split(np.sort(order[:a]), np.sort(order[a:]), large)
    else:  # guarded by the config's choices
        raise DatasetError(f"unknown split kind {cfg.kind!r}")
    if len(split.train) == 0:
        raise DatasetError(f"train.split ({cfg.kind}) leaves no training molecules out of {n}")
    if cfg.n_train is not None:
        if cfg.n_train > len(split.train):
            raise DatasetError(f"train.split.n_train={cfg.n_train}: the split has only "
                               f"{len(split.train)} training molecules")
        # nested subsets: the first n_train of one seeded order, so a smaller set is part of
        # every larger one (a learning curve adds molecules, it does not redraw them)
        order = np.random.default_rng([seed, 1]).permutation(split.train)
        split = dataclasses.replace(split, train=np.sort(order[:cfg.n_train]))
    return split
