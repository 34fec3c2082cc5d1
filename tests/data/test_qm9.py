"""QM9 source: the shipped slice, selections, units, bad rows, the 9-heavy-atom guard.

Reference values come from the published CSV text itself (parsed here independently with
``csv``), from rdkit (heavy-atom counts of QM9's SMILES) and from pyscf.
"""

import csv
import gzip
import re
import warnings

import numpy as np
import pytest

from hamlearn.config import QM9SourceConfig
from hamlearn.data import qm9 as qm9mod
from hamlearn.data.qm9 import QM9, SLICE_PATH, QM9MissingError
from hamlearn.data.sources import SourceError, qm9_structures
from hamlearn.units import ANGSTROM_TO_BOHR, AU_TO_DEBYE


@pytest.fixture(scope="module")
def qm9():
    return QM9.open(slice_only=True)


@pytest.fixture(scope="module")
def rows_text():
    csv.field_size_limit(1 << 30)
    with gzip.open(SLICE_PATH, "rt", newline="") as f:
        return {int(r["Index"]): r for r in csv.DictReader(f)}


def test_slice_holds_the_published_rows_in_atomic_units(qm9, rows_text):
    assert len(qm9) == len(rows_text) > 300
    assert sorted(qm9.indices.tolist()) == sorted(rows_text)
    for index in (1, 3, int(qm9.indices[-1])):
        row, text = qm9.row_of(index), rows_text[index]
        lab, s = qm9.labels(row), qm9.structure(row)
        assert lab.homo == float(text["HOMO_au"]) and lab.lumo == float(text["LUMO_au"])
        assert lab.dipole_norm * AU_TO_DEBYE == pytest.approx(float(text["Dipole_debye"]),
                                                              abs=1e-12)
        assert lab.r2 == float(text["R2_bohr2"])
        xyz = np.array(eval(text["XYZ_Ang"]))  # the published list literal
        np.testing.assert_allclose(s.positions, xyz * ANGSTROM_TO_BOHR, rtol=0, atol=1e-12)
        assert s.symbols == list(eval(text["Elements"]))
        assert s.name == f"qm9_{index:06d}" and s.charge == 0 and s.spin == 0
        assert "6-31G(2df,p)" in lab.level and "qm9pack" in lab.source


def test_tensor_columns_belong_to_their_molecule(qm9):
    """The tensor comes from a second file joined on the xyz name: its trace/3 must be the
    isotropic value of the main file for every molecule."""
    for r in range(len(qm9)):
        lab = qm9.labels(r)
        assert lab.polarizability_tensor is not None
        assert np.trace(lab.polarizability_tensor) / 3 == pytest.approx(
            lab.polarizability_iso, abs=6e-3), lab.index
        np.testing.assert_allclose(lab.polarizability_principal,
                                   np.sort(np.linalg.eigvalsh(lab.polarizability_tensor)))


def test_heavy_atom_counts_agree_with_rdkit(qm9):
    from rdkit import Chem

    for r in range(len(qm9)):
        mol = Chem.MolFromSmiles(qm9.labels(r).smiles)
        assert mol.GetNumHeavyAtoms() == qm9.n_heavy[r], qm9.labels(r).smiles


def test_selection(qm9):
    small = qm9.select(max_heavy=3)
    assert len(small) and (qm9.n_heavy[small] <= 3).all()
    assert set(small) == set(np.flatnonzero(qm9.n_heavy <= 3))
    only_c = qm9.select(elements="HC")
    for r in only_c:
        assert set(qm9.structure(r).symbols) <= {"H", "C"}
    assert set(qm9.select(elements=[1, 6])) == set(only_c)
    a = qm9.select(min_heavy=4, max_heavy=7, sample=20, seed=3)
    assert np.array_equal(a, qm9.select(min_heavy=4, max_heavy=7, sample=20, seed=3))
    assert not np.array_equal(a, qm9.select(min_heavy=4, max_heavy=7, sample=20, seed=4))
    assert ((qm9.n_heavy[a] >= 4) & (qm9.n_heavy[a] <= 7)).all()
    rest = qm9.select(min_heavy=4, max_heavy=7, exclude=qm9.indices[a])
    assert not set(rest) & set(a) and len(rest) + 20 == len(qm9.select(min_heavy=4,
                                                                          max_heavy=7))
    assert list(qm9.select(indices=[3, 1])) == [qm9.row_of(1), qm9.row_of(3)]
    with pytest.raises(SourceError, match="sample of 5000"):
        qm9.select(sample=5000)
    with pytest.raises(SourceError, match="indices not in"):
        qm9.select(indices=[999999])
    with pytest.raises(SourceError, match="'Cl'"):
        qm9.select(elements=["H", "Cl"])


def _table(n_heavy_list):
    """A synthetic table: molecule k has n_heavy_list[k] carbons and 4 hydrogens."""
    n = len(n_heavy_list)
    numbers, pos = [], []
    for h in n_heavy_list:
        numbers += [6] * h + [1] * 4
        pos.append(np.arange(3 * (h + 4), dtype=float).reshape(-1, 3) * 1.5)
    a = {"index": np.arange(1, n + 1), "n_atoms": np.array([h + 4 for h in n_heavy_list]),
         "numbers": np.array(numbers, dtype=np.int8), "positions_ang": np.concatenate(pos),
         "smiles": np.array(["C"] * n), "tensor6": np.full((n, 6), np.nan)}
    for k in ("homo", "lumo", "gap", "dipole_norm", "polarizability_iso", "r2"):
        a[k] = np.zeros(n)
    return QM9(a, origin="synthetic")


def test_nine_heavy_atoms_are_held_out_unless_asked(monkeypatch):
    table = _table([7, 8, 9, 9])
    monkeypatch.setattr(QM9, "open", classmethod(lambda cls, **kw: table))
    with pytest.raises(SourceError, match="2 molecules with 9 heavy atoms"):
        qm9_structures(QM9SourceConfig())
    assert [s.name for s in qm9_structures(QM9SourceConfig(max_heavy=8))] == [
        "qm9_000001", "qm9_000002"]
    assert len(qm9_structures(QM9SourceConfig(allow_9_heavy=True))) == 4
    assert table.structure(1).positions.shape == (12, 3)


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setattr(qm9mod, "qm9pack_data_dir", lambda: None)
    with pytest.raises(QM9MissingError, match=r"hamlearn\[qm9\]"):
        QM9.open()


def test_bad_rows_are_reported_and_skipped(tmp_path):
    csv.field_size_limit(1 << 30)
    with gzip.open(SLICE_PATH, "rt", newline="") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, [next(reader) for _ in range(4)]
    rows[1]["HOMO_au"] = ""                                   # a missing label
    rows[2]["XYZ_Ang"] = re.sub(r"-?\d+\.\d+", "nan", rows[2]["XYZ_Ang"], count=1)  # NaN
    path = tmp_path / "bad.csv.gz"
    with gzip.open(path, "wt", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(rows)
    messages = []
    arrays = qm9mod.read_csv_gz(path, report=messages.append)
    assert arrays["index"].tolist() == [int(rows[0]["Index"]), int(rows[3]["Index"])]
    assert len(messages) == 2
    assert rows[1]["XYZ_file"] in messages[0] and "bad.csv.gz:3" in messages[0]
    assert rows[2]["XYZ_file"] in messages[1] and "non-finite" in messages[1]


def test_published_tensor_is_not_in_the_coordinates_frame(qm9):
    """Water lies in the xy plane of its QM9 coordinates with its C2 axis tilted: a tensor
    in that frame has an off-diagonal xy element (pyscf, any level); QM9's is diagonal."""
    import pyscf.gto
    import pyscf.scf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyscf-properties: "Module ... is under testing"
        from pyscf.prop.polarizability.rhf import Polarizability
    r = qm9.row_of(3)
    s, lab = qm9.structure(r), qm9.labels(r)
    mol = pyscf.gto.M(atom=s.pyscf_atom(), unit="Bohr", basis="6-31g", verbose=0)
    mf = pyscf.scf.RHF(mol).run()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyscf-properties: "Module ... is under testing"
        alpha = Polarizability(mf).polarizability()
    assert abs(alpha[0, 1]) > 0.3
    t = lab.polarizability_tensor
    assert np.abs(t - np.diag(np.diag(t))).max() == 0.0


@pytest.mark.skipif(qm9mod.qm9pack_data_dir() is None, reason="qm9 extra not installed "
                    "(pip install 'hamlearn[qm9]')")
def test_full_qm9_counts_and_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HAMLEARN_QM9_CACHE", str(tmp_path))
    full = QM9.open()
    assert (full.n_heavy <= 7).sum() == qm9mod.N_LE7 and (full.n_heavy == 8).sum() == qm9mod.N_8
    assert list(tmp_path.glob("qm9pack-*.npz"))
    again = QM9.open()
    assert np.array_equal(again.indices, full.indices)
    row = again.row_of(3)
    assert again.labels(row).homo == full.labels(row).homo == -0.2928
    np.testing.assert_array_equal(again.structure(row).positions, full.structure(row).positions)
