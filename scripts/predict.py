#!/usr/bin/env python
"""Predict MO energies, gap, dipole and polarizability for new molecules (no reference
calculation: only the model-basis integrals are computed).

    python scripts/predict.py --run runs/NAME --structures FILE [--out PREFIX]

Writes ``PREFIX.extxyz`` (per-structure properties in the info dict: ``gap_ev``,
``homo_ev``, ``lumo_ev``, ``dipole_debye``, ``polarizability_au``, ``mo_energies_ev``) and
``PREFIX.json``. Default PREFIX: ``<run>/predictions/<file stem>``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hamlearn.config import ConfigError
from hamlearn.data.sources import SourceError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="run folder of scripts/train.py")
    parser.add_argument("--structures", required=True, help="structure file ase can read")
    parser.add_argument("--index", default=":", help="frames (ase syntax)")
    parser.add_argument("--out", help="output prefix")
    args = parser.parse_args(argv)
    from hamlearn.runtime import setup_jax

    setup_jax()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        from hamlearn.training.predict import predict_file

        prefix = Path(args.out) if args.out else (
            Path(args.run) / "predictions" / Path(args.structures).stem)
        n = predict_file(args.run, args.structures, prefix, index=args.index)
    except (ConfigError, SourceError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{n} structures predicted: {prefix}.extxyz, {prefix}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
