"""LipschitzMLP: closed-form Jacobian products, spectral norms, LipSwish, the power iteration's state, context."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import nets
from tfp_flows.nets import lipschitz_mlp


def network(dim=3, hidden=(8, 8), dtype=tf.float64, **kwargs):
  net = nets.LipschitzMLP(dim, hidden, seed=0, dtype=dtype.name, **kwargs)
  net.build([None, dim])
  return net


def test_jacobian_and_its_products_equal_autodiff():
  net = network(context_shape=[2])
  net.context_kernel.assign(tf.random.stateless_normal([2, 8], [1, 2],
                                                       dtype=tf.float64))
  x = tf.random.stateless_normal([4, 3], [3, 4], dtype=tf.float64)
  c = tf.random.stateless_normal([4, 2], [5, 6], dtype=tf.float64)
  kernels = net.normalized_kernels(tf.float64)
  with tf.GradientTape() as tape:
    tape.watch(x)
    g, slopes = net(x, conditional_input=c, kernels=kernels)
  expected = tape.batch_jacobian(g, x).numpy()
  jacobian = net.jacobian(kernels, slopes).numpy()
  np.testing.assert_allclose(jacobian, expected, rtol=1e-12, atol=1e-14)
  v = np.random.default_rng(0).normal(size=[4, 3])
  np.testing.assert_allclose(net.jvp(kernels, slopes, tf.constant(v)),
                             np.einsum("bij,bj->bi", expected, v), rtol=1e-12)
  np.testing.assert_allclose(net.vjp(kernels, slopes, tf.constant(v)),
                             np.einsum("bi,bij->bj", v, expected), rtol=1e-12)


def test_lipswish_is_one_lipschitz_and_its_slope_is_the_derivative():
  z = tf.constant(np.linspace(-20., 20., 4001))
  for beta in (0.1, 1., 10.):
    with tf.GradientTape() as tape:
      tape.watch(z)
      value, slope = lipschitz_mlp.lipswish(z, tf.constant(beta, tf.float64))
    np.testing.assert_allclose(tape.gradient(value, z), slope, atol=1e-12)
    assert np.max(np.abs(slope)) < 1.


def test_each_normalised_kernel_has_spectral_norm_at_most_the_coefficient():
  net = network(dim=5, hidden=(16, 7), coefficient=0.8, power_iterations=2)
  # Far from the initial kernels the stored vectors are stale; training
  # steps' backward passes advance them to the new top singular vectors.
  for i, kernel in enumerate(net.kernels):
    kernel.assign(3. * tf.random.stateless_normal(kernel.shape, [i, 0],
                                                  dtype=tf.float64))
  for _ in range(25):
    with tf.GradientTape() as tape:
      loss = sum(tf.reduce_sum(k) for k in net.normalized_kernels())
    tape.gradient(loss, net.kernels)
  norms = [np.linalg.svd(k.numpy(), compute_uv=False)[0]
           for k in net.normalized_kernels()]
  np.testing.assert_allclose(norms, 0.8, rtol=1e-3)
  x = tf.random.stateless_normal([64, 5], [1, 1], dtype=tf.float64)
  kernels = net.normalized_kernels()
  jacobian = net.jacobian(kernels, net(x, kernels=kernels)[1]).numpy()
  assert np.max(np.linalg.svd(jacobian, compute_uv=False)) < 0.8 ** 3 * 1.001


def test_exact_spectral_norms_by_default():
  net = network(dim=4, hidden=(9,), coefficient=0.7)
  assert not net.states  # no power-iteration state
  for i, kernel in enumerate(net.kernels):
    kernel.assign(kernel * (i + 3.))
  norms = [np.linalg.svd(k.numpy(), compute_uv=False)[0]
           for k in net.normalized_kernels()]
  np.testing.assert_allclose(norms, 0.7, rtol=1e-12)


def test_power_iteration_advances_in_backward_passes_only():
  net = network(power_iterations=1)
  for kernel in net.kernels:
    kernel.assign(kernel + 0.3 * tf.random.stateless_normal(
        kernel.shape, [2, 3], dtype=tf.float64))
  x = tf.random.stateless_normal([4, 3], [3, 4], dtype=tf.float64)
  states = [s.numpy() for s in net.states]
  first = net(x)[0].numpy()
  np.testing.assert_array_equal(net(x)[0], first)  # a pure function
  assert all(np.array_equal(s, t) for s, t in zip(states, net.states))
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(net(x)[0] ** 2)
  tape.gradient(loss, net.trainable_variables)
  assert not any(np.array_equal(s, t) for s, t in zip(states, net.states))
  # Stored vectors are unit vectors.
  np.testing.assert_allclose([np.linalg.norm(s) for s in net.states], 1.,
                             rtol=1e-12)


def test_context_is_required_exactly_when_built_with_one():
  x = tf.zeros([2, 3], tf.float64)
  with pytest.raises(ValueError, match="is not conditional"):
    network()(x, conditional_input=tf.zeros([2, 2], tf.float64))
  with pytest.raises(ValueError, match="is conditional"):
    network(context_shape=[2])(x)


def test_bad_arguments():
  with pytest.raises(ValueError, match="`coefficient` must be in"):
    nets.LipschitzMLP(3, [8], coefficient=1.)
  with pytest.raises(ValueError, match="`hidden_units` must be one or more"):
    nets.LipschitzMLP(3, [])
  with pytest.raises(ValueError, match="`power_iterations` must be"):
    nets.LipschitzMLP(3, [8], power_iterations=0)
