"""Write the QM9 slice shipped in the package (hamlearn/data/published/qm9-slice/).

Every molecule with <= 3 heavy atoms, a seeded sample of 250 with 4-7 and of 50 with 8
heavy atoms, as the published CSV lines of qm9pack (plus the polarizability tensor
columns), gzipped. Needs the qm9 extra (``pip install 'hamlearn[qm9]'``).

Usage:
    python scripts/vendor_qm9_slice.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hamlearn.data.qm9 import QM9, SLICE_PATH, qm9pack_data_dir, write_slice  # noqa: E402

SEED = 20261202


def main() -> int:
    qm9 = QM9.open()
    rows = np.concatenate([qm9.select(max_heavy=3),
                           qm9.select(min_heavy=4, max_heavy=7, sample=250, seed=SEED),
                           qm9.select(heavy=[8], sample=50, seed=SEED)])
    info = write_slice(qm9, sorted(rows.tolist()), SLICE_PATH, qm9pack_data_dir())
    print(f"{info['rows']} molecules, {info['bytes'] / 1024:.0f} KiB: {SLICE_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
