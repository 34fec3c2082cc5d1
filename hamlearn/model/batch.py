"""`BlockBatch`: the features of a batch of molecules as flat per-block-type arrays.

The model never loops over molecules, atoms or pairs: for each block type the entries of
all molecules of the batch are concatenated (molecule after molecule) and padded to a
bucketed length (`bucket_size`), with integer scatter indices into a
``(batch, nao_pad, nao_pad)`` Fock. Padding entries have ``mol = batch`` (out of range:
dropped by the scatter) and zero features. Every type of the spec is always present, so all
batches of one bucket share a pytree structure and a compiled step.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from hamlearn.features.featurize import FeatureSet
from hamlearn.features.spec import bucket_size


class TypeBatch(eqx.Module):
    """Entries of one block type in a batch.

    Attributes:
        features: irrep -> ``(n, feature, 2L+1)`` float64 (e3nn order).
        rows: ``(n, nao_i)`` AO row indices (within the molecule, pyscf order).
        cols: ``(n, nao_j)`` AO column indices.
        mol: ``(n,)`` position of the entry's molecule in the batch; ``batch`` for padding.
    """

    features: dict[str, Float[Array, "n f M"]]
    rows: Int[Array, "n da"]
    cols: Int[Array, "n db"]
    mol: Int[Array, " n"]


class BlockBatch(eqx.Module):
    """A batch of molecules: per-type entries and the AO mask.

    Attributes:
        types: block-type key -> `TypeBatch`.
        ao_mask: ``(batch, nao_pad)`` True on real AOs (molecule k: ``0..nao_k-1``).
    """

    types: dict[str, TypeBatch]
    ao_mask: Bool[Array, "batch nao_pad"]

    @property
    def batch_size(self) -> int:
        return self.ao_mask.shape[0]

    @property
    def nao_pad(self) -> int:
        return self.ao_mask.shape[1]


def entry_index(feature_set: FeatureSet, key: str, indices: Sequence[int]) -> np.ndarray:
    """Entry indices of type ``key`` belonging to molecules ``indices`` (in that order)."""
    off = feature_set.types[key].offsets
    parts = [np.arange(off[m], off[m + 1]) for m in indices]
    return np.concatenate(parts) if parts else np.zeros(0, np.int64)


def make_batch(feature_set: FeatureSet, indices: Sequence[int], nao_pad: int | None = None, *,
               bucket: bool = True, entry_pad: dict[str, int] | None = None,
               host: bool = False) -> BlockBatch:
    """Gather molecules ``indices`` of ``feature_set`` into a padded `BlockBatch`.

    Args:
        feature_set: output of `hamlearn.features.featurize`.
        indices: molecule indices (batch order).
        nao_pad: AO dimension of the batch (default: the largest nao of the batch).
        bucket: pad entry counts to `bucket_size` (bounds recompiles); else to ``max(n, 1)``.
        entry_pad: fixed padded entry count per type (overrides ``bucket``): batches with
            the same ``entry_pad`` and ``nao_pad`` share one compiled step (`max_entries`).
        host: leave the arrays on the host (numpy), for a caller that moves a larger
            batch to the device in one call.

    Returns:
        `BlockBatch` with jnp arrays.
    """
    indices = [int(m) for m in indices]
    nao = feature_set.nao[indices]
    nao_pad = int(nao.max()) if nao_pad is None else int(nao_pad)
    if nao.max() > nao_pad:
        raise ValueError(f"nao_pad={nao_pad} < largest nao {int(nao.max())} in the batch")
    types = {}
    for key, tf in feature_set.types.items():
        idx = entry_index(feature_set, key, indices)
        if entry_pad is not None:
            n_pad = int(entry_pad[key])
            if len(idx) > n_pad:
                raise ValueError(f"type {key}: {len(idx)} entries > entry_pad {n_pad}")
        else:
            n_pad = bucket_size(len(idx)) if bucket else max(len(idx), 1)
        mol = np.full(n_pad, len(indices), np.int32)
        # batch position of each entry (a molecule may appear twice: filled batches)
        counts = np.diff(tf.offsets)[indices]
        mol[: len(idx)] = np.repeat(np.arange(len(indices)), counts)
        types[key] = TypeBatch(
            # in the store's dtype: a float32 store moves half the bytes; the model casts
            # to its float64 weights on the device (exact), so the numbers do not change
            features={ir: _take_padded(f, idx, n_pad) for ir, f in tf.features.items()},
            rows=_pad(tf.rows[idx], n_pad).astype(np.int32),
            cols=_pad(tf.cols[idx], n_pad).astype(np.int32),
            mol=mol)
    ao_mask = np.arange(nao_pad)[None, :] < nao[:, None]
    batch = BlockBatch(types=types, ao_mask=ao_mask)
    return batch if host else jax.device_put(batch)  # one transfer call for every array


def max_entries(feature_set: FeatureSet, batch_size: int,
                indices: Sequence[int] | None = None, *,
                filler: int | None = None) -> dict[str, int]:
    """Per type, the most entries any batch of ``batch_size`` molecules of ``indices`` can
    hold (the sum of the ``batch_size`` largest counts), bucketed: one shape for every batch.

    ``filler``: short batches are completed with copies of this molecule; the bound then
    covers every mix of ``n`` real molecules and ``batch_size - n`` fillers.
    """
    out = {}
    for key, tf in feature_set.types.items():
        every = np.diff(tf.offsets)
        counts = every if indices is None else every[np.asarray(list(indices), dtype=int)]
        top = np.sort(counts)[::-1][:batch_size]
        bound = int(top.sum())
        if filler is not None:
            prefix = np.concatenate([[0], np.cumsum(top)])
            n_real = np.arange(len(prefix))
            bound = max(bound, int((prefix + (batch_size - n_real) * every[filler]).max()))
        out[key] = bucket_size(bound)
    return out


def likely_entries(feature_set: FeatureSet, batch_size: int, *, n_draws: int = 2000,
                   margin: float = 1.1, seed: int = 0) -> dict[str, int]:
    """Per type, an entry count that random batches of ``batch_size`` molecules fit
    (the most of ``n_draws`` seeded random draws, times ``margin``, rounded up to a
    multiple of 8): the shape for the common case, where `max_entries` is the worst case.

    At QM9 scale the worst case pads 3x more than a random batch holds (rare types such as
    F-F pairs: a few entries per batch, hundreds in the worst one); a batch that does not fit
    takes the worst-case shape instead (`entry_counts` tells), one more compile at most.
    """
    rng = np.random.default_rng(seed)
    n = len(feature_set.nao)
    k = min(batch_size, n)
    picks = np.stack([rng.choice(n, size=k, replace=False) for _ in range(n_draws)])
    out = {}
    for key, tf in feature_set.types.items():
        most = int(np.diff(tf.offsets)[picks].sum(axis=1).max())
        out[key] = max(8, -(-int(np.ceil(most * margin)) // 8) * 8)
    return out


def entry_counts(feature_set: FeatureSet, indices: Sequence[int]) -> dict[str, int]:
    """Entries per type of the molecules ``indices`` (repeats counted)."""
    idx = np.asarray(list(indices), dtype=int)
    return {key: int(np.diff(tf.offsets)[idx].sum()) for key, tf in feature_set.types.items()}


def filler_molecule(feature_set: FeatureSet) -> int:
    """The molecule with the fewest block entries: what short batches are filled with (a
    copy of a batch's first molecule, the old filler, could overflow a fixed shape when
    that molecule is rich in a rare block type)."""
    totals = sum(np.diff(tf.offsets) for tf in feature_set.types.values())
    return int(np.argmin(totals))


def _take_padded(a: np.ndarray, idx: np.ndarray, n: int) -> np.ndarray:
    """``a[idx]`` zero-padded to ``n`` rows in one copy (``a`` may be a memory-mapped store)."""
    out = np.empty((n,) + a.shape[1:], a.dtype)  # not zeros: only the tail needs zeroing
    np.take(a, idx, axis=0, out=out[: len(idx)])
    out[len(idx):] = 0
    return out


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n,) + a.shape[1:], a.dtype)
    out[: len(a)] = a
    return out
