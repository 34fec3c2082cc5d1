#!/usr/bin/env python
"""Evaluate a trained run on any structure file (or on its own test split).

    python scripts/evaluate.py --run runs/NAME [--structures FILE | --qm9 SELECTION |
                                                --series [FAMILY ...]] [--out DIR]

References for FILE come through the run's reference cache (computed when missing) with
the run's method and bases. Writes ``metrics.json``, ``parity.png`` and ``report.md`` to
DIR (default ``<run>/eval/<file stem or 'test'>``) and prints MAE/RMSE per target in eV,
Debye, a.u. and %, grouped by heavy-atom count, then the markdown report: data, model,
errors beside those of the plain minimal-basis calculation (the references' model-basis
Fock through the same QM layer, no model), MAE by heavy-atom count. ``--series`` scores
the shipped size series (`hamlearn.data.size_series`, runs with a 6-31g(2df,p) target
basis; only model-basis SCFs are run) and adds ``members.md``: every member's errors
beside the plain calculation's. Every evaluation of a run with an ``ood.npz`` also writes
``ood.md`` / ``ood.json``: the out-of-distribution score of each molecule
(`hamlearn.training.ood`), how many are flagged and their errors against the others'.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from pathlib import Path

from hamlearn.config import ConfigError, SourceConfig
from hamlearn.errors import USER_ERRORS, DatasetError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="run folder of scripts/train.py")
    parser.add_argument("--structures", help="structure file (xyz, extxyz, ...); default: "
                        "eval.structures of the run's config, else its test split")
    parser.add_argument("--index", default=":", help="frames of --structures (ase syntax)")
    parser.add_argument("--out", help="output folder")
    parser.add_argument("--which", default="best", choices=("best", "last"))
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the plain minimal-basis (no model) rows of the report")
    parser.add_argument("--qm9", metavar="SELECTION",
                        help="QM9 molecules with their published labels instead of a file "
                        "(runs trained on them): the qm9 source's settings, e.g. "
                        "'{heavy: [8], sample: 2000, seed: 0}'")
    parser.add_argument("--baseline-sample", type=int, metavar="N",
                        help="with --qm9: the plain minimal-basis rows on a seeded sample of "
                        "N molecules (each needs a model-basis SCF; default: the run's "
                        "data.model_scf_sample, all when unset)")
    parser.add_argument("--series", nargs="*", metavar="FAMILY",
                        help="the shipped size series (polyene acene polyenoic_acid; all "
                        "when none is named) with its B3LYP/6-31G(2df,p) labels")
    parser.add_argument("--series-max-atoms", type=int, metavar="N",
                        help="with --series: members with at most N atoms")
    parser.add_argument("--name", help="name of the output folder under <run>/eval")
    args = parser.parse_args(argv)
    from hamlearn.runtime import setup_jax

    setup_jax()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return run(args)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run(args) -> int:
    import json

    from hamlearn.runs import load_run, runner_for
    from hamlearn.training.evaluate import REPORT_MD, write_report
    from hamlearn.training.metrics import format_table
    from hamlearn.training.references import load_references
    from hamlearn.training.study import minimal_basis_result

    if sum(x is not None and x is not False for x in (args.qm9, args.structures,
                                                      args.series)) > 1:
        raise ConfigError("--qm9, --structures and --series: give one of them")
    run_dir = Path(args.run)
    cfg, model = load_run(run_dir, args.which)
    structures = args.structures or cfg.eval.structures
    if args.qm9:
        refs = load_references(_qm9_config(run_dir, cfg, args), progress=not args.no_progress)
        refs = _model_can_describe(refs, cfg)
        indices, name = list(range(len(refs))), args.name or "qm9"
        source = f"QM9 {args.qm9}"
    elif args.series is not None:
        from hamlearn.training.references import series_references

        refs = series_references(cfg, families=args.series or None,
                                 max_atoms=args.series_max_atoms, progress=not args.no_progress)
        refs = _model_can_describe(refs, cfg)
        indices, name = list(range(len(refs))), args.name or "size_series"
        source = (f"size series ({', '.join(args.series) or 'all families'}"
                  + (f", <= {args.series_max_atoms} atoms" if args.series_max_atoms else "")
                  + "; shipped B3LYP/6-31G(2df,p) labels)")
    elif structures:
        path = Path(structures).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"structure file {path} does not exist")
        data_cfg = dataclasses.replace(cfg.data, labels="compute", sources=(
            SourceConfig(file=str(path), index=args.index),))
        refs = load_references(dataclasses.replace(cfg, data=data_cfg),
                               progress=not args.no_progress)
        refs = _model_can_describe(refs, cfg)
        indices, name = list(range(len(refs))), args.name or path.stem
        source = f"{path} (frames {args.index})"
    else:
        refs = load_references(cfg, progress=not args.no_progress)
        indices = json.loads((run_dir / "split.json").read_text())["test"]
        name = args.name or "test"
        source = f"test split of the run's dataset ({run_dir / 'split.json'})"
        if not indices:
            raise FileNotFoundError("the run has no test split; pass --structures")
    result = runner_for(cfg).evaluate(model, refs, indices, cfg, progress=not args.no_progress)
    out = Path(args.out) if args.out else run_dir / "eval" / name
    baseline = None if args.no_baseline else minimal_basis_result(refs, indices, cfg)
    report = write_report(result, refs, indices, cfg, out, plots=cfg.eval.plots, source=source,
                          run=f"{run_dir} ({args.which} checkpoint)", baseline=baseline)
    print(f"{len(indices)} molecules, target basis {cfg.train.target_basis}, model {args.which}")
    print(format_table(result["metrics"], result["by_size"]))
    written = [out / "metrics.json", out / REPORT_MD] + ([out / "parity.png"] if cfg.eval.plots
                                                          else [])
    if args.series is not None:
        written.append(_write_members(result, refs, baseline, out))
    ood = _write_ood(run_dir, cfg, result, refs, indices, out)
    if ood:
        written.append(ood)
    print(f"\nwritten: {', '.join(map(str, written))}\n")
    print(report, end="")
    return 0


def _write_ood(run_dir: Path, cfg, result, refs, indices, out: Path) -> Path | None:
    """``ood.json`` and ``ood.md``: the run's out-of-distribution score of every evaluated
    molecule against its errors (runs trained before ``ood.npz`` existed: skipped)."""
    import json

    from hamlearn.training.ood import OOD_FILE, format_ood, load_support, ood_summary

    support = load_support(cfg, run_dir)
    if support is None:
        print(f"(no {OOD_FILE} in {run_dir}: a run from before the out-of-distribution score; "
              "retrain to get it)")
        return None
    structures = [refs[i].structure for i in indices]
    summary = ood_summary(support.score(structures), result["errors"],
                          [s.label for s in structures])
    (out / "ood.json").write_text(json.dumps(summary, indent=1))
    text = format_ood(summary)
    (out / "ood.md").write_text(text)
    print("\n" + text)
    return out / "ood.md"


def _write_members(result, refs, baseline, out: Path) -> Path:
    """``members.md``: per member, atoms and the MAE of the main targets, model / plain."""
    from hamlearn.training.metrics import target_label
    from hamlearn.training.study import member_rows

    rows = member_rows(result["errors"], refs)
    plain = {m["name"]: m for m in (baseline or {}).get("members", [])}
    keys = [k for k in ("mae_gap_ev", "mae_homo_ev", "mae_lumo_ev", "mae_eigenvalues_ev",
                        "mae_dipole_debye", "mae_polarizability_pct",
                        "mae_polarizability_iso_au") if any(k in r for r in rows)]
    lines = ["| member | atoms | " + " | ".join(f"{target_label(k)} model / plain"
                                                for k in keys) + " |",
             "|---" * (len(keys) + 2) + "|"]
    for r in rows:
        p = plain.get(r["name"], {})
        cells = [f"{r[k]:.3g} / {p[k]:.3g}" if k in p else
                 (f"{r[k]:.3g} / -" if k in r else "-") for k in keys]
        lines.append(f"| {r['name']} | {r['n_atoms']} | " + " | ".join(cells) + " |")
    path = out / "members.md"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return path


def _qm9_config(run_dir: Path, cfg, args):
    """The run's config with its sources replaced by one qm9 selection (the qm9 source's
    checks apply: molecules with 9 heavy atoms are refused unless it allows them)."""
    from hamlearn.config import load_config

    if cfg.data.labels != "published":
        raise ConfigError("--qm9: the run was not trained on QM9's published labels "
                          f"(data.labels: {cfg.data.labels}); evaluate it with --structures")
    sets = [f"data.sources=[{{qm9: {args.qm9}}}]"]
    if args.no_baseline:  # no plain row: no model-basis SCF at all
        sets.append("data.model_scf_sample=0")
    elif args.baseline_sample is not None:
        sets.append(f"data.model_scf_sample={args.baseline_sample}")
    return load_config(run_dir / "config.yaml", sets)


def _model_can_describe(refs, cfg):
    """The references whose elements the model knows; one line per one left out."""
    from hamlearn.data.validate import split_valid

    _, bad = split_valid([r.structure for r in refs], species=cfg.features.species)
    for b in bad:
        print(f"FAILED {b.reason}", file=sys.stderr)
    left_out = {b.index for b in bad}
    keep = [r for i, r in enumerate(refs) if i not in left_out]
    if not keep:
        raise DatasetError("no molecule of the file can be evaluated (see the lines above)")
    return keep


if __name__ == "__main__":
    sys.exit(main())
