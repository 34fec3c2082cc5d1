#!/usr/bin/env python
"""Excitations of a trained run's Hamiltonian (sTDA-like layer) against pyscf's TDA in the
run's target basis, beside the same layer on the plain minimal-basis SCF Fock, with the cost
of each as a ratio against the pyscf TDA in the same process.

    python benchmarks/bench_spectra.py --run runs/qm9t/gated_scf \\
        --qm9 '{heavy: [6], sample: 6, seed: 0}' [--n-states 6]

(or ``--structures FILE``). Prints per molecule the lowest excitation energies (eV) of the
three, then the MAE over the lowest ``n`` states and of the lowest bright state
(f >= `spectra.BRIGHT_MIN_STRENGTH`). A run trained on excitations predicts in its training
window; for one trained on the ground state only (8 x 8 window) this is what the learned
Hamiltonian gives for them as it is. The pyscf TDA is always recomputed (it is the timing
reference), never read from the run's label cache.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True)
    p.add_argument("--qm9", default="{heavy: [6], sample: 6, seed: 0}")
    p.add_argument("--structures", help="structure file instead of a QM9 selection")
    p.add_argument("--n-states", type=int, default=6)
    args = p.parse_args(argv)
    from hamlearn.runtime import setup_jax

    setup_jax()
    import yaml

    from hamlearn.data.reference import ReferenceSettings, model_basis_data, run_scf
    from hamlearn.runs import load_run
    from hamlearn.training.spectra import (
        excitations_of,
        lowest_bright_ev,
        predict_spectra,
        reference_excitations,
        run_stda_settings,
    )
    from hamlearn.units import HARTREE_TO_EV

    if args.structures:
        from hamlearn.data.sources import read_structures

        structures = read_structures(args.structures)
    else:
        from hamlearn.data.qm9 import QM9

        qm9 = QM9.open()
        structures = qm9.structures(qm9.select(**yaml.safe_load(args.qm9)))
    cfg, _ = load_run(args.run)
    settings = run_stda_settings(cfg, n_states=args.n_states)
    scf_settings = ReferenceSettings.from_config(cfg.data)
    n = args.n_states
    rows, t = [], {"model": 0.0, "plain": 0.0, "pyscf": 0.0}
    predict_spectra(args.run, structures[:1], settings=settings)  # compile once
    for s in structures:
        t0 = time.perf_counter()
        (pred,) = predict_spectra(args.run, [s], settings=settings)
        t["model"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        mf = run_scf(s, cfg.model.basis, scf_settings)
        md = model_basis_data(s, cfg.model.basis, fock=mf.get_fock())
        from hamlearn.data.record import Reference

        plain = excitations_of(md.fock, Reference(structure=s, method=cfg.data.method,
                                                  model=md, labels={}), settings)
        t["plain"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = reference_excitations(s, cfg, n, use_cache=False)
        t["pyscf"] += time.perf_counter() - t0
        e_pred = np.asarray(pred["excitation_energies_ev"])[:n]
        e_plain = plain["energies"][:n] * HARTREE_TO_EV
        e_ref = ref["energies"][:n] * HARTREE_TO_EV

        def bright(e, f):
            got = lowest_bright_ev(e, np.asarray(f)[:len(e)])
            return np.nan if got is None else got

        rows.append((s.label, e_pred, e_plain, e_ref,
                     bright(e_pred, pred["oscillator_strengths"]),
                     bright(e_plain, plain["strengths"]), bright(e_ref, ref["strengths"])))
        print(f"{s.label:>14}  pyscf {np.round(e_ref, 2)}\n{'':>14}  model {np.round(e_pred, 2)}"
              f"\n{'':>14}  plain {np.round(e_plain, 2)}")
    mae = {k: np.mean([np.mean(np.abs(r[i][:n] - r[3][:n])) for r in rows])
           for k, i in (("model", 1), ("plain", 2))}
    bright_mae = {k: np.nanmean([abs(r[i] - r[6]) for r in rows]) for k, i in (("model", 4),
                                                                               ("plain", 5))}
    print(f"\n{len(rows)} molecules, lowest {n} singlets, against pyscf TDA "
          f"{cfg.data.method}/{cfg.train.target_basis}:")
    for k in ("model", "plain"):
        print(f"  {k:>5}: MAE {mae[k]:.3f} eV, lowest bright state {bright_mae[k]:.3f} eV, "
              f"cost {t[k] / t['pyscf']:.4f} x pyscf TDA ({t[k] / len(rows):.2f} s a molecule)")
    print(f"  pyscf TDA: {t['pyscf'] / len(rows):.1f} s a molecule (SCF + TDA)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
