"""The run layer: one runner per model kind behind one table.

A `Runner` is what the command-line tools, `hamlearn.training.study` and the notebooks
need of a model kind: train it into a run folder, load it back, evaluate it on
references, predict new structures. `runner_for` picks it from ``model.kind``; nothing
above this module switches on the kind. The hybrid runner (``hamiltonian``: a
minimal-basis Hamiltonian through the QM layer) lives in `hamlearn.training.run` and
`hamlearn.training.evaluate`; the direct ones (one property straight from features) in
`hamlearn.surrogate.run`. Both share the references (`hamlearn.training.references`) and
the run folder (`hamlearn.training.runfolder`). A new model kind is one more entry of
`RUNNERS`.

Example:
    >>> from hamlearn import runs                                     # doctest: +SKIP
    >>> result = runs.train(load_config("configs/quickstart.yaml"), "runs/q")
    >>> cfg, model = runs.load_run("runs/q")
    >>> ev = runs.runner_for(cfg).evaluate(model, refs, range(len(refs)), cfg)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hamlearn.config import Config, ConfigError, load_config
from hamlearn.data.record import Reference
from hamlearn.data.structure import Structure
from hamlearn.surrogate import run as direct
from hamlearn.surrogate.models import MODELS
from hamlearn.training import evaluate as hybrid_eval
from hamlearn.training import run as hybrid


@dataclasses.dataclass(frozen=True)
class Runner:
    """What every model kind provides.

    Attributes:
        name: 'hybrid' or 'direct' (for logs and reports).
        train: ``(cfg, workdir, *, resume_run, progress, refs) -> result`` with ``workdir``,
            ``model``, ``split``, ``state`` (`LoopState`) and ``test_metrics``.
        load: ``(cfg, checkpoints_folder, which) -> model`` ('best' or 'last').
        evaluate: ``(model, refs, indices, cfg, *, data=None, progress=False) ->
            {'predictions', 'errors', 'metrics', 'by_size'}`` of ``refs[indices]``
            (``data``: features of ``refs`` already prepared, when the runner has them).
        predict: ``(model, cfg, structures) -> [entry]``: one dict per structure in user
            units (``name``, ``ok`` true, the properties), validated structures only.
        needs_integrals: prediction needs model-basis integrals (the basis must cover
            every element).
    """

    name: str
    train: Callable[..., Any]
    load: Callable[[Config, Path, str], Any]
    evaluate: Callable[..., dict]
    predict: Callable[[Any, Config, Sequence[Structure]], list[dict]]
    needs_integrals: bool


def _direct_evaluate(model, refs: list[Reference], indices, cfg: Config, *, data=None,
                     progress: bool = False) -> dict:
    del data, progress  # its own (atom-centred) features, computed in one pass
    return direct.evaluate_direct(model, refs, indices, cfg)


def _direct_predict(model, cfg: Config, structures: Sequence[Structure]) -> list[dict]:
    return [{"ok": True, **p} for p in direct.predict_direct(model, cfg, list(structures))]


HYBRID = Runner("hybrid", hybrid.train, hybrid.load_hybrid, hybrid_eval.evaluate_references,
                hybrid_eval.predict_entries, needs_integrals=True)
DIRECT = Runner("direct", direct.train_direct, direct.load_direct, _direct_evaluate,
                _direct_predict, needs_integrals=False)

#: model.kind -> its runner
RUNNERS: dict[str, Runner] = {"hamiltonian": HYBRID, **{k: DIRECT for k in MODELS}}


def runner_for(cfg: Config) -> Runner:
    """The runner of ``cfg.model.kind``."""
    try:
        return RUNNERS[cfg.model.kind]
    except KeyError:
        raise ConfigError(f"model.kind {cfg.model.kind!r} has no runner; known: "
                          f"{', '.join(RUNNERS)}") from None


def train(cfg: Config, workdir: str | Path, *, resume_run: bool = False,
          progress: bool = True, refs: list[Reference] | None = None):
    """Train (or resume) a run of any model kind in ``workdir`` (its runner's result)."""
    return runner_for(cfg).train(cfg, workdir, resume_run=resume_run, progress=progress,
                                 refs=refs)


def load_run(workdir: str | Path, which: str = "best") -> tuple[Config, Any]:
    """The config and the ``best`` (or ``last``) model of a finished run folder."""
    workdir = Path(workdir)
    cfg_path = workdir / "config.yaml"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{workdir} is not a hamlearn run (no config.yaml)")
    cfg = load_config(cfg_path)
    return cfg, runner_for(cfg).load(cfg, workdir / "checkpoints", which)
