"""The training loop: the only stateful place (logs, checkpoints, progress, early stop).

Determinism and resume: the batch order of epoch ``e`` is a function of ``(seed, e)``
only (the caller's ``batches_for_epoch``), and a checkpoint holds the exact model and
optimizer state plus the global step, so a run resumed from any checkpoint (after
Ctrl-C or ``kill -9``) replays the same steps as an uninterrupted one. Log lines written
after the checkpoint that is resumed from are dropped, so the log reads as one run.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from hamlearn.config import TrainConfig
from hamlearn.faults import fault_point
from hamlearn.training.checkpoint import checkpoint_exists, load_checkpoint, save_checkpoint
from hamlearn.training.step import learning_rate, reduce_learning_rate

log = logging.getLogger("hamlearn.training")


@dataclasses.dataclass
class LoopState:
    """Counters that a checkpoint carries besides model and optimizer state."""

    step: int = 0  # optimizer steps taken (global)
    epoch: int = 0  # epochs completed (validated)
    best_metric: float = math.inf
    best_epoch: int = -1
    bad_validations: int = 0
    skipped_steps: int = 0
    plateau_bad: int = 0  # schedule 'plateau': validations without a new best since the last cut
    stopped_early: bool = False
    seconds: float = 0.0


class RunLog:
    """Append-only JSONL (or CSV) log of train steps and validations.

    JSONL: one file ``log.jsonl`` with ``kind`` 'train' / 'val'. CSV: ``train.csv`` and
    ``val.csv``. `truncate_after(step)` drops records past a resumed checkpoint.
    """

    def __init__(self, folder: Path, fmt: str = "jsonl"):
        self.folder, self.fmt = Path(folder), fmt
        self.folder.mkdir(parents=True, exist_ok=True)

    def _files(self) -> list[Path]:
        if self.fmt == "jsonl":
            return [self.folder / "log.jsonl"]
        return [self.folder / "train.csv", self.folder / "val.csv"]

    def write(self, record: dict) -> None:
        record = {k: (float(v) if hasattr(v, "dtype") else v) for k, v in record.items()}
        if self.fmt == "jsonl":
            with open(self.folder / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")
            return
        path = self.folder / f"{record['kind']}.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(record))
            if new:
                w.writeheader()
            w.writerow(record)

    def read(self, kind: str | None = None) -> list[dict]:
        out = []
        for path in self._files():
            if not path.exists():
                continue
            if self.fmt == "jsonl":
                rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            else:
                with open(path, newline="") as f:
                    rows = [{k: _num(v) for k, v in r.items()} for r in csv.DictReader(f)]
            out.extend(r for r in rows if kind is None or r.get("kind") == kind)
        return out

    def truncate_after(self, step: int, epoch: int | None = None) -> None:
        """Keep only records with ``step <= step`` and, with ``epoch``, validations of at most
        ``epoch`` completed epochs (a partial last line is dropped too). A checkpoint taken at
        an epoch's last step, before its validation, must drop that validation: the resumed
        run validates the epoch again."""

        def keep(rec: dict) -> bool:
            if int(rec.get("step", 0)) > step:
                return False
            return epoch is None or rec.get("kind") != "val" or int(rec["epoch"]) <= epoch

        for path in self._files():
            if not path.exists():
                continue
            if self.fmt == "jsonl":
                kept = []
                for line in path.read_text().splitlines():
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut by kill -9
                    if keep(rec):
                        kept.append(line)
                path.write_text("".join(k + "\n" for k in kept))
            else:
                with open(path, newline="") as f:
                    rows = [r for r in csv.DictReader(f) if r.get("step") not in (None, "")
                            and keep({**r, "kind": path.stem})]
                path.unlink()
                for r in rows:
                    self.write({k: _num(v) for k, v in r.items()})


def _num(v: str) -> Any:
    for conv in (int, float):
        try:
            return conv(v)
        except (TypeError, ValueError):
            pass
    return v


def save_last(workdir: Path, model, opt_state, state: LoopState) -> None:
    save_checkpoint(Path(workdir) / "checkpoints", "last", (model, opt_state),
                    dataclasses.asdict(state))


def resume(workdir: Path, model, opt_state, runlog: RunLog | None = None):
    """Load ``last`` into skeletons ``(model, opt_state)``; returns them and the `LoopState`."""
    folder = Path(workdir) / "checkpoints"
    (model, opt_state), meta = load_checkpoint(folder, "last", (model, opt_state))
    fields = {f.name for f in dataclasses.fields(LoopState)}
    state = LoopState(**{k: v for k, v in meta.items() if k in fields})
    if runlog is not None:
        runlog.truncate_after(state.step, state.epoch)
    log.info("resumed from the checkpoint at step %d (epoch %d)", state.step, state.epoch)
    return model, opt_state, state


def has_checkpoint(workdir: Path) -> bool:
    return checkpoint_exists(Path(workdir) / "checkpoints", "last")


def fit(model, opt_state, step_fn: Callable, batches_for_epoch: Callable[[int], Sequence],
        validate: Callable[[Any], dict], cfg: TrainConfig, workdir: str | Path, *,
        state: LoopState | None = None, runlog: RunLog | None = None,
        progress: bool = True, metric: str = "loss"):
    """Run (or continue) training until ``cfg.epochs`` or early stopping.

    Args:
        model, opt_state: current model and optimizer state.
        step_fn: ``step(model, opt_state, batch) -> (model, opt_state, loss, aux, finite)``.
        batches_for_epoch: ``epoch -> list of batches`` (deterministic in the epoch).
        validate: ``model -> dict`` of validation metrics including ``metric``.
        cfg: training settings (epochs, patience, checkpoint_every).
        workdir: run folder (``checkpoints/``, logs).
        state: loop counters (from `resume`), fresh when None.

    Returns:
        ``(model, opt_state, state)`` at the end. The best model is in the ``best``
        checkpoint. On KeyboardInterrupt the ``last`` checkpoint is written first.
    """
    workdir = Path(workdir)
    state = state or LoopState()
    runlog = runlog or RunLog(workdir, cfg.log_format)
    t0 = time.perf_counter() - state.seconds
    try:
        while state.epoch < cfg.epochs and not state.stopped_early:
            batches = batches_for_epoch(state.epoch)
            first = state.step - state.epoch * len(batches)
            bar = tqdm(total=len(batches), initial=first, disable=not progress, leave=False,
                       desc=f"epoch {state.epoch + 1}/{cfg.epochs}", dynamic_ncols=True)
            for batch in batches[first:]:
                model, opt_state, loss, aux, finite = step_fn(model, opt_state, batch)
                state.step += 1
                if not bool(finite):
                    state.skipped_steps += 1
                    log.warning("step %d: non-finite loss or gradient, step skipped "
                                "(%d skipped so far)", state.step, state.skipped_steps)
                runlog.write({"kind": "train", "step": state.step, "epoch": state.epoch,
                              "loss": float(loss), "finite": bool(finite),
                              **{k: float(v) for k, v in aux.items()}})
                fault_point("train_step")
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss):.4g}")
                if cfg.checkpoint_every and state.step % cfg.checkpoint_every == 0:
                    state.seconds = time.perf_counter() - t0
                    save_last(workdir, model, opt_state, state)
            bar.close()
            metrics = validate(model)
            state.epoch += 1
            state.seconds = time.perf_counter() - t0
            opt_state = _after_validation(workdir, model, opt_state, metrics, metric, cfg, state,
                                          runlog, progress)
            save_last(workdir, model, opt_state, state)
    except KeyboardInterrupt:
        state.seconds = time.perf_counter() - t0
        save_last(workdir, model, opt_state, state)
        log.warning("interrupted at step %d: checkpoint written to %s; continue with --resume",
                    state.step, workdir / "checkpoints")
        raise
    return model, opt_state, state


def _after_validation(workdir, model, opt_state, metrics, metric, cfg, state, runlog, progress):
    """Best checkpoint, early stop, the plateau schedule's cut and the log line; returns
    the optimizer state (with a lowered learning rate after a plateau)."""
    if metric not in metrics:
        raise KeyError(f"train.select={metric!r} is not among the validation metrics "
                       f"{sorted(metrics)} (is that target's label present?)")
    value = float(metrics[metric])
    improved = value < state.best_metric
    if improved:
        state.best_metric, state.best_epoch, state.bad_validations = value, state.epoch, 0
        save_checkpoint(Path(workdir) / "checkpoints", "best", model,
                        {"epoch": state.epoch, "step": state.step, metric: value})
    else:
        state.bad_validations += 1
    if cfg.patience and state.bad_validations >= cfg.patience:
        state.stopped_early = True
    extra = {}
    if cfg.schedule == "plateau":
        state.plateau_bad = 0 if improved else state.plateau_bad + 1
        if state.plateau_bad >= cfg.plateau_patience:
            opt_state = reduce_learning_rate(opt_state, cfg.plateau_factor)
            state.plateau_bad = 0
            log.info("epoch %d: %s has not improved for %d validations; learning rate "
                     "lowered to %.3g", state.epoch, metric, cfg.plateau_patience,
                     learning_rate(opt_state))
        extra["learning_rate"] = learning_rate(opt_state)
    runlog.write({"kind": "val", "step": state.step, "epoch": state.epoch,
                  "seconds": state.seconds, "best": improved, **metrics, **extra})
    if progress:
        shown = " ".join(f"{k}={v:.4g}" for k, v in metrics.items() if k.startswith(("loss", "mae")))
        tqdm.write(f"epoch {state.epoch}: {shown}{' *' if improved else ''}")
    return opt_state
