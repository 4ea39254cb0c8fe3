"""The toys' entropies are computed here, not quoted.

Each of `toy_entropy.TOY_ENTROPY` is recomputed by quadrature of the toy's
exact density and checked against samples of `tfp_flows.data.toy`: the mean
of -log p over them is an unbiased estimate of H when p is the sampler's
density (and exceeds H by KL(sampler || p) otherwise).
"""

import numpy as np
import pytest

from tfp_flows import data
from tfp_flows import toy_entropy

TOYS = sorted(toy_entropy.TOY_ENTROPY)


def test_every_toy_has_an_entropy():
  assert set(TOYS) == set(data.TOY_DATASETS)


@pytest.mark.parametrize("name", TOYS)
def test_quadrature_gives_the_stated_entropy(name):
  h, mass = toy_entropy.entropy(name)
  assert mass == pytest.approx(1., abs=1e-4)
  # Stated to 3 decimals.
  assert abs(h - toy_entropy.TOY_ENTROPY[name]) <= 5e-4 + 1e-4, h


@pytest.mark.parametrize("name", TOYS)
def test_density_is_the_samplers(name):
  log_p = toy_entropy.log_density(name, data.toy(name, 20_000, seed=11))
  assert np.all(np.isfinite(log_p))
  se = log_p.std() / np.sqrt(log_p.size)
  # checkerboard's density is constant on its support: se = 0.
  assert abs(-log_p.mean() - toy_entropy.TOY_ENTROPY[name]) < 4. * se + 1e-3


def test_closed_forms():
  assert toy_entropy.entropy("checkerboard")[0] == pytest.approx(np.log(32.))
  # 8 far-apart Gaussians: log 8 + log(2 pi e s^2), less a small overlap.
  s2 = (0.5 / 1.414)**2
  separate = np.log(8.) + np.log(2. * np.pi * np.e * s2)
  h = toy_entropy.entropy("8gaussians")[0]
  assert separate - 0.01 < h < separate


@pytest.mark.slow
@pytest.mark.parametrize("name", TOYS)
def test_halving_the_step_changes_less_than_1e4(name):
  assert toy_entropy.entropy(name, fine=True)[0] == pytest.approx(
      toy_entropy.entropy(name)[0], abs=1e-4)
