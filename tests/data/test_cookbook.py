"""The cookbook loader, and the pipeline checked against that independent data."""

import numpy as np
import pytest
import scipy.linalg

from hamlearn.data.basis import nao
from hamlearn.data.cookbook import TOLERANCES, compare_references, load_cookbook
from hamlearn.data.reference import (ReferenceSettings, compute_reference,
                                     uncoupled_polarizability)
from hamlearn.data.sources import SourceError

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
