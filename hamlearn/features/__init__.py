"""Equivariant features of atoms and atom pairs for minimal-basis Hamiltonian blocks.

Flow (one file per arrow): `Structure` -> host neighbour lists (`neighbors`, numpy) ->
atom densities (`density`) -> on-site nu=2 CG products (`onsite`) and two-centre pair
features (`pairs`) -> per-block-type `FeatureSet` (`featurize`). Everything after the
neighbour lists is JAX (float64, jittable, differentiable in the positions).

Conventions:

* positions and distances in Bohr inside; the config gives cutoffs in Angstrom;
* every equivariant array is ``(..., feature, 2L+1)`` in e3nn-jax's real-harmonic order
  and parity (`cg`); the one map to pyscf's AO order is applied in `hamlearn.model.blocks`;
* a block type is an element (on-site, key ``'6'``) or an element pair (off-site, ``'1-6'``,
  lower Z first); only the irreps its minimal-basis blocks need are computed (`spec`).

Sizes for the default `FeaturesConfig` (species H, C, N, O; l_max 4; 5 radial functions
per species -> 20 density channels; 8 pair radial functions):

============  =====================  ==============================================
type          irreps                 features per irrep
============  =====================  ==============================================
H on-site     0e                     1070 (20 nu=1 + 1050 nu=2)
C/N/O on-site 0e, 1o, 2e             1070, 1620, 2060
H-H           0e                     208 (8 pair term + 2 x 100 density x pair)
H-X           0e, 1o                 208, 328
X-Y           0e, 1e, 1o, 2e         208, 160, 328, 408
============  =====================  ==============================================

Example:
    >>> import ase.build
    >>> from hamlearn import Structure
    >>> from hamlearn.config import FeaturesConfig
    >>> fs = featurize([Structure.from_atoms(ase.build.molecule("H2O"))], FeaturesConfig())
    >>> fs.types["8"].features["2e"].shape  # (atoms, features, 2L+1)
    (1, 2060, 5)
"""

from hamlearn.features.featurize import FeatureSet as FeatureSet
from hamlearn.features.featurize import TypeFeatures as TypeFeatures
from hamlearn.features.featurize import featurize as featurize
from hamlearn.features.featurize import make_spec as make_spec
from hamlearn.features.spec import FeatureSpec as FeatureSpec
