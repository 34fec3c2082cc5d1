"""Studies that train several setups on one dataset and compare them (`scripts/compare.py`).

Parts (arXiv:2504.01187's questions):

* ``targets``: the multi-target ablation of the hybrid model: eigenvalues only, + dipole,
  + dipole + polarizability, and dipole + polarizability without eigenvalues;
* ``direct``: the hybrid model (eigenvalues + dipole + polarizability) against the direct
  surrogate dipole and polarizability models, random split (in distribution);
* ``transfer``: the same three trained on small molecules, tested on larger ones
  (``train.split.kind: size``);
* ``basis``: the same STO-3G model trained on targets of different bases (reduced basis);
* ``baselines``: delta learning (``model.baseline``): the hybrid model predicting F itself
  against corrections to extended Hueckel, the atomic-density Fock and the converged
  model-basis SCF (the ``transfer`` part has the last two as rows too);
* ``series``: the size series (`hamlearn.data.size_series`: polyenes, acenes, polyenoic
  acids up to 42 atoms, shipped B3LYP/6-31G(2df,p) labels): the base config's hybrid model,
  the same on the SCF baseline and the direct surrogates, each also evaluated on every
  member; errors against size in ``size_series.png`` (needs a 6-31g(2df,p) target basis);
* ``curves``: learning curves: the hybrid model (as configured and on the SCF baseline) and
  the direct surrogates of the targets it is trained on (`curve_models`) on nested subsets of 1/8, 1/4, 1/2 and all of the training set
  (``train.split.n_train``), validation and test unchanged; plotted log-log.

Every part also scores the plain minimal-basis calculation (the reference model-basis
Fock through the QM layer, no learning) on the same test molecules: what the minimal
basis gets wrong before any training. Each run lives in ``out/<part>/<name>`` and writes
``result.json`` last, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path

import numpy as np

from hamlearn.config import Config, config_to_dict, load_config, with_absolute_paths
from hamlearn.runs import runner_for, train
from hamlearn.training.loop import has_checkpoint
from hamlearn.training.metrics import by_size, molecule_errors, summarize
from hamlearn.training.references import load_references

log = logging.getLogger("hamlearn.training")

PARTS = ("targets", "direct", "transfer", "basis", "baselines", "loss", "capacity", "series",
         "curves")

#: loss variants of the ``targets`` part: overrides of ``train.loss``
LOSS_VARIANTS = {
    "eig": ("train.loss.eigenvalues=1", "train.loss.dipole=0", "train.loss.polarizability=0"),
    "eig+dip": ("train.loss.eigenvalues=1", "train.loss.dipole=1",
                "train.loss.polarizability=0"),
    "eig+dip+pol": ("train.loss.eigenvalues=1", "train.loss.dipole=1",
                    "train.loss.polarizability=1"),
    "dip+pol": ("train.loss.eigenvalues=0", "train.loss.dipole=1",
                "train.loss.polarizability=1"),
}
DIRECT = {"hybrid": LOSS_VARIANTS["eig+dip+pol"], "direct-dipole": ("model.kind=dipole",),
          "direct-polarizability": ("model.kind=polarizability",)}
#: the ``baselines`` part: the full-target hybrid model on each baseline Hamiltonian
#: (the base config's model and loss: on QM9's invariant labels as on full spectra)
BASELINE_VARIANTS = {f"hybrid+{b}" if b != "none" else "hybrid": (f"model.baseline={b}",)
                     for b in ("none", "huckel", "sad", "gfn2", "scf")}
#: rows of the ``transfer`` part besides `DIRECT` (its loss, like `DIRECT`'s hybrid)
TRANSFER_EXTRA = {f"hybrid+{b}": (*LOSS_VARIANTS["eig+dip+pol"], f"model.baseline={b}")
                  for b in ("sad", "scf")}
#: direct surrogate kinds: a ``curves`` row for each the base config's loss weights
DIRECT_KINDS = ("dipole", "polarizability", "homo", "lumo", "gap", "dipole_norm",
                "polarizability_iso", "polarizability_aniso")
#: the ``curves`` part's training-set fractions
CURVE_FRACTIONS = (0.125, 0.25, 0.5, 1.0)
#: the models of the ``series`` part: the base config's own loss, so a paper-style config
#: keeps its targets
SERIES_MODELS = {"hybrid": (), "hybrid+scf": ("model.baseline=scf",),
                 "direct-dipole": DIRECT["direct-dipole"],
                 "direct-polarizability": DIRECT["direct-polarizability"]}
#: the ``loss`` part (loss design): arXiv:2504.01187's absolute weights by target family,
#: for the targets the base config weights (MO levels 1e4, dipole 1e3, polarizability and
#: <R^2> 1e2, the Fock entries like the MO energies)
PAPER_WEIGHTS = {"eigenvalues": 1e4, "gap": 1e4, "homo": 1e4, "lumo": 1e4, "matrix": 1e4,
                 "dipole": 1e3, "dipole_norm": 1e3, "polarizability": 1e2,
                 "polarizability_iso": 1e2, "polarizability_aniso": 1e2, "r2": 1e2}
#: the plateau schedule's patience of the paper's code (ReduceLROnPlateau, factor 0.5)
PAPER_PATIENCE = 10
#: the ``capacity`` part: invariant gates (a nonlinearity) and nu = 2 pair features;
#: the base config's model with more capacity, each lever alone, on F itself and on the SCF
#: baseline (explicit, so a base config that already has one, e.g. gates, still isolates it)
CAPACITY_VARIANTS = {"gated": ("model.gated=true", "model.baseline=none"),
                     "gated+scf": ("model.gated=true", "model.baseline=scf"),
                     "pair-nu2": ("features.nu_pair=2", "model.gated=false",
                                  "model.baseline=none"),
                     "pair-nu2+scf": ("features.nu_pair=2", "model.gated=false",
                                      "model.baseline=scf")}
#: parts whose runs are also scored on the size series when the target basis is the series'
SERIES_PARTS = ("series", "loss", "capacity")


def paper_loss_overrides(cfg: Config) -> tuple[str, ...]:
    """arXiv:2504.01187's loss design on ``cfg``'s weighted targets: per-molecule errors
    normalised by atom count (``normalise: per_atom``), absolute weights `PAPER_WEIGHTS`,
    the plateau learning-rate schedule and twice the epochs (longer training)."""
    from hamlearn.training.targets import weights as target_weights

    used = [k for k, w in target_weights(cfg.train.loss).items() if w]
    return (*(f"train.loss.{k}={PAPER_WEIGHTS[k]:g}" for k in used),
            "train.loss.normalise=per_atom", "train.schedule=plateau",
            f"train.plateau_patience={PAPER_PATIENCE}", "train.plateau_factor=0.5",
            f"train.epochs={2 * cfg.train.epochs}")


def loss_variants(cfg: Config) -> dict[str, tuple[str, ...]]:
    """The ``loss`` part's runs: ours (the base config) and the paper's loss design, each
    on F itself and on the converged STO-3G SCF (``model.baseline=scf``)."""
    paper = paper_loss_overrides(cfg)
    return {"ours": (), "paper": paper, "ours+scf": ("model.baseline=scf",),
            "paper+scf": (*paper, "model.baseline=scf")}


@dataclasses.dataclass(frozen=True)
class Variant:
    """One training run of a study: a config file plus ``--set`` style overrides."""

    part: str
    name: str
    config: str
    overrides: tuple[str, ...] = ()

    def load(self, common: tuple[str, ...] = ()) -> Config:
        return load_config(self.config, list(common) + list(self.overrides))


def study_variants(config: str | Path, parts=PARTS, *, max_train_heavy_atoms: int = 5,
                   basis_configs: dict[str, str] | None = None) -> list[Variant]:
    """The runs of the requested ``parts`` on the base ``config``.

    Args:
        config: base config of the hybrid model (data, features, training settings).
        parts: subset of `PARTS`.
        max_train_heavy_atoms: size split of the ``transfer`` part.
        basis_configs: extra target bases for the ``basis`` part, ``{basis: config}``
            (e.g. ``{'def2-svp': 'configs/qm7_def2svp.yaml'}``); the base config's own
            target basis and its model basis are always included.
    """
    unknown = set(parts) - set(PARTS)
    if unknown:
        raise ValueError(f"unknown study part(s) {sorted(unknown)}; choose from {PARTS}")
    config = str(config)
    base = load_config(config)
    if "series" in parts and not series_applies(base):
        from hamlearn.data.size_series import BASIS

        raise ValueError(f"the series part needs train.target_basis {BASIS} (the size "
                         f"series' labels); {config} has {base.train.target_basis}")
    out = []
    if "targets" in parts:
        out += [Variant("targets", n, config, o) for n, o in LOSS_VARIANTS.items()]
    if "direct" in parts:
        out += [Variant("direct", n, config, o) for n, o in DIRECT.items()]
    if "transfer" in parts:
        size = ("train.split.kind=size",
                f"train.split.max_train_heavy_atoms={max_train_heavy_atoms}")
        out += [Variant("transfer", n, config, o + size)
                for n, o in {**DIRECT, **TRANSFER_EXTRA}.items()]
    if "basis" in parts:
        full = LOSS_VARIANTS["eig+dip+pol"]
        bases = {base.model.basis: (config, (f"train.target_basis={base.model.basis}",)),
                 **{b: (c, ()) for b, c in (basis_configs or {}).items()},
                 base.train.target_basis: (config, ())}
        out += [Variant("basis", b, c, full + o) for b, (c, o) in bases.items()]
    if "baselines" in parts:
        out += [Variant("baselines", n, config, o) for n, o in BASELINE_VARIANTS.items()]
    if "series" in parts:
        out += [Variant("series", n, config, o) for n, o in SERIES_MODELS.items()]
    # after the series: its hybrid runs are the loss part's 'ours' rows (trained once)
    if "loss" in parts:
        out += [Variant("loss", n, config, o) for n, o in loss_variants(base).items()]
    if "capacity" in parts:
        out += [Variant("capacity", n, config, o) for n, o in CAPACITY_VARIANTS.items()]
    if "curves" in parts:
        n_full = training_set_size(base)
        sizes = sorted({max(1, round(f * n_full)) for f in CURVE_FRACTIONS})
        # smallest sets first: an interrupted study has every model's first points
        out += [Variant("curves", f"{m}@{n}", config, o + (f"train.split.n_train={n}",))
                for n in sizes for m, o in curve_models(base).items()]
    return out


def curve_models(cfg: Config) -> dict[str, tuple[str, ...]]:
    """The models of the ``curves`` part on base config ``cfg``, each with its own loss: the
    hybrid model as configured, the same on the SCF baseline (unless it is already), and a
    direct surrogate for every target the loss weights that one can predict (dipole and
    polarizability on full-spectrum data; HOMO, LUMO, |mu|, alpha invariants on QM9's)."""
    b = cfg.model.baseline
    models = {"hybrid" if b == "none" else f"hybrid+{b}": ()}
    if b != "scf":
        models["hybrid+scf"] = ("model.baseline=scf",)
    for kind in DIRECT_KINDS:
        if getattr(cfg.train.loss, kind, 0.0) > 0:
            models[f"direct-{kind}"] = (f"model.kind={kind}",)
    return models


def series_applies(cfg: Config) -> bool:
    """Whether the size series can score ``cfg``'s runs (its target basis is the series')."""
    from hamlearn.data.size_series import BASIS

    return cfg.train.target_basis.lower() == BASIS


def default_parts(config: str | Path) -> tuple[str, ...]:
    """`PARTS` without ``series`` where the config's target basis is not the series'."""
    return tuple(p for p in PARTS if p != "series" or series_applies(load_config(config)))


def training_set_size(cfg: Config) -> int:
    """How many training molecules ``cfg``'s split gives (its sources read, nothing
    computed)."""
    from hamlearn.data.sources import load_structures
    from hamlearn.training.split import make_split

    structures = load_structures(cfg.data, cfg.root, [])
    full = dataclasses.replace(cfg.train.split, n_train=None)
    return len(make_split(structures, full, cfg.train.seed).train)


# --------------------------------------------------------------------------- one run
def _evaluate(res, cfg: Config, refs) -> dict:
    """Test-split metrics and errors by size of a finished run (any model kind)."""
    test = [int(i) for i in res.split.test]
    return runner_for(cfg).evaluate(res.model, refs, test, cfg, data=getattr(res, "data", None))


def run_variant(variant: Variant, out: str | Path, *, common: tuple[str, ...] = (),
                refs=None, progress: bool = False) -> dict:
    """Train (or resume, or reuse) one variant; returns its ``result.json`` content."""
    workdir = Path(out) / variant.part / variant.name
    done = workdir / "result.json"
    if done.is_file():
        result = json.loads(done.read_text())
        if "series" in result and _series_stale(result):  # labels added since
            from hamlearn.runs import load_run

            cfg, model = load_run(workdir)
            result["series"] = series_result(model, cfg, progress=progress)
            done.write_text(json.dumps(result, indent=1))
        return result
    cfg = variant.load(common)
    refs = load_references(cfg, progress=progress) if refs is None else refs
    t0 = time.perf_counter()
    res = train(cfg, workdir, resume_run=has_checkpoint(workdir), progress=progress, refs=refs)
    seconds = time.perf_counter() - t0
    ev = _evaluate(res, cfg, refs)
    test = [int(i) for i in res.split.test]
    result = {"part": variant.part, "name": variant.name, "config": variant.config,
              "overrides": list(common) + list(variant.overrides), "kind": cfg.model.kind,
              "target_basis": cfg.train.target_basis, "seconds": seconds,
              "n_train": len(res.split.train), "n_test": len(test),
              "metrics": ev["metrics"], "by_size": _str_keys(ev["by_size"]),
              "minimal_basis": minimal_basis_result(refs, test, cfg)}
    own = workdir / "own_basis_init.json"
    if own.is_file():
        result["own_basis_init"] = json.loads(own.read_text())
    if variant.part in SERIES_PARTS and series_applies(cfg):
        result["series"] = series_result(res.model, cfg, progress=progress)
    done.write_text(json.dumps(result, indent=1))
    return result


def _str_keys(d: dict) -> dict:
    return {str(k): v for k, v in d.items()}


def series_result(model, cfg: Config, refs=None, *, families=None,
                  max_atoms: int | None = None, progress: bool = False) -> dict:
    """Errors of a trained model (any kind) on the size series: metrics over the members,
    one row per member (`member_rows`) and the plain minimal-basis calculation's."""
    from hamlearn.training.references import series_references

    if refs is None:
        refs = series_references(cfg, families=families, max_atoms=max_atoms,
                                 progress=progress)
    idx = list(range(len(refs)))
    ev = runner_for(cfg).evaluate(model, refs, idx, cfg, progress=progress)
    return {"metrics": ev["metrics"], "members": member_rows(ev["errors"], refs),
            "minimal_basis": minimal_basis_result(refs, idx, cfg)}


def _series_stale(result: dict) -> bool:
    """Whether a stored series result misses members the shipped labels now have."""
    from hamlearn.data.size_series import shipped_labels

    scored = {m["name"] for m in result.get("series", {}).get("members", [])}
    return not set(shipped_labels()) <= scored


def member_rows(errors: list[dict], refs) -> list[dict]:
    """Per molecule: name, atom and heavy-atom counts and the MAE of every target."""
    from hamlearn.training.split import n_heavy_atoms

    return [{"name": r.structure.name, "n_atoms": len(r.structure.numbers),
             "n_heavy": n_heavy_atoms(r.structure),
             **{f"mae_{k}": float(np.mean(np.abs(v))) for k, v in e.items()}}
            for e, r in zip(errors, refs)]


def minimal_basis_result(refs, indices, cfg: Config) -> dict:
    """Errors of the plain model-basis calculation (reference Fock -> QM layer) against
    the run's targets on ``indices``: metrics and by size (empty without Fock matrices)."""
    import jax

    from hamlearn.model.direct import pad_focks
    from hamlearn.qm import QMInputs, bucket_size, pad_batch, qm_forward_batch

    sel = [refs[i] for i in indices if refs[i].model.fock is not None]
    if not sel:
        return {}
    nao_pad = bucket_size(max(r.model.nao for r in sel), strict=False)
    from hamlearn.training.batches import excitation_settings, needs_r2

    r2, exc = needs_r2(cfg), excitation_settings(cfg)
    qm = pad_batch([QMInputs.from_model_data(r.model, r.structure, r2=r2, excitations=exc)
                    for r in sel], nao_pad)
    outs = jax.jit(qm_forward_batch)(pad_focks([r.model.fock for r in sel], nao_pad), qm)
    loss = cfg.train.loss
    errors = []
    for k, r in enumerate(sel):
        n = int(r.model.nao)
        pred = {"mo_energy": np.asarray(outs["mo_energy"][k])[:n],
                **{key: np.asarray(outs[key][k]) for key in ("gap", "homo", "lumo", "dipole",
                                                             "polarizability", "r2",
                                                             "excitation_energies", "spectrum")
                   if key in outs}}
        errors.append(molecule_errors(pred, r, loss, cfg.train.target_basis,
                                      loss.polarizability_kind))
    return {"metrics": summarize(errors), "by_size": _str_keys(by_size(errors, sel)),
            "members": member_rows(errors, sel)}


def run_study(variants: list[Variant], out: str | Path, *, common: tuple[str, ...] = (),
              progress: bool = True) -> list[dict]:
    """Run every variant (references loaded once per data section); results in order."""
    refs_by_data: dict[str, list] = {}
    by_config: dict[str, dict] = {}  # identical resolved configs are trained once
    results = []
    for k, v in enumerate(variants):
        cfg = v.load(common)
        same = json.dumps(config_to_dict(with_absolute_paths(cfg)), sort_keys=True)
        log.info("[%d/%d] %s/%s", k + 1, len(variants), v.part, v.name)
        if same in by_config:
            results.append(dict(by_config[same], part=v.part, name=v.name,
                                same_run_as=by_config[same]["part"] + "/"
                                + by_config[same]["name"]))
            continue
        key = repr(cfg.data) + cfg.root
        if key not in refs_by_data and not (Path(out) / v.part / v.name / "result.json").is_file():
            refs_by_data[key] = load_references(cfg, progress=progress)
        by_config[same] = run_variant(v, out, common=common, refs=refs_by_data.get(key),
                                      progress=progress)
        results.append(by_config[same])
    return results


# --------------------------------------------------------------------------- report
COLUMNS = (("eigenvalues_ev", "MO energies (eV)"), ("gap_ev", "gap (eV)"),
           ("dipole_debye", "dipole (D)"), ("polarizability_au", "alpha (a.u.)"),
           ("polarizability_pct", "alpha (%)"))
#: the invariant targets of QM9-style labels, shown where a study's runs report them
INVARIANT_COLUMNS = (("homo_ev", "HOMO (eV)"), ("lumo_ev", "LUMO (eV)"),
                     ("dipole_norm_debye", "abs(mu) (D)"),
                     ("polarizability_iso_au", "alpha_iso (a.u.)"),
                     ("polarizability_aniso_au", "alpha aniso (a.u.)"))
_LABELS = dict(COLUMNS + INVARIANT_COLUMNS)


def columns_for(metrics: list[dict]) -> tuple[tuple[str, str], ...]:
    """`COLUMNS` (full-spectrum targets) and `INVARIANT_COLUMNS` that any of ``metrics``
    reports (gap and the invariants for a QM9 study; the five full-spectrum columns when
    nothing is reported)."""
    order = ("eigenvalues_ev", "homo_ev", "lumo_ev", "gap_ev", "dipole_debye",
             "dipole_norm_debye", "polarizability_au", "polarizability_pct",
             "polarizability_iso_au", "polarizability_aniso_au")
    got = [(k, _LABELS[k]) for k in order if any("mae_" + k in m for m in metrics)]
    return tuple(got) or COLUMNS


def _row(name: str, metrics: dict, extra: str = "", columns=COLUMNS) -> str:
    cells = [f"{metrics['mae_' + k]:.3g}" if "mae_" + k in metrics else "-" for k, _ in columns]
    return f"| {name} | " + " | ".join(cells) + f" | {extra} |"


def format_study(results: list[dict]) -> str:
    """Markdown tables of test MAEs, one per part, with the minimal-basis baseline row."""
    lines = []
    for part in PARTS:
        rows = [r for r in results if r["part"] == part]
        if not rows:
            continue
        cols = columns_for([r["metrics"] for r in rows])
        lines += [f"### {part}", "",
                  "| run | " + " | ".join(t for _, t in cols) + " | train / test, time |",
                  "|---" * (len(cols) + 2) + "|"]
        seen_baseline = set()
        for r in rows:
            extra = f"{r['n_train']} / {r['n_test']}, {r['seconds']:.0f} s"
            if r.get("same_run_as"):
                extra += f" (= {r['same_run_as']})"
            own = r.get("own_basis_init")
            if own:
                extra += (f"; init vs own SCF: MOs {own['mae_mo_occupied_ev']:.2f} eV, "
                          f"dipole {own['mae_dipole_debye']:.2f} D")
            lines.append(_row(f"{r['name']} ({r['target_basis']})", r["metrics"], extra, cols))
            base = r.get("minimal_basis") or {}
            tag = (r["target_basis"], r["n_test"])
            if base and (part == "basis" or not seen_baseline) and tag not in seen_baseline:
                seen_baseline.add(tag)
                lines.append(_row(f"minimal basis, no model ({r['target_basis']})",
                                  base["metrics"], f"- / {r['n_test']}", cols))
        lines.append("")
    series = [r for r in results if r.get("series") and not r.get("same_run_as")]
    if series:
        lines += ["### series: the size series (polyenes, acenes, polyenoic acids)", "",
                  "| run | " + " | ".join(t for _, t in COLUMNS) + " | members |",
                  "|---" * (len(COLUMNS) + 2) + "|"]
        for r in series:
            m = r["series"]["metrics"]
            name = r["name"] if r["part"] == "series" else f"{r['part']}: {r['name']}"
            lines.append(_row(name, m, str(m["n_molecules"])))
        base = series[0]["series"].get("minimal_basis") or {}
        if base:
            lines.append(_row("minimal basis, no model", base["metrics"],
                              str(base["metrics"]["n_molecules"])))
        lines.append("")
    return "\n".join(lines)


def plot_series(results: list[dict], out: str | Path) -> Path | None:
    """``size_series.png``: per-member MAE against atom count, one panel per target, one
    line per model and family (the plain minimal-basis calculation dashed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in results if r.get("series") and not r.get("same_run_as")]
    if not rows:
        return None
    keys = ("gap_ev", "dipole_debye", "polarizability_pct")
    fams = {"polyene": "o", "acene": "s", "polyenoic_acid": "^"}
    runs = [(r["name"] if r["part"] == "series" else f"{r['part']}: {r['name']}",
             r["series"]["members"]) for r in rows]
    runs.append(("minimal basis", (rows[0]["series"].get("minimal_basis") or {}).get("members",
                                                                                    [])))
    fig, axes = plt.subplots(1, len(keys), figsize=(4.4 * len(keys), 3.8))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, key in zip(axes, keys):
        for k, (name, members) in enumerate(runs):
            color = "k" if name == "minimal basis" else colors[k % len(colors)]
            label = name
            for fam, marker in fams.items():
                pts = sorted((m["n_atoms"], m["mae_" + key]) for m in members
                             if m["name"].rsplit("_", 1)[0] == fam and "mae_" + key in m)
                if pts:
                    ax.plot(*zip(*pts), marker=marker, color=color,
                            ls="--" if name == "minimal basis" else "-", label=label)
                    label = None
        ax.set(xlabel="atoms", ylabel=f"MAE {dict(COLUMNS)[key]}", yscale="log")
    handles = {}
    for ax in axes:  # each model once, whichever panel it appears in
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.suptitle("size series: error against size")
    fig.tight_layout(rect=(0, 0, 0.85, 1))
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="center right", fontsize=8,
                   title="o polyene  s acene\n^ polyenoic acid", title_fontsize=7)
    path = Path(out) / "size_series.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_study(results: list[dict], out: str | Path) -> list[Path]:
    """PNG plots: MAE against heavy-atom count per part (``mae_by_size_<part>.png``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for part in ("direct", "transfer", "targets", "baselines", "loss", "capacity"):
        rows = [r for r in results if r["part"] == part]
        if not rows:
            continue
        keys = [k for k, _ in columns_for([r["metrics"] for r in rows])
                if k in ("eigenvalues_ev", "homo_ev", "lumo_ev", "dipole_debye",
                         "dipole_norm_debye", "polarizability_pct", "polarizability_iso_au")]
        fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
        axes = axes[0]
        for ax, key in zip(axes, keys):
            series = [(r["name"], r["by_size"]) for r in rows]
            series.append(("minimal basis", rows[0].get("minimal_basis", {}).get("by_size", {})))
            for name, grouped in series:
                pts = sorted((int(n), m["mae_" + key]) for n, m in grouped.items()
                             if "mae_" + key in m)
                if pts:
                    ax.plot(*zip(*pts), "o-" if name != "minimal basis" else "k--", label=name)
            ax.set(xlabel="heavy atoms", ylabel=f"test MAE {_LABELS[key]}", yscale="log")
        axes[0].legend(fontsize=8)
        fig.suptitle(f"{part}: test MAE by molecule size")
        fig.tight_layout()
        path = Path(out) / f"mae_by_size_{part}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    rows = [r for r in results if r["part"] == "curves"]
    if rows:
        keys = [k for k, _ in columns_for([r["metrics"] for r in rows])
                if k not in ("polarizability_au", "polarizability_aniso_au")]
        fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
        axes = axes[0]
        for ax, key in zip(axes, keys):
            for model in dict.fromkeys(r["name"].split("@")[0] for r in rows):
                pts = sorted((r["n_train"], r["metrics"]["mae_" + key]) for r in rows
                             if r["name"].split("@")[0] == model and "mae_" + key in r["metrics"])
                if pts:
                    ax.plot(*zip(*pts), "o-", label=model)
            base = rows[0].get("minimal_basis", {}).get("metrics", {})
            if "mae_" + key in base:
                ax.axhline(base["mae_" + key], color="k", ls="--", label="minimal basis")
            ax.set(xlabel="training molecules", ylabel=f"test MAE {_LABELS[key]}",
                   xscale="log", yscale="log")
        for ax in axes:  # every panel: each has its own direct surrogate
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=7)
        fig.suptitle("learning curves (test MAE against training-set size)")
        fig.tight_layout()
        path = Path(out) / "learning_curves.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    series = plot_series(results, out)
    return written + ([series] if series else [])
