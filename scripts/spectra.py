#!/usr/bin/env python
"""Predicted UV-vis (and, with a Hessian, IR and Raman) spectra of new molecules from a
trained hybrid run: the learned Hamiltonian's singlet excitations (sTDA-like:
`hamlearn.qm.excitations`) and the geometry derivatives of its dipole and polarizability
(`hamlearn.training.vibrations`), optionally beside pyscf's own with the run's method in its
target basis.

    python scripts/spectra.py --run runs/NAME --structures FILE [--out PREFIX]
        [--n-states 10] [--n-occ N] [--n-virt N] [--ax X] [--width-ev 0.3] [--reference]
        [--hessian pyscf|FILE.npy|FILE.npz] [--hessian-basis BASIS] [--fwhm-cm1 20]

Writes ``PREFIX.json`` (per molecule: ``excitation_energies_ev``, ``oscillator_strengths``,
``transition_dipoles_debye``; with ``--reference`` the pyscf values under ``reference``,
from the run's label cache where it holds the molecule, and ``mae_ev``),
``PREFIX_uvvis.csv`` (broadened spectra, energy and wavelength columns) and
``PREFIX_uvvis.png``. With ``--hessian`` (pyscf's analytic Hessian in the target basis or
``--hessian-basis``, or arrays in Hartree/Bohr^2, one per structure keyed by label or
position in an .npz) each entry gains ``vibrations`` (``frequencies_cm1``, ``ir_km_mol``,
``raman_a4_amu``, ``apt_e``; with ``--reference`` pyscf's by finite differences, same
modes) and ``PREFIX_ir.csv``, ``PREFIX_raman.csv``, ``PREFIX_vib.png`` are written. The
Hessian should be taken at a minimum (a warning says when pyscf's gradient is not small).
The excitation window and exchange fraction default to the run's training ones when it was
trained on excitations or the spectrum. Default PREFIX: ``<run>/spectra/<file stem>``.
Exit status 0 when at least one molecule was predicted, 1 when none could be, 2 for a bad
run, file or setting.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="run folder of scripts/train.py")
    parser.add_argument("--structures", required=True, help="structure file ase can read")
    parser.add_argument("--index", default=":", help="frames (ase syntax)")
    parser.add_argument("--out", help="output prefix")
    parser.add_argument("--n-states", type=int, help="lowest states (default 10, at most the "
                        "window's pairs)")
    parser.add_argument("--n-occ", type=int, help="occupied MOs in the window (default: the "
                        "run's training window if it was trained on excitations, else 8)")
    parser.add_argument("--n-virt", type=int, help="virtual MOs in the window (default as "
                        "--n-occ)")
    parser.add_argument("--ax", type=float, help="Fock-exchange fraction of the kernels "
                        "(default: the run's, else 0.2 as B3LYP)")
    parser.add_argument("--width-ev", type=float, default=0.3, help="Gaussian broadening (eV)")
    parser.add_argument("--reference", action="store_true",
                        help="also run pyscf TDA in the run's target basis (slow for big bases)")
    parser.add_argument("--hessian", help="'pyscf' or a .npy/.npz file (Hartree/Bohr^2): "
                        "also IR and Raman spectra")
    parser.add_argument("--hessian-basis", help="basis of --hessian pyscf (default: the "
                        "run's target basis)")
    parser.add_argument("--fwhm-cm1", type=float, default=20.0,
                        help="Lorentzian width of the IR/Raman curves (cm^-1)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from hamlearn.runtime import setup_jax

    setup_jax()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from hamlearn.config import load_config
    from hamlearn.data.sources import read_structures
    from hamlearn.errors import USER_ERRORS
    from hamlearn.qm.excitations import STDASettings
    from hamlearn.training.spectra import predict_spectra, run_stda_settings, write_spectra
    from hamlearn.training.vibrations import (
        predict_vibrations,
        read_hessians,
        write_vibrational_spectra,
    )

    prefix = Path(args.out) if args.out else (
        Path(args.run) / "spectra" / Path(args.structures).stem)
    try:
        run_cfg = Path(args.run) / "config.yaml"
        window = {"n_states": args.n_states, "n_occ": args.n_occ, "n_virt": args.n_virt,
                  "ax": args.ax}
        settings = (run_stda_settings(load_config(run_cfg), **window) if run_cfg.is_file()
                    else STDASettings(**{k: v for k, v in window.items() if v is not None}))
        for name, value in (("--width-ev", args.width_ev), ("--fwhm-cm1", args.fwhm_cm1)):
            if value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        structures = read_structures(args.structures, index=args.index)
        hessians = None
        if args.hessian:
            hessians = ("pyscf" if args.hessian == "pyscf"
                        else read_hessians(args.hessian, structures))
        entries = predict_spectra(args.run, structures, settings=settings,
                                  reference=args.reference, progress=not args.no_progress)
        if hessians is not None:
            vibs = predict_vibrations(args.run, structures, hessians,
                                      hessian_basis=args.hessian_basis,
                                      reference=args.reference, progress=not args.no_progress)
            for e, v in zip(entries, vibs):
                if v.get("ok"):
                    e["vibrations"] = {k: x for k, x in v.items() if k not in ("name", "ok")}
                elif e.get("ok"):
                    e.setdefault("warnings", []).append(f"no IR/Raman: {v['error']}")
        written = write_spectra(entries, prefix, width_ev=args.width_ev)
        if hessians is not None:
            written += write_vibrational_spectra(entries, prefix, fwhm_cm1=args.fwhm_cm1)
    except (*USER_ERRORS, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ok = [e for e in entries if e.get("ok")]
    for e in entries:
        if not e.get("ok"):
            print(f"FAILED {e.get('error')}", file=sys.stderr)
        for w in e.get("warnings", ()):
            print(f"WARNING {e['name']}: {w}", file=sys.stderr)
        if "mae_ev" in e:
            print(f"{e['name']}: excitation MAE against pyscf {e['mae_ev']:.3f} eV"
                  + (f", lowest bright state {e['lowest_bright_error_ev']:+.3f} eV"
                     if "lowest_bright_error_ev" in e else ""))
        v = e.get("vibrations", {})
        if "mae_ir_km_mol" in v:
            print(f"{e['name']}: IR MAE against pyscf {v['mae_ir_km_mol']:.2f} km/mol, "
                  f"Raman {v['mae_raman_a4_amu']:.2f} A^4/amu")
    print(f"{len(ok)} spectra, {len(entries) - len(ok)} failed: "
          + ", ".join(str(p) for p in written))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
