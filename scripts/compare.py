#!/usr/bin/env python
"""Hybrid (Hamiltonian) against direct models, multi-target ablation, size transfer,
reduced basis, delta learning on baseline Hamiltonians, the loss design (ours against
arXiv:2504.01187's per-atom loss with plateau schedule), capacity (invariant gates, nu = 2
pair features), the size series and learning curves,
on one dataset: trains every run, writes a table and plots.

    python scripts/compare.py --config configs/qm7_def2tzvp.yaml --out runs/compare \\
        [--parts targets direct transfer basis baselines loss capacity series curves] \\
        [--basis def2-svp=configs/qm7_def2svp.yaml] [--set train.epochs=100 ...]

Runs live in ``OUT/<part>/<name>``; each finished run writes ``result.json``, so the same
command resumes an interrupted study. Outputs: ``OUT/compare.md`` (tables of test MAEs
in eV, Debye, a.u. and %, with the plain minimal-basis calculation as a baseline),
``OUT/compare.json``, ``OUT/mae_by_size_<part>.png``, ``OUT/learning_curves.png`` and
``OUT/size_series.png``. The series part needs a 6-31g(2df,p) target basis (the series'
labels; e.g. configs/qm9_full_spectrum_train.yaml) and is left out of the default parts
otherwise; with such a basis the loss and capacity parts' runs are scored on the series too.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from hamlearn.config import ConfigError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", required=True, help="base config of the hybrid model")
    parser.add_argument("--out", required=True, help="study folder")
    parser.add_argument("--parts", nargs="+", default=None,
                        help="targets direct transfer basis baselines loss capacity series curves (default: all)")
    parser.add_argument("--basis", action="append", default=[], metavar="BASIS=CONFIG",
                        help="extra target basis for the basis part and its data config")
    parser.add_argument("--max-train-heavy-atoms", type=int, default=5,
                        help="size split of the transfer part")
    parser.add_argument("--set", action="append", default=[], dest="overrides",
                        metavar="KEY=VALUE", help="override applied to every run")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    from hamlearn.runtime import setup_jax

    setup_jax()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        return run(args)
    except (ConfigError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def run(args) -> int:
    from hamlearn.training.study import (default_parts, format_study, plot_study, run_study,
                                         study_variants)

    extra = {}
    for item in args.basis:
        basis, sep, cfg = item.partition("=")
        if not sep or not Path(cfg).is_file():
            raise ValueError(f"--basis {item!r}: expected BASIS=CONFIG with an existing file")
        extra[basis] = cfg
    variants = study_variants(args.config, args.parts or default_parts(args.config), basis_configs=extra,
                              max_train_heavy_atoms=args.max_train_heavy_atoms)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = run_study(variants, out, common=tuple(args.overrides),
                        progress=not args.no_progress)
    table = format_study(results)
    (out / "compare.md").write_text(table + "\n")
    (out / "compare.json").write_text(json.dumps(results, indent=1))
    plots = plot_study(results, out)
    print(table)
    print(f"written: {out / 'compare.md'}, {out / 'compare.json'}, "
          + ", ".join(str(p) for p in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
