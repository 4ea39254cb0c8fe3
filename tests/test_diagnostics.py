"""Importance diagnostics against hand-computed cases and known Pareto tails."""

import math

import numpy as np
import pytest
from scipy import stats

from tfp_flows import diagnostics


def test_equal_weights_are_perfect():
  log_w = np.full([100], -3.5)
  assert float(diagnostics.ess_fraction(log_w)) == pytest.approx(1.)
  estimate, error = diagnostics.log_z(log_w)
  assert float(estimate) == pytest.approx(-3.5)
  assert float(error) == pytest.approx(0., abs=1e-6)
  # No spread in the tail: the lightest possible one.
  assert float(diagnostics.pareto_k_hat(log_w)) == -math.inf


def test_two_weights_by_hand():
  # w = [1, 3]: ESS = 4^2 / (2 * 10) = 0.8, Z = 2,
  # se = sqrt((1/0.8 - 1) / (2 - 1)) = 0.5.
  log_w = np.log([1., 3.])
  assert float(diagnostics.ess_fraction(log_w)) == pytest.approx(0.8)
  estimate, error = diagnostics.log_z(log_w)
  assert float(estimate) == pytest.approx(math.log(2.))
  assert float(error) == pytest.approx(0.5)


def test_one_dominant_weight_gives_ess_one_draw():
  log_w = np.array([0.] + [-1000.] * 49)
  assert float(diagnostics.ess_fraction(log_w)) == pytest.approx(1. / 50)


def test_standard_error_is_the_delta_method():
  rng = np.random.RandomState(0)
  log_w = rng.randn(1000)
  w = np.exp(log_w)
  estimate, error = diagnostics.log_z(log_w)
  assert float(estimate) == pytest.approx(math.log(w.mean()))
  assert float(error) == pytest.approx(
      w.std(ddof=1) / math.sqrt(len(w)) / w.mean())


def test_large_log_weights_do_not_overflow():
  rng = np.random.RandomState(1)
  log_w = rng.randn(400)
  shifted = log_w + 5000.
  assert float(diagnostics.ess_fraction(shifted)) == pytest.approx(
      float(diagnostics.ess_fraction(log_w)))
  assert float(diagnostics.pareto_k_hat(shifted)) == pytest.approx(
      float(diagnostics.pareto_k_hat(log_w)))
  assert float(diagnostics.log_z(shifted)[0]) == pytest.approx(
      float(diagnostics.log_z(log_w)[0]) + 5000.)


def test_tail_length_is_psis():
  assert diagnostics.tail_length(100) == 20       # n / 5
  assert diagnostics.tail_length(10000) == 300    # 3 sqrt(n)
  assert diagnostics.tail_length(4000) == 190     # ceil(3 * 63.25...)


@pytest.mark.parametrize("k", [0.2, 0.7, 1.2])
def test_k_hat_recovers_a_known_pareto_tail(k):
  # Weights drawn from a GPD with shape k: its tail is GPD with shape k too;
  # PSIS pulls the fit towards 0.5 with the weight of 10 draws out of M.
  n = 4000
  size = diagnostics.tail_length(n)
  expected = (size * k + 10 * 0.5) / (size + 10)
  estimates = [
      float(diagnostics.pareto_k_hat(np.log(stats.genpareto.rvs(
          k, size=n, random_state=np.random.RandomState(seed)))))
      for seed in range(3)]
  assert np.mean(estimates) == pytest.approx(expected, abs=0.1)


def test_light_tailed_weights_get_a_small_k_hat():
  # Log-normal weights with a small sigma: a light tail, k-hat well below 0.5.
  log_w = 0.1 * np.random.RandomState(2).randn(4000)
  assert float(diagnostics.pareto_k_hat(log_w)) < 0.3


def test_batch_axes_are_independent():
  rng = np.random.RandomState(3)
  log_w = rng.randn(200, 3) * [0.5, 1., 2.]
  summary = diagnostics.summary(log_w)
  for j in range(3):
    alone = diagnostics.summary(log_w[:, j])
    for name, value in summary.items():
      assert float(value[j]) == pytest.approx(float(alone[name]), rel=1e-6)


def test_nan_weights_give_nan():
  log_w = np.zeros([100])
  log_w[7] = np.nan
  for value in diagnostics.summary(log_w).values():
    assert math.isnan(float(value))


def test_too_few_draws_for_k_hat():
  with pytest.raises(ValueError, match="at least 25 draws"):
    diagnostics.pareto_k_hat(np.zeros([20]))
  with pytest.raises(ValueError, match="rank >= 1"):
    diagnostics.ess_fraction(0.)
