"""Permute: harness, TFP's values and gradients, the reversal kernel, bad args."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import testing
from tfp_flows.bijectors.permute import Permute

tfb = tfp.bijectors

ORDERS = {"reverse": np.arange(5)[::-1], "random": np.array([2, 0, 4, 1, 3])}


@pytest.mark.parametrize("kind", sorted(ORDERS))
def test_harness(kind):
  testing.check_bijector(
      lambda dtype: Permute(ORDERS[kind], validate_args=True),
      event_shape=[5], expect_trainable=False)


@pytest.mark.parametrize("kind", sorted(ORDERS))
def test_values_and_gradients_are_tfps(kind):
  x = tf.random.stateless_normal([2, 3, 5], [0, 1])
  weights = tf.random.stateless_normal([2, 3, 5], [0, 2])
  ours, theirs = Permute(ORDERS[kind]), tfb.Permute(ORDERS[kind])
  for direction in ("forward", "inverse"):
    with tf.GradientTape(persistent=True) as tape:
      tape.watch(x)
      a = getattr(ours, direction)(x)
      b = getattr(theirs, direction)(x)
      loss_a, loss_b = (tf.reduce_sum(weights * a), tf.reduce_sum(weights * b))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(tape.gradient(loss_a, x),
                                  tape.gradient(loss_b, x))
  np.testing.assert_array_equal(ours.inverse(ours.forward(x)), x)
  assert float(ours.forward_log_det_jacobian(x, event_ndims=1)) == 0.


def test_reversal_is_a_reverse_and_no_scatter_in_the_gradient():
  reverse, random = Permute(ORDERS["reverse"]), Permute(ORDERS["random"])
  x = tf.ones([4, 5])

  def op_types(bijector):
    @tf.function
    def step(x):
      with tf.GradientTape() as tape:
        tape.watch(x)
        y = bijector.forward(x)
      return tape.gradient(tf.reduce_sum(y * y), x)
    graph = step.get_concrete_function(x).graph
    return {op.type for op in graph.get_operations()}

  assert "ReverseV2" in op_types(reverse)
  assert "GatherV2" not in op_types(reverse)
  assert "UnsortedSegmentSum" not in op_types(random)


def test_bad_arguments_raise():
  with pytest.raises(ValueError, match="exactly one of each"):
    Permute([0, 0, 1])
  with pytest.raises(ValueError, match="`axis` must be -1"):
    Permute([1, 0], axis=-2)

  @tf.function
  def build(order):
    return Permute(order)

  with pytest.raises(ValueError, match="`permutation` must be known"):
    build(tf.constant([1, 0]))
