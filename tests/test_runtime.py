import os

import pytest
import pyscf.lib

from hamlearn import runtime
from hamlearn.runtime import setup_threads

_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@pytest.fixture(autouse=True)
def restore_threads(monkeypatch):
    before = pyscf.lib.num_threads()
    for var in _VARS:  # setup_threads may set these: monkeypatch restores the originals
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv("HAMLEARN_THREADS", raising=False)
    yield
    if runtime._limits is not None:
        runtime._limits.restore_original_limits()
        runtime._limits = None
    pyscf.lib.num_threads(before)


def test_setup_threads_one():
    assert setup_threads(1) == 1
    assert pyscf.lib.num_threads() == 1
    threadpoolctl = pytest.importorskip("threadpoolctl")
    blas = [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]
    assert blas and all(i["num_threads"] == 1 for i in blas)


def test_env_var_read(monkeypatch):
    monkeypatch.setenv("HAMLEARN_THREADS", "1")
    assert setup_threads() == 1
    assert pyscf.lib.num_threads() == 1


def test_default_is_half_the_usable_cores():
    assert setup_threads() == max(1, len(os.sched_getaffinity(0)) // 2)


def test_user_env_not_overwritten(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    setup_threads(1)
    assert os.environ["OMP_NUM_THREADS"] == "3"


@pytest.mark.parametrize("value", ["0", "-1", "x"])
def test_bad_env_values(monkeypatch, value):
    monkeypatch.setenv("HAMLEARN_THREADS", value)
    with pytest.raises(ValueError, match="HAMLEARN_THREADS"):
        setup_threads()


@pytest.mark.parametrize("value", [0, -1])
def test_bad_arguments(value):
    with pytest.raises(ValueError, match="HAMLEARN_THREADS"):
        setup_threads(value)
