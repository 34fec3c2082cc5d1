"""UV-vis spectra of a trained run: the predicted Hamiltonian's singlet excitations
(`hamlearn.qm.excitations`, sTDA-like) for new molecules, optionally beside pyscf's TDA in
the run's target basis, written as data and plots (`scripts/spectra.py`).

Example:
    >>> entries = predict_spectra("runs/quickstart", structures)  # doctest: +SKIP
    >>> write_spectra(entries, "runs/quickstart/spectra/mols")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hamlearn.data.record import Reference
from hamlearn.data.structure import Structure
from hamlearn.qm.excitations import STDASettings
from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV

log = logging.getLogger("hamlearn.training")

#: default broadening (Gaussian standard deviation, eV) and energy grid (eV)
WIDTH_EV = 0.3
GRID_EV = (2.0, 16.0, 1401)
HC_EV_NM = 1239.84198
#: oscillator strength from which a state counts as bright (`lowest_bright_ev`)
BRIGHT_MIN_STRENGTH = 0.05


def lowest_bright_ev(energies_ev, strengths) -> float | None:
    """Energy (eV) of the lowest state with ``f >= BRIGHT_MIN_STRENGTH``, or None."""
    bright = [e for e, f in zip(energies_ev, strengths) if f >= BRIGHT_MIN_STRENGTH]
    return float(min(bright)) if bright else None


def run_stda_settings(cfg, *, n_states: int | None = None, n_occ: int | None = None,
                      n_virt: int | None = None, ax: float | None = None) -> STDASettings:
    """The sTDA-like settings to predict with: a run trained on excitations or the spectrum
    keeps its training window and exchange fraction (``train.loss.excitation_*``; the
    states it was fitted on are those of that window), any other run `STDASettings`'
    defaults; explicit arguments win."""
    from hamlearn.training.batches import excitation_settings

    trained = excitation_settings(cfg)
    base = STDASettings() if trained is None else STDASettings(
        n_occ=trained.n_occ, n_virt=trained.n_virt, ax=trained.ax,
        n_states=min(STDASettings().n_states, trained.n_occ * trained.n_virt))
    given = {"n_states": n_states, "n_occ": n_occ, "n_virt": n_virt, "ax": ax}
    return dataclasses.replace(base, **{k: v for k, v in given.items() if v is not None})


def excitations_of(fock: np.ndarray, ref: Reference,
                   settings: STDASettings | None = None) -> dict[str, np.ndarray]:
    """sTDA-like excitations of one molecule's (predicted) model-basis Fock (Hartree, e Bohr):
    real states only; ``settings`` default `STDASettings()`."""
    import jax

    from hamlearn.qm import QMInputs, qm_forward
    from hamlearn.qm.excitations import INVALID_ENERGY

    settings = settings if settings is not None else STDASettings()
    # the layer's own inputs (AO-pair kernels included), as training builds them
    inputs = QMInputs.from_model_data(ref.model, ref.structure, excitations=settings)
    out = jax.jit(qm_forward)(np.asarray(fock, np.float64), inputs)
    energies = np.asarray(out["excitation_energies"])
    real = energies < 0.5 * INVALID_ENERGY  # states beyond the molecule's pairs
    return {"energies": energies[real],
            "strengths": np.asarray(out["oscillator_strengths"])[real],
            "transition_dipoles": np.asarray(out["transition_dipoles"])[real]}


def reference_excitations(structure: Structure, cfg, n_states: int, *,
                          use_cache: bool = True) -> dict[str, np.ndarray]:
    """pyscf's TDA of ``structure`` with the run's method in its target basis (Hartree):
    from the run's label cache (``data.cache_dir``) where it holds this molecule with at
    least ``n_states`` states (a training or test molecule) unless ``use_cache`` is False
    (timings), else computed."""
    from hamlearn.data.cache import Cache, cache_key
    from hamlearn.data.reference import ReferenceSettings, run_scf, tda_excitations

    settings = ReferenceSettings.from_config(cfg.data)
    if use_cache and settings.excitations >= n_states:
        cached = Cache(cfg.resolve_path(cfg.data.cache_dir)).get(cache_key(structure, settings))
        try:
            lab = cached.target(cfg.train.target_basis) if cached is not None else None
        except KeyError:  # cached without the target basis
            lab = None
        if lab is not None and lab.transition_dipoles is not None:
            return {"energies": lab.excitation_energies[:n_states],
                    "strengths": lab.oscillator_strengths[:n_states],
                    "transition_dipoles": lab.transition_dipoles[:n_states]}
    mf = run_scf(structure, cfg.train.target_basis, settings)
    got = tda_excitations(mf, n_states)
    return {"energies": got["excitation_energies"], "strengths": got["oscillator_strengths"],
            "transition_dipoles": got["transition_dipoles"]}


def _user_units(ex: dict) -> dict:
    return {"excitation_energies_ev": (ex["energies"] * HARTREE_TO_EV).tolist(),
            "oscillator_strengths": np.asarray(ex["strengths"]).tolist(),
            "transition_dipoles_debye": (np.asarray(ex["transition_dipoles"])
                                         * AU_TO_DEBYE).tolist()}


def predict_spectra(run_dir: str | Path, structures: Sequence[Structure], *,
                    settings: STDASettings | None = None, reference: bool = False,
                    progress: bool = False) -> list[dict]:
    """One entry per structure: the predicted excitations (eV, oscillator strengths, Debye)
    and, with ``reference``, pyscf's TDA in the run's target basis under ``reference``
    (same keys) with ``mae_ev`` over the states both have and the lowest bright state's
    energy of each (``lowest_bright_ev``, f >= `BRIGHT_MIN_STRENGTH`) and its error
    (``lowest_bright_error_ev``, where both have one); failures as ``ok: false``.
    ``settings`` default: `run_stda_settings` of the run (its training window if any).

    Raises:
        ConfigError: for a run that does not predict a Hamiltonian (a direct surrogate).
    """
    from tqdm.auto import tqdm

    from hamlearn.config import ConfigError
    from hamlearn.data.reference import ReferenceDataError
    from hamlearn.runs import load_run
    from hamlearn.training.evaluate import predict_raw

    cfg, model = load_run(run_dir)
    settings = settings if settings is not None else run_stda_settings(cfg)
    if cfg.model.kind != "hamiltonian":
        raise ConfigError(f"{run_dir}: model.kind {cfg.model.kind!r} predicts no Hamiltonian, "
                          "so no excitations; use a hybrid run")
    from hamlearn.data.validate import split_valid

    valid, rejected = split_valid(structures, bases=(cfg.model.basis,),
                                  species=cfg.features.species)
    bad = {r.name: {"name": r.name, "ok": False, "error": r.reason} for r in rejected}
    raw = dict(zip((s.label for s in valid), predict_raw(model, cfg, valid) if valid else []))
    out = []
    for s in tqdm(structures, desc="spectra", unit="mol", disable=not progress,
                  dynamic_ncols=True):
        item = bad.get(s.label) or raw[s.label]
        if isinstance(item, dict):  # a failure entry
            out.append(item)
            continue
        ref, p = item
        entry = {"name": ref.structure.label, "ok": True,
                 **_user_units(excitations_of(p["fock"], ref, settings))}
        if reference:
            try:
                r = _user_units(reference_excitations(ref.structure, cfg, settings.n_states))
                n = min(len(r["excitation_energies_ev"]), len(entry["excitation_energies_ev"]))
                entry["reference"] = {"basis": cfg.train.target_basis, "method": cfg.data.method,
                                      **r}
                entry["mae_ev"] = float(np.mean(np.abs(
                    np.subtract(entry["excitation_energies_ev"][:n],
                                r["excitation_energies_ev"][:n]))))
                bright = [lowest_bright_ev(x["excitation_energies_ev"],
                                           x["oscillator_strengths"]) for x in (entry, r)]
                entry["lowest_bright_ev"] = {"model": bright[0], "reference": bright[1]}
                if None not in bright:
                    entry["lowest_bright_error_ev"] = bright[0] - bright[1]
            except ReferenceDataError as err:
                entry.setdefault("warnings", []).append(f"no pyscf reference: {err}")
        out.append(entry)
    return out


def broadened(energies_ev, strengths, grid_ev, width_ev: float = WIDTH_EV) -> np.ndarray:
    """Gaussian-broadened stick spectrum on ``grid_ev`` (per eV; integrates to sum f)."""
    e = np.asarray(energies_ev)[None, :]
    z = (np.asarray(grid_ev)[:, None] - e) / width_ev
    return (np.exp(-0.5 * z * z) / (width_ev * np.sqrt(2 * np.pi))) @ np.asarray(strengths)


def write_spectra(entries: list[dict], prefix: str | Path, *, width_ev: float = WIDTH_EV,
                  grid_ev: tuple = GRID_EV, max_panels: int = 12) -> list[Path]:
    """``prefix.json`` (the entries), ``prefix_uvvis.csv`` (energy eV, wavelength nm, one
    broadened column per molecule, and its pyscf reference where present) and
    ``prefix_uvvis.png`` (sticks and broadened curves, the first ``max_panels``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    written = [Path(f"{prefix}.json")]
    written[0].write_text(json.dumps(entries, indent=1, allow_nan=False))
    ok = [e for e in entries if e.get("ok")]
    if not ok:
        return written
    grid = np.linspace(*grid_ev)
    cols, names = [grid, HC_EV_NM / grid], ["energy_ev", "wavelength_nm"]
    for e in ok:
        cols.append(broadened(e["excitation_energies_ev"], e["oscillator_strengths"], grid,
                              width_ev))
        names.append(e["name"])
        if "reference" in e:
            r = e["reference"]
            cols.append(broadened(r["excitation_energies_ev"], r["oscillator_strengths"], grid,
                                  width_ev))
            names.append(f"{e['name']} (pyscf {r['method']}/{r['basis']})")
    csv = Path(f"{prefix}_uvvis.csv")
    header = ",".join(n.replace(",", ";") for n in names)
    np.savetxt(csv, np.stack(cols, axis=1), delimiter=",", header=header, comments="")
    written.append(csv)
    shown = ok[:max_panels]
    ncol = min(3, len(shown))
    nrow = -(-len(shown) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.0 * nrow), squeeze=False)
    for ax, e in zip(axes.ravel(), shown):
        ax.plot(grid, broadened(e["excitation_energies_ev"], e["oscillator_strengths"], grid,
                                width_ev), "C0-", label="model (sTDA-like)")
        ax.vlines(e["excitation_energies_ev"], 0, e["oscillator_strengths"], colors="C0", lw=1)
        if "reference" in e:
            r = e["reference"]
            ax.plot(grid, broadened(r["excitation_energies_ev"], r["oscillator_strengths"],
                                    grid, width_ev), "k--", label=f"pyscf TDA/{r['basis']}")
            ax.vlines(r["excitation_energies_ev"], 0, r["oscillator_strengths"], colors="k",
                      lw=1, linestyles="dotted")
        ax.set(title=e["name"], xlabel="excitation energy (eV)", ylabel="f per eV")
    for ax in axes.ravel()[len(shown):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    png = Path(f"{prefix}_uvvis.png")
    fig.savefig(png, dpi=110)
    plt.close(fig)
    written.append(png)
    return written
