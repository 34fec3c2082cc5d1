#!/usr/bin/env python
"""Reference-generation throughput for QM7-size molecules, and the pipeline's overhead.

For each target basis (def2-SVP, def2-TZVP) the same molecules are computed three ways in
this process, B3LYP with the default tight settings (conv_tol 1e-11, grid level 4) and
the uncoupled polarizability:

* bare pyscf: ``RKS.kernel`` in STO-3G and the target basis, ``dip_moment(unit='AU')``,
  the uncoupled polarizability in numpy (pyscf-properties' ``with_cphf=False`` path builds
  the XC response kernel first, which would flatter the pipeline);
* pipeline, 1 worker: `hamlearn.data.generate.generate` (checks, final Fock
  diagonalisation, integrals, checksummed cache writes) in this process;
* pipeline, all cores: the same with local worker processes.

Prints molecules/min (wall, and per CPU-minute for the in-process runs: robust to other
load on the machine) and the ratio pipeline/bare. Default: 4 molecules spread
over the cookbook's qm7.xyz (SMILES when the file is absent); ``--n`` for more.

    python benchmarks/bench_reference.py [--n 6] [--bases def2-svp]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from hamlearn.data.generate import generate
from hamlearn.data.reference import ReferenceSettings
from hamlearn.data.sources import from_smiles, read_structures

QM7 = Path(__file__).resolve().parents[2] / "shared" / "data" / "qm7-cookbook" / "qm7.xyz"
FALLBACK_SMILES = ["CC(C)O", "CC(=O)NC", "C1CCOC1", "CC(C)C#N", "OCC(O)C", "CN1CCC1"]


def molecules(n: int):
    """``n`` QM7 molecules evenly spread over the file (sizes vary along it)."""
    if QM7.is_file():
        frames = read_structures(QM7)
        picks = np.linspace(len(frames) // 10, len(frames) - 1, n).astype(int)
        return [frames[i] for i in picks]
    return [from_smiles(s) for s in (FALLBACK_SMILES * n)[:n]]


def bare_pyscf(structures, settings: ReferenceSettings) -> None:
    """The same labels computed the most direct way: SCF, ``dip_moment``, and the
    sum-over-states polarizability in plain numpy from pyscf's orbitals."""
    import pyscf.dft
    import pyscf.gto

    for s in structures:
        for basis in settings.bases:
            mol = pyscf.gto.M(atom=s.pyscf_atom(), unit="Bohr", basis=basis, verbose=0)
            mf = pyscf.dft.RKS(mol, xc=settings.method)
            mf.grids.level, mf.conv_tol, mf.chkfile = settings.grid_level, settings.conv_tol, None
            mf.kernel()
            mf.dip_moment(unit="AU", verbose=0)
            nocc, c, e = mol.nelectron // 2, mf.mo_coeff, mf.mo_energy
            with mol.with_common_orig(s.charge_centre()):
                r = mol.intor("int1e_r")
            r_ov = np.einsum("pi,xpq,qa->xia", c[:, :nocc], r, c[:, nocc:])
            4 * np.einsum("xia,yia->xy", r_ov, r_ov / (e[None, nocc:] - e[:nocc, None]))


def timed(fn, *args, **kwargs) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of a call; cpu counts this process's threads only."""
    w0, c0 = time.perf_counter(), time.process_time()
    fn(*args, **kwargs)
    return time.perf_counter() - w0, time.process_time() - c0


def bench_basis(structures, basis: str) -> None:
    settings = ReferenceSettings(target_bases=(basis,), polarizability=("uncoupled",))
    n = len(structures)
    with tempfile.TemporaryDirectory() as tmp:
        bare = timed(bare_pyscf, structures, settings)
        pipe = timed(generate, structures, settings, Path(tmp) / "serial", n_workers=1,
                     progress=False)
        par = timed(generate, structures, settings, Path(tmp) / "par", n_workers=0,
                    progress=False)
    for label, (wall, cpu) in (("bare pyscf, 1 process", bare), ("pipeline, 1 worker", pipe)):
        print(f"  {label:<24} wall {wall:7.1f} s ({60 * n / wall:6.2f} molecules/min)  "
              f"cpu {cpu:7.1f} s ({60 * n / cpu:6.2f} molecules/cpu-min)")
    print(f"  {'pipeline, all cores':<24} wall {par[0]:7.1f} s ({60 * n / par[0]:6.2f} "
          "molecules/min)")
    print(f"  overhead pipeline/bare (1 process): wall {pipe[0] / bare[0]:.3f}, "
          f"cpu {pipe[1] / bare[1]:.3f}")


def warm_up() -> None:
    """Imports, libxc and basis parsing once, and one OpenMP thread for every run (the
    pipeline's 1-worker run uses 1 thread; spinning idle threads would count as CPU)."""
    import pyscf.lib

    from hamlearn.data.sources import from_ase_name

    pyscf.lib.num_threads(1)
    generate([from_ase_name("H2")], ReferenceSettings(target_bases=()), None, n_workers=1,
             progress=False)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=4, help="molecules (default 4)")
    p.add_argument("--bases", nargs="+", default=["def2-svp", "def2-tzvp"])
    args = p.parse_args(argv)
    structures = molecules(args.n)
    warm_up()
    sizes = ", ".join(f"{s.formula}" for s in structures)
    print(f"{len(structures)} molecules ({sizes}); B3LYP, grid 4, conv_tol 1e-11, "
          "STO-3G + target basis, uncoupled polarizability")
    for basis in args.bases:
        print(f"== {basis}")
        bench_basis(structures, basis)


if __name__ == "__main__":
    main()
