"""The RealNVP builder."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import bijectors
from tfp_flows import flows
from tfp_flows import testing

import helpers

tfd = tfp.distributions
SHAPE = [4, 4, 2]


def _realnvp(**kw):
  args = dict(num_scales=2, hidden_units=8, num_blocks=1)
  args.update(kw)
  return flows.realnvp(SHAPE, **args)


# 30 s on 2 cores: in the slow suite, for `make test`'s budget, where the
# registry's matrix still runs the (one-scale, conditional) RealNVP's
# harness and test_glow.py a whole multi-scale flow's (FactorOut between
# the scales).
@pytest.mark.slow
def test_harness_on_the_whole_flow():
  testing.check_bijector(lambda dt: _realnvp(dtype=dt).bijector, [32],
                         expect_trainable=True, tolerances=testing.DEEP_FLOW_TOLERANCES)


def test_fresh_flow_is_the_logit_of_a_standard_normal():
  # Zero-initialised conditioners: every coupling is the identity, so
  # log p(x) = sum log N(u) + sum log |du/dx|, u = logit(a + (1 - 2a) x).
  alpha = 0.05
  dist = _realnvp(alpha=alpha, dtype=tf.float64)
  x = tf.random.stateless_uniform([3] + SHAPE, [1, 2], dtype=tf.float64)
  p = alpha + (1 - 2 * alpha) * x
  u = tf.math.log(p) - tf.math.log1p(-p)
  log_du = tf.math.log((1 - 2 * alpha) / (p * (1 - p)))
  expected = tf.reduce_sum(
      tfd.Normal(tf.constant(0., tf.float64), 1.).log_prob(u) + log_du,
      [-3, -2, -1])
  np.testing.assert_allclose(dist.log_prob(x), expected, rtol=1e-10)


def test_structure():
  dist = _realnvp()
  # Scale 0: 3 checkerboard + 3 channel couplings; scale 1: 4 checkerboard.
  # Each: ResNet of 1 block (4 convs x 2 variables) + scale_factor.
  assert len(dist.trainable_variables) == 10 * 9
  assert dist.sample(2).shape == [2] + SHAPE


def test_data_outside_unit_interval_rejected_under_validate_args():
  dist = _realnvp(validate_args=True)
  with pytest.raises(tf.errors.InvalidArgumentError, match="`x`"):
    dist.log_prob(tf.fill([1] + SHAPE, 1.5))


def test_bad_arguments():
  with pytest.raises(ValueError, match="`num_scales` must be >= 1"):
    flows.realnvp(SHAPE, num_scales=0)
  with pytest.raises(ValueError, match=r"divisible by 2\*\*2"):
    flows.realnvp([6, 6, 1], num_scales=3)


def test_packed_checkerboard_runs_half_width_networks_with_the_same_weights():
  """checkerboard="packed": the same parameters, each checkerboard ResNet on
  [H, W / 2, C]; a different model, still the logit of a standard normal
  while every coupling is the identity, and exactly invertible."""
  masked, packed = _realnvp(), _realnvp(checkerboard="packed")
  assert ([v.shape for v in masked.trainable_variables] ==
          [v.shape for v in packed.trainable_variables])
  x = tf.random.stateless_uniform([3] + SHAPE, [1, 2])
  np.testing.assert_allclose(packed.log_prob(x), masked.log_prob(x),
                             rtol=1e-5)
  partitions = [type(b._partition).__name__  # pylint: disable=protected-access
                for b in helpers.bijectors_of_type(packed, bijectors.Coupling)]
  assert sorted(partitions) == (["PackedCheckerboardPartition"] * 7 +
                                ["SplitPartition"] * 3)
  testing.perturb(packed, 0.3, seed=4)
  z = packed.bijector.inverse(x)
  np.testing.assert_allclose(packed.bijector.forward(z), x, atol=1e-5)
  assert not np.allclose(packed.log_prob(x), masked.log_prob(x))


def test_packed_checkerboard_needs_an_even_width_at_every_scale():
  with pytest.raises(ValueError, match=r"checkerboard='packed' needs the "
                     r"width 6 divisible by 2\*\*num_scales = 4"):
    flows.realnvp([4, 6, 1], num_scales=2, checkerboard="packed")
  with pytest.raises(ValueError, match="`checkerboard` must be one of"):
    flows.realnvp(SHAPE, checkerboard="dense")
