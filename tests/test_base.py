"""Shared bijector plumbing: `base.clip_range`, `base.linear_tails` and `base.unstack_last`."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows.bijectors import base


def _value_and_gradient(fn, x):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = fn(x)
  return y, tape.gradient(y, x)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("low,high", [(-2., 3.), (-2., None), (None, 3.)])
def test_clip_range_matches_tf_clips(dtype, low, high):
  # Inside, at both ends, beyond, and infinite: the values and gradients of
  # TF's own clip (a select per end in its gradient).
  x = tf.constant([-np.inf, -5., -2., -1., 0., 2.5, 3., 7., np.inf], dtype)

  def reference(x):
    if low is not None:
      x = tf.maximum(x, tf.constant(low, dtype))
    if high is not None:
      x = tf.minimum(x, tf.constant(high, dtype))
    return x

  for got, want in zip(
      _value_and_gradient(lambda x: base.clip_range(x, low, high), x),
      _value_and_gradient(reference, x)):
    np.testing.assert_array_equal(got, want)


def test_clip_is_symmetric_and_none_is_the_identity():
  x = tf.constant([-4., 0.5, 4.])
  np.testing.assert_array_equal(base.clip(x, 1.), [-1., 0.5, 1.])
  assert base.clip(x, None) is x
  y, grad = _value_and_gradient(lambda x: base.clip(x, 1.), x)
  np.testing.assert_array_equal(grad, [0., 1., 0.])
  del y


def test_linear_tails_values_exact_inside_and_slope_one_beyond():
  x = tf.constant([-10., -2., 0.5, 2., 10.], tf.float64)
  y, grad = _value_and_gradient(
      lambda x: base.linear_tails(lambda v: (3. * v, np.log(3.) +
                                             0. * v), x, 2.)[0], x)
  y = y.numpy()
  np.testing.assert_array_equal(y[1:4], 3. * x.numpy()[1:4])
  np.testing.assert_array_equal(y[[0, 4]], [-6. - 8., 6. + 8.])
  np.testing.assert_array_equal(grad, [1., 3., 3., 3., 1.])
  _, log_slope = base.linear_tails(
      lambda v: (3. * v, np.log(3.) + 0. * v), x, 2.)
  np.testing.assert_allclose(log_slope, [0., np.log(3.), np.log(3.),
                                         np.log(3.), 0.])


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_linear_tails_gradients_inside_are_the_transforms_to_the_bit(dtype):
  # Inside the bound, the gradients into x and into the transform's own
  # parameters equal those of the transform alone, bit for bit.
  rng = np.random.default_rng(0)
  x = tf.constant(rng.uniform(-0.9, 0.9, [64]), dtype)
  weights = tf.constant(rng.uniform(-2., 2., [64]), dtype)
  # A flat transform: with slope J << 1, autodiff's (g J - g) + g rounds.
  scale = tf.Variable(tf.constant(0.0123, dtype))

  def transform(v):
    log_slope = tf.math.log(scale * tf.cosh(v))
    return tf.sinh(v) * scale, log_slope

  results = []
  for fn in (lambda v: transform(v),
             lambda v: base.linear_tails(transform, v, 1.)):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y, log_slope = fn(x)
      loss = tf.reduce_sum(weights * y) + tf.reduce_sum(log_slope)
    results.append([y, log_slope] + tape.gradient(loss, [x, scale]))
  for tails, alone in zip(*results):
    np.testing.assert_array_equal(tails, alone)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("num", [2, 3])
def test_unstack_last_matches_tf_unstack(dtype, jit, num):
  # Values and gradients of tf.unstack, weights differing per part (so a
  # transpose in the wrong order would show), also with a part unused.
  rng = np.random.default_rng(num)
  value = tf.constant(rng.normal(size=[3, 5, num]), dtype)
  weights = [tf.constant(rng.normal(size=[3, 5]), dtype) for _ in range(num)]

  def loss(unstack, value, parts_used):
    parts = unstack(value)
    return tf.add_n([tf.reduce_sum(w * tf.sin(p))
                     for w, p in list(zip(weights, parts))[:parts_used]])

  @tf.function(jit_compile=jit)
  def both(value, parts_used):
    results = []
    for unstack in (lambda v: tf.unstack(v, num=num, axis=-1),
                    lambda v: base.unstack_last(v, num)):
      with tf.GradientTape() as tape:
        tape.watch(value)
        out = loss(unstack, value, parts_used)
      results.append((out, tape.gradient(out, value),
                      tf.stack(unstack(value), -1)))
    return results

  for parts_used in (num, 1):
    want, got = both(value, parts_used)
    for g, w in zip(got, want):
      np.testing.assert_array_equal(g, w)
  # Without a static rank it is tf.unstack itself.
  unknown = tf.function(lambda v: tf.stack(base.unstack_last(v, num), -1),
                        input_signature=[tf.TensorSpec(None, dtype)])
  np.testing.assert_array_equal(unknown(value), value)
