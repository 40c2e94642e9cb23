import numpy as np
import pytest
from scipy.stats import ortho_group

from universality.similarity import kept_dimensions, rsa, svcca


@pytest.fixture
def rows():
    rng = np.random.default_rng(0)
    return rng.standard_normal((200, 12)) @ np.diag(np.linspace(3, 0.5, 12))


def test_kept_dimensions_uses_squared_singular_values():
    # energies 9, 4, 1 of total 14: 9/14 = 0.64, 13/14 = 0.93, 14/14 = 1
    assert kept_dimensions(np.array([3.0, 2.0, 1.0]), 0.5) == 1
    assert kept_dimensions(np.array([3.0, 2.0, 1.0]), 0.9) == 2
    assert kept_dimensions(np.array([3.0, 2.0, 1.0]), 0.99) == 3
    assert kept_dimensions(np.array([3.0, 2.0, 1.0]), 13 / 14) == 2


def test_svcca_of_a_rotation_is_one(rows):
    rotation = ortho_group.rvs(12, random_state=1)
    result = svcca(rows, rows @ rotation, 0.99)
    assert result.score == pytest.approx(1.0, abs=1e-10)
    assert result.k_x == result.k_y and result.n == 200


def test_svcca_ignores_isotropic_scaling_and_translation(rows):
    rng = np.random.default_rng(2)
    other = rng.standard_normal((200, 16))
    base = svcca(rows, other, 0.99).score
    assert svcca(rows * 7.5 + 3.0, other - 1.0, 0.99).score == pytest.approx(base, abs=1e-12)


def test_svcca_of_independent_data_is_far_below_one(rows):
    other = np.random.default_rng(3).standard_normal((200, 12))
    assert svcca(rows, other, 0.99).score < 0.3


def test_svcca_of_a_general_linear_map_into_more_dimensions(rows):
    linear_map = np.random.default_rng(4).standard_normal((12, 20))
    result = svcca(rows, rows @ linear_map, 1.0)
    assert result.score == pytest.approx(1.0, abs=1e-8)


def test_rsa_of_a_rotation_is_one_and_of_independent_rows_near_zero(rows):
    rotation = ortho_group.rvs(12, random_state=5)
    assert rsa(rows, rows @ rotation) == pytest.approx(1.0, abs=1e-12)
    other = np.random.default_rng(6).standard_normal((200, 12))
    assert abs(rsa(rows, other)) < 0.1


def test_unpaired_rows_are_refused(rows):
    with pytest.raises(ValueError, match="paired rows"):
        svcca(rows, rows[:-1])
    with pytest.raises(ValueError, match="paired rows"):
        rsa(rows, rows[:-1])
