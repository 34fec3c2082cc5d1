#!/usr/bin/env python
"""Cross-check the reference pipeline against the published cookbook data.

Recomputes the cookbook molecules with `hamlearn.data.generate` (B3LYP, tight SCF:
conv_tol 1e-12, grid level 4, as the data's README recommends) and prints the worst
deviation per quantity against `hamlearn.data.cookbook.TOLERANCES`. Results are cached
(resumable); exit status 1 if any tolerance is exceeded.

    python benchmarks/crosscheck_cookbook.py                    # qm7 + ethane200 in STO-3G,
                                                                # def2-TZVP on qm7[:20]
    python benchmarks/crosscheck_cookbook.py --index :10 --tzvp-index :2   # a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hamlearn.data.cookbook import TOLERANCES, compare_references, load_cookbook
from hamlearn.data.generate import generate
from hamlearn.data.reference import ReferenceSettings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DIR = REPO.parent / "shared" / "data" / "qm7-cookbook"


def settings(target_bases: tuple[str, ...]) -> ReferenceSettings:
    return ReferenceSettings(method="b3lyp", model_basis="sto-3g", target_bases=target_bases,
                             polarizability=("uncoupled",), conv_tol=1e-12, grid_level=4)


def check(cookbook_refs, basis: str, args) -> bool:
    """Recompute, compare in ``basis``, print the worst deviations; True if all within."""
    targets = () if basis == "sto-3g" else (basis,)
    t0 = time.perf_counter()
    result = generate([r.structure for r in cookbook_refs], settings(targets), args.cache,
                      n_workers=args.workers, progress=not args.no_progress)
    seconds = time.perf_counter() - t0
    ours = {r.structure.name: r for r in result.references}
    worst: dict[str, tuple[float, str]] = {}
    for theirs in cookbook_refs:
        mine = ours.get(theirs.structure.name)
        if mine is None:
            continue
        for key, dev in compare_references(mine, theirs, basis).items():
            if dev >= worst.get(key, (-1.0, ""))[0]:
                worst[key] = (dev, theirs.structure.name)
    print(f"{basis}: {len(ours)}/{len(cookbook_refs)} molecules, {result.n_computed} computed "
          f"in {seconds:.0f} s ({result.n_cached} cached), {len(result.failures)} failed")
    ok = not result.failures
    for key, (dev, name) in sorted(worst.items()):
        passed = dev <= TOLERANCES[key]
        ok &= passed
        print(f"  worst {key:<20} {dev:.2e}  (tolerance {TOLERANCES[key]:.0e}, {name})"
              f"  {'ok' if passed else 'EXCEEDED'}")
    return ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cookbook-dir", type=Path, default=DEFAULT_DIR)
    p.add_argument("--sets", nargs="*", default=["qm7", "ethane200"])
    p.add_argument("--index", default=":", help="molecules of each set checked in STO-3G")
    p.add_argument("--tzvp-index", default=":20", help="qm7 molecules checked in def2-TZVP "
                   "('' to skip)")
    p.add_argument("--cache", type=Path, default=REPO / "benchmarks" / "results" / "crosscheck")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    ok = True
    for which in args.sets:
        print(f"== {which}")
        ok &= check(load_cookbook(args.cookbook_dir, which, args.index), "sto-3g", args)
    if args.tzvp_index:
        print("== qm7")
        ok &= check(load_cookbook(args.cookbook_dir, "qm7", args.tzvp_index), "def2-tzvp", args)
    print("all within tolerance" if ok else "SOME DEVIATIONS EXCEED THE TOLERANCE")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
