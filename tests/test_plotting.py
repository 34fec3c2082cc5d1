"""hamlearn.plotting: the figures draw what they are given (checked on the artists)."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hamlearn.data.record import Labels, Reference  # noqa: E402
from hamlearn.plotting import parity_panels, plot_blocks, plot_levels  # noqa: E402
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


def test_parity_panels_plot_reference_against_reference_plus_error(small_molecules):
    refs = [_reference(small_molecules["H2O"], [-1.0, 0.5], [0.0, 0.0, 0.7], np.eye(3) * 8.0),
            _reference(small_molecules["CH4"], [-0.8, 0.6], [0.0, 0.0, 0.0], np.eye(3) * 15.0)]
    errors = [{"eigenvalues_ev": np.array([0.1, -0.2]), "dipole_debye": np.array([0.0, 0.0, 0.3]),
               "polarizability_au": np.full(9, -1.0)},
              {"eigenvalues_ev": np.array([0.3, 0.0]), "dipole_debye": np.zeros(3),
               "polarizability_au": np.full(9, 2.0)}]
    fig = parity_panels({"errors": errors}, refs, "def2-svp", "uncoupled")
    axes = fig.axes[:3]
    eig = axes[0].collections[0].get_offsets()
    x = np.array([-1.0, 0.5, -0.8, 0.6]) * HARTREE_TO_EV
    assert np.allclose(eig[:, 0], x)
    assert np.allclose(eig[:, 1], x + [0.1, -0.2, 0.3, 0.0])
    assert np.allclose(axes[0].collections[0].get_array(), [1, 1, 1, 1])  # heavy atoms: O, C
    dip = axes[1].collections[0].get_offsets()
    assert np.allclose(dip[2], [0.7 * AU_TO_DEBYE, 0.7 * AU_TO_DEBYE + 0.3])
    assert "MAE 1.5" in axes[2].get_title()  # mean of |-1| (9x) and |2| (9x)
    plt.close(fig)
