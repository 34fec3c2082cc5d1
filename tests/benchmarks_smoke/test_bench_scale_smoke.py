"""Smoke test of benchmarks/bench_scale.py: SMILES builders and the size-sweep row."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import jax
import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_scale.py"
TINY = Path(__file__).resolve().parents[1] / "training" / "data" / "tiny.yaml"


@pytest.fixture(scope="module")
def bench():
    """The benchmark module, imported without leaking its thread settings into os.environ."""
    saved = dict(os.environ)
    try:
        spec = importlib.util.spec_from_file_location("bench_scale_under_test", BENCH)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return module


@pytest.mark.parametrize("n", [1, 2, 3, 12])
def test_acene_smiles_formula(bench, n):
    from rdkit import Chem
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula

    assert CalcMolFormula(Chem.MolFromSmiles(bench.acene_smiles(n))) == f"C{4 * n + 2}H{2 * n + 4}"


def test_polyene_smiles_all_trans(bench):
    from rdkit import Chem
    from rdkit.Chem.rdMolDescriptors import CalcMolFormula

    mol = Chem.MolFromSmiles(bench.polyene_smiles(5))
    assert CalcMolFormula(mol) == "C10H12"
    stereo = [b.GetStereo() for b in mol.GetBonds() if b.GetBondTypeAsDouble() == 2.0]
    assert stereo.count(Chem.BondStereo.STEREOE) == 3  # the inner double bonds are trans


def test_size_row_water(bench, small_molecules):
    """One row of the size sweep (one molecule: every new size compiles features and model)."""
    from hamlearn.config import load_config
    from hamlearn.training.run import build_model

    cfg = load_config(TINY)
    model = build_model(cfg, key=jax.random.PRNGKey(0))
    row = bench.size_row(small_molecules["H2O"], model, cfg, budget=0.05)
    assert row["atoms"] == 3 and row["nao"] == 7 and row["nao_pad"] >= 7
    assert row["entries_real"] == 3 + 3  # every atom and every pair within 4 A
    assert row["entries_padded"] >= row["entries_real"]
    assert 0 < row["eigh_s"] and 0 < row["qm_s"] and row["total_s"] > row["qm_s"]
