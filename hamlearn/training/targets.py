"""Training targets from `Reference`s: padded host arrays and eigenvalue windows."""

from __future__ import annotations

import numpy as np

from hamlearn.config import LossConfig
from hamlearn.data.record import Reference


def window_size(ref: Reference, nao_model: int, loss: LossConfig, target_basis: str) -> int:
    """How many of the lowest MO energies are compared for this molecule.

    'all': the model's ``nao_model`` eigenvalues against the lowest ``nao_model`` of the
    reference; 'occ+k': occupied plus ``n_virtual`` virtual orbitals. Never more than the
    reference basis has.
    """
    nmo_ref = len(ref.target(target_basis).mo_energy)
    if loss.eig_window == "all":
        n = nao_model
    else:
        n = ref.nocc + loss.n_virtual
    return int(min(n, nao_model, nmo_ref))


def build_targets(refs: list[Reference], nao_pad: int, loss: LossConfig,
                  target_basis: str, mol_mask: np.ndarray | None = None) -> dict:
    """Padded target arrays for one batch (numpy; the caller moves them to the device).

    Returns a dict with the keys `hamlearn.training.losses.loss_terms` reads; only the
    targets whose loss weight is non-zero are included, plus the masks. Filler molecules
    (``mol_mask`` False) are masked everywhere: no eigenvalue window, no AOs in ``ao_mask``.
    """
    b = len(refs)
    mol_mask = np.ones(b, bool) if mol_mask is None else np.asarray(mol_mask, bool)
    ao_mask = np.zeros((b, nao_pad), bool)
    for k, r in enumerate(refs):
        ao_mask[k, :r.model.nao] = mol_mask[k]
    out: dict = {"mol_mask": mol_mask, "ao_mask": ao_mask}
    labels = [r.target(target_basis) for r in refs]
    if loss.eigenvalues:
        eig = np.zeros((b, nao_pad))
        win = np.zeros((b, nao_pad), bool)
        for k, (r, lab) in enumerate(zip(refs, labels)):
            n = window_size(r, r.model.nao, loss, target_basis)
            eig[k, :n] = lab.mo_energy[:n]
            win[k, :n] = mol_mask[k]
        out["mo_energy"], out["eig_window"] = eig, win
    if loss.gap:
        out["gap"] = np.array([lab.gap for lab in labels])
    if loss.dipole:
        out["dipole"] = np.stack([lab.dipole for lab in labels])
    if loss.polarizability:
        out["polarizability"] = np.stack([lab.polarizability(loss.polarizability_kind)
                                          for lab in labels])
    if loss.matrix:
        fock = np.zeros((b, nao_pad, nao_pad))
        for k, r in enumerate(refs):
            if r.model.fock is None:
                raise ValueError(f"{r.structure.label}: matrix loss needs the model-basis Fock")
            fock[k, :r.model.nao, :r.model.nao] = r.model.fock
        out["fock"] = fock
    return out

