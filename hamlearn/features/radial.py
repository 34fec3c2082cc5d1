"""Radial basis functions with a smooth cutoff (pure JAX, Bohr).

Every radial function used by the features is multiplied by `cosine_cutoff`, which goes
to zero with a zero first derivative at the cutoff: a neighbour or a pair crossing a
cutoff changes the features, and so F, continuously.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float


def cosine_cutoff(r: Float[Array, "*n"], r_cut: float) -> Float[Array, "*n"]:
    """``0.5 (cos(pi r / r_cut) + 1)`` for ``r < r_cut``, else 0 (C^1 at ``r_cut``).

    Args:
        r: distances (Bohr).
        r_cut: cutoff (Bohr).
    """
    inside = r < r_cut
    r_in = jnp.where(inside, r, 0.0)  # double-where: no cos() of large arguments leaks grads
    return jnp.where(inside, 0.5 * (jnp.cos(jnp.pi * r_in / r_cut) + 1.0), 0.0)


def radial_basis(r: Float[Array, "*n"], n: int, r_cut: float,
                 kind: str = "bessel") -> Float[Array, "*n k"]:
    """``n`` radial functions of ``r`` (Bohr) times `cosine_cutoff`.

    Args:
        r: distances (Bohr), > 0 where it matters (zeros are safe: padding).
        n: number of functions.
        r_cut: cutoff (Bohr).
        kind: 'bessel': ``sqrt(2/r_cut) sin(k pi r / r_cut) / r``, k = 1..n (e3nn-jax's
            `bessel`, DimeNet eq. 7); 'gaussian': ``exp(-(r - mu_k)^2 / (2 s^2))`` with
            ``mu_k`` evenly spaced on ``[0, r_cut]`` and ``s = r_cut / n``.

    Returns:
        ``(*n, k)`` values (Bohr^-1 for 'bessel', dimensionless for 'gaussian').
    """
    r = jnp.asarray(r)
    fc = cosine_cutoff(r, r_cut)[..., None]
    if kind == "bessel":
        k = jnp.arange(1, n + 1, dtype=r.dtype)
        safe = jnp.where(r == 0.0, 1.0, r)[..., None]
        vals = jnp.where(r[..., None] == 0.0, k * jnp.pi / r_cut,
                         jnp.sin(k * jnp.pi * safe / r_cut) / safe)
        return jnp.sqrt(2.0 / r_cut) * vals * fc
    if kind == "gaussian":
        mu = jnp.linspace(0.0, r_cut, n, dtype=r.dtype)
        s = r_cut / n
        return jnp.exp(-0.5 * ((r[..., None] - mu) / s) ** 2) * fc
    raise ValueError(f"unknown radial basis {kind!r} (use 'bessel' or 'gaussian')")
