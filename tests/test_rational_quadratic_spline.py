"""The rational-quadratic spline math: TFP agreement, identity, tails, knots, huge inputs."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.bijectors import rational_quadratic_spline as rqs

tfb = tfp.bijectors

K = 5
B = 3.


def _theta(shape, dtype, scale=2., seed=0):
  rng = np.random.default_rng(seed)
  return tf.constant(rng.standard_normal(shape + [rqs.num_params(K)]) * scale,
                     dtype)


def _tfp_spline(knots):
  return tfb.RationalQuadraticSpline(
      knots.x[..., 1:] - knots.x[..., :-1], knots.y[..., 1:] - knots.y[..., :-1],
      knots.d[..., 1:-1], range_min=-B)


@pytest.mark.parametrize("dtype,tol", [(tf.float32, 1e-5), (tf.float64, 1e-12)])
def test_agrees_with_tfp_per_entry(dtype, tol):
  # A different spline for each of the 4 x 6 entries, points in and out of
  # [-B, B]: TFP's spline (boundary slopes 1) with the same knots.
  knots = rqs.spline_knots(_theta([4, 6], dtype), K, B)
  x = tf.constant(np.random.default_rng(1).uniform(-4., 4., [4, 6]), dtype)
  reference = _tfp_spline(knots)
  y, log_derivative = rqs.forward(x, knots, B)
  np.testing.assert_allclose(y, reference.forward(x), atol=tol)
  np.testing.assert_allclose(
      log_derivative, reference.forward_log_det_jacobian(x, event_ndims=0),
      atol=10 * tol)
  x_back, inverse_log_derivative = rqs.inverse(y, knots, B)
  # A flat bin (derivative near the floor) loses digits in the inverse,
  # as TFP's does.
  np.testing.assert_allclose(x_back, reference.inverse(y), atol=100 * tol)
  np.testing.assert_allclose(x_back, x, atol=1e3 * tol)
  np.testing.assert_allclose(inverse_log_derivative, log_derivative,
                             atol=1e3 * tol)


def test_log_derivative_is_the_autodiff_derivative():
  # One spline for the 50 points.
  theta = tf.broadcast_to(_theta([1], tf.float64, seed=2),
                          [50, rqs.num_params(K)])
  knots = rqs.spline_knots(theta, K, B)
  x = tf.constant(np.linspace(-3.5, 3.5, 50), tf.float64)
  with tf.GradientTape() as tape:
    tape.watch(x)
    y, log_derivative = rqs.forward(x, knots, B)
  np.testing.assert_allclose(np.log(tape.gradient(y, x)), log_derivative,
                             atol=1e-10)
  assert np.all(np.diff(y.numpy()) > 0)  # monotone


def test_zero_parameters_give_the_identity():
  knots = rqs.spline_knots(tf.zeros([3, rqs.num_params(K)]), K, B)
  np.testing.assert_allclose(knots.d, np.ones([3, K + 1]), rtol=1e-6)
  x = tf.constant([[-10., -1., 2.9], [0., 1e-3, 2.], [3., -3., 0.5]])
  for fn in (rqs.forward, rqs.inverse):
    y, log_derivative = fn(x, knots, B)
    np.testing.assert_allclose(y, x, atol=1e-6)
    np.testing.assert_allclose(log_derivative, np.zeros([3, 3]), atol=1e-6)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_tails_knots_and_huge_inputs_have_finite_values_and_gradients(dtype):
  theta = _theta([1], dtype, scale=5., seed=3)
  knots = rqs.spline_knots(theta, K, B)
  # The knots themselves, the interval's ends, just inside and outside,
  # huge values, and float32's largest.
  special = np.concatenate([
      knots.x.numpy()[0], knots.y.numpy()[0],
      [B, -B, np.nextafter(B, 0.), -np.nextafter(B, 0.), B + 1e-6, 1e6, -1e6,
       1e20, -1e20, 3e38, 0.]])
  values = tf.constant(special, dtype)
  for fn in (rqs.forward, rqs.inverse):
    with tf.GradientTape(persistent=True) as tape:
      tape.watch([values, theta])
      knots = rqs.spline_knots(tf.broadcast_to(
          theta, [len(special), rqs.num_params(K)]), K, B)
      out, log_derivative = fn(values, knots, B)
      loss = tf.reduce_sum(out) + tf.reduce_sum(log_derivative)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(log_derivative))
    outside = np.abs(special) >= B
    np.testing.assert_array_equal(out.numpy()[outside], special[outside]
                                  .astype(out.dtype.as_numpy_dtype))
    for grad in tape.gradient(loss, [values, theta]):
      assert np.all(np.isfinite(grad)), (fn.__name__, grad)


def test_tfp_forward_gradient_is_nan_at_huge_inputs():
  # Why ours guards both branches: TFP evaluates its spline at the raw
  # out-of-range input, inf / inf at 1e20 in float32.
  knots = rqs.spline_knots(_theta([1], tf.float32, seed=4), K, B)
  x = tf.constant([1e20])
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = _tfp_spline(knots).forward(x)
  assert np.isnan(tape.gradient(y, x).numpy()[0])
  with tf.GradientTape() as tape:
    tape.watch(x)
    y, _ = rqs.forward(x, knots, B)
  np.testing.assert_array_equal(tape.gradient(y, x), [1.])


def test_huge_parameters_stay_finite():
  # A ReLU conditioner fed a far input outputs huge raw parameters.
  theta = tf.constant(np.random.default_rng(5).standard_normal(
      [8, rqs.num_params(K)]) * 1e30, tf.float32)
  knots = rqs.spline_knots(theta, K, B)
  x = tf.constant(np.linspace(-2.9, 2.9, 8), tf.float32)
  y, log_derivative = rqs.forward(x, knots, B)
  x_back, _ = rqs.inverse(y, knots, B)
  assert np.all(np.isfinite(y)) and np.all(np.isfinite(log_derivative))
  assert np.all(np.isfinite(x_back))


def test_bad_settings_and_parameters_are_named():
  with pytest.raises(ValueError, match="`num_bins` must be an integer >= 1"):
    rqs.check_spline_args(0, B, 1e-3, 1e-3, 1e-3)
  with pytest.raises(ValueError, match="`bound` must be a positive finite"):
    rqs.check_spline_args(K, -1., 1e-3, 1e-3, 1e-3)
  with pytest.raises(ValueError, match=r"`min_bin_width` must be in \[0, "
                     r"1 / num_bins\).*got 0.3"):
    rqs.check_spline_args(K, B, 0.3, 1e-3, 1e-3)
  with pytest.raises(ValueError, match="`min_bin_height`"):
    rqs.check_spline_args(K, B, 1e-3, -0.1, 1e-3)
  with pytest.raises(ValueError, match=r"`min_derivative` must be in \[0, 1\)"):
    rqs.check_spline_args(K, B, 1e-3, 1e-3, 1.)
  with pytest.raises(ValueError, match=r"3 \* num_bins - 1 = 14.*got 12"):
    rqs.spline_knots(tf.zeros([2, 12]), K, B)


@pytest.mark.parametrize("dtype,tol", [(tf.float32, 1e-5), (tf.float64, 1e-12)])
@pytest.mark.parametrize("inverse", [False, True])
def test_fused_transform_agrees_with_plain_ops(dtype, tol, inverse):
  # The XLA-compiled path (the bijectors' default) and plain ops: same
  # values and gradients, in and out of [-B, B], on [3, 4, 5] entries.
  theta = _theta([3, 4, 5], dtype, seed=6)
  values = tf.constant(np.random.default_rng(7).uniform(-4., 4., [3, 4, 5]),
                       dtype)
  results = []
  for jit_compile in (True, False):

    # Traced: eager calls take the plain ops either way.
    @tf.function
    def values_and_gradients(values, theta, jit_compile=jit_compile):
      with tf.GradientTape() as tape:
        tape.watch([values, theta])
        out, log_derivative = rqs.transform(values, theta, K, B,
                                            inverse=inverse,
                                            jit_compile=jit_compile)
        loss = tf.reduce_sum(out**2) + tf.reduce_sum(log_derivative)
      assert out.shape == values.shape == log_derivative.shape
      return [out, log_derivative] + tape.gradient(loss, [values, theta])

    results.append(values_and_gradients(values, theta))
  for fused, plain in zip(*results):
    np.testing.assert_allclose(fused, plain, atol=100 * tol, rtol=100 * tol)


def test_fused_transform_is_nested_only_outside_xla():
  # A compiled function nested in a compiled training step made every step
  # recompile; inside XLA the plain ops are traced into the caller.
  theta = _theta([6], tf.float32)
  values = tf.zeros([6])

  def nested_calls(jit_compile, fused=True):
    fn = tf.function(
        lambda v, t: rqs.transform(v, t, K, B, jit_compile=fused)[0],
        jit_compile=jit_compile)
    graph = fn.get_concrete_function(values, theta).graph
    return [op.type for op in graph.get_operations()
            if "PartitionedCall" in op.type]

  assert nested_calls(False)
  assert not nested_calls(True)
  assert not nested_calls(False, fused=False)


def test_fused_transform_checks_shapes_before_flattening():
  # 12 entries of [3, 4] and parameters for [4, 3]: flattening alone would
  # pair them up wrongly.
  with pytest.raises(ValueError, match=r"shape of the values plus one axis"):
    rqs.transform(tf.zeros([3, 4]), _theta([4, 3], tf.float32), K, B)
  with pytest.raises(ValueError, match=r"3 \* num_bins - 1 = 14.*got 12"):
    rqs.transform(tf.zeros([2]), tf.zeros([2, 12]), K, B)
