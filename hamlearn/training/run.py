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
import jax.numpy as jnp
import numpy as np

from hamlearn.config import Config, ConfigError
from hamlearn.data.record import Reference
from hamlearn.data.sources import load_structures
from hamlearn.features import make_spec
from hamlearn.model import HamiltonianModel, ridge_fit
from hamlearn.training.batches import Batcher, LazyBatches, Prepared, epoch_order, prepare
from hamlearn.training.checkpoint import load_checkpoint
from hamlearn.training.curves import plot_training_curves
from hamlearn.training.evaluate import (evaluate_indices, forward, own_basis_errors,
                                       predict_batch, split_outputs)
from hamlearn.training.loop import LoopState, RunLog, fit, resume
from hamlearn.training.ood import fit_run
from hamlearn.training.losses import loss_terms, weighted_loss
from hamlearn.training.parallel import make_mesh, replicate, shard_batch
from hamlearn.training.references import check_species, load_references
from hamlearn.training.runfolder import open_run_folder
from hamlearn.training.split import Split, make_split
from hamlearn.training.step import make_optimizer, make_train_step
from hamlearn.training.targets import check_labels
from hamlearn.training.targets import weights as target_weights

__all__ = ["RunResult", "build_model", "check_species", "initial_model", "initial_scales",
           "load_hybrid", "load_references", "make_loss_fn", "open_run_folder",
           "predict_batch", "train"]

log = logging.getLogger("hamlearn.training")


def build_model(cfg: Config, *, key) -> HamiltonianModel:
    """The model skeleton of a config (random weights from ``key``; zeros for None)."""
    spec = make_spec(cfg.features, cfg.model.basis)
    return HamiltonianModel(spec, key=key, gated=cfg.model.gated)


# --------------------------------------------------------------------------- loss
def make_loss_fn(weights: dict[str, float], scales: dict[str, float], *,
                 prior=None, prior_weight: float = 0.0):
    """``loss(model, batch) -> (total, terms)``; terms are the raw per-target MSEs.

    With ``prior`` (a model of the same structure, e.g. the ridge initialisation) and
    ``prior_weight`` > 0, ``prior_weight * prior_distance(model, prior)`` is added to the
    total: the indirect targets cannot pull the Hamiltonian far from the prior's physics
    unless they gain more than that."""

    def loss_fn(model, batch):
        terms = loss_terms(predict_batch(model, batch), batch["targets"])
        total = weighted_loss(terms, weights, scales)
        if prior is not None and prior_weight:
            total = total + prior_weight * prior_distance(model, prior)
        return total, terms

    return loss_fn


def prior_distance(model, prior):
    """``||w - w0||^2 / ||w0||^2`` over every floating-point array of the model (weights,
    biases, gates): the relative squared distance from the prior's parameters (0 at the
    prior, 1 at zero weights), whatever their units."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))
    ref = jax.tree_util.tree_leaves(eqx.filter(prior, eqx.is_inexact_array))
    num = sum(jnp.sum((a - b) ** 2) for a, b in zip(leaves, ref))
    den = sum(jnp.sum(b**2) for b in ref)
    return num / jnp.maximum(den, 1e-300)


def loss_weights(cfg: Config) -> dict[str, float]:
    w = target_weights(cfg.train.loss)
    if not any(w.values()):
        raise ConfigError("train.loss: every weight is 0; nothing to train on")
    return w


def batch_terms(model, batch: dict) -> dict:
    """Raw loss terms of one batch, through the jitted forward shared with evaluation."""
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


def initial_model(cfg: Config, data: Prepared, split: Split) -> HamiltonianModel:
    """Random init from the seed, then (if enabled) the ridge fit of the model-basis F.

    On a baseline Hamiltonian (``model.baseline``) the start is all zeros instead (the
    correction of block types the ridge fit does not see stays zero: F0 exactly)."""
    key = None if cfg.model.baseline != "none" else jax.random.PRNGKey(cfg.train.seed)
    model = build_model(cfg, key=key)
    if cfg.train.ridge_init:
        train = [int(i) for i in split.train if data.refs[i].model.fock is not None]
        if train:
            t0 = time.perf_counter()
            model = ridge_fit(model, data.features, [ridge_target(data, i) for i in train],
                              cfg.model.ridge_alpha, indices=train)
            log.info("ridge initialisation on %d Fock matrices: %.1f s", len(train),
                     time.perf_counter() - t0)
        else:
            log.warning("train.ridge_init: no model-basis Fock matrices; random init kept")
    return model


def relative_mae(metrics: dict, initial: dict, weights: dict[str, float]) -> float:
    """Mean over the weighted targets of validation MAE / the initial model's MAE (each
    target's MAEs in its own units, ``mae_<target>_<unit>``, averaged over its units)."""
    ratios = []
    for name, w in weights.items():
        keys = [k for k in metrics if k.startswith(f"mae_{name}_")
                and "_" not in k[len(f"mae_{name}_"):] and initial.get(k)]
        if w and keys:
            ratios.append(np.mean([metrics[k] / initial[k] for k in keys]))
    if not ratios:
        raise ConfigError("train.select=relative_mae: no weighted target has a validation MAE")
    return float(np.mean(ratios))


def ridge_target(data: Prepared, i: int) -> np.ndarray:
    """What the model's F fits for molecule ``i``: the model-basis Fock, less the baseline
    Hamiltonian of delta learning when there is one."""
    fock, base = data.refs[i].model.fock, data.qm[i].base_fock
    return np.asarray(fock) if base is None else np.asarray(fock) - base


def train(cfg: Config, workdir: str | Path, *, resume_run: bool = False,
          progress: bool = True, refs: list[Reference] | None = None) -> RunResult:
    """Train (or resume) a Hamiltonian model run in ``workdir``; returns the best model.

    The runner of ``model.kind: hamiltonian`` (`hamlearn.runs`, which picks the runner of
    any kind)."""
    if cfg.model.kind != "hamiltonian":
        raise ConfigError(f"model.kind {cfg.model.kind!r}: a direct model; train it with "
                          "hamlearn.runs.train (the runner of every kind)")
    weights = loss_weights(cfg)
    if refs is None and cfg.data.labels != "published":  # a species typo: before any SCF
        check_species(load_structures(cfg.data, cfg.root, []), cfg)
    workdir = open_run_folder(cfg, workdir, resume_run)

    t0 = time.perf_counter()
    refs = load_references(cfg, progress=progress) if refs is None else refs
    check_species([r.structure for r in refs], cfg)
    split = make_split([r.structure for r in refs], cfg.train.split, cfg.train.seed)
    (workdir / "split.json").write_text(json.dumps(split.as_dict()))
    fit_run(cfg, workdir, [refs[i].structure for i in split.train])  # the OOD score's support
    try:  # a weighted target the training molecules have no labels for
        check_labels([refs[i] for i in split.train], cfg.train.loss, cfg.train.target_basis)
    except ValueError as err:
        raise ConfigError(str(err)) from None
    t1 = time.perf_counter()
    data = prepare(refs, cfg, store=True, progress=progress)
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
    # built when validating, one at a time (a fixed-shape batch of 64 QM9 molecules is ~550 MB)
    val_batches = LazyBatches(lambda c: shard_batch(batcher.batch(c), mesh), val_chunks)

    model = model0 = initial_model(cfg, data, split)
    if not resume_run:  # does the initial Fock model transfer in its own basis?
        own = own_basis_errors(model, data, batcher,
                               split.test if len(split.test) else split.validation)
        if own:
            (workdir / "own_basis_init.json").write_text(json.dumps(own, indent=1))
            log.info("initial model vs the model-basis SCF, own basis (%d molecules): "
                     "F %.2f mHa, occupied MOs %.3f eV, HOMO %.3f eV, dipole %.3f D, "
                     "alpha_iso %.1f %%", own["n_molecules"], own["mae_fock_mha"],
                     own["mae_mo_occupied_ev"], own["mae_homo_ev"], own["mae_dipole_debye"],
                     own["mae_polarizability_iso_pct"])
    scales = _scales(cfg, workdir, model, batcher, split, weights, resume_run)
    loss_fn = make_loss_fn(weights, scales, prior=model, prior_weight=cfg.train.prior_weight)
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
                           batcher.chunks(order), prefetch=cfg.train.prefetch)

    def validate(m):
        losses, preds = [], []
        for b, c in zip(val_batches, val_chunks):
            o = forward(m, b)
            losses.append(float(weighted_loss(loss_terms(o, b["targets"]), weights, scales)))
            preds += split_outputs(o, c, data)
        metrics = evaluate_indices(m, data, batcher, val_idx, cfg, preds=preds)["metrics"]
        return {"loss": float(np.mean(losses)),
                **{k: v for k, v in metrics.items() if k.startswith("mae_")}}

    if cfg.train.select == "relative_mae":  # the initial model's validation MAEs
        init_path = workdir / "validation_init.json"
        if not (resume_run and init_path.is_file()):
            init_path.write_text(json.dumps(validate(replicate(model0, mesh)), indent=1))
        initial = json.loads(init_path.read_text())
        plain_validate = validate

        def validate(m):  # noqa: F811 - the same validation plus the relative MAE
            metrics = plain_validate(m)
            return {**metrics, "relative_mae": relative_mae(metrics, initial, weights)}

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
    if cfg.train.loss.normalise == "per_atom":  # absolute weights (arXiv:2504.01187's loss)
        scales = {k: 1.0 for k, w in weights.items() if w}
        path.write_text(json.dumps(scales, indent=1))
        return scales
    # built one at a time: the whole training set as batches was 20+ GB at QM9 scale
    batches = LazyBatches(batcher.batch, batcher.chunks(split.train))
    scales = initial_scales(model, batches, weights)
    path.write_text(json.dumps(scales, indent=1))
    return scales


def load_hybrid(cfg: Config, folder: str | Path, which: str = "best") -> HamiltonianModel:
    """The ``best`` (or ``last``) Hamiltonian model of a run's ``checkpoints`` folder."""
    skeleton = build_model(cfg, key=None)
    if which == "last":
        (model, _), _ = load_checkpoint(folder, "last", (skeleton, _opt_skeleton(cfg, skeleton)))
    else:
        model, _ = load_checkpoint(folder, "best", skeleton)
    return model


def _opt_skeleton(cfg: Config, model):
    opt = make_optimizer(cfg.train, 1)
    return opt.init(eqx.filter(model, eqx.is_inexact_array))
