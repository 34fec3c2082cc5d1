"""Eigenpairs and the uncoupled polarizability of F, with derivatives exact at degeneracies.

Why this exists. Differentiating ``polarizability_sos(e, C, ...)`` through a degeneracy-masked
eigensolver (pyscfad's, `generalized_eigh`) gives *wrong* gradients whenever two MOs of the
same occupation are degenerate (methane's t2, benzene's e1g...). The masked rule drops
the coupling ``Ft_ij / (e_j - e_i)`` between degenerate i, j; that is harmless for
functions of the occupied projector (density, dipole: their coefficient of that coupling is
zero) but the SOS polarizability depends on each orbital energy, and its coefficient,
``T_ij - T_ji``, vanishes only like ``e_j - e_i``: the limit is finite and is lost. (Measured
on CH4/STO-3G, one random direction: -27.07 by finite differences; through the masked
solver -20.0 in one run and -37.8 in another, as it depends on the arbitrary basis LAPACK
picks inside the t2 level.) Near-degenerate pairs are the same problem in disguise: the
ratio of two tiny numbers turns round-off into gradient noise (~1e-8 for a 2e-7 split).

`eigh_sos` returns ``(mo_energy, mo_coeff, alpha)`` from ``(F, S, <r>)`` with a custom JVP
(hence also a VJP) in which that ratio is written out analytically, as a second divided
difference of the occupations (Daleckii-Krein): for MOs p, r of equal occupation the
weight ``K_prq = (W_pq - W_rq)/(e_p - e_r)`` equals ``W_pq / (e_q - e_r)``, with no
small denominator. The rule is written tangent-first (nine ``n^3`` products, linear in
the tangents, so reverse mode transposes it at the same cost) and skips symbolic-zero
tangents (e.g. of the dipole integrals when only F is differentiated). The tangents of
``mo_energy`` and ``mo_coeff`` follow pyscfad's masked rule, so `qm_forward` needs one
eigensolve.

Notation (MO basis, ``C^T S C = 1``): ``x = C^T <r_x> C``; ``W_pq = (n_p - n_q)/(e_q - e_p)``
for real MOs of different occupation, else 0; ``alpha_xy = sum_pq x_pq y_pq W_pq``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero
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


def sos_value(mo_energy, mo_coeff, dip_ints, mo_occ, mo_mask=None) -> Float[Array, "3 3"]:
    """``alpha_xy = sum_pq <p|x|q><q|y|p> W_pq`` (Bohr^3) from given orbitals; its
    derivatives are plain autodiff (see `hamlearn.qm.properties.polarizability_sos`)."""
    return _sos(mo_energy, mo_coeff, dip_ints, mo_occ, mo_mask)[0]


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


def _project(c, tangent, *, dip=False):
    """``C^T t C`` of a symmetrised tangent, or None for a symbolic zero."""
    if isinstance(tangent, SymbolicZero):
        return None
    if dip:
        return jnp.einsum("pi,xpq,qj->xij", c, tangent, c)
    return c.T @ (0.5 * (tangent + tangent.T)) @ c


def _pair_contract(g, left, right):
    """``2 (c + c^T)`` with ``c_xy = sum_rpq g_rp left_x,rq right_y,qp``: the contraction of a
    rotation-generator weight ``g`` with a kernel ``sum_q left_rq right_qp`` symmetrised
    over (x, y). Three ``n^3`` products, linear in ``g``."""
    c = jnp.einsum("xpq,ypq->xy", jnp.einsum("rp,xrq->xpq", g, left), right)
    return 2.0 * (c + c.T)


def _dalpha(e, r_mo, w, pair, mo_occ, ft, st):
    """Tangent of alpha from the MO-basis tangents ``ft = C^T dF C``, ``st = C^T dS C``.

    With ``U_rp = (Ft_rp - e_p St_rp)/(e_p - e_r)`` (r != p), ``U_pp = -St_pp/2`` the MO
    rotation, the U-part of d alpha is ``sum_rp U_rp T_rp`` with
    ``T_rp = 2 sum_q (x_rq y_pq + y_rq x_pq) W_pq``. Pairing (r, p) with (p, r) leaves
    ``(T_rp - T_pr)/(e_p - e_r)``, which for equal occupations is the finite
    ``2 sum_q (x_rq y_pq + y_rq x_pq) W_pq/(e_q - e_r)``: no small denominator anywhere.
    """
    n = e.shape[0]
    eye = jnp.eye(n, dtype=bool)
    zero = jnp.zeros((n, n), e.dtype)
    ft = zero if ft is None else ft
    st = zero if st is None else st
    same = mo_occ[:, None] == mo_occ[None, :]
    e_pr = jnp.where(same, 1.0, e[None, :] - e[:, None])  # [r, p]: e_p - e_r
    g1 = jnp.where(eye, 0.0, ft - st * e[None, :])
    g_diff = 0.5 * jnp.where(same, 0.0, g1 / e_pr)
    g_same = 0.5 * jnp.where(same, g1, 0.0)
    rw = r_mo * w
    gap = jnp.where(pair, e[None, :] - e[:, None], 1.0)  # [r, q]: e_q - e_r
    rg = jnp.where(pair, r_mo / gap, 0.0)
    dalpha = (_pair_contract(g_diff - 0.5 * jnp.diag(jnp.diagonal(st)), r_mo, rw)  # T
              + _pair_contract(-g_diff - 0.5 * jnp.where(eye, 0.0, st), rw, r_mo)  # T^T
              + _pair_contract(g_same, rg, rw))  # equal occupations, analytic
    de = jnp.diagonal(ft) - jnp.diagonal(st) * e
    wd = jnp.where(pair, w / gap, 0.0)  # W_pq / (e_q - e_p)
    return dalpha + jnp.einsum("xpq,ypq,pq->xy", r_mo, r_mo, wd * (de[:, None] - de[None, :]))


def _eigh_sos_jvp(primals, tangents):
    fock, ovlp, dip_ints, mo_occ, mo_mask = primals
    e, c = generalized_eigh(fock, ovlp)  # the primal, computed once, r_mo reused below
    alpha, r_mo, w = _sos(e, c, dip_ints, mo_occ, mo_mask)
    ft, st = _project(c, tangents[0]), _project(c, tangents[1])
    rt = _project(c, tangents[2], dip=True)
    n = e.shape[0]
    zero = jnp.zeros((n, n), e.dtype)
    # eigenpairs: pyscfad's masked rule, U_qp = (Ft_qp - e_p St_qp)/(e_p - e_q)
    a = (zero if ft is None else ft) - (zero if st is None else st) * e[None, :]
    eji = e[None, :] - e[:, None]
    big = jnp.abs(eji) > DEG_THRESH
    u = jnp.where(big, a / jnp.where(big, eji, 1.0), 0.0)
    if st is not None:
        u = u - jnp.where(big, 0.0, 0.5 * st)
    # polarizability
    _, pair = sos_weights(e, mo_occ, mo_mask)
    dalpha = _dalpha(e, r_mo, w, pair, mo_occ, ft, st)
    if rt is not None:
        rtw = jnp.einsum("xpq,ypq,pq->xy", rt, r_mo, w)
        dalpha = dalpha + rtw + rtw.T
    return (e, c, alpha), (jnp.diagonal(a), c @ u, dalpha)


eigh_sos.defjvp(_eigh_sos_jvp, symbolic_zeros=True)


def polarizability_of_fock(fock, ovlp, dip_ints, mo_occ, mo_mask=None) -> Float[Array, "3 3"]:
    """Uncoupled SOS polarizability (Bohr^3) straight from ``(F, S, <r - O>)``, the form to
    train with (see `eigh_sos`). Shapes as in `eigh_sos`; ``mo_mask`` defaults to all."""
    mask = jnp.ones(mo_occ.shape, bool) if mo_mask is None else mo_mask
    return eigh_sos(fock, ovlp, dip_ints, mo_occ, mask)[2]
