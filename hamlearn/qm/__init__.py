"""The differentiable QM layer (pure JAX, float64): F, S -> orbitals -> observables.

Equation: ``F C = S C e`` (`generalized_eigh`), ``P = C n C^T`` (`make_density`),
``mu = sum_A Z_A (R_A - O) - tr(P <r - O>)`` (`dipole_moment`, origin O = nuclear charge
centre), ``alpha = 4 sum_{i occ, a virt} <i|r|a><a|r|i> / (e_a - e_i)``
(`polarizability_sos`), all in atomic units. `qm_forward` does it all in one call;
`pad_batch` + ``jax.vmap(qm_forward)`` does it for a bucketed batch.
"""

from hamlearn.qm.adapter import as_pyscf_scf as as_pyscf_scf
from hamlearn.qm.density import closed_shell_occupations as closed_shell_occupations
from hamlearn.qm.density import make_density as make_density
from hamlearn.qm.eigh import DEG_THRESH as DEG_THRESH
from hamlearn.qm.eigh import generalized_eigh as generalized_eigh
from hamlearn.qm.eigh import generalized_eigh_cholesky as generalized_eigh_cholesky
from hamlearn.qm.huckel import extended_huckel_fock as extended_huckel_fock
from hamlearn.qm.huckel import huckel_onsite as huckel_onsite
from hamlearn.qm.inputs import QMInputs as QMInputs
from hamlearn.qm.integrals import ao_integrals as ao_integrals
from hamlearn.qm.integrals import build_mole as build_mole
from hamlearn.qm.integrals import dipole_derivatives as dipole_derivatives
from hamlearn.qm.integrals import qm_inputs_from_mol as qm_inputs_from_mol
from hamlearn.qm.layer import qm_forward as qm_forward
from hamlearn.qm.layer import qm_forward_batch as qm_forward_batch
from hamlearn.qm.padding import DEFAULT_BUCKETS as DEFAULT_BUCKETS
from hamlearn.qm.padding import PADDING_SHIFT as PADDING_SHIFT
from hamlearn.qm.padding import apply_padding as apply_padding
from hamlearn.qm.padding import bucket_size as bucket_size
from hamlearn.qm.padding import group_by_bucket as group_by_bucket
from hamlearn.qm.padding import pad_batch as pad_batch
from hamlearn.qm.padding import pad_matrix as pad_matrix
from hamlearn.qm.properties import dipole_moment as dipole_moment
from hamlearn.qm.properties import frontier_orbitals as frontier_orbitals
from hamlearn.qm.properties import homo_lumo_gap as homo_lumo_gap
from hamlearn.qm.properties import mo_window as mo_window
from hamlearn.qm.properties import nuclear_dipole as nuclear_dipole
from hamlearn.qm.properties import polarizability_field as polarizability_field
from hamlearn.qm.properties import polarizability_sos as polarizability_sos
from hamlearn.qm.response import eigh_sos as eigh_sos
from hamlearn.qm.response import polarizability_of_fock as polarizability_of_fock
