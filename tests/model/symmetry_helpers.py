"""Helpers for the symmetry tests: AO Wigner matrices (pyscf order) and pyscf overlaps."""

from __future__ import annotations

import e3nn_jax as e3nn
import jax
import jax.numpy as jnp
import numpy as np
import pyscf.gto
import scipy.linalg

from hamlearn.data.basis import e3nn_to_pyscf, element_shells
from hamlearn.data.structure import Structure


def random_rotation(key, improper: bool) -> np.ndarray:
    """float64 rotation (det +1), times -1 when ``improper`` (det -1)."""
    r = np.asarray(e3nn.rand_matrix(key, (), dtype=jnp.float64))
    return -r if improper else r


def ao_wigner(numbers, rot: np.ndarray, basis: str = "sto-3g") -> np.ndarray:
    """Block-diagonal ``D`` over the AOs (pyscf order): ``U_l^T D_l(R) U_l`` per shell.

    ``D_l`` is e3nn's ``Irrep(l, (-1)^l).D_from_matrix(R)`` (AO parity ``(-1)^l``).
    """
    blocks = []
    for z in numbers:
        for sh in element_shells(basis, int(z)):
            d = np.asarray(e3nn.Irrep(sh.l, (-1) ** sh.l).D_from_matrix(jnp.asarray(rot)))
            u = e3nn_to_pyscf(sh.l)
            blocks.append(u.T @ d @ u)
    return scipy.linalg.block_diag(*blocks)


def transformed(s: Structure, rot: np.ndarray, shift=(0.0, 0.0, 0.0), perm=None) -> Structure:
    """``s`` with positions ``R r + shift`` and atoms reordered by ``perm``."""
    pos = s.positions @ rot.T + np.asarray(shift)
    perm = np.arange(s.n_atoms) if perm is None else np.asarray(perm)
    return Structure(s.numbers[perm], pos[perm], name=s.name)


def overlap(s: Structure, basis: str = "sto-3g") -> np.ndarray:
    mol = pyscf.gto.M(atom=s.pyscf_atom(), unit="Bohr", basis=basis, spin=s.numbers.sum() % 2,
                      verbose=0)
    return mol.intor("int1e_ovlp")


def ao_permutation(numbers, perm, basis: str = "sto-3g") -> np.ndarray:
    """AO index array ``idx`` with ``F(permuted) = F[idx][:, idx]``."""
    from hamlearn.data.basis import ao_offsets

    off = ao_offsets(basis, numbers)
    return np.concatenate([np.arange(off[a], off[a + 1]) for a in perm])


def keys(n: int, seed: int = 0):
    return jax.random.split(jax.random.PRNGKey(seed), n)
