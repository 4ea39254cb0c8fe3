"""AffineCoupling: harness on vectors and images, one conditioner call."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows import testing
from tfp_flows.bijectors import masks
from tfp_flows.bijectors.affine_coupling import AffineCoupling
from tfp_flows.nets import MLP

tfd = tfp.distributions


def _conv_net(out_channels, dtype):
  """3x3 conv ReLU, zero-initialised 3x3 conv: [B, H, W, C] -> [B, H, W, out].

  Coupling folds every batch shape into the one batch dim Conv2D wants.
  """
  return tf_keras.Sequential([
      tf_keras.layers.Conv2D(8, 3, padding="same", activation="relu",
                             dtype=dtype),
      tf_keras.layers.Conv2D(out_channels, 3, padding="same",
                             kernel_initializer="zeros", dtype=dtype),
  ])


class Counting(tf.Module):
  """Wraps a conditioner and counts its (Python-level) calls."""

  def __init__(self, net):
    super().__init__()
    self.net = net
    self.calls = 0

  def __call__(self, x):
    self.calls += 1
    return self.net(x)


def _image_layer(kind, dtype, scale_fn="exp_tanh", **kwargs):
  """A coupling of [4, 4, 2] events: checkerboard, channel mask or split."""
  if kind == "checkerboard":
    return AffineCoupling(_conv_net(4, dtype),
                          mask=masks.checkerboard(4, 4, 2), scale_fn=scale_fn,
                          dtype=dtype, **kwargs)
  if kind == "channel_mask":
    return AffineCoupling(_conv_net(4, dtype),
                          mask=masks.channel_mask(2), event_ndims=3,
                          scale_fn=scale_fn, dtype=dtype, **kwargs)
  return AffineCoupling(_conv_net(2, dtype), num_masked=1, event_ndims=3,
                        scale_fn=scale_fn, dtype=dtype, **kwargs)


@pytest.mark.parametrize("scale_fn,reverse", [("exp_tanh", False),
                                              ("sigmoid", True),
                                              ("inverse_sigmoid", True)])
def test_harness_vector_split(scale_fn, reverse):
  # Event size 5, x_A has 2 entries (the last 2 when reversed), x_B has 3.
  testing.check_bijector(
      lambda dtype: AffineCoupling(
          MLP([8], output_units=2 * 3, dtype=dtype), num_masked=2,
          reverse=reverse, scale_fn=scale_fn, validate_args=True,
          dtype=dtype),
      event_shape=[5], expect_trainable=True)


@pytest.mark.parametrize("scale_fn", ["exp_tanh", "sigmoid",
                                      "inverse_sigmoid"])
def test_harness_with_tails_inside_the_sampled_range(scale_fn):
  # T = 1: the harness's standard normal points fall on both sides of +-T.
  testing.check_bijector(
      lambda dtype: AffineCoupling(
          MLP([8], output_units=2 * 3, dtype=dtype), num_masked=2,
          scale_fn=scale_fn, tail_bound=1., dtype=dtype),
      event_shape=[5], expect_trainable=True)


def test_linear_tails_make_a_stack_of_steepest_layers_additive():
  """Glow's couplings with log s at the floor: e^4 per layer without tails."""

  def steepest(x_a):  # t = 0, raw scale -100: log s = -4, the floor
    return tf.concat([tf.zeros_like(x_a), tf.fill(tf.shape(x_a), -100.)], -1)

  y = tf.constant([[0., 999.], [0., 1e3], [0., 1001.], [0., -1e4]])
  layer = AffineCoupling(steepest, num_masked=1, scale_fn="sigmoid")
  x = layer.inverse(y).numpy()[:, 1]
  np.testing.assert_allclose(x[:2], np.exp(4.) * np.array([999., 1e3]),
                             rtol=1e-5)
  np.testing.assert_allclose(x[2] - x[1], 1., rtol=1e-3)
  np.testing.assert_allclose(
      layer.inverse_log_det_jacobian(y, event_ndims=1), [4., 4., 0., 0.])
  np.testing.assert_allclose(layer.forward(layer.inverse(y)), y, rtol=1e-6)
  c = (1e3 + 1e3) * np.exp(4.)  # the class docstring's C
  for tail_bound, finite in ((1e3, True), (None, False)):
    layer = AffineCoupling(steepest, num_masked=1, scale_fn="sigmoid",
                           tail_bound=tail_bound)
    z = tf.constant([[0., 1e4]])
    for _ in range(12):
      z = layer.inverse(z)
    log_prob = tfd.Normal(0., 1.).log_prob(z)
    assert np.all(np.isfinite(log_prob)) == finite, (tail_bound, z)
    if finite:
      assert np.max(np.abs(z)) <= 1e4 + 12 * c


def test_inverse_sigmoid_contracts_towards_the_latent_whatever_the_weights():
  """Glow's orientation: data to latent multiplies by sigmoid(h + 2)."""

  def steepest(x_a):  # t = 0, raw scale -100: sigmoid at its floor e^-4
    return tf.concat([tf.zeros_like(x_a), tf.fill(tf.shape(x_a), -100.)], -1)

  layer = AffineCoupling(steepest, num_masked=1, scale_fn="inverse_sigmoid")
  y = tf.constant([[0., 999.], [0., -3.], [0., 1e4]])
  np.testing.assert_allclose(layer.inverse(y)[:2, 1],
                             np.exp(-4.) * np.array([999., -3.]), rtol=1e-5)
  np.testing.assert_allclose(
      layer.inverse_log_det_jacobian(y, event_ndims=1), [-4., -4., 0.],
      rtol=1e-6)
  np.testing.assert_allclose(layer.forward(layer.inverse(y)), y, rtol=1e-5)

  def widest(x_a):  # the largest shift and a sigmoid near 1
    return tf.concat([tf.fill(tf.shape(x_a), 1e9), tf.fill(tf.shape(x_a),
                                                           100.)], -1)

  # |x_B| <= |y_B| + S per layer: twelve layers of the largest shift add
  # at most 12 S. Control: "sigmoid" multiplies by up to e^4 per layer
  # (additively bounded only by its tails, C = 2e3 e^4 per layer).
  most = 1e4 + 12 * 1e3
  for scale_fn in ("inverse_sigmoid", "sigmoid"):
    layer = AffineCoupling(steepest, num_masked=1, scale_fn=scale_fn)
    shift = AffineCoupling(widest, num_masked=1, scale_fn=scale_fn)
    z = tf.constant([[0., 1e4]])
    for _ in range(6):
      z = shift.inverse(layer.inverse(z))
    assert (np.max(np.abs(z)) <= most) == (scale_fn == "inverse_sigmoid")


def test_harness_vector_halves_mask():
  testing.check_bijector(
      lambda dtype: AffineCoupling(
          MLP([8], output_units=2 * 4, dtype=dtype), mask=masks.halves(4),
          dtype=dtype),
      event_shape=[4], expect_trainable=True)


@pytest.mark.parametrize("kind,scale_fn", [
    ("checkerboard", "exp_tanh"),
    ("checkerboard", "sigmoid"),
    ("channel_mask", "exp_tanh"),
    ("channel_split", "sigmoid"),
    ("checkerboard", "inverse_sigmoid"),
    ("channel_split", "inverse_sigmoid"),
])
def test_harness_images(kind, scale_fn):
  testing.check_bijector(
      lambda dtype: _image_layer(kind, dtype, scale_fn, validate_args=True),
      event_shape=[4, 4, 2], expect_trainable=True)


def test_zero_conditioner_exp_tanh_is_identity():
  layer = _image_layer("checkerboard", tf.float32)
  x = tf.random.normal([3, 4, 4, 2])
  np.testing.assert_array_equal(layer.forward(x), x)
  np.testing.assert_array_equal(
      layer.forward_log_det_jacobian(x, event_ndims=3), np.zeros([3]))
  np.testing.assert_array_equal(layer.scale_factor, np.ones([2]))


def test_zero_conditioner_sigmoid_scales_by_sigmoid_2():
  layer = AffineCoupling(MLP([8], output_units=4), num_masked=2,
                         scale_fn="sigmoid")
  x = tf.random.normal([3, 4])
  y = layer.forward(x)
  s = 1. / (1. + np.exp(-2.))
  np.testing.assert_allclose(y[:, :2], x[:, :2])
  np.testing.assert_allclose(y[:, 2:], s * x[:, 2:], rtol=1e-6)
  np.testing.assert_allclose(layer.forward_log_det_jacobian(x, event_ndims=1),
                             np.full([3], 2 * np.log(s)), rtol=1e-6)
  assert layer.scale_factor is None


def test_zero_conditioner_inverse_sigmoid_divides_by_sigmoid_2():
  layer = AffineCoupling(MLP([8], output_units=4), num_masked=2,
                         scale_fn="inverse_sigmoid")
  x = tf.random.stateless_normal([3, 4], [4, 2])
  s = 1. / (1. + np.exp(-2.))
  np.testing.assert_allclose(layer.inverse(x)[:, 2:], s * x[:, 2:],
                             rtol=1e-6)
  np.testing.assert_allclose(layer.forward(x)[:, 2:], x[:, 2:] / s,
                             rtol=1e-6)
  np.testing.assert_allclose(layer.inverse_log_det_jacobian(x, event_ndims=1),
                             np.full([3], 2 * np.log(s)), rtol=1e-6)


def test_exp_tanh_log_scale_is_bounded_by_scale_factor():
  # A huge raw scale saturates tanh: log s = scale_factor exactly.
  def conditioner(x_a):
    return tf.concat([tf.zeros_like(x_a), tf.fill(tf.shape(x_a), 1e6)], -1)

  layer = AffineCoupling(conditioner, num_masked=2)
  x = tf.random.normal([3, 4])
  layer.forward(x)
  layer.scale_factor.assign([0.5, -2.])
  np.testing.assert_allclose(
      layer.forward(x)[:, 2:], x[:, 2:] * np.exp([0.5, -2.]), rtol=1e-6)
  np.testing.assert_allclose(layer.forward_log_det_jacobian(x, event_ndims=1),
                             np.full([3], -1.5), rtol=1e-6)


@pytest.mark.parametrize("kind", ["checkerboard", "channel_split"])
@pytest.mark.parametrize("traced", [False, True])
def test_conditioner_called_once_per_log_prob(kind, traced):
  layer = _image_layer(kind, tf.float32)
  counting = Counting(layer.conditioner)
  layer._conditioner = counting  # pylint: disable=protected-access
  dist = tfd.TransformedDistribution(
      tfd.Sample(tfd.Normal(0., 1.), [4, 4, 2]), layer)
  x = tf.random.normal([3, 4, 4, 2])
  # Build the variables first: a tf.function whose first call creates
  # variables traces twice (once with creation allowed), each trace calling
  # the conditioner once.
  layer.forward(x)
  log_prob = tf.function(dist.log_prob) if traced else dist.log_prob
  counting.calls = 0
  lp = log_prob(x)
  assert counting.calls == 1
  want = (tfd.Sample(tfd.Normal(0., 1.), [4, 4, 2]).log_prob(layer.inverse(x))
          + layer.inverse_log_det_jacobian(x, event_ndims=3))
  np.testing.assert_allclose(lp, want, rtol=1e-5)


def test_huge_conditioner_output_on_masked_entries_does_not_leak():
  """Outputs on the conditioning entries must not turn into inf or NaN."""
  mask = masks.checkerboard(4, 4, 2)
  # Raw scale -1e30 on the conditioning entries: without masking, sigmoid's
  # 1/s = inf there, and d/dv of the discarded branch is NaN.
  pattern = np.concatenate(
      [np.zeros_like(mask), np.where(mask == 1, -1e30, 0.)], -1)

  class Huge(tf.Module):

    def __init__(self):
      super().__init__()
      self.v = tf.Variable(1.)

    def __call__(self, x_a):
      return self.v * tf.broadcast_to(
          tf.constant(pattern, tf.float32),
          tf.concat([tf.shape(x_a)[:-1], [4]], 0))

  layer = AffineCoupling(Huge(), mask=mask, scale_fn="sigmoid")
  y = tf.random.normal([3, 4, 4, 2])
  with tf.GradientTape() as tape:
    x = layer.inverse(y)
    loss = tf.reduce_sum(x) + tf.reduce_sum(
        layer.inverse_log_det_jacobian(y, event_ndims=3))
  assert np.all(np.isfinite(x))
  assert np.isfinite(loss)
  assert np.isfinite(tape.gradient(loss, layer.conditioner.v))


def test_wrong_conditioner_output_size_raises():
  layer = AffineCoupling(MLP([8], output_units=3), num_masked=2)
  with pytest.raises(ValueError, match=r"`conditioner` output must be 2 \* 2 "
                     r"= 4.*got 3"):
    layer.forward(tf.zeros([3, 4]))


def test_unknown_scale_fn_raises():
  with pytest.raises(ValueError, match=r"`scale_fn` must be one of.*'tanh'"):
    AffineCoupling(MLP([8], output_units=4), num_masked=2, scale_fn="tanh")
  with pytest.raises(ValueError, match="`tail_bound` must be a positive"):
    AffineCoupling(MLP([8], output_units=4), num_masked=2, tail_bound=-1.)


def test_wrong_event_shape_raises():
  layer = _image_layer("checkerboard", tf.float32)
  with pytest.raises(ValueError,
                     match=r"`x` must have event shape \[4, 4, 2\]"):
    layer.forward(tf.zeros([1, 4, 4, 3]))


@pytest.mark.parametrize("method,arg", [("forward", "x"), ("inverse", "y")])
def test_nan_input_raises_under_validate_args(method, arg):
  layer = AffineCoupling(MLP([8], output_units=4), num_masked=2,
                         validate_args=True)
  value = tf.constant([[0., 1., np.nan, 2.]])
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match=f"`{arg}` must be finite"):
    getattr(layer, method)(value)


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("bound", [4., None])
@pytest.mark.parametrize("scale_fn,sign", [("sigmoid", 1.),
                                           ("inverse_sigmoid", -1.)])
def test_sigmoid_log_scale_is_log_sigmoid_floored(dtype, bound, scale_fn,
                                                  sign):
  # log s = max(log_sigmoid(h + 2), -B), computed as -log1p(exp(-z)) with z
  # floored at logit(exp(-B)): the same values, the floor never undercut,
  # and the floor's zero gradient below it.
  floor = 80. if bound is None else bound
  raw = tf.constant(np.concatenate([np.linspace(-100., 100., 401),
                                    [-floor - 2., -floor - 2.02]]), dtype)
  raw_var = tf.Variable(raw)

  def conditioner(x_a):
    del x_a
    return tf.stack([tf.zeros_like(raw_var), raw_var], -1)

  layer = AffineCoupling(conditioner, num_masked=1, scale_fn=scale_fn,
                         log_scale_bound=bound, dtype=dtype)
  y = tf.zeros([raw.shape[0], 2], dtype)
  with tf.GradientTape(persistent=True) as tape:
    # log sigmoid(h + 2): the forward log-det of "sigmoid", the inverse's of
    # "inverse_sigmoid".
    log_s = -sign * layer.inverse_log_det_jacobian(y, event_ndims=1)
    reference = tf.maximum(tf.math.log_sigmoid(raw_var + 2.), -floor)
  assert np.all(log_s.numpy() >= -floor)
  tol = 1e-6 if dtype == tf.float32 else 1e-13
  np.testing.assert_allclose(log_s, reference, rtol=tol, atol=tol / 10)
  ours = tape.gradient(log_s, raw_var).numpy()
  want = tape.gradient(reference, raw_var).numpy()
  inside = reference.numpy() > -floor + 1e-3
  # Near float32's floor (z ~ -80, e ~ 1e34) e / (1 + e) rounds at 1e-4.
  tol = 5e-4 if dtype == tf.float32 else 1e-12
  np.testing.assert_allclose(ours[inside], want[inside], rtol=tol,
                             atol=1e-7 if dtype == tf.float32 else 1e-15)
  assert np.all(ours[raw.numpy() + 2. < -floor - 0.1] == 0.)
