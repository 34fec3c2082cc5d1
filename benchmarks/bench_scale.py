"""Performance and scale of training and inference: throughput, profile, size sweep, memory,
float32 cost (issue 7).

One run prints six tables:

1. training throughput on the QM7 cookbook set (configs/qm7_def2tzvp.yaml, 70/20/10 split,
   105 training molecules): compile time, s/epoch and molecules/s, full batch and a
   mini-batch size, the step built exactly as `hamlearn.training.run` builds it;
2. a profile of one training step and one inference pass, piece by piece (separately
   jitted pieces, ``jax.block_until_ready``);
3. inference against molecule size (all-trans polyenes C2nH2n+2, polyacenes, from SMILES,
   10 to ~200 atoms) with the ratio to a pyscf B3LYP SCF (def2-SVP; def2-TZVP for the
   smallest) where affordable;
4. padding overhead (AOs, eigh cost, block entries) of the QM7 batches and the sweep;
5. peak memory (peak RSS of a subprocess per case, and XLA's compiled memory analysis);
6. float32 against float64 on the QM7 validation+test molecules (a subprocess with x64 off).

The model is the ridge fit of `hamlearn.training.run.initial_model` (train.ridge_init) on the
QM7 training Fock matrices: timings do not depend on the weights, the float32 comparison
needs a realistic F.

Threads: unless already set, ``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS`` (pyscf) and
XLA's CPU intra-op threads are set to 1 before numpy/jax/pyscf load: every timing, JAX's
and pyscf's, is single-threaded (like for like; robust to other load on the machine).
Times are the fastest of repeated single calls unless the row says median.

    python benchmarks/bench_scale.py            # full run (~17 min; SCFs up to 18 atoms)
    python benchmarks/bench_scale.py --quick    # a few minutes: small sizes, fewer repeats
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("XLA_FLAGS",
                      "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402
import resource  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

import hamlearn  # noqa: E402,F401  (x64)
from hamlearn.qm import apply_padding, generalized_eigh, qm_forward_batch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "qm7_def2tzvp.yaml"
HARTREE_EV, AU_DEBYE = 27.211386245988, 2.541746473


# --------------------------------------------------------------------------- helpers
def best_time(fn, *args, calls: int = 50, budget: float = 2.0) -> float:
    """Fastest single call (s) of ``fn(*args)`` after one warm-up call (see bench_qm.py)."""
    jax.block_until_ready(fn(*args))
    best, start = np.inf, time.perf_counter()
    for _ in range(calls):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - start > budget:
            break
    return best


def timed(fn, *args, **kwargs):
    """``(result, seconds)`` of one call, results ready."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args, **kwargs))
    return out, time.perf_counter() - t0


def rss_mb() -> float:
    """Peak RSS (MB) of this process image: ``VmHWM`` (``ru_maxrss`` survives ``exec`` and
    would report the parent's peak in a subprocess), else ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_avg() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def signature(tree) -> tuple:
    """Shapes and dtypes of every array leaf: one XLA compile per distinct signature."""
    return tuple((tuple(a.shape), str(a.dtype)) for a in jax.tree_util.tree_leaves(tree)
                 if hasattr(a, "shape"))


def xla_memory_mb(jitted, *args) -> dict:
    """XLA's compiled memory analysis (MB): arguments, outputs, temporaries."""
    compiled = jitted.lower(*args).compile()
    m = getattr(compiled, "compiled", compiled).memory_analysis()  # equinox wraps it
    return {"args_mb": m.argument_size_in_bytes / 1e6, "out_mb": m.output_size_in_bytes / 1e6,
            "temp_mb": m.temp_size_in_bytes / 1e6}


# --------------------------------------------------------------------------- setup
@dataclasses.dataclass
class Setup:
    cfg: object
    refs: list
    split: object
    data: object
    model: object
    weights: dict
    features_s: float
    ridge_s: float


def qm7_setup() -> Setup:
    """The QM7 run's data, split, features and ridge-initialised model (as run.train)."""
    from hamlearn.config import load_config
    from hamlearn.training.batches import prepare
    from hamlearn.training.run import initial_model, load_references, loss_weights
    from hamlearn.training.split import make_split

    cfg = load_config(CONFIG)
    refs = load_references(cfg, progress=False)
    split = make_split([r.structure for r in refs], cfg.train.split, cfg.train.seed)
    data, features_s = timed(prepare, refs, cfg)
    model, ridge_s = timed(initial_model, cfg, data, split)
    return Setup(cfg, refs, split, data, model, loss_weights(cfg), features_s, ridge_s)


def fixed_shape_supported() -> bool:
    import inspect

    from hamlearn.training.batches import Batcher

    return "fixed_shape" in inspect.signature(Batcher).parameters


def make_batcher(st: Setup, batch_size: int, fixed_shape: bool | None = None):
    """A `Batcher` as run.train makes it (``fixed_shape`` for mini-batches, if it exists)."""
    from hamlearn.training.batches import Batcher

    if fixed_shape is None:
        fixed_shape = batch_size < len(st.split.train)
    kw = {"fixed_shape": fixed_shape} if fixed_shape_supported() else {}
    return Batcher(st.data, st.cfg, batch_size, **kw)


def train_parts(st: Setup, batch_size: int, scales: dict | None = None):
    """``(batcher, loss_fn, step, opt_state, scales)`` built as `hamlearn.training.run.train`."""
    from hamlearn.training.run import initial_scales, make_loss_fn
    from hamlearn.training.step import make_optimizer, make_train_step

    batcher = make_batcher(st, batch_size)
    if scales is None:
        scales = initial_scales(st.model, batcher.batches(st.split.train), st.weights)
    loss_fn = make_loss_fn(st.weights, scales)
    optimizer = make_optimizer(st.cfg.train, len(batcher.chunks(st.split.train)))
    opt_state = optimizer.init(eqx.filter(st.model, eqx.is_inexact_array))
    return batcher, loss_fn, make_train_step(loss_fn, optimizer), opt_state, scales


# --------------------------------------------------------------------------- 1. throughput
def throughput_full(st: Setup, epochs: int) -> tuple[dict, tuple]:
    """Full-batch training: compile time and s/epoch (one step per epoch)."""
    batcher, loss_fn, step, opt_state, scales = train_parts(st, len(st.split.train))
    batch, build_s = timed(batcher.batch, list(st.split.train))
    model = st.model
    (model, opt_state, *_), compile_s = timed(step, model, opt_state, batch)
    times = []
    for _ in range(epochs):
        (model, opt_state, *_), dt = timed(step, model, opt_state, batch)
        times.append(dt)
    n = len(st.split.train)
    row = {"batch": n, "compile_s": compile_s, "build_s": build_s,
           "epoch_s": float(np.median(times)), "epoch_min_s": min(times),
           "mol_per_s": n / float(np.median(times)), "shapes": 1}
    return row, (batcher, loss_fn, step, opt_state, scales, batch)


def count_shapes(st: Setup, batch_size: int, epochs: int, fixed_shape: bool) -> int:
    """Distinct batch signatures (= step compiles) of ``epochs`` shuffled epochs."""
    from hamlearn.training.batches import epoch_order

    batcher = make_batcher(st, batch_size, fixed_shape)
    seen = set()
    for epoch in range(epochs):
        order = epoch_order(st.split.train, st.cfg.train.seed, epoch)
        seen |= {signature(batcher.batch(c)) for c in batcher.chunks(order)}
    return len(seen)


def throughput_mini(st: Setup, batch_size: int, scales: dict, epochs: int) -> dict:
    """Mini-batch training as run.py: batches rebuilt every epoch (``epoch_order``)."""
    from hamlearn.training.batches import epoch_order

    batcher, _, step, opt_state, _ = train_parts(st, batch_size, scales)
    model, rows, seen = st.model, [], set()
    for epoch in range(epochs):
        order = epoch_order(st.split.train, st.cfg.train.seed, epoch)
        batches, build = timed(lambda: [batcher.batch(c) for c in batcher.chunks(order)])
        new = len({signature(b) for b in batches} - seen)
        seen |= {signature(b) for b in batches}
        t0 = time.perf_counter()
        for b in batches:
            model, opt_state, loss, *_ = step(model, opt_state, b)
        jax.block_until_ready(loss)
        rows.append((build, time.perf_counter() - t0, new))
    steady = [s for _, s, new in rows[1:] if new == 0] or [min(s for _, s, _ in rows)]
    epoch_s = float(np.median(steady))
    compiles = sum(new for *_, new in rows)
    n = len(st.split.train)
    return {"batch": batch_size, "steps": len(batcher.chunks(st.split.train)),
            "compile_s": (sum(s for _, s, _ in rows) - epochs * epoch_s) / max(compiles, 1),
            "build_s": float(np.median([b for b, _, _ in rows])), "epoch_s": epoch_s,
            "mol_per_s": n / epoch_s, "shapes": len(seen), "shape_epochs": epochs,
            "fixed_shape": fixed_shape_supported()}


def print_throughput(rows: list[dict], shapes: dict[bool, int], shape_epochs: int) -> None:
    print("\n## 1. Training throughput, QM7 (105 training molecules), one core")
    print(f"{'batch':>6} {'steps/ep':>8} {'compile s':>10} {'s/epoch (steps)':>16} "
          f"{'mol/s':>7} {'+build s/ep':>11} {'mol/s incl.':>11} {'compiles':>12}")
    for r in rows:
        steps = r.get("steps", 1)
        build = r["build_s"] if steps > 1 else 0.0
        n_shapes = f"{r['shapes']}" + (f" in {r['shape_epochs']} ep" if steps > 1 else "")
        print(f"{r['batch']:>6} {steps:>8} {r['compile_s']:>10.1f} {r['epoch_s']:>16.3f} "
              f"{r['mol_per_s']:>7.0f} {build:>11.3f} "
              f"{105 / (r['epoch_s'] + build):>11.0f} {n_shapes:>12}")
    print("compile s: first step (trace + XLA compile + run; per new batch shape for "
          "mini-batches). Full batch: built once "
          f"({rows[0]['build_s']:.2f} s) and cached, as run.py does; mini-batches are rebuilt "
          "every epoch ('+build'). s/epoch: median (full batch: one step).")
    old = shapes.get(False)
    if old is not None:
        print(f"mini-batch step shapes in {shape_epochs} shuffled epochs: per-batch entry "
              f"buckets (Batcher fixed_shape=False) {old} distinct shapes = {old} compiles "
              f"(~{old * rows[-1]['compile_s'] / 60:.0f} min at the compile time above)"
              + (f"; fixed_shape=True: {shapes[True]}" if True in shapes else
                 "; this Batcher has no fixed_shape option"))


# --------------------------------------------------------------------------- 2. profile
def padded_eigh(fock, qm):
    """The layer's eigensolve alone (after the padding shift), one molecule."""
    f, s, _ = apply_padding(fock, qm.ovlp, qm.dip_ints, qm.ao_mask)
    return generalized_eigh(f, s)


def jitted_pieces(loss_fn):
    """Separately jitted pieces of the forward/backward pass of one batch."""
    from hamlearn.model.assemble import assemble_fock
    from hamlearn.training.losses import loss_terms

    def qm_loss(fock, batch):  # the loss as a function of F only (QM layer + loss)
        pred = dict(qm_forward_batch(fock, batch["qm"]), fock=fock)
        return sum(loss_terms(pred, batch["targets"]).values())

    return {
        "blocks": eqx.filter_jit(lambda m, b: m.blocks(b["blocks"])),
        "model": eqx.filter_jit(lambda m, b: m(b["blocks"])),
        "assembly": eqx.filter_jit(lambda blocks, b: assemble_fock(blocks, b["blocks"])),
        "eigh": jax.jit(jax.vmap(padded_eigh)),
        "qm": jax.jit(qm_forward_batch),
        "loss": eqx.filter_jit(loss_fn),
        "value_grad": eqx.filter_jit(eqx.filter_value_and_grad(loss_fn, has_aux=True)),
        "qm_loss": jax.jit(qm_loss),
        "qm_value_grad": jax.jit(jax.value_and_grad(qm_loss)),
    }


def profile_step(st: Setup, parts, budget: float) -> dict:
    """Seconds per piece of one full-batch training step (fastest of repeated calls)."""
    from hamlearn.model import make_batch
    from hamlearn.qm import bucket_size, pad_batch
    from hamlearn.training.batches import nao_buckets
    from hamlearn.training.targets import build_targets

    batcher, loss_fn, step, opt_state, _, batch = parts
    idx = list(st.split.train)
    nao_pad = bucket_size(int(st.data.nao[idx].max()), nao_buckets(st.cfg), strict=False)
    fn = jitted_pieces(loss_fn)
    model, fock = st.model, fn["model"](st.model, batch)
    t = {"batch: block gather + copy": best_time(make_batch, st.data.features, idx, nao_pad,
                                                 calls=5, budget=budget),
         "batch: QM inputs pad + copy": best_time(
             lambda: jax.tree.map(jnp.asarray, pad_batch([st.data.qm[i] for i in idx],
                                                         nao_pad)), calls=5, budget=budget),
         "batch: targets": best_time(lambda: build_targets(
             [st.data.refs[i] for i in idx], nao_pad, st.cfg.train.loss,
             st.cfg.train.target_basis), calls=5, budget=budget),
         "batch: total (Batcher.batch)": best_time(batcher.batch, idx, calls=5, budget=budget)}
    t["model: blocks"] = best_time(fn["blocks"], model, batch, budget=budget)
    t["model: blocks + assembly"] = best_time(fn["model"], model, batch, budget=budget)
    t["model: assembly"] = best_time(fn["assembly"], fn["blocks"](model, batch), batch,
                                     budget=budget)
    t["QM: eigh"] = best_time(fn["eigh"], fock, batch["qm"], budget=budget)
    t["QM: layer (eigh + properties)"] = best_time(fn["qm"], fock, batch["qm"], budget=budget)
    t["forward + loss"] = best_time(fn["loss"], model, batch, budget=budget)
    t["QM layer + loss, value+grad wrt F"] = best_time(fn["qm_value_grad"], fock, batch,
                                                       budget=budget)
    t["QM layer + loss, value"] = best_time(fn["qm_loss"], fock, batch, budget=budget)
    t["value + grad (whole)"] = best_time(fn["value_grad"], model, batch, budget=budget)
    t["train step (+ optimizer)"] = best_time(step, model, opt_state, batch, budget=budget)
    return t


def profile_inference(st: Setup, loss_fn, budget: float) -> dict:
    """Seconds per piece of one inference pass over the training molecules from structures
    (what `hamlearn.training.predict.predict_structures` does)."""
    from hamlearn.features import featurize
    from hamlearn.qm import QMInputs
    from hamlearn.training.batches import Batcher, Prepared
    from hamlearn.training.evaluate import forward, split_outputs
    from hamlearn.training.predict import unlabelled_reference

    structures = [st.refs[i].structure for i in st.split.train]
    basis = st.cfg.model.basis
    refs, t_int = timed(lambda: [unlabelled_reference(s, basis) for s in structures])
    qm = [QMInputs.from_model_data(r.model, r.structure) for r in refs]
    fs, cold = timed(featurize, structures, st.cfg.features, basis)
    t = {"integrals (pyscf S, <r>)": t_int, "features: first call": cold,
         "features (host + jit)": best_time(featurize, structures, st.cfg.features, basis,
                                            calls=3, budget=budget)}
    data = Prepared(refs=refs, features=fs, qm=qm)
    batcher = Batcher(data, st.cfg, len(refs), with_targets=False)
    idx = list(range(len(refs)))
    t["batch: total (Batcher.batch)"] = best_time(batcher.batch, idx, calls=5, budget=budget)
    batch = batcher.batch(idx)
    fn = jitted_pieces(loss_fn)
    fock = fn["model"](st.model, batch)
    t["model: blocks"] = best_time(fn["blocks"], st.model, batch, budget=budget)
    t["model: blocks + assembly"] = best_time(fn["model"], st.model, batch, budget=budget)
    t["model: assembly"] = best_time(fn["assembly"], fn["blocks"](st.model, batch), batch,
                                     budget=budget)
    t["QM: eigh"] = best_time(fn["eigh"], fock, batch["qm"], budget=budget)
    t["QM: layer (eigh + properties)"] = best_time(fn["qm"], fock, batch["qm"], budget=budget)
    t["forward (evaluate.forward)"] = best_time(forward, st.model, batch, budget=budget)
    out = forward(st.model, batch)
    t["outputs to host (split_outputs)"] = best_time(split_outputs, out, idx, data, calls=5,
                                                     budget=budget)
    return t


def print_profile(train: dict, infer: dict, n: int, features_once: float) -> None:
    print(f"\n## 2. Profile: one full-batch training step and one inference pass ({n} "
          "molecules), ms (fastest call)")
    tr, inf = dict(train), dict(infer)
    derived = [
        ("features (host + jit)", None, inf["features (host + jit)"]),
        ("features: first call", None, inf["features: first call"]),
        ("integrals (pyscf S, <r>)", None, inf["integrals (pyscf S, <r>)"]),
        ("batch: block gather + copy", tr["batch: block gather + copy"], None),
        ("batch: QM inputs pad + copy", tr["batch: QM inputs pad + copy"], None),
        ("batch: targets", tr["batch: targets"], None),
        ("batch: total (Batcher.batch)", tr["batch: total (Batcher.batch)"],
         inf["batch: total (Batcher.batch)"]),
        ("model: blocks (einsums)", tr["model: blocks"], inf["model: blocks"]),
        ("model: assembly (scatter, alone)", tr["model: assembly"], inf["model: assembly"]),
        ("model: blocks + assembly", tr["model: blocks + assembly"],
         inf["model: blocks + assembly"]),
        ("QM: eigh (sygvd, padded)", tr["QM: eigh"], inf["QM: eigh"]),
        ("QM: properties (density, dipole, SOS alpha)",
         tr["QM: layer (eigh + properties)"] - tr["QM: eigh"],
         inf["QM: layer (eigh + properties)"] - inf["QM: eigh"]),
        ("forward total (model + QM [+ loss])", tr["forward + loss"],
         inf["forward (evaluate.forward)"]),
        ("backward total", tr["value + grad (whole)"] - tr["forward + loss"], None),
        ("  of which QM layer backward",
         tr["QM layer + loss, value+grad wrt F"] - tr["QM layer + loss, value"], None),
        ("  of which model backward (blocks, scatter)",
         tr["value + grad (whole)"] - tr["forward + loss"]
         - tr["QM layer + loss, value+grad wrt F"] + tr["QM layer + loss, value"], None),
        ("optimizer (adam, clip, finite check)",
         tr["train step (+ optimizer)"] - tr["value + grad (whole)"], None),
        ("train step (jitted, total)", tr["train step (+ optimizer)"], None),
        ("outputs to host (split_outputs)", None, inf["outputs to host (split_outputs)"]),
    ]
    print(f"{'piece':<46} {'train step':>11} {'inference':>10}")
    for name, a, b in derived:
        fa = f"{1e3 * a:>11.1f}" if a is not None else f"{'-':>11}"
        fb = f"{1e3 * b:>10.1f}" if b is not None else f"{'-':>10}"
        print(f"{name:<46} {fa} {fb}")
    print(f"training features are computed once per dataset (prepare: {features_once:.1f} s "
          "for all 150 molecules, incl. compile); differences of jitted pieces are "
          "approximate (XLA fuses across piece boundaries).")


# --------------------------------------------------------------------------- 3. size sweep
def polyene_smiles(n_double: int) -> str:
    """All-trans C(2n)H(2n+2): ``C=C/C=C/.../C=C``."""
    return "C=C" + "/C=C" * (n_double - 1)


def _ring(k: int) -> str:
    return str(k) if k < 10 else f"%{k}"


def acene_smiles(n_rings: int) -> str:
    """Linear polyacene C(4n+2)H(2n+4): benzene, naphthalene, anthracene, ..."""
    if n_rings == 1:
        return "c1ccccc1"
    labels = [_ring(k) for k in range(2, n_rings + 1)]
    head = "c1ccc" + labels[0] + "".join("cc" + lab for lab in labels[1:])
    tail = "".join("c" + lab + "c" for lab in reversed(labels[1:]))
    return head + "cccc" + tail + "c" + labels[0] + "c1"


def sweep_molecules(quick: bool) -> list[tuple[str, str]]:
    """``(label, smiles)`` of the size sweep: polyenes and polyacenes, ~10 to ~200 atoms."""
    enes = (2, 4) if quick else (2, 4, 6, 10, 25, 50)
    acenes = (1, 2) if quick else (1, 2, 3, 4, 8, 16, 32)
    return ([(f"C{2 * n}H{2 * n + 2}", polyene_smiles(n)) for n in enes]
            + [(f"acene-{n} C{4 * n + 2}H{2 * n + 4}", acene_smiles(n)) for n in acenes])


def structure_from_smiles(smiles: str, label: str):
    """`hamlearn.data.sources.from_smiles`, except above 120 atoms: rdkit's default ETKDG
    embedding fails on the all-trans C100H102 chain, so big molecules are embedded from
    random coordinates (``useRandomCoords``, same seed) and MMFF-relaxed the same way."""
    from rdkit import Chem
    from rdkit.Chem import AllChem

    from hamlearn.data.sources import SMILES_SEED, from_smiles
    from hamlearn.data.structure import Structure
    from hamlearn.units import ANGSTROM_TO_BOHR

    mol = Chem.AddHs(Chem.MolFromSmiles(smiles))
    if mol.GetNumAtoms() <= 120:
        return from_smiles(smiles, name=label)
    params = AllChem.ETKDGv3()
    params.randomSeed, params.useRandomCoords = SMILES_SEED, True
    if AllChem.EmbedMolecule(mol, params) != 0:
        raise RuntimeError(f"{label}: rdkit embedding failed")
    AllChem.MMFFOptimizeMolecule(mol, maxIters=2000)
    return Structure(numbers=[a.GetAtomicNum() for a in mol.GetAtoms()],
                     positions=mol.GetConformer().GetPositions() * ANGSTROM_TO_BOHR,
                     name=label)


def scf_seconds(structure, basis: str) -> float:
    """CPU time of a single-threaded pyscf B3LYP SCF (default grids and thresholds, as
    bench_qm.py): on a shared machine the wall time of a minutes-long run measures the
    other load, its CPU time is the uncontended cost (cf. the fastest-call JAX times)."""
    from pyscf import dft, gto

    mol = gto.M(atom=structure.pyscf_atom(), unit="Bohr", basis=basis, verbose=0)
    t0 = time.process_time()
    dft.RKS(mol, xc="b3lyp").run()
    return time.process_time() - t0


def entry_padding(blocks) -> tuple[int, int]:
    """``(padded, real)`` block entries of a `BlockBatch` (padding entries have mol = batch)."""
    padded = real = 0
    for tb in blocks.types.values():
        mol = np.asarray(tb.mol)
        padded += len(mol)
        real += int(np.sum(mol < blocks.batch_size))
    return padded, real


def size_row(structure, model, cfg, *, scf_bases=(), budget: float = 1.0) -> dict:
    """Per-molecule inference costs of one structure (batch of 1, as predict_structures)."""
    from hamlearn.features import featurize
    from hamlearn.qm import QMInputs
    from hamlearn.training.batches import Batcher, Prepared
    from hamlearn.training.predict import unlabelled_reference

    basis = cfg.model.basis
    ref, t_int = timed(unlabelled_reference, structure, basis)
    qm = [QMInputs.from_model_data(ref.model, structure)]
    fs, cold = timed(featurize, [structure], cfg.features, basis)
    data = Prepared(refs=[ref], features=fs, qm=qm)
    batcher = Batcher(data, cfg, 1, with_targets=False)
    batch, batch_cold = timed(batcher.batch, [0])
    model_fn = eqx.filter_jit(lambda m, b: m(b["blocks"]))
    eigh_fn = jax.jit(jax.vmap(padded_eigh))
    qm_fn = jax.jit(qm_forward_batch)
    t0 = time.perf_counter()
    fock = jax.block_until_ready(model_fn(model, batch))
    jax.block_until_ready(qm_fn(fock, batch["qm"]))
    compile_s = cold + batch_cold + time.perf_counter() - t0
    row = {"atoms": structure.n_atoms, "nao": int(fs.nao[0]),
           "nao_pad": int(batch["qm"].ovlp.shape[-1]), "integrals_s": t_int,
           "features_s": best_time(featurize, [structure], cfg.features, basis, calls=5,
                                   budget=budget),
           "batch_s": best_time(batcher.batch, [0], calls=5, budget=budget), "model_s": best_time(model_fn, model, batch, budget=budget),
           "qm_s": best_time(qm_fn, fock, batch["qm"], budget=budget),
           "eigh_s": best_time(eigh_fn, fock, batch["qm"], budget=budget),
           "compile_s": compile_s}
    row["entries_padded"], row["entries_real"] = entry_padding(batch["blocks"])
    row["total_s"] = sum(row[k] for k in ("integrals_s", "features_s", "batch_s", "model_s",
                                          "qm_s"))
    for b in scf_bases:
        row[f"scf_{b}_s"] = scf_seconds(structure, b)
    return row


def size_sweep(model, cfg, quick: bool, svp_max_atoms: int, tzvp_max_atoms: int) -> list:
    rows = []
    for label, smi in sweep_molecules(quick):
        s, t_rdkit = timed(structure_from_smiles, smi, label)
        bases = [b for b, lim in (("def2-svp", svp_max_atoms), ("def2-tzvp", tzvp_max_atoms))
                 if s.n_atoms <= lim]
        row = size_row(s, model, cfg, scf_bases=bases)
        row.update(name=label, rdkit_s=t_rdkit)
        rows.append(row)
        print_size_row(row, header=len(rows) == 1)
    return rows


def print_size_row(r: dict, header: bool) -> None:
    if header:
        print("\n## 3. Inference vs molecule size (one molecule per call, ms; one core)")
        print("SCF: CPU seconds, one thread; x SVP / x TZVP: SCF time / total inference time")
        print(f"{'molecule':<22} {'atoms':>5} {'nAO':>4} {'pad':>4} {'integr':>7} "
              f"{'feats':>7} {'batch':>6} {'model':>7} {'QM':>7} {'eigh%QM':>7} "
              f"{'total':>8} {'compile s':>9} {'SVP SCF s':>9} {'x SVP':>7} {'x TZVP':>7}")
    svp, tzvp = r.get("scf_def2-svp_s"), r.get("scf_def2-tzvp_s")
    print(f"{r['name']:<22} {r['atoms']:>5} {r['nao']:>4} {r['nao_pad']:>4} "
          f"{1e3 * r['integrals_s']:>7.1f} {1e3 * r['features_s']:>7.1f} "
          f"{1e3 * r['batch_s']:>6.1f} {1e3 * r['model_s']:>7.2f} {1e3 * r['qm_s']:>7.2f} "
          f"{100 * r['eigh_s'] / r['qm_s']:>6.0f}% {1e3 * r['total_s']:>8.1f} "
          f"{r['compile_s']:>9.1f} {svp if svp else float('nan'):>9.1f} "
          f"{(svp / r['total_s']) if svp else float('nan'):>7.0f} "
          f"{(tzvp / r['total_s']) if tzvp else float('nan'):>7.0f}", flush=True)


# --------------------------------------------------------------------------- 4. padding
def batch_padding(batches: list[dict], chunks: list[list[int]], nao: np.ndarray) -> dict:
    """Padded / real AOs, eigh cost (sum nao^3) and block entries over some batches.

    Real = the distinct molecules of each chunk; padded = everything the device computes
    (filler copies of short batches and padded AOs included).
    """
    ao_pad = ao_real = cube_pad = cube_real = ent_pad = ent_real = 0
    for b, c in zip(batches, chunks):
        n_mol, nao_pad = b["qm"].ovlp.shape[:2]
        ao_pad += n_mol * nao_pad
        cube_pad += n_mol * nao_pad ** 3
        ao_real += int(nao[c].sum())
        cube_real += int((nao[c].astype(np.int64) ** 3).sum())
        p, _ = entry_padding(b["blocks"])
        ent_pad += p
        ent_real += sum(int(np.sum(np.asarray(tb.mol) < len(c)))
                        for tb in b["blocks"].types.values())
    return {"ao": ao_pad / ao_real, "eigh": cube_pad / cube_real, "entries": ent_pad / ent_real}


def padding_table(st: Setup, full_batch: dict, batch_size: int, sweep: list[dict]) -> None:
    from hamlearn.training.batches import epoch_order

    nao, train = st.data.nao, list(st.split.train)
    rows = [(f"QM7 train, full batch ({len(train)})", batch_padding([full_batch], [train], nao))]
    for fixed in (False, True) if fixed_shape_supported() else (False,):
        b = make_batcher(st, batch_size, fixed)
        chunks = b.chunks(epoch_order(train, st.cfg.train.seed, 0))
        rows.append((f"QM7 train, batches of {batch_size}" + (", fixed shape" if fixed else ""),
                     batch_padding([b.batch(c) for c in chunks], chunks, nao)))
    if fixed_shape_supported():
        feats, n_b = st.data.features.types.values(), -(-len(train) // batch_size)
        top = sum(int(np.sort(np.diff(tf.offsets))[::-1][:batch_size].sum()) for tf in feats)
        real = sum(int(np.diff(tf.offsets)[train].sum()) for tf in feats)
        rows.append(("  same, bound not re-bucketed (what-if)",
                     {"ao": rows[-1][1]["ao"], "eigh": rows[-1][1]["eigh"],
                      "entries": n_b * top / real}))
    for r in sweep:
        rows.append((f"sweep {r['name']}", {"ao": r["nao_pad"] / r["nao"],
                                            "eigh": (r["nao_pad"] / r["nao"]) ** 3,
                                            "entries": r["entries_padded"] / r["entries_real"]}))
    print("\n## 4. Padding overhead: padded / real (1.00 = no waste)")
    print(f"{'case':<42} {'AOs':>6} {'eigh n^3':>9} {'block entries':>14}")
    for name, r in rows:
        print(f"{name:<42} {r['ao']:>6.2f} {r['eigh']:>9.2f} {r['entries']:>14.2f}")
    print("AOs: nao buckets (train.nao_buckets, default 8..128, then multiples of 16); entries: "
          "per block type, bucketed to 2^k or 3*2^k (hamlearn.features.spec.bucket_size); "
          "short batches are filled with copies of their first molecule.")


# --------------------------------------------------------------------------- 5. memory
def part_memory_train(quick: bool) -> dict:
    st = qm7_setup()
    after_setup = rss_mb()
    _, (batcher, loss_fn, step, opt_state, _, batch) = throughput_full(st, epochs=2)
    return {"rss_imports_setup_mb": after_setup, "rss_after_steps_mb": rss_mb(),
            "step_xla": xla_memory_mb(step, st.model, opt_state, batch),
            "features_mb": st.data.features.nbytes() / 1e6}


def part_memory_infer(smiles: str) -> dict:
    from hamlearn.config import load_config
    from hamlearn.training.run import build_model

    cfg = load_config(CONFIG)
    model = build_model(cfg, key=jax.random.PRNGKey(0))
    s = structure_from_smiles(smiles, "largest")
    before = rss_mb()
    row = size_row(s, model, cfg, budget=0.2)
    return {"atoms": s.n_atoms, "nao": row["nao"], "rss_before_mb": before,
            "rss_after_mb": rss_mb()}


def run_part(args: list[str]) -> dict:
    """Run ``python bench_scale.py --part ...`` in a fresh process; its JSON result."""
    out = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True,
                         check=False)
    if out.returncode:
        raise RuntimeError(f"part {args} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def memory_table(quick: bool, largest: str) -> None:
    train = run_part(["--part", "memory-train"] + (["--quick"] if quick else []))
    infer = run_part(["--part", "memory-infer", "--smiles", largest])
    print("\n## 5. Peak memory (peak RSS, VmHWM, of a fresh process; XLA memory analysis)")
    x = train["step_xla"]
    print(f"QM7 training (150 molecules prepared, full-batch step of 105): peak RSS "
          f"{train['rss_after_steps_mb']:.0f} MB (after data + features + ridge: "
          f"{train['rss_imports_setup_mb']:.0f} MB; feature arrays {train['features_mb']:.0f} "
          f"MB); jitted step: arguments {x['args_mb']:.0f} MB, temporaries "
          f"{x['temp_mb']:.0f} MB")
    print(f"largest inference ({infer['atoms']} atoms, {infer['nao']} AOs, random-weight "
          f"model): peak RSS {infer['rss_after_mb']:.0f} MB (before: imports + model + "
          f"structure {infer['rss_before_mb']:.0f} MB)")


# --------------------------------------------------------------------------- 6. float32
F32_KEYS = ("mo_energy", "mo_occ", "dipole", "polarizability")


def float32_inputs(st: Setup, folder: Path) -> dict:
    """Write the float64 model, features, F and outputs of the validation+test molecules."""
    from hamlearn.training.batches import Batcher
    from hamlearn.training.evaluate import forward

    idx = [int(i) for i in list(st.split.validation) + list(st.split.test)]
    batch = Batcher(st.data, st.cfg, len(idx), with_targets=False).batch(idx)
    out = forward(st.model, batch)
    np.savez(folder / "model.npz", *map(np.asarray, jax.tree_util.tree_leaves(st.model)))
    np.savez(folder / "blocks.npz",
             *map(np.asarray, jax.tree_util.tree_leaves(batch["blocks"])))
    np.savez(folder / "out64.npz", fock=np.asarray(out["fock"]),
             **{k: np.asarray(out[k]) for k in F32_KEYS})
    (folder / "indices.json").write_text(json.dumps(idx))
    qm_fn = jax.jit(qm_forward_batch)
    return {"qm_f64_s": best_time(qm_fn, out["fock"], batch["qm"]),
            "model_f64_s": best_time(eqx.filter_jit(lambda m, b: m(b["blocks"])), st.model,
                                     batch)}


def _compare(out: dict, ref: dict, mask: np.ndarray) -> dict:
    """Deviations of float32 outputs from float64: eV, Debye, % of mean alpha."""
    occ = np.asarray(ref["mo_occ"]) > 0
    n_occ = occ.sum(1)
    win = np.arange(mask.shape[1])[None, :] < (n_occ + 2)[:, None]  # occ + 2 virtual
    de = np.abs(np.asarray(out["mo_energy"], np.float64) - ref["mo_energy"]) * HARTREE_EV
    dmu = np.linalg.norm(np.asarray(out["dipole"], np.float64) - ref["dipole"], axis=1)
    a32 = np.trace(np.asarray(out["polarizability"], np.float64), axis1=1, axis2=2)
    a64 = np.trace(ref["polarizability"], axis1=1, axis2=2)
    da = 100 * np.abs(a32 - a64) / np.abs(a64)
    return {"eig_mae_ev": float(de[mask & win].mean()), "eig_max_ev": float(de[mask & win].max()),
            "eig_all_max_ev": float(de[mask].max()),
            "dip_mae_d": float(dmu.mean() * AU_DEBYE), "dip_max_d": float(dmu.max() * AU_DEBYE),
            "alpha_mean_pct": float(da.mean()), "alpha_max_pct": float(da.max())}


def part_float32(folder: str) -> dict:
    """In a fresh process with x64 OFF: the QM layer / model / features in float32."""
    import warnings

    jax.config.update("jax_enable_x64", False)
    warnings.filterwarnings("ignore", message="Explicitly requested dtype")
    from hamlearn.config import load_config
    from hamlearn.training.batches import Batcher, prepare
    from hamlearn.training.run import build_model, load_references

    folder = Path(folder)
    cfg = load_config(CONFIG)
    idx = json.loads((folder / "indices.json").read_text())
    refs = load_references(cfg, progress=False)
    data = prepare([refs[i] for i in idx], cfg)  # features computed in float32
    batch = Batcher(data, cfg, len(idx), with_targets=False).batch(list(range(len(idx))))
    skeleton = build_model(cfg, key=jax.random.PRNGKey(0))
    saved = np.load(folder / "model.npz")
    model = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(skeleton),
                                         [jnp.asarray(saved[f"arr_{i}"])
                                          for i in range(len(saved.files))])
    blk = np.load(folder / "blocks.npz")
    blocks64 = jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(batch["blocks"]),
                                            [jnp.asarray(blk[f"arr_{i}"])
                                             for i in range(len(blk.files))])
    ref = dict(np.load(folder / "out64.npz"))
    mask = np.asarray(batch["qm"].ao_mask)
    qm_fn = jax.jit(qm_forward_batch)
    model_fn = eqx.filter_jit(lambda m, b: m(b))
    fock_a = jnp.asarray(ref["fock"])  # cast to float32 (x64 off)
    res = {"dtype": str(fock_a.dtype), "model_dtype": str(model_fn(model, batch["blocks"]).dtype)}
    res["qm"] = _compare(qm_fn(fock_a, batch["qm"]), ref, mask)
    res["model_qm"] = _compare(qm_fn(model_fn(model, blocks64), batch["qm"]), ref, mask)
    res["all"] = _compare(qm_fn(model_fn(model, batch["blocks"]), batch["qm"]), ref, mask)
    res["qm_f32_s"] = best_time(qm_fn, fock_a, batch["qm"])
    res["model_f32_s"] = best_time(model_fn, model, batch["blocks"])
    res["n_molecules"] = len(idx)
    return res


def float32_table(st: Setup) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t64 = float32_inputs(st, Path(tmp))
        r = run_part(["--part", "float32", "--dir", tmp])
    print(f"\n## 6. float32 vs float64 ({r['n_molecules']} QM7 validation+test molecules, "
          f"ridge model; float32 = x64 off in a fresh process, arrays {r['dtype']}, "
          f"model output {r['model_dtype']})")
    print(f"{'in float32':<34} {'MO eV MAE':>9} {'max':>8} {'all MOs max':>11} "
          f"{'dipole D MAE':>12} {'max':>8} {'alpha % mean':>12} {'max':>7}")
    for key, name in (("qm", "QM layer (F from float64)"),
                      ("model_qm", "model + QM (float64 features)"),
                      ("all", "features + model + QM")):
        c = r[key]
        print(f"{name:<34} {c['eig_mae_ev']:>9.2e} {c['eig_max_ev']:>8.1e} "
              f"{c['eig_all_max_ev']:>11.1e} {c['dip_mae_d']:>12.2e} {c['dip_max_d']:>8.1e} "
              f"{c['alpha_mean_pct']:>12.2e} {c['alpha_max_pct']:>7.1e}")
    print(f"MO window: occupied + 2 virtual (the training window). CPU time float32/float64: "
          f"QM layer {r['qm_f32_s'] / t64['qm_f64_s']:.2f} ({1e3 * r['qm_f32_s']:.1f} vs "
          f"{1e3 * t64['qm_f64_s']:.1f} ms), model {r['model_f32_s'] / t64['model_f64_s']:.2f}"
          f" ({1e3 * r['model_f32_s']:.1f} vs {1e3 * t64['model_f64_s']:.1f} ms)")


# --------------------------------------------------------------------------- main
def header() -> None:
    print(f"# bench_scale {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: jax "
          f"{jax.__version__} on {jax.devices()[0].platform} ({os.cpu_count()} cores), float64; "
          f"OPENBLAS/OMP threads {os.environ['OPENBLAS_NUM_THREADS']}/"
          f"{os.environ['OMP_NUM_THREADS']}, XLA_FLAGS='{os.environ.get('XLA_FLAGS', '')}'; "
          f"{load_avg()}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sweep, fewer repeats")
    parser.add_argument("--batch-size", type=int, default=16, help="mini-batch size")
    parser.add_argument("--svp-max-atoms", type=int, default=None,
                        help="largest molecule with a def2-SVP SCF (default 18; quick 12)")
    parser.add_argument("--sections", default="123456", help="which tables, e.g. 36")
    parser.add_argument("--part", help=argparse.SUPPRESS)
    parser.add_argument("--smiles", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part:
        part = {"memory-train": lambda: part_memory_train(args.quick),
                "memory-infer": lambda: part_memory_infer(args.smiles),
                "float32": lambda: part_float32(args.dir)}[args.part]
        print(json.dumps(part()))
        return
    q, sec = args.quick, args.sections
    header()
    st = qm7_setup()
    print(f"QM7: {len(st.refs)} molecules, split {len(st.split.train)}/"
          f"{len(st.split.validation)}/{len(st.split.test)}; nao {st.data.nao.min()}.."
          f"{st.data.nao.max()}; prepare (features + QM inputs, cold) {st.features_s:.1f} s; "
          f"ridge init {st.ridge_s:.1f} s", flush=True)
    full, parts = throughput_full(st, epochs=3 if q else 10)
    if "1" in sec:
        mini = throughput_mini(st, args.batch_size, parts[4], epochs=3 if q else 5)
        shape_epochs = 3 if q else 20
        shapes = {fs: count_shapes(st, args.batch_size, shape_epochs, fs)
                  for fs in ((False, True) if fixed_shape_supported() else (False,))}
        print_throughput([full, mini], shapes, shape_epochs)
    if "2" in sec:
        budget = 0.5 if q else 2.0
        print_profile(profile_step(st, parts, budget), profile_inference(st, parts[1], budget),
                      len(st.split.train), st.features_s)
    sweep = []
    if "3" in sec:
        sweep = size_sweep(st.model, st.cfg, q, args.svp_max_atoms or (12 if q else 18),
                           6 if q else 12)
    if "4" in sec:
        padding_table(st, parts[5], args.batch_size, sweep)
    if "5" in sec:
        memory_table(q, sweep_molecules(q)[-1][1])
    if "6" in sec:
        float32_table(st)
    print(f"\n# done {time.strftime('%H:%M UTC', time.gmtime())}; {load_avg()}")


if __name__ == "__main__":
    main()
