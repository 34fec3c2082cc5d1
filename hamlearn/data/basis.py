"""Basis bookkeeping: shells per element, AO offsets, and the one AO-order map.

Conventions (the only place they are defined):

* **pyscf AO order** is the order of every matrix that crosses the QM layer (F, S, the
  dipole integrals, densities). Per atom, shells come in the order of the basis
  definition; a shell of angular momentum l contributes ``2l+1`` AOs; pyscf's real
  spherical AOs are ``px, py, pz`` for l = 1 and ``m = -l..l`` for l >= 2.
* **e3nn order** is the order of e3nn-jax's real spherical harmonics (``x, y, z`` for
  l = 1; for l >= 2 a different real basis, with y as the polar axis). Equivariant
  model outputs live there.

`e3nn_to_pyscf(l)` is the orthogonal ``(2l+1, 2l+1)`` matrix ``U_l`` with
``Y^pyscf_l(r) = Y^e3nn_l(r) @ U_l`` (row vectors); it is computed once, numerically, from
pyscf's own AO values and e3nn-jax's harmonics, so no sign or ordering is typed by hand.
A block ``B`` between shells l1, l2 in e3nn order becomes ``U_l1.T @ B @ U_l2`` in pyscf
order. For l <= 1 ``U_l`` is the identity.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

#: Default minimal (model) basis.
DEFAULT_MODEL_BASIS = "sto-3g"


class BasisError(ValueError):
    """An element the basis does not define, or another basis lookup failure."""


@dataclasses.dataclass(frozen=True)
class Shell:
    """One shell of one element: angular momentum and its AO slice within the atom."""

    l: int  # noqa: E741 (the physicists' name)
    start: int  # first AO index within the atom
    index: int  # shell index within the atom

    @property
    def size(self) -> int:
        return 2 * self.l + 1

    @property
    def stop(self) -> int:
        return self.start + self.size


@functools.lru_cache(maxsize=None)
def element_shells(basis: str, z: int) -> tuple[Shell, ...]:
    """Shells of element ``z`` in ``basis``, in pyscf AO order (contractions expanded).

    Raises:
        BasisError: if pyscf's basis has no entry for the element.
    """
    import pyscf.gto
    from ase.data import chemical_symbols

    symbol = chemical_symbols[int(z)]
    try:
        bas = pyscf.gto.basis.load(basis, symbol)
    except Exception as err:  # pyscf raises several types here
        raise BasisError(f"basis {basis!r} has no entry for element {symbol} (Z={z})") from err
    if not bas:
        raise BasisError(f"basis {basis!r} has no entry for element {symbol} (Z={z})")
    spin = int(z) % 2
    mol = pyscf.gto.M(atom=[[symbol, (0.0, 0.0, 0.0)]], basis={symbol: bas}, unit="Bohr",
                      spin=spin, verbose=0)
    shells, start = [], 0
    for ib in range(mol.nbas):
        l, nctr = int(mol.bas_angular(ib)), int(mol.bas_nctr(ib))
        for _ in range(nctr):
            shells.append(Shell(l=l, start=start, index=len(shells)))
            start += 2 * l + 1
    if start != mol.nao:
        raise BasisError(f"shell bookkeeping of {symbol}/{basis} gives {start} AOs, pyscf {mol.nao}")
    return tuple(shells)


def element_nao(basis: str, z: int) -> int:
    """Number of AOs of one atom of element ``z``."""
    return sum(s.size for s in element_shells(basis, z))


def ao_offsets(basis: str, numbers) -> np.ndarray:
    """``(atom + 1,)`` AO offsets: atom ``a`` owns AOs ``offsets[a]:offsets[a+1]``."""
    sizes = [element_nao(basis, int(z)) for z in numbers]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def nao(basis: str, numbers) -> int:
    """Total AO count of a molecule."""
    return int(ao_offsets(basis, numbers)[-1])


@functools.lru_cache(maxsize=None)
def e3nn_to_pyscf(l: int) -> np.ndarray:  # noqa: E741
    """Orthogonal ``U_l`` with ``Y_pyscf = Y_e3nn @ U_l`` for real harmonics of degree l.

    Fitted by least squares on 64 random unit vectors from pyscf's ``GTOval_sph`` and
    e3nn-jax's ``spherical_harmonics``; the residual and orthogonality are checked.
    """
    import e3nn_jax as e3nn
    import jax.numpy as jnp
    import pyscf.gto

    if l <= 1:
        return np.eye(2 * l + 1)
    mol = pyscf.gto.M(atom=[["He", (0.0, 0.0, 0.0)]], basis={"He": [[l, [1.0, 1.0]]]},
                      unit="Bohr", verbose=0)
    pts = np.random.default_rng(1234).normal(size=(64, 3))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    ao = mol.eval_gto("GTOval_sph", pts)
    irrep = f"{l}{'e' if l % 2 == 0 else 'o'}"
    sh = e3nn.spherical_harmonics(irrep, jnp.asarray(pts, dtype=jnp.float64), normalize=True,
                                  normalization="component")
    y = np.asarray(sh.array, dtype=np.float64)
    m, *_ = np.linalg.lstsq(y, ao, rcond=None)
    if np.abs(y @ m - ao).max() > 1e-10 * np.abs(ao).max():
        raise RuntimeError(f"e3nn and pyscf real harmonics of l={l} do not span the same space")
    u = m / np.sqrt((m[:, 0] ** 2).sum())  # common radial normalisation
    if np.abs(u @ u.T - np.eye(2 * l + 1)).max() > 1e-10:
        raise RuntimeError(f"e3nn -> pyscf map of l={l} is not orthogonal")
    return np.round(u, 15) + 0.0
