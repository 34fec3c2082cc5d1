#!/usr/bin/env python
"""IR and Raman intensities of a trained hybrid run against pyscf's own, and their cost.

For each molecule: relax it with the run's method in its target basis (`optimize_geometry`),
take pyscf's analytic Hessian there (the modes both sides share), then compare per mode
    model:  dmu/dR, dalpha/dR of the learned Hamiltonian (AD through features + integrals)
    pyscf:  central differences of the target-basis SCF's dipole and polarizability
    plain:  the same differences of the plain model-basis calculation (no model)
and print the intensity errors and the time of each against the model's.

    python benchmarks/bench_vibrations.py --run runs/ethane --molecules C2H6 [--out FILE]

Molecules are ase names or SMILES (``smiles:CCO``). Results (all numbers) go to ``--out``
(default ``<run>/vibrations.json``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def _structure(spec: str):
    from hamlearn.data.sources import from_smiles
    from hamlearn.data.structure import Structure

    if spec.startswith("smiles:"):
        return from_smiles(spec[7:], name=spec[7:])
    import ase.build

    return Structure.from_atoms(ase.build.molecule(spec), name=spec)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True)
    parser.add_argument("--molecules", nargs="+", default=["C2H6"])
    parser.add_argument("--out")
    args = parser.parse_args(argv)
    from hamlearn.runtime import setup_jax

    setup_jax()
    from hamlearn.data.reference import ReferenceSettings
    from hamlearn.runs import load_run
    from hamlearn.training import vibrations as vib

    cfg, _ = load_run(args.run)
    settings = ReferenceSettings.from_config(cfg.data)
    basis = cfg.train.target_basis
    kind = cfg.train.loss.polarizability_kind
    results = []
    for spec in args.molecules:
        t0 = time.perf_counter()
        s = vib.optimize_geometry(_structure(spec), basis, settings)
        t_opt = time.perf_counter() - t0
        t0 = time.perf_counter()
        hess = vib.pyscf_hessian(s, basis, settings)
        t_hess = time.perf_counter() - t0
        (entry,) = vib.predict_vibrations(args.run, [s], [hess], reference=True)
        if not entry.get("ok"):
            print(entry["error"], file=sys.stderr)
            continue
        modes = vib.harmonic_modes(s, hess)
        plain = vib.reference_derivatives(s, cfg.model.basis, settings, polarizability=kind)
        entry["plain"] = {"basis": cfg.model.basis, **vib.vibrational_spectrum(plain, modes),
                          "apt_e": plain["apt"].tolist(), "seconds": plain["seconds"]}
        for key in ("ir_km_mol", "raman_a4_amu", "apt_e"):
            entry[f"plain_mae_{key}"] = float(np.mean(np.abs(
                np.subtract(entry["plain"][key], entry["reference"][key]))))
        entry.update(optimize_seconds=t_opt, hessian_seconds=t_hess)
        results.append(entry)
        ref, pl = entry["reference"], entry["plain"]
        print(f"\n{spec}: {len(entry['frequencies_cm1'])} modes "
              f"(B3LYP modes from the {basis} Hessian)")
        print(f"{'cm-1':>8} {'IR model':>9} {'IR pyscf':>9} {'IR plain':>9} "
              f"{'Ra model':>9} {'Ra pyscf':>9} {'Ra plain':>9}")
        for k, f in enumerate(entry["frequencies_cm1"]):
            print(f"{f:8.1f} {entry['ir_km_mol'][k]:9.2f} {ref['ir_km_mol'][k]:9.2f} "
                  f"{pl['ir_km_mol'][k]:9.2f} {entry['raman_a4_amu'][k]:9.2f} "
                  f"{ref['raman_a4_amu'][k]:9.2f} {pl['raman_a4_amu'][k]:9.2f}")
        print(f"MAE vs pyscf/{basis}: IR model {entry['mae_ir_km_mol']:.2f} / plain "
              f"{entry['plain_mae_ir_km_mol']:.2f} km/mol; Raman model "
              f"{entry['mae_raman_a4_amu']:.2f} / plain {entry['plain_mae_raman_a4_amu']:.2f} "
              f"A^4/amu; APT model {entry['mae_apt_e']:.4f} / plain "
              f"{entry['plain_mae_apt_e']:.4f} e")
        print(f"time: model derivatives {entry['seconds']:.1f} s; pyscf/{basis} finite "
              f"differences {ref['seconds']:.1f} s ({ref['seconds'] / entry['seconds']:.0f}x); "
              f"its Hessian {t_hess:.1f} s; plain {cfg.model.basis} differences "
              f"{pl['seconds']:.1f} s")
    out = Path(args.out) if args.out else Path(args.run) / "vibrations.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwritten {out}")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
