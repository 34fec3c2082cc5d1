"""Run configuration: YAML -> frozen dataclasses, strict.

One frozen dataclass per section; `load_config(path)` builds a `Config` and fails on
the first unknown or mistyped key with an error that names the key, the file and the
line. `--set section.key=value` overrides go through the same checks. The resolved
config is written beside each run with `dump_config`.

Sections are defined in the module that owns them' concepts, but collected here so a
config file has one schema: ``data`` (reference data), ``features``, ``model``,
``train``, ``eval``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml

_FLOAT_RE = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class ConfigError(ValueError):
    """A config that cannot be used: names the key and the file (and line when known)."""


# --------------------------------------------------------------------------- sections
def choice(default: Any, *choices: Any) -> Any:
    """A dataclass field whose value must be one of ``choices`` (checked on load)."""
    return dataclasses.field(default=default, metadata={"choices": (default, *choices)})


def bounded(default: Any, lo: float | None = None, hi: float | None = None, *,
            lo_open: bool = False, why: str = "") -> Any:
    """A number field (or each element of a tuple field) within ``[lo, hi]`` (``(lo, hi]``
    with ``lo_open``), checked on load; ``why`` is added to the error."""
    return dataclasses.field(default=default,
                             metadata={"range": (lo, hi, lo_open, why)})


def _range_error(value: Any, bounds: tuple) -> str | None:
    lo, hi, lo_open, why = bounds
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if not math.isfinite(value):
        return f"must be a finite number (got {value!r})"
    if lo is not None and (value <= lo if lo_open else value < lo):
        return f"must be {'>' if lo_open else '>='} {lo:g} (got {value!r}){why}"
    if hi is not None and value > hi:
        return f"must be <= {hi:g} (got {value!r}){why}"
    return None


@dataclasses.dataclass(frozen=True)
class QM9SourceConfig:
    """A selection of QM9 molecules (`hamlearn.data.qm9`); every given criterion applies.

    Attributes:
        slice: use the slice shipped in the package (317 molecules) instead of the full
            QM9 of the ``qm9`` extra.
        full_spectrum: select among the molecules of the shipped full-spectrum label set
            (`hamlearn.data.labelset`: B3LYP/6-31G(2df,p) by pyscf, every MO energy, dipole
            vector, both polarizabilities); with ``data.labels: published`` its labels are
            the targets instead of QM9's. Needs no extra.
        min_heavy, max_heavy: heavy-atom count range (inclusive).
        heavy: exact heavy-atom counts (empty: any).
        elements: allowed elements, e.g. 'HCNO' (molecules with others are dropped).
        indices: QM9 indices to keep (empty: all).
        sample: draw this many of the matching molecules at random (``seed``).
        allow_9_heavy: molecules with 9 heavy atoms are held out of training and model
            selection by default (an error); true admits them (final tests only).
    """

    slice: bool = False
    full_spectrum: bool = False
    min_heavy: int = bounded(0, 0, 9)
    max_heavy: int | None = bounded(None, 0, 9)
    heavy: tuple[int, ...] = bounded((), 0, 9)
    elements: str | None = None
    indices: tuple[int, ...] = bounded((), 1)
    sample: int | None = bounded(None, 1)
    seed: int = 0
    allow_9_heavy: bool = False


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """One source of molecules for the dataset (exactly one of file/smiles/ase/cookbook/qm9).

    Attributes:
        file: a structure file any ase reader understands (xyz, extxyz...), relative
            paths resolved against the config file's folder.
        index: ase index/slice string selecting frames of ``file`` or ``cookbook``
            (``':'`` = all, ``':20'``, ``'3'``).
        smiles: a SMILES string (rdkit 3D embedding with a fixed seed, MMFF relaxed).
        ase: a name from ase's built-in molecule collection (``ase.build.molecule``).
        cookbook: 'qm7' or 'ethane200': the geometries of the published cookbook data,
            read from ``data.cookbook_dir``.
        qm9: a selection of QM9 geometries (`QM9SourceConfig`), e.g.
            ``{max_heavy: 7, sample: 500, seed: 0}``.
        charge: total charge of every molecule of this source; None: the source's own
            (extxyz ``charge=``, the SMILES' formal charge), else 0.
        spin: unpaired electrons 2S; None: the source's own (extxyz ``spin=``, SMILES
            radicals), else 0. Only closed shells (0) can be computed.
        name: label (defaults to the ase name / SMILES / file stem with frame index).
    """

    file: str | None = None
    index: str = ":"
    smiles: str | None = None
    ase: str | None = None
    cookbook: str | None = choice(None, "qm7", "ethane200")
    qm9: QM9SourceConfig | None = None
    charge: int | None = None
    spin: int | None = None
    name: str | None = None


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Reference data: which molecules, which method and bases, where it is cached.

    Attributes:
        sources: the molecules (`SourceConfig` list), in dataset order.
        method: 'rhf' or a pyscf DFT functional ('b3lyp', 'pbe0', ...).
        model_basis: minimal basis of the model; its F, S, dipole integrals are stored.
        target_bases: further pyscf bases whose labels are computed.
        polarizability: which to compute per basis: 'uncoupled' (sum over states),
            'coupled' (CPHF/CPKS).
        cache_dir: folder of the on-disk reference cache (relative to the config file).
        conv_tol: SCF energy convergence (Hartree); grid_level: DFT grid (pyscf levels).
        max_cycle: SCF iteration limit (a molecule that does not converge is a failure).
        n_workers: local worker processes (0: one per core / threads_per_worker; 1: in
            the calling process).
        threads_per_worker: OpenMP/BLAS threads of each worker (workers x threads are
            kept <= cores).
        dask_scheduler: address of a Dask distributed scheduler (``tcp://host:8786``);
            set, it replaces the local workers.
        cookbook_dir: folder of the cookbook data, for ``cookbook`` sources; None (the
            default): the copy shipped in the package, `hamlearn.data.cookbook.PUBLISHED_DIR`
            (kept None in saved configs, so a run folder does not record the install path).
        labels: 'compute' (pyscf, through the cache) or 'published': the cookbook's
            published labels as they are (no SCF is run), or QM9's invariant labels
            (HOMO, LUMO, gap, |mu|, coupled alpha_iso and anisotropy; filed under
            ``6-31g(2df,p)``) on model-basis references from the pipeline.
        cart: Cartesian d/f functions (6D/10F) in the target bases instead of spherical
            ones (the model basis stays spherical).
        density_fit: density fitting in the SCFs (faster; labels differ by ~1e-5 Hartree).
        excitations: lowest singlet excitations computed per basis by pyscf TDA (energies,
            oscillator strengths, transition dipoles); 0 (default): none.
        feature_store: where training keeps the features: 'memory' (all in RAM), or on
            disk under ``<cache_dir>/features/`` as memory-mapped 'float64' or 'float32'
            arrays (memory no longer grows with the dataset; reused by the next run on the
            same molecules and settings). Prediction always computes in memory.
        model_scf_sample: with ``labels: published`` (QM9), only a seeded sample of this
            many molecules of each qm9 source (``model_scf_seed``) gets the model-basis SCF, whose Fock the
            ridge initialisation and the plain minimal-basis row need; the others get the
            model-basis integrals only (S, dipole integrals: milliseconds, no SCF), enough
            to train on the published labels. None: every molecule gets the SCF; 0: none.
    """

    sources: tuple[SourceConfig, ...] = ()
    method: str = "b3lyp"
    model_basis: str = "sto-3g"
    target_bases: tuple[str, ...] = ("def2-svp",)
    polarizability: tuple[str, ...] = ("uncoupled", "coupled")
    cache_dir: str = "cache"
    conv_tol: float = bounded(1e-11, 0, 1e-2, lo_open=True)
    grid_level: int = bounded(4, 0, 9)
    max_cycle: int = bounded(100, 1)
    n_workers: int = bounded(0, 0)
    threads_per_worker: int = bounded(1, 1)
    dask_scheduler: str | None = None
    cookbook_dir: str | None = None
    labels: str = choice("compute", "published")
    cart: bool = False
    density_fit: bool = False
    excitations: int = bounded(0, 0)
    feature_store: str = choice("memory", "float64", "float32")
    model_scf_sample: int | None = bounded(None, 0)
    model_scf_seed: int = 0


@dataclasses.dataclass(frozen=True)
class FeaturesConfig:
    """Equivariant features (distances in Angstrom at this edge, Bohr inside).

    See `hamlearn.features` for the definitions. Attributes:
        atom_cutoff_ang: cutoff of the atom-centred neighbour densities (Angstrom).
        pair_cutoff_ang: pairs (i != j) closer than this get an off-site block (Angstrom);
            farther blocks are zero.
        n_radial: radial functions per species in the atom densities.
        l_max: largest angular momentum of the densities and pair harmonics.
        nu_onsite: body order of on-site features: 1 (densities) or 2 (+ CG products).
        nu_pair: body order of pair features: 0 (pair term only), 1 (+ pair x densities,
            each atom's density coupled with the pair direction) or 2 (+ the two-centre
            product of both atoms' densities, arXiv:2109.12083's (nu, nu') = (1, 1): the
            block sees the correlation of the two environments).
        species: atomic numbers the features (and the model) know.
        radial: 'bessel' (sin(k pi r/rc)/r) or 'gaussian' (evenly spaced), both times a
            smooth cosine cutoff.
        n_radial_pair: radial functions of r_ij in the pure pair term.
        pair_product_radial: radial functions of r_ij multiplying the density x pair
            harmonics products (1 = the cutoff function only).
        pair_nu2_l_max, pair_nu2_radial: nu_pair 2: the degrees (<= l_max) and the first
            radial functions per species of each density entering the two-centre product
            (its size is quadratic in both, so they are kept small).
    """

    atom_cutoff_ang: float = bounded(3.0, 0, 30, lo_open=True)
    pair_cutoff_ang: float = bounded(5.0, 0, 30, lo_open=True)
    n_radial: int = bounded(5, 1, 32)
    l_max: int = bounded(4, 0, 8, why=": feature and Clebsch-Gordan counts grow steeply with "
                         "l_max, and minimal-basis blocks need L <= 4 (d-d)")
    nu_onsite: int = choice(2, 1)
    nu_pair: int = choice(1, 0, 2)
    species: tuple[int, ...] = bounded((1, 6, 7, 8), 1, 118)
    radial: str = choice("bessel", "gaussian")
    n_radial_pair: int = bounded(8, 0, 64)
    pair_product_radial: int = bounded(1, 1, 32)
    pair_nu2_l_max: int = bounded(2, 0, 8)
    pair_nu2_radial: int = bounded(2, 1, 32)


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model: 'hamiltonian' (minimal-basis F) or a direct surrogate.

    Attributes:
        kind: 'hamiltonian' (minimal-basis F trained through the QM layer), or a direct
            surrogate baseline (`hamlearn.surrogate`) that predicts one property straight
            from atom-centred equivariant features, fitted in closed form (ridge, no
            epochs): 'dipole' (charges + atomic dipoles), 'polarizability' (isotropic
            + L=2 atomic terms), or one rotation invariant ('homo', 'lumo', 'gap',
            'dipole_norm', 'polarizability_iso', 'polarizability_aniso': a sum or mean
            over atoms of invariant atomic terms; for labels without a frame, QM9's). Direct models use ``features`` (on-site settings),
            ``ridge_alpha`` (several values: chosen on the validation split),
            ``train.target_basis`` and ``train.loss.polarizability_kind``; the loss
            weights and optimiser settings are ignored.
        basis: the minimal (model) basis, a pyscf basis name.
        ridge_alpha: relative ridge penalty of `ridge_fit` (dimensionless, times the mean
            diagonal of each normal matrix); several values: each (block type, irrep)
            picks its own by 4-fold cross-validation over molecules (better, but ~10x
            slower: 11 min for 120 QM7 molecules on a busy 2-core machine). Measured best
            single values: ~1e-8 for many geometries of one molecule (ethane), ~1e-3
            across QM7 (`benchmarks/fit_fock_ridge.py`).
        gated: multiply every equivariant output by an invariant gate ``1 + tanh(v . x0)``
            of the block's scalar features (a nonlinearity that keeps equivariance).
        baseline: delta learning on a physical model-basis Hamiltonian available at
            inference (`hamlearn.data.baseline`): the model predicts ``F - F0``. 'none'
            (the model predicts F), 'huckel' (extended Hueckel on S), 'sad' (one Fock build
            on the superposition of atomic densities, the run's functional and grid), 'gfn2'
            (GFN2-xTB's converged Hamiltonian in the model basis; needs tblite), 'scf'
            (the converged model-basis SCF: the plain minimal-basis calculation is the
            starting point, and inference runs that SCF).
    """

    kind: str = choice("hamiltonian", "dipole", "polarizability", "homo", "lumo", "gap",
                       "dipole_norm", "polarizability_iso", "polarizability_aniso")
    basis: str = "sto-3g"
    ridge_alpha: tuple[float, ...] = bounded((1e-3,), 0, lo_open=True)
    gated: bool = False
    baseline: str = choice("none", "huckel", "sad", "gfn2", "scf")


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """How molecules are split into train/validation/test.

    Attributes:
        kind: 'random' (seeded, ``fractions``), 'explicit' (index lists), or 'size'
            (train+validation on molecules with at most ``max_train_heavy_atoms`` heavy
            atoms, test on the larger ones: transferability).
        fractions: train/validation/test fractions for 'random' (and train/validation for
            'size', renormalised).
        train, validation, test: index lists for 'explicit'.
        max_train_heavy_atoms: size threshold for 'size'.
        n_train: keep a seeded subset of this many training molecules (validation and
            test unchanged: the points of a learning curve); None keeps them all.
    """

    kind: str = choice("random", "explicit", "size")
    fractions: tuple[float, ...] = bounded((0.7, 0.2, 0.1), 0, 1)
    train: tuple[int, ...] = bounded((), 0)
    validation: tuple[int, ...] = bounded((), 0)
    test: tuple[int, ...] = bounded((), 0)
    max_train_heavy_atoms: int = bounded(3, 0)
    n_train: int | None = bounded(None, 1)


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Multi-target loss: one weight per term; each term is normalised by its value for the
    initial model on the training set, so every term starts at its weight and weights
    mean relative importance of the improvement, whatever the unit.

    Attributes:
        eigenvalues, gap, dipole, polarizability, matrix: term weights (0 disables).
        homo, lumo, dipole_norm, polarizability_iso, polarizability_aniso: weights of the
            rotation-invariant terms (frontier levels, |mu|, tr(alpha)/3 and the anisotropy
            sqrt(3/2 tr(d^2))), for labels published without a frame.
        r2: weight of the electronic spatial extent <R^2> = tr(D <|r - O|^2>) of the
            predicted density (Bohr^2; QM9 publishes it).
        excitations: weight of the lowest ``n_excitations`` singlet excitation energies
            (the sTDA-like layer `hamlearn.qm.excitations` on the predicted MOs, against
            pyscf TDA labels: ``data.excitations >= n_excitations``).
        spectrum: weight of the Gaussian-broadened absorption spectrum (sum of f_n g(E - w_n)
            over the lowest ``n_excitations`` states) on a grid of ``spectrum_points``
            energies from ``spectrum_min_ev`` to ``spectrum_max_ev``, width
            ``spectrum_width_ev``: smooth where states cross or swap order, unlike the sorted
            energies of ``excitations``; compared below the label's highest state less two
            widths, where the reference spectrum is complete.
        (One weight per `hamlearn.training.targets.TARGETS` entry, same names.)
        n_excitations: states compared per molecule (sorted by energy; fewer where the
            label or the model basis's window has fewer).
        excitation_n_occ, excitation_n_virt: the layer's window of occupied and virtual MOs.
        excitation_ax: the layer's Fock-exchange fraction (0.2: B3LYP).
        eig_window: 'all' (the model's n_AO eigenvalues against the lowest n_AO of the
            reference) or 'occ+k' (occupied plus ``n_virtual`` virtual orbitals).
        n_virtual: virtual orbitals in the 'occ+k' window.
        polarizability_kind: reference polarizability, 'uncoupled' or 'coupled'.
        normalise: 'initial' (ours: each term is the MSE over all the batch's entries,
            divided by its value for the initial model, so weights are relative) or
            'per_atom' (arXiv:2504.01187's code, ``mse_per_atom``: per molecule, the mean
            squared error of an intensive target (MO energies: over its orbitals) or the
            summed squared error of an extensive one (dipole, polarizability, <R^2>) over
            N_atoms^2, then the mean over molecules; no normaliser, so weights are absolute:
            the paper uses 1e4 / 1e3 / 1e2 for eigenvalues / dipole / polarizability).
    """

    eigenvalues: float = bounded(1.0, 0)
    gap: float = bounded(0.0, 0)
    dipole: float = bounded(0.0, 0)
    polarizability: float = bounded(0.0, 0)
    matrix: float = bounded(0.0, 0)
    homo: float = bounded(0.0, 0)
    lumo: float = bounded(0.0, 0)
    dipole_norm: float = bounded(0.0, 0)
    polarizability_iso: float = bounded(0.0, 0)
    polarizability_aniso: float = bounded(0.0, 0)
    r2: float = bounded(0.0, 0)
    excitations: float = bounded(0.0, 0)
    spectrum: float = bounded(0.0, 0)
    eig_window: str = choice("all", "occ+k")
    n_virtual: int = bounded(0, 0)
    polarizability_kind: str = choice("uncoupled", "coupled")
    normalise: str = choice("initial", "per_atom")
    n_excitations: int = bounded(4, 1)
    excitation_n_occ: int = bounded(8, 1)
    excitation_n_virt: int = bounded(8, 1)
    excitation_ax: float = bounded(0.2, 0, 1, lo_open=True)
    spectrum_width_ev: float = bounded(0.3, 0, lo_open=True)
    spectrum_min_ev: float = bounded(2.0, 0)
    spectrum_max_ev: float = bounded(14.0, 0, lo_open=True)
    spectrum_points: int = bounded(121, 2)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, checkpoints.

    Attributes:
        seed: the one seed of a run (model init, shuffling).
        target_basis: the basis whose labels are the targets (must be in data.target_bases
            or be the model basis).
        epochs, batch_size: batch_size 0 means the whole training set in one batch.
        learning_rate, schedule ('constant' | 'cosine' | 'exponential' | 'plateau'),
            warmup_steps, decay_rate (exponential: factor per epoch), grad_clip (global
            norm; 0 = off).
        plateau_patience, plateau_factor: schedule 'plateau' (PyTorch's ReduceLROnPlateau,
            as in arXiv:2504.01187's code): the learning rate is multiplied by
            ``plateau_factor`` after ``plateau_patience`` validations in a row without a
            new best ``select`` metric (the count restarts after each reduction).
        ridge_init: start from the closed-form ridge fit of the model-basis Fock.
        prior_weight: weight of the relative squared distance ``||w - w0||^2 / ||w0||^2``
            of the parameters from the initial model (the ridge fit: the plain minimal-basis
            physics) added to the loss (0: off); the loss terms start at their weights, so
            1.0 lets the model move away only where a target gains as much.
        patience: early stopping after this many validations without improvement (0 = off).
        checkpoint_every: steps between checkpoints (0 = only at epoch ends).
        log_format: 'jsonl' or 'csv'; tensorboard: also write TensorBoard events.
        nao_buckets: padded AO sizes of the batches (empty: automatic powers of two-ish).
        devices: number of devices for data-parallel training (1 = no sharding).
        prefetch: training batches built ahead in a background thread while the step runs
            (0: built in turn). Pays where building a batch is a large part of a step (QM9
            batches of 64: step 0.18 s, building 0.08 s); on small molecules the thread
            competes with XLA for the cores and loses (QM7).
        select: the validation metric that picks the best model and drives early stopping:
            'loss' (the weighted, normalised validation loss), 'relative_mae' (the mean
            over the weighted targets of each validation MAE divided by the initial
            model's: MAE-based, so one outlier's squared error does not decide, as it can
            with MSE on a few dozen validation molecules), or one target's MAE.
    """

    seed: int = bounded(0, 0, 2**32 - 1)
    target_basis: str = "def2-svp"
    epochs: int = bounded(100, 1)
    batch_size: int = bounded(0, 0)
    learning_rate: float = bounded(1e-3, 0, 10, lo_open=True)
    schedule: str = choice("cosine", "constant", "exponential", "plateau")
    plateau_patience: int = bounded(10, 1)
    plateau_factor: float = bounded(0.5, 0, 1, lo_open=True)
    warmup_steps: int = bounded(0, 0)
    decay_rate: float = bounded(0.98, 0, 1, lo_open=True)
    grad_clip: float = bounded(1.0, 0)
    ridge_init: bool = True
    prior_weight: float = bounded(0.0, 0)
    patience: int = bounded(0, 0)
    checkpoint_every: int = bounded(0, 0)
    log_format: str = choice("jsonl", "csv")
    tensorboard: bool = False
    nao_buckets: tuple[int, ...] = bounded((), 1)
    devices: int = bounded(1, 1)
    prefetch: int = bounded(0, 0, 8)
    select: str = choice("loss", "relative_mae", "mae_eigenvalues_ev", "mae_gap_ev", "mae_dipole_debye",
                         "mae_polarizability_pct", "mae_polarizability_au", "mae_homo_ev",
                         "mae_lumo_ev", "mae_dipole_norm_debye", "mae_polarizability_iso_au",
                         "mae_polarizability_aniso_au", "mae_r2_au")
    split: SplitConfig = SplitConfig()
    loss: LossConfig = LossConfig()


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Evaluation and reporting.

    Attributes:
        plots: write parity plots (PNG).
        structures: default structure file for `scripts/evaluate.py` (relative to config).
    """

    plots: bool = True
    structures: str | None = None


@dataclasses.dataclass(frozen=True)
class Config:
    data: DataConfig = DataConfig()
    features: FeaturesConfig = FeaturesConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()
    #: folder of the config file (relative paths in it resolve here); not a YAML key
    root: str = dataclasses.field(default=".", metadata={"internal": True})

    def resolve_path(self, path: str | Path) -> Path:
        """``path`` relative to the config file's folder (absolute paths unchanged)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else Path(self.root) / p


# --------------------------------------------------------------------------- loading
def _line_map(text: str) -> dict[tuple[str, ...], int]:
    """Map each key path of a YAML document to its 1-based line."""
    out: dict[tuple[str, ...], int] = {}

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                key = path + (str(k.value),)
                out[key] = k.start_mark.line + 1
                walk(v, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, v in enumerate(node.value):
                out[path + (str(i),)] = v.start_mark.line + 1
                walk(v, path + (str(i),))

    try:
        walk(yaml.compose(text), ())
    except yaml.YAMLError:
        pass
    return out


def _where(source: str, lines: dict, path: tuple[str, ...]) -> str:
    line = lines.get(path)
    return f"{source}:{line}" if line else source


def _convert(value: Any, tp: Any, path: tuple[str, ...], source: str, lines: dict) -> Any:
    name = ".".join(path)
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{_where(source, lines, path)}: '{name}' must be a mapping, "
                              f"got {type(value).__name__}")
        fields = {f.name: f for f in dataclasses.fields(tp) if not f.metadata.get("internal")}
        kwargs = {}
        for key, sub in value.items():
            if key not in fields:
                full = ".".join(path + (str(key),))
                hint = _close_match(str(key), fields)
                raise ConfigError(f"{_where(source, lines, path + (str(key),))}: unknown key "
                                  f"'{full}'{hint}")
            hints = typing.get_type_hints(tp)
            kwargs[key] = _convert(sub, hints[key], path + (str(key),), source, lines)
            bounds = fields[key].metadata.get("range")
            if bounds is not None:
                _check_range(kwargs[key], bounds, path + (str(key),), source, lines)
            choices = fields[key].metadata.get("choices")
            if choices is not None and kwargs[key] not in choices:
                full = ".".join(path + (str(key),))
                raise ConfigError(f"{_where(source, lines, path + (str(key),))}: '{full}' must be "
                                  f"one of {', '.join(map(str, choices))}; got {kwargs[key]!r}")
        return tp(**kwargs)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, path, source, lines)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, (str, int, float, dict)):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{_where(source, lines, path)}: '{name}' must be a list")
        return tuple(_convert(v, args[0], path + (str(i),), source, lines)
                     for i, v in enumerate(value))
    if tp is float:
        if isinstance(value, str) and _FLOAT_RE.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-3 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{_where(source, lines, path)}: '{name}' must be a number, "
                              f"got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{_where(source, lines, path)}: '{name}' must be an integer, "
                              f"got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{_where(source, lines, path)}: '{name}' must be true or false, "
                              f"got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{_where(source, lines, path)}: '{name}' must be a string, "
                              f"got {value!r}")
        return value
    if tp is Any:
        return value
    raise ConfigError(f"{source}: unsupported type {tp} for '{name}'")


def _check_range(value: Any, bounds: tuple, path: tuple[str, ...], source: str,
                 lines: dict) -> None:
    items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
    for i, v in items:
        problem = _range_error(v, bounds)
        if problem:
            sub = path if i is None else path + (str(i),)
            where = _where(source, lines, sub) if sub in lines else _where(source, lines, path)
            raise ConfigError(f"{where}: '{'.'.join(path)}' {problem}")


def _close_match(key: str, fields) -> str:
    import difflib

    match = difflib.get_close_matches(key, list(fields), n=1)
    return f" (did you mean '{match[0]}'?)" if match else f" (known: {', '.join(fields)})"


def parse_overrides(overrides: list[str] | tuple[str, ...]) -> dict:
    """``['train.lr=1e-3', 'data.target_bases=[def2-svp]']`` -> nested dict (YAML values)."""
    out: dict = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected section.key=value")
        key, raw = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = yaml.safe_load(raw)
    return out


def _overridden(path: tuple[str, ...], extra: dict) -> bool:
    node = extra
    for part in path:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
        if not isinstance(node, dict):
            return True
    return False


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def config_from_dict(raw: dict, *, source: str = "<dict>", root: str = ".",
                     lines: dict | None = None) -> Config:
    """Build a `Config` from a nested dict with the same checks as `load_config`."""
    lines = lines or {}
    cfg = _convert(raw or {}, Config, (), source, lines)
    _check_sections(cfg, source, lines, training="train" in (raw or {}))
    return dataclasses.replace(cfg, root=str(root))


#: the loss weights of `LossConfig` (one per `hamlearn.training.targets.TARGETS` entry)
LOSS_WEIGHTS = ("eigenvalues", "gap", "homo", "lumo", "dipole", "dipole_norm", "polarizability",
                "polarizability_iso", "polarizability_aniso", "r2", "excitations", "spectrum",
                "matrix")

#: the basis QM9's published labels are filed under (`hamlearn.data.qm9.LABEL_BASIS`)
QM9_LABEL_BASIS = "6-31g(2df,p)"
#: bases of the published cookbook labels (`hamlearn.data.cookbook.BASES`)
PUBLISHED_BASES = ("sto-3g", "def2-tzvp")


def _check_sections(cfg: Config, source: str, lines: dict, training: bool) -> None:
    """Checks that involve several keys. Those that concern training only run for a config
    with a ``train`` section (a data-generation config needs none)."""

    def fail(path: str, msg: str):
        raise ConfigError(f"{_where(source, lines, tuple(path.split('.')))}: '{path}' {msg}")

    f, d, m, t = cfg.features, cfg.data, cfg.model, cfg.train
    if not f.species:
        fail("features.species", "is empty: list the atomic numbers of the data")
    if len(set(f.species)) != len(f.species):
        fail("features.species", f"has repeated elements {sorted(f.species)}")
    if f.nu_pair == 0 and f.n_radial_pair == 0:
        fail("features.n_radial_pair", "is 0 with nu_pair 0: the pair features would be empty")
    for key in ("data.model_basis", "model.basis", "train.target_basis"):
        _check_basis_name(getattr({"data": d, "model": m, "train": t}[key.split(".")[0]],
                                  key.split(".")[1]), key, fail)
    for i, b in enumerate(d.target_bases):
        _check_basis_name(b, f"data.target_bases.{i}", fail)
    _check_split(t.split, fail)
    if not training:
        return
    published = d.labels == "published"
    qm9_published = published and any(src.qm9 is not None for src in d.sources)
    if qm9_published and any(src.qm9 is None for src in d.sources):
        fail("data.sources", "mixes qm9 and other sources with labels: published: their "
             "labels come from different levels and programs; use one kind per run")
    full_spectrum = qm9_published and all(src.qm9.full_spectrum for src in d.sources)
    if qm9_published and not full_spectrum and any(src.qm9.full_spectrum for src in d.sources):
        fail("data.sources", "mixes qm9 sources with full_spectrum: true (pyscf's labels) and "
             "without (QM9's own, Gaussian): both would be filed as 6-31g(2df,p); use one kind "
             "per run")
    if (m.kind == "hamiltonian" and (not published or qm9_published)
            and m.basis.lower() != d.model_basis.lower()):
        fail("model.basis", f"is {m.basis!r} but data.model_basis is {d.model_basis!r}: the "
             "model predicts blocks in the basis the references store; make them equal")
    bases = ((d.model_basis, QM9_LABEL_BASIS) if qm9_published else PUBLISHED_BASES
             if published else (d.model_basis, *d.target_bases))
    if t.target_basis.lower() not in [b.lower() for b in bases]:
        fail("train.target_basis", f"is {t.target_basis!r}, which the references do not "
             f"have: choose one of {', '.join(bases)}"
             + ("" if published else " (or add it to data.target_bases)"))
    if d.model_scf_sample is not None and not published:
        fail("data.model_scf_sample", "applies to labels: published only (computed labels "
             "run the model-basis SCF of every molecule anyway)")
    lc = t.loss
    if m.kind == "hamiltonian" and not any(getattr(lc, k) for k in LOSS_WEIGHTS):
        fail("train.loss", "has every weight 0: nothing to train on")
    if lc.spectrum and lc.spectrum_max_ev <= lc.spectrum_min_ev:
        fail("train.loss.spectrum_max_ev", f"is {lc.spectrum_max_ev} but must exceed "
             f"spectrum_min_ev ({lc.spectrum_min_ev})")
    if lc.excitations or lc.spectrum:
        which = "excitations" if lc.excitations else "spectrum"
        if lc.n_excitations > lc.excitation_n_occ * lc.excitation_n_virt:
            fail("train.loss.n_excitations", f"is {lc.n_excitations} but the window "
                 f"excitation_n_occ x excitation_n_virt has only "
                 f"{lc.excitation_n_occ * lc.excitation_n_virt} states")
        if published:
            fail(f"train.loss.{which}", "needs TDA labels, which published label sets do "
                 "not have: use labels: compute with data.excitations")
        elif d.excitations < lc.n_excitations:
            fail("data.excitations", f"is {d.excitations} but train.loss.n_excitations is "
                 f"{lc.n_excitations}: compute at least as many TDA states as are compared")
    if (lc.polarizability or lc.polarizability_iso or lc.polarizability_aniso
            or m.kind.startswith("polarizability")):
        kinds = (("uncoupled", "coupled") if full_spectrum else ("coupled",) if qm9_published
                 else ("uncoupled",) if published else d.polarizability)
        if lc.polarizability_kind not in kinds:
            fail("train.loss.polarizability_kind", f"is {lc.polarizability_kind!r} but the "
                 f"references have only {', '.join(kinds) or 'no'} polarizabilities"
                 + ("" if published else " (data.polarizability)"))


def _check_split(sp: SplitConfig, fail) -> None:
    if sp.kind in ("random", "size"):
        fr = sp.fractions
        if not 2 <= len(fr) <= 3 or abs(sum(fr) - 1) > 1e-6 or fr[0] <= 0:
            fail("train.split.fractions", f"must be 2 or 3 fractions (train, validation[, "
                 f"test]) summing to 1 with train > 0; got {list(fr)}")
    else:
        parts = (*sp.train, *sp.validation, *sp.test)
        if len(set(parts)) != len(parts):
            fail("train.split", "explicit train/validation/test lists overlap")


@functools.cache
def _basis_problem(name: str) -> str | None:
    import warnings

    import pyscf.gto.basis

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for element in ("H", "C", "Si"):
            try:
                if pyscf.gto.basis.load(name, element):
                    return None
            except Exception:  # pyscf raises several types for unknown names
                continue
    import difflib

    known = list(getattr(pyscf.gto.basis, "ALIAS", {}))
    norm = name.lower().replace("-", "").replace("_", "")
    close = difflib.get_close_matches(norm, known, n=3)
    return (f"is not a basis pyscf knows ({name!r})"
            + (f"; close names: {', '.join(close)}" if close else ""))


def _check_basis_name(name: str, path: str, fail) -> None:
    problem = _basis_problem(name)
    if problem:
        fail(path, problem)


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config; unknown or mistyped keys raise `ConfigError` naming key and file.

    Args:
        path: the YAML file.
        overrides: ``section.key=value`` strings applied on top (``--set``).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    text = path.read_text()
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(err, 'problem', err)})") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections")
    lines = _line_map(text)
    cfg = config_from_dict(raw, source=str(path), root=str(path.resolve().parent), lines=lines)
    if overrides:
        extra = parse_overrides(overrides)
        merged = _merge(raw, extra)
        # a value given with --set has no line in the file: name the file alone
        lines = {k: v for k, v in lines.items() if not _overridden(k, extra)}
        cfg = config_from_dict(merged, source=f"{path} (with --set)", root=cfg.root, lines=lines)
    return cfg


def config_to_dict(cfg: Config) -> dict:
    """Plain nested dict of a config (tuples as lists), without internal fields."""

    def conv(obj):
        if dataclasses.is_dataclass(obj):
            return {f.name: conv(getattr(obj, f.name)) for f in dataclasses.fields(obj)
                    if not f.metadata.get("internal")}
        if isinstance(obj, (list, tuple)):
            return [conv(v) for v in obj]
        return obj

    return conv(cfg)


def dump_config(cfg: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (round-trips through `load_config`)."""
    Path(path).write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))


def with_absolute_paths(cfg: Config) -> Config:
    """The same config with every path field resolved against ``cfg.root`` (for saving a
    run's config elsewhere: ``data.cache_dir``, ``data.cookbook_dir``, source files,
    ``eval.structures``)."""

    def absolute(p):
        return None if p is None else str(cfg.resolve_path(p).resolve())

    data = cfg.data
    sources = tuple(dataclasses.replace(s, file=absolute(s.file)) for s in data.sources)
    data = dataclasses.replace(data, sources=sources, cache_dir=absolute(data.cache_dir),
                               cookbook_dir=absolute(getattr(data, "cookbook_dir", None)))
    ev = dataclasses.replace(cfg.eval, structures=absolute(cfg.eval.structures))
    return dataclasses.replace(cfg, data=data, eval=ev)
