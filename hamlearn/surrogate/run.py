"""A run of a direct surrogate model (``model.kind: dipole | polarizability`` or one
rotation invariant: ``homo | lumo | gap | dipole_norm | polarizability_iso |
polarizability_aniso``).

The runner `hamlearn.runs` uses when the config's model is not the Hamiltonian: the same
data (references,
split) and the same run folder layout (``config.yaml``, ``split.json``, the log,
``checkpoints/{best,last}.{eqx,json}``, ``metrics_test.json``) and metric names
(`hamlearn.training.metrics`), so hybrid and direct runs compare side by side. Training
is one closed-form ridge fit (`fit_direct`); several ``model.ridge_alpha`` values are
chosen by the RMSE (atomic units) on the validation split (4-fold CV over the training
set when it is empty). ``--resume`` repeats the (deterministic) fit.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import equinox as eqx
import numpy as np

from hamlearn.config import Config, ConfigError
from hamlearn.data.record import Reference
from hamlearn.data.structure import Structure
from hamlearn.features.spec import bucket_size
from hamlearn.surrogate.features import AtomFeatures, atom_batch, atom_features, feature_sizes
from hamlearn.surrogate.fit import fit_direct
from hamlearn.surrogate.models import INVARIANT_KINDS, MODELS, DirectModel, make_direct_model
from hamlearn.training.checkpoint import load_checkpoint, save_checkpoint
from hamlearn.training.loop import LoopState, RunLog
from hamlearn.training.metrics import by_size, molecule_errors, summarize
from hamlearn.training.ood import fit_run
from hamlearn.training.references import check_species, load_references
from hamlearn.training.runfolder import open_run_folder
from hamlearn.training.split import Split, make_split
from hamlearn.training.targets import BY_NAME, Context
from hamlearn.units import AU_TO_DEBYE

log = logging.getLogger("hamlearn.training")

#: error keys of `molecule_errors` that each direct model is scored on
ERROR_KEYS = {"dipole": ("dipole_debye",),
              "polarizability": ("polarizability_au", "polarizability_pct"),
              **{k: (BY_NAME[k].user_key,) for k in INVARIANT_KINDS}}


@dataclasses.dataclass
class DirectRunResult:
    """What `train_direct` returns (the attributes `scripts/train.py` reads)."""

    workdir: Path
    model: DirectModel
    split: Split
    state: LoopState
    test_metrics: dict
    fit_info: dict


def build_direct_model(cfg: Config) -> DirectModel:
    """The zero-weight model of ``cfg.model.kind`` for ``cfg.features``."""
    kind = cfg.model.kind
    if kind not in MODELS:
        raise ConfigError(f"model.kind {kind!r} is not a direct model")
    irreps = MODELS[kind].irreps
    return make_direct_model(kind, len(cfg.features.species), feature_sizes(cfg.features, irreps))


def reference_targets(refs: list[Reference], cfg: Config) -> np.ndarray:
    """``(mol, 3)`` dipoles (e*Bohr) or ``(mol, 3, 3)`` polarizabilities (Bohr^3) of
    ``train.target_basis`` (kind ``train.loss.polarizability_kind``)."""
    basis, kind = cfg.train.target_basis, cfg.train.loss.polarizability_kind
    if cfg.model.kind in INVARIANT_KINDS:
        return np.array([_invariant_label(r, cfg) for r in refs])
    try:
        if cfg.model.kind == "dipole":
            return np.stack([r.target(basis).dipole for r in refs])
        return np.stack([r.target(basis).polarizability(kind) for r in refs])
    except KeyError as err:
        raise ConfigError(f"direct {cfg.model.kind} model: {err.args[0]}") from err


def _invariant_label(ref: Reference, cfg: Config) -> float:
    """The label of an invariant direct model's target (an error naming the molecule
    when it has none)."""
    target = BY_NAME[cfg.model.kind]
    got = target.label(ref, Context(cfg.train.loss, cfg.train.target_basis), ref.model.nao)
    if got is None:
        raise ConfigError(f"direct {cfg.model.kind} model: {ref.structure.label} has no "
                          f"{cfg.model.kind} label in {cfg.train.target_basis}")
    return float(got[0])


@eqx.filter_jit
def _forward(model: DirectModel, x):
    return model.batch(x)


def predict_features(model: DirectModel, af: AtomFeatures, indices, *,
                     chunk: int = 64) -> np.ndarray:
    """Predictions (atomic units) for the molecules ``indices`` of ``af``."""
    indices = [int(i) for i in indices]
    n_pad = bucket_size(int(af.n_atoms(indices).max()))
    out = [np.asarray(_forward(model, atom_batch(af, indices[k:k + chunk], n_pad)))
           for k in range(0, len(indices), chunk)]
    return np.concatenate(out)


def direct_errors(pred: np.ndarray, ref: Reference, cfg: Config) -> dict[str, np.ndarray]:
    """Signed errors of one prediction, in user units: `molecule_errors` (so the
    definitions and names are those of the Hamiltonian runs), restricted to the model's
    property (the other entries are NaN placeholders and dropped)."""
    if cfg.model.kind in INVARIANT_KINDS:  # the value under the target's own name
        ctx = Context(cfg.train.loss, cfg.train.target_basis)
        return BY_NAME[cfg.model.kind].errors({cfg.model.kind: float(pred)}, ref, ctx)
    nan = np.full(int(ref.model.nao), np.nan)
    full = {"mo_energy": nan, "gap": np.nan, "dipole": np.full(3, np.nan),
            "polarizability": np.full((3, 3), np.nan), cfg.model.kind: np.asarray(pred)}
    loss = cfg.train.loss
    errs = molecule_errors(full, ref, loss, cfg.train.target_basis, loss.polarizability_kind)
    return {k: errs[k] for k in ERROR_KEYS[cfg.model.kind] if k in errs}


def evaluate_direct(model: DirectModel, refs: list[Reference], indices, cfg: Config) -> dict:
    """Like `evaluate_indices`: predictions, errors, `summarize` metrics, `by_size`."""
    indices = [int(i) for i in indices]
    sel = [refs[i] for i in indices]
    af = atom_features([r.structure for r in sel], cfg.features, model.irreps)
    preds = predict_features(model, af, range(len(sel)))
    predictions = [{cfg.model.kind: p} for p in preds]
    errors = [direct_errors(p, r, cfg) for p, r in zip(preds, sel)]
    return {"predictions": predictions, "errors": errors, "metrics": summarize(errors),
            "by_size": by_size(errors, sel)}


def train_direct(cfg: Config, workdir: str | Path, *, resume_run: bool = False,
                 progress: bool = True, refs: list[Reference] | None = None) -> DirectRunResult:
    """Fit a direct model in ``workdir`` (run folder as `hamlearn.training.run.train`)."""
    workdir = open_run_folder(cfg, workdir, resume_run)
    t0 = time.perf_counter()
    refs = load_references(cfg, progress=progress) if refs is None else refs
    check_species([r.structure for r in refs], cfg)
    split = make_split([r.structure for r in refs], cfg.train.split, cfg.train.seed)
    (workdir / "split.json").write_text(json.dumps(split.as_dict()))
    fit_run(cfg, workdir, [refs[i].structure for i in split.train])  # the OOD score's support
    y = reference_targets(refs, cfg)
    model = build_direct_model(cfg)
    t1 = time.perf_counter()
    af = atom_features([r.structure for r in refs], cfg.features, model.irreps)
    t2 = time.perf_counter()
    model, info = fit_direct(model, af, split.train, y[split.train], cfg.model.ridge_alpha,
                             validation=split.validation, val_targets=y[split.validation],
                             seed=cfg.train.seed)
    t3 = time.perf_counter()
    log.info("direct %s model, %d molecules (train %d, validation %d, test %d): references "
             "%.1f s, features %.1f s, ridge fit %.1f s (alpha %g)", cfg.model.kind, len(refs),
             len(split.train), len(split.validation), len(split.test), t1 - t0, t2 - t1,
             t3 - t2, info["alpha"])
    val = (evaluate_direct(model, refs, split.validation, cfg)["metrics"]
           if len(split.validation) else {})
    _write_log(workdir, cfg, info, val)
    state = LoopState(best_metric=float(info["rmse_by_alpha"].get(info["alpha"], np.nan)),
                      best_epoch=0, seconds=time.perf_counter() - t0)
    meta = dict(dataclasses.asdict(state), kind=cfg.model.kind, alpha=info["alpha"],
                fit_seconds=t3 - t2, features_seconds=t2 - t1)
    for name in ("best", "last"):
        save_checkpoint(workdir / "checkpoints", name, model, meta)
    test = {}
    if len(split.test):
        test = evaluate_direct(model, refs, split.test, cfg)["metrics"]
        (workdir / "metrics_test.json").write_text(json.dumps(test, indent=1))
    return DirectRunResult(workdir, model, split, state, test,
                           dict(info, fit_seconds=t3 - t2, features_seconds=t2 - t1))


def _write_log(workdir: Path, cfg: Config, info: dict, val: dict) -> None:
    runlog = RunLog(workdir, cfg.train.log_format)
    for alpha, rmse in info["rmse_by_alpha"].items():
        runlog.write({"kind": "val", "step": 0, "epoch": 0, "ridge_alpha": alpha,
                      "rmse_au": rmse})
    runlog.write({"kind": "val", "step": 0, "epoch": 0, "ridge_alpha": info["alpha"],
                  **{k: v for k, v in val.items() if k.startswith("mae_")}})


def load_direct(cfg: Config, folder: str | Path, which: str = "best") -> DirectModel:
    """The ``best`` or ``last`` direct model of a run's ``checkpoints`` folder."""
    model, _ = load_checkpoint(folder, which, build_direct_model(cfg))
    return model


def predict_direct(model: DirectModel, cfg: Config, structures: list[Structure]) -> list[dict]:
    """Per-structure predictions in user units: ``dipole_debye`` (3,) or
    ``polarizability_au`` (3, 3), or the invariant in its user unit (``homo_ev``...), plus
    ``name``."""
    af = atom_features(structures, cfg.features, model.irreps)
    preds = predict_features(model, af, range(len(structures)))
    if cfg.model.kind in INVARIANT_KINDS:
        target = BY_NAME[cfg.model.kind]
        return [{"name": s.label, target.user_key: float(p) * target.user_scale}
                for s, p in zip(structures, preds)]
    if cfg.model.kind == "dipole":
        return [{"name": s.label, "dipole_debye": (p * AU_TO_DEBYE).tolist()}
                for s, p in zip(structures, preds)]
    return [{"name": s.label, "polarizability_au": p.tolist()}
            for s, p in zip(structures, preds)]
