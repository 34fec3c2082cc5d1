"""Eigenpairs and the uncoupled polarizability of F, with derivatives exact at degeneracies.

Why this exists. Differentiating ``polarizability_sos(e, C, ...)`` through a degeneracy-masked
eigensolver (pyscfad's, `generalized_eigh`) gives *wrong* gradients whenever two MOs of the
same occupation are degenerate (methane's t2, benzene's e1g...). The masked rule drops
the coupling ``Ft_ij / (e_j - e_i)`` between degenerate i, j; that is harmless for
functions of the occupied projector (density, dipole: their coefficient of that coupling is
zero) but the SOS polarizability depends on each orbital energy, and its coefficient,
``T_ij - T_ji``, vanishes only like ``e_j - e_i``: the limit is finite and is lost. (Measured
on CH4/STO-3G: directional derivative -20.0 through the masked solver, -27.07 by finite
differences.) Near-degenerate pairs are the same problem in disguise: the ratio of two
tiny numbers turns round-off into gradient noise (~1e-8 for a 2e-7 Hartree split).

`eigh_sos` returns ``(mo_energy, mo_coeff, alpha)`` from ``(F, S, <r>)`` with a custom JVP
(hence also a VJP) in which that ratio is written out analytically, as a second divided
difference of the occupations (Daleckii-Krein): for MOs p, r of equal occupation the
weight ``K_prq = (W_pq - W_rq)/(e_p - e_r)`` equals ``W_pq / (e_q - e_r)``, with no
small denominator. Everything is O(n^3) matrix products. The tangents of ``mo_energy``
and ``mo_coeff`` follow pyscfad's masked rule, so `qm_forward` needs one eigensolve.

Notation (MO basis, ``C^T S C = 1``): ``x = C^T <r_x> C``; ``W_pq = (n_p - n_q)/(e_q - e_p)``
for real MOs of different occupation, else 0; ``alpha_xy = sum_pq x_pq y_pq W_pq``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from hamlearn.qm.eigh import DEG_THRESH, generalized_eigh


def sos_weights(mo_energy, mo_occ, mo_mask):
    """``W (mo, mo)``, symmetric: ``(n_p - n_q)/(e_q - e_p)`` on real pairs of different
    occupation, else 0; and that pair mask."""
    real = jnp.ones(mo_occ.shape, bool) if mo_mask is None else jnp.asarray(mo_mask, bool)
    pair = (mo_occ[:, None] != mo_occ[None, :]) & real[:, None] & real[None, :]
    gap = jnp.where(pair, mo_energy[None, :] - mo_energy[:, None], 1.0)  # e_q - e_p
    return jnp.where(pair, (mo_occ[:, None] - mo_occ[None, :]) / gap, 0.0), pair


def _sos(mo_energy, mo_coeff, dip_ints, mo_occ, mo_mask):
    w, _ = sos_weights(mo_energy, mo_occ, mo_mask)
    r_mo = jnp.einsum("pi,xpq,qj->xij", mo_coeff, dip_ints, mo_coeff)
    return jnp.einsum("xpq,ypq,pq->xy", r_mo, r_mo, w), r_mo, w


@jax.custom_jvp
def eigh_sos(
    fock: Float[Array, "ao ao"],
    ovlp: Float[Array, "ao ao"],
    dip_ints: Float[Array, "3 ao ao"],
    mo_occ: Float[Array, " mo"],
    mo_mask: Bool[Array, " mo"],
) -> tuple[Float[Array, " mo"], Float[Array, "ao mo"], Float[Array, "3 3"]]:
    """``F C = S C e`` and the uncoupled SOS polarizability, degeneracy-exact derivatives.

    Args:
        fock: ``(ao, ao)`` symmetric F (Hartree); ``ovlp``: ``(ao, ao)`` S.
        dip_ints: ``(3, ao, ao)`` ``<mu| r - O |nu>`` (Bohr).
        mo_occ: ``(mo,)`` occupations; mo_mask: ``(mo,)`` True on real MOs. Neither is
            differentiated.

    Returns:
        ``mo_energy (mo,)`` Hartree, ``mo_coeff (ao, mo)``, ``alpha (3, 3)`` Bohr^3 (the
        value of `hamlearn.qm.properties.polarizability_sos`).
    """
    mo_energy, mo_coeff = generalized_eigh(fock, ovlp)
    return mo_energy, mo_coeff, _sos(mo_energy, mo_coeff, dip_ints, mo_occ, mo_mask)[0]


def _swap(a):
    return jnp.swapaxes(a, 0, 1)


def _alpha_kernels(e, r_mo, w, pair, mo_occ):
    """``T[x,y,r,p]`` (coefficient of the rotation generator U_rp in d alpha_xy), its
    transpose ``Tt = T[x,y,p,r]``, and ``D = (T - Tt)/(e_p - e_r)`` without small
    denominators (equal-occupation pairs use the analytic second divided difference)."""
    rw = r_mo * w
    gap = jnp.where(pair, e[None, :] - e[:, None], 1.0)  # [r, q]: e_q - e_r
    rg = jnp.where(pair, r_mo / gap, 0.0)
    a1 = jnp.einsum("xrq,yqp->xyrp", r_mo, rw)  # sum_q x_rq y_pq W_pq
    a2 = jnp.einsum("xrq,yqp->xyrp", rw, r_mo)  # sum_q x_rq W_rq y_qp
    t = 2.0 * (a1 + _swap(a1))
    tt = 2.0 * (a2 + _swap(a2))
    b = jnp.einsum("xrq,yqp->xyrp", rg, rw)
    same = mo_occ[:, None] == mo_occ[None, :]
    de = jnp.where(same, 1.0, e[None, :] - e[:, None])  # [r, p]: e_p - e_r
    d = jnp.where(same, 2.0 * (b + _swap(b)), (t - tt) / de)
    return t, tt, d


@eigh_sos.defjvp
def _eigh_sos_jvp(primals, tangents):
    fock, ovlp, dip_ints, mo_occ, mo_mask = primals
    dfock, dovlp, ddip = tangents[:3]
    e, c, alpha = eigh_sos(fock, ovlp, dip_ints, mo_occ, mo_mask)
    ft = c.T @ (0.5 * (dfock + dfock.T)) @ c
    st = c.T @ (0.5 * (dovlp + dovlp.T)) @ c
    rt = jnp.einsum("pi,xpq,qj->xij", c, ddip, c)
    # eigenpairs: pyscfad's masked rule (U_qp = (Ft_qp - e_p St_qp)/(e_p - e_q))
    a = ft - st * e[None, :]
    eji = e[None, :] - e[:, None]
    big = jnp.abs(eji) > DEG_THRESH
    u = jnp.where(big, a / jnp.where(big, eji, 1.0), -0.5 * st)
    de = jnp.diagonal(a)
    dc = c @ u
    # polarizability
    _, r_mo, w = _sos(e, c, dip_ints, mo_occ, mo_mask)
    _, pair = sos_weights(e, mo_occ, mo_mask)
    wd = jnp.where(pair, w / jnp.where(pair, eji, 1.0), 0.0)  # W_pq / (e_q - e_p)
    t, tt, d = _alpha_kernels(e, r_mo, w, pair, mo_occ)
    offdiag = ~jnp.eye(e.shape[0], dtype=bool)
    dalpha = (jnp.einsum("xpq,ypq,pq->xy", rt, r_mo, w)
              + jnp.einsum("xpq,ypq,pq->xy", r_mo, rt, w)
              + jnp.einsum("xpq,ypq,pq,pq->xy", r_mo, r_mo, wd, de[:, None] - de[None, :])
              + 0.5 * jnp.einsum("rp,xyrp->xy", jnp.where(offdiag, ft, 0.0), d)
              - 0.5 * jnp.einsum("rp,xyrp->xy", jnp.where(offdiag, st, 0.0),
                                 e[None, None, None, :] * d + tt)
              - 0.5 * jnp.einsum("p,xypp->xy", jnp.diagonal(st), t))
    return (e, c, alpha), (de, dc, dalpha)


def polarizability_of_fock(fock, ovlp, dip_ints, mo_occ, mo_mask=None) -> Float[Array, "3 3"]:
    """Uncoupled SOS polarizability (Bohr^3) straight from ``(F, S, <r - O>)``, the form to
    train with (see `eigh_sos`). Shapes as in `eigh_sos`; ``mo_mask`` defaults to all."""
    mask = jnp.ones(mo_occ.shape, bool) if mo_mask is None else mo_mask
    return eigh_sos(fock, ovlp, dip_ints, mo_occ, mask)[2]
