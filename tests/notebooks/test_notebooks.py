"""The research notebooks run end to end (nbclient; the kernel is this interpreter).

Each notebook is executed with small parameters injected after its ``parameters`` cell
(papermill's convention), in a kernel started from ``sys.executable`` through a kernelspec
written to a temporary folder, so the venv running pytest (the ``.venv`` of
scripts/test.sh or any other) is the one tested, whatever ``python3`` kernel is installed.
The notebooks check physics themselves (asserts on rotations and on pyscf agreement), so a
failing check or any exception fails the test. Nothing is written next to the notebooks.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ROOT = NOTEBOOKS.parent
KERNEL = "hamlearn-test-python"


@pytest.fixture
def kernel(tmp_path, monkeypatch) -> str:
    """Name of a kernelspec that runs ``sys.executable -m ipykernel_launcher``, found first
    through ``JUPYTER_PATH`` (so nbclient creates, owns and shuts down the kernel)."""
    spec_dir = tmp_path / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "hamlearn test kernel", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # CI exports MPLBACKEND=Agg; the kernel inherits it and would draw no inline figures
    monkeypatch.delenv("MPLBACKEND", raising=False)
    return KERNEL


def run_notebook(name: str, params: str, kernel: str, workdir: Path, timeout: int = 1200):
    """Execute ``notebooks/<name>`` in ``workdir`` with ``params`` injected after its
    ``parameters`` cell; returns the executed notebook (errors raise CellExecutionError)."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    where = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(where) == 1, f"{name}: expected one cell tagged 'parameters', found {len(where)}"
    nb.cells.insert(where[0] + 1, nbformat.v4.new_code_cell(
        params, metadata={"tags": ["injected-parameters"]}))
    client = nbclient.NotebookClient(nb, kernel_name=kernel, timeout=timeout,
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()
    return nb


def text_output(nb) -> str:
    """Everything the notebook printed (stdout streams), in order."""
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("name") == "stdout")


def n_figures(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []))


def test_notebooks_are_committed_without_outputs():
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


def test_tour(kernel, tmp_path):
    params = 'TRAIN_MOLECULES = ["H2O", "NH3", "CH4", "CH3OH", "C2H6", "H2CO", "HCOOH"]\n' \
             "N_RATTLED = 2\n"
    nb = run_notebook("01_tour.ipynb", params, kernel, tmp_path)
    out = text_output(nb)
    assert "QM layer on pyscf's F reproduces pyscf's" in out
    assert "max |mu(Rx) - R mu(x) (e Bohr)|" in out
    assert n_figures(nb) == 3


@pytest.mark.parametrize("name", ["02_qm7_ablation.ipynb", "03_transferability.ipynb"])
def test_qm7_notebooks_say_when_the_cookbook_data_is_missing(name, kernel, tmp_path):
    params = f"COOKBOOK_DIR = {str(tmp_path / 'no-such-folder')!r}\nEPOCHS = 1\n"
    with pytest.raises(nbclient.exceptions.CellExecutionError,
                       match="QM7 cookbook data not found"):
        run_notebook(name, params, kernel, tmp_path)


@pytest.mark.slow
def test_qm7_ablation(kernel, tmp_path):
    """Runs on the cookbook copy shipped in the package (the notebook's default)."""
    runs = tmp_path / "runs"
    params = ("EPOCHS = 1\nINDEX = ':24'\n"
              f"RUNS_DIR = {str(runs)!r}\nFULL_RUNS = {str(runs)!r}\n")
    nb = run_notebook("02_qm7_ablation.ipynb", params, kernel, tmp_path)
    assert len(list(runs.glob("*/metrics_test.json"))) == 3
    out = text_output(nb)
    for row in ("ridge init (no training)", "eigenvalues", "+ dipole + polarizability",
                "(eigenvalues + dipole + polarizability, 1 epochs)"):  # last: FULL_RUNS
        assert row in out
    assert n_figures(nb) == 2  # validation curves of these runs, then of FULL_RUNS


@pytest.mark.slow
def test_transferability(kernel, tmp_path):
    params = ("EPOCHS = 1\nINDEX = '::3'\n"
              "MAX_TRAIN_HEAVY = 5\n")
    nb = run_notebook("03_transferability.ipynb", params, kernel, tmp_path)
    out = text_output(nb)
    assert "test 31 molecules" in out  # every third QM7 molecule with 6 heavy atoms
    assert "MAE by heavy-atom count" in out
    assert "F0 = scf + correction (6 heavy)" in out  # the delta-learning section
    # the QM9 cell reads runs made outside the notebook: a table or the commands' pointer
    assert "HOMO eV" in out or "no QM9 transfer runs" in out
    curves = (ROOT / "runs" / "qm9_curves" / "learning_curves.png").is_file()
    assert n_figures(nb) == 4 + curves
