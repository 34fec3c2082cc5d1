"""Predictions of a trained model and their errors (what `scripts/evaluate.py` and
`scripts/predict.py` call).

`predict_indices` runs model + QM layer over a `Prepared` dataset in fixed-size padded
batches and returns per-molecule numpy predictions (atomic units, unpadded);
`evaluate_indices` adds errors against the references in user units.
"""

from __future__ import annotations

import json
from pathlib import Path

import equinox as eqx
import numpy as np

from hamlearn.config import Config
from hamlearn.training.batches import Batcher, Prepared
from hamlearn.training.metrics import by_size, format_table, molecule_errors, summarize
from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV

KEYS = ("mo_energy", "mo_occ", "gap", "homo", "lumo", "dipole", "polarizability", "fock")


@eqx.filter_jit
def forward(model, batch: dict) -> dict:
    """Jitted model + QM layer on a batch: the `KEYS` outputs (leading ``batch`` axis)."""
    from hamlearn.training.run import predict_batch

    out = predict_batch(model, batch)
    return {k: out[k] for k in KEYS}


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
                 plots: bool = True) -> str:
    """``metrics.json`` (+ parity PNGs) in ``out``; returns the printed table."""
    out.mkdir(parents=True, exist_ok=True)
    report = {"metrics": result["metrics"],
              "by_heavy_atoms": {str(k): v for k, v in result["by_size"].items()},
              "target_basis": cfg.train.target_basis,
              "molecules": [data.refs[i].structure.label for i in indices]}
    (out / "metrics.json").write_text(json.dumps(report, indent=1))
    if plots:
        parity_plots(result, [data.refs[i] for i in indices], cfg, out)
    return format_table(result["metrics"], result["by_size"])


def parity_plots(result: dict, refs, cfg: Config, out: Path) -> None:
    """Parity plots (prediction vs reference) per target, coloured by heavy-atom count."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from hamlearn.training.split import n_heavy_atoms

    basis, kind = cfg.train.target_basis, cfg.train.loss.polarizability_kind
    errs = result["errors"]
    panels = [("eigenvalues_ev", "MO energies (eV)",
               lambda p, r, e: r.target(basis).mo_energy[:len(e)] * HARTREE_TO_EV),
              ("dipole_debye", "dipole components (D)",
               lambda p, r, e: r.target(basis).dipole * AU_TO_DEBYE),
              ("polarizability_au", "polarizability components (a.u.)",
               lambda p, r, e: r.target(basis).polarizability(kind).ravel())]
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    sc = None
    for ax, (key, title, ref_fn) in zip(axes, panels):
        xs, ys, cs = [], [], []
        for p, r, e in zip(result["predictions"], refs, errs):
            if key not in e:
                continue
            x = ref_fn(p, r, e[key])
            xs.append(x)
            ys.append(x + e[key])
            cs.append(np.full(len(x), n_heavy_atoms(r.structure)))
        if not xs:
            ax.set_visible(False)
            continue
        x, y, c = map(np.concatenate, (xs, ys, cs))
        sc = ax.scatter(x, y, c=c, s=8, cmap="viridis")
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set(title=f"{title}\nMAE {np.mean(np.abs(y - x)):.3g}", xlabel="reference",
               ylabel="prediction")
    if sc is not None:
        fig.colorbar(sc, ax=axes, label="heavy atoms")
    fig.savefig(out / "parity.png", dpi=110)
    plt.close(fig)
