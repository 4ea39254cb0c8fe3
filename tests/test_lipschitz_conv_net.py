"""LipschitzConvNet: circular convolutions, their exact spectral norms, closed-form Jacobian products, context."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import nets
from tfp_flows.nets import lipschitz_conv_net


def network(shape=(4, 4, 2), hidden=6, dtype=tf.float64, **kwargs):
  net = nets.LipschitzConvNet(shape, hidden, seed=0, dtype=dtype.name,
                              **kwargs)
  net.build([None, int(np.prod(shape))])
  return net


def dense_operator(kernel, height, width):
  """The convolution as a matrix [H W C_in, H W C_out], from its definition."""
  size, _, c_in, c_out = kernel.shape
  r = size // 2
  out = np.zeros([height, width, c_in, height, width, c_out])
  for p in range(height):
    for q in range(width):
      for a in range(size):
        for b in range(size):
          out[(p + a - r) % height, (q + b - r) % width, :, p, q, :] += (
              kernel[a, b])
  return out.reshape(height * width * c_in, height * width * c_out)


@pytest.mark.parametrize("shape", [(4, 4, 2), (2, 2, 8), (1, 3, 2), (5, 3, 1)])
def test_circular_convolution_and_its_exact_spectral_norm(shape):
  height, width, channels = shape
  rng = np.random.default_rng(1)
  for size, c_out in ((3, 5), (1, 4)):
    kernel = rng.normal(size=[size, size, channels, c_out])
    dense = dense_operator(kernel, height, width)
    x = rng.normal(size=[2, height, width, channels])
    np.testing.assert_allclose(
        lipschitz_conv_net.circular_conv(tf.constant(x), tf.constant(kernel)),
        (x.reshape(2, -1) @ dense).reshape(2, height, width, c_out),
        rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        lipschitz_conv_net.conv_spectral_norm(tf.constant(kernel), height,
                                              width),
        np.linalg.svd(dense, compute_uv=False)[0], rtol=1e-12)


def test_each_normalised_convolution_has_norm_at_most_the_coefficient():
  net = network(coefficient=0.8)
  for i, kernel in enumerate(net.kernels):
    kernel.assign(kernel * (i + 3.))  # far above the bound
  norms = [np.linalg.svd(dense_operator(k.numpy(), 4, 4), compute_uv=False)[0]
           for k in net.normalized_kernels()]
  np.testing.assert_allclose(norms, 0.8, rtol=1e-12)
  np.testing.assert_allclose(net.spectral_norms(), norms, rtol=1e-12)
  # The bound's gradient reaches the kernels (spectral normalisation trains).
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(net.normalized_kernels()[0])
  assert np.all(np.isfinite(tape.gradient(loss, net.kernels[0])))


def test_jacobian_and_its_products_equal_autodiff():
  net = network(context_shape=[2])
  net.context_kernel.assign(tf.random.stateless_normal([2, 6], [1, 2],
                                                       dtype=tf.float64))
  x = tf.random.stateless_normal([3, 32], [3, 4], dtype=tf.float64)
  c = tf.random.stateless_normal([3, 2], [5, 6], dtype=tf.float64)
  kernels = net.normalized_kernels()
  with tf.GradientTape() as tape:
    tape.watch(x)
    g, slopes = net(x, conditional_input=c, kernels=kernels)
  expected = tape.batch_jacobian(g, x).numpy()
  np.testing.assert_allclose(net.jacobian(kernels, slopes), expected,
                             rtol=1e-12, atol=1e-14)
  v = np.random.default_rng(0).normal(size=[3, 32])
  np.testing.assert_allclose(net.jvp(kernels, slopes, tf.constant(v)),
                             np.einsum("bij,bj->bi", expected, v), rtol=1e-11)
  np.testing.assert_allclose(net.vjp(kernels, slopes, tf.constant(v)),
                             np.einsum("bi,bij->bj", v, expected), rtol=1e-11)
  # Lip(g) <= 0.97^3: every example's Jacobian.
  assert np.max(np.linalg.svd(expected, compute_uv=False)) < 0.97**3


def test_static_shapes_survive_tracing():
  # The estimator's while loop needs [None, D] to stay [None, D].
  net = network(dtype=tf.float32)

  @tf.function(input_signature=[tf.TensorSpec([None, 32])])
  def shapes(x):
    kernels = net.normalized_kernels()
    g, slopes = net(x, kernels=kernels)
    assert g.shape.as_list() == [None, 32]
    assert net.vjp(kernels, slopes, x).shape.as_list() == [None, 32]
    assert net.jacobian(kernels, slopes).shape.as_list() == [None, 32, 32]
    return g

  shapes(tf.zeros([2, 32]))


def test_context_is_required_exactly_when_built_with_one():
  x = tf.zeros([2, 32], tf.float64)
  with pytest.raises(ValueError, match="is not conditional"):
    network()(x, conditional_input=tf.zeros([2, 2], tf.float64))
  with pytest.raises(ValueError, match="is conditional"):
    network(context_shape=[2])(x)
  # Zero-initialised: a new conditional network is its unconditional self.
  np.testing.assert_array_equal(
      network(context_shape=[2])(x + 1., conditional_input=tf.ones(
          [2, 2], tf.float64))[0], network()(x + 1.)[0])


def test_config_round_trip_and_bad_arguments():
  net = network(context_shape=[3], coefficient=0.9)
  again = nets.LipschitzConvNet.from_config(net.get_config())
  assert (again.image_shape, again.hidden_units, again.coefficient,
          again.context_shape.as_list()) == ([4, 4, 2], 6, 0.9, [3])
  with pytest.raises(ValueError, match="`coefficient` must be in"):
    nets.LipschitzConvNet([4, 4, 1], 8, coefficient=1.)
  with pytest.raises(ValueError, match="`hidden_units` must be a positive"):
    nets.LipschitzConvNet([4, 4, 1], [8, 8])
  with pytest.raises(ValueError, match=r"`image_shape` must be \[H, W, C\]"):
    nets.LipschitzConvNet([16], 8)
