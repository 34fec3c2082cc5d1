"""A training run of the Hamiltonian model, end to end (what `scripts/train.py` calls).

data (cache) -> split -> features -> model (ridge init on the model-basis Fock) ->
loss through the QM layer -> optax loop (checkpoints, resume) -> test metrics.

Run folder layout: ``config.yaml`` (resolved), ``split.json``, ``scales.json``, the log
(``log.jsonl`` or CSVs), ``checkpoints/{last,best}.json`` (+ content-named ``.eqx`` leaves), ``metrics_test.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from hamlearn.config import (Config, ConfigError, config_to_dict, dump_config, load_config,
                             with_absolute_paths)
from hamlearn.data.cookbook import load_cookbook
from hamlearn.data.generate import load_dataset, load_model_references
from hamlearn.data.record import Reference
from hamlearn.data.sources import load_structures
from hamlearn.data.structure import Structure
from hamlearn.errors import DatasetError
from hamlearn.features import make_spec
from hamlearn.model import HamiltonianModel, ridge_fit
from hamlearn.qm import qm_forward_batch
from hamlearn.training.batches import Batcher, LazyBatches, Prepared, epoch_order, prepare
from hamlearn.training.checkpoint import load_checkpoint
from hamlearn.training.curves import plot_training_curves
from hamlearn.training.loop import LoopState, RunLog, fit, has_checkpoint, resume
from hamlearn.training.losses import loss_terms, weighted_loss
from hamlearn.training.targets import check_labels
from hamlearn.training.targets import weights as target_weights
from hamlearn.training.parallel import make_mesh, replicate, shard_batch
from hamlearn.training.split import Split, make_split
from hamlearn.training.step import make_optimizer, make_train_step

log = logging.getLogger("hamlearn.training")


# --------------------------------------------------------------------------- data
def load_references(cfg: Config, *, progress: bool = True) -> list[Reference]:
    """The run's references: published cookbook labels or the pyscf pipeline (cached).

    With ``data.labels: published`` every source must be a ``cookbook`` source; their
    published labels are used as they are. Otherwise the references come from
    `hamlearn.data.generate.load_dataset` (failures are reported and left out).
    """
    data = cfg.data
    if getattr(data, "labels", "compute") == "published":
        return _published_references(cfg, progress)
    result = load_dataset(data, cfg.root, progress=progress)
    if result.failures:
        log.warning("%d molecule(s) failed and are left out (reasons above)",
                    len(result.failures))
    if not result.references:
        raise DatasetError("no reference data: every molecule failed (see the lines above)")
    return result.references


def _published_references(cfg: Config, progress: bool) -> list[Reference]:
    """Cookbook sources: their published labels and Fock matrices as they are. qm9 sources:
    the model-basis references from the pipeline (cached; the ridge initialisation and the
    plain minimal-basis row need their Fock) with QM9's invariant labels attached under
    ``6-31g(2df,p)`` (source 'qm9')."""
    import dataclasses

    data = cfg.data
    refs = []
    for i, src in enumerate(data.sources):
        if src.cookbook is not None:
            folder = cfg.resolve_path(data.cookbook_dir) if data.cookbook_dir else None
            refs += load_cookbook(folder, src.cookbook, src.index)
        elif src.qm9 is not None:
            from hamlearn.data.qm9 import QM9, attach_published

            only = dataclasses.replace(data, sources=(src,), target_bases=())
            result = load_model_references(only, cfg.root, progress=progress)
            if result.failures:
                log.warning("%d molecule(s) failed and are left out (reasons above)",
                            len(result.failures))
            refs += attach_published(result.references, QM9.open(slice_only=src.qm9.slice))
        else:
            raise ConfigError(f"data.sources.{i}: data.labels=published needs cookbook or qm9 "
                              "sources (published labels exist only for those)")
    if not refs:
        raise DatasetError("no reference data: every molecule failed (see the lines above)")
    return refs


def check_species(structures: list[Structure], cfg: Config) -> None:
    """Every element of the data must be in ``features.species`` (else one clear error)."""
    from ase.data import chemical_symbols

    known = set(cfg.features.species)
    missing: dict[int, list[str]] = {}
    for s in structures:
        for z in sorted(set(s.numbers.tolist()) - known):
            missing.setdefault(z, []).append(s.label)
    if missing:
        parts = [f"{chemical_symbols[z]} (Z={z}, {len(names)} molecules, e.g. {names[0]})"
                 for z, names in missing.items()]
        raise DatasetError(f"features.species {sorted(known)} lacks elements of the data: "
                           f"{'; '.join(parts)}: add them to features.species")


def build_model(cfg: Config, *, key) -> HamiltonianModel:
    """The model skeleton of a config (random weights from ``key``; zeros for None)."""
    spec = make_spec(cfg.features, cfg.model.basis)
    return HamiltonianModel(spec, key=key, gated=cfg.model.gated)


# --------------------------------------------------------------------------- loss
def predict_batch(model: HamiltonianModel, batch: dict) -> dict:
    """Model + QM layer on one batch: F and every observable, leading ``batch`` axis."""
    fock = model(batch["blocks"])
    return dict(qm_forward_batch(fock, batch["qm"]), fock=fock)


def make_loss_fn(weights: dict[str, float], scales: dict[str, float]):
    """``loss(model, batch) -> (total, terms)``; terms are the raw per-target MSEs."""

    def loss_fn(model, batch):
        terms = loss_terms(predict_batch(model, batch), batch["targets"])
        return weighted_loss(terms, weights, scales), terms

    return loss_fn


def loss_weights(cfg: Config) -> dict[str, float]:
    w = target_weights(cfg.train.loss)
    if not any(w.values()):
        raise ConfigError("train.loss: every weight is 0; nothing to train on")
    return w


def batch_terms(model, batch: dict) -> dict:
    """Raw loss terms of one batch, through the jitted forward shared with evaluation."""
    from hamlearn.training.evaluate import forward

    return loss_terms(forward(model, batch), batch["targets"])


def initial_scales(model, batches: list[dict], weights: dict[str, float]) -> dict[str, float]:
    """Each term's mean over the training batches for the initial model (the normaliser)."""
    sums: dict[str, float] = {}
    for b in batches:
        for k, v in batch_terms(model, b).items():
            sums[k] = sums.get(k, 0.0) + float(v) / len(batches)
    return {k: max(v, 1e-16) for k, v in sums.items() if weights.get(k)}


# --------------------------------------------------------------------------- run
@dataclasses.dataclass
class RunResult:
    workdir: Path
    model: HamiltonianModel
    data: Prepared
    split: Split
    state: LoopState
    test_metrics: dict


def _check_same_config(cfg: Config, workdir: Path) -> None:
    saved = workdir / "config.yaml"
    if saved.is_file():
        old = config_to_dict(load_config(saved))
        if old != config_to_dict(with_absolute_paths(cfg)):
            raise ConfigError(f"--resume: the config differs from the run's {saved}; resume "
                              "with that file or start a new workdir")


def open_run_folder(cfg: Config, workdir: str | Path, resume_run: bool) -> Path:
    """Check ``workdir`` against ``--resume`` (a run to continue with the same config, or
    no run yet), create it and write the resolved ``config.yaml``."""
    workdir = Path(workdir)
    if resume_run:
        if not has_checkpoint(workdir):
            raise FileNotFoundError(f"--resume: no checkpoint in {workdir / 'checkpoints'}")
        _check_same_config(cfg, workdir)
    elif has_checkpoint(workdir):
        raise FileExistsError(f"{workdir} already holds a run; pass --resume to continue it "
                              "or choose another --workdir")
    workdir.mkdir(parents=True, exist_ok=True)
    dump_config(with_absolute_paths(cfg), workdir / "config.yaml")
    return workdir


def initial_model(cfg: Config, data: Prepared, split: Split) -> HamiltonianModel:
    """Random init from the seed, then (if enabled) the ridge fit of the model-basis F."""
    model = build_model(cfg, key=jax.random.PRNGKey(cfg.train.seed))
    if cfg.train.ridge_init:
        train = [int(i) for i in split.train if data.refs[i].model.fock is not None]
        if train:
            t0 = time.perf_counter()
            model = ridge_fit(model, data.features, [data.refs[i].model.fock for i in train],
                              cfg.model.ridge_alpha, indices=train)
            log.info("ridge initialisation on %d Fock matrices: %.1f s", len(train),
                     time.perf_counter() - t0)
        else:
            log.warning("train.ridge_init: no model-basis Fock matrices; random init kept")
    return model


def train(cfg: Config, workdir: str | Path, *, resume_run: bool = False,
          progress: bool = True, refs: list[Reference] | None = None) -> RunResult:
    """Train (or resume) a Hamiltonian model run in ``workdir``; returns the best model."""
    from hamlearn.training.evaluate import evaluate_indices, forward, split_outputs

    if cfg.model.kind != "hamiltonian":  # a direct surrogate: one closed-form fit
        from hamlearn.surrogate.run import train_direct

        return train_direct(cfg, workdir, resume_run=resume_run, progress=progress, refs=refs)
    weights = loss_weights(cfg)
    if refs is None and cfg.data.labels != "published":  # a species typo: before any SCF
        check_species(load_structures(cfg.data, cfg.root, []), cfg)
    workdir = open_run_folder(cfg, workdir, resume_run)

    t0 = time.perf_counter()
    refs = load_references(cfg, progress=progress) if refs is None else refs
    check_species([r.structure for r in refs], cfg)
    split = make_split([r.structure for r in refs], cfg.train.split, cfg.train.seed)
    (workdir / "split.json").write_text(json.dumps(split.as_dict()))
    try:  # a weighted target the training molecules have no labels for
        check_labels([refs[i] for i in split.train], cfg.train.loss, cfg.train.target_basis)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    t1 = time.perf_counter()
    data = prepare(refs, cfg, store=True)
    log.info("%d molecules (train %d, validation %d, test %d): references %.1f s, "
             "features %.1f s", len(refs), len(split.train), len(split.validation),
             len(split.test), t1 - t0, time.perf_counter() - t1)

    mesh = make_mesh(cfg.train.devices)
    bs = cfg.train.batch_size or len(split.train)
    batcher = Batcher(data, cfg, bs, multiple_of=max(cfg.train.devices, 1),
                      fixed_shape=bs < len(split.train))
    val_idx = split.validation
    if not len(val_idx):
        log.warning("the validation split is empty: validating (and picking the best model) "
                    "on the training set; give train.split a validation fraction or list "
                    "for an honest model selection")
        val_idx = split.train
    val_chunks = batcher.chunks(val_idx)
    val_batches = [shard_batch(batcher.batch(c), mesh) for c in val_chunks]

    model = initial_model(cfg, data, split)
    scales = _scales(cfg, workdir, model, batcher, split, weights, resume_run)
    loss_fn = make_loss_fn(weights, scales)
    n_steps = len(batcher.chunks(split.train))
    optimizer = make_optimizer(cfg.train, n_steps)
    opt_state = optimizer.init(eqx.filter(model, eqx.is_inexact_array))
    runlog, state = RunLog(workdir, cfg.train.log_format), None
    if resume_run:
        model, opt_state, state = resume(workdir, model, opt_state, runlog)
    model, opt_state = replicate(model, mesh), replicate(opt_state, mesh)

    cache: dict = {}

    def batches_for_epoch(epoch):
        if bs >= len(split.train):  # full batch: the same batch every epoch
            if "full" not in cache:
                cache["full"] = [shard_batch(batcher.batch(list(split.train)), mesh)]
            return cache["full"]
        order = epoch_order(split.train, cfg.train.seed, epoch)
        return LazyBatches(lambda c: shard_batch(batcher.batch(c), mesh),
                           batcher.chunks(order))

    def validate(m):
        outs = [forward(m, b) for b in val_batches]
        losses = [float(weighted_loss(loss_terms(o, b["targets"]), weights, scales))
                  for o, b in zip(outs, val_batches)]
        preds = [p for o, c in zip(outs, val_chunks) for p in split_outputs(o, c, data)]
        metrics = evaluate_indices(m, data, batcher, val_idx, cfg, preds=preds)["metrics"]
        return {"loss": float(np.mean(losses)),
                **{k: v for k, v in metrics.items() if k.startswith("mae_")}}

    step = make_train_step(loss_fn, optimizer)
    model, opt_state, state = fit(model, opt_state, step, batches_for_epoch, validate, cfg.train,
                                  workdir, state=state, runlog=runlog, progress=progress,
                                  metric=cfg.train.select)
    if cfg.eval.plots:
        plot_training_curves(workdir)
    best, _ = load_checkpoint(workdir / "checkpoints", "best", model)
    test = {}
    if len(split.test):
        test = evaluate_indices(best, data, batcher, split.test, cfg)["metrics"]
        (workdir / "metrics_test.json").write_text(json.dumps(test, indent=1))
    return RunResult(workdir, best, data, split, state, test)


def _scales(cfg, workdir, model, batcher, split, weights, resume_run) -> dict[str, float]:
    path = workdir / "scales.json"
    if resume_run and path.is_file():
        return json.loads(path.read_text())
    batches = batcher.batches(split.train)
    scales = initial_scales(model, batches, weights)
    path.write_text(json.dumps(scales, indent=1))
    return scales


def load_run(workdir: str | Path, which: str = "best") -> tuple[Config, HamiltonianModel]:
    """The config and the ``best`` (or ``last``) model of a finished run folder."""
    workdir = Path(workdir)
    cfg_path = workdir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{workdir} is not a hamlearn run (no config.yaml)")
    cfg = load_config(cfg_path)
    if cfg.model.kind != "hamiltonian":
        from hamlearn.surrogate.run import load_direct

        return cfg, load_direct(cfg, workdir / "checkpoints", which)
    skeleton = build_model(cfg, key=None)
    folder = workdir / "checkpoints"
    if which == "last":
        (model, _), _ = load_checkpoint(folder, "last", (skeleton, _opt_skeleton(cfg, skeleton)))
    else:
        model, _ = load_checkpoint(folder, "best", skeleton)
    return cfg, model


def _opt_skeleton(cfg: Config, model):
    opt = make_optimizer(cfg.train, 1)
    return opt.init(eqx.filter(model, eqx.is_inexact_array))
