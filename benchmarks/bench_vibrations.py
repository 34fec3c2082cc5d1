#!/usr/bin/env python
"""IR and Raman intensities of a trained hybrid run against pyscf's own, and their cost.

For each molecule: relax it with the run's method in its target basis (`optimize_geometry`),
take pyscf's analytic Hessian there (the modes both sides share), then compare per mode
    model:  dmu/dR, dalpha/dR of the learned Hamiltonian (AD through features + integrals)
    pyscf:  central differences of the target-basis SCF's dipole and polarizability
    plain:  the same differences of the plain model-basis calculation (no model)
and print the intensity errors and the time of each against the model's. Several runs
(same method and target basis) share one reference per molecule.

    python benchmarks/bench_vibrations.py --run runs/ethane [runs/other ...]
        --molecules C2H6 [--out FILE]

Molecules are ase names or SMILES (``smiles:CCO``). Results (all numbers) go to ``--out``
(default ``<first run>/vibrations.json``).
"""

from __future__ import annotations

import argparse
import dataclasses
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
    parser.add_argument("--run", required=True, nargs="+")
    parser.add_argument("--molecules", nargs="+", default=["C2H6"])
    parser.add_argument("--out")
    parser.add_argument("--reference-cache", help="folder: the relaxed geometry, Hessian and "
                        "pyscf derivatives of each molecule are stored there and reused")
    args = parser.parse_args(argv)
    from hamlearn.runtime import setup_jax

    setup_jax()
    from hamlearn.data.reference import ReferenceSettings
    from hamlearn.runs import load_run
    from hamlearn.training import vibrations as vib

    cfg, _ = load_run(args.run[0])
    settings = ReferenceSettings.from_config(cfg.data)
    basis = cfg.train.target_basis
    kind = cfg.train.loss.polarizability_kind
    results = []
    for spec in args.molecules:
        cached = (Path(args.reference_cache) / f"{spec.replace(':', '_')}_{basis}_{kind}.npz"
                  if args.reference_cache else None)
        if cached is not None and cached.is_file():
            z = np.load(cached)
            s = dataclasses.replace(_structure(spec), positions=z["positions"])
            hess, t_opt, t_hess = z["hessian"], float(z["t_opt"]), float(z["t_hess"])
            ref = {k: z[k] for k in ("dipole", "polarizability", "apt", "dalpha")}
            ref["seconds"] = float(z["t_ref"])
        else:
            t0 = time.perf_counter()
            s = vib.optimize_geometry(_structure(spec), basis, settings)
            t_opt = time.perf_counter() - t0
            t0 = time.perf_counter()
            hess = vib.pyscf_hessian(s, basis, settings)
            t_hess = time.perf_counter() - t0
            ref = vib.reference_derivatives(s, basis, settings, polarizability=kind)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                np.savez(cached, positions=s.positions, hessian=hess, t_opt=t_opt,
                         t_hess=t_hess, t_ref=ref["seconds"],
                         **{k: ref[k] for k in ("dipole", "polarizability", "apt", "dalpha")})
        modes = vib.harmonic_modes(s, hess)
        ref = {"basis": basis, **vib.vibrational_spectrum(ref, modes),
               "apt_e": ref["apt"].tolist(), "seconds": ref["seconds"]}
        plain = vib.reference_derivatives(s, cfg.model.basis, settings, polarizability=kind)
        rows = {f"plain {cfg.model.basis}": {**vib.vibrational_spectrum(plain, modes),
                                             "apt_e": plain["apt"].tolist(),
                                             "seconds": plain["seconds"]}}
        for run in args.run:
            (entry,) = vib.predict_vibrations(run, [s], [hess])
            if not entry.get("ok"):
                print(entry["error"], file=sys.stderr)
                continue
            rows[run] = entry
        for row in rows.values():
            for key in ("ir_km_mol", "raman_a4_amu", "apt_e"):
                row[f"mae_{key}"] = float(np.mean(np.abs(np.subtract(row[key], ref[key]))))
        results.append({"molecule": spec, "frequencies_cm1": ref["frequencies_cm1"],
                        "reference": ref, "rows": rows, "optimize_seconds": t_opt,
                        "hessian_seconds": t_hess})
        names = list(rows)
        print(f"\n{spec}: {len(ref['frequencies_cm1'])} modes (B3LYP/{basis} Hessian); "
              f"columns: pyscf/{basis}, " + ", ".join(names))
        for key, label in (("ir_km_mol", "IR km/mol"), ("raman_a4_amu", "Raman A^4/amu")):
            print(f"{label}:")
            for k, f in enumerate(ref["frequencies_cm1"]):
                print(f"{f:8.1f} {ref[key][k]:9.2f} "
                      + " ".join(f"{rows[n][key][k]:9.2f}" for n in names))
        print(f"{'':40s} {'IR MAE':>8} {'Raman MAE':>10} {'APT MAE':>8} {'time s':>7}")
        for n in names:
            r = rows[n]
            print(f"{n:40s} {r['mae_ir_km_mol']:8.2f} {r['mae_raman_a4_amu']:10.2f} "
                  f"{r['mae_apt_e']:8.4f} {r['seconds']:7.1f}")
        print(f"pyscf/{basis}: finite differences {ref['seconds']:.1f} s, Hessian "
              f"{t_hess:.1f} s, relaxation {t_opt:.1f} s")
    out = Path(args.out) if args.out else Path(args.run[0]) / "vibrations.json"
    out.write_text(json.dumps(results, indent=1))
    print(f"\nwritten {out}")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
