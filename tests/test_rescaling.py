"""Rescaling: harness, log-det value, arguments."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors
from tfp_flows import testing


def test_harness():
  testing.check_bijector(lambda dt: bijectors.Rescaling([5], dtype=dt), [5],
                         expect_trainable=True)


def test_harness_image_event():
  testing.check_bijector(lambda dt: bijectors.Rescaling([2, 2, 3], dtype=dt),
                         [2, 2, 3], expect_trainable=True)


def test_log_det_is_sum_of_log_scale():
  s = np.array([0.5, -1., 2.], np.float32)
  b = bijectors.Rescaling(log_scale=s)
  x = tf.random.normal([4, 3])
  np.testing.assert_allclose(b.forward(x), x * np.exp(s), rtol=1e-6)
  ldj = b.forward_log_det_jacobian(x, event_ndims=1)
  np.testing.assert_allclose(np.broadcast_to(ldj, [4]), [s.sum()] * 4,
                             rtol=1e-6)
  assert b.is_constant_jacobian
  assert not b.trainable_variables  # a constant was given


def test_arguments():
  with pytest.raises(ValueError, match="Exactly one of `event_shape`"):
    bijectors.Rescaling()
  with pytest.raises(ValueError, match=r"event shape \[3\].*got \[4\]"):
    bijectors.Rescaling([3]).forward(tf.zeros([2, 4]))
