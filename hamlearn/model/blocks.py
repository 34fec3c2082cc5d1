"""Coupled irreps <-> Hamiltonian blocks: the fixed linear maps of each block type.

For a block type (`hamlearn.features.spec`) and an irrep ``(L, p)``, the model predicts one
coefficient vector ``h[s]`` of length ``2L+1`` per **shell pair** ``s = (a, b)`` that can
hold that irrep (`block_irreps`). The atom(-pair) block in pyscf AO order is::

    X = sum_{s, M} h[s, M] E[s, M]          E: (shell_pair, 2L+1, nao_i, nao_j)

with ``E[s, M]`` zero except on the AO sub-block ``(a, b)``, where it holds
``U_la^T cg(la, lb, L)[:, :, M] U_lb`` (``cg`` orthonormal per M, ``U = e3nn_to_pyscf``).
On-site types use shell pairs ``a <= b`` and ``E`` carries a factor 1/2 on ``a = b``; the
assembled ``F`` is ``F_upper + F_upper^T`` (`hamlearn.model.assemble`), so an on-site
block ends up ``X + X^T`` (symmetric) and an off-site block ``X`` at (i, j), ``X^T`` at (j, i).
"""

from __future__ import annotations

import functools

import numpy as np

from hamlearn.data.basis import e3nn_to_pyscf, element_nao, element_shells
from hamlearn.features.cg import block_irreps, cg, parse_irrep


@functools.lru_cache(maxsize=None)
def shell_pairs(basis: str, kind: str, elements: tuple[int, ...],
                irrep: str) -> tuple[tuple[int, int], ...]:
    """Shell-index pairs ``(a, b)`` of a block type whose block holds ``irrep``."""
    zi, zj = (elements[0], elements[0]) if kind == "onsite" else elements
    out = []
    for a in element_shells(basis, zi):
        for b in element_shells(basis, zj):
            if kind == "onsite" and b.index < a.index:
                continue
            sym = kind == "onsite" and a.index == b.index
            if irrep in block_irreps(a.l, b.l, symmetric=sym):
                out.append((a.index, b.index))
    return tuple(out)


@functools.lru_cache(maxsize=None)
def block_map(basis: str, kind: str, elements: tuple[int, ...], irrep: str) -> np.ndarray:
    """``E``: ``(shell_pair, 2L+1, nao_i, nao_j)`` float64, coefficients -> block (pyscf order)."""
    L, _ = parse_irrep(irrep)
    zi, zj = (elements[0], elements[0]) if kind == "onsite" else elements
    si, sj = element_shells(basis, zi), element_shells(basis, zj)
    pairs = shell_pairs(basis, kind, elements, irrep)
    e = np.zeros((len(pairs), 2 * L + 1, element_nao(basis, zi), element_nao(basis, zj)))
    for s, (a, b) in enumerate(pairs):
        sa, sb = si[a], sj[b]
        c = np.einsum("ip,ijM,jq->Mpq", e3nn_to_pyscf(sa.l), cg(sa.l, sb.l, L),
                      e3nn_to_pyscf(sb.l))
        scale = 0.5 if (kind == "onsite" and a == b) else 1.0
        e[s, :, sa.start:sa.stop, sb.start:sb.stop] = scale * c
    return e


@functools.lru_cache(maxsize=None)
def block_templates(basis: str, kind: str, elements: tuple[int, ...], irrep: str) -> np.ndarray:
    """``P``: what one coefficient adds to the final F block (``E + E^T`` on-site, ``E`` off-site).

    The templates of one type are mutually orthogonal across shell pairs, M and irreps, so
    a least-squares fit of F decouples into one fit per (type, irrep): `hamlearn.model.ridge`.
    """
    e = block_map(basis, kind, elements, irrep)
    return e + np.swapaxes(e, -1, -2) if kind == "onsite" else e


@functools.lru_cache(maxsize=None)
def swap_partner(basis: str, elements: tuple[int, ...],
                 irrep: str) -> tuple[np.ndarray, np.ndarray]:
    """Same-element pair type: ``(partner, sign)``, ``E[s, M]^T = sign[s] E[partner[s], M]``.

    Transposing a block of shell pair (a, b) gives one of shell pair (b, a) (CG swap
    symmetry); this is how ``B(i,j) = (G(i,j) + G(j,i)^T) / 2`` acts on coefficients.
    """
    e = block_map(basis, "pair", elements, irrep)
    et = np.swapaxes(e, -1, -2)
    n = e.shape[0]
    partner, sign = np.zeros(n, np.int64), np.zeros(n)
    for s in range(n):
        for t in range(n):
            for sg in (1.0, -1.0):
                if np.allclose(et[s], sg * e[t], atol=1e-12) and np.abs(e[t]).max() > 0:
                    partner[s], sign[s] = t, sg
    if np.any(sign == 0):
        raise RuntimeError(f"no transpose partner for some shell pair of {elements} {irrep}")
    return partner, sign
