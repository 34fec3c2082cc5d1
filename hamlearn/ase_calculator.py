"""A trained run as an ase Calculator: ``atoms.calc = HamlearnCalculator("runs/NAME")``.

Results in ase's units: ``dipole`` (e Angstrom, ``atoms.get_dipole_moment()``),
``polarizability`` (Angstrom^3, a 3x3 tensor), ``mo_energies``, ``homo``, ``lumo``, ``gap``
(eV), and ``ood_score`` (the run's out-of-distribution score; > 1: outside its training
environments). No energy or forces: the model predicts electronic properties, so ase's
dynamics and optimisers need another calculator (`ase.calculators.mixing` can pair them).

Example:
    >>> atoms = ase.build.molecule("CH3OH")  # doctest: +SKIP
    >>> atoms.calc = HamlearnCalculator("runs/quickstart")  # doctest: +SKIP
    >>> atoms.get_dipole_moment()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.calculators.calculator import CalculationFailed, Calculator, all_changes
from ase.units import Bohr, Debye


class HamlearnCalculator(Calculator):
    """ase Calculator of a trained hamlearn run (hybrid or direct; see the module docstring).

    Args:
        run: run folder of ``scripts/train.py``.
        charge, spin: total charge and ``2S`` of the molecules (default: the atoms'
            ``info['charge']`` / ``info['spin']``, else 0).
    """

    implemented_properties = ["dipole", "polarizability", "mo_energies", "homo", "lumo", "gap",
                              "ood_score"]

    def __init__(self, run: str | Path, *, charge: int | None = None, spin: int | None = None,
                 **kwargs):
        super().__init__(**kwargs)
        from hamlearn.runs import load_run
        from hamlearn.training.ood import load_support

        self.run = Path(run)
        self.cfg, self.model = load_run(self.run)
        self.support = load_support(self.cfg, self.run)
        self._charge, self._spin = charge, spin

    def calculate(self, atoms=None, properties=("dipole",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        from hamlearn.data.structure import Structure
        from hamlearn.training.predict import predict_with_model

        s = Structure.from_atoms(self.atoms, charge=self._charge, spin=self._spin,
                                 name=self.atoms.get_chemical_formula())
        (entry,) = predict_with_model(self.cfg, self.model, [s], support=self.support)
        if not entry.get("ok"):
            raise CalculationFailed(entry.get("error", "prediction failed"))
        results = {"ood_score": entry.get("ood_score")}
        if "dipole_debye" in entry:
            results["dipole"] = np.asarray(entry["dipole_debye"]) * Debye
        if "polarizability_au" in entry:
            results["polarizability"] = np.asarray(entry["polarizability_au"]) * Bohr**3
        if "mo_energies_ev" in entry:
            results["mo_energies"] = np.asarray(entry["mo_energies_ev"])
        for key in ("homo", "lumo", "gap"):
            if f"{key}_ev" in entry:
                results[key] = float(entry[f"{key}_ev"])
        self.results = results
