"""Unflatten: harness and shape errors."""

import pytest
import tensorflow as tf

from tfp_flows import bijectors
from tfp_flows import testing


def test_harness():
  testing.check_bijector(lambda dt: bijectors.Unflatten([2, 3, 1]), [6],
                         expect_trainable=False)


def test_event_shapes():
  b = bijectors.Unflatten([2, 3, 1])
  assert b.forward_event_shape([5, 6]).as_list() == [5, 2, 3, 1]
  assert b.inverse_event_shape([5, 2, 3, 1]).as_list() == [5, 6]


def test_wrong_shape_error_names_both_shapes():
  b = bijectors.Unflatten([2, 3, 1])
  with pytest.raises(ValueError, match=r"\[2, 3, 1\].*got \[2, 3, 2\]"):
    b.inverse(tf.zeros([4, 2, 3, 2]))
  with pytest.raises(ValueError, match=r"event shape \[6\].*got \[5\]"):
    b.forward(tf.zeros([4, 5]))


def test_bad_event_shape_argument():
  with pytest.raises(ValueError, match="fully defined"):
    bijectors.Unflatten([None, 3])
