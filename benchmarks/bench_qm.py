"""Time the QM layer's forward+backward per molecule, against references in the same run.

For each molecule (STO-3G, pyscf's converged RHF Fock as the "prediction"):

* ``layer``: jitted value-and-grad w.r.t. F of a loss of every output of `qm_forward`
  (MO energies, gap, dipole, polarizability), as in training;
* ``pyscfad``: the same loss built from `generalized_eigh` (pyscfad's masked solver) +
  `polarizability_sos`, i.e. without the degeneracy-exact custom JVP of `eigh_sos`;
* ``chol``: the same through a plain Cholesky + ``jnp.linalg.eigh`` (`generalized_eigh_cholesky`);
* ``eigh``: a bare jitted ``jnp.linalg.eigh`` of an ``nao x nao`` matrix (forward only);
* ``batch``: per-molecule time of the layer's value-and-grad, vmapped over 16 copies;
* ``scf``: a pyscf B3LYP SCF of the same molecule in def2-SVP (the target basis).

Run: ``python benchmarks/bench_qm.py`` (``--quick`` skips the def2-SVP SCFs).
Times are best-of-5 wall-clock, so they depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from hamlearn.data.structure import Structure
from hamlearn.qm import (
    QMInputs,
    dipole_moment,
    frontier_orbitals,
    generalized_eigh,
    generalized_eigh_cholesky,
    make_density,
    nuclear_dipole,
    polarizability_sos,
    qm_forward,
)

MOLECULES = ("H2O", "CH4", "CH3OH", "C2H6", "trans-butane", "C6H6")
BATCH = 16


def best_time(fn, *args, repeat: int = 5, min_time: float = 0.05) -> float:
    """Best per-call wall time (s) of a jitted ``fn`` over ``repeat`` timed loops."""
    jax.block_until_ready(fn(*args))
    start, calls = time.perf_counter(), 0
    while time.perf_counter() - start < min_time:
        jax.block_until_ready(fn(*args))
        calls += 1
    best = np.inf
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - start) / calls)
    return best


def loss_of(out) -> jax.Array:
    return (jnp.sum(out["dipole"] ** 2) + jnp.sum(out["polarizability"] ** 2) + out["gap"]
            + jnp.sum(out["mo_energy"] * out["mo_occ"]))


def reference_forward(solver):
    """The layer's outputs computed with ``solver`` and autodiff through it."""
    def forward(fock, inp):
        e, c = solver(fock, inp.ovlp)
        dm = make_density(c, inp.mo_occ)
        homo, lumo, gap = frontier_orbitals(e, inp.mo_occ)
        return dict(mo_energy=e, mo_occ=inp.mo_occ, gap=gap,
                    dipole=dipole_moment(dm, inp.dip_ints, inp.nuclear_dipole),
                    polarizability=polarizability_sos(e, c, inp.dip_ints, inp.mo_occ))
    return forward


def setup(name: str):
    import ase.build
    from pyscf import gto, scf

    s = Structure.from_atoms(ase.build.molecule(name), name=name)
    mol = gto.M(atom=s.pyscf_atom(), unit="Bohr", basis="sto-3g", verbose=0)
    mf = scf.RHF(mol).run()
    origin = s.charge_centre()
    with mol.with_common_orig(origin):
        dip = mol.intor_symmetric("int1e_r", comp=3)
    inp = QMInputs.from_arrays(mf.get_ovlp(), dip, nuclear_dipole(s.numbers, s.positions, origin),
                               mol.nelectron // 2)
    return s, jnp.asarray(mf.get_fock()), inp


def scf_time(structure: Structure) -> float:
    from pyscf import dft, gto

    mol = gto.M(atom=structure.pyscf_atom(), unit="Bohr", basis="def2-svp", verbose=0)
    start = time.perf_counter()
    dft.RKS(mol, xc="b3lyp").run()
    return time.perf_counter() - start


def bench_molecule(name: str, with_scf: bool) -> dict:
    s, fock, inp = setup(name)
    grad = {
        "layer": jax.jit(jax.value_and_grad(lambda f, i: loss_of(qm_forward(f, i)))),
        "pyscfad": jax.jit(jax.value_and_grad(
            lambda f, i: loss_of(reference_forward(generalized_eigh)(f, i)))),
        "chol": jax.jit(jax.value_and_grad(
            lambda f, i: loss_of(reference_forward(generalized_eigh_cholesky)(f, i)))),
    }
    row = {"name": name, "nao": inp.nao}
    row.update({k: best_time(fn, fock, inp) for k, fn in grad.items()})
    row["eigh"] = best_time(jax.jit(jnp.linalg.eigh), fock)
    focks = jnp.broadcast_to(fock, (BATCH, *fock.shape))
    batch_inp = jax.tree.map(lambda a: jnp.broadcast_to(a, (BATCH, *jnp.shape(a))), inp)
    batched = jax.jit(jax.vmap(grad["layer"]))
    row["batch"] = best_time(batched, focks, batch_inp) / BATCH
    row["scf"] = scf_time(s) if with_scf else np.nan
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the def2-SVP SCF timings")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, float64; times in microseconds "
          "per molecule (best of 5)")
    head = (f"{'molecule':>13} {'nao':>4} {'eigh':>8} {'layer':>8} {'x eigh':>7} "
            f"{'pyscfad':>8} {'chol':>8} {'batch16':>8} {'x eigh':>7} {'SCF def2-svp':>13} "
            f"{'SCF/layer':>9}")
    print(head)
    for name in MOLECULES:
        r = bench_molecule(name, not args.quick)
        us = {k: 1e6 * r[k] for k in ("eigh", "layer", "pyscfad", "chol", "batch", "scf")}
        print(f"{r['name']:>13} {r['nao']:4d} {us['eigh']:8.1f} {us['layer']:8.1f} "
              f"{r['layer'] / r['eigh']:7.2f} {us['pyscfad']:8.1f} {us['chol']:8.1f} "
              f"{us['batch']:8.1f} {r['batch'] / r['eigh']:7.2f} "
              f"{r['scf'] * 1e3:11.1f}ms {r['scf'] / r['layer']:9.0f}", flush=True)


if __name__ == "__main__":
    main()
