"""The out-of-distribution score (`hamlearn.training.ood`): exact invariances, its
definition checked by brute force, flags for geometries and elements the training set
never had, save/load, and the run layer: written at training, reported at prediction."""

import json
from pathlib import Path

import ase.build
import ase.io
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from hamlearn.config import FeaturesConfig, load_config
from hamlearn.data.structure import Structure
from hamlearn.training import ood
from hamlearn.training.ood import FeatureSupport, farthest_points, ood_summary

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "training" / "data" / "tiny.yaml"
FEATURES = FeaturesConfig(atom_cutoff_ang=3.0, n_radial=3, l_max=2, species=(1, 6, 7, 8, 9))
TRAIN = ["H2O", "NH3", "CH4", "HCN", "H2CO", "CH3OH", "C2H6", "CH3CN", "C2H4", "HCOOH"]


def mol(name: str) -> Structure:
    return Structure.from_atoms(ase.build.molecule(name), name=name)


@pytest.fixture(scope="module")
def support():
    return FeatureSupport.fit([mol(n) for n in TRAIN], FEATURES)


def test_score_is_invariant_to_rotation_translation_and_atom_order(support, rng):
    s = mol("CH3OH")
    rot = Rotation.random(random_state=1).as_matrix()
    perm = rng.permutation(s.n_atoms)
    moved = Structure(s.numbers[perm], s.positions[perm] @ rot.T + np.array([3.0, -1.0, 2.0]),
                      name="moved")
    a, b = support.atom_scores([s, moved])
    np.testing.assert_allclose(b, a[perm], atol=1e-6)  # |q|^2 + |p|^2 - 2 q.p rounding
    # a training molecule's own atoms are kept (fewer than MAX_POINTS): distance 0
    assert np.abs(a).max() < 1e-6


def test_radius_is_the_largest_gap_of_a_training_atom(monkeypatch):
    """With fewer kept points than atoms: brute force over every training atom of its
    distance to the other kept atoms; every training atom then scores <= 1."""
    monkeypatch.setattr(ood, "MAX_POINTS", 6)
    structures = [mol(n) for n in TRAIN]
    sup = FeatureSupport.fit(structures, FEATURES)
    z, x = ood.atom_invariants(structures, FEATURES)
    h = sup.elements[1]
    assert len(h.points) == 6 < h.n_train_atoms == int((z == 1).sum())
    c = h.coordinates(x[z == 1])
    gaps = []
    for row in c:
        d = np.linalg.norm(h.points - row, axis=1)
        d[d < 1e-12] = np.inf  # the atom itself, when kept
        gaps.append(d.min())
    assert h.radius == pytest.approx(max(gaps), rel=1e-9)
    scores = np.concatenate(sup.atom_scores(structures))
    assert scores.max() <= 1 + 1e-9
    # the coordinates keep the distance in the principal subspace and the residual norm
    xc = x[z == 1] - h.mean
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), np.linalg.norm(xc, axis=1),
                               rtol=1e-9)


def test_farthest_points_covers_the_set(rng):
    x = rng.normal(size=(300, 4))
    kept = farthest_points(x, 20, seed=0)
    assert len(set(kept.tolist())) == 20
    d = np.linalg.norm(x[:, None] - x[kept][None], axis=2).min(1)
    # every point is within the last pick's distance (the covering radius of FPS)
    last = np.linalg.norm(x[kept[-1]] - x[kept[:-1]], axis=1).min()
    assert d.max() <= last + 1e-12


def test_squashed_geometry_and_unseen_element_are_flagged(support):
    water = mol("H2O")
    squashed = Structure(water.numbers, water.positions * 0.6, name="squashed")
    hf = Structure(np.array([9, 1]), np.array([[0, 0, 0], [0, 0, 1.75]]), name="HF")
    near = mol("CH3CHO")  # not trained on, made of trained-on environments
    s_sq, s_hf, s_near = support.score([squashed, hf, near])
    assert s_sq > 3 * ood.OOD_THRESHOLD
    assert np.isinf(s_hf) and "element without training atoms" in ood.ood_warning(s_hf)
    assert s_near < s_sq and ood.ood_warning(0.5) is None
    assert "ood_score" in ood.ood_warning(s_sq)


def test_save_and_load_give_the_same_scores(support, tmp_path):
    structures = [mol("CH3CHO"), mol("C2H2")]
    support.save(tmp_path / "ood.npz")
    back = FeatureSupport.load(tmp_path / "ood.npz", FEATURES)
    np.testing.assert_array_equal(back.score(structures), support.score(structures))


def test_summary_splits_errors_at_the_threshold():
    errors = [{"gap_ev": np.array([0.1])}, {"gap_ev": np.array([-0.3])},
              {"gap_ev": np.array([2.0])}, {}]
    s = ood_summary(np.array([0.2, 0.5, 4.0, 3.0]), errors, ["a", "b", "c", "d"])
    assert s["n_flagged"] == 2 and [f["name"] for f in s["flagged"]] == ["c", "d"]
    g = s["targets"]["gap_ev"]
    assert g["mae_unflagged"] == pytest.approx(0.2) and g["mae_flagged"] == pytest.approx(2.0)
    assert g["spearman_score_vs_mae"] == pytest.approx(1.0)


def test_runs_write_the_support_and_predictions_carry_the_score(tmp_path):
    """Training writes ood.npz from the training split (hybrid and direct runs);
    predict_file reports ood_score for every molecule and flags the squashed one
    (strict JSON: an infinite score is null)."""
    from hamlearn.runs import train
    from hamlearn.training.predict import predict_file

    cache = tmp_path / "cache"
    for kind in ("hamiltonian", "dipole"):
        cfg = load_config(TINY, [f"data.cache_dir={cache}", "eval.plots=false",
                                 f"model.kind={kind}"])
        train(cfg, tmp_path / kind, progress=False)
        assert (tmp_path / kind / "ood.npz").is_file()
    water = ase.build.molecule("H2O")
    squashed = water.copy()
    squashed.positions *= 0.6
    path = tmp_path / "new.xyz"
    ase.io.write(path, [water, squashed], format="extxyz")
    for kind in ("hamiltonian", "dipole"):
        out = predict_file(tmp_path / kind, path, tmp_path / f"pred-{kind}")
        assert [e["ok"] for e in out] == [True, True]
        assert out[0]["ood_score"] < 1e-6  # water was trained on
        # the run has one O environment (water's): the squashed O is infinitely far, null
        assert out[1]["ood_score"] is None
        assert any("out of the training data" in w for w in out[1]["warnings"])
        assert json.loads((tmp_path / f"pred-{kind}.json").read_text())[1]["ood_score"] is None



def test_a_single_training_environment_fits_only_itself():
    """One O atom in training: no spread to measure. The same environment scores 0, any
    other infinity (flagged), never a division by a zero radius."""
    sup = FeatureSupport.fit([mol("H2O"), mol("CH4")], FEATURES)
    assert sup.elements[8].radius == 0.0
    water, methanol = mol("H2O"), mol("CH3OH")
    a_water, a_meoh = sup.atom_scores([water, methanol])
    assert a_water[0] == 0.0 and np.isinf(a_meoh[list(methanol.numbers).index(8)])
