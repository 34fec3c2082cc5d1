import numpy as np
import pytest

from hamlearn.config import SplitConfig
from hamlearn.data.structure import Structure
from hamlearn.training.split import make_split


def mols(heavy_counts):
    return [Structure([6] * h + [1] * 4, np.arange((h + 4) * 3).reshape(-1, 3) * 3.0)
            for h in heavy_counts]


def test_random_split_partitions_and_is_seeded():
    s = mols([1] * 20)
    a = make_split(s, SplitConfig(fractions=(0.7, 0.2, 0.1)), seed=3)
    b = make_split(s, SplitConfig(fractions=(0.7, 0.2, 0.1)), seed=3)
    assert (len(a.train), len(a.validation), len(a.test)) == (14, 4, 2)
    assert sorted(np.concatenate([a.train, a.validation, a.test])) == list(range(20))
    assert a.as_dict() == b.as_dict()
    assert a.as_dict() != make_split(s, SplitConfig(), seed=4).as_dict()


def test_size_split_tests_on_larger():
    s = mols([1, 2, 3, 4, 5, 1, 2])
    sp = make_split(s, SplitConfig(kind="size", max_train_heavy_atoms=3, fractions=(0.8, 0.2)), 0)
    assert sorted(sp.test) == [3, 4]
    assert all(i not in sp.test for i in np.concatenate([sp.train, sp.validation]))


def test_explicit_errors():
    s = mols([1] * 5)
    with pytest.raises(ValueError, match="overlap"):
        make_split(s, SplitConfig(kind="explicit", train=(0, 1), test=(1,)), 0)
    with pytest.raises(ValueError, match="must be in"):
        make_split(s, SplitConfig(kind="explicit", train=(0, 7)), 0)
    with pytest.raises(ValueError, match="no molecule has more"):
        make_split(s, SplitConfig(kind="size", max_train_heavy_atoms=3), 0)


def test_n_train_takes_nested_subsets_and_keeps_validation_and_test():
    s = mols([1] * 40)
    full = make_split(s, SplitConfig(fractions=(0.6, 0.2, 0.2)), seed=2)
    subsets = [make_split(s, SplitConfig(fractions=(0.6, 0.2, 0.2), n_train=n), seed=2)
               for n in (3, 6, 12, 24)]
    for a, b in zip(subsets, subsets[1:]):
        assert set(a.train) < set(b.train)  # a learning curve adds molecules
    for sub in subsets:
        assert set(sub.train) <= set(full.train)
        np.testing.assert_array_equal(sub.validation, full.validation)
        np.testing.assert_array_equal(sub.test, full.test)
    assert [len(x.train) for x in subsets] == [3, 6, 12, 24]
    with pytest.raises(ValueError, match="n_train=25"):
        make_split(s, SplitConfig(fractions=(0.6, 0.2, 0.2), n_train=25), seed=2)
