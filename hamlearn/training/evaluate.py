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
from hamlearn.data.record import Reference
from hamlearn.data.structure import Structure
from hamlearn.plotting import parity_panels
from hamlearn.qm import qm_forward_batch
from hamlearn.qm.excitations import INVALID_ENERGY
from hamlearn.training.batches import Batcher, Prepared, prepare
from hamlearn.training.metrics import (
    by_size,
    molecule_errors,
    ordered_targets,
    summarize,
    target_label,
)
from hamlearn.training.references import unlabelled_reference
from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV

REPORT_MD = "report.md"
KEYS = ("mo_energy", "mo_occ", "gap", "homo", "lumo", "dipole", "polarizability", "fock")
#: outputs the layer returns only when its inputs allow (``r2``: with r^2 integrals)
OPTIONAL_KEYS = ("r2", "excitation_energies", "oscillator_strengths", "spectrum")
#: a predicted HOMO-LUMO gap below this (eV) is flagged
MIN_GAP_EV = 1.0
#: a model-basis overlap eigenvalue below this is flagged (STO-3G molecules: ~0.05-0.3)
MIN_OVERLAP_EIGENVALUE = 1e-4
#: molecules featurised at once when evaluating references (memory independent of the input)
EVAL_CHUNK = 256


def predict_batch(model, batch: dict) -> dict:
    """Model + QM layer on one batch: F (the model's output plus the baseline Hamiltonian
    of delta learning, when the QM inputs carry one) and every observable, leading
    ``batch`` axis."""
    fock = model(batch["blocks"])
    if batch["qm"].base_fock is not None:
        fock = fock + batch["qm"].base_fock
    return dict(qm_forward_batch(fock, batch["qm"]), fock=fock)


def _forward(model, batch: dict) -> dict:
    out = predict_batch(model, batch)
    return {k: out[k] for k in (*KEYS, *OPTIONAL_KEYS) if k in out}


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
        one = {key: res[key][k] for key in res}
        one["mo_energy"], one["mo_occ"] = one["mo_energy"][:n], one["mo_occ"][:n]
        one["fock"] = one["fock"][:n, :n]
        out.append(one)
    return out


def own_basis_errors(model, data: Prepared, batcher: Batcher, indices) -> dict:
    """How well the model reproduces the model-basis SCF *in its own basis* on the molecules
    of ``indices`` that have its Fock: MAE of F (mHa), occupied MO energies, HOMO, LUMO
    (eV), the dipole vector (norm of the difference, D) and the uncoupled polarizability's
    isotropic value (%). For the ridge initialisation it says whether the Fock model itself
    transfers (indirect training cannot fix what it gets wrong); empty without Focks."""
    import jax

    from hamlearn.model.direct import pad_focks

    idx = [int(i) for i in indices if data.refs[int(i)].model.fock is not None]
    if not idx:
        return {}
    plain_fn = jax.jit(qm_forward_batch)
    rows = []
    for chunk in batcher.chunks(idx):
        batch = batcher.batch(chunk)
        pred = split_outputs(forward(model, batch), chunk, data)
        n_rows, nao_pad = batch["qm"].ovlp.shape[:2]
        focks = [data.refs[i].model.fock for i in chunk]
        # the batch's filler rows (discarded): a diagonal F with distinct levels
        focks += [np.diag(np.arange(1.0, 1.0 + data.nao[chunk[0]]))] * (n_rows - len(chunk))
        padded = pad_focks(focks, nao_pad)
        ref = split_outputs(dict(plain_fn(padded, batch["qm"]), fock=padded), chunk, data)
        for p, r in zip(pred, ref):
            occ = np.asarray(r["mo_occ"]) > 0
            a_p, a_r = np.trace(p["polarizability"]) / 3, np.trace(r["polarizability"]) / 3
            rows.append({
                "fock_mha": 1e3 * float(np.mean(np.abs(p["fock"] - r["fock"]))),
                "mo_occupied_ev": HARTREE_TO_EV * float(np.mean(np.abs(
                    p["mo_energy"][occ] - r["mo_energy"][occ]))),
                "homo_ev": HARTREE_TO_EV * abs(float(p["homo"] - r["homo"])),
                "lumo_ev": HARTREE_TO_EV * abs(float(p["lumo"] - r["lumo"])),
                "dipole_debye": AU_TO_DEBYE * float(np.linalg.norm(p["dipole"] - r["dipole"])),
                "polarizability_iso_pct": 100 * abs(float(a_p - a_r)) / abs(float(a_r)),
            })
    out = {f"mae_{k}": float(np.mean([r[k] for r in rows])) for k in rows[0]}
    out["n_molecules"] = len(rows)
    return out


def evaluate_indices(model, data: Prepared, batcher: Batcher, indices, cfg: Config, *,
                     preds: list[dict] | None = None) -> dict:
    """Predictions, per-molecule errors, MAE/RMSE per target and by heavy-atom count.

    ``preds`` (per-molecule predictions of ``indices``) skips the forward pass.
    """
    indices = [int(i) for i in indices]
    if preds is None:
        preds = predict_indices(model, data, batcher, indices)
    refs = [data.refs[i] for i in indices]
    loss = cfg.train.loss
    errors = [molecule_errors(p, r, loss, cfg.train.target_basis, loss.polarizability_kind)
              for p, r in zip(preds, refs)]
    return {"predictions": preds, "errors": errors, "metrics": summarize(errors),
            "by_size": by_size(errors, refs)}


def prediction_entry(structure: Structure, ref: Reference, p: dict) -> dict:
    """One molecule's `predict_indices` output as a prediction entry in user units (eV,
    Debye, a.u.), with ``warnings`` when the numbers should not be trusted: a predicted gap
    below `MIN_GAP_EV` or a nearly singular model-basis overlap."""
    gap_ev = float(p["gap"]) * HARTREE_TO_EV
    entry = {
        "name": structure.label,
        "ok": True,
        "gap_ev": gap_ev,
        "homo_ev": float(p["homo"]) * HARTREE_TO_EV,
        "lumo_ev": float(p["lumo"]) * HARTREE_TO_EV,
        "dipole_debye": (np.asarray(p["dipole"]) * AU_TO_DEBYE).tolist(),
        "polarizability_au": np.asarray(p["polarizability"]).tolist(),
        "mo_energies_ev": (np.asarray(p["mo_energy"]) * HARTREE_TO_EV).tolist(),
        "n_occupied": int(np.sum(np.asarray(p["mo_occ"]) > 0)),
    }
    if "r2" in p:  # the model was trained on <R^2>
        entry["r2_au"] = float(p["r2"])
    if "excitation_energies" in p:  # trained on excitations: the layer's lowest states
        w = np.asarray(p["excitation_energies"])
        real = w < 0.5 * INVALID_ENERGY
        entry["excitation_energies_ev"] = (w[real] * HARTREE_TO_EV).tolist()
        entry["oscillator_strengths"] = np.asarray(p["oscillator_strengths"])[real].tolist()
    warnings = []
    if gap_ev < MIN_GAP_EV:
        warnings.append(f"predicted HOMO-LUMO gap {gap_ev:.3g} eV is below {MIN_GAP_EV} eV: "
                        "unphysical for a closed-shell molecule (outside the model's data?); "
                        "the polarizability is unreliable")
    s_min = float(np.linalg.eigvalsh(ref.model.ovlp)[0])
    entry["overlap_min_eigenvalue"] = s_min
    if s_min < MIN_OVERLAP_EIGENVALUE:
        warnings.append(f"model-basis overlap nearly singular (smallest eigenvalue "
                        f"{s_min:.2g}): near-linear dependence, F C = S C e is ill-conditioned")
    if warnings:
        entry["warnings"] = warnings
    return entry


def predict_raw(model, cfg: Config, structures) -> list:
    """Per validated structure, in order: ``(reference, prediction)`` (the unlabelled
    reference with its model-basis data, and `predict_indices`' outputs: MOs, observables
    and the predicted ``fock``), or a failure entry (``ok`` false) where its baseline could
    not be computed. Model-basis integrals (no SCF), features, model and QM layer in one
    pass."""
    from hamlearn.errors import DatasetError
    from hamlearn.training.batches import model_baselines

    refs = [unlabelled_reference(s, cfg.model.basis) for s in structures]
    out: list = [None] * len(refs)
    base = [None] * len(refs)
    if cfg.model.baseline != "none":  # one molecule at a time: a failed SCF fails only it
        for k, r in enumerate(refs):
            try:
                (base[k],) = model_baselines([r], cfg)
            except DatasetError as err:
                out[k] = {"name": r.structure.label, "ok": False, "error": str(err)}
    ok = [k for k in range(len(refs)) if out[k] is None]
    if ok:
        data = prepare([refs[k] for k in ok], cfg, base=[base[k] for k in ok])
        batcher = Batcher(data, cfg, len(ok), with_targets=False)
        preds = predict_indices(model, data, batcher, range(len(ok)))
        for k, p in zip(ok, preds):
            out[k] = (refs[k], p)
    return out


def predict_entries(model, cfg: Config, structures) -> list[dict]:
    """Prediction entries (`prediction_entry`) of validated ``structures`` (`predict_raw`)."""
    return [item if isinstance(item, dict) else prediction_entry(s, *item)
            for s, item in zip(structures, predict_raw(model, cfg, structures))]


def evaluate_references(model, refs: list[Reference], indices, cfg: Config, *,
                        data: Prepared | None = None, progress: bool = False,
                        chunk: int = EVAL_CHUNK) -> dict:
    """`evaluate_indices` of ``refs[indices]``, streamed: features and batches of ``chunk``
    molecules at a time, so memory does not grow with the number of molecules (only the
    per-molecule predictions and errors are kept). ``data`` (``refs`` already prepared)
    evaluates from it instead."""
    from tqdm.auto import tqdm

    indices = [int(i) for i in indices]
    if data is not None:
        return evaluate_indices(model, data, Batcher(data, cfg, min(len(indices), 32)),
                                indices, cfg)
    preds, errors = [], []
    with tqdm(total=len(indices), desc="evaluate", unit="mol", disable=not progress,
              dynamic_ncols=True) as bar:
        for start in range(0, len(indices), chunk):
            part = [refs[i] for i in indices[start:start + chunk]]
            d = prepare(part, cfg)
            # one padded shape per chunk (bucketed, so chunks mostly share it): a shape per
            # batch compiled the forward pass tens of times over a few thousand molecules
            res = evaluate_indices(model, d, Batcher(d, cfg, min(len(part), 32),
                                                     fixed_shape=True),
                                   range(len(part)), cfg)
            preds += res["predictions"]
            errors += res["errors"]
            bar.update(len(part))
    return {"predictions": preds, "errors": errors, "metrics": summarize(errors),
            "by_size": by_size(errors, [refs[i] for i in indices])}


def write_report(result: dict, refs: list[Reference], indices, cfg: Config, out: Path,
                 plots: bool = True, *, source: str = "", run: str = "",
                 baseline: dict | None = None) -> str:
    """``metrics.json``, ``report.md`` (+ ``parity.png``) in ``out``.

    Args:
        result: the runner's evaluation (`evaluate_references`) of ``indices``.
        refs, indices, cfg: the references, the evaluated ones among them, the run's config.
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
    refs = [refs[i] for i in indices]
    report = {"metrics": result["metrics"],
              "by_heavy_atoms": {str(k): v for k, v in result["by_size"].items()},
              "target_basis": cfg.train.target_basis,
              "molecules": [r.structure.label for r in refs]}
    if baseline:
        report["minimal_basis"] = baseline
        n_base = baseline.get("metrics", {}).get("n_molecules")
        if n_base is not None and n_base < len(refs):  # the model on the same molecules
            same = [e for e, r in zip(result["errors"], refs) if r.model.fock is not None]
            baseline = dict(baseline, model_same_molecules=summarize(same))
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
        baseline: ``{'metrics': ..., 'by_size': ...}`` of the plain calculation (and
            ``model_same_molecules``: the model's metrics on its molecules, when those are a
            subset, as a row of its own); empty:
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
    if (baseline or {}).get("model_same_molecules"):
        rows.insert(1, ("model, the plain row's molecules", baseline["model_same_molecules"]))
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
