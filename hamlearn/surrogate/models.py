"""Direct surrogate models: a property straight from atom-centred equivariant features.

The baselines of arXiv:2504.01187 that skip the Hamiltonian and the QM layer. Both are
linear in their weights (closed-form ridge fit: `hamlearn.surrogate.fit`), per species,
and equivariant by construction:

* `DipoleModel`: ``mu = sum_i q_i (r_i - O) + sum_i p_i`` (e*Bohr), O the nuclear charge
  centre (the references' origin, `Structure.charge_centre`). ``q_i = w_s . x0_i + c_s``
  from the ``0e`` features, corrected by the mean excess so that ``sum_i q_i`` equals the
  molecule's total charge exactly (the dipole of a charged molecule then refers to O,
  like the references'; translating the molecule leaves it unchanged). ``p_i = v_s . x1_i``
  from the ``1o`` features (a vector per feature, e3nn order ``(x, y, z)``).
* `InvariantModel`: one rotation invariant (HOMO, LUMO, gap, |mu|, alpha_iso, anisotropy)
  as a sum or mean over atoms of ``w_s . x0_i + c_s``, for labels without a frame (QM9).
* `PolarizabilityModel`: ``alpha = sum_i [a_i I + T(b_i)]`` (Bohr^3), ``a_i = w_s . x0_i +
  c_s`` and ``b_i = v_s . x2_i`` an L = 2 vector made a symmetric traceless tensor by
  `l2_to_cartesian`.

Per molecule (``AtomInputs`` without batch axis); batch with `jax.vmap`. ``kind`` names the
property; ``unpenalised`` the per-species offsets the ridge fit leaves unpenalised.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from hamlearn.surrogate.features import AtomInputs
from hamlearn.surrogate.tensors import l2_to_cartesian


def _per_atom(weights: Float[Array, "species feat"], x: AtomInputs,
              irrep: str) -> Float[Array, "atom M"]:
    """``sum_f W[s_i, f] x_i[f, M]`` for every atom, zero on padding."""
    w = jnp.where(x.atom_mask[:, None], weights[x.species], 0.0)
    return jnp.einsum("af,afm->am", w, x.features[irrep])


class DirectModel(eqx.Module):
    """Abstract base: ``model(inputs) -> property`` of one molecule."""

    kind: ClassVar[str]
    irreps: ClassVar[tuple[str, ...]]
    unpenalised: ClassVar[tuple[str, ...]]

    @abc.abstractmethod
    def __call__(self, x: AtomInputs) -> Array:
        """The property of one molecule (atomic units)."""

    def batch(self, x: AtomInputs) -> Array:
        """The property of every molecule of a batched `AtomInputs` (leading ``batch``)."""
        return jax.vmap(self)(x)


class DipoleModel(DirectModel):
    """Dipole from charges and atomic dipoles (see module doc).

    Attributes:
        charge_weights: ``(species, f0)`` e per feature unit.
        charge_offset: ``(species,)`` e.
        dipole_weights: ``(species, f1)`` e*Bohr per feature unit.
    """

    kind: ClassVar[str] = "dipole"
    irreps: ClassVar[tuple[str, ...]] = ("0e", "1o")
    unpenalised: ClassVar[tuple[str, ...]] = ("charge_offset",)

    charge_weights: Float[Array, "species f0"]
    charge_offset: Float[Array, " species"]
    dipole_weights: Float[Array, "species f1"]

    def __init__(self, n_species: int, sizes: dict[str, int], *, key=None):
        """Zero weights (a ridge fit sets them); ``sizes`` = features per irrep."""
        del key
        self.charge_weights = jnp.zeros((n_species, sizes["0e"]))
        self.charge_offset = jnp.zeros(n_species)
        self.dipole_weights = jnp.zeros((n_species, sizes["1o"]))

    def charges(self, x: AtomInputs) -> Float[Array, " atom"]:
        """Atomic charges (e), summing exactly to ``x.charge``; zero on padding."""
        q = _per_atom(self.charge_weights, x, "0e")[:, 0]
        q = jnp.where(x.atom_mask, q + self.charge_offset[x.species], 0.0)
        n = jnp.maximum(jnp.sum(x.atom_mask), 1)
        excess = (jnp.sum(q) - x.charge) / n
        return jnp.where(x.atom_mask, q - excess, 0.0)

    def __call__(self, x: AtomInputs) -> Float[Array, " 3"]:
        """Dipole moment (e*Bohr) about ``x.origin``."""
        rel = jnp.where(x.atom_mask[:, None], x.positions - x.origin, 0.0)
        return self.charges(x) @ rel + jnp.sum(_per_atom(self.dipole_weights, x, "1o"), 0)


class PolarizabilityModel(DirectModel):
    """Polarizability from isotropic and L = 2 atomic terms (see module doc).

    Attributes:
        iso_weights: ``(species, f0)``; iso_offset: ``(species,)`` Bohr^3.
        aniso_weights: ``(species, f2)`` Bohr^3 per feature unit.
    """

    kind: ClassVar[str] = "polarizability"
    irreps: ClassVar[tuple[str, ...]] = ("0e", "2e")
    unpenalised: ClassVar[tuple[str, ...]] = ("iso_offset",)

    iso_weights: Float[Array, "species f0"]
    iso_offset: Float[Array, " species"]
    aniso_weights: Float[Array, "species f2"]

    def __init__(self, n_species: int, sizes: dict[str, int], *, key=None):
        """Zero weights (a ridge fit sets them); ``sizes`` = features per irrep."""
        del key
        self.iso_weights = jnp.zeros((n_species, sizes["0e"]))
        self.iso_offset = jnp.zeros(n_species)
        self.aniso_weights = jnp.zeros((n_species, sizes["2e"]))

    def __call__(self, x: AtomInputs) -> Float[Array, "3 3"]:
        """Polarizability tensor (Bohr^3), symmetric."""
        a = _per_atom(self.iso_weights, x, "0e")[:, 0]
        a = jnp.sum(jnp.where(x.atom_mask, a + self.iso_offset[x.species], 0.0))
        b = jnp.sum(_per_atom(self.aniso_weights, x, "2e"), 0)
        return a * jnp.eye(3, dtype=b.dtype) + l2_to_cartesian(b)


class InvariantModel(DirectModel):
    """One rotation invariant (a scalar target of `hamlearn.training.targets`, e.g. the
    HOMO energy or |mu|) from the ``0e`` features: ``y = P_i (w_s . x0_i + c_s)``, ``P`` the
    sum over atoms (extensive: |mu|, alpha_iso, anisotropy) or their mean (intensive:
    HOMO, LUMO, gap). The baseline for labels published without a frame (QM9's).

    Attributes:
        weights: ``(species, f0)``; offset: ``(species,)``, in the target's atomic units.
    """

    irreps: ClassVar[tuple[str, ...]] = ("0e",)
    unpenalised: ClassVar[tuple[str, ...]] = ("offset",)
    intensive: ClassVar[bool] = False

    weights: Float[Array, "species f0"]
    offset: Float[Array, " species"]

    def __init__(self, n_species: int, sizes: dict[str, int], *, key=None):
        """Zero weights (a ridge fit sets them); ``sizes`` = features per irrep."""
        del key
        self.weights = jnp.zeros((n_species, sizes["0e"]))
        self.offset = jnp.zeros(n_species)

    def __call__(self, x: AtomInputs) -> Float[Array, ""]:
        """The invariant of one molecule (atomic units)."""
        y = _per_atom(self.weights, x, "0e")[:, 0]
        total = jnp.sum(jnp.where(x.atom_mask, y + self.offset[x.species], 0.0))
        if self.intensive:
            return total / jnp.maximum(jnp.sum(x.atom_mask), 1)
        return total


def _invariant_model(name: str, intensive: bool) -> type[InvariantModel]:
    return type(f"Invariant_{name}", (InvariantModel,),
                {"__annotations__": {}, "kind": name, "intensive": intensive,
                 "__doc__": f"`InvariantModel` of the {name!r} target "
                            f"({'mean' if intensive else 'sum'} over atoms)."})


#: the scalar targets a direct `InvariantModel` can be fitted to, and whether intensive
INVARIANT_KINDS = {"homo": True, "lumo": True, "gap": True, "dipole_norm": False,
                   "polarizability_iso": False, "polarizability_aniso": False}

MODELS: dict[str, type[DirectModel]] = {
    "dipole": DipoleModel, "polarizability": PolarizabilityModel,
    **{k: _invariant_model(k, v) for k, v in INVARIANT_KINDS.items()}}


def make_direct_model(kind: str, n_species: int, sizes: dict[str, int]) -> DirectModel:
    """A zero-weight direct model of ``kind`` (a key of `MODELS`)."""
    if kind not in MODELS:
        raise ValueError(f"unknown direct model kind {kind!r}; known: {', '.join(MODELS)}")
    return MODELS[kind](n_species, sizes)
