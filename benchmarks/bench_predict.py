"""Prediction throughput and memory of `predict.py` on QM9-size molecules (issue 11).

For each input size N (a seeded sample of QM9 molecules with 8 heavy atoms; the shipped
slice when the `qm9` extra is missing) a fresh subprocess runs `predict_file` twice on the
same file: the first pass loads (or, on a cold cache, compiles) the programs of every
shape, the second is the steady state. Each row prints molecules/s of both passes and the
subprocess's peak RSS; memory that stays flat as N grows is what the chunked prediction
promises. The reference, in this process: one pyscf B3LYP SCF of the sample's first
molecule in def2-SVP (the target basis of the quickstart run): the ratio says how many
molecules are predicted in the time of one reference calculation.

    python benchmarks/bench_predict.py --run runs/quickstart [--sizes 256 1024] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import json, resource, sys, time
from hamlearn.runtime import setup_jax
setup_jax()
from hamlearn.training.predict import predict_file
run, path, out = sys.argv[1:4]
rates = []
for rep in range(2):
    t = time.perf_counter()
    res = predict_file(run, path, out)
    rates.append(len(res) / (time.perf_counter() - t))
print(json.dumps({"rates": rates, "ok": sum(r["ok"] for r in res), "n": len(res),
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6}))
"""


def sample_file(n: int, folder: Path) -> tuple[Path, object]:
    import ase.io

    from hamlearn.data.qm9 import QM9, QM9MissingError

    try:
        qm9 = QM9.open()
        rows = qm9.select(heavy=[8], sample=n, seed=1)
    except QM9MissingError:
        qm9 = QM9.open(slice_only=True)
        rows = qm9.select(sample=min(n, len(qm9)), seed=1)
    structures = [qm9.structure(r) for r in rows]
    path = folder / f"qm9_{len(rows)}.xyz"
    ase.io.write(path, [s.to_atoms() for s in structures])
    return path, structures[0]


def reference_seconds(structure, threads: int) -> float:
    from pyscf import dft, gto, lib

    lib.num_threads(threads)
    mol = gto.M(atom=structure.pyscf_atom(), unit="Bohr", basis="def2-svp", verbose=0)
    mf = dft.RKS(mol, xc="b3lyp")
    t = time.perf_counter()
    mf.kernel()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--run", default="runs/quickstart", help="a trained run folder")
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP threads (both sides)")
    args = ap.parse_args()
    if not (Path(args.run) / "config.yaml").is_file():
        sys.exit(f"error: {args.run} is not a run folder (train one: bash scripts/quickstart.sh)")
    env = dict(os.environ, HAMLEARN_THREADS=str(args.threads), MPLBACKEND="Agg")
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for n in args.sizes:
            path, first = sample_file(n, Path(tmp))
            out = subprocess.run([sys.executable, "-c", CHILD, args.run, str(path),
                                  str(Path(tmp) / "pred")], capture_output=True, text=True,
                                 env=env)
            if out.returncode:
                sys.exit(out.stderr[-3000:])
            rows.append((n, json.loads(out.stdout.strip().splitlines()[-1])))
        ref = reference_seconds(first, args.threads)
    print(f"reference: B3LYP/def2-SVP SCF of one molecule ({first.label}, "
          f"{len(first.numbers)} atoms): {ref:.1f} s")
    print("| molecules | predicted | first pass mol/s | steady mol/s | peak RSS GB | "
          "molecules per reference SCF |")
    print("|---|---|---|---|---|---|")
    for n, r in rows:
        print(f"| {r['n']} | {r['ok']} | {r['rates'][0]:.1f} | {r['rates'][1]:.1f} | "
              f"{r['peak_rss_gb']:.2f} | {r['rates'][1] * ref:.0f} |")


if __name__ == "__main__":
    main()
