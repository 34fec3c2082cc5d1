"""Every config value is checked against its range when the config loads, before any work,
with the file and line (or '(with --set)' for an override)."""

import glob
from pathlib import Path

import pytest

from hamlearn.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(glob.glob(str(ROOT / "configs" / "*.yaml"))
                 + glob.glob(str(ROOT / "tests" / "**" / "*.yaml"), recursive=True))
BASE = """data:
  sources:
    - ase: H2O
  method: rhf
  target_bases: [def2-svp]
  polarizability: [uncoupled]
features:
  atom_cutoff_ang: 3.0
  l_max: 2
  species: [1, 8]
model:
  ridge_alpha: [1.0e-3]
train:
  epochs: 10
  learning_rate: 1.0e-3
  target_basis: def2-svp
  split:
    kind: random
    fractions: [0.6, 0.2, 0.2]
  loss:
    eigenvalues: 1.0
    polarizability: 0.5
"""


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: Path(p).name)
def test_every_shipped_config_loads(path):
    load_config(path)


@pytest.mark.parametrize("old, new, message", [
    ("atom_cutoff_ang: 3.0", "atom_cutoff_ang: -1", r":8: 'features.atom_cutoff_ang' must be > 0"),
    ("l_max: 2", "l_max: 40", r":9: 'features.l_max' must be <= 8 \(got 40\): feature"),
    ("species: [1, 8]", "species: [1, 0]", r":10: 'features.species' must be >= 1 \(got 0\)"),
    ("species: [1, 8]", "species: [1, 8, 1]", r":10: 'features.species' has repeated"),
    ("ridge_alpha: [1.0e-3]", "ridge_alpha: [1.0e-3, 0]", r":12: 'model.ridge_alpha' must be > 0"),
    ("epochs: 10", "epochs: 0", r":14: 'train.epochs' must be >= 1 \(got 0\)"),
    ("learning_rate: 1.0e-3", "learning_rate: .nan", r":15: 'train.learning_rate' must be a fin"),
    ("target_basis: def2-svp", "target_basis: def2-tzvp",
     r":16: 'train.target_basis' is 'def2-tzvp', which the references do not have"),
    ("fractions: [0.6, 0.2, 0.2]", "fractions: [0.6, 0.2, 0.3]",
     r":19: 'train.split.fractions' must be 2 or 3 fractions"),
    ("eigenvalues: 1.0", "eigenvalues: -1.0", r":21: 'train.loss.eigenvalues' must be >= 0"),
    ("eigenvalues: 1.0\n    polarizability: 0.5", "eigenvalues: 0\n    polarizability: 0",
     r":20: 'train.loss' has every weight 0"),
    ("polarizability: 0.5", "polarizability: 0.5\n    polarizability_kind: coupled",
     r":23: 'train.loss.polarizability_kind' is 'coupled' but the references have only "
     r"uncoupled"),
    ("method: rhf", "method: rhf\n  model_basis: sto-42g",
     r":5: 'data.model_basis' is not a basis pyscf knows \('sto-42g'\); close names: sto"),
    ("method: rhf", "method: rhf\n  grid_level: 12", r":5: 'data.grid_level' must be <= 9"),
])
def test_bad_value_in_the_file_names_key_file_and_line(tmp_path, old, new, message):
    assert old in BASE
    path = tmp_path / "c.yaml"
    path.write_text(BASE.replace(old, new))
    with pytest.raises(ConfigError, match=r"c\.yaml" + message):
        load_config(path)


@pytest.mark.parametrize("override, message", [
    ("features.atom_cutoff_ang=-1", r"'features.atom_cutoff_ang' must be > 0 \(got -1.0\)"),
    ("train.epochs=-3", r"'train.epochs' must be >= 1 \(got -3\)"),
    ("model.basis=sto-42g", r"'model.basis' is not a basis pyscf knows"),
    ("features.l_max=40", r"'features.l_max' must be <= 8"),
    ("features.nu_onsite=3", r"'features.nu_onsite' must be one of 2, 1; got 3"),
    ("model.basis=6-31g", r"'model.basis' is '6-31g' but data.model_basis is 'sto-3g'"),
    ("data.n_workers=-1", r"'data.n_workers' must be >= 0"),
])
def test_bad_override_names_key_and_file(tmp_path, override, message):
    path = tmp_path / "c.yaml"
    path.write_text(BASE)
    with pytest.raises(ConfigError, match=r"c\.yaml \(with --set\): " + message):
        load_config(path, [override])


def test_data_only_config_needs_no_training_consistency(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  sources:\n    - ase: H2\n  target_bases: []\n")
    assert load_config(path).data.target_bases == ()
