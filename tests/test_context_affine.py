"""ContextAffine: a class-conditional prior N(mu(c), sigma(c)) as a bijector."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import testing
from tfp_flows.bijectors import ContextAffine


def test_harness_with_a_context():
  testing.check_bijector(
      lambda dtype: ContextAffine(4, [3], dtype=dtype), [4],
      expect_trainable=True, perturb_variables=0.5,
      context=np.array([0., 1., 0.]))


def test_starts_as_the_identity_and_moves_per_class():
  b = ContextAffine(3, [2])
  x = tf.random.stateless_normal([4, 3], [1, 2])
  c = tf.one_hot([0, 1, 1, 0], 2)
  np.testing.assert_array_equal(b.forward(x, conditional_input=c), x)
  b.trainable_variables[0].assign(
      tf.reshape(tf.range(12, dtype=tf.float32) / 10., [2, 6]))
  y = b.forward(x, conditional_input=c)
  # Row 0 has class 0: mu = W[0, :3] (+ bias 0), log sigma the soft-bounded
  # 5 tanh(W[0, 3:] / 5).
  kernel = b.trainable_variables[0].numpy()
  mu, log_sigma = kernel[0, :3], 5. * np.tanh(kernel[0, 3:] / 5.)
  np.testing.assert_allclose(y[0], mu + x[0] * np.exp(log_sigma), rtol=1e-5)
  np.testing.assert_allclose(
      b.forward_log_det_jacobian(x, event_ndims=1, conditional_input=c)[0],
      np.sum(log_sigma), rtol=1e-5)
  # One context for the whole batch equals it repeated; rows differ by class.
  np.testing.assert_allclose(b.forward(x, conditional_input=c[1]),
                             b.forward(x, conditional_input=tf.stack([c[1]] * 4)))
  assert np.max(np.abs(y[0] - y[1] - (x[0] - x[1]))) > 0.1


def test_bounds_keep_far_inputs_finite():
  b = ContextAffine(2, [1])
  b.trainable_variables[0].assign(tf.constant([[1e6, -1e6, 1e6, -1e6]]))
  x = tf.constant([[1e4, -1e4]])
  c = tf.ones([1, 1])
  for value in (b.forward(x, conditional_input=c),
                b.inverse(x, conditional_input=c),
                b.forward_log_det_jacobian(x, 1, conditional_input=c)):
    assert np.all(np.isfinite(value))
  np.testing.assert_allclose(
      b.forward_log_det_jacobian(x, 1, conditional_input=c), 0., atol=1e-4)


def test_bad_contexts_and_arguments():
  b = ContextAffine(2, [3], name="prior")
  x = tf.zeros([2, 2])
  with pytest.raises(ValueError, match=r"prior is conditional: "
                     r"`conditional_input` of shape \[\.\.\., 3\] is required"):
    b.forward(x)
  with pytest.raises(ValueError, match=r"must have shape \[\.\.\., 3\]; got "
                     r"\[2, 4\]"):
    b.forward(x, conditional_input=tf.zeros([2, 4]))
  with pytest.raises(ValueError, match="must be a number tensor"):
    b.forward(x, conditional_input=tf.constant(["a", "b", "c"]))
  with pytest.raises(ValueError, match="rank-1 shape"):
    ContextAffine(2, [3, 1])
  with pytest.raises(ValueError, match="`event_size` must be >= 1"):
    ContextAffine(0, [3])
