"""How many model-basis Fock matrices, and which, the ridge initialisation needs (issue 11).

On the QM9 molecules with <= 7 heavy atoms of ``configs/qm9_frontier.yaml`` that have a
B3LYP/STO-3G SCF (its ``data.model_scf_sample``, grid level 1, cached by the run), a seeded
100 are held out and the ridge fit (`hamlearn.training.run.initial_model`'s
`hamlearn.model.ridge_fit`, the config's alpha) is made on n = 50, 100, 200, 400 of the
others, and on 400 RHF/STO-3G Fock matrices of the same molecules. Each initial model is
scored on the held-out 100 against (a) the STO-3G SCF it imitates (own-basis: F RMSE, MO
energies, dipole) and (b) QM9's labels (HOMO, LUMO, |mu|, alpha_iso). A last table compares
the grid: the B3LYP/STO-3G Fock at grid level 1 against level 4 on ``--grid-molecules``
molecules, beside the ridge model's own F error.

    python benchmarks/ridge_init_study.py [--grid-molecules 30]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid-molecules", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50, 100, 200, 400])
    args = parser.parse_args()
    from hamlearn.runtime import setup_jax

    setup_jax()
    import jax

    from hamlearn.config import load_config
    from hamlearn.data.generate import generate
    from hamlearn.data.reference import ReferenceSettings
    from hamlearn.model import ridge_fit
    from hamlearn.training.batches import prepare
    from hamlearn.training.evaluate import evaluate_references
    from hamlearn.training.references import load_references
    from hamlearn.training.run import build_model

    cfg = load_config(ROOT / "configs" / "qm9_frontier.yaml")
    refs = [r for r in load_references(cfg, progress=False) if r.model.fock is not None]
    rng = np.random.default_rng(0)
    order = rng.permutation(len(refs))
    held, pool = order[:100].tolist(), order[100:].tolist()
    print(f"{len(refs)} molecules with a B3LYP/STO-3G Fock; 100 held out, pool {len(pool)}")
    data = prepare(refs, cfg)
    own = dataclasses.replace(cfg, train=dataclasses.replace(
        cfg.train, target_basis="sto-3g", loss=dataclasses.replace(
            cfg.train.loss, eigenvalues=1.0, dipole=1.0, homo=0, lumo=0, dipole_norm=0,
            polarizability_iso=0, polarizability_aniso=0, polarizability_kind="uncoupled")))
    rhf_settings = dataclasses.replace(ReferenceSettings.from_config(cfg.data), method="rhf")
    t = time.perf_counter()
    rhf = generate([refs[i].structure for i in pool], rhf_settings,
                   cfg.resolve_path(cfg.data.cache_dir), n_workers=1, progress=False)
    rhf_fock = {i: r.model.fock for i, r in zip(pool, rhf.references)}
    print(f"RHF/STO-3G for {len(pool)} molecules: {time.perf_counter() - t:.0f} s")

    def score(name, fock_of, train):
        t0 = time.perf_counter()
        model = build_model(cfg, key=jax.random.PRNGKey(0))
        model = ridge_fit(model, data.features, [fock_of(i) for i in train],
                          cfg.model.ridge_alpha, indices=train)
        fit_s = time.perf_counter() - t0
        a = evaluate_references(model, refs, held, own, data=data)
        b = evaluate_references(model, refs, held, cfg, data=data)
        f_err = [np.sqrt(np.mean((p["fock"] - refs[i].model.fock) ** 2))
                 for p, i in zip(a["predictions"], held)]
        m, q = a["metrics"], b["metrics"]
        print(f"| {name} | {len(train)} | {fit_s:.0f} | {1e3 * np.mean(f_err):.2f} | "
              f"{m['mae_eigenvalues_ev']:.3f} | {m['mae_dipole_debye']:.3f} | "
              f"{q['mae_homo_ev']:.3f} | {q['mae_lumo_ev']:.3f} | "
              f"{q['mae_dipole_norm_debye']:.3f} | {q['mae_polarizability_iso_au']:.2f} |",
              flush=True)
        return np.mean(f_err)

    print("\n| ridge on | n | fit (s) | F RMSE vs own SCF (mHa) | MO energies vs own (eV) "
          "| dipole vs own (D) | HOMO vs QM9 (eV) | LUMO vs QM9 (eV) | abs(mu) vs QM9 (D) "
          "| alpha_iso vs QM9 (a.u.) |")
    print("|---" * 10 + "|")
    f_err = None
    for n in args.sizes:
        f_err = score("B3LYP/STO-3G, grid 1", lambda i: refs[i].model.fock, pool[:n])
    score("RHF/STO-3G", lambda i: rhf_fock[i], [i for i in pool[:max(args.sizes)]
                                               if i in rhf_fock])
    if args.grid_molecules:
        fine = dataclasses.replace(ReferenceSettings.from_config(cfg.data), grid_level=4)
        sel = held[:args.grid_molecules]
        t = time.perf_counter()
        g4 = generate([refs[i].structure for i in sel], fine,
                      cfg.resolve_path(cfg.data.cache_dir), n_workers=1, progress=False)
        d = [np.sqrt(np.mean((r.model.fock - refs[i].model.fock) ** 2))
             for i, r in zip(sel, g4.references)]
        print(f"\nGrid: B3LYP/STO-3G Fock at grid level 1 vs 4 on {len(d)} held-out molecules "
              f"({time.perf_counter() - t:.0f} s at level 4): RMS difference "
              f"{1e3 * np.mean(d):.3f} mHa (largest {1e3 * np.max(d):.3f}), against the ridge "
              f"model's {1e3 * f_err:.2f} mHa from its own SCF")


if __name__ == "__main__":
    main()
