"""The generic loop on a toy regression: resume equals an uninterrupted run, NaN steps are
skipped and counted, Ctrl-C writes a checkpoint, same seed gives the same result."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hamlearn.config import TrainConfig
from hamlearn.training.loop import RunLog, fit, has_checkpoint, resume
from hamlearn.training.step import (
    learning_rate,
    make_optimizer,
    make_train_step,
    reduce_learning_rate,
)

X = np.random.default_rng(0).normal(size=(40, 3))
Y = X @ np.array([1.0, -2.0, 0.5]) + 0.3


def loss_fn(model, batch):
    x, y = batch
    pred = jax.vmap(model)(x)[:, 0]
    loss = jnp.mean((pred - y) ** 2)
    return loss, {"mse": loss}


def batches_for_epoch(epoch, seed=0):
    order = np.random.default_rng([seed, epoch]).permutation(len(X))
    return [(jnp.asarray(X[order[i:i + 8]]), jnp.asarray(Y[order[i:i + 8]]))
            for i in range(0, len(X), 8)]


def validate(model):
    return {"loss": float(loss_fn(model, (jnp.asarray(X), jnp.asarray(Y)))[0])}


def setup(cfg):
    model = eqx.nn.Linear(3, 1, key=jax.random.PRNGKey(cfg.seed))
    opt = make_optimizer(cfg, steps_per_epoch=5)
    return model, opt.init(eqx.filter(model, eqx.is_inexact_array)), make_train_step(loss_fn, opt)


CFG = TrainConfig(epochs=6, learning_rate=0.05, schedule="constant", checkpoint_every=3)


def train_log(workdir):
    return [(r["step"], r["loss"]) for r in RunLog(workdir).read("train")]


def test_resume_after_crash_equals_uninterrupted(tmp_path):
    model, opt_state, step = setup(CFG)
    ref_model, *_ = fit(model, opt_state, step, batches_for_epoch, validate, CFG, tmp_path / "a",
                        progress=False)

    calls = {"n": 0}

    def crashing_step(*args):
        calls["n"] += 1
        if calls["n"] == 14:  # dies between checkpoints (last one at step 12)
            raise RuntimeError("simulated kill")
        return step(*args)

    model, opt_state, _ = setup(CFG)
    with pytest.raises(RuntimeError, match="simulated kill"):
        fit(model, opt_state, crashing_step, batches_for_epoch, validate, CFG, tmp_path / "b",
            progress=False)
    assert has_checkpoint(tmp_path / "b")
    skel_model, skel_opt, _ = setup(CFG)
    runlog = RunLog(tmp_path / "b")
    model, opt_state, state = resume(tmp_path / "b", skel_model, skel_opt, runlog)
    assert state.step == 12
    model, *_ = fit(model, opt_state, step, batches_for_epoch, validate, CFG, tmp_path / "b",
                    state=state, runlog=runlog, progress=False)
    assert train_log(tmp_path / "b") == train_log(tmp_path / "a")
    np.testing.assert_array_equal(model.weight, ref_model.weight)


def test_keyboard_interrupt_writes_checkpoint(tmp_path):
    model, opt_state, step = setup(CFG)

    n = {"k": 0}

    def step_then_ctrl_c(*args):
        n["k"] += 1
        if n["k"] == 8:
            raise KeyboardInterrupt
        return step(*args)

    with pytest.raises(KeyboardInterrupt):
        fit(model, opt_state, step_then_ctrl_c, batches_for_epoch, validate, CFG, tmp_path,
            progress=False)
    skel_model, skel_opt, _ = setup(CFG)
    _, _, state = resume(tmp_path, skel_model, skel_opt)
    assert state.step == 7


def test_nonfinite_steps_skipped_and_counted(tmp_path):
    model, opt_state, step = setup(CFG)

    def poisoned(epoch):
        batches = batches_for_epoch(epoch)
        x, y = batches[1]
        batches[1] = (x, y.at[0].set(jnp.nan))
        return batches

    cfg = dataclasses.replace(CFG, epochs=2)
    model, _, state = fit(model, opt_state, step, poisoned, validate, cfg, tmp_path,
                          progress=False)
    assert state.skipped_steps == 2
    assert np.all(np.isfinite(model.weight))
    assert validate(model)["loss"] < validate(setup(cfg)[0])["loss"]
    flags = [r["finite"] for r in RunLog(tmp_path).read("train")]
    assert flags.count(False) == 2


def test_same_seed_same_result(tmp_path):
    outs = []
    for name in ("x", "y"):
        model, opt_state, step = setup(CFG)
        model, *_ = fit(model, opt_state, step, batches_for_epoch, validate, CFG, tmp_path / name,
                        progress=False)
        outs.append(np.asarray(model.weight))
    np.testing.assert_array_equal(*outs)


def test_csv_log_truncation(tmp_path):
    log = RunLog(tmp_path, "csv")
    for s in range(1, 6):
        log.write({"kind": "train", "step": s, "loss": 1.0 / s})
    log.write({"kind": "val", "step": 5, "loss": 0.1})
    log.truncate_after(3)
    assert [r["step"] for r in log.read()] == [1, 2, 3]


def test_best_model_follows_selected_metric(tmp_path):
    # a fake validation whose 'loss' keeps falling while 'mae_dipole_debye' is best at
    # epoch 2: selection and early stopping must follow the selected metric only
    model, opt_state, step = setup(CFG)
    dipole = iter([3.0, 1.0, 2.0, 2.5, 2.2, 2.1])
    loss = iter([6.0, 5.0, 4.0, 3.0, 2.0, 1.0])

    def fake_validate(m):
        return {"loss": next(loss), "mae_dipole_debye": next(dipole)}

    cfg = dataclasses.replace(CFG, patience=3, select="mae_dipole_debye")
    _, _, state = fit(model, opt_state, step, batches_for_epoch, fake_validate, cfg, tmp_path,
                      progress=False, metric=cfg.select)
    assert (state.best_epoch, state.best_metric) == (2, 1.0)
    assert state.stopped_early and state.epoch == 5
    best = [r["epoch"] for r in RunLog(tmp_path).read("val") if r["best"]]
    assert best == [1, 2]


def test_unknown_selected_metric_fails_clearly(tmp_path):
    model, opt_state, step = setup(CFG)
    with pytest.raises(KeyError, match="train.select='mae_gap_ev'"):
        fit(model, opt_state, step, batches_for_epoch, validate, CFG, tmp_path, progress=False,
            metric="mae_gap_ev")


def test_checkpoint_survives_a_kill_between_its_two_files(tmp_path, monkeypatch):
    # simulate kill -9 after the new leaves are written but before the JSON is committed:
    # the previous checkpoint must still load, with its own checksum
    from hamlearn.training import checkpoint as ck

    model = eqx.nn.Linear(3, 1, key=jax.random.PRNGKey(0))
    ck.save_checkpoint(tmp_path, "last", model, {"step": 1})
    newer = eqx.nn.Linear(3, 1, key=jax.random.PRNGKey(1))

    def killed(path, writer):
        if path.suffix == ".json":
            raise KeyboardInterrupt  # stands in for SIGKILL before the commit point
        return real(path, writer)

    real = ck._atomic_write_bytes
    monkeypatch.setattr(ck, "_atomic_write_bytes", killed)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint(tmp_path, "last", newer, {"step": 2})
    monkeypatch.undo()
    loaded, meta = ck.load_checkpoint(tmp_path, "last", model)
    assert meta["step"] == 1
    np.testing.assert_array_equal(loaded.weight, model.weight)
    ck.save_checkpoint(tmp_path, "last", newer, {"step": 2})
    assert ck.load_checkpoint(tmp_path, "last", model)[1]["step"] == 2
    assert len(list(tmp_path.glob("last.*.eqx"))) == 1  # older leaves cleaned up


def test_partial_last_log_line_is_dropped_on_resume(tmp_path):
    log = RunLog(tmp_path)
    for s in range(1, 5):
        log.write({"kind": "train", "step": s, "loss": 1.0 / s})
    with open(tmp_path / "log.jsonl", "a") as f:
        f.write('{"kind": "train", "step": 5, "lo')  # cut by kill -9 mid-line
    log.truncate_after(3)
    assert [r["step"] for r in log.read()] == [1, 2, 3]
    assert (tmp_path / "log.jsonl").read_text().endswith("}\n")


def _saved(tmp_path):
    from hamlearn.training.checkpoint import save_checkpoint

    model = eqx.nn.Linear(3, 1, key=jax.random.PRNGKey(0))
    folder = tmp_path / "ck"
    info = save_checkpoint(folder, "last", model, {"step": 3})
    import json

    blob = folder / json.loads(info.read_text())["blob"]
    return model, folder, info, blob


@pytest.mark.parametrize("damage, message", [
    ("truncate_blob", "does not match its checksum"),
    ("flip_blob", "does not match its checksum"),
    ("truncate_json", "is damaged (not valid JSON"),
    ("no_checksum", "is damaged (no checksum)"),
    ("missing_blob", "its leaves file last."),
    ("missing_json", "no checkpoint 'last' in"),
])
def test_damaged_checkpoint_is_detected_and_named(tmp_path, damage, message):
    from hamlearn.training.checkpoint import CheckpointError, load_checkpoint

    model, folder, info, blob = _saved(tmp_path)
    load_checkpoint(folder, "last", model)  # intact: loads
    data = blob.read_bytes()
    if damage == "truncate_blob":
        blob.write_bytes(data[:len(data) // 2])
    elif damage == "flip_blob":
        blob.write_bytes(data[:-3] + bytes([data[-3] ^ 0x01]) + data[-2:])
    elif damage == "truncate_json":
        info.write_text(info.read_text()[:15])
    elif damage == "no_checksum":
        info.write_text('{"step": 3}')
    elif damage == "missing_blob":
        blob.unlink()
    else:
        info.unlink()
    import re

    with pytest.raises(CheckpointError, match=re.escape(message)) as err:
        load_checkpoint(folder, "last", model)
    assert "\n" not in str(err.value)
    if damage in ("truncate_json", "no_checksum"):
        assert str(info) in str(err.value)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_drops_the_validation_of_an_epoch_not_in_the_checkpoint(tmp_path, fmt):
    # found by the soak: a checkpoint at an epoch's last step (step 6, epoch 1 done), then
    # the epoch-2 validation is logged and the process is killed before the next checkpoint
    log = RunLog(tmp_path, fmt)
    for s in range(1, 7):
        log.write({"kind": "train", "step": s, "epoch": (s - 1) // 3, "loss": 1.0 / s})
        if s % 3 == 0:
            log.write({"kind": "val", "step": s, "epoch": s // 3, "loss": 0.5})
    log.truncate_after(6, epoch=1)
    assert [(r["kind"], r["step"]) for r in log.read("val")] == [("val", 3)]
    assert [r["step"] for r in log.read("train")] == list(range(1, 7))


def test_plateau_schedule_halves_the_rate_after_patience_and_resumes(tmp_path):
    """Schedule 'plateau' (ReduceLROnPlateau): the rate is cut by the factor after
    ``plateau_patience`` validations without a new best, the count restarts after a cut,
    the optimizer really steps with the lowered rate, and a resumed run keeps both."""
    values = [5.0, 4.0, 4.5, 4.2, 3.0, 3.5, 3.6, 3.7, 3.8, 3.9]

    it = iter(values)

    def fake_validate(m):
        return {"loss": next(it)}

    cfg = dataclasses.replace(CFG, schedule="plateau", plateau_patience=2, plateau_factor=0.5,
                              epochs=6, learning_rate=0.04)
    model, opt_state, step = setup(cfg)
    _, opt_state, state = fit(model, opt_state, step, batches_for_epoch, fake_validate, cfg,
                              tmp_path, progress=False)
    rates = [r["learning_rate"] for r in RunLog(tmp_path).read("val")]
    # best at 1, 2; two bad (3, 4): cut; best at 5; one bad (6)
    assert rates == pytest.approx([0.04, 0.04, 0.04, 0.02, 0.02, 0.02])
    assert state.plateau_bad == 1
    assert learning_rate(opt_state) == pytest.approx(0.02)

    # the update really uses the injected rate: one Adam step's first move is ~lr
    m0, s0, st0 = setup(cfg)
    moved = [np.abs(np.asarray(st(m0, s, batches_for_epoch(0)[0])[0].weight - m0.weight)).max()
             for st, s in ((st0, s0), (st0, reduce_learning_rate(s0, 0.5)))]
    assert moved[1] == pytest.approx(moved[0] / 2, rel=1e-6)

    # resume: 4 more bad epochs; the first completes the pending count (cut at 7), then 9
    cfg10 = dataclasses.replace(cfg, epochs=10)
    skel_model, skel_opt, _ = setup(cfg10)
    runlog = RunLog(tmp_path)
    model, opt_state, state = resume(tmp_path, skel_model, skel_opt, runlog)
    assert (state.plateau_bad, learning_rate(opt_state)) == (1, pytest.approx(0.02))
    rest = iter(values[6:])
    fit(model, opt_state, step, batches_for_epoch, lambda m: {"loss": next(rest)}, cfg10,
        tmp_path, state=state, runlog=runlog, progress=False)
    rates = [r["learning_rate"] for r in RunLog(tmp_path).read("val")]
    assert rates[6:] == pytest.approx([0.01, 0.01, 0.005, 0.005])
