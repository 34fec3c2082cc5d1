"""Host-side neighbour lists (numpy, ase): the only non-JAX step of the features.

Molecules only (no periodic boundaries): an exact numpy distance search up to 1000 atoms,
``ase.neighborlist`` beyond. Indices are returned; the vectors are recomputed
in JAX from positions so the features stay differentiable in the positions.
"""

from __future__ import annotations

import numpy as np

from hamlearn.data.structure import Structure


def neighbor_pairs(structure: Structure, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Ordered pairs ``(i, j)``, ``i != j``, with ``|r_j - r_i| < cutoff``.

    Args:
        structure: the molecule (positions in Bohr).
        cutoff: distance cutoff (Bohr).

    Returns:
        ``(i, j)``: two ``(pair,)`` int64 arrays, sorted by i then j.
    """
    n = structure.n_atoms
    if n < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if n <= 1000:  # molecules: an exact O(N^2) numpy search is faster than a cell list
        d = np.linalg.norm(structure.positions[None, :, :] - structure.positions[:, None, :],
                           axis=-1)
        i, j = np.nonzero((d < cutoff) & ~np.eye(n, dtype=bool))
        return i.astype(np.int64), j.astype(np.int64)
    from ase import Atoms
    from ase.neighborlist import neighbor_list

    # ase wants one unit; Bohr positions with a Bohr cutoff are consistent.
    atoms = Atoms(numbers=structure.numbers, positions=structure.positions, pbc=False)
    i, j = neighbor_list("ij", atoms, float(cutoff), self_interaction=False)
    order = np.lexsort((j, i))
    return i[order].astype(np.int64), j[order].astype(np.int64)


def unique_pairs(structure: Structure, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Unordered pairs as ``(i, j)`` with ``i < j`` within ``cutoff`` (Bohr)."""
    i, j = neighbor_pairs(structure, cutoff)
    keep = i < j
    return i[keep], j[keep]
