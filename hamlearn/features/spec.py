"""Block-type bookkeeping of the features: which irreps each block type needs.

A **block type** is an element (on-site blocks, key ``'6'``) or an unordered element pair
(off-site blocks, key ``'1-6'``, lower Z first). Its irreps are those of its minimal-basis
shell-pair blocks (`block_irreps`): ``0e`` for H on-site and H-H; ``0e, 1o`` for H-C;
``0e, 1o, 2e`` for C on-site; ``0e, 1o, 1e, 2e`` for C-C.
"""

from __future__ import annotations

import dataclasses
import functools

from hamlearn.config import FeaturesConfig
from hamlearn.data.basis import element_shells
from hamlearn.features.cg import block_irreps


def _sorted_irreps(irreps) -> tuple[str, ...]:
    return tuple(sorted(set(irreps), key=lambda s: (int(s[:-1]), s[-1] == "o")))


@functools.lru_cache(maxsize=None)
def onsite_irreps(basis: str, z: int) -> tuple[str, ...]:
    """Irreps of the on-site blocks of element ``z`` (shell pairs a <= b)."""
    shells = element_shells(basis, z)
    return _sorted_irreps(ir for a in shells for b in shells if a.index <= b.index
                          for ir in block_irreps(a.l, b.l, symmetric=a.index == b.index))


@functools.lru_cache(maxsize=None)
def pair_irreps(basis: str, zi: int, zj: int) -> tuple[str, ...]:
    """Irreps of the off-site blocks between elements ``zi`` and ``zj`` (all shell pairs)."""
    return _sorted_irreps(ir for a in element_shells(basis, zi) for b in element_shells(basis, zj)
                          for ir in block_irreps(a.l, b.l))


def onsite_key(z: int) -> str:
    return f"{z}"


def pair_key(zi: int, zj: int) -> str:
    return f"{min(zi, zj)}-{max(zi, zj)}"


@dataclasses.dataclass(frozen=True)
class FeatureSpec:
    """Static description of the features (hashable: an equinox static field).

    Attributes:
        cfg: the feature settings.
        basis: the minimal basis the blocks are for.
        onsite: per element ``(z, ((irrep, n_feature), ...))``.
        pairs: per element pair ``((zi, zj), ((irrep, n_feature), ...))``, ``zi <= zj``.
    """

    cfg: FeaturesConfig
    basis: str
    onsite: tuple[tuple[int, tuple[tuple[str, int], ...]], ...]
    pairs: tuple[tuple[tuple[int, int], tuple[tuple[str, int], ...]], ...]

    def types(self) -> dict[str, tuple[str, tuple[int, ...], dict[str, int]]]:
        """``key -> (kind, elements, {irrep: n_feature})`` for every block type."""
        out = {onsite_key(z): ("onsite", (z,), dict(d)) for z, d in self.onsite}
        out.update({pair_key(*zz): ("pair", zz, dict(d)) for zz, d in self.pairs})
        return out


def sig_onsite(basis: str, z: int) -> str:
    return "+".join(onsite_irreps(basis, z))


def sig_pair(basis: str, zi: int, zj: int) -> str:
    return "+".join(pair_irreps(basis, zi, zj))


def bucket_size(n: int, minimum: int = 8) -> int:
    """Smallest size ``>= n`` of the form ``2^k`` or ``3 * 2^k`` (at least ``minimum``)."""
    size = minimum
    while size < n:
        size = size * 3 // 2 if (size & (size - 1)) == 0 else size * 4 // 3
    return size
