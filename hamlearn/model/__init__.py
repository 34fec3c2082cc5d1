"""The minimal-basis Hamiltonian model: features -> blocks -> F, and its direct fits.

Public API (units: Hartree; every matrix in pyscf AO order; padded batches put molecule k
at ``[k, :nao_k, :nao_k]`` with exact zeros elsewhere):

* `HamiltonianModel(spec, *, key, gated=False)`; ``model(batch) -> (batch, nao_pad, nao_pad)``
  and the jitted `fock_batch(model, batch)`;
* `make_batch(feature_set, indices, nao_pad=None) -> BlockBatch` (flat per-type arrays);
* `predict_fock(model, structure) -> (nao, nao)`;
* `ridge_fit(model, feature_set, focks, alpha, indices=...)` (closed form, per block type);
* `fock_loss(model, batch, target)`, `fit_fock(...)`: gradient descent on the matrix loss.
"""

from hamlearn.model.assemble import assemble_fock as assemble_fock
from hamlearn.model.batch import BlockBatch as BlockBatch
from hamlearn.model.batch import TypeBatch as TypeBatch
from hamlearn.model.batch import make_batch as make_batch
from hamlearn.model.batch import filler_molecule as filler_molecule
from hamlearn.model.batch import entry_counts as entry_counts
from hamlearn.model.batch import likely_entries as likely_entries
from hamlearn.model.batch import max_entries as max_entries
from hamlearn.model.direct import fit_fock as fit_fock
from hamlearn.model.direct import fock_loss as fock_loss
from hamlearn.model.hamiltonian import HamiltonianModel as HamiltonianModel
from hamlearn.model.hamiltonian import fock_batch as fock_batch
from hamlearn.model.hamiltonian import predict_fock as predict_fock
from hamlearn.model.ridge import ridge_fit as ridge_fit
