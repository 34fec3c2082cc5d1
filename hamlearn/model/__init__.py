"""The minimal-basis Hamiltonian model: features -> blocks -> F, and its direct fits.

Public API: `HamiltonianModel(spec, *, key)`, ``model(batch) -> (batch, nao_pad, nao_pad)``,
`make_batch(feature_set, indices, nao_pad)`, `predict_fock(model, structure)`,
`ridge_fit(model, feature_set, focks, alpha)`, `fock_loss` / `fit_fock` (gradient descent on
the matrix loss). Units: Hartree; matrices in pyscf AO order.
"""

from hamlearn.model.assemble import assemble_fock as assemble_fock
from hamlearn.model.batch import BlockBatch as BlockBatch
from hamlearn.model.batch import TypeBatch as TypeBatch
from hamlearn.model.batch import make_batch as make_batch
from hamlearn.model.hamiltonian import HamiltonianModel as HamiltonianModel
from hamlearn.model.hamiltonian import fock_batch as fock_batch
from hamlearn.model.hamiltonian import predict_fock as predict_fock
from hamlearn.model.direct import fit_fock as fit_fock
from hamlearn.model.direct import fock_loss as fock_loss
from hamlearn.model.ridge import ridge_fit as ridge_fit
