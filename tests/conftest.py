"""Shared test fixtures: float64 JAX, PRNG keys, small molecules built once."""

from pathlib import Path

import os
import shutil
import tempfile

import jax

jax.config.update("jax_enable_x64", True)
# CLI subprocesses of one test session share a persistent XLA compilation cache
os.environ.setdefault("HAMLEARN_JAX_CACHE", tempfile.mkdtemp(prefix="hamlearn-jax-cache-"))

import ase.build  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hamlearn.data.structure import Structure  # noqa: E402

#: The full cookbook files in ../shared/ beside the repository root, where a development
#: checkout has them (a clone does not; the package ships a compact copy of the same data).
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
def cookbook_dir(tmp_path_factory) -> Path:
    """The QM7/ethane reference data in its full layout (``<set>.xyz``,
    ``<set>_reference.npz`` with full Fock and overlap blocks), written once per session
    from the copy shipped in the package (`hamlearn.data.cookbook.PUBLISHED_DIR`)."""
    from hamlearn.data.cookbook import PUBLISHED_DIR, reference_arrays
    from hamlearn.data.sources import COOKBOOK_SETS

    out = tmp_path_factory.mktemp("qm7-cookbook")
    for which in COOKBOOK_SETS:
        shutil.copyfile(PUBLISHED_DIR / f"{which}.xyz", out / f"{which}.xyz")
        np.savez(out / f"{which}_reference.npz", **reference_arrays(PUBLISHED_DIR, which))
    return out


@pytest.fixture(scope="session")
def shared_cookbook_dir() -> Path:
    """The original cookbook files in ../shared/; skips where this checkout has none."""
    if not (SHARED_COOKBOOK / "qm7_reference.npz").is_file():
        pytest.skip("the original cookbook files (../shared/data/qm7-cookbook beside the "
                    "repository) are only present beside the development checkout")
    return SHARED_COOKBOOK


@pytest.fixture
def rng():
    return np.random.default_rng(0)
