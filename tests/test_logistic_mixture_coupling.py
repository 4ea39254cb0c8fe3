"""LogisticMixtureCoupling: harness, inverse accuracy, stability, gradients."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from tfp_flows import testing
from tfp_flows.bijectors import masks
from tfp_flows.bijectors.logistic_mixture_coupling import \
    LogisticMixtureCoupling
from tfp_flows.nets import MLP


def _conv_net(out_channels, dtype):
  return tf_keras.Sequential([
      tf_keras.layers.Conv2D(8, 3, padding="same", activation="relu",
                             dtype=dtype),
      tf_keras.layers.Conv2D(out_channels, 3, padding="same",
                             kernel_initializer="zeros", dtype=dtype),
  ])


class Fixed(tf.Module):
  """A conditioner returning fixed parameters theta [B, (3K + 2) * d_B]."""

  def __init__(self, theta):
    super().__init__()
    self.theta = tf.Variable(theta)

  def __call__(self, x_a):
    del x_a
    return tf.convert_to_tensor(self.theta)


def _random_theta(rng, batch, k, d, log_scales=(-7., 3.)):
  """Raw parameters with wide spreads: weights, means +-3, scales e^-7..e^3."""
  blocks = [rng.normal(0., 3., [batch, 1, d]),       # b
            rng.normal(0., 2., [batch, 1, d]),       # raw a
            rng.normal(0., 2., [batch, k, d]),       # logits
            rng.normal(0., 3., [batch, k, d]),       # means
            rng.uniform(*log_scales, [batch, k, d])]  # log-scales
  return np.concatenate(blocks, axis=1).reshape(batch, -1)


# The harness's default perturbation (0.1) keeps the mixtures moderate. Much
# larger ones (0.3) can make two narrow components leave a CDF plateau flat to
# within float32 resolution, where forward(x) cannot resolve x and no inverse
# can return it (the harness's inverse(forward(x)) == x check); see the class
# docstring. Seeded: Keras initialisers draw the conditioner's other weights.


def test_harness_vector_split():
  tf_keras.utils.set_random_seed(0)
  # Event 5: x_A is the last 2 entries (reverse), x_B the first 3; K = 3.
  testing.check_bijector(
      lambda dtype: LogisticMixtureCoupling(
          MLP([8], output_units=(3 * 3 + 2) * 3, dtype=dtype),
          num_components=3, num_masked=2, reverse=True, validate_args=True,
          dtype=dtype),
      event_shape=[5], expect_trainable=True)


def test_harness_image_checkerboard():
  tf_keras.utils.set_random_seed(0)
  testing.check_bijector(
      lambda dtype: LogisticMixtureCoupling(
          _conv_net((3 * 2 + 2) * 2, dtype), num_components=2,
          mask=masks.checkerboard(4, 4, 2), dtype=dtype),
      event_shape=[4, 4, 2], expect_trainable=True)


def test_harness_with_tails_inside_the_sampled_range():
  # T = 1: the harness's standard normal points fall on both sides of +-T,
  # so round trips, the log-det against autodiff and the rest see the tails.
  tf_keras.utils.set_random_seed(0)
  testing.check_bijector(
      lambda dtype: LogisticMixtureCoupling(
          MLP([8], output_units=(3 * 3 + 2) * 2, dtype=dtype),
          num_components=3, num_masked=2, tail_bound=1., dtype=dtype),
      event_shape=[4], expect_trainable=True)


def _floored_theta(batch, k, d):
  """Raw a = 10 (a ~ 1) and every log-scale at the floor: the steepest map."""
  blocks = np.zeros([batch, 3 * k + 2, d])
  blocks[:, 1] = 10.
  blocks[:, 2 * k + 2:] = -100.
  return blocks.reshape(batch, -1)


def test_linear_tails_bound_each_layer_and_a_stack():
  k = 4
  e = np.float32(np.e)
  # One event [0, x] per value: x_A = 0, x_B = x.
  values = np.array([0.6, 999., 1e3, 1001., 1e4, -1e4, -3e36], np.float32)
  x = np.stack([np.zeros_like(values), values], axis=1)
  theta = tf.constant(_floored_theta(len(values), k, 1), tf.float32)
  layer = LogisticMixtureCoupling(Fixed(theta), num_components=k,
                                  num_masked=1)
  y = layer.forward(x).numpy()[:, 1]
  ldj = layer.forward_log_det_jacobian(x, event_ndims=1).numpy()
  # Just beyond the outermost mean (0.5) the slope is e^a e^7 ~ e^8; beyond
  # +-T = 1e3 it is 1, continuing g from g(+-T).
  bound = e * (1e3 + 1e3 + 0.5) * e**7 + 1e3  # C, the class docstring's
  assert 0.9 * e**8 * (1e3 - 0.5) < y[2] < bound
  np.testing.assert_allclose(y[3] - y[2], 1., rtol=1e-3)
  np.testing.assert_allclose(y[4] - y[2], 1e4 - 1e3, rtol=1e-6)
  assert np.all(np.abs(y) <= np.abs(values) + bound)
  assert np.all(ldj[:3] > 7.9) and np.all(ldj[3:] == 0.), ldj
  np.testing.assert_allclose(layer.inverse(layer.forward(x)), x, rtol=1e-6)
  # A stack of 8 such layers at 1e4: additive growth with the tails, e^8 per
  # layer without (latents past 1e30, and a Gaussian log-density of -inf).
  for tail_bound, finite in ((1e3, True), (None, False)):
    layer = LogisticMixtureCoupling(Fixed(theta[:1]), num_components=k,
                                    num_masked=1, tail_bound=tail_bound)
    z = tf.constant([[0., 1e4]])
    for _ in range(8):
      z = layer.forward(z)
    log_prob = -0.5 * tf.reduce_sum(tf.square(z))
    assert np.isfinite(log_prob) == finite, (tail_bound, z)
    if finite:
      assert np.max(np.abs(z)) <= 1e4 + 8 * bound


@pytest.mark.parametrize("dtype,tolerance", [(tf.float32, 1e-3),
                                             (tf.float64, 1e-10)])
def test_inverse_accuracy_over_wide_range(dtype, tolerance):
  """max |forward(inverse(y)) - y| over y in [-30, 30], harsh mixtures."""
  rng = np.random.default_rng(1)
  k, d, batch = 8, 500, 4
  layer = LogisticMixtureCoupling(
      Fixed(tf.constant(_random_theta(rng, batch, k, d), dtype)),
      num_components=k, num_masked=1, dtype=dtype)
  y = np.concatenate(
      [np.zeros([batch, 1]), rng.uniform(-30., 30., [batch, d])], axis=1)
  y = tf.constant(y, dtype)
  x = layer.inverse(y)
  error = np.max(np.abs(layer.forward(tf.identity(x)) - y))
  assert error < tolerance
  # Fewer search steps than the default leave a visibly worse inverse.
  coarse = LogisticMixtureCoupling(layer.conditioner, num_components=k,
                                   num_masked=1, max_iterations=2, dtype=dtype)
  x = coarse.inverse(y)
  assert np.max(np.abs(coarse.forward(tf.identity(x)) - y)) > 10 * error


def _every_entry(raw, n):
  """theta [1, (3K + 2) * n]: one entry's raw parameters `raw` for n entries."""
  return np.repeat(raw[None, :, None], n, axis=2).reshape(1, -1)


def _pass_with_gradients(layer, value, inverse=False):
  """(output, log-det, gradients of their sum into value and theta)."""
  with tf.GradientTape() as tape:
    tape.watch(value)
    if inverse:
      out = layer.inverse(value)
      ldj = layer.inverse_log_det_jacobian(value, event_ndims=1)
    else:
      out = layer.forward(value)
      ldj = layer.forward_log_det_jacobian(value, event_ndims=1)
    loss = tf.reduce_sum(out) + tf.reduce_sum(ldj)
  return out, ldj, tape.gradient(loss, [value, layer.conditioner.theta])


def test_forward_is_stable_in_the_tails():
  """|x| up to 30, CDF within float precision of 0 or 1, floored scales."""
  n = 61
  # One entry's mixture: a near-one-hot weight, a floored scale (-9 -> -7),
  # a mean at 29 and a broad component; values per block, K = 4.
  raw = np.array([1., 3.] + [20., -20., 0., 5.] + [-3., 0., 3., 29.] +
                 [-7., -9., 0., -7.])
  theta = _every_entry(raw, n)
  x = np.concatenate([[[0.]], np.linspace(-30., 30., n)[None]], axis=1)
  results = {}
  for dtype in (tf.float32, tf.float64):
    layer = LogisticMixtureCoupling(Fixed(tf.constant(theta, dtype)),
                                    num_components=4, num_masked=1,
                                    dtype=dtype)
    y, fldj, grads = _pass_with_gradients(layer, tf.constant(x, dtype))
    assert all(np.all(np.isfinite(g)) for g in grads)
    results[dtype.name] = y.numpy(), fldj.numpy()
  (y32, fldj32), (y64, fldj64) = results["float32"], results["float64"]
  assert np.all(np.isfinite(y32)) and np.isfinite(fldj32).all()
  np.testing.assert_allclose(y32, y64, rtol=1e-6, atol=1e-5)
  np.testing.assert_allclose(fldj32, fldj64, rtol=1e-6)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
def test_inverse_on_a_flat_cdf_stays_finite(dtype):
  """Two distant narrow components: c(x) is flat between them.

  There 1 / g' overflows; the unbounded Newton step was 0 * inf = NaN at the
  plateau's y (and a jump far away near it).
  """
  k, n = 2, 41
  # Per entry: b, raw a, K logits, K means (+-10), K log-scales (floored -7).
  raw = np.array([0., 0., 0., 0., -10., 10., -7., -7.])
  theta = _every_entry(raw, n)
  layer = LogisticMixtureCoupling(Fixed(tf.constant(theta, dtype)),
                                  num_components=k, component_spread=0.,
                                  num_masked=1, dtype=dtype)
  y = tf.constant(np.concatenate([[[0.]], np.linspace(-2., 2., n)[None]],
                                 axis=1), dtype)
  x, ildj, grads = _pass_with_gradients(layer, y, inverse=True)
  assert np.all(np.isfinite(x)) and np.all(np.isfinite(ildj))
  assert all(np.all(np.isfinite(g)) for g in grads)
  # Every x lies in the mixture's range, and maps back onto y (float32: the
  # slope near a component, e^7, times x's rounding, as in the test above).
  assert np.max(np.abs(x.numpy()[:, 1:])) <= 10.1
  np.testing.assert_allclose(layer.forward(tf.identity(x)), y,
                             atol=1e-3 if dtype == tf.float32 else 1e-9)


def test_inverse_gradients_are_implicit_function_gradients():
  rng = np.random.default_rng(3)
  theta = tf.constant(_random_theta(rng, 2, 3, 4, log_scales=(-1., 1.)),
                      tf.float64)
  layer = LogisticMixtureCoupling(Fixed(theta), num_components=3, num_masked=1,
                                  dtype=tf.float64)
  y = tf.constant(rng.normal(0., 3., [2, 5]))
  weights = tf.constant(rng.normal(size=[2, 5]))

  def loss():
    return tf.reduce_sum(layer.inverse(tf.identity(y)) * weights)

  with tf.GradientTape(persistent=True) as tape:
    tape.watch(y)
    value = loss()
  # dx/dy through the search: the Jacobian's log-det is the inverse log-det.
  with tf.GradientTape() as jac_tape:
    jac_tape.watch(y)
    x = layer.inverse(tf.identity(y))
  jacobian = jac_tape.batch_jacobian(x, y)
  np.testing.assert_allclose(
      tf.linalg.slogdet(jacobian)[1],
      layer.inverse_log_det_jacobian(tf.identity(y), event_ndims=1),
      rtol=1e-9)
  # d loss / d theta against central differences.
  grad = tape.gradient(value, layer.conditioner.theta).numpy()
  index = (1, int(np.argmax(np.abs(grad[1]))))
  step = 1e-5
  base = layer.conditioner.theta.numpy()
  values = []
  for sign in (1., -1.):
    moved = base.copy()
    moved[index] += sign * step
    layer.conditioner.theta.assign(moved)
    values.append(float(loss()))
  layer.conditioner.theta.assign(base)
  # Central differences: O(step^2) truncation, O(eps / step) rounding.
  np.testing.assert_allclose(grad[index], (values[0] - values[1]) / (2 * step),
                             rtol=1e-8)


@pytest.mark.parametrize("k,spread,bound", [(1, 0.5, 1e-12), (4, 0., 1e-12),
                                            (4, 0.5, 0.07), (32, 0.5, 0.05)])
def test_zero_conditioner_is_near_identity(k, spread, bound):
  layer = LogisticMixtureCoupling(
      Fixed(tf.zeros([1, (3 * k + 2) * 1], tf.float64)), num_components=k,
      num_masked=1, component_spread=spread, dtype=tf.float64)
  x = tf.constant(np.stack([np.zeros(2001), np.linspace(-40., 40., 2001)], -1))
  assert np.max(np.abs(layer.forward(x) - x)) < bound
  assert np.max(np.abs(layer.forward_log_det_jacobian(x, event_ndims=1))) < (
      bound)


@pytest.mark.parametrize("spread", [0., 0.5])
def test_component_offsets_break_the_symmetry(spread):
  """Identical components get identical gradients: they never separate."""
  k = 3
  tf_keras.utils.set_random_seed(0)
  net = MLP([8], output_units=(3 * k + 2) * 2)
  net.build([None, 2])
  layer = LogisticMixtureCoupling(net, num_components=k, num_masked=2,
                                  component_spread=spread)
  optimizer = tf_keras.optimizers.Adam(0.01)
  x = tf.random.normal([32, 4])
  for _ in range(5):
    with tf.GradientTape() as tape:
      # Maximum likelihood of x under N(0, I) pulled back by the layer.
      loss = -tf.reduce_mean(
          layer.forward_log_det_jacobian(x, event_ndims=1) -
          0.5 * tf.reduce_sum(tf.square(layer.forward(x)), -1))
    variables = net.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
  # Output columns of the means of components 0 and 1 (block 2 + k + j).
  kernel = net.out.kernel.numpy()
  mu0, mu1 = (kernel[:, (2 + k + j) * 2:(3 + k + j) * 2] for j in (0, 1))
  assert np.abs(mu0).max() > 0
  if spread:
    assert np.abs(mu0 - mu1).max() > 1e-3
  else:
    np.testing.assert_allclose(mu0, mu1, rtol=1e-6, atol=1e-9)


def test_huge_conditioner_output_on_masked_entries_does_not_leak():
  mask = masks.checkerboard(4, 4, 1)
  k = 2
  pattern = np.concatenate(
      [np.where(mask == 1, 1e30, 0.)] * (3 * k + 2), axis=-1)

  class Huge(tf.Module):

    def __init__(self):
      super().__init__()
      self.v = tf.Variable(1.)

    def __call__(self, x_a):
      return self.v * tf.broadcast_to(
          tf.constant(pattern, tf.float32),
          tf.concat([tf.shape(x_a)[:-1], [3 * k + 2]], 0))

  layer = LogisticMixtureCoupling(Huge(), num_components=k, mask=mask)
  y = tf.random.normal([3, 4, 4, 1])
  with tf.GradientTape() as tape:
    x = layer.inverse(y)
    loss = tf.reduce_sum(x) + tf.reduce_sum(
        layer.inverse_log_det_jacobian(y, event_ndims=3))
  assert np.all(np.isfinite(x))
  assert np.isfinite(tape.gradient(loss, layer.conditioner.v))


def test_conditioner_called_once_per_pass():
  calls = []
  net = MLP([8], output_units=(3 * 2 + 2) * 2)

  def conditioner(x_a):
    calls.append(1)
    return net(x_a)

  layer = LogisticMixtureCoupling(conditioner, num_components=2, num_masked=2)
  y = tf.random.normal([3, 4])
  x = layer.inverse(y)
  layer.inverse_log_det_jacobian(y, event_ndims=1)
  layer.forward_log_det_jacobian(x, event_ndims=1)
  assert len(calls) == 1


def test_bad_arguments():
  with pytest.raises(ValueError, match=r"\(3 \* 2 \+ 2\) \* 2 = 16.*got 12"):
    LogisticMixtureCoupling(MLP([4], output_units=12), num_components=2,
                            num_masked=2).forward(tf.zeros([1, 4]))
  with pytest.raises(ValueError, match="`num_components` must be a positive"):
    LogisticMixtureCoupling(MLP([4], output_units=2), num_components=0,
                            num_masked=1)
  with pytest.raises(ValueError, match="`max_iterations` must be a positive"):
    LogisticMixtureCoupling(MLP([4], output_units=2), max_iterations=0,
                            num_masked=1)
  with pytest.raises(ValueError, match="`tail_bound` must be a positive"):
    LogisticMixtureCoupling(MLP([4], output_units=2), tail_bound=0.,
                            num_masked=1)
  with pytest.raises(ValueError, match="`component_spread` must be >= 0"):
    LogisticMixtureCoupling(MLP([4], output_units=2), component_spread=-1.,
                            num_masked=1)
