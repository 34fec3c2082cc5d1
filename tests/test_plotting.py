"""hamlearn.plotting: the figures draw what they are given (checked on the artists)."""

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hamlearn.data.record import Labels, Reference  # noqa: E402
from hamlearn.plotting import (  # noqa: E402
    epoch_means,
    heavy_atom_colors,
    parity_panels,
    plot_parity,
    plot_blocks,
    plot_levels,
    training_curve_panels,
)
from hamlearn.training.curves import plot_training_curves, read_log  # noqa: E402
from hamlearn.units import AU_TO_DEBYE, HARTREE_TO_EV  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def test_plot_blocks_frames_every_onsite_block(ax):
    # water in STO-3G: O has 5 AOs (1s 2s 2p), each H one
    mat = np.arange(49.0).reshape(7, 7)
    image = plot_blocks(ax, mat, [8, 1, 1], vmax=10.0)
    frames = [(p.get_x(), p.get_width()) for p in ax.patches]
    assert frames == [(-0.5, 5), (4.5, 1), (5.5, 1)]
    assert np.array_equal(image.get_array(), mat)
    assert image.get_clim() == (-10.0, 10.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["O0", "H1", "H2"]
    assert np.allclose(ax.get_xticks(), [2.0, 5.0, 6.0])  # AO 0..4, 5, 6


def test_plot_blocks_rejects_a_matrix_of_another_basis(ax):
    with pytest.raises(ValueError, match="7"):
        plot_blocks(ax, np.eye(6), [8, 1, 1])


def test_plot_levels_draws_occupied_and_virtual_levels(ax):
    levels = {"a": np.array([-10.0, -5.0, 1.0, 2.0, 3.0]), "b": np.array([-11.0, -4.0, 2.0])}
    plot_levels(ax, levels, nocc=2, n_virtual=2)
    segments = [seg for coll in ax.collections for seg in coll.get_segments()]
    heights = sorted(float(s[0][1]) for s in segments)
    assert heights == sorted([-10.0, -5.0, 1.0, 2.0, -11.0, -4.0, 2.0])  # 3.0 is beyond the window
    styles = [coll.get_linestyle()[0][1] is not None for coll in ax.collections]
    assert styles.count(True) == 3  # three dashed (virtual) levels
    assert len(ax.lines) == 3  # level k of column a joined to level k of column b
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b"]


def _reference(structure, mo_energy, dipole, alpha):
    lab = Labels(basis="def2-svp", mo_energy=np.asarray(mo_energy), nocc=1,
                 dipole=np.asarray(dipole), polarizability_uncoupled=np.asarray(alpha))
    return Reference(structure=structure, method="rhf", model=None, labels={"def2-svp": lab})


def _axes(fig):
    return {ax.get_label(): ax for ax in fig.axes}


def _points(ax):
    return np.concatenate([c.get_offsets() for c in ax.collections])


@pytest.fixture
def evaluated(small_molecules):
    """Reference labels (Hartree, e Bohr, Bohr^3) and signed errors (eV, D, a.u.) of H2O
    (1 heavy atom), CH4 (1) and H2 (0): each with a core level at -20 Hartree (-544 eV)
    except H2."""
    refs = [_reference(small_molecules["H2O"], [-20.0, -1.0, 0.5], [0.0, 0.0, 0.7],
                       np.eye(3) * 8.0),
            _reference(small_molecules["CH4"], [-11.0, -0.8, 0.6], [0.0, 0.0, 0.0],
                       np.eye(3) * 15.0),
            _reference(small_molecules["H2"], [-0.6, 0.7], [0.0, 0.0, 0.0], np.eye(3) * 5.0)]
    errors = [{"eigenvalues_ev": np.array([1.0, 0.1, -0.2]),
               "dipole_debye": np.array([0.0, 0.0, 0.3]), "polarizability_au": np.full(9, -1.0)},
              {"eigenvalues_ev": np.array([-3.0, 0.3, 0.0]), "dipole_debye": np.zeros(3),
               "polarizability_au": np.full(9, 2.0)},
              {"eigenvalues_ev": np.array([0.2, 0.4]), "dipole_debye": np.zeros(3),
               "polarizability_au": np.full(9, 1.5)}]
    fig = parity_panels({"errors": errors}, refs, "def2-svp", "uncoupled")
    yield fig
    plt.close(fig)


def test_parity_valence_panel_plots_reference_against_reference_plus_error(evaluated):
    pts = _points(_axes(evaluated)["valence"])
    x = np.array([-1.0, 0.5, -0.8, 0.6, -0.6, 0.7]) * HARTREE_TO_EV
    y = x + [0.1, -0.2, 0.3, 0.0, 0.2, 0.4]
    order = np.argsort(pts[:, 0])
    assert np.allclose(pts[order], np.column_stack([x, y])[np.argsort(x)])
    assert "MAE 0.2 eV" in _axes(evaluated)["valence"].get_title()


def test_parity_valence_axes_exclude_core_levels_and_core_panel_has_them(evaluated):
    axes = _axes(evaluated)
    valence = axes["valence"]
    core_ev = np.array([-20.0, -11.0]) * HARTREE_TO_EV  # O 1s, C 1s
    assert valence.get_xlim()[0] > -50.0 and valence.get_ylim()[0] > -50.0
    assert valence.get_xlim()[0] > core_ev.max() + 100.0  # not squeezed by the core levels
    assert valence.get_xlim()[0] < -1.0 * HARTREE_TO_EV  # but the lowest valence level is in
    core = _points(axes["core"])
    assert np.allclose(np.sort(core[:, 0]), np.sort(core_ev))
    assert np.allclose(np.sort(core[:, 1] - core[:, 0]), [-3.0, 1.0])
    assert "MAE 2 eV" in axes["core"].get_title()


def test_parity_legend_has_one_entry_per_heavy_atom_count_and_matching_colours(evaluated):
    legends = [ax.get_legend() for ax in evaluated.axes if ax.get_legend() is not None]
    assert len(legends) == 1  # one discrete legend, no colour bar
    assert [t.get_text() for t in legends[0].get_texts()] == ["0", "1"]  # H2; H2O and CH4
    assert not any(ax.get_label() == "<colorbar>" for ax in evaluated.axes)
    colours = dict(zip([t.get_text() for t in legends[0].get_texts()],
                       [h.get_color() for h in legends[0].legend_handles]))
    for ax in evaluated.axes:
        for coll in ax.collections:  # one series per count, in the legend's colour
            assert np.allclose(coll.get_facecolor()[0], matplotlib.colors.to_rgba(
                colours[coll.get_label()]))


def test_parity_dipole_and_polarizability_panels(evaluated):
    axes = _axes(evaluated)
    dip = _points(axes["dipole"])
    assert any(np.allclose(p, [0.7 * AU_TO_DEBYE, 0.7 * AU_TO_DEBYE + 0.3]) for p in dip)
    assert len(dip) == 9
    assert "MAE 1.5 a.u." in axes["polarizability"].get_title()  # |-1|, |2|, |1.5|, 9x each


def test_parity_hides_core_panel_without_core_levels(small_molecules):
    refs = [_reference(small_molecules["H2"], [-0.6, 0.7], [0.0, 0.0, 0.0], np.eye(3))]
    errors = [{"eigenvalues_ev": np.array([0.2, 0.4]), "dipole_debye": np.zeros(3)}]
    fig = parity_panels({"errors": errors}, refs, "def2-svp", "uncoupled")
    axes = _axes(fig)
    assert [k for k, ax in axes.items() if ax.get_visible()] == ["valence", "dipole"]
    plt.close(fig)


def test_plot_parity_of_a_diverged_model_keeps_finite_axis_limits(ax):
    ref = np.array([1.0, 2.0, 3.0])
    mae = plot_parity(ax, ref, np.array([1.5, np.nan, 3.0]), np.array([1, 1, 2]),
                      heavy_atom_colors([1, 2]), title="dipole", unit="D")
    assert np.isnan(mae) and "MAE nan D" in ax.get_title()
    assert np.isfinite(ax.get_xlim()).all() and ax.get_xlim()[0] < 1.0 < 3.0 < ax.get_xlim()[1]
    assert [c.get_label() for c in ax.collections] == ["1", "2"]


def test_epoch_means_average_finite_values_per_epoch():
    rows = [{"epoch": 0, "loss": 1.0}, {"epoch": 0, "loss": 3.0}, {"epoch": 1, "loss": np.nan},
            {"epoch": 1, "loss": 5.0}, {"epoch": 2, "loss": np.inf}]
    epochs, means = epoch_means(rows, offset=1)
    assert epochs.tolist() == [1, 2] and means.tolist() == [2.0, 5.0]


def _write_log(folder, epochs, fmt):
    train = [{"kind": "train", "step": 2 * e + k + 1, "epoch": e, "loss": 1.0 / (1 + e + k),
              "finite": True, "eigenvalues": 0.1} for e in range(epochs) for k in range(2)]
    val = [{"kind": "val", "step": 2 * e + 2, "epoch": e + 1, "seconds": 1.0, "best": True,
            "loss": 2.0 / (1 + e), "mae_eigenvalues_ev": 0.5 / (1 + e),
            "mae_dipole_debye": 0.2 / (1 + e)} for e in range(epochs)]
    if fmt == "jsonl":
        lines = [json.dumps(r) for e in range(epochs) for r in train[2 * e:2 * e + 2] + [val[e]]]
        partial = json.dumps(val[0])[:25]  # a kill -9 during the write of the next record
        (folder / "log.jsonl").write_text("\n".join(lines) + "\n" + partial)
        return
    for kind, rows in (("train", train), ("val", val)):
        text = ",".join(rows[0]) + "\n" + "".join(
            ",".join(str(v) for v in r.values()) + "\n" for r in rows)
        (folder / f"{kind}.csv").write_text(text + ("5,2,0.1" if kind == "val" else ""))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_plot_training_curves_writes_png_from_a_log_with_a_partial_last_line(tmp_path, fmt):
    _write_log(tmp_path, epochs=3, fmt=fmt)
    records = read_log(tmp_path)
    assert len(records["train"]) == 6 and len(records["val"]) == 3
    path = plot_training_curves(tmp_path)
    assert path == tmp_path / "training_curves.png" and path.stat().st_size > 10_000
    assert not list(tmp_path.glob("*.tmp"))


def test_training_curve_panels_draw_one_val_point_per_validation(tmp_path):
    _write_log(tmp_path, epochs=3, fmt="jsonl")
    records = read_log(tmp_path)
    fig = training_curve_panels(records["train"], records["val"])
    axes = _axes(fig)
    assert list(axes) == ["loss", "mae_eigenvalues_ev", "mae_dipole_debye"]
    lines = {ln.get_label(): ln for ln in axes["loss"].lines}
    assert np.allclose(lines["validation"].get_xdata(), [1, 2, 3])
    assert np.allclose(lines["train (epoch mean)"].get_xdata(), [1, 2, 3])  # logged 0, 1, 2
    assert np.allclose(lines["validation"].get_ydata(), [2.0, 1.0, 2.0 / 3])
    assert np.allclose(lines["train (epoch mean)"].get_ydata(),
                       [(1 + 1 / 2) / 2, (1 / 2 + 1 / 3) / 2, (1 / 3 + 1 / 4) / 2])
    assert np.allclose(axes["mae_eigenvalues_ev"].lines[0].get_ydata(), [0.5, 0.25, 0.5 / 3])
    assert "(eV)" in axes["mae_eigenvalues_ev"].get_ylabel()
    assert "(D)" in axes["mae_dipole_debye"].get_ylabel()
    plt.close(fig)


def test_plot_training_curves_returns_none_without_train_steps(tmp_path):
    assert plot_training_curves(tmp_path) is None  # no log at all
    direct = {"kind": "val", "step": 0, "epoch": 0, "ridge_alpha": 1e-3, "mae_dipole_debye": 0.1}
    (tmp_path / "log.jsonl").write_text(json.dumps(direct) + "\n")  # a direct surrogate's log
    assert plot_training_curves(tmp_path) is None
    assert not (tmp_path / "training_curves.png").exists()
