"""Shared test fixtures: float64 JAX, PRNG keys, small molecules built once."""

from pathlib import Path

import os
import tempfile

import jax

jax.config.update("jax_enable_x64", True)
# CLI subprocesses of one test session share a persistent XLA compilation cache
os.environ.setdefault("HAMLEARN_JAX_CACHE", tempfile.mkdtemp(prefix="hamlearn-jax-cache-"))

import ase.build  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hamlearn.data.structure import Structure  # noqa: E402

#: ../shared/data/qm7-cookbook beside the repository root (absent on a user's clone).
SHARED_COOKBOOK = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "qm7-cookbook"


@pytest.fixture
def getkey():
    """A function returning a fresh PRNG key on each call (deterministic sequence)."""
    keys = iter(jax.random.split(jax.random.PRNGKey(0), 10_000))
    return lambda: next(keys)


@pytest.fixture(scope="session")
def small_molecules() -> dict[str, Structure]:
    """H2, H2O, NH3, CH4 as `Structure`s (ase's geometries)."""
    return {name: Structure.from_atoms(ase.build.molecule(name), name=name)
            for name in ("H2", "H2O", "NH3", "CH4")}


@pytest.fixture(scope="session")
def cookbook_dir() -> Path:
    """The shared QM7/ethane reference data; skips when this clone has no ../shared/."""
    if not (SHARED_COOKBOOK / "qm7_reference.npz").is_file():
        pytest.skip(f"shared cookbook data not found at {SHARED_COOKBOOK} "
                    "(only present beside the development checkout)")
    return SHARED_COOKBOOK


@pytest.fixture
def rng():
    return np.random.default_rng(0)
