"""Strict config loading: unknown/mistyped keys fail naming key, file and line."""

import pytest

from hamlearn.config import ConfigError, config_from_dict, dump_config, load_config


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_round_trip(tmp_path):
    p = write(tmp_path, "data:\n  sources:\n    - ase: H2O\n  target_bases: [def2-svp]\n"
                        "features:\n  l_max: 3\n")
    cfg = load_config(p)
    assert cfg.features.l_max == 3 and cfg.data.sources[0].ase == "H2O"
    dump_config(cfg, tmp_path / "r.yaml")
    assert load_config(tmp_path / "r.yaml") == cfg


def test_unknown_key_names_key_file_and_line(tmp_path):
    p = write(tmp_path, "features:\n  l_max: 3\n  cutof: 2\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:3: unknown key 'features\.cutof'"):
        load_config(p)


def test_mistyped_value(tmp_path):
    p = write(tmp_path, "features:\n  l_max: three\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:2: 'features\.l_max' must be an integer"):
        load_config(p)


def test_override_checked(tmp_path):
    p = write(tmp_path, "features:\n  l_max: 3\n")
    assert load_config(p, ["features.l_max=2"]).features.l_max == 2
    with pytest.raises(ConfigError, match="unknown key 'train.nope'"):
        load_config(p, ["train.nope=1"])


def test_unknown_section():
    with pytest.raises(ConfigError, match="unknown key 'trian'.*did you mean 'train'"):
        config_from_dict({"trian": {}})


def test_invalid_yaml_names_line(tmp_path):
    p = write(tmp_path, "features:\n  l_max: [1,\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:\d+: not valid YAML"):
        load_config(p)


def test_choice_checked(tmp_path):
    p = write(tmp_path, "train:\n  schedule: cosin\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:2: 'train\.schedule' must be one of cosine"):
        load_config(p)


def test_nested_section(tmp_path):
    p = write(tmp_path, "train:\n  loss:\n    dipole: 0.5\n    dipol: 1\n")
    with pytest.raises(ConfigError, match=r"c\.yaml:4: unknown key 'train\.loss\.dipol'"):
        load_config(p)


def test_exponent_without_dot_is_a_number(tmp_path):
    # YAML 1.1 (PyYAML) reads 1e-3 as a string; float fields accept it, strings stay errors
    p = write(tmp_path, "train:\n  learning_rate: 1e-3\n")
    assert load_config(p).train.learning_rate == 1e-3
    assert load_config(p, ["model.ridge_alpha=1e-4"]).model.ridge_alpha == (1e-4,)
    with pytest.raises(ConfigError, match="must be a number"):
        load_config(write(tmp_path, "train:\n  learning_rate: 1e-3x\n"))
