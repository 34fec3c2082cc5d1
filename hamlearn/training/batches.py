"""Datasets and batches for the Hamiltonian model: features + QM inputs + targets.

A `Prepared` dataset holds, per molecule, the reference, the fixed features (one
`FeatureSet` for all) and the unpadded `QMInputs`. `Batcher` turns index lists into
device batches of a fixed molecule count (short batches are filled with copies of
their first molecule, masked out of the loss) padded to an AO bucket, so the jitted
step compiles once per bucket. With ``fixed_shape`` every batch also gets the same AO
size and per-type entry counts (those random batches fit, `likely_entries`; a batch
that does not fit gets the worst case over the dataset, `max_entries`), so shuffled
mini-batches share one or two compiled steps instead of compiling each new combination
of entry counts (each compile costs 10-60 s; the padding costs less).
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Callable, Sequence

import jax
import numpy as np

from hamlearn.config import Config
from hamlearn.data.record import Reference
from hamlearn.features import FeatureSet, featurize
from hamlearn.model import entry_counts, filler_molecule, likely_entries, make_batch, max_entries
from hamlearn.qm import QMInputs, bucket_size, pad_batch
from hamlearn.training.targets import build_targets


@dataclasses.dataclass(eq=False)
class Prepared:
    """Host-side dataset: references, features (all molecules) and QM inputs."""

    refs: list[Reference]
    features: FeatureSet
    qm: list[QMInputs]

    @property
    def nao(self) -> np.ndarray:
        return self.features.nao


def prepare(refs: list[Reference], cfg: Config, *, store: bool = False,
            base: list[np.ndarray | None] | None = None, progress: bool = False) -> Prepared:
    """Features and QM inputs of ``refs`` (model basis ``cfg.model.basis``); with
    ``store`` the features go to the on-disk store ``cfg.data.feature_store`` names (under
    ``<cache_dir>/features``) unless it is 'memory'. ``base``: the baseline Hamiltonians
    of ``model.baseline`` when already computed (else `model_baselines`, with a progress
    bar when ``progress``)."""
    for r in refs:
        if r.model.basis.lower() != cfg.model.basis.lower():
            raise ValueError(f"{r.structure.label}: reference model basis {r.model.basis!r} "
                             f"differs from model.basis {cfg.model.basis!r}")
    structures = [r.structure for r in refs]
    kind = cfg.data.feature_store
    if store and kind != "memory":
        features = featurize(structures, cfg.features, cfg.model.basis,
                             store=cfg.resolve_path(cfg.data.cache_dir) / "features",
                             dtype=np.dtype(kind))
    else:
        features = featurize(structures, cfg.features, cfg.model.basis)
    r2 = needs_r2(cfg)
    exc = excitation_settings(cfg)
    base = model_baselines(refs, cfg, progress=progress) if base is None else base
    qm = [QMInputs.from_model_data(r.model, r.structure, r2=r2, base_fock=b, excitations=exc)
          for r, b in zip(refs, base)]
    return Prepared(refs=refs, features=features, qm=qm)


def model_baselines(refs: list[Reference], cfg: Config, *,
                    progress: bool = False) -> list[np.ndarray | None]:
    """The ``model.baseline`` Hamiltonian of each reference (None each for 'none'), with the
    run's reference settings, cached under ``data.cache_dir``."""
    if cfg.model.baseline == "none":
        return [None] * len(refs)
    from hamlearn.data.baseline import baseline_focks
    from hamlearn.data.reference import ReferenceSettings

    return baseline_focks(refs, cfg.model.baseline, ReferenceSettings.from_config(cfg.data),
                          cfg.resolve_path(cfg.data.cache_dir), progress=progress)


def needs_r2(cfg: Config) -> bool:
    """Whether the QM inputs need the r^2 integrals: the <R^2> target is trained on (only
    then is it reported, like the other invariant targets)."""
    return bool(cfg.train.loss.r2)


def excitation_settings(cfg: Config):
    """The excitation layer's settings when the excitation or spectrum target is trained on
    (only then does the QM layer compute and report excitations; the spectrum's grid and
    width with the spectrum target), else None."""
    loss = cfg.train.loss
    if not (loss.excitations or loss.spectrum):
        return None
    from hamlearn.qm.excitations import STDASettings
    from hamlearn.units import HARTREE_TO_EV

    grid = ((loss.spectrum_min_ev / HARTREE_TO_EV, loss.spectrum_max_ev / HARTREE_TO_EV,
             loss.spectrum_points) if loss.spectrum else None)
    return STDASettings(n_occ=loss.excitation_n_occ, n_virt=loss.excitation_n_virt,
                        n_states=loss.n_excitations, ax=loss.excitation_ax,
                        spectrum_grid=grid, spectrum_width=loss.spectrum_width_ev / HARTREE_TO_EV)


def nao_buckets(cfg: Config) -> tuple[int, ...]:
    from hamlearn.qm import DEFAULT_BUCKETS

    return tuple(cfg.train.nao_buckets) or DEFAULT_BUCKETS


class Batcher:
    """Builds device batches ``{'blocks', 'qm', 'targets'}`` from molecule indices.

    Args:
        data: the prepared dataset.
        cfg: run config (loss settings, target basis, buckets).
        batch_size: molecules per batch (fixed; short batches are filled).
        with_targets: build target arrays (False for prediction without references).
    """

    def __init__(self, data: Prepared, cfg: Config, batch_size: int, *,
                 with_targets: bool = True, multiple_of: int = 1, fixed_shape: bool = False):
        self.data, self.cfg = data, cfg
        self.batch_size = -(-max(batch_size, 1) // multiple_of) * multiple_of
        self.with_targets = with_targets
        self.buckets = nao_buckets(cfg)
        self.entry_pad = self.nao_pad = self.filler = self.worst_pad = None
        if fixed_shape:
            self.filler = filler_molecule(data.features)
            # two shapes: one that random batches fit (a third of the worst case's bytes and
            # compute at QM9 scale), and the worst case for a batch that does not fit
            self.worst_pad = max_entries(data.features, self.batch_size, filler=self.filler)
            likely = likely_entries(data.features, self.batch_size)
            self.entry_pad = {k: min(likely[k], self.worst_pad[k]) for k in likely}
            self.nao_pad = bucket_size(int(data.nao.max()), self.buckets, strict=False)

    def chunks(self, indices) -> list[list[int]]:
        idx = [int(i) for i in indices]
        return [idx[i:i + self.batch_size] for i in range(0, len(idx), self.batch_size)]

    def batch(self, indices: list[int]) -> dict:
        """One padded batch of the molecules ``indices`` (at most ``batch_size``)."""
        n_real = len(indices)
        fill = indices[0] if self.filler is None else self.filler
        full = list(indices) + [fill] * (self.batch_size - n_real)
        mol_mask = np.arange(self.batch_size) < n_real
        nao_pad = self.nao_pad or bucket_size(int(self.data.nao[indices].max()), self.buckets,
                                              strict=False)
        entry_pad = self.entry_pad
        if entry_pad is not None and any(
                n > entry_pad[k] for k, n in entry_counts(self.data.features, full).items()):
            entry_pad = self.worst_pad
        out = {
            "blocks": make_batch(self.data.features, full, nao_pad, entry_pad=entry_pad,
                                 host=True),
            "qm": pad_batch([self.data.qm[i] for i in full], nao_pad),
            "mol_mask": mol_mask,
        }
        if self.with_targets:
            out["targets"] = build_targets([self.data.refs[i] for i in full], nao_pad,
                                           self.cfg.train.loss, self.cfg.train.target_basis,
                                           mol_mask)
        return jax.device_put(out)  # one call for the whole batch (~140 arrays)

    def batches(self, indices) -> list[dict]:
        return [self.batch(c) for c in self.chunks(indices)]


def epoch_order(indices, seed: int, epoch: int) -> np.ndarray:
    """The training order of ``epoch``: a permutation that depends only on (seed, epoch)."""
    indices = np.asarray(indices)
    return indices[np.random.default_rng([seed, epoch]).permutation(len(indices))]


class LazyBatches(Sequence):
    """An epoch's batches, built one at a time when iterated, so the epoch is never held in
    memory at once; with ``prefetch`` > 0 the next batches are built in a background thread
    while the current step runs. Measured on 2 cores (QM7, batches of 16, median s/epoch of
    epochs 3-20, alternating runs): the former eager list 0.48-0.70, built in turn
    0.55-0.60, one prefetched 0.78-0.86 (the thread competes with XLA's own threads for the
    cores and the GIL), so prefetching is off by default; it pays where cores are spare.

    ``batches[k:]`` is the same lazily built sequence from chunk ``k`` (resume mid-epoch);
    ``batches[k]`` builds one batch in the calling thread. The contents are exactly those
    of ``[build(c) for c in chunks]``: only when they are built changes.
    """

    def __init__(self, build: Callable[[list[int]], dict], chunks: list[list[int]],
                 prefetch: int = 0):
        self.build, self.chunks, self.prefetch = build, list(chunks), max(int(prefetch), 0)

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return LazyBatches(self.build, self.chunks[i], self.prefetch)
        return self.build(self.chunks[i])

    def __iter__(self):
        if not self.prefetch:
            yield from (self.build(c) for c in self.chunks)
            return
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()

        def work():
            for c in self.chunks:
                try:
                    item = (True, self.build(c))
                except BaseException as err:  # handed to the consumer, raised there
                    item = (False, err)
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set() or not item[0]:
                    return

        thread = threading.Thread(target=work, daemon=True, name="hamlearn-batches")
        thread.start()
        try:
            for _ in self.chunks:
                ok, item = q.get()
                if not ok:
                    raise item
                yield item
        finally:  # the consumer stopped (end, break, interruption): let the worker go
            stop.set()
