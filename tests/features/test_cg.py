"""The closed forms in `hamlearn.features.cg` against e3nn-jax's coefficients."""

import e3nn_jax as e3nn
import numpy as np
import pytest

from hamlearn.features.cg import cg, parse_irrep, swap_sign


@pytest.mark.parametrize("l1", range(5))
@pytest.mark.parametrize("l2", range(5))
def test_swap_sign_matches_e3nn_coefficients(l1, l2):
    for L in range(abs(l1 - l2), l1 + l2 + 1):
        a = np.asarray(e3nn.clebsch_gordan(l1, l2, L))
        b = np.asarray(e3nn.clebsch_gordan(l2, l1, L)).transpose(1, 0, 2)
        s = swap_sign(l1, l2, L)
        assert np.abs(a).max() > 0.1
        np.testing.assert_allclose(b, s * a, atol=1e-12)
        np.testing.assert_allclose(cg(l2, l1, L).transpose(1, 0, 2), s * cg(l1, l2, L),
                                   atol=1e-12)


def test_swap_sign_rejects_a_forbidden_coupling():
    with pytest.raises(ValueError, match="no coupling"):
        swap_sign(0, 1, 3)


@pytest.mark.parametrize("name", ["0e", "1o", "2e", "3o", "4e", "1e", "2o", "10o"])
def test_parse_irrep_agrees_with_e3nn(name):
    ir = e3nn.Irrep(name)
    assert parse_irrep(name) == (ir.l, ir.p)


@pytest.mark.parametrize("bad", ["", "e", "1x", "-1o", "1.5e"])
def test_parse_irrep_rejects_bad_names(bad):
    with pytest.raises(ValueError, match="irrep name"):
        parse_irrep(bad)
