"""Tests for tfp_flows.data.toys: the synthetic 2-D densities."""

import numpy as np
import pytest

from tfp_flows import data


@pytest.mark.parametrize("name", data.TOY_DATASETS)
def test_toy(name):
  x = data.toy(name, 1001, seed=1)
  assert x.shape == (1001, 2) and x.dtype == np.float32
  assert np.all(np.isfinite(x))
  assert np.abs(x).max() < 10.0
  np.testing.assert_array_equal(x, data.toy(name, 1001, seed=1))
  assert not np.array_equal(x, data.toy(name, 1001, seed=2))


def test_toy_errors():
  with pytest.raises(ValueError, match="moons"):
    data.toy("nope", 10)
  with pytest.raises(ValueError, match="n must"):
    data.toy("moons", 0)
