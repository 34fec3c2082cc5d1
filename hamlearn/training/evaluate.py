"""Predictions of a trained model and their errors (what `scripts/evaluate.py` and
`scripts/predict.py` call).

`predict_indices` runs model + QM layer over a `Prepared` dataset in fixed-size padded
batches and returns per-molecule numpy predictions (atomic units, unpadded);
`evaluate_indices` adds errors against the references in user units; `write_report`
writes them (``metrics.json``, ``report.md``, ``parity.png``).
"""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from hamlearn import aot
from hamlearn.config import Config
from hamlearn.plotting import parity_panels
from hamlearn.training.batches import Batcher, Prepared
from hamlearn.training.metrics import (by_size, molecule_errors, ordered_targets, summarize,
                                      target_label)

REPORT_MD = "report.md"
KEYS = ("mo_energy", "mo_occ", "gap", "homo", "lumo", "dipole", "polarizability", "fock")


def _forward(model, batch: dict) -> dict:
    from hamlearn.training.run import predict_batch

    out = predict_batch(model, batch)
    return {k: out[k] for k in KEYS}


_forward_jit = eqx.filter_jit(_forward)


def forward(model, batch: dict) -> dict:
    """Jitted model + QM layer on a batch: the `KEYS` outputs (leading ``batch`` axis).

    With `hamlearn.aot` enabled (the CLIs) the trace is stored on disk per batch shape,
    so a new process (a `predict.py` call) does not trace the model again."""
    if not aot.enabled():
        return _forward_jit(model, batch)
    params, static = eqx.partition(model, eqx.is_array)
    leaves, treedef = jax.tree_util.tree_flatten(static)  # what the function closes over
    return aot.call("forward", lambda p, b: _forward(eqx.combine(p, static), b),
                    (params, batch), static=(treedef, tuple(leaves)))


def predict_indices(model, data: Prepared, batcher: Batcher, indices) -> list[dict]:
    """Per-molecule predictions: ``mo_energy (nao,)``, ``mo_occ``, ``gap``, ``homo``,
    ``lumo`` (Hartree), ``dipole (3,)`` (e Bohr), ``polarizability (3, 3)`` (Bohr^3),
    ``fock (nao, nao)`` (Hartree, pyscf AO order)."""
    out = []
    for chunk in batcher.chunks(indices):
        out += split_outputs(forward(model, batcher.batch(chunk)), chunk, data)
    return out


def split_outputs(res: dict, chunk: list[int], data: Prepared) -> list[dict]:
    """Batched `forward` outputs -> per-molecule numpy dicts, padding removed."""
    res = {k: np.asarray(v) for k, v in res.items()}
    out = []
    for k, m in enumerate(chunk):
        n = int(data.nao[m])
        one = {key: res[key][k] for key in KEYS}
        one["mo_energy"], one["mo_occ"] = one["mo_energy"][:n], one["mo_occ"][:n]
        one["fock"] = one["fock"][:n, :n]
        out.append(one)
    return out


def evaluate_indices(model, data: Prepared, batcher: Batcher, indices, cfg: Config, *,
                     preds: list[dict] | None = None) -> dict:
    """Predictions, per-molecule errors, MAE/RMSE per target and by heavy-atom count.

    ``preds`` (per-molecule predictions of ``indices``) skips the forward pass.
    """
    indices = [int(i) for i in indices]
    if cfg.model.kind != "hamiltonian":  # a direct surrogate: its own features
        from hamlearn.surrogate.run import evaluate_direct

        return evaluate_direct(model, data.refs, indices, cfg)
    if preds is None:
        preds = predict_indices(model, data, batcher, indices)
    refs = [data.refs[i] for i in indices]
    loss = cfg.train.loss
    errors = [molecule_errors(p, r, loss, cfg.train.target_basis, loss.polarizability_kind)
              for p, r in zip(preds, refs)]
    return {"predictions": preds, "errors": errors, "metrics": summarize(errors),
            "by_size": by_size(errors, refs)}


def write_report(result: dict, data: Prepared, indices, cfg: Config, out: Path,
                 plots: bool = True, *, source: str = "", run: str = "",
                 baseline: dict | None = None) -> str:
    """``metrics.json``, ``report.md`` (+ ``parity.png``) in ``out``.

    Args:
        result: `evaluate_indices` output of ``indices``.
        data, indices, cfg: the evaluated molecules and the run's config.
        out: output folder (created).
        plots: write ``parity.png``.
        source: where the molecules come from (a file, the run's test split), for the report.
        run: the run folder (and checkpoint) the model comes from, for the report.
        baseline: `hamlearn.training.study.minimal_basis_result` of ``indices`` (the plain
            model-basis calculation), or None / empty when not available.

    Returns:
        the markdown report (the text of ``report.md``).
    """
    out.mkdir(parents=True, exist_ok=True)
    refs = [data.refs[i] for i in indices]
    report = {"metrics": result["metrics"],
              "by_heavy_atoms": {str(k): v for k, v in result["by_size"].items()},
              "target_basis": cfg.train.target_basis,
              "molecules": [r.structure.label for r in refs]}
    if baseline:
        report["minimal_basis"] = baseline
    (out / "metrics.json").write_text(json.dumps(report, indent=1))
    if plots:
        parity_plots(result, refs, cfg, out)
    method = refs[0].method if refs else cfg.data.method
    targets = f"{method} / {cfg.train.target_basis}"
    level = refs[0].meta.get("labels_level") if refs else None
    if level:  # published labels (QM9): their level and program, not the pipeline's method
        targets = f"published {refs[0].target(cfg.train.target_basis).source} labels, {level}"
    text = format_report(result["metrics"], result["by_size"],
                         data={"source": source or "-",
                               "molecules": _molecule_list(refs),
                               "targets": targets},
                         model={"run": run or "-", "kind": cfg.model.kind,
                                "model basis": cfg.model.basis,
                                "MO energies compared": _window(cfg)},
                         baseline=baseline, baseline_name=f"plain {cfg.model.basis}, no model")
    (out / REPORT_MD).write_text(text)
    return text


def _molecule_list(refs, shown: int = 8) -> str:
    names = [r.structure.label for r in refs]
    more = f", ... ({len(names) - shown} more)" if len(names) > shown else ""
    return f"{len(names)} (" + ", ".join(names[:shown]) + more + ")"


def _window(cfg: Config) -> str:
    loss = cfg.train.loss
    if loss.eig_window == "all":
        return f"the lowest n_AO ({cfg.model.basis}) levels of each molecule"
    return f"occupied + {loss.n_virtual} virtual levels of each molecule"


def format_report(metrics: dict, grouped: dict, *, data: dict[str, str], model: dict[str, str],
                  baseline: dict | None = None, baseline_name: str = "plain minimal basis") -> str:
    """A markdown report: data, model, MAE/RMSE per target (with the plain minimal-basis
    rows when ``baseline`` has metrics), MAE by heavy-atom count.

    Args:
        metrics: `summarize` output (``mae_<target>_<unit>``, ``rmse_...``, ``n_molecules``).
        grouped: `by_size` output, heavy-atom count -> metrics.
        data, model: label -> text, listed under "Data" and "Model".
        baseline: ``{'metrics': ..., 'by_size': ...}`` of the plain calculation; empty:
            the references have no model-basis Fock; None: not computed (a note either way).
        baseline_name: the baseline rows' name.

    Returns:
        markdown text; numbers with 4 significant digits, units in the column headers.
    """
    base = (baseline or {}).get("metrics") or {}
    keys = ordered_targets(k[4:] for m in (metrics, base) for k in m if k.startswith("mae_"))
    header = "| run | " + " | ".join(target_label(k) for k in keys) + " | molecules |"
    rule = "|---" * (len(keys) + 2) + "|"
    lines = ["# hamlearn evaluation", "", "## Data", *_bullets(data), "", "## Model",
             *_bullets(model), "", "## Errors", "", header, rule]
    rows = [("model", metrics)] + ([(baseline_name, base)] if base else [])
    for name, m in rows:
        for stat in ("mae", "rmse"):
            lines.append(f"| {name}, {stat.upper()} | "
                         + " | ".join(_cell(m, f"{stat}_{k}") for k in keys)
                         + f" | {m.get('n_molecules', '-')} |")
    if baseline is None:
        lines += ["", f"_No {baseline_name} row: not computed._"]
    elif not base:
        lines += ["", f"_No {baseline_name} row: the references carry no model-basis Fock._"]
    elif base.get("n_molecules") != metrics.get("n_molecules"):
        lines += ["", f"_{baseline_name}: only the molecules whose references carry a "
                      "model-basis Fock._"]
    lines += ["", "## MAE by heavy-atom count (model)", "",
              "| heavy atoms | molecules | " + " | ".join(target_label(k) for k in keys) + " |",
              "|---" * (len(keys) + 2) + "|"]
    for n, m in grouped.items():
        lines.append(f"| {n} | {m.get('n_molecules', '-')} | "
                     + " | ".join(_cell(m, f"mae_{k}") for k in keys) + " |")
    return "\n".join(lines) + "\n"


def _cell(metrics: dict, key: str) -> str:
    return f"{metrics[key]:.4g}" if key in metrics else "-"


def _bullets(items: dict[str, str]) -> list[str]:
    return [f"- {k}: {v}" for k, v in items.items()]


def parity_plots(result: dict, refs, cfg: Config, out: Path) -> Path:
    """``parity.png`` in ``out``: `hamlearn.plotting.parity_panels` (valence and core MO
    energies, dipole, polarizability; discrete colours by heavy-atom count)."""
    from matplotlib.figure import Figure  # no pyplot: no backend, no global figure list

    fig = parity_panels(result, refs, cfg.train.target_basis,
                        cfg.train.loss.polarizability_kind,
                        fig=Figure(figsize=(15, 4), layout="constrained"))
    path = out / "parity.png"
    fig.savefig(path, dpi=110)
    return path
