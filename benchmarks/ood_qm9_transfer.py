#!/usr/bin/env python
"""Does the out-of-distribution score (`hamlearn.training.ood`) flag the molecules a run
gets wrong? Predicts a seeded sample of QM9 molecules (no reference calculation: only
STO-3G integrals) with a run's best model and its ``ood.npz``, and compares the errors
against QM9's published labels (B3LYP/6-31G(2df,p)) of the flagged and unflagged ones.

    python scripts/train.py --config configs/qm7_def2tzvp.yaml --workdir runs/qm7_ood
    python benchmarks/ood_qm9_transfer.py --run runs/qm7_ood --heavy 8 --sample 1000

Needs the qm9 extra. Molecules with 9 heavy atoms are refused (never used).
Molecules with an element outside the run's species are left out.
"""

from __future__ import annotations

import argparse
import json

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--heavy", type=int, default=8)
    p.add_argument("--sample", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="JSON file for the numbers")
    args = p.parse_args(argv)
    if args.heavy >= 9:
        p.error("molecules with 9 heavy atoms are never used (QM9 data rule)")
    from scipy.stats import spearmanr

    from hamlearn.data.qm9 import QM9
    from hamlearn.runs import load_run
    from hamlearn.runtime import setup_jax
    from hamlearn.training.ood import OOD_THRESHOLD, load_support
    from hamlearn.training.predict import predict_with_model
    from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV

    setup_jax()
    cfg, model = load_run(args.run)
    support = load_support(cfg, args.run)
    if support is None:
        p.error(f"{args.run} has no ood.npz (trained before the OOD score); retrain it")
    qm9 = QM9.open()
    elements = "".join({1: "H", 6: "C", 7: "N", 8: "O", 9: "F"}[z] for z in cfg.features.species
                       if z in (1, 6, 7, 8, 9))
    rows = qm9.select(heavy=[args.heavy], elements=elements, sample=args.sample, seed=args.seed)
    entries = predict_with_model(cfg, model, qm9.structures(rows), support=support)
    score, err = [], {"gap_ev": [], "dipole_norm_debye": [], "polarizability_iso_pct": []}
    gaps = []
    for r, e in zip(rows, entries):
        if not e.get("ok"):
            continue
        lab = qm9.labels(r)
        score.append(np.inf if e["ood_score"] is None else e["ood_score"])
        gaps.append(e["gap_ev"])
        err["gap_ev"].append(abs(e["gap_ev"] - lab.gap * HARTREE_TO_EV))
        err["dipole_norm_debye"].append(abs(np.linalg.norm(e["dipole_debye"])
                                            - lab.dipole_norm * AU_TO_DEBYE))
        a = np.trace(np.asarray(e["polarizability_au"])) / 3
        err["polarizability_iso_pct"].append(100 * abs(a - lab.polarizability_iso)
                                             / lab.polarizability_iso)
    score, gaps = np.asarray(score), np.asarray(gaps)
    flagged = score > OOD_THRESHOLD
    out = {"run": args.run, "n_molecules": len(score), "n_flagged": int(flagged.sum()),
           "n_gap_below_1ev": int((gaps < 1).sum()),
           "n_gap_below_1ev_flagged": int(((gaps < 1) & flagged).sum()), "targets": {}}
    print(f"{len(score)} molecules with {args.heavy} heavy atoms, {flagged.sum()} flagged "
          f"(ood_score > {OOD_THRESHOLD:g}); predicted gap < 1 eV: {out['n_gap_below_1ev']}, "
          f"of them flagged {out['n_gap_below_1ev_flagged']}")
    print("| error | unflagged mean / median | flagged mean / median | Spearman(score, error) |")
    print("|---|---|---|---|")
    for k, v in err.items():
        v = np.asarray(v)
        row = {"unflagged_mean": float(v[~flagged].mean()) if (~flagged).any() else None,
               "unflagged_median": float(np.median(v[~flagged])) if (~flagged).any() else None,
               "flagged_mean": float(v[flagged].mean()) if flagged.any() else None,
               "flagged_median": float(np.median(v[flagged])) if flagged.any() else None,
               "spearman": float(spearmanr(score, v).statistic)}
        out["targets"][k] = row
        cell = lambda a, b: "-" if row[a] is None else f"{row[a]:.3g} / {row[b]:.3g}"  # noqa: E731
        print(f"| {k} | {cell('unflagged_mean', 'unflagged_median')} | "
              f"{cell('flagged_mean', 'flagged_median')} | {row['spearman']:.2f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
