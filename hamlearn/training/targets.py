"""Training targets, one object each: what the QM layer computes, the label it reads,
its loss and its errors in user units.

A `Target` is the one place a target is defined. `TARGETS` lists them; the loss weights
of `hamlearn.config.LossConfig` are named after them (a test keeps the two in step), and
`build_targets`, `hamlearn.training.losses.loss_terms` and
`hamlearn.training.metrics.molecule_errors` are loops over them. A new target (charges,
excitations, bands) is one more entry here.

Labels may be missing per molecule and per target (a dataset can mix molecules with full
spectra and molecules with frontier labels only): a molecule without a target's label is
masked out of that term, and `check_labels` refuses a weighted target no training
molecule has.

Rotation invariants are targets of their own (`homo`, `lumo`, `dipole_norm`,
`polarizability_iso`, `polarizability_aniso`, `r2`): labels published without a frame (QM9's
|mu| and tensor) can be trained on and compared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from hamlearn.config import LossConfig
from hamlearn.data.record import Reference, anisotropy_sq, isotropic
from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV


@dataclasses.dataclass(frozen=True)
class Context:
    """What a label or an error depends on beyond the molecule."""

    loss: LossConfig
    target_basis: str


@dataclasses.dataclass(frozen=True)
class Target:
    """One training target.

    Attributes:
        name: the loss term and the `LossConfig` weight of the same name.
        predict: batched QM-layer outputs -> the predicted quantity (jax; leading batch axis).
        label: ``(reference, context, nao_pad) -> (value, mask)`` host arrays of the
            per-molecule shape (mask True on the entries that count), or None when the
            molecule has no such label.
        errors: ``(prediction, reference, context) -> {key_unit: signed errors}`` of one
            unpadded host prediction (numpy), or {} without a label.
        reported: 'always' (every evaluation reports it) or 'weighted' (only when trained on).
        doc: one line for docs and reports.
        user_key, user_scale: a scalar target's name with its user unit (``homo_ev``) and
            the factor from atomic units (None for array targets).
        extensive: grows with the molecule (dipole, polarizability, <R^2>): under
            ``train.loss.normalise: per_atom`` its per-molecule squared error is divided by
            N_atoms^2 instead of averaged over its entries.
    """

    name: str
    predict: Callable[[dict], jnp.ndarray]
    label: Callable[[Reference, Context, int], tuple[np.ndarray, np.ndarray] | None]
    errors: Callable[[dict, Reference, Context], dict[str, np.ndarray]]
    reported: str = "always"
    doc: str = ""
    user_key: str | None = None
    user_scale: float = 1.0
    extensive: bool = False


# --------------------------------------------------------------------------- helpers
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


def safe_norm(x, axis=-1):
    """``|x|`` with a zero (not NaN) gradient at ``x = 0``."""
    sq = jnp.sum(x**2, axis=axis)
    pos = sq > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


iso = isotropic
aniso_sq = anisotropy_sq


def anisotropy(alpha):
    """``gamma = sqrt(3/2 tr(d^2))`` (zero gradient at an isotropic tensor; jax)."""
    g2 = aniso_sq(alpha)
    pos = g2 > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, g2, 1.0)), 0.0)


def _labels(ref: Reference, ctx: Context):
    try:
        return ref.target(ctx.target_basis)
    except KeyError:
        return None


def _scalar(get):
    """A label of shape () from ``get(labels, context)`` (None: no label)."""

    def label(ref, ctx, nao_pad):
        lab = _labels(ref, ctx)
        v = None if lab is None else get(lab, ctx)
        return None if v is None else (np.asarray(float(v)), np.asarray(True))

    return label


def _polarizability(lab, ctx):
    return getattr(lab, f"polarizability_{ctx.loss.polarizability_kind}", None)


# --------------------------------------------------------------------------- labels
def _eig_label(ref, ctx, nao_pad):
    lab = _labels(ref, ctx)
    if lab is None or lab.mo_energy is None:
        return None
    n = window_size(ref, ref.model.nao, ctx.loss, ctx.target_basis)
    value, mask = np.zeros(nao_pad), np.zeros(nao_pad, bool)
    value[:n], mask[:n] = lab.mo_energy[:n], True
    return value, mask


def _vector_label(get, shape):
    def label(ref, ctx, nao_pad):
        lab = _labels(ref, ctx)
        v = None if lab is None else get(lab, ctx)
        return None if v is None else (np.asarray(v, float).reshape(shape), np.ones(shape, bool))

    return label


def _matrix_label(ref, ctx, nao_pad):
    if ref.model.fock is None:
        return None
    n = ref.model.nao
    value, mask = np.zeros((nao_pad, nao_pad)), np.zeros((nao_pad, nao_pad), bool)
    value[:n, :n], mask[:n, :n] = ref.model.fock, True
    return value, mask


def _n_excitations(ref, ctx, lab) -> int:
    """States compared: the loss's count, at most what the label has and what the layer's
    window has in the model basis."""
    loss, nocc, nao = ctx.loss, ref.nocc, ref.model.nao
    pairs = min(loss.excitation_n_occ, nocc) * min(loss.excitation_n_virt, nao - nocc)
    return int(min(loss.n_excitations, len(lab.excitation_energies), pairs))


def _exc_label(ref, ctx, nao_pad):
    lab = _labels(ref, ctx)
    if lab is None or lab.excitation_energies is None:
        return None
    n = _n_excitations(ref, ctx, lab)
    value, mask = np.zeros(ctx.loss.n_excitations), np.zeros(ctx.loss.n_excitations, bool)
    value[:n], mask[:n] = lab.excitation_energies[:n], True
    return value, mask


def _exc_errors(pred, ref, ctx):
    lab = _labels(ref, ctx)
    if lab is None or lab.excitation_energies is None or "excitation_energies" not in pred:
        return {}
    n = _n_excitations(ref, ctx, lab)
    out = {"excitations_ev": (np.asarray(pred["excitation_energies"])[:n]
                              - lab.excitation_energies[:n]) * HARTREE_TO_EV}
    bright = _lowest_bright_error(pred, lab)
    if bright is not None:
        out["lowest_bright_ev"] = np.array([bright])
    return out


def _lowest_bright_error(pred, lab) -> float | None:
    """Model minus label energy (eV) of the lowest bright state (``f >=
    spectra.BRIGHT_MIN_STRENGTH``) among each side's computed states (the layer's real
    states, all label states), or None where either has none."""
    from hamlearn.qm.excitations import INVALID_ENERGY
    from hamlearn.training.spectra import lowest_bright_ev

    if "oscillator_strengths" not in pred or lab.oscillator_strengths is None:
        return None
    w = np.asarray(pred["excitation_energies"])
    real = w < 0.5 * INVALID_ENERGY
    got = lowest_bright_ev(w[real] * HARTREE_TO_EV, np.asarray(pred["oscillator_strengths"])[real])
    want = lowest_bright_ev(lab.excitation_energies * HARTREE_TO_EV, lab.oscillator_strengths)
    return None if got is None or want is None else got - want


def spectrum_of(lab, loss: LossConfig, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The label's broadened spectrum of its lowest ``n`` states on the loss's grid (per
    Hartree) and the grid points it is complete at: below its ``n``-th state less two
    widths (a state above it, not computed, would add there)."""
    from hamlearn.qm.excitations import broadened_spectrum

    grid = np.linspace(loss.spectrum_min_ev, loss.spectrum_max_ev,
                       loss.spectrum_points) / HARTREE_TO_EV
    width = loss.spectrum_width_ev / HARTREE_TO_EV
    e, f = lab.excitation_energies[:n], lab.oscillator_strengths[:n]
    value = np.asarray(broadened_spectrum(e, f, grid, width))
    return value, grid <= e[n - 1] - 2 * width if n else np.zeros(len(grid), bool)


def _spectrum_label(ref, ctx, nao_pad):
    lab = _labels(ref, ctx)
    if lab is None or lab.excitation_energies is None or lab.oscillator_strengths is None:
        return None
    return spectrum_of(lab, ctx.loss, _n_excitations(ref, ctx, lab))


def _spectrum_errors(pred, ref, ctx):
    got = _spectrum_label(ref, ctx, None)
    if got is None or "spectrum" not in pred:
        return {}
    value, mask = got
    return {"spectrum_per_ev": (np.asarray(pred["spectrum"]) - value)[mask] / HARTREE_TO_EV}


# --------------------------------------------------------------------------- errors
def _eig_errors(pred, ref, ctx):
    lab = _labels(ref, ctx)
    if lab is None or lab.mo_energy is None:
        return {}
    n = window_size(ref, ref.model.nao, ctx.loss, ctx.target_basis)
    return {"eigenvalues_ev": (pred["mo_energy"][:n] - lab.mo_energy[:n]) * HARTREE_TO_EV}


def _scalar_errors(name, key, scale, pred_of, label_of):
    """Errors of a scalar target; a prediction holding the value under the target's own
    ``name`` (a direct model's) is taken as it is, else ``pred_of`` derives it from the
    QM-layer outputs."""

    def errors(pred, ref, ctx):
        lab = _labels(ref, ctx)
        v = None if lab is None else label_of(lab, ctx)
        if v is None:
            return {}
        p = pred[name] if name in pred else pred_of(pred)
        return {key: np.atleast_1d(p - v) * scale}

    return errors


def _dipole_errors(pred, ref, ctx):
    lab = _labels(ref, ctx)
    if lab is None or lab.dipole is None:
        return {}
    return {"dipole_debye": (pred["dipole"] - lab.dipole) * AU_TO_DEBYE}


def _polarizability_errors(pred, ref, ctx):
    lab = _labels(ref, ctx)
    alpha = None if lab is None else _polarizability(lab, ctx)
    if alpha is None:
        return {}
    err = pred["polarizability"] - alpha
    # relative error of the isotropic polarizability, percent
    return {"polarizability_au": err.ravel(),
            "polarizability_pct": np.atleast_1d(100.0 * iso(err) / iso(alpha))}


def _np_norm(x):
    return float(np.linalg.norm(x))


def _np_aniso(a):
    return float(np.sqrt(aniso_sq(np.asarray(a))))


def _inv(name):
    """``(labels, context) -> value`` of an invariant (``_<kind>`` appended for the
    polarizability ones)."""
    if name.startswith("polarizability"):
        return lambda lab, c: lab.invariant(f"{name}_{c.loss.polarizability_kind}")
    return lambda lab, c: lab.invariant(name)


def _invariant_target(name, key, scale, predict, np_predict, doc, extensive=False):
    return Target(name, predict, _scalar(_inv(name)),
                  _scalar_errors(name, key, scale, np_predict, _inv(name)), reported="weighted",
                  doc=doc, user_key=key, user_scale=scale, extensive=extensive)


TARGETS: tuple[Target, ...] = (
    Target("eigenvalues", lambda p: p["mo_energy"], _eig_label, _eig_errors,
           doc="MO energies in the loss window (Hartree)"),
    Target("gap", lambda p: p["gap"], _scalar(_inv("gap")),
           _scalar_errors("gap", "gap_ev", HARTREE_TO_EV, lambda p: p["gap"], _inv("gap")),
           doc="HOMO-LUMO gap (Hartree)", user_key="gap_ev", user_scale=HARTREE_TO_EV),
    _invariant_target("homo", "homo_ev", HARTREE_TO_EV, lambda p: p["homo"],
                      lambda p: p["homo"], "HOMO energy (Hartree)"),
    _invariant_target("lumo", "lumo_ev", HARTREE_TO_EV, lambda p: p["lumo"],
                      lambda p: p["lumo"], "LUMO energy (Hartree)"),
    Target("dipole", lambda p: p["dipole"], _vector_label(lambda lab, c: lab.dipole, (3,)),
           _dipole_errors, doc="dipole vector (e Bohr)", extensive=True),
    _invariant_target("dipole_norm", "dipole_norm_debye", AU_TO_DEBYE,
                      lambda p: safe_norm(p["dipole"]), lambda p: _np_norm(p["dipole"]),
                      "|mu| (e Bohr): rotation invariant", extensive=True),
    Target("polarizability", lambda p: p["polarizability"],
           _vector_label(_polarizability, (3, 3)), _polarizability_errors,
           doc="static polarizability tensor (Bohr^3)", extensive=True),
    _invariant_target("polarizability_iso", "polarizability_iso_au", 1.0,
                      lambda p: iso(p["polarizability"]), lambda p: iso(p["polarizability"]),
                      "isotropic polarizability tr/3 (Bohr^3)", extensive=True),
    _invariant_target("polarizability_aniso", "polarizability_aniso_au", 1.0,
                      lambda p: anisotropy(p["polarizability"]),
                      lambda p: _np_aniso(p["polarizability"]),
                      "polarizability anisotropy sqrt(3/2 tr(d^2)) (Bohr^3)", extensive=True),
    _invariant_target("r2", "r2_au", 1.0, lambda p: p["r2"], lambda p: float(p["r2"]),
                      "electronic spatial extent <R^2> of the predicted density (Bohr^2)",
                      extensive=True),
    Target("excitations", lambda p: p["excitation_energies"], _exc_label, _exc_errors,
           reported="weighted", doc="lowest singlet excitation energies, sTDA-like layer "
           "against TDA (Hartree)"),
    Target("spectrum", lambda p: p["spectrum"], _spectrum_label, _spectrum_errors,
           reported="weighted", doc="Gaussian-broadened absorption spectrum of the lowest "
           "states, sTDA-like layer against TDA (per Hartree on the loss's grid)"),
    Target("matrix", lambda p: p["fock"], _matrix_label, lambda pred, ref, ctx: {},
           doc="model-basis Hamiltonian entries (Hartree)"),
)
BY_NAME = {t.name: t for t in TARGETS}


def weights(loss: LossConfig) -> dict[str, float]:
    """Target name -> loss weight."""
    return {t.name: float(getattr(loss, t.name)) for t in TARGETS}


# --------------------------------------------------------------------------- batches
def build_targets(refs: list[Reference], nao_pad: int, loss: LossConfig,
                  target_basis: str, mol_mask: np.ndarray | None = None) -> dict:
    """Padded target arrays for one batch (numpy; the caller moves them to the device).

    For every target with a non-zero weight: ``<name>`` (values, leading batch axis) and
    ``<name>_mask`` (True on the entries that count), plus ``mol_mask``. Filler molecules
    (``mol_mask`` False) and molecules without the label are masked out. Under
    ``loss.normalise: per_atom`` also ``<name>_weight`` ``(batch,)``: each molecule's
    factor on its summed squared error (1 / its entry count for an intensive target,
    1 / N_atoms^2 for an extensive one; 0 without the label), see `molecule_weights`.
    """
    b = len(refs)
    mol_mask = np.ones(b, bool) if mol_mask is None else np.asarray(mol_mask, bool)
    out: dict = {"mol_mask": mol_mask}
    ctx = Context(loss, target_basis)
    for t in TARGETS:
        if not getattr(loss, t.name):
            continue
        got = [t.label(r, ctx, nao_pad) for r in refs]
        shape = next((v.shape for v, _ in filter(None, got)), None)
        if shape is None:  # no molecule of the batch has it: an all-masked term
            shape = _empty_shape(t.name, nao_pad, loss)
        value, mask = np.zeros((b, *shape)), np.zeros((b, *shape), bool)
        for k, g in enumerate(got):
            if g is not None and mol_mask[k]:
                value[k], mask[k] = g
        out[t.name], out[f"{t.name}_mask"] = value, mask
        if loss.normalise == "per_atom":
            out[f"{t.name}_weight"] = molecule_weights(t, mask, [len(r.structure.numbers) for r in refs])
    return out


def molecule_weights(target: Target, mask: np.ndarray, n_atoms: list[int]) -> np.ndarray:
    """Per-molecule factors of arXiv:2504.01187's ``mse_per_atom`` loss.

    Molecule n's term is ``w_n * sum_entries (pred - label)^2``: ``w_n = 1 / (its entries)``
    for an intensive target (the mean over its MO energies), ``1 / N_atoms^2`` for an
    extensive one (`Target.extensive`), 0 for a molecule without the label.
    """
    count = mask.reshape(len(mask), -1).sum(1).astype(float)
    if target.extensive:
        w = 1.0 / np.maximum(np.asarray(n_atoms, float), 1.0) ** 2
    else:
        w = 1.0 / np.maximum(count, 1.0)
    return np.where(count > 0, w, 0.0)


def _empty_shape(name: str, nao_pad: int, loss: LossConfig) -> tuple[int, ...]:
    return {"eigenvalues": (nao_pad,), "dipole": (3,), "polarizability": (3, 3),
            "matrix": (nao_pad, nao_pad), "excitations": (loss.n_excitations,),
            "spectrum": (loss.spectrum_points,)}.get(name, ())


def check_labels(refs: list[Reference], loss: LossConfig, target_basis: str,
                 what: str = "training") -> dict[str, int]:
    """Molecules labelled per weighted target; an error names a weighted target that no
    molecule of ``refs`` has (a config asking for labels the data lack).

    Raises:
        ValueError: naming the target, the loss weight and how many molecules lack it.
    """
    ctx = Context(loss, target_basis)
    counts = {}
    for t in TARGETS:
        if not getattr(loss, t.name):
            continue
        counts[t.name] = sum(t.label(r, ctx, r.model.nao) is not None for r in refs)
        if counts[t.name] == 0:
            raise ValueError(f"train.loss.{t.name} has weight {getattr(loss, t.name):g} but no "
                             f"{what} molecule has a {t.name} label in {target_basis} "
                             f"({len(refs)} molecules): set it to 0 or add such labels")
    return counts
