"""Physical constants and unit conversions.

hamlearn works in atomic units inside (Hartree, Bohr, e*Bohr, Bohr^3 for the
polarizability). Conversions happen only at the edges (configs, reports), and every
quantity outside atomic units carries its unit in its name (``mae_ev``,
``dipole_debye``, ``positions_ang``).

The values are pyscf's own (``pyscf.data.nist``), so that numbers converted here agree
with pyscf's printed ones to the last digit.
"""

from pyscf.data import nist as _nist

BOHR_TO_ANGSTROM: float = float(_nist.BOHR)
ANGSTROM_TO_BOHR: float = 1.0 / BOHR_TO_ANGSTROM
HARTREE_TO_EV: float = float(_nist.HARTREE2EV)
EV_TO_HARTREE: float = 1.0 / HARTREE_TO_EV
AU_TO_DEBYE: float = float(_nist.AU2DEBYE)
DEBYE_TO_AU: float = 1.0 / AU_TO_DEBYE
#: Polarizability: 1 a.u. (e^2 a0^2 / Eh) = a0^3 in Gaussian units; in Angstrom^3:
AU_TO_ANGSTROM3: float = BOHR_TO_ANGSTROM**3
