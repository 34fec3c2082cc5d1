"""Property-based: whatever a user feeds in ends in a result or one clear error line,
never a traceback or a NaN (issue: robustness).

Random structures (element mixes inside and outside the basis, near-coincident atoms,
huge and tiny coordinates, NaN, charges, spins), truncated and malformed structure files,
misspelled and mistyped config keys, and a few random valid molecules through the whole
prediction path.
"""

import json
import string

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from hamlearn.config import ConfigError, config_to_dict, load_config
from hamlearn.data.reference import model_basis_data
from hamlearn.data.sources import SourceError, read_structures
from hamlearn.data.structure import Structure, StructureError
from hamlearn.data.validate import validate_structure
from hamlearn.training.predict import predict_with_model
from hamlearn.training.run import build_model

from .conftest import TINY

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                       HealthCheck.too_slow])
COORD = st.one_of(st.floats(-6, 6), st.floats(-1e6, 1e6), st.floats(-1e-9, 1e-9),
                  st.sampled_from([np.nan, np.inf, -np.inf]))


def one_line(err: Exception) -> bool:
    text = str(err)
    return bool(text.strip()) and "\n" not in text and "Traceback" not in text


@st.composite
def structures(draw, max_atoms=6, coords=COORD, elements=st.integers(0, 120)):
    n = draw(st.integers(0, max_atoms))
    numbers = draw(st.lists(elements, min_size=n, max_size=n))
    positions = draw(st.lists(st.tuples(coords, coords, coords), min_size=n, max_size=n))
    charge = draw(st.integers(-3, 3))
    spin = draw(st.integers(-1, 3))
    return Structure(numbers=numbers, positions=np.array(positions, float).reshape(n, 3),
                     charge=charge, spin=spin, name="random")


GRID = np.array([(x, y, z) for x in range(3) for y in range(3) for z in range(3)], float)


@st.composite
def molecules(draw, max_atoms=4, elements=st.sampled_from([1, 6, 7, 8, 9, 16])):
    """Mostly sensible molecules: atoms on a 1.2 Angstrom grid (jittered), an even electron
    count by the charge, closed shell; some elements outside the model's species."""
    n = draw(st.integers(1, max_atoms))
    sites = draw(st.lists(st.integers(0, len(GRID) - 1), min_size=n, max_size=n, unique=True))
    jitter = np.array(draw(st.lists(st.floats(-0.2, 0.2), min_size=3 * n, max_size=3 * n)))
    numbers = draw(st.lists(elements, min_size=n, max_size=n))
    positions_ang = 1.2 * GRID[sites] + jitter.reshape(n, 3)
    charge = sum(numbers) % 2 * draw(st.sampled_from([1, -1]))
    import ase

    atoms = ase.Atoms(numbers=numbers, positions=positions_ang)
    return Structure.from_atoms(atoms, charge=charge, spin=0, name="random")


@settings(max_examples=300, **SETTINGS)
@given(st.one_of(structures(), molecules()))
def test_validation_accepts_or_names_the_problem_in_one_line(s):
    try:
        validate_structure(s, bases=("sto-3g",), species=(1, 6, 7, 8))
    except StructureError as err:
        assert one_line(err) and str(err).startswith("random: ")
        event("rejected")
        return
    event("accepted")
    # what passes can be computed: finite model-basis integrals, closed shell, known species
    assert set(s.numbers.tolist()) <= {1, 6, 7, 8} and s.spin == 0
    assert s.n_electrons > 0 and s.n_electrons % 2 == 0
    data = model_basis_data(s, "sto-3g")
    assert np.all(np.isfinite(data.ovlp)) and np.all(np.isfinite(data.dip_ints))


VALID_XYZ = ("3\nwater\nO 0 0 0\nH 0 0 0.96\nH 0.93 0 -0.24\n"
             "2\nh2\nH 0 0 0\nH 0 0 0.74\n"
             "5\nmethane\nC 0 0 0\nH 0.63 0.63 0.63\nH -0.63 -0.63 0.63\n"
             "H -0.63 0.63 -0.63\nH 0.63 -0.63 -0.63\n")


@st.composite
def damaged_files(draw):
    lines = VALID_XYZ.splitlines()
    for _ in range(draw(st.integers(0, 3))):
        k = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "garble", "insert", "token"]))
        junk = draw(st.text(string.ascii_letters + string.digits + " .-+=\"#\t", max_size=20))
        if action == "drop":
            del lines[k]
        elif action == "garble":
            lines[k] = junk
        elif action == "insert":
            lines.insert(k, junk)
        else:
            parts = lines[k].split() or [""]
            parts[draw(st.integers(0, len(parts) - 1))] = junk or "x"
            lines[k] = " ".join(parts)
        if not lines:
            lines = [""]
    text = "\n".join(lines) + "\n"
    return text[:draw(st.integers(0, len(text)))] if draw(st.booleans()) else text


@settings(max_examples=200, **SETTINGS)
@given(damaged_files(), st.sampled_from([".xyz", ".extxyz"]))
def test_damaged_structure_files_give_frames_and_located_reasons(tmp_path, text, suffix):
    path = tmp_path / f"f{suffix}"
    path.write_text(text)
    skipped = []
    try:
        got = read_structures(path, skipped=skipped)
    except SourceError as err:  # only a file that cannot be read at all
        assert one_line(err) and str(path) in str(err)
        return
    assert len(got) <= 3
    assert all(isinstance(s, Structure) for s in got)
    for frame in skipped:
        assert str(path) in str(frame) and "\n" not in str(frame) and frame.line >= 1
    frames = sorted({int(s.label.split("[")[1][:-1]) for s in got} | {f.frame for f in skipped})
    assert frames == list(range(len(frames)))  # every frame read or reported, none twice


KEYS = [(sec, key) for sec, fields in config_to_dict(load_config(TINY)).items()
        if isinstance(fields, dict) for key in fields if sec != "data" or key != "sources"]
VALUES = st.one_of(st.integers(-10**6, 10**6), st.floats(allow_nan=True), st.booleans(),
                   st.none(), st.text(max_size=8), st.lists(st.integers(-5, 200), max_size=4),
                   st.just({"a": 1}))


@settings(max_examples=300, **SETTINGS)
@given(st.sampled_from(KEYS), VALUES, st.booleans(), st.integers(0, 30))
def test_config_values_and_keys_load_or_fail_in_one_line(tmp_path, key, value, misspell, pos):
    section, name = key
    if misspell:
        k = pos % len(name)
        name = name[:k] + ("x" if name[k] != "x" else "y") + name[k + 1:]
    path = tmp_path / "c.yaml"
    path.write_text(TINY.read_text())
    try:
        cfg = load_config(path, [f"{section}.{name}={json.dumps(value)}"])
    except ConfigError as err:
        assert one_line(err) and "c.yaml" in str(err)
        return
    assert not misspell or name in config_to_dict(cfg)[section]


class _Model(tuple):
    """(config, model) with a short repr: hypothesis prints the test's arguments when a
    case fails, and the model's repr is hundreds of kB (a HypothesisWarning, an error)."""

    def __repr__(self) -> str:
        return "<tiny config, random model>"


@pytest.fixture(scope="module")
def random_model():
    cfg = load_config(TINY)
    return _Model((cfg, build_model(cfg, key=jax.random.PRNGKey(3))))


@settings(max_examples=8, **SETTINGS)
@given(molecules())
@example(Structure(numbers=[8, 1, 1], positions=[[0, 0, 0], [0, 0, 1.8], [1.7, 0, -0.5]],
                   name="random water"))
@example(Structure(numbers=[1, 1], positions=[[0, 0, 0], [0, 0, 1.4]], charge=-2,
                   name="random H2(2-)"))  # electrons fill every STO-3G orbital: no LUMO
def test_random_molecules_predict_finite_or_fail_in_one_line(random_model, s):
    cfg, model = random_model
    (entry,) = predict_with_model(cfg, model, [s])
    text = json.dumps(entry, allow_nan=False)  # strict JSON: no NaN anywhere
    event("predicted" if entry["ok"] else "rejected")
    if entry["ok"]:
        values = np.concatenate([np.ravel(entry[k]) for k in
                                 ("mo_energies_ev", "dipole_debye", "polarizability_au")])
        assert np.all(np.isfinite(values)) and len(entry["mo_energies_ev"]) > 0
    else:
        assert "\n" not in entry["error"] and entry["error"].startswith("random")
        assert text
