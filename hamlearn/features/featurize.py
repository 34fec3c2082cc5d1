"""Host orchestration: structures -> per-block-type feature arrays (`FeatureSet`).

Features are fixed functions of the geometry, so they are computed once per dataset:
neighbour lists on the host (`neighbors`), then one jitted JAX call per chunk of molecules
(densities, on-site and pair features for every atom/pair at once, padded to bucketed
sizes so a few compiles serve any dataset), and the results are split per **block type**:

* on-site type ``'6'`` (one per element): one entry per atom, features per irrep
  ``(n, feature, 2L+1)``, AO indices ``rows = cols`` of the atom's AOs;
* pair type ``'1-6'`` (elements ``Zi <= Zj``): one entry per unordered pair within the pair
  cutoff, ordered canonically (lower Z first; same element: lower atom index first);
  features ``x(i, j)`` (`pair_features`), ``rows`` = AOs of i, ``cols`` = AOs of j.

Only the irreps each type's minimal-basis blocks need are computed (`block_irreps`).
AO indices are within the molecule, pyscf AO order.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from hamlearn import aot
from hamlearn.arrays import to_device
from hamlearn.config import FeaturesConfig
from hamlearn.data.basis import ao_offsets
from hamlearn.data.structure import Structure
from hamlearn.features.density import atom_density
from hamlearn.features.neighbors import neighbor_pairs, unique_pairs
from hamlearn.features.onsite import onsite_features
from hamlearn.features.pairs import pair_features
from hamlearn.features.spec import (FeatureSpec, bucket_size, onsite_irreps, onsite_key,
                                    pair_irreps, pair_key, sig_onsite, sig_pair)
from hamlearn.units import ANGSTROM_TO_BOHR

log = logging.getLogger(__name__)


def _compute(positions, species, src, dst, edge_mask, onsite_groups, pair_groups, *,
             cfg: FeaturesConfig, basis: str):
    """All features of a padded chunk: ``({sig: {irrep: (n, f, M)}}, same for pairs)``."""
    del basis  # static: only the group keys depend on it
    rho = atom_density(positions, species, src, dst, edge_mask, n_species=len(cfg.species),
                       n_radial=cfg.n_radial, l_max=cfg.l_max,
                       r_cut=cfg.atom_cutoff_ang * ANGSTROM_TO_BOHR, radial=cfg.radial)
    onsite = {sig: onsite_features(rho[idx], tuple(sig.split("+")), cfg.nu_onsite)
              for sig, idx in onsite_groups.items()}
    pairs = {sig: pair_features(positions, rho, pi, pj, tuple(sig.split("+")), cfg)
             for sig, (pi, pj) in pair_groups.items()}
    return onsite, pairs


_compute_jit = jax.jit(_compute, static_argnames=("cfg", "basis"))


def _dummy_inputs(species: tuple[int, ...], basis: str):
    i1 = jnp.zeros(1, jnp.int32)
    ons = {sig_onsite(basis, z): i1 for z in species}
    prs = {sig_pair(basis, zi, zj): (i1, i1) for zi in species for zj in species}
    return (jnp.zeros((2, 3)), jnp.zeros(2, jnp.int32), i1, i1, jnp.zeros(1, bool), ons, prs)


@dataclasses.dataclass(frozen=True, eq=False)
class TypeFeatures:
    """Features and AO indices of all blocks of one type, molecule by molecule (numpy).

    Attributes:
        kind: 'onsite' or 'pair'.
        elements: ``(z,)`` or ``(zi, zj)`` with ``zi <= zj``.
        features: irrep -> ``(n, feature, 2L+1)`` float64 (e3nn order).
        mol: ``(n,)`` molecule index in the `FeatureSet`, non-decreasing.
        atoms: ``(n, 2)`` atom indices within the molecule (``i, i`` for on-site).
        rows, cols: ``(n, nao_i)``, ``(n, nao_j)`` AO indices within the molecule (pyscf
            order) of the block's rows (atom i) and columns (atom j).
        offsets: ``(n_molecules + 1,)`` molecule k owns entries ``offsets[k]:offsets[k+1]``.
    """

    kind: str
    elements: tuple[int, ...]
    features: dict[str, np.ndarray]
    mol: np.ndarray
    atoms: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    offsets: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class FeatureSet:
    """Per-block-type features of a list of molecules (the output of `featurize`).

    Attributes:
        spec: the static `FeatureSpec` (sizes per type and irrep).
        nao: ``(molecule,)`` AO count of each molecule.
        types: block-type key (``'6'``, ``'1-6'``) -> `TypeFeatures`.
        names: molecule labels.
    """

    spec: FeatureSpec
    nao: np.ndarray
    types: dict[str, TypeFeatures]
    names: tuple[str, ...] = ()

    @property
    def n_molecules(self) -> int:
        return len(self.nao)

    def nbytes(self) -> int:
        """Memory held by the feature arrays (bytes)."""
        return sum(a.nbytes for t in self.types.values() for a in t.features.values())


def _host_graph(structures: list[Structure], cfg: FeaturesConfig, basis: str):
    """Concatenated host arrays of a chunk: positions, species, edges, entries per type.

    Entries are rows ``(molecule, i, j, global i, global j, AO start i, AO start j)``.
    """
    sp_index = {z: k for k, z in enumerate(sorted(cfg.species))}
    r_atom, r_pair = cfg.atom_cutoff_ang * ANGSTROM_TO_BOHR, cfg.pair_cutoff_ang * ANGSTROM_TO_BOHR
    pos, spec, src, dst, entries, start = [], [], [], [], {}, 0
    for m, s in enumerate(structures):
        unknown = set(s.numbers.tolist()) - set(sp_index)
        if unknown:
            raise ValueError(f"{s.label}: elements {sorted(unknown)} not in features.species "
                             f"{tuple(cfg.species)}")
        z = s.numbers
        pos.append(s.positions)
        spec.append([sp_index[x] for x in z])
        i, j = neighbor_pairs(s, r_atom)
        src.append(i + start)
        dst.append(j + start)
        off = ao_offsets(basis, z)
        pi, pj = unique_pairs(s, r_pair)
        flip = z[pi] > z[pj]
        pi, pj = np.where(flip, pj, pi), np.where(flip, pi, pj)
        at = np.arange(s.n_atoms)
        for a, b, keys in ((at, at, [onsite_key(x) for x in z]),
                           (pi, pj, [pair_key(x, y) for x, y in zip(z[pi], z[pj])])):
            rows = np.stack([np.full(len(a), m), a, b, a + start, b + start, off[a], off[b]], 1)
            for key, row in zip(keys, rows):
                entries.setdefault(key, []).append(row)
        start += s.n_atoms
    return (np.concatenate(pos), np.concatenate(spec).astype(np.int32),
            np.concatenate(src), np.concatenate(dst), entries)


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n,) + a.shape[1:], a.dtype)
    out[: len(a)] = a
    return out


def _groups(entries: dict, basis: str):
    """Group the entries of a chunk by irrep signature: ``(onsite, pairs, slices)``."""
    groups_on, groups_pair, slices = {}, {}, {}
    for key, ent in entries.items():
        ent = np.stack(ent).astype(np.int64)
        elems = tuple(int(x) for x in key.split("-"))
        if len(elems) == 1:
            sig, store, idx = sig_onsite(basis, elems[0]), groups_on, (ent[:, 3],)
        else:
            sig, store, idx = sig_pair(basis, *elems), groups_pair, (ent[:, 3], ent[:, 4])
        prev = store.get(sig, tuple(np.zeros(0, np.int64) for _ in idx))
        slices[key] = (sig, len(prev[0]), len(prev[0]) + len(ent), ent)
        store[sig] = tuple(np.concatenate([p, x]) for p, x in zip(prev, idx))
    return groups_on, groups_pair, slices


def _sizes(graph) -> dict:
    """Array sizes of one chunk (atoms, edges, per group) to pad to."""
    pos, _, src, _, (g_on, g_pair, _) = graph
    out = {"atoms": len(pos), "edges": len(src)}
    out.update({("on", s): len(v[0]) for s, v in g_on.items()})
    out.update({("pair", s): len(v[0]) for s, v in g_pair.items()})
    return out


def _run_chunk(graph, sizes: dict, cfg: FeaturesConfig, basis: str, out: dict,
               filled: dict) -> None:
    """Features of one chunk padded to ``sizes``, written into the preallocated ``out``."""
    pos, species, src, dst, (g_on, g_pair, slices) = graph
    n_at, n_ed = sizes["atoms"], sizes["edges"]
    on = {s: to_device(_pad(v[0], sizes[("on", s)])) for s, v in g_on.items()}
    pairs = {s: tuple(to_device(_pad(x, sizes[("pair", s)])) for x in v)
             for s, v in g_pair.items()}
    args = (to_device(_pad(pos, n_at)), to_device(_pad(species, n_at)),
            to_device(_pad(src, n_ed)), to_device(_pad(dst, n_ed)),
            to_device(np.arange(n_ed) < len(src)), on, pairs)
    if aot.enabled():  # a stored trace: no tracing (and no e3nn import) in a new process
        ons, prs = aot.call("features", functools.partial(_compute, cfg=cfg, basis=basis),
                            args, static=(cfg, basis))
    else:
        ons, prs = _compute_jit(*args, cfg=cfg, basis=basis)
    host = jax.tree.map(np.asarray, (ons, prs))  # whole arrays: no per-slice device ops
    for key, (sig, a, b, _) in slices.items():
        feats = host[0 if "-" not in key else 1][sig]
        start = filled[key]
        for ir, f in feats.items():
            out[key][ir][start:start + b - a] = f[a:b]
        filled[key] = start + b - a


def chunk_structures(structures, max_atoms: int) -> list[list[Structure]]:
    """Consecutive groups of structures with at most ``max_atoms`` atoms each (a larger
    structure gets a group of its own): one jitted feature call per group."""
    chunks, cur, n = [], [], 0
    for s in structures:
        if cur and n + s.n_atoms > max_atoms:
            chunks.append(cur)
            cur, n = [], 0
        cur.append(s)
        n += s.n_atoms
    return chunks + ([cur] if cur else [])


def featurize(structures, cfg: FeaturesConfig, basis: str = "sto-3g", *,
              max_chunk_atoms: int = 512, store: str | Path | None = None,
              dtype=np.float64) -> FeatureSet:
    """Features of every block of every molecule, split per block type.

    Args:
        structures: `Structure` list (positions in Bohr).
        cfg: feature settings; every element must be in ``cfg.species``.
        basis: the minimal basis whose blocks the features serve.
        max_chunk_atoms: molecules are processed in chunks of at most this many atoms,
            all padded to the same bucketed sizes (one compile; bounded peak memory).
        store: a folder: the feature arrays are written there chunk by chunk as
            memory-mapped ``.npy`` files (``dtype``) and returned memory-mapped, so memory
            does not grow with the dataset; a later call on the same structures, settings
            and hamlearn source reads them back without computing (configs:
            ``data.feature_store``).
        dtype: storage dtype with ``store`` (``np.float32`` halves the disk; batches are
            float64 again, `hamlearn.model.make_batch`).

    Returns:
        a `FeatureSet`; every type of the spec is present (possibly with zero entries).

    Example:
        >>> import ase.build
        >>> from hamlearn.config import FeaturesConfig
        >>> s = Structure.from_atoms(ase.build.molecule("CH4"))
        >>> fs = featurize([s], FeaturesConfig())
        >>> fs.types["1-6"].features["1o"].shape[0]  # the four C-H pairs
        4
    """
    structures = list(structures)
    spec = make_spec(cfg, basis)
    folder = None
    if store is not None:
        folder = Path(store) / _store_key(structures, cfg, basis, dtype)
        loaded = _load_store(folder, spec, structures, basis)
        if loaded is not None:
            return loaded
    chunks = chunk_structures(structures, max_chunk_atoms)
    graphs, entries, first = [], {k: [] for k in spec.types()}, 0
    for chunk in chunks:
        pos, species, src, dst, ent = _host_graph(chunk, cfg, basis)
        graphs.append((pos, species, src, dst, _groups(ent, basis)))
        for key, (_, _, _, e) in graphs[-1][4][2].items():
            entries[key].append(e + np.array([first, 0, 0, 0, 0, 0, 0]))
        first += len(chunk)
    sizes: dict = {}
    for g in graphs:
        for k, n in _sizes(g).items():
            sizes[k] = max(sizes.get(k, 0), n)
    sizes = {k: bucket_size(n) for k, n in sizes.items()}
    entries = {k: np.concatenate(v) if v else np.zeros((0, 7), np.int64)
               for k, v in entries.items()}
    shapes = {key: {ir: (len(entries[key]), nf, 2 * int(ir[:-1]) + 1) for ir, nf in d.items()}
              for key, (_, _, d) in spec.types().items()}
    if folder is None:
        out = {key: {ir: np.empty(shape) for ir, shape in d.items()}
               for key, d in shapes.items()}
    else:  # written chunk by chunk into files; the pages go back to the OS as they fill
        tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        out = {key: {ir: np.lib.format.open_memmap(tmp / f"{key}_{ir}.npy", mode="w+",
                                                   dtype=dtype, shape=shape)
                     for ir, shape in d.items()} for key, d in shapes.items()}
    filled = dict.fromkeys(out, 0)
    try:
        for graph in graphs:
            _run_chunk(graph, sizes, cfg, basis, out, filled)
    except BaseException:
        if folder is not None:  # an interrupted store: no partial files left on disk
            del out
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if folder is not None:
        for d in out.values():
            for a in d.values():
                a.flush()
        del out
        for key, ent in entries.items():
            np.save(tmp / f"{key}_entries.npy", ent)
        (tmp / STORE_MANIFEST).write_text(json.dumps({
            "n_molecules": len(structures), "basis": basis, "dtype": np.dtype(dtype).name,
            "names": [s.label for s in structures]}))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)  # complete or absent: an interrupted run leaves no store
        return _load_store(folder, spec, structures, basis)
    return _assemble(spec, out, entries, structures, basis)


def _assemble(spec, feats, entries, structures, basis) -> FeatureSet:
    types = {key: _type_features(kind, elems, feats[key], entries[key], len(structures), basis)
             for key, (kind, elems, _) in spec.types().items()}
    nao = np.array([int(ao_offsets(basis, s.numbers)[-1]) for s in structures], dtype=np.int64)
    return FeatureSet(spec=spec, nao=nao, types=types, names=tuple(s.label for s in structures))


#: the file that marks a complete feature store
STORE_MANIFEST = "manifest.json"


def _store_key(structures, cfg: FeaturesConfig, basis: str, dtype) -> str:
    """What the stored features depend on: structures (labels, content), settings, storage
    dtype and hamlearn's source (an edit to the features code invalidates every store)."""
    h = hashlib.sha256()
    for part in (repr(cfg), basis.lower(), np.dtype(dtype).name, aot.source_fingerprint(),
                 *(f"{s.label}:{s.content_hash()}" for s in structures)):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def _load_store(folder: Path, spec, structures, basis) -> FeatureSet | None:
    """The stored `FeatureSet` of ``folder`` (arrays memory-mapped read-only), or None when
    absent or unreadable (then named in a warning and computed again)."""
    if not (folder / STORE_MANIFEST).is_file():
        return None
    try:
        meta = json.loads((folder / STORE_MANIFEST).read_text())
        if meta["names"] != [s.label for s in structures]:
            raise ValueError("molecule names differ")
        feats, entries = {}, {}
        for key, (_, _, d) in spec.types().items():
            entries[key] = np.load(folder / f"{key}_entries.npy")
            feats[key] = {}
            for ir, nf in d.items():
                a = np.load(folder / f"{key}_{ir}.npy", mmap_mode="r")
                if a.shape != (len(entries[key]), nf, 2 * int(ir[:-1]) + 1):
                    raise ValueError(f"{key}_{ir}.npy has shape {a.shape}")
                feats[key][ir] = a
    except (OSError, ValueError, KeyError) as err:
        log.warning("feature store %s is unreadable (%s): computing the features again",
                    folder, err)
        return None
    return _assemble(spec, feats, entries, structures, basis)


def _type_features(kind, elems, feats, ent, n_molecules, basis) -> TypeFeatures:
    """Attach AO indices and molecule offsets to the features of one type."""
    zi, zj = (elems[0], elems[0]) if kind == "onsite" else elems
    ni, nj = int(ao_offsets(basis, [zi])[-1]), int(ao_offsets(basis, [zj])[-1])
    mol = ent[:, 0]
    return TypeFeatures(kind=kind, elements=tuple(elems), features=feats, mol=mol,
                        atoms=ent[:, 1:3], rows=ent[:, 5:6] + np.arange(ni),
                        cols=ent[:, 6:7] + np.arange(nj),
                        offsets=np.searchsorted(mol, np.arange(n_molecules + 1)).astype(np.int64))


@functools.lru_cache(maxsize=None)
def make_spec(cfg: FeaturesConfig, basis: str = "sto-3g") -> FeatureSpec:
    """The `FeatureSpec` of ``cfg`` for the elements ``cfg.species`` in ``basis``."""
    species = tuple(sorted(cfg.species))
    fn = functools.partial(_compute, cfg=cfg, basis=basis)
    if aot.enabled():  # the output shapes of the stored trace
        exp = aot.exported("features", fn, _dummy_inputs(species, basis),
                           static=(cfg, basis))
        shapes = jax.tree_util.tree_unflatten(exp.out_tree, exp.out_avals)
    else:
        shapes = jax.eval_shape(fn, *_dummy_inputs(species, basis))
    onsite = tuple((z, tuple((ir, shapes[0][sig_onsite(basis, z)][ir].shape[1])
                             for ir in onsite_irreps(basis, z))) for z in species)
    pairs = tuple(((zi, zj), tuple((ir, shapes[1][sig_pair(basis, zi, zj)][ir].shape[1])
                                   for ir in pair_irreps(basis, zi, zj)))
                  for k, zi in enumerate(species) for zj in species[k:])
    return FeatureSpec(cfg=cfg, basis=basis, onsite=onsite, pairs=pairs)


def traced_block_batch(structure: Structure, cfg: FeaturesConfig, basis: str = "sto-3g"):
    """``positions (atom, 3) Bohr -> BlockBatch`` of one molecule, differentiable in the
    positions (geometry derivatives of a predicted Hamiltonian: IR and Raman intensities).

    The neighbour lists and pair lists are those of ``structure``'s own geometry, held fixed;
    the cutoff functions go smoothly to zero, so derivatives there are exact, and the
    features at ``structure.positions`` equal `featurize`'s (same entries, same order).
    """
    from hamlearn.model.batch import BlockBatch, TypeBatch

    spec = make_spec(cfg, basis)
    _, species, src, dst, entries = _host_graph([structure], cfg, basis)
    g_on, g_pair, slices = _groups(entries, basis)
    species, src, dst = jnp.asarray(species), jnp.asarray(src), jnp.asarray(dst)
    on = {s: jnp.asarray(v[0]) for s, v in g_on.items()}
    pairs = {s: tuple(jnp.asarray(x) for x in v) for s, v in g_pair.items()}
    nao = int(ao_offsets(basis, structure.numbers)[-1])
    index = {}
    for key, (*_, ent) in slices.items():
        kind, elems, _ = spec.types()[key]
        zi, zj = (elems[0], elems[0]) if kind == "onsite" else elems
        ni, nj = int(ao_offsets(basis, [zi])[-1]), int(ao_offsets(basis, [zj])[-1])
        index[key] = (jnp.asarray((ent[:, 5:6] + np.arange(ni)).astype(np.int32)),
                      jnp.asarray((ent[:, 6:7] + np.arange(nj)).astype(np.int32)),
                      jnp.zeros(len(ent), jnp.int32))

    def batch_of(positions) -> BlockBatch:
        ons, prs = _compute(positions, species, src, dst, jnp.ones(src.shape, bool), on,
                            pairs, cfg=cfg, basis=basis)
        types = {}
        for key, (sig, a, b, _) in slices.items():
            feats = (ons if "-" not in key else prs)[sig]
            rows, cols, mol = index[key]
            types[key] = TypeBatch(features={ir: f[a:b] for ir, f in feats.items()},
                                   rows=rows, cols=cols, mol=mol)
        return BlockBatch(types=types, ao_mask=jnp.ones((1, nao), bool))

    return batch_of
