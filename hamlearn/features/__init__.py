"""Equivariant features of atoms and atom pairs for minimal-basis Hamiltonian blocks.

Flow: `Structure` -> host neighbour lists (`neighbors`) -> atom densities (`density`) ->
on-site nu=2 CG products (`onsite`) and two-centre pair features (`pairs`) -> per-block-type
`FeatureSet` (`featurize`). Everything after the neighbour lists is JAX (float64, jittable).
Conventions: positions and distances in Bohr (cutoffs given in Angstrom in the config),
equivariant arrays ``(..., feature, 2L+1)`` in e3nn-jax's real-harmonic order (see `cg`).
"""

from hamlearn.features.featurize import FeatureSet as FeatureSet
from hamlearn.features.featurize import TypeFeatures as TypeFeatures
from hamlearn.features.featurize import featurize as featurize
from hamlearn.features.featurize import make_spec as make_spec
from hamlearn.features.spec import FeatureSpec as FeatureSpec
