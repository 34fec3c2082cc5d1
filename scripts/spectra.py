#!/usr/bin/env python
"""Predicted UV-vis spectra of new molecules from a trained hybrid run: the learned
Hamiltonian's singlet excitations (sTDA-like: `hamlearn.qm.excitations`), optionally beside
pyscf's TDA with the run's method in its target basis.

    python scripts/spectra.py --run runs/NAME --structures FILE [--out PREFIX]
        [--n-states 10] [--n-occ 8] [--n-virt 8] [--ax 0.2] [--width-ev 0.3] [--reference]

Writes ``PREFIX.json`` (per molecule: ``excitation_energies_ev``, ``oscillator_strengths``,
``transition_dipoles_debye``; with ``--reference`` the pyscf values under ``reference`` and
``mae_ev``), ``PREFIX_uvvis.csv`` (broadened spectra, energy and wavelength columns) and
``PREFIX_uvvis.png``. Default PREFIX: ``<run>/spectra/<file stem>``. Exit status 0 when at
least one molecule was predicted, 1 when none could be, 2 for a bad run, file or setting.
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
    parser.add_argument("--n-states", type=int, default=10, help="lowest states (default 10)")
    parser.add_argument("--n-occ", type=int, default=8, help="occupied MOs in the window")
    parser.add_argument("--n-virt", type=int, default=8, help="virtual MOs in the window")
    parser.add_argument("--ax", type=float, default=0.2,
                        help="Fock-exchange fraction of the kernels (default 0.2, B3LYP)")
    parser.add_argument("--width-ev", type=float, default=0.3, help="Gaussian broadening (eV)")
    parser.add_argument("--reference", action="store_true",
                        help="also run pyscf TDA in the run's target basis (slow for big bases)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from hamlearn.runtime import setup_jax

    setup_jax()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from hamlearn.data.sources import read_structures
    from hamlearn.errors import USER_ERRORS
    from hamlearn.qm.excitations import STDASettings
    from hamlearn.training.spectra import predict_spectra, write_spectra

    prefix = Path(args.out) if args.out else (
        Path(args.run) / "spectra" / Path(args.structures).stem)
    try:
        settings = STDASettings(n_occ=args.n_occ, n_virt=args.n_virt, n_states=args.n_states,
                                ax=args.ax)
        if args.width_ev <= 0:
            raise ValueError(f"--width-ev must be > 0, got {args.width_ev}")
        structures = read_structures(args.structures, index=args.index)
        entries = predict_spectra(args.run, structures, settings=settings,
                                  reference=args.reference, progress=not args.no_progress)
        written = write_spectra(entries, prefix, width_ev=args.width_ev)
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
            print(f"{e['name']}: excitation MAE against pyscf {e['mae_ev']:.3f} eV")
    print(f"{len(ok)} spectra, {len(entries) - len(ok)} failed: "
          + ", ".join(str(p) for p in written))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
