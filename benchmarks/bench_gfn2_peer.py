#!/usr/bin/env python
"""The peer a user would pick instead of a learned Hamiltonian: GFN2-xTB (tblite), an
off-the-shelf minimal-basis tight-binding Hamiltonian, on QM9 molecules against QM9's
published labels (B3LYP/6-31G(2df,p)), beside a hamlearn run's evaluation of the same
selection, with the cost per molecule of each against one B3LYP/STO-3G SCF (the
``model.baseline: scf`` inference cost) in the same process.

    pip install tblite==0.8.0          # benchmark only, not a dependency of hamlearn
    python benchmarks/bench_gfn2_peer.py --qm9 '{heavy: [8], sample: 300, seed: 0}' \\
        [--run runs/qm9t/scf --name transfer8] [--out gfn2.json]

GFN2-xTB rows: HOMO, LUMO and gap from its orbital energies, |mu| from its dipole, the
isotropic polarizability by central finite differences of the dipole in a uniform field
(+-1e-4 a.u. along x, y, z: six more single points; the self-consistent charge response
is included, so it is a coupled polarizability like QM9's). Timings: one core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import yaml

from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV

FIELD = 1e-4  # a.u.


def gfn2(numbers, positions_bohr, field: float = FIELD) -> dict:
    """GFN2-xTB HOMO, LUMO (Hartree), dipole (e Bohr) and isotropic polarizability (a.u.)."""
    from tblite.interface import Calculator

    def point(efield=None):
        calc = Calculator("GFN2-xTB", np.asarray(numbers), np.asarray(positions_bohr))
        calc.set("verbosity", 0)
        if efield is not None:  # tblite 0.8.0's binding wants a C pointer, not an array
            from tblite.library import ffi

            buf = np.ascontiguousarray(efield, dtype=np.float64)
            calc.add("electric-field", ffi.cast("double*", buf.ctypes.data))
        return calc.singlepoint()

    res = point()
    eps, occ = res.get("orbital-energies"), res.get("orbital-occupations")
    homo_i = int(np.max(np.nonzero(occ > 1.0)[0]))
    out = {"homo": float(eps[homo_i]), "lumo": float(eps[homo_i + 1]),
           "dipole": np.asarray(res.get("dipole"))}
    t0 = time.perf_counter()
    alpha = np.zeros((3, 3))
    for j in range(3):
        e = np.zeros(3)
        e[j] = field
        alpha[:, j] = (np.asarray(point(e).get("dipole")) - np.asarray(point(-e).get("dipole"))
                       ) / (2 * field)
    out["polarizability_iso"] = float(np.trace(alpha) / 3)
    out["seconds_response"] = time.perf_counter() - t0
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--qm9", default="{heavy: [8], sample: 300, seed: 0}",
                   help="QM9 selection (the qm9 source's keys)")
    p.add_argument("--run", help="a hamlearn run whose evaluation of the selection to print")
    p.add_argument("--name", default="transfer8", help="the run's eval/<name> folder")
    p.add_argument("--scf-sample", type=int, default=20,
                   help="molecules timed for the B3LYP/STO-3G SCF reference cost")
    p.add_argument("--time-run", action="append", default=[], metavar="RUN",
                   help="time a hamlearn run's prediction (integrals, baseline, features, "
                        "model, QM layer; a fresh baseline cache) on the same molecules, as a "
                        "ratio to the GFN2 single point (repeatable)")
    p.add_argument("--time-sample", type=int, default=100,
                   help="molecules of the selection timed for --time-run")
    p.add_argument("--out", help="write the rows as JSON")
    args = p.parse_args(argv)

    from hamlearn.data.qm9 import QM9
    from hamlearn.data.reference import ReferenceSettings, run_scf

    sel = yaml.safe_load(args.qm9)
    qm9 = QM9.open()
    rows = qm9.select(**sel)
    err = {k: [] for k in ("homo", "lumo", "gap", "dipole_norm", "polarizability_iso",
                           "polarizability_pct")}
    t_single, t_all = [], []
    for r in rows:
        s, lab = qm9.structure(int(r)), qm9.labels(int(r))
        t0 = time.perf_counter()
        g = gfn2(s.numbers, s.positions)
        t_all.append(time.perf_counter() - t0)
        t_single.append(t_all[-1] - g["seconds_response"])
        err["homo"].append(abs(g["homo"] - lab.homo) * HARTREE_TO_EV)
        err["lumo"].append(abs(g["lumo"] - lab.lumo) * HARTREE_TO_EV)
        err["gap"].append(abs(g["lumo"] - g["homo"] - lab.gap) * HARTREE_TO_EV)
        err["dipole_norm"].append(abs(np.linalg.norm(g["dipole"]) - lab.dipole_norm)
                                  * AU_TO_DEBYE)
        err["polarizability_iso"].append(abs(g["polarizability_iso"] - lab.polarizability_iso))
        err["polarizability_pct"].append(100 * err["polarizability_iso"][-1]
                                         / abs(lab.polarizability_iso))
    settings = ReferenceSettings(method="b3lyp", target_bases=(), grid_level=1, conv_tol=1e-10)
    t_scf = []
    for r in rows[: args.scf_sample]:
        t0 = time.perf_counter()
        run_scf(qm9.structure(int(r)), "sto-3g", settings)
        t_scf.append(time.perf_counter() - t0)
    mae = {k: float(np.mean(v)) for k, v in err.items()}
    result = {"selection": sel, "n_molecules": len(rows), "gfn2_mae": mae,
              "gfn2_seconds_single_point": float(np.mean(t_single)),
              "gfn2_seconds_with_polarizability": float(np.mean(t_all)),
              "b3lyp_sto3g_scf_seconds": float(np.mean(t_scf))}
    print(f"{len(rows)} QM9 molecules {sel}; MAE against QM9's labels")
    print("| model | HOMO (eV) | LUMO (eV) | gap (eV) | abs(mu) (D) | alpha_iso (a.u.) | "
          "alpha_iso (%) |")
    print("|---|---|---|---|---|---|---|")
    print(f"| GFN2-xTB (tblite) | {mae['homo']:.3f} | {mae['lumo']:.3f} | {mae['gap']:.3f} | "
          f"{mae['dipole_norm']:.3f} | {mae['polarizability_iso']:.2f} | "
          f"{mae['polarizability_pct']:.1f} |")
    if args.run:
        m = json.loads((Path(args.run) / "eval" / args.name / "metrics.json").read_text())
        m = m.get("metrics", m)
        print(f"| hamlearn {args.run} | {m.get('mae_homo_ev', float('nan')):.3f} | "
              f"{m.get('mae_lumo_ev', float('nan')):.3f} | {m.get('mae_gap_ev', float('nan')):.3f}"
              f" | {m.get('mae_dipole_norm_debye', float('nan')):.3f} | "
              f"{m.get('mae_polarizability_iso_au', float('nan')):.2f} | "
              f"{m.get('mae_polarizability_iso_pct', float('nan')):.1f} |")
        result["run"] = {"path": args.run, "metrics": m}
    print(f"cost per molecule (one core): GFN2-xTB single point "
          f"{1e3 * result['gfn2_seconds_single_point']:.1f} ms, with the finite-field "
          f"polarizability {1e3 * result['gfn2_seconds_with_polarizability']:.1f} ms; "
          f"B3LYP/STO-3G SCF (grid 1) {1e3 * result['b3lyp_sto3g_scf_seconds']:.0f} ms "
          f"= {result['b3lyp_sto3g_scf_seconds'] / result['gfn2_seconds_single_point']:.0f}x "
          "the GFN2 single point")
    for run in args.time_run:
        result.setdefault("prediction_seconds", {})[run] = per = time_prediction(
            run, [qm9.structure(int(r)) for r in rows[: args.time_sample]])
        print(f"hamlearn {run}: {1e3 * per:.1f} ms a molecule to predict = "
              f"{per / result['gfn2_seconds_single_point']:.2f}x the GFN2 single point, "
              f"{per / result['b3lyp_sto3g_scf_seconds']:.3f}x the STO-3G SCF")
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


def time_prediction(run: str, structures) -> float:
    """Seconds a molecule for `predict_with_model` of ``run`` on ``structures`` (the second
    of two passes: compilation is not counted), its baseline computed afresh (an empty
    cache) as it would be for new molecules."""
    import dataclasses
    import tempfile

    from hamlearn.runs import load_run
    from hamlearn.runtime import setup_jax
    from hamlearn.training.predict import predict_with_model

    setup_jax()
    cfg, model = load_run(run)
    seconds = None
    for _ in range(2):  # the first pass compiles this batch shape, the second is timed
        with tempfile.TemporaryDirectory() as tmp:  # baselines computed afresh each pass
            c = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, cache_dir=tmp))
            t0 = time.perf_counter()
            out = predict_with_model(c, model, structures)
            seconds = (time.perf_counter() - t0) / len(structures)
    bad = [e for e in out if not e.get("ok")]
    if bad:
        print(f"  {len(bad)} predictions failed, e.g. {bad[0].get('error')}")
    return seconds


if __name__ == "__main__":
    sys.exit(main())
