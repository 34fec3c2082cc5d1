#!/usr/bin/env python
"""Predict MO energies, gap, dipole and polarizability for new molecules (no reference
calculation: only the model-basis integrals are computed).

    python scripts/predict.py --run runs/NAME --structures FILE [--out PREFIX]

Writes ``PREFIX.extxyz`` (the predicted molecules, properties in the info dict:
``gap_ev``, ``homo_ev``, ``lumo_ev``, ``dipole_debye``, ``polarizability_au``,
``mo_energies_ev``) and ``PREFIX.json`` (strict JSON, one entry per frame; a molecule
that fails the structure checks, a frame that cannot be read or a non-finite prediction
is listed with ``"ok": false`` and its ``error``; doubtful numbers carry ``warnings``).
Default PREFIX: ``<run>/predictions/<file stem>``. Exit status 0 when at least one
molecule was predicted, 1 when none could be, 2 for a bad run folder or file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="run folder of scripts/train.py")
    parser.add_argument("--structures", required=True, help="structure file ase can read")
    parser.add_argument("--index", default=":", help="frames (ase syntax)")
    parser.add_argument("--out", help="output prefix")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from hamlearn.runtime import setup_jax

    setup_jax()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from hamlearn.errors import USER_ERRORS
    from hamlearn.training.predict import predict_file

    prefix = Path(args.out) if args.out else (
        Path(args.run) / "predictions" / Path(args.structures).stem)
    try:
        results = predict_file(args.run, args.structures, prefix, index=args.index,
                               progress=not args.no_progress)
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ok = [r for r in results if r["ok"]]
    for r in results:
        if not r["ok"]:
            print(f"FAILED {r['error']}", file=sys.stderr)
        for w in r.get("warnings", ()):
            print(f"WARNING {r['name']}: {w}", file=sys.stderr)
    written = (f"{prefix}.extxyz, " if ok else "") + f"{prefix}.json"
    print(f"{len(ok)} structures predicted, {len(results) - len(ok)} failed: {written}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
