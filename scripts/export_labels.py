#!/usr/bin/env python
"""Export the full-spectrum label set shipped in the package from a generated cache.

    python scripts/generate_data.py --config configs/qm9_full_spectrum.yaml
    python scripts/export_labels.py --config configs/qm9_full_spectrum.yaml [--allow-missing]

Reads the references of the config's molecules from its cache (nothing is computed),
takes their labels in 6-31g(2df,p) (every MO energy, dipole vector, uncoupled and
coupled polarizability; no matrices) and the QM9 table rows of the same molecules, and
writes `hamlearn.data.labelset.PATH` (or ``--out``). Needs the qm9 extra (unless the
sources select from the shipped slice). A molecule not
in the cache is an error unless ``--allow-missing`` (then it is left out and listed).
Exit status 0 on success, 1 when nothing could be exported, 2 for a bad config.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="the data config that made the cache")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", help="output npz (default: the package's label set)")
    parser.add_argument("--series", action="store_true",
                        help="the size-series label file (hamlearn.data.size_series) from "
                        "configs/size_series.yaml's cache instead of the QM9 label set")
    parser.add_argument("--allow-missing", action="store_true",
                        help="export the molecules that are cached, list the others")
    args = parser.parse_args(argv)

    from hamlearn.config import config_to_dict, load_config
    from hamlearn.data import labelset
    from hamlearn.data.generate import load_cached
    from hamlearn.data.qm9 import QM9, index_of
    from hamlearn.data.reference import ReferenceSettings
    from hamlearn.errors import USER_ERRORS

    try:
        cfg = load_config(args.config, args.set)
        refs, missing = load_cached(cfg.data, cfg.root)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if labelset.BASIS not in [b.lower() for b in cfg.data.target_bases]:
        print(f"error: data.target_bases must hold {labelset.BASIS}", file=sys.stderr)
        return 2
    if missing:
        names = ", ".join(s.label for s in missing[:8]) + (" ..." if len(missing) > 8 else "")
        print(f"{len(missing)} of {len(refs) + len(missing)} molecules are not in the cache: "
              f"{names}", file=sys.stderr)
        if not args.allow_missing:
            print("error: run scripts/generate_data.py first, or pass --allow-missing",
                  file=sys.stderr)
            return 1
    if not refs:
        print("error: no molecule of the config is in its cache", file=sys.stderr)
        return 1
    if args.series:
        return _export_series(cfg, refs, missing, args)
    slices = {src.qm9.slice for src in cfg.data.sources if src.qm9 is not None}
    if len(slices) != 1 or any(src.qm9 is None for src in cfg.data.sources):
        print("error: data.sources must be qm9 selections, all from the same table "
              "(all with or all without slice: true)", file=sys.stderr)
        return 2
    qm9 = QM9.open(slice_only=slices.pop())
    rows = [qm9.row_of(index_of(r.structure)) for r in refs]
    for r, row in zip(refs, rows):  # the cache's geometry is QM9's
        assert np.allclose(qm9.structure(row).positions, r.structure.positions, atol=1e-12)
    settings = ReferenceSettings.from_config(cfg.data)
    info = {"settings": settings.as_meta(), "config": Path(args.config).name,
            "sources": config_to_dict(cfg)["data"]["sources"],
            "n_requested": len(refs) + len(missing), "n_missing": len(missing),
            "written": datetime.date.today().isoformat(),
            "units": "atomic (Hartree, e Bohr, Bohr^3); dipole origin: nuclear charge centre"}
    out = Path(args.out) if args.out else labelset.PATH
    summary = labelset.write_label_set(qm9.table(rows), refs, out, info)
    print(f"{summary['molecules']} molecules, {summary['bytes'] / 1024:.0f} KiB: {out}")
    print(agreement_table(refs, [qm9.labels(r) for r in rows], qm9.n_heavy[rows]))
    return 0


def _export_series(cfg, refs, missing, args) -> int:
    """The size-series labels: the cached references of the shipped xyz, renamed to their
    members (the geometry must be the shipped one), written to `size_series.LABELS`."""
    from hamlearn.config import config_to_dict
    from hamlearn.data import size_series
    from hamlearn.data.reference import ReferenceSettings
    from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV

    shipped = size_series.shipped_structures()
    named = []
    for r in refs:
        match = [s for s in shipped if len(s.numbers) == len(r.structure.numbers)
                 and np.array_equal(s.numbers, r.structure.numbers)
                 and np.allclose(s.positions, r.structure.positions, atol=1e-8)]
        if len(match) != 1:
            print(f"error: {r.structure.label} is not a shipped size-series geometry",
                  file=sys.stderr)
            return 2
        named.append(dataclasses.replace(r, structure=match[0]))
    settings = ReferenceSettings.from_config(cfg.data)
    info = {"settings": settings.as_meta(), "config": Path(args.config).name,
            "sources": config_to_dict(cfg)["data"]["sources"],
            "n_requested": len(refs) + len(missing), "n_missing": len(missing),
            "written": datetime.date.today().isoformat(),
            "seconds": {r.structure.name: r.meta.get("timings", {}).get(size_series.BASIS, {})
                        .get("seconds") for r in named},
            "units": "atomic (Hartree, e Bohr, Bohr^3); dipole origin: nuclear charge centre"}
    out = Path(args.out) if args.out else size_series.LABELS
    summary = size_series.write_labels(named, out, info)
    print(f"{summary['molecules']} molecules, {summary['bytes'] / 1024:.0f} KiB: {out}")
    for r in named:
        lab = r.target(size_series.BASIS)
        print(f"  {r.structure.name:<18} {len(r.structure.numbers):>3} atoms  gap "
              f"{lab.gap * HARTREE_TO_EV:.3f} eV  |mu| {np.linalg.norm(lab.dipole) * AU_TO_DEBYE:.3f} D"
              f"  alpha_iso {np.trace(lab.polarizability('coupled')) / 3:.1f} a.u.  "
              f"{info['seconds'][r.structure.name] or float('nan'):.0f} s")
    return 0


def agreement_table(refs, published, n_heavy) -> str:
    """Markdown: the exported labels against QM9's own (mean and largest absolute deviation)
    and the CPU cost of the target-basis calculation per heavy-atom count."""
    from hamlearn.data import labelset
    from hamlearn.units import AU_TO_DEBYE

    labs = [r.target(labelset.BASIS) for r in refs]

    def dev(ours, theirs, scale=1.0):
        d = np.abs(np.asarray(ours) - np.asarray(theirs)) * scale
        return f"{d.mean():.3g} ({d.max():.3g})"

    iso = {k: [np.trace(lab.polarizability(k)) / 3 for lab in labs]
           for k in ("coupled", "uncoupled")}
    q_iso = [p.polarizability_iso for p in published]
    rel = 100 * np.abs(np.array(iso["coupled"]) / q_iso - 1)
    lines = ["", "| n | HOMO mHa | LUMO mHa | gap mHa | abs(mu) D | alpha_iso coupled a.u. "
             "| alpha_iso coupled % | alpha_iso uncoupled a.u. |", "|---" * 8 + "|",
             f"| {len(labs)} | {dev([x.homo for x in labs], [p.homo for p in published], 1e3)} | "
             f"{dev([x.lumo for x in labs], [p.lumo for p in published], 1e3)} | "
             f"{dev([x.gap for x in labs], [p.gap for p in published], 1e3)} | "
             f"{dev([np.linalg.norm(x.dipole) for x in labs], [p.dipole_norm for p in published], AU_TO_DEBYE)} | "
             f"{dev(iso['coupled'], q_iso)} | {rel.mean():.3g} ({rel.max():.3g}) | "
             f"{dev(iso['uncoupled'], q_iso)} |",
             "", "mean (largest) absolute deviation from QM9's published labels", "",
             "| heavy atoms | molecules | target-basis calculation, s (mean, wall, one thread) |",
             "|---|---|---|"]
    secs = np.array([r.meta.get("timings", {}).get(labelset.BASIS, {}).get("seconds", np.nan)
                     for r in refs])
    for h in sorted(set(int(x) for x in n_heavy)):
        m = np.asarray(n_heavy) == h
        lines.append(f"| {h} | {int(m.sum())} | {np.nanmean(secs[m]):.1f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
