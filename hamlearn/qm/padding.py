"""Size buckets and padded batches: many molecules, few compilations.

A molecule with ``nao`` AOs is padded to the smallest bucket ``nao_pad >= nao``; its AOs
keep indices ``0..nao-1`` and the padding comes after, flagged by ``ao_mask`` False.
Inside the layer (`apply_padding`) the padded block becomes a decoupled ``PADDING_SHIFT * 1``
with identity overlap, zero coupling to real AOs and zero dipole integrals, and the padded
MOs get zero occupation. The padded eigenproblem is then block diagonal, the padded
eigenvalues all equal ``PADDING_SHIFT`` (1e6 Hartree in float64), above every real MO, so:

* the real MOs are the first ``nao`` ones in ascending order (``mo_mask == ao_mask``);
* densities, dipoles, polarizabilities, MO energies equal the unpadded ones (to ~1e-12;
  tested at 1e-10);
* derivatives w.r.t. the padded entries of F are exactly zero.

Why 1e6 and why it depends on precision (pyscfad ``ml/scf/hf_pad.py``): LAPACK's ``sygvd``
is backward stable with error ``~ eps * ||H||``, and the shift sets ``||H||``; the real
eigenvalues are perturbed by ``~ eps * shift``. ``shift = 1e6 * sqrt(eps_64 / eps)`` keeps
both the separation and the contamination at ``~sqrt(eps)`` relative: 1e6 in float64,
~40 in float32.

The batched layer is ``jax.vmap(qm_forward)``; jitting it compiles once per
``(batch_size, nao_pad)``: with a fixed batch size, once per bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float

from hamlearn.qm.inputs import QMInputs

#: Default AO-count buckets for STO-3G molecules (QM7 reaches 50+ AOs; larger ones get
#: their own bucket via `bucket_size(..., strict=False)`).
DEFAULT_BUCKETS: tuple[int, ...] = (8, 16, 24, 32, 48, 64, 96, 128)


def padding_shift(dtype=jnp.float64) -> float:
    """The padding shift for a working precision: ``1e6 * sqrt(eps_64 / eps(dtype))``."""
    return float(1e6 * (np.finfo(np.float64).eps / np.finfo(dtype).eps) ** 0.5)


#: Energy (Hartree) of the padded MOs in float64 (pyscfad's rule, see module docstring).
PADDING_SHIFT: float = padding_shift(np.float64)


def apply_padding(
    fock: Float[Array, "ao ao"],
    ovlp: Float[Array, "ao ao"],
    dip_ints: Float[Array, "3 ao ao"],
    ao_mask: Bool[Array, " ao"],
) -> tuple[Float[Array, "ao ao"], Float[Array, "ao ao"], Float[Array, "3 ao ao"]]:
    """Decouple the padded AOs: ``F_pad = shift * 1``, ``S_pad = 1``, zero couplings/dipoles.

    A no-op (up to exact zeros) when ``ao_mask`` is all True. Whatever F, S and the
    integrals hold at padded positions is ignored, and gets zero derivative.

    Returns:
        ``(fock, ovlp, dip_ints)`` with the padded block replaced.
    """
    mask = jnp.asarray(ao_mask, bool)
    pair = mask[:, None] & mask[None, :]
    pad_diag = jnp.diag((~mask).astype(fock.dtype))
    fock = jnp.where(pair, fock, 0.0) + padding_shift(fock.dtype) * pad_diag
    ovlp = jnp.where(pair, ovlp, 0.0) + pad_diag
    dip_ints = jnp.where(pair[None], dip_ints, 0.0)
    return fock, ovlp, dip_ints


def bucket_size(nao: int, buckets: Sequence[int] = DEFAULT_BUCKETS, *, strict: bool = True) -> int:
    """The smallest bucket ``>= nao``.

    Raises:
        ValueError: if ``nao`` exceeds every bucket and ``strict``; with ``strict=False``
            the size is rounded up to a multiple of 16 instead.
    """
    for size in sorted(buckets):
        if size >= nao:
            return int(size)
    if strict:
        raise ValueError(f"nao={nao} exceeds the largest bucket {max(buckets)}; add a bucket")
    return int(-(-nao // 16) * 16)


def group_by_bucket(naos: Iterable[int], buckets: Sequence[int] = DEFAULT_BUCKETS,
                    ) -> dict[int, list[int]]:
    """Indices of molecules per bucket size: ``{nao_pad: [i, ...]}``, buckets ascending."""
    groups: dict[int, list[int]] = {}
    for i, nao in enumerate(naos):
        groups.setdefault(bucket_size(int(nao), buckets), []).append(i)
    return dict(sorted(groups.items()))


def pad_matrix(mat: Float[Array, "... ao ao"], nao_pad: int) -> np.ndarray:
    """Zero-pad the last two axes of a host array to ``(nao_pad, nao_pad)``."""
    mat = np.asarray(mat)
    extra = nao_pad - mat.shape[-1]
    if extra < 0:
        raise ValueError(f"matrix of size {mat.shape[-1]} does not fit nao_pad={nao_pad}")
    return np.pad(mat, [(0, 0)] * (mat.ndim - 2) + [(0, extra), (0, extra)])


def _pad_one(inp: QMInputs, nao_pad: int) -> QMInputs:
    nao = inp.nao
    ovlp = pad_matrix(inp.ovlp, nao_pad)
    ovlp[np.arange(nao, nao_pad), np.arange(nao, nao_pad)] = 1.0
    return QMInputs(
        ovlp=ovlp,
        dip_ints=pad_matrix(inp.dip_ints, nao_pad),
        nuclear_dipole=np.asarray(inp.nuclear_dipole, np.float64),
        mo_occ=np.pad(np.asarray(inp.mo_occ, np.float64), (0, nao_pad - nao)),
        ao_mask=np.pad(np.asarray(inp.ao_mask, bool), (0, nao_pad - nao)),
        **{f: None if getattr(inp, f) is None else pad_matrix(getattr(inp, f), nao_pad)
           for f in QMInputs.OPTIONAL},
        stda=inp.stda,
    )


def _filler(nao_pad: int, optional: tuple[str, ...] = (), stda=None) -> QMInputs:
    """An all-padding molecule (with zero matrices for the ``optional`` fields): fills a
    batch up to a fixed batch size."""
    return QMInputs(ovlp=np.eye(nao_pad), dip_ints=np.zeros((3, nao_pad, nao_pad)),
                    nuclear_dipole=np.zeros(3), mo_occ=np.zeros(nao_pad),
                    ao_mask=np.zeros(nao_pad, bool),
                    **{f: np.zeros((nao_pad, nao_pad)) for f in optional}, stda=stda)


def pad_batch(inputs: Sequence[QMInputs], nao_pad: int, batch_size: int | None = None,
              ) -> QMInputs:
    """Pad molecules to ``nao_pad`` AOs and stack them into one batched `QMInputs`.

    Args:
        inputs: per-molecule `QMInputs`, each with ``nao <= nao_pad`` and all-True mask.
        nao_pad: padded AO count (a bucket size, see `bucket_size`).
        batch_size: if given, append all-padding filler molecules (``ao_mask`` all False,
            zero occupations) up to this many, so that every batch has the same shape.

    Returns:
        `QMInputs` whose arrays have a leading ``batch`` axis: ``ovlp (batch, ao, ao)``,
        ``dip_ints (batch, 3, ao, ao)``, ``nuclear_dipole (batch, 3)``, ``mo_occ (batch,
        mo)``, ``ao_mask (batch, ao)`` (and ``r2_ints``, ``base_fock`` ``(batch, ao, ao)``
        when the molecules have them; zero-padded); feed it with a ``(batch, ao, ao)`` Fock (padded
        entries arbitrary; see `pad_matrix`) to ``jax.vmap(qm_forward)``.
    """
    optional = []
    for f in QMInputs.OPTIONAL:
        has = {getattr(inp, f) is not None for inp in inputs}
        if len(has) > 1:
            raise ValueError(f"pad_batch: some molecules have {f} and others not")
        if has == {True}:
            optional.append(f)
    stdas = {inp.stda for inp in inputs}
    if len(stdas) > 1:
        raise ValueError("pad_batch: the molecules have different excitation settings")
    stda = next(iter(stdas), None)
    padded = [_pad_one(inp, nao_pad) for inp in inputs]
    if batch_size is not None:
        if batch_size < len(padded):
            raise ValueError(f"{len(padded)} molecules do not fit batch_size={batch_size}")
        padded += [_filler(nao_pad, tuple(optional), stda)] * (batch_size - len(padded))
    fields = ("ovlp", "dip_ints", "nuclear_dipole", "mo_occ", "ao_mask", *optional)
    return QMInputs(**{f: np.stack([getattr(p, f) for p in padded]) for f in fields},
                    stda=stda)
