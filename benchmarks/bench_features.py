"""Time and memory of hamlearn's features and model forward pass (QM7 cookbook set).

Usage:
    python benchmarks/bench_features.py [--xyz PATH] [--n N]

Each measurement runs in its own subprocess so its peak RSS (``ru_maxrss``) is its own:

* ``features``: `featurize` of all molecules at the settings of arXiv:2504.01187's example
  (atom cutoff 3 A, pair cutoff 5 A, l_max 4, 5 radial functions, nu=2 on-site, nu=1 pair):
  cold (first call: tracing + XLA compile) and warm, peak RSS, RSS after imports;
* ``model``: the jitted `HamiltonianModel` forward on one padded batch of all molecules;
* ``per_molecule``: warm featurize time of single molecules against their atom count;
* ``featomic`` (optional, only if ``featomic`` is installed, e.g. ``pip install
  featomic==0.6.7``; it is not a hamlearn dependency): featomic's SphericalExpansion (same
  cutoff, l_max, radial count) on the same molecules, and the time ratio.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_XYZ = Path(__file__).resolve().parents[2] / "shared" / "data" / "qm7-cookbook" / "qm7.xyz"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _load(xyz: str, n: int):
    import ase.io

    from hamlearn.data.structure import Structure

    return [Structure.from_atoms(a) for a in ase.io.read(xyz, f":{n}")]


def part_features(xyz: str, n: int) -> dict:
    import hamlearn  # noqa: F401  (x64)
    from hamlearn.config import FeaturesConfig
    from hamlearn.features import featurize, make_spec

    structures = _load(xyz, n)
    cfg = FeaturesConfig()
    make_spec(cfg)  # pyscf basis tables, shapes
    base = _rss_mb()
    t0 = time.perf_counter()
    fs = featurize(structures, cfg)
    t1 = time.perf_counter()
    feature_mb = fs.nbytes() / 1e6
    del fs  # the warm call must not hold two copies
    featurize(structures, cfg)
    t2 = time.perf_counter()
    return {"n_molecules": len(structures), "n_atoms": int(sum(s.n_atoms for s in structures)),
            "cold_s": t1 - t0, "warm_s": t2 - t1, "feature_mb": feature_mb,
            "rss_after_imports_mb": base, "peak_rss_mb": _rss_mb(),
            "density_only_warm_s": _density_only(structures, cfg)}


def _density_only(structures, cfg) -> float:
    """Warm time of the atom densities alone (the analogue of featomic's SphericalExpansion)."""
    import functools

    import jax
    import jax.numpy as jnp
    import numpy as np

    from hamlearn.features.density import atom_density
    from hamlearn.features.neighbors import neighbor_pairs
    from hamlearn.units import ANGSTROM_TO_BOHR

    r_cut = cfg.atom_cutoff_ang * ANGSTROM_TO_BOHR
    sp = {z: k for k, z in enumerate(sorted(cfg.species))}
    t0 = time.perf_counter()
    pos, spec, src, dst, start = [], [], [], [], 0
    for s in structures:
        i, j = neighbor_pairs(s, r_cut)
        pos.append(s.positions)
        spec.extend(sp[z] for z in s.numbers)
        src.append(i + start)
        dst.append(j + start)
        start += s.n_atoms
    args = (jnp.asarray(np.concatenate(pos)), jnp.asarray(spec), jnp.asarray(np.concatenate(src)),
            jnp.asarray(np.concatenate(dst)))
    fn = jax.jit(functools.partial(atom_density, n_species=len(sp), n_radial=cfg.n_radial,
                                   l_max=cfg.l_max, r_cut=r_cut, radial=cfg.radial))
    host = time.perf_counter() - t0
    mask = jnp.ones(len(args[2]), bool)
    jax.block_until_ready(fn(*args, mask))
    t1 = time.perf_counter()
    np.asarray(fn(*args, mask))
    return host + time.perf_counter() - t1


def part_model(xyz: str, n: int) -> dict:
    import jax

    from hamlearn.config import FeaturesConfig
    from hamlearn.features import featurize
    from hamlearn.model import HamiltonianModel, fock_batch, make_batch

    structures = _load(xyz, n)
    fs = featurize(structures, FeaturesConfig())
    model = HamiltonianModel(fs.spec, key=jax.random.PRNGKey(0))
    batch = make_batch(fs, range(len(structures)))
    t0 = time.perf_counter()
    jax.block_until_ready(fock_batch(model, batch))
    t1 = time.perf_counter()
    reps = 5
    for _ in range(reps):
        jax.block_until_ready(fock_batch(model, batch))
    t2 = time.perf_counter()
    return {"compile_and_first_s": t1 - t0, "forward_s": (t2 - t1) / reps,
            "nao_pad": batch.nao_pad, "peak_rss_mb": _rss_mb()}


def part_per_molecule(xyz: str, n: int) -> dict:
    from hamlearn.config import FeaturesConfig
    from hamlearn.features import featurize

    structures = _load(xyz, n)
    by_size = {}
    for s in structures:
        by_size.setdefault(s.n_atoms, s)
    rows = []
    for n_atoms in sorted(by_size)[:: max(1, len(by_size) // 6)]:
        s = by_size[n_atoms]
        featurize([s], FeaturesConfig())  # compile this bucket
        t0 = time.perf_counter()
        featurize([s], FeaturesConfig())
        rows.append({"n_atoms": n_atoms, "warm_ms": 1e3 * (time.perf_counter() - t0)})
    return {"rows": rows}


def part_featomic(xyz: str, n: int) -> dict:
    try:
        import featomic
    except ImportError:
        return {"skipped": "featomic not installed (pip install featomic==0.6.7)"}
    import ase.io

    frames = ase.io.read(xyz, f":{n}")
    calc = featomic.SphericalExpansion(
        cutoff={"radius": 3.0, "smoothing": {"type": "ShiftedCosine", "width": 0.5}},
        density={"type": "Gaussian", "width": 0.3},
        basis={"type": "TensorProduct", "max_angular": 4,
               "radial": {"type": "Gto", "max_radial": 4}})
    t0 = time.perf_counter()
    calc.compute(frames)
    t1 = time.perf_counter()
    calc.compute(frames)
    t2 = time.perf_counter()
    return {"version": featomic.__version__, "first_s": t1 - t0, "second_s": t2 - t1,
            "peak_rss_mb": _rss_mb()}


PARTS = {"features": part_features, "model": part_model, "per_molecule": part_per_molecule,
         "featomic": part_featomic}


def run_part(name: str, xyz: str, n: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--part", name, "--xyz", xyz, "--n", str(n)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1:] or ["?"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--xyz", default=str(DEFAULT_XYZ))
    ap.add_argument("--n", type=int, default=150, help="first N molecules of the file")
    ap.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.part:
        print(json.dumps(PARTS[args.part](args.xyz, args.n)))
        return
    res = {name: run_part(name, args.xyz, args.n) for name in PARTS}
    f, m, fe = res["features"], res["model"], res["featomic"]
    print(json.dumps(res, indent=1))
    if "error" not in f:
        print(f"features: {f['n_molecules']} molecules / {f['n_atoms']} atoms: cold "
              f"{f['cold_s']:.2f} s (incl. compile), warm {f['warm_s']:.2f} s; features "
              f"{f['feature_mb']:.0f} MB; peak RSS {f['peak_rss_mb']:.0f} MB "
              f"({f['rss_after_imports_mb']:.0f} MB after imports)")
    if "error" not in m:
        print(f"model forward (batch of all, nao_pad {m['nao_pad']}): {1e3 * m['forward_s']:.1f} ms"
              f" (compile + first {m['compile_and_first_s']:.2f} s)")
    if "error" not in f and "first_s" in fe:
        print(f"featomic {fe['version']} SphericalExpansion: {fe['first_s']:.2f} s "
              f"(second {fe['second_s']:.2f} s), peak RSS {fe['peak_rss_mb']:.0f} MB; ratio "
              f"featomic / hamlearn densities (same task) = "
              f"{fe['second_s'] / f['density_only_warm_s']:.1f}; featomic densities / hamlearn "
              f"all block features (warm) = {fe['second_s'] / f['warm_s']:.2f}")
    elif "skipped" in fe:
        print(f"featomic: {fe['skipped']}")


if __name__ == "__main__":
    main()
