"""Direct surrogate baselines: dipole and polarizability straight from atom-centred
equivariant features (no Hamiltonian, no QM layer), fitted in closed form.

Example:
    >>> import ase.build
    >>> from hamlearn.config import FeaturesConfig
    >>> from hamlearn.data.structure import Structure
    >>> s = Structure.from_atoms(ase.build.molecule("H2O"))
    >>> cfg = FeaturesConfig(l_max=2, n_radial=3)
    >>> af = atom_features([s], cfg, DipoleModel.irreps)
    >>> model = DipoleModel(len(cfg.species), feature_sizes(cfg, DipoleModel.irreps))
    >>> model.batch(atom_batch(af, [0])).shape
    (1, 3)
"""

from hamlearn.surrogate.features import AtomFeatures as AtomFeatures
from hamlearn.surrogate.features import AtomInputs as AtomInputs
from hamlearn.surrogate.features import atom_batch as atom_batch
from hamlearn.surrogate.features import atom_features as atom_features
from hamlearn.surrogate.features import feature_sizes as feature_sizes
from hamlearn.surrogate.fit import design_matrix as design_matrix
from hamlearn.surrogate.fit import fit_direct as fit_direct
from hamlearn.surrogate.fit import ridge_solve as ridge_solve
from hamlearn.surrogate.models import DipoleModel as DipoleModel
from hamlearn.surrogate.models import DirectModel as DirectModel
from hamlearn.surrogate.models import PolarizabilityModel as PolarizabilityModel
from hamlearn.surrogate.models import make_direct_model as make_direct_model
from hamlearn.surrogate.tensors import cartesian_to_l2 as cartesian_to_l2
from hamlearn.surrogate.tensors import l2_to_cartesian as l2_to_cartesian
