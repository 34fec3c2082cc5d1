"""Delta learning on a baseline Hamiltonian (`model.baseline`) end to end on tiny data: the
ridge initialisation fits F - F0, so on the SCF baseline the initial model *is* the plain
minimal-basis calculation; every baseline trains, evaluates and predicts molecules without
references (their baseline computed at inference)."""

from pathlib import Path

import jax
import numpy as np
import pytest

from hamlearn.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "training" / "data" / "tiny.yaml"


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def _cfg(cache, baseline, *extra):
    return load_config(TINY, [f"data.cache_dir={cache}", f"model.baseline={baseline}",
                              "eval.plots=false", *extra])


def test_scf_baseline_initial_model_is_the_plain_calculation(cache):
    from hamlearn.training.batches import Batcher, prepare
    from hamlearn.training.evaluate import predict_batch
    from hamlearn.training.references import load_references
    from hamlearn.training.run import initial_model
    from hamlearn.training.split import make_split

    cfg = _cfg(cache, "scf")
    refs = load_references(cfg, progress=False)
    data = prepare(refs, cfg)
    split = make_split([r.structure for r in refs], cfg.train.split, cfg.train.seed)
    model = initial_model(cfg, data, split)
    batch = Batcher(data, cfg, len(refs)).batch(list(range(len(refs))))
    fock = np.asarray(jax.jit(predict_batch)(model, batch)["fock"])
    for k, r in enumerate(refs):  # F0 + ridge fit of a zero residual = the SCF Fock
        n = r.model.nao
        np.testing.assert_allclose(fock[k, :n, :n], r.model.fock, atol=1e-12)
    # the weights fitted to zero are zero: the model part adds nothing
    leaves = jax.tree_util.tree_leaves(model.weights)
    assert max(float(np.abs(w).max()) for w in leaves if w.size) < 1e-12


@pytest.mark.parametrize("baseline", ["huckel", "sad", "gfn2", "scf"])
def test_every_baseline_trains_evaluates_and_predicts(cache, tmp_path, baseline):
    import ase.build

    if baseline == "gfn2":
        pytest.importorskip("tblite.interface", reason="the gfn2 baseline needs tblite")

    from hamlearn.data.structure import Structure
    from hamlearn.training.predict import predict_structures
    from hamlearn.training.run import train

    cfg = _cfg(cache, baseline)
    res = train(cfg, tmp_path / "run", progress=False)
    assert np.isfinite(res.test_metrics["mae_eigenvalues_ev"])
    assert res.data.qm[0].base_fock is not None
    # a molecule never seen: its baseline is computed at inference
    new = Structure.from_atoms(ase.build.molecule("CH3OH"))
    (entry,) = predict_structures(tmp_path / "run", [new])
    assert entry["ok"], entry
    assert np.isfinite(entry["gap_ev"]) and len(entry["dipole_debye"]) == 3


def test_sad_baseline_moves_the_prediction_by_the_baseline(cache, tmp_path):
    """Same weights, with and without the baseline: F differs by exactly F0."""
    from hamlearn.data.baseline import sad_fock
    from hamlearn.data.reference import ReferenceSettings
    from hamlearn.training.batches import Batcher, prepare
    from hamlearn.training.evaluate import predict_batch
    from hamlearn.training.references import load_references
    from hamlearn.training.run import build_model

    cfg = _cfg(cache, "sad")
    plain = _cfg(cache, "none")
    refs = load_references(cfg, progress=False)
    model = build_model(cfg, key=jax.random.PRNGKey(1))
    outs = []
    for c in (cfg, plain):
        data = prepare(refs, c)
        outs.append(np.asarray(predict_batch(model, Batcher(data, c, 5).batch(
            list(range(5))))["fock"]))
    settings = ReferenceSettings.from_config(cfg.data)
    for k, r in enumerate(refs):
        n = r.model.nao
        np.testing.assert_allclose(outs[0][k, :n, :n] - outs[1][k, :n, :n],
                                   sad_fock(r.structure, settings), atol=1e-10)


def test_unknown_baseline_is_a_config_error(cache):
    with pytest.raises(ConfigError, match="baseline"):
        _cfg(cache, "xtb")


def test_own_basis_errors_of_the_initial_model(cache, tmp_path):
    """The ridge initialisation against the model-basis SCF in its own basis: exactly zero
    on the SCF baseline, and for a model predicting F itself the same numbers as a direct
    comparison of the two spectra."""
    import json

    from hamlearn.training.run import train

    res = train(_cfg(cache, "scf", "train.epochs=1"), tmp_path / "scf", progress=False)
    own = json.loads((tmp_path / "scf" / "own_basis_init.json").read_text())
    assert own["n_molecules"] == 1 and own["mae_fock_mha"] < 1e-9
    assert own["mae_dipole_debye"] < 1e-8 and own["mae_mo_occupied_ev"] < 1e-8

    from hamlearn.qm import QMInputs, qm_forward
    from hamlearn.training.batches import Batcher
    from hamlearn.training.evaluate import own_basis_errors
    from hamlearn.training.run import initial_model
    from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV

    cfg = _cfg(cache, "none")
    res = train(cfg, tmp_path / "none", progress=False)
    model, data, split = initial_model(cfg, res.data, res.split), res.data, res.split
    got = own_basis_errors(model, data, Batcher(data, cfg, 2), split.test)
    (i,) = [int(k) for k in split.test]
    r = data.refs[i]
    qm = QMInputs.from_model_data(r.model, r.structure)
    from hamlearn.model import predict_fock

    ref, pred = qm_forward(r.model.fock, qm), qm_forward(predict_fock(model, r.structure), qm)
    occ = np.asarray(ref["mo_occ"]) > 0
    want_mo = HARTREE_TO_EV * np.mean(np.abs(np.asarray(pred["mo_energy"] - ref["mo_energy"])[occ]))
    want_dip = AU_TO_DEBYE * np.linalg.norm(np.asarray(pred["dipole"] - ref["dipole"]))
    assert got["mae_mo_occupied_ev"] == pytest.approx(want_mo, rel=1e-8)
    assert got["mae_dipole_debye"] == pytest.approx(want_dip, rel=1e-8)
    assert got["mae_mo_occupied_ev"] > 1e-4  # a fit, not the SCF itself


def test_a_failed_baseline_scf_fails_only_its_molecule(cache, tmp_path):
    import ase.build

    from hamlearn.data.structure import Structure
    from hamlearn.training.predict import predict_with_model
    from hamlearn.training.run import train

    res = train(_cfg(cache, "scf", "train.epochs=1"), tmp_path / "run", progress=False)
    # water's SCF is in the cache; acetaldehyde's must run (no other test predicts it), and
    # one cycle cannot converge
    strict = _cfg(cache, "scf", "data.max_cycle=1")
    water, new = (Structure.from_atoms(ase.build.molecule(n)) for n in ("H2O", "CH3CHO"))
    got = predict_with_model(strict, res.model, [new, water])
    assert not got[0]["ok"] and "converge" in got[0]["error"]
    assert got[1]["ok"] and np.isfinite(got[1]["gap_ev"])


def test_relative_mae_selection(cache, tmp_path):
    """``train.select: relative_mae``: the initial model's validation MAEs are stored, every
    validation row carries the mean ratio to them, and the best epoch is its minimum."""
    import json

    from hamlearn.training.run import relative_mae, train

    cfg = _cfg(cache, "sad", "train.select=relative_mae", "train.epochs=3")
    train(cfg, tmp_path / "run", progress=False)
    initial = json.loads((tmp_path / "run" / "validation_init.json").read_text())
    rows = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    val = [r for r in rows if r["kind"] == "val"]
    weights = {"eigenvalues": 1.0, "dipole": 1.0, "polarizability": 0.1}
    for r in val:
        want = np.mean([r["mae_eigenvalues_ev"] / initial["mae_eigenvalues_ev"],
                        r["mae_dipole_debye"] / initial["mae_dipole_debye"],
                        np.mean([r["mae_polarizability_au"] / initial["mae_polarizability_au"],
                                 r["mae_polarizability_pct"]
                                 / initial["mae_polarizability_pct"]])])
        assert r["relative_mae"] == pytest.approx(want, rel=1e-12)
        assert relative_mae(r, initial, weights) == pytest.approx(want, rel=1e-12)
    best = json.loads((tmp_path / "run" / "checkpoints" / "best.json").read_text())
    assert best["epoch"] == min(val, key=lambda r: r["relative_mae"])["epoch"]


def test_loss_part_variants_are_ours_and_the_papers_design():
    """compare.py's ``loss`` part: ours (the base config) and arXiv:2504.01187's design
    (per-atom errors, absolute weights by target family, plateau schedule, twice the
    epochs), each on F itself and on the SCF baseline."""
    from hamlearn.training.study import study_variants

    got = {v.name: v.load() for v in study_variants(TINY, ["loss"])}
    assert list(got) == ["ours", "paper", "ours+scf", "paper+scf"]
    base = load_config(TINY)
    assert got["ours"] == base
    for name in ("paper", "paper+scf"):
        t = got[name].train
        assert (t.loss.normalise, t.schedule, t.plateau_patience) == ("per_atom", "plateau", 10)
        assert (t.loss.eigenvalues, t.loss.dipole, t.loss.polarizability) == (1e4, 1e3, 1e2)
        assert t.loss.gap == 0 and t.epochs == 2 * base.train.epochs
    assert got["paper+scf"].model.baseline == got["ours+scf"].model.baseline == "scf"
    assert got["paper"].model.baseline == "none"


def test_papers_loss_design_trains_with_absolute_weights(cache, tmp_path):
    """The paper's design end to end on tiny data: the scales are 1 (absolute weights),
    the first logged loss is the weighted per-molecule sum computed here from the
    initial model's predictions, and the plateau schedule logs its rate."""
    import json

    from hamlearn.training.batches import Batcher, prepare
    from hamlearn.training.evaluate import forward
    from hamlearn.training.references import load_references
    from hamlearn.training.run import initial_model, train
    from hamlearn.training.split import make_split

    cfg = _cfg(cache, "none", "train.loss.normalise=per_atom", "train.loss.eigenvalues=1e4",
               "train.loss.dipole=1e3", "train.loss.polarizability=1e2",
               "train.schedule=plateau", "train.plateau_patience=1", "train.epochs=3")
    res = train(cfg, tmp_path / "run", progress=False)
    assert json.loads((tmp_path / "run" / "scales.json").read_text()) == {
        "eigenvalues": 1.0, "dipole": 1.0, "polarizability": 1.0}
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    val = [r for r in rows if r["kind"] == "val"]
    assert all(r["learning_rate"] > 0 for r in val) and len(val) == 3

    refs = load_references(cfg, progress=False)
    data = prepare(refs, cfg)
    train_idx = [int(i) for i in make_split([r.structure for r in refs], cfg.train.split,
                                            cfg.train.seed).train]
    batch = Batcher(data, cfg, len(train_idx)).batch(train_idx)
    out = forward(initial_model(cfg, data, res.split), batch)
    want = 0.0
    for k, i in enumerate(train_idx):  # numpy, from the formula
        r, n_at = refs[i], len(refs[i].structure.numbers)
        lab = r.labels["sto-3g"]
        n = r.model.nao
        want += 1e4 * np.mean((np.asarray(out["mo_energy"][k, :n]) - lab.mo_energy[:n]) ** 2)
        want += 1e3 * np.sum((np.asarray(out["dipole"][k]) - lab.dipole) ** 2) / n_at**2
        want += 1e2 * np.sum((np.asarray(out["polarizability"][k])
                              - lab.polarizability_uncoupled) ** 2) / n_at**2
    first = next(r for r in rows if r["kind"] == "train")
    assert first["loss"] == pytest.approx(want / len(train_idx), rel=1e-8)


@pytest.mark.parametrize("switch", ["model.gated=true", "features.nu_pair=2"])
def test_capacity_switches_train_and_predict(cache, tmp_path, switch):
    """compare.py's capacity part: each switch trains, evaluates and predicts on tiny data,
    and the nu = 2 pair features really enlarge the pair inputs."""
    import ase.build

    from hamlearn.data.structure import Structure
    from hamlearn.features import make_spec
    from hamlearn.training.predict import predict_with_model
    from hamlearn.training.run import train

    cfg = _cfg(cache, "none", switch)
    res = train(cfg, tmp_path / "run", progress=False)
    assert np.isfinite(res.test_metrics["mae_eigenvalues_ev"])
    new = Structure.from_atoms(ase.build.molecule("CH3OH"), name="methanol")
    (entry,) = predict_with_model(cfg, res.model, [new])
    assert entry["ok"] and np.isfinite(entry["gap_ev"])
    if switch.startswith("features"):
        base = make_spec(_cfg(cache, "none").features, cfg.model.basis)
        spec = make_spec(cfg.features, cfg.model.basis)
        sizes = lambda sp: {zz: dict(irs) for zz, irs in sp.pairs}  # noqa: E731
        for pair, irs in sizes(spec).items():
            assert all(n > sizes(base)[pair][ir] for ir, n in irs.items()), pair
