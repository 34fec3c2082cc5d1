"""The cookbook loader, and the pipeline checked against that independent data."""

import numpy as np
import pytest
import scipy.linalg

from hamlearn.data.basis import nao
from hamlearn.config import DataConfig
from hamlearn.data.cookbook import (PUBLISHED_DIR, TOLERANCES, compare_references, load_cookbook,
                                    reference_arrays)
from hamlearn.data.reference import (ReferenceSettings, compute_reference,
                                     uncoupled_polarizability)
from hamlearn.data.sources import COOKBOOK_SETS, SourceError, load_structures

#: tight SCF, as the cookbook README recommends for agreement
TIGHT = dict(method="b3lyp", model_basis="sto-3g", polarizability=("uncoupled",),
             conv_tol=1e-12, grid_level=4)


@pytest.fixture(scope="module")
def qm7(cookbook_dir):
    return load_cookbook(cookbook_dir, "qm7")


def test_loader_shapes_names_and_labels(qm7, cookbook_dir):
    assert len(qm7) == 150 and qm7[7].structure.name == "qm7[7]"
    for ref in qm7[::10]:
        n = nao("sto-3g", ref.structure.numbers)
        assert ref.model.fock.shape == ref.model.ovlp.shape == (n, n)
        assert ref.model.dip_ints.shape == (3, n, n) and ref.method == "b3lyp"
        assert set(ref.labels) == {"sto-3g", "def2-tzvp"}
        assert ref.target("def2-tzvp").nocc == ref.structure.n_electrons // 2
        assert len(ref.target("sto-3g").mo_energy) == n
        assert ref.target("sto-3g").polarizability_coupled is None
    ethane = load_cookbook(cookbook_dir, "ethane200", index="::50")
    assert [r.structure.name for r in ethane] == [f"ethane200[{i}]" for i in (0, 50, 100, 150)]
    with pytest.raises(SourceError, match="must be one of qm7, ethane200"):
        load_cookbook(cookbook_dir, "qm9")


TOL_OVLP = 1e-14  # pyscf's int1e_ovlp vs the published qm7 overlap (measured 2.2e-16)


def _arrays(ref):
    yield "fock", ref.model.fock
    yield "ovlp", ref.model.ovlp
    yield "dip_ints", ref.model.dip_ints
    yield "origin", ref.model.origin
    yield "positions", ref.structure.positions
    yield "numbers", ref.structure.numbers
    for basis, lab in ref.labels.items():
        yield f"{basis} mo_energy", lab.mo_energy
        yield f"{basis} dipole", lab.dipole
        yield f"{basis} polarizability", lab.polarizability("uncoupled")


@pytest.mark.parametrize("which", COOKBOOK_SETS)
def test_shipped_copy_loads_as_the_original(shared_cookbook_dir, which):
    """Every array `load_cookbook` gives from the shipped copy equals the original files':
    exactly, except recomputed (qm7) overlaps, to TOL_OVLP."""
    ours, theirs = load_cookbook(None, which), load_cookbook(shared_cookbook_dir, which)
    assert [r.structure.name for r in ours] == [r.structure.name for r in theirs]
    for a, b in zip(ours, theirs):
        assert (a.method, a.model.basis, a.meta["source"]) == (b.method, b.model.basis,
                                                               b.meta["source"])
        for (name, x), (_, y) in zip(_arrays(a), _arrays(b)):
            if name == "ovlp":
                np.testing.assert_allclose(x, y, rtol=0, atol=TOL_OVLP, err_msg=a.structure.name)
            else:
                assert np.array_equal(x, y), f"{a.structure.name}: {name}"


@pytest.mark.parametrize("which", COOKBOOK_SETS)
def test_reference_arrays_match_the_original_npz(shared_cookbook_dir, which):
    ours = reference_arrays(PUBLISHED_DIR, which)
    with np.load(shared_cookbook_dir / f"{which}_reference.npz") as f:
        assert sorted(ours) == sorted(f.files)
        for key in f.files:
            if key == "overlap_sto3g_flat":
                np.testing.assert_allclose(ours[key], f[key], rtol=0, atol=TOL_OVLP)
            else:
                assert ours[key].dtype == f[key].dtype and np.array_equal(ours[key], f[key]), key


def test_shipped_files_stay_small_and_licensed():
    assert (PUBLISHED_DIR / "LICENSE").read_text().startswith("BSD 3-Clause License")
    assert "atomistic-cookbook" in (PUBLISHED_DIR / "README.md").read_text()
    for f in PUBLISHED_DIR.iterdir():
        assert f.stat().st_size < 2 * 2**20, f.name


def test_cookbook_dir_defaults_to_the_shipped_copy():
    assert DataConfig.cookbook_dir is None  # saved configs do not record the install path
    from hamlearn.config import SourceConfig

    src = (SourceConfig(cookbook="qm7", index=":3"),)
    default = load_structures(DataConfig(sources=src))
    shipped = load_structures(DataConfig(sources=src, cookbook_dir=str(PUBLISHED_DIR)))
    assert [s.name for s in shipped] == [s.name for s in default] == ["qm7[0]", "qm7[1]", "qm7[2]"]
    assert all(np.array_equal(a.positions, b.positions) for a, b in zip(shipped, default))


@pytest.mark.parametrize("which", ["qm7", "ethane200"])
def test_stored_fock_reproduces_stored_labels(cookbook_dir, which):
    """F C = S C e of the file's own Fock gives its MO energies, and the sum over states
    with our dipole integrals gives its polarizability: blocks, AO order and origin agree."""
    for ref in load_cookbook(cookbook_dir, which, index="::7"):
        model, lab = ref.model, ref.target("sto-3g")
        e, c = scipy.linalg.eigh(model.fock, model.ovlp)
        np.testing.assert_allclose(e, lab.mo_energy, rtol=0, atol=1e-10)
        alpha = uncoupled_polarizability(e, c, lab.nocc, model.dip_ints)
        np.testing.assert_allclose(alpha, lab.polarizability_uncoupled, rtol=0,
                                   atol=1e-5 * np.abs(alpha).max())


def assert_agrees(ours, theirs, basis):
    devs = compare_references(ours, theirs, basis)
    for key, dev in devs.items():
        assert dev <= TOLERANCES[key], f"{theirs.structure.name} {basis} {key}: {dev:.2e}"
    return devs


def test_pipeline_reproduces_cookbook_ch4_in_sto3g_and_def2tzvp(qm7):
    ch4 = qm7[0]
    assert ch4.structure.formula == "CH4"
    ours = compute_reference(ch4.structure, ReferenceSettings(target_bases=("def2-tzvp",), **TIGHT))
    assert set(assert_agrees(ours, ch4, "sto-3g")) == {"mo_energy", "dipole",
                                                        "polarizability_rel", "fock"}
    assert_agrees(ours, ch4, "def2-tzvp")


def test_pipeline_reproduces_cookbook_polar_molecule_sto3g(qm7):
    """A molecule with a dipole (qm7[7], C2H4O) in the model basis."""
    ref = qm7[7]
    assert np.linalg.norm(ref.target("sto-3g").dipole) > 0.3
    ours = compute_reference(ref.structure, ReferenceSettings(target_bases=(), **TIGHT))
    assert_agrees(ours, ref, "sto-3g")


@pytest.mark.slow
def test_pipeline_reproduces_cookbook_subset(cookbook_dir, tmp_path):
    """Every 5th QM7 molecule and every 20th ethane in STO-3G, 3 QM7 molecules in def2-TZVP
    (the full 150 + 200: benchmarks/crosscheck_cookbook.py)."""
    from hamlearn.data.generate import generate

    jobs = [(load_cookbook(cookbook_dir, "qm7", "::5"), "sto-3g", ()),
            (load_cookbook(cookbook_dir, "ethane200", "::20"), "sto-3g", ()),
            (load_cookbook(cookbook_dir, "qm7", "1:4"), "def2-tzvp", ("def2-tzvp",))]
    for refs, basis, targets in jobs:
        result = generate([r.structure for r in refs],
                          ReferenceSettings(target_bases=targets, **TIGHT), tmp_path,
                          progress=False)
        assert not result.failures
        for ours, theirs in zip(result.references, refs):
            assert_agrees(ours, theirs, basis)
