"""Flows over vectors (MAF, IAF, NSF, NICE, coupling_flow): checks, order, naming."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors
from tfp_flows.flows import vector_stack


@pytest.mark.parametrize("event_shape,num_layers,permutation,message", [
    ([1], 2, "reverse", "at least 2 entries"),
    ([2, 2], 0, "reverse", "`num_layers` must be >= 1"),
    ([4], 2, "shuffle", "`permutation` must be one of"),
])
def test_check_stack_args_names_the_argument(event_shape, num_layers,
                                             permutation, message):
  with pytest.raises(ValueError, match=message):
    vector_stack.check_stack_args(event_shape, num_layers, permutation)


def test_check_stack_args_counts_entries():
  assert vector_stack.check_stack_args((2, 3), 1, "random") == ([2, 3], 6)
  # No permutation to check (coupling_flow alternates halves instead).
  assert vector_stack.check_stack_args([4], 2) == ([4], 4)
  assert vector_stack.event_size([2, 1, 2]) == ([2, 1, 2], 4)
  with pytest.raises(ValueError, match="at least 2 entries; got \\[1, 1\\]"):
    vector_stack.event_size([1, 1])


def _layer(i):
  return bijectors.ActNorm(4, event_ndims=1, name=f"layer{i}")


@pytest.mark.parametrize("permutation", vector_stack.PERMUTATIONS)
def test_permuted_stack_order(permutation):
  parts = vector_stack.permuted_stack(
      4, 3, _layer, actnorm=True, permutation=permutation, seed=1,
      validate_args=False, dtype=tf.float32, name="s")
  # ActNorm, layer, permutation per layer; none after the last layer.
  assert [p.name for p in parts] == [
      "s_actnorm0", "layer0", "s_permute0", "s_actnorm1", "layer1",
      "s_permute1", "s_actnorm2", "layer2"]
  orders = [np.asarray(p.parameters["permutation"]) for p in parts
            if isinstance(p, bijectors.Permute)]
  if permutation == "reverse":
    for order in orders:
      np.testing.assert_array_equal(order, [3, 2, 1, 0])
  else:
    rng = np.random.RandomState(1)
    for order in orders:
      np.testing.assert_array_equal(order, rng.permutation(4))


def test_vector_flow_flattens_events_first():
  dist = vector_stack.vector_flow([2, 2], 4, [_layer(0)], "logistic",
                                    validate_args=True, dtype=tf.float32,
                                    name="v")
  assert dist.name == "v" and dist.bijector.name == "v_bijector"
  assert dist.event_shape == [2, 2]
  x = tf.reshape(tf.range(8, dtype=tf.float32), [2, 2, 2])
  assert dist.log_prob(x).shape == [2]
  with pytest.raises(Exception, match=r"\[2, 2\]"):
    dist.log_prob(tf.zeros([2, 4]))
