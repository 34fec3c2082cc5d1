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


@dataclasses.dataclass(frozen=True)
class SourceConfig:
    """One source of molecules for the dataset (exactly one of file/smiles/ase/cookbook).

    Attributes:
        file: a structure file any ase reader understands (xyz, extxyz...), relative
            paths resolved against the config file's folder.
        index: ase index/slice string selecting frames of ``file`` or ``cookbook``
            (``':'`` = all, ``':20'``, ``'3'``).
        smiles: a SMILES string (rdkit 3D embedding with a fixed seed, MMFF relaxed).
        ase: a name from ase's built-in molecule collection (``ase.build.molecule``).
        cookbook: 'qm7' or 'ethane200': the geometries of the published cookbook data,
            read from ``data.cookbook_dir``.
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
        cookbook_dir: folder of the cookbook data, for ``cookbook`` sources.
        labels: 'compute' (pyscf, through the cache) or 'published' (use the cookbook's
            published labels as they are; cookbook sources only, no SCF is run).
    """

    sources: tuple[SourceConfig, ...] = ()
    method: str = "b3lyp"
    model_basis: str = "sto-3g"
    target_bases: tuple[str, ...] = ("def2-svp",)
    polarizability: tuple[str, ...] = ("uncoupled", "coupled")
    cache_dir: str = "cache"
    conv_tol: float = 1e-11
    grid_level: int = 4
    max_cycle: int = 100
    n_workers: int = 0
    threads_per_worker: int = 1
    dask_scheduler: str | None = None
    cookbook_dir: str | None = None
    labels: str = choice("compute", "published")


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
        nu_pair: body order of pair features: 0 (pair term only) or 1 (+ pair x densities).
        species: atomic numbers the features (and the model) know.
        radial: 'bessel' (sin(k pi r/rc)/r) or 'gaussian' (evenly spaced), both times a
            smooth cosine cutoff.
        n_radial_pair: radial functions of r_ij in the pure pair term.
        pair_product_radial: radial functions of r_ij multiplying the density x pair
            harmonics products (1 = the cutoff function only).
    """

    atom_cutoff_ang: float = 3.0
    pair_cutoff_ang: float = 5.0
    n_radial: int = 5
    l_max: int = 4
    nu_onsite: int = 2
    nu_pair: int = 1
    species: tuple[int, ...] = (1, 6, 7, 8)
    radial: str = choice("bessel", "gaussian")
    n_radial_pair: int = 8
    pair_product_radial: int = 1


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """The model: 'hamiltonian' (minimal-basis F) or a direct surrogate.

    Attributes:
        kind: 'hamiltonian' (minimal-basis F trained through the QM layer), or a direct
            surrogate baseline (`hamlearn.surrogate`) that predicts one property straight
            from atom-centred equivariant features, fitted in closed form (ridge, no
            epochs): 'dipole' (charges + atomic dipoles) or 'polarizability' (isotropic
            + L=2 atomic terms). Direct models use ``features`` (on-site settings),
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
    """

    kind: str = choice("hamiltonian", "dipole", "polarizability")
    basis: str = "sto-3g"
    ridge_alpha: tuple[float, ...] = (1e-3,)
    gated: bool = False


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
    """

    kind: str = choice("random", "explicit", "size")
    fractions: tuple[float, ...] = (0.7, 0.2, 0.1)
    train: tuple[int, ...] = ()
    validation: tuple[int, ...] = ()
    test: tuple[int, ...] = ()
    max_train_heavy_atoms: int = 3


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """Multi-target loss: one weight per term; each term is normalised by its value for the
    initial model on the training set, so every term starts at its weight and weights
    mean relative importance of the improvement, whatever the unit.

    Attributes:
        eigenvalues, gap, dipole, polarizability, matrix: term weights (0 disables).
        eig_window: 'all' (the model's n_AO eigenvalues against the lowest n_AO of the
            reference) or 'occ+k' (occupied plus ``n_virtual`` virtual orbitals).
        n_virtual: virtual orbitals in the 'occ+k' window.
        polarizability_kind: reference polarizability, 'uncoupled' or 'coupled'.
    """

    eigenvalues: float = 1.0
    gap: float = 0.0
    dipole: float = 0.0
    polarizability: float = 0.0
    matrix: float = 0.0
    eig_window: str = choice("all", "occ+k")
    n_virtual: int = 0
    polarizability_kind: str = choice("uncoupled", "coupled")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimisation, schedule, checkpoints.

    Attributes:
        seed: the one seed of a run (model init, shuffling).
        target_basis: the basis whose labels are the targets (must be in data.target_bases
            or be the model basis).
        epochs, batch_size: batch_size 0 means the whole training set in one batch.
        learning_rate, schedule ('constant' | 'cosine' | 'exponential'), warmup_steps,
            decay_rate (exponential: factor per epoch), grad_clip (global norm; 0 = off).
        ridge_init: start from the closed-form ridge fit of the model-basis Fock.
        patience: early stopping after this many validations without improvement (0 = off).
        checkpoint_every: steps between checkpoints (0 = only at epoch ends).
        log_format: 'jsonl' or 'csv'; tensorboard: also write TensorBoard events.
        nao_buckets: padded AO sizes of the batches (empty: automatic powers of two-ish).
        devices: number of devices for data-parallel training (1 = no sharding).
        select: the validation metric that picks the best model and drives early stopping:
            'loss' (the weighted, normalised validation loss) or one target's MAE.
    """

    seed: int = 0
    target_basis: str = "def2-svp"
    epochs: int = 100
    batch_size: int = 0
    learning_rate: float = 1e-3
    schedule: str = choice("cosine", "constant", "exponential")
    warmup_steps: int = 0
    decay_rate: float = 0.98
    grad_clip: float = 1.0
    ridge_init: bool = True
    patience: int = 0
    checkpoint_every: int = 0
    log_format: str = choice("jsonl", "csv")
    tensorboard: bool = False
    nao_buckets: tuple[int, ...] = ()
    devices: int = 1
    select: str = choice("loss", "mae_eigenvalues_ev", "mae_gap_ev", "mae_dipole_debye",
                         "mae_polarizability_pct", "mae_polarizability_au")
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


def _merge(base: dict, extra: dict) -> dict:
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def config_from_dict(raw: dict, *, source: str = "<dict>", root: str = ".",
                     lines: dict | None = None) -> Config:
    """Build a `Config` from a nested dict with the same checks as `load_config`."""
    cfg = _convert(raw or {}, Config, (), source, lines or {})
    return dataclasses.replace(cfg, root=str(root))


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
        merged = _merge(raw, parse_overrides(overrides))
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
