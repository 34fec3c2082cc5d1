"""Memory of the features at QM9 scale: in memory against the on-disk store (issue 11).

For N QM9 molecules with <= 7 heavy atoms and elements CHNO (all 3,884, or a seeded sample; the shipped slice without the
`qm9` extra) and the paper's feature settings (configs/qm7_def2tzvp.yaml), a fresh
subprocess per mode featurizes them ('memory', or `featurize(store=...)` as float64 or
float32), builds one pass of mini-batches over them in random order (what an epoch
reads), and runs the ridge initialisation on them (random symmetric targets). Printed per mode: featurize time, batch-pass time, peak RSS, feature bytes
(in memory, or on disk), peak RSS and peak anonymous memory (RSS counts the mapped file
pages read, which the OS can drop; anonymous memory is what cannot). The reference row is 'memory' in the same run: the ratios say what
the store saves and what reading from it costs.

    python benchmarks/bench_feature_store.py [--n 3884] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, resource, sys, threading, time
from pathlib import Path
import numpy as np
from hamlearn.runtime import setup_jax
setup_jax()
from hamlearn.config import load_config
from hamlearn.data.qm9 import QM9, QM9MissingError
from hamlearn.features import featurize
from hamlearn.model import make_batch, max_entries
mode, n, batch, store = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
cfg = load_config(sys.argv[5])
peak_anon = [0]
def watch():  # peak anonymous memory: mapped feature pages are file-backed (reclaimable)
    while True:
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                peak_anon[0] = max(peak_anon[0], int(line.split()[1]))
        time.sleep(0.02)
threading.Thread(target=watch, daemon=True).start()
try:
    qm9 = QM9.open(); rows = qm9.select(max_heavy=7, elements="CHNO")
    if n < len(rows):
        rows = qm9.select(max_heavy=7, elements="CHNO", sample=n, seed=0)
except QM9MissingError:
    qm9 = QM9.open(slice_only=True); rows = qm9.select(max_heavy=7, elements="CHNO")
structures = [qm9.structure(r) for r in rows]
t = time.perf_counter()
kw = {} if mode == "memory" else {"store": store, "dtype": np.dtype(mode)}
fs = featurize(structures, cfg.features, cfg.model.basis, **kw)
t_feat = time.perf_counter() - t
order = np.random.default_rng(0).permutation(len(structures))
pad = max_entries(fs, batch)
t = time.perf_counter()
for k in range(0, len(order), batch):
    make_batch(fs, order[k:k + batch].tolist(), entry_pad=pad)
t_batch = time.perf_counter() - t
# the ridge initialisation on the same features (random symmetric targets: its memory and
# time do not depend on the values), X^T X accumulated chunk by chunk
from hamlearn.model import HamiltonianModel, ridge_fit
rng = np.random.default_rng(0)
focks = [(lambda a: a + a.T)(rng.normal(size=(k, k))) for k in fs.nao]
t = time.perf_counter()
ridge_fit(HamiltonianModel(fs.spec, key=None), fs, focks, [1e-6, 1e-4, 1e-2])
t_ridge = time.perf_counter() - t
disk = sum(p.stat().st_size for p in Path(store).rglob("*.npy")) if mode != "memory" else 0
print(json.dumps({"n": len(structures), "featurize_s": t_feat, "batches_s": t_batch,
                  "ridge_s": t_ridge,
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                  "peak_anon_gb": peak_anon[0] / 1e6,
                  "feature_gb": (fs.nbytes() if mode == "memory" else disk) / 1e9}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=3884, help="molecules (all 3,884 by default)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--config", default=str(ROOT / "configs" / "qm7_def2tzvp.yaml"))
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("warm-up", "memory", "float64", "float32"):
            out = subprocess.run([sys.executable, "-c", CHILD, mode.replace("warm-up", "memory"),
                                  str(args.n),
                                  str(args.batch), str(Path(tmp) / mode), args.config],
                                 capture_output=True, text=True)
            if out.returncode:
                sys.exit(out.stderr[-3000:])
            rows[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    del rows["warm-up"]  # traces and compiles every shape once (stored for the others)
    ref = rows["memory"]
    print(f"{ref['n']} molecules, features of {args.config}, batches of {args.batch}")
    print("| mode | featurize s | batch pass s (x memory) | ridge fit s (4-fold CV, 3 alphas) | "
          "peak RSS GB (x memory) | peak anonymous GB (x memory) | feature GB |")
    print("|---|---|---|---|---|---|---|")
    for mode, r in rows.items():
        print(f"| {mode} | {r['featurize_s']:.1f} | {r['batches_s']:.1f} "
              f"({r['batches_s'] / ref['batches_s']:.2f}) | {r['ridge_s']:.1f} | "
              f"{r['peak_rss_gb']:.2f} "
              f"({r['peak_rss_gb'] / ref['peak_rss_gb']:.2f}) | {r['peak_anon_gb']:.2f} "
              f"({r['peak_anon_gb'] / ref['peak_anon_gb']:.2f}) | {r['feature_gb']:.2f} |")


if __name__ == "__main__":
    main()
