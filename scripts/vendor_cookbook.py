"""Regenerate hamlearn/data/published/qm7-cookbook/ from the full cookbook folder.

The package ships the cookbook data compactly (every file under 2 MiB): the xyz files and
LICENSE verbatim, and per set one ``<set>_compact.npz`` with the labels as they are and the
STO-3G Fock as the concatenated row-major upper triangles (exact: the stored Fock is exactly
symmetric). The overlap is shipped the same way only where pyscf's ``int1e_ovlp`` of the xyz
geometry misses it by more than 1e-14 (ethane200); elsewhere (qm7) `hamlearn.data.cookbook`
recomputes it. Every array read back is checked against the source.

    python scripts/vendor_cookbook.py --source ../shared/data/qm7-cookbook
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np

from hamlearn.data.cookbook import PUBLISHED_DIR, compact_arrays, reference_arrays
from hamlearn.data.sources import COOKBOOK_SETS

OVERLAP_TOL = 1e-14  # largest accepted |recomputed - published| overlap


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", type=Path, required=True, help="folder with <set>_reference.npz")
    p.add_argument("--out", type=Path, default=PUBLISHED_DIR)
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.source / "LICENSE", args.out / "LICENSE")
    for which in COOKBOOK_SETS:
        shutil.copyfile(args.source / f"{which}.xyz", args.out / f"{which}.xyz")
        full = reference_arrays(args.source, which)
        out = args.out / f"{which}_compact.npz"
        np.savez_compressed(out, **compact_arrays(full, keep_overlap=False))
        recomputed = reference_arrays(args.out, which)["overlap_sto3g_flat"]
        err = float(np.abs(recomputed - full["overlap_sto3g_flat"]).max())
        print(f"{which}: recomputed overlap differs by {err:.1e}")
        if err > OVERLAP_TOL:
            np.savez_compressed(out, **compact_arrays(full, keep_overlap=True))
        back = reference_arrays(args.out, which)
        for key, value in full.items():  # overlaps are recomputed: equal to ~1e-16
            np.testing.assert_allclose(back[key], value, rtol=0, atol=OVERLAP_TOL, err_msg=key)
            if not key.startswith("overlap"):
                assert np.array_equal(back[key], value), key
    for f in sorted(args.out.iterdir()):
        print(f"{f.stat().st_size:>9} {f}")


if __name__ == "__main__":
    main()
