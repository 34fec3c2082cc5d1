"""Atom-centred equivariant features of every atom, for the direct surrogate models.

The Hamiltonian features (`hamlearn.features.featurize`) compute only the irreps the
minimal-basis blocks need (``0e`` for H). A direct property model needs the same irreps
on every atom: ``0e`` (charges, isotropic polarizability), ``1o`` (atomic dipoles) and
``2e`` (anisotropic polarizability). Same definitions: neighbour densities
(`atom_density`) and their body-order ``nu`` products (`onsite_features`), shapes
``(atom, feature, 2L+1)``, e3nn order (``1o`` is ``(x, y, z)``).

Host orchestration as in `featurize`: neighbour lists in numpy, one jitted call per chunk
of molecules padded to bucketed sizes, results kept as concatenated numpy arrays.
`atom_batch` pads a selection of molecules into an `AtomInputs` batch for the models.
"""

from __future__ import annotations

import dataclasses
import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from hamlearn import aot
from hamlearn.config import FeaturesConfig
from hamlearn.data.structure import Structure
from hamlearn.features.density import atom_density
from hamlearn.features.featurize import chunk_structures
from hamlearn.features.neighbors import neighbor_pairs
from hamlearn.features.onsite import onsite_features
from hamlearn.features.spec import bucket_size
from hamlearn.units import ANGSTROM_TO_BOHR


class AtomInputs(eqx.Module):
    """One molecule's (or, with a leading ``batch`` axis, a batch's) padded model inputs.

    Attributes:
        features: irrep -> ``(atom, feature, 2L+1)`` (zero on padding atoms).
        species: ``(atom,)`` index into the species list (0 on padding).
        atom_mask: ``(atom,)`` True for real atoms.
        positions: ``(atom, 3)`` Bohr.
        origin: ``(3,)`` the dipole origin, the nuclear charge centre (Bohr).
        charge: ``()`` total charge of the molecule (e).
    """

    features: dict[str, Float[Array, "atom feat M"]]
    species: Int[Array, " atom"]
    atom_mask: Bool[Array, " atom"]
    positions: Float[Array, "atom 3"]
    origin: Float[Array, " 3"]
    charge: Float[Array, ""]


@dataclasses.dataclass(frozen=True, eq=False)
class AtomFeatures:
    """Features of every atom of a list of molecules (numpy, atoms concatenated).

    Attributes:
        irreps: the irreps computed.
        features: irrep -> ``(n_atoms_total, feature, 2L+1)``.
        species: ``(n_atoms_total,)`` species index (position in ``sorted(cfg.species)``).
        positions: ``(n_atoms_total, 3)`` Bohr.
        offsets: ``(n_molecules + 1,)`` molecule k owns atoms ``offsets[k]:offsets[k+1]``.
        origin: ``(n_molecules, 3)`` nuclear charge centres (Bohr).
        charge: ``(n_molecules,)`` total charges (e).
    """

    irreps: tuple[str, ...]
    features: dict[str, np.ndarray]
    species: np.ndarray
    positions: np.ndarray
    offsets: np.ndarray
    origin: np.ndarray
    charge: np.ndarray

    @property
    def n_molecules(self) -> int:
        return len(self.offsets) - 1

    def n_atoms(self, indices=None) -> np.ndarray:
        counts = np.diff(self.offsets)
        return counts if indices is None else counts[np.asarray(indices, dtype=np.int64)]


def _compute(positions, species, src, dst, edge_mask, *, cfg: FeaturesConfig,
             irreps: tuple[str, ...]):
    rho = atom_density(positions, species, src, dst, edge_mask, n_species=len(cfg.species),
                       n_radial=cfg.n_radial, l_max=cfg.l_max,
                       r_cut=cfg.atom_cutoff_ang * ANGSTROM_TO_BOHR, radial=cfg.radial)
    return onsite_features(rho, irreps, cfg.nu_onsite)


_compute_jit = jax.jit(_compute, static_argnames=("cfg", "irreps"))


@functools.lru_cache(maxsize=None)
def feature_sizes(cfg: FeaturesConfig, irreps: tuple[str, ...]) -> dict[str, int]:
    """Number of features per irrep (no computation: shapes only)."""
    i1 = jnp.zeros(1, jnp.int32)
    shapes = jax.eval_shape(functools.partial(_compute, cfg=cfg, irreps=irreps),
                            jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), i1, i1, jnp.zeros(1, bool))
    return {ir: int(shapes[ir].shape[1]) for ir in irreps}


def species_index(structure: Structure, cfg: FeaturesConfig) -> np.ndarray:
    """``(atom,)`` position of each element in ``sorted(cfg.species)``."""
    table = {z: k for k, z in enumerate(sorted(cfg.species))}
    unknown = set(structure.numbers.tolist()) - set(table)
    if unknown:
        raise ValueError(f"{structure.label}: elements {sorted(unknown)} not in "
                         f"features.species {tuple(cfg.species)}")
    return np.array([table[int(z)] for z in structure.numbers], dtype=np.int32)


def _chunk_graph(chunk: list[Structure], cfg: FeaturesConfig):
    r_cut = cfg.atom_cutoff_ang * ANGSTROM_TO_BOHR
    pos, spec, src, dst, start = [], [], [], [], 0
    for s in chunk:
        i, j = neighbor_pairs(s, r_cut)
        pos.append(s.positions)
        spec.append(species_index(s, cfg))
        src.append(i + start)
        dst.append(j + start)
        start += s.n_atoms
    return tuple(np.concatenate(a) for a in (pos, spec, src, dst))


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n,) + a.shape[1:], a.dtype)
    out[: len(a)] = a
    return out


def atom_features(structures, cfg: FeaturesConfig, irreps: tuple[str, ...] = ("0e", "1o", "2e"),
                  *, max_chunk_atoms: int = 512) -> AtomFeatures:
    """Features ``irreps`` of every atom of every molecule.

    Args:
        structures: `Structure` list (positions in Bohr); elements must be in ``cfg.species``.
        cfg: feature settings (cutoff, radial basis, ``l_max``, ``nu_onsite``).
        irreps: irreps to compute, e.g. ``('0e', '1o')``.
        max_chunk_atoms: atoms per jitted call (all chunks padded to the same sizes).

    Returns:
        an `AtomFeatures`.

    Example:
        >>> import ase.build
        >>> s = Structure.from_atoms(ase.build.molecule("H2O"))
        >>> af = atom_features([s], FeaturesConfig(), ("0e", "1o"))
        >>> af.features["1o"].shape[0], af.features["1o"].shape[2]
        (3, 3)
    """
    structures, irreps = list(structures), tuple(irreps)
    graphs = [_chunk_graph(c, cfg) for c in chunk_structures(structures, max_chunk_atoms)]
    n_at = bucket_size(max(len(g[0]) for g in graphs))
    n_ed = bucket_size(max(len(g[2]) for g in graphs))
    parts = []
    for pos, spec, src, dst in graphs:
        args = (jnp.asarray(_pad(pos, n_at)), jnp.asarray(_pad(spec, n_at)),
                jnp.asarray(_pad(src, n_ed)), jnp.asarray(_pad(dst, n_ed)),
                jnp.asarray(np.arange(n_ed) < len(src)))
        if aot.enabled():  # a stored trace: no tracing (and no e3nn import) in a new process
            out = aot.call("atom_features", functools.partial(_compute, cfg=cfg, irreps=irreps),
                           args, static=(cfg, irreps))
        else:
            out = _compute_jit(*args, cfg=cfg, irreps=irreps)
        parts.append({ir: np.asarray(v)[: len(pos)] for ir, v in out.items()})
    counts = np.array([s.n_atoms for s in structures], dtype=np.int64)
    return AtomFeatures(
        irreps=irreps,
        features={ir: np.concatenate([p[ir] for p in parts]) for ir in irreps},
        species=np.concatenate([g[1] for g in graphs]),
        positions=np.concatenate([g[0] for g in graphs]),
        offsets=np.concatenate([[0], np.cumsum(counts)]),
        origin=np.stack([s.charge_centre() for s in structures]),
        charge=np.array([float(s.charge) for s in structures]))


def atom_batch(af: AtomFeatures, indices, n_atom_pad: int | None = None) -> AtomInputs:
    """Pad the molecules ``indices`` to ``n_atom_pad`` atoms: an `AtomInputs` with a
    leading ``batch`` axis (device arrays).

    Args:
        af: the features.
        indices: molecule indices into ``af``.
        n_atom_pad: padded atom count (default: the bucket of the largest molecule).
    """
    indices = [int(i) for i in indices]
    n_max = int(af.n_atoms(indices).max())
    n_pad = bucket_size(n_max) if n_atom_pad is None else n_atom_pad
    if n_pad < n_max:
        raise ValueError(f"n_atom_pad={n_pad} < largest molecule ({n_max} atoms)")
    b = len(indices)
    feats = {ir: np.zeros((b, n_pad) + f.shape[1:]) for ir, f in af.features.items()}
    species = np.zeros((b, n_pad), np.int32)
    mask = np.zeros((b, n_pad), bool)
    pos = np.zeros((b, n_pad, 3))
    for k, m in enumerate(indices):
        a, e = af.offsets[m], af.offsets[m + 1]
        for ir, f in af.features.items():
            feats[ir][k, : e - a] = f[a:e]
        species[k, : e - a] = af.species[a:e]
        mask[k, : e - a] = True
        pos[k, : e - a] = af.positions[a:e]
    return AtomInputs(features={ir: jnp.asarray(v) for ir, v in feats.items()},
                      species=jnp.asarray(species), atom_mask=jnp.asarray(mask),
                      positions=jnp.asarray(pos), origin=jnp.asarray(af.origin[indices]),
                      charge=jnp.asarray(af.charge[indices]))
