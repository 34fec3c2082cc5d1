"""Molecules from each kind of source, with explicit charge/spin and clear errors."""

import ase.build
import ase.io
import numpy as np
import pytest

from hamlearn.config import ConfigError, DataConfig, SourceConfig, load_config
from hamlearn.data.sources import (SourceError, from_ase_name, from_atoms, from_smiles,
                                   load_structures, read_structures)
from hamlearn.units import ANGSTROM_TO_BOHR


def test_from_atoms_converts_to_bohr_and_keeps_charge_spin():
    atoms = ase.build.molecule("NH3")
    s = from_atoms(atoms, charge=1, spin=1, name="nh3+")
    np.testing.assert_allclose(s.positions, atoms.positions * ANGSTROM_TO_BOHR, rtol=0, atol=1e-14)
    assert (s.charge, s.spin, s.name, s.n_electrons) == (1, 1, "nh3+", 9)


def test_ase_name_and_unknown_name():
    s = from_ase_name("CH3OH")
    assert s.formula == "CH4O" and s.name == "CH3OH" and (s.charge, s.spin) == (0, 0)
    with pytest.raises(SourceError, match="'H2Oo' is not a molecule name ase knows"):
        from_ase_name("H2Oo")


def test_smiles_is_deterministic_and_chemically_sane():
    a, b = from_smiles("CCO"), from_smiles("CCO")
    assert a.formula == "C2H6O" and a.name == "CCO"
    np.testing.assert_array_equal(a.positions, b.positions)  # fixed seed
    d = np.linalg.norm(a.positions[0] - a.positions[1]) / ANGSTROM_TO_BOHR
    assert 1.45 < d < 1.58  # a C-C single bond


def test_smiles_charge_from_formal_charge_and_mismatch_error():
    assert from_smiles("[NH4+]").charge == 1
    assert from_smiles("[NH4+]", charge=1).n_electrons == 10
    with pytest.raises(SourceError, match=r"\[NH4\+\].*charge=0 but the SMILES implies 1"):
        from_smiles("[NH4+]", charge=0)
    with pytest.raises(SourceError, match="rdkit cannot parse"):
        from_smiles("C1CC(")


def test_xyz_frames_index_and_names(tmp_path):
    path = tmp_path / "mols.xyz"
    ase.io.write(path, [ase.build.molecule(n) for n in ("H2O", "NH3", "CH4")])
    all_ = read_structures(path)
    assert [s.name for s in all_] == ["mols[0]", "mols[1]", "mols[2]"]
    assert [s.formula for s in read_structures(path, index="1:")] == ["H3N", "CH4"]
    assert [s.name for s in read_structures(path, index="-1", name="x")] == ["x[2]"]


def test_extxyz_info_charge_spin_and_override(tmp_path):
    path = tmp_path / "ions.extxyz"
    path.write_text("2\ncharge=-1 Properties=species:S:1:pos:R:3\nO 0 0 0\nH 0 0 0.97\n")
    (s,) = read_structures(path)
    assert (s.charge, s.spin, s.n_electrons) == (-1, 0, 10)
    (t,) = read_structures(path, charge=1, spin=1)
    assert (t.charge, t.spin) == (1, 1)


@pytest.mark.parametrize("text, line, reason", [
    ("3\nc\nO 0 0 0\nH 0 0 1\nH 0 x 0\n", 5, "coordinates are not numbers"),
    ("3\nc\nO 0 0 0\nH 0 0 1\n", 5, "file ends inside a frame"),
    ("2\nc\nO 0 0 0\nH 0 0 1\nthree\nc\n", 5, "expected an atom count"),
    ("2\nc\nO 0 0 0\nQq 0 0 1\n", 4, "unknown element 'Qq'"),
])
def test_malformed_xyz_names_file_and_line(tmp_path, text, line, reason):
    path = tmp_path / "bad.xyz"
    path.write_text(text)
    with pytest.raises(SourceError, match=rf"bad\.xyz: line {line}: {reason}"):
        read_structures(path)


@pytest.mark.parametrize("text", ["", "\n\n"])
def test_empty_file_is_named(tmp_path, text):
    path = tmp_path / "empty.xyz"
    path.write_text(text)
    with pytest.raises(SourceError, match="empty.xyz: no structures in the file"):
        read_structures(path, skipped=[])


def test_missing_file_named(tmp_path):
    with pytest.raises(SourceError, match="nope.xyz: structure file not found"):
        read_structures(tmp_path / "nope.xyz")


def test_load_structures_from_config(tmp_path):
    ase.io.write(tmp_path / "two.xyz", [ase.build.molecule("H2"), ase.build.molecule("HF")])
    cfg_path = tmp_path / "c.yaml"
    cfg_path.write_text("data:\n  sources:\n    - ase: H2O\n    - smiles: C#N\n      name: hcn\n"
                        "    - file: two.xyz\n      index: '1'\n      charge: 1\n      spin: 1\n")
    cfg = load_config(cfg_path)
    got = load_structures(cfg.data, cfg.root)
    assert [(s.name, s.formula, s.charge, s.spin) for s in got] == [
        ("H2O", "H2O", 0, 0), ("hcn", "CHN", 0, 0), ("two[1]", "HF", 1, 1)]


def test_config_source_errors_name_the_key(tmp_path):
    two = DataConfig(sources=(SourceConfig(ase="H2O"), SourceConfig(ase="H2", smiles="[H][H]")))
    with pytest.raises(SourceError, match=r"data\.sources\.1: give exactly one of"):
        load_structures(two, tmp_path)
    missing = DataConfig(sources=(SourceConfig(file="gone.xyz"),))
    with pytest.raises(SourceError, match=r"data\.sources\.0: .*gone\.xyz: structure file not"):
        load_structures(missing, tmp_path)
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  sources:\n    - cookbook: qm8\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3: 'data\.sources\.0\.cookbook' must be one"):
        load_config(p)


def test_cookbook_source_geometries(cookbook_dir):
    data = DataConfig(sources=(SourceConfig(cookbook="qm7", index=":2"),),
                      cookbook_dir=str(cookbook_dir))
    got = load_structures(data)
    assert [s.name for s in got] == ["qm7[0]", "qm7[1]"] and got[1].formula == "C2H6"
