"""The evaluation report (report.md, metrics.json, parity.png) of `write_report`."""

import itertools
import json

import numpy as np
import pytest

from hamlearn.config import Config
from hamlearn.data.record import Labels, Reference
from hamlearn.training.evaluate import format_report, write_report

METRICS = {"mae_eigenvalues_ev": 0.3251, "rmse_eigenvalues_ev": 0.4102,
           "mae_dipole_debye": 0.04812, "rmse_dipole_debye": 0.06113,
           "mae_polarizability_pct": 3.25, "rmse_polarizability_pct": 4.5, "n_molecules": 3}
GROUPED = {1: {"mae_eigenvalues_ev": 0.2, "mae_dipole_debye": 0.01, "n_molecules": 2},
           2: {"mae_eigenvalues_ev": 0.5813, "mae_dipole_debye": 0.12, "n_molecules": 1}}
BASELINE = {"metrics": {"mae_eigenvalues_ev": 2.551, "rmse_eigenvalues_ev": 3.012,
                        "mae_dipole_debye": 0.2583, "rmse_dipole_debye": 0.301,
                        "mae_polarizability_pct": 53.9, "rmse_polarizability_pct": 60.2,
                        "n_molecules": 3}, "by_size": {}}
HEADERS = ["MO energies (eV)", "dipole (D)", "polarizability (%)"]


def _table(text: str, first_cell: str) -> tuple[list[str], dict[str, list[str]]]:
    """Header and rows (first cell -> other cells) of the markdown table whose header
    starts with ``first_cell``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_cell} |"))
    block = itertools.takewhile(lambda line: line.startswith("|"), lines[start:])
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in block]
    return cells[0][1:], {row[0]: row[1:] for row in cells[2:]}


def _report(baseline):
    return format_report(METRICS, GROUPED, data={"source": "two.xyz", "molecules": "3"},
                         model={"run": "runs/q", "kind": "hamiltonian"}, baseline=baseline,
                         baseline_name="plain sto-3g, no model")


def test_report_metrics_table_has_the_numbers_in_user_units_and_the_baseline_rows():
    header, rows = _table(_report(BASELINE), "run")
    assert header == HEADERS + ["molecules"]  # display order, units in the headers
    for name, metrics in (("model", METRICS), ("plain sto-3g, no model", BASELINE["metrics"])):
        for stat in ("mae", "rmse"):
            cells = rows[f"{name}, {stat.upper()}"]
            keys = ["eigenvalues_ev", "dipole_debye", "polarizability_pct"]
            values = [float(c) for c in cells[:-1]]
            assert values == pytest.approx([metrics[f"{stat}_{k}"] for k in keys], rel=1e-3)
            assert cells[-1] == "3"


def test_report_mae_by_heavy_atom_count():
    header, rows = _table(_report(BASELINE), "heavy atoms")
    assert header == ["molecules"] + HEADERS
    assert set(rows) == {"1", "2"}
    assert rows["2"][0] == "1"
    assert [float(c) for c in rows["2"][1:3]] == pytest.approx([0.5813, 0.12])
    assert rows["2"][3] == "-"  # no per-size polarizability given


def test_report_data_and_model_sections():
    text = _report(BASELINE)
    assert "- source: two.xyz" in text and "- run: runs/q" in text
    assert "- kind: hamiltonian" in text


@pytest.mark.parametrize("baseline, why", [({}, "no model-basis Fock"), (None, "not computed")])
def test_report_without_baseline_says_why(baseline, why):
    text = _report(baseline)
    _, rows = _table(text, "run")
    assert set(rows) == {"model, MAE", "model, RMSE"}
    assert why in text


def _reference(structure, mo_energy):
    lab = Labels(basis="def2-svp", mo_energy=np.asarray(mo_energy), nocc=1,
                 dipole=np.array([0.0, 0.0, 0.5]), polarizability_uncoupled=np.eye(3) * 9.0)
    return Reference(structure=structure, method="b3lyp", model=None, labels={"def2-svp": lab})


def test_write_report_writes_markdown_metrics_json_and_parity_png(small_molecules, tmp_path):
    refs = [_reference(small_molecules["H2O"], [-20.0, -1.0, 0.3]),
            _reference(small_molecules["CH4"], [-11.0, -0.7, 0.4])]
    errors = [{"eigenvalues_ev": np.array([0.5, 0.1, -0.1]), "dipole_debye": np.zeros(3)},
              {"eigenvalues_ev": np.array([-0.5, 0.2, 0.0]), "dipole_debye": np.ones(3)}]
    result = {"errors": errors, "metrics": METRICS, "by_size": GROUPED}
    text = write_report(result, refs, [0, 1], Config(), tmp_path,
                        source="mols.xyz", run="runs/q (best checkpoint)", baseline=BASELINE)
    assert (tmp_path / "report.md").read_text() == text
    _, rows = _table(text, "run")
    assert float(rows["plain sto-3g, no model, MAE"][0]) == pytest.approx(2.551)
    assert "b3lyp / def2-svp" in text and "H2O" in text and "- model basis: sto-3g" in text
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["metrics"] == METRICS and saved["minimal_basis"] == BASELINE
    assert saved["molecules"] == ["H2O", "CH4"]
    assert (tmp_path / "parity.png").stat().st_size > 10_000
