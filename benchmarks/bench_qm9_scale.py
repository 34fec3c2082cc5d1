"""Training and evaluation at QM9 scale on one machine (issue 11): epoch time, molecules/s,
the share of data movement, peak memory.

Per training size N (default 4,000 and 20,000), a fresh subprocess builds what
`scripts/train.py` builds for ``configs/qm9_frontier.yaml`` (float32 feature store, batches
of 64 of one fixed shape, the jitted step of `hamlearn.training.step`), and runs training
steps over a random epoch order, timing separately (a) building each batch from the
store (slicing, padding, host -> device: the data movement) and (b) the step itself
(``jax.block_until_ready``); then the same steps again as training runs them (with the
config's ``train.prefetch``), whose extra time over the steps alone is the data movement
left exposed. The molecules are all 3,921 QM9 molecules with <= 7 heavy
atoms, then a seeded sample of those with 8 (20,000 needs them; this is a throughput
measurement: no model trained here is kept, selected or reported on). Model-basis
integrals only (no SCF) and QM9's published labels, random initial weights (timings do
not depend on the weights). Then one subprocess evaluates (streamed,
`hamlearn.training.evaluate.evaluate_references`) all 17,879 molecules with 8 heavy
atoms with the same model and reports molecules/s and peak memory.

Printed per row: molecules, featurize time, store size, steps timed, s/step, epoch time
(steps alone; steps + batch building; measured on ``--steps`` steps and scaled to the
epoch when fewer), molecules/s both ways, the data-movement share, peak RSS and peak
anonymous memory (RSS counts mapped store pages, which the OS can drop; anonymous memory
is what cannot). Reference row: the first size, in the same run.

    python benchmarks/bench_qm9_scale.py                       # 4k and 20k, 150 steps each, eval 17,879
    python benchmarks/bench_qm9_scale.py --sizes 300 --steps 10 --eval 200   # a quick look
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

COMMON = r"""
import json, resource, sys, threading, time
from pathlib import Path
import numpy as np
from hamlearn.runtime import setup_jax
setup_jax()
from hamlearn.config import load_config
from hamlearn.data.qm9 import QM9, attach_published
from hamlearn.training.references import unlabelled_reference
peak_anon = [0]
def watch():
    while True:
        for line in open("/proc/self/status"):
            if line.startswith("RssAnon:"):
                peak_anon[0] = max(peak_anon[0], int(line.split()[1]))
        time.sleep(0.05)
threading.Thread(target=watch, daemon=True).start()
def peaks():
    return {"peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            "peak_anon_gb": peak_anon[0] / 1e6}
cfg = load_config(sys.argv[2], [f"data.cache_dir={sys.argv[3]}"])
qm9 = QM9.open()
def references(rows):
    refs = [unlabelled_reference(qm9.structure(r), cfg.model.basis) for r in rows]
    return attach_published(refs, qm9)
"""

TRAIN = COMMON + r"""
import equinox as eqx, jax
from hamlearn.training.batches import Batcher, prepare
from hamlearn.training.run import build_model, make_loss_fn, loss_weights
from hamlearn.training.step import make_optimizer, make_train_step
n, steps = int(sys.argv[1]), int(sys.argv[4])
small = qm9.select(max_heavy=7)
rows = small if n <= len(small) else np.concatenate(
    [small, qm9.select(heavy=[8], sample=n - len(small), seed=0)])
rows = rows[:n]
t = time.perf_counter(); refs = references(rows); t_refs = time.perf_counter() - t
t = time.perf_counter(); data = prepare(refs, cfg, store=True); t_feat = time.perf_counter() - t
store = sum(f.stat().st_size for f in (Path(sys.argv[3]) / "features").rglob("*.npy"))
batcher = Batcher(data, cfg, cfg.train.batch_size, fixed_shape=True)
model = build_model(cfg, key=jax.random.PRNGKey(0))
weights = loss_weights(cfg)
loss_fn = make_loss_fn(weights, {k: 1.0 for k, w in weights.items() if w})
order = np.random.default_rng(0).permutation(n)
chunks = batcher.chunks(order)
opt = make_optimizer(cfg.train, len(chunks))
opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
step = make_train_step(loss_fn, opt)
t = time.perf_counter()
model, opt_state, *_ = jax.block_until_ready(step(model, opt_state, batcher.batch(chunks[0])))
t_compile = time.perf_counter() - t
model, opt_state, *_ = jax.block_until_ready(step(model, opt_state, batcher.batch(chunks[1])))
t_build = t_step = 0.0
timed = chunks[2:2 + steps]  # after the compile and one warm step
for c in timed:
    t = time.perf_counter(); b = batcher.batch(c); t_build += time.perf_counter() - t
    t = time.perf_counter()
    model, opt_state, *_ = jax.block_until_ready(step(model, opt_state, b))
    t_step += time.perf_counter() - t
# the same steps as training runs them (train.prefetch: the next batch is built in a
# background thread while the step runs): the data movement left exposed
from hamlearn.training.batches import LazyBatches
t = time.perf_counter()
for b in LazyBatches(batcher.batch, timed, prefetch=cfg.train.prefetch):
    model, opt_state, *_ = jax.block_until_ready(step(model, opt_state, b))
t_prefetch = time.perf_counter() - t
scale = len(chunks) / len(timed)
print(json.dumps({"prefetch": cfg.train.prefetch, "epoch_prefetch_s": t_prefetch * scale,
                  "shapes": {"likely": sum(batcher.entry_pad.values()),
                             "worst": sum(batcher.worst_pad.values())},"n": n, "refs_s": t_refs, "featurize_s": t_feat, "store_gb": store / 1e9,
                  "compile_s": t_compile, "steps": len(timed), "steps_per_epoch": len(chunks),
                  "s_per_step": t_step / len(timed), "build_per_step": t_build / len(timed),
                  "epoch_steps_s": t_step * scale, "epoch_total_s": (t_step + t_build) * scale,
                  **peaks()}))
"""

EVAL = COMMON + r"""
import jax
from hamlearn.training.evaluate import evaluate_references
from hamlearn.training.run import build_model
n = int(sys.argv[1])
rows = qm9.select(heavy=[8])
rows = rows if n >= len(rows) else qm9.select(heavy=[8], sample=n, seed=0)
t = time.perf_counter(); refs = references(rows); t_refs = time.perf_counter() - t
model = build_model(cfg, key=jax.random.PRNGKey(0))
t = time.perf_counter()
res = evaluate_references(model, refs, range(len(refs)), cfg)
t_eval = time.perf_counter() - t
print(json.dumps({"n": len(refs), "refs_s": t_refs, "eval_s": t_eval,
                  "mol_per_s": len(refs) / t_eval, "evaluated": res["metrics"]["n_molecules"],
                  **peaks()}))
"""


def child(code: str, *args) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                         text=True, cwd=ROOT)
    if out.returncode:
        sys.exit(f"benchmark child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[4000, 20000])
    parser.add_argument("--steps", type=int, default=150, help="timed steps per size")
    parser.add_argument("--eval", type=int, default=17879, help="8-heavy molecules evaluated")
    parser.add_argument("--config", default=str(ROOT / "configs" / "qm9_frontier.yaml"))
    args = parser.parse_args()
    try:
        import qm9pack  # noqa: F401
    except ImportError:
        sys.exit("needs the qm9 extra: pip install -e '.[qm9]'")
    rows = []
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="hamlearn-bench-") as tmp:
            rows.append(child(TRAIN, n, args.config, tmp, args.steps))
        r = rows[-1]
        print(f"trained on {n}: featurize {r['featurize_s']:.0f} s, "
              f"{r['epoch_total_s']:.0f} s/epoch", flush=True)
    print("\nTraining (configs/qm9_frontier.yaml, batches of 64, float32 feature store; epoch "
          "times scaled from the timed steps)\n")
    print("| molecules | featurize (s) | store (GB) | compile (s) | steps timed | s/step "
          "| epoch, steps (s) | epoch, + data (s) | mol/s steps | mol/s + data | data share "
          "| epoch, as trained (s) | exposed data share | peak RSS (GB) | peak anon (GB) "
          "| epoch vs first |")
    print("|---" * 16 + "|")
    ref = rows[0]["epoch_total_s"]
    for r in rows:
        share = r["build_per_step"] / (r["build_per_step"] + r["s_per_step"])
        print(f"| {r['n']} | {r['featurize_s']:.0f} | {r['store_gb']:.2f} | "
              f"{r['compile_s']:.0f} | {r['steps']}/{r['steps_per_epoch']} | "
              f"{r['s_per_step']:.3f} | {r['epoch_steps_s']:.0f} | {r['epoch_total_s']:.0f} | "
              f"{r['n'] / r['epoch_steps_s']:.0f} | {r['n'] / r['epoch_total_s']:.0f} | "
              f"{100 * share:.0f} % | {r['epoch_prefetch_s']:.0f} | "
              f"{100 * (1 - r['epoch_steps_s'] / r['epoch_prefetch_s']):.0f} % | "
              f"{r['peak_rss_gb']:.2f} | {r['peak_anon_gb']:.2f} | "
              f"{r['epoch_total_s'] / ref:.2f} |")
    print("\ndata share: batch building / (building + step), built in turn; as trained: with "
          f"train.prefetch = {rows[0]['prefetch']} (batches built in a thread while the step "
          "runs), exposed share = 1 - steps alone / as trained")
    if args.eval:
        with tempfile.TemporaryDirectory(prefix="hamlearn-bench-") as tmp:
            e = child(EVAL, args.eval, args.config, tmp)
        print(f"\nEvaluation (streamed, chunks of 256): {e['n']} molecules with 8 heavy atoms in "
              f"{e['eval_s']:.0f} s ({e['mol_per_s']:.0f} mol/s, integrals {e['refs_s']:.0f} s "
              f"before), peak RSS {e['peak_rss_gb']:.2f} GB, peak anonymous "
              f"{e['peak_anon_gb']:.2f} GB")


if __name__ == "__main__":
    main()
