"""Partitions of couplings: masks' products against selects, splits."""

import numpy as np
import pytest
import tensorflow as tf

from tfp_flows import bijectors
from tfp_flows.bijectors import masks
from tfp_flows.bijectors import transformers


def _merge_and_reduce(partition, x, y_b, ldj, conditioning_finite):
  with tf.GradientTape(persistent=True) as tape:
    tape.watch([x, y_b, ldj])
    x_a, _ = partition.split(x)
    merged = partition.merge(x_a, x, y_b,
                             conditioning_finite=conditioning_finite)
    total = partition.reduce(ldj, 3, conditioning_finite=conditioning_finite)
    loss = tf.reduce_sum(tf.sin(merged)) + tf.reduce_sum(total ** 2)
  return [merged, total] + tape.gradient(loss, [x, y_b, ldj])


@pytest.mark.parametrize("dtype", [tf.float32, tf.float64])
@pytest.mark.parametrize("reverse", [False, True])
def test_mask_products_equal_selects_when_conditioning_entries_are_finite(
    dtype, reverse):
  partition = masks.MaskPartition(masks.checkerboard(4, 4, 2), reverse)
  rng = np.random.default_rng(0)
  x, y_b, ldj = (tf.constant(rng.normal(size=[3, 4, 4, 2]) * 1e3, dtype)
                 for _ in range(3))
  products = _merge_and_reduce(partition, x, y_b, ldj, True)
  selects = _merge_and_reduce(partition, x, y_b, ldj, False)
  for got, want in zip(products, selects):
    np.testing.assert_array_equal(got, want)
  keep = partition.mask.astype(bool)
  np.testing.assert_array_equal(products[0].numpy()[:, keep],
                                x.numpy()[:, keep])


def test_mask_products_keep_an_overflow_on_a_transformed_entry():
  partition = masks.MaskPartition(masks.checkerboard(2, 2, 1))
  x = tf.ones([1, 2, 2, 1])
  transformed = ~partition.mask.astype(bool)
  y_b = np.ones([1, 2, 2, 1], np.float32)
  y_b[0][transformed] = np.inf
  merged = partition.merge(partition.split(x)[0], x, tf.constant(y_b),
                           conditioning_finite=True).numpy()[0]
  assert np.all(merged[transformed] == np.inf)
  np.testing.assert_array_equal(merged[~transformed], 1.)


def test_zero_conditioning_zeroes_huge_outputs_on_conditioning_entries():
  partition = masks.MaskPartition(masks.checkerboard(2, 2, 1))
  theta = tf.fill([3, 2, 2, 1], 3e38)
  zeroed = partition.zero_conditioning(theta).numpy()
  keep = partition.mask.astype(bool)
  np.testing.assert_array_equal(zeroed[:, keep], 0.)
  np.testing.assert_array_equal(zeroed[:, ~keep], np.float32(3e38))


class _OverflowOnConditioning(transformers.Transformer):
  """The identity on x_B, with inf on the entries the merge discards."""

  num_params = 1

  def __init__(self, mask):
    self._on_conditioning = tf.constant(mask > 0)

  def get_config(self):
    return {}

  def params(self, theta, value, site):
    return theta

  def forward(self, x, params):
    del params
    inf = tf.constant(np.inf, x.dtype)
    return (tf.where(self._on_conditioning, inf, x),
            tf.where(self._on_conditioning, inf, tf.zeros_like(x)))

  inverse = forward


def test_couplings_that_do_not_zero_theta_keep_selecting():
  # A transformer that does not declare `zeroes_conditioning` may produce
  # anything on the conditioning entries: the select discards it.
  assert not transformers.Transformer.zeroes_conditioning
  assert not transformers.Spline.zeroes_conditioning
  assert transformers.Affine.zeroes_conditioning
  assert transformers.LogisticMixture.zeroes_conditioning
  mask = masks.checkerboard(2, 2, 1)
  layer = bijectors.Coupling(lambda x_a: x_a, _OverflowOnConditioning(mask),
                             mask=mask)
  x = tf.ones([2, 2, 2, 1])
  np.testing.assert_array_equal(layer.forward(x), x)
  np.testing.assert_array_equal(
      layer.forward_log_det_jacobian(x, event_ndims=3), [0., 0.])


def test_split_partition_ignores_the_flag():
  partition = masks.SplitPartition(2, reverse=True)
  x = tf.reshape(tf.range(10.), [2, 5])
  x_a, x_b = partition.split(x)
  for flag in (False, True):
    np.testing.assert_array_equal(
        partition.merge(x_a, x, x_b, conditioning_finite=flag), x)
    np.testing.assert_array_equal(
        partition.reduce(x, 1, conditioning_finite=flag), [10., 35.])


@pytest.mark.parametrize("parity, reverse", [(0, False), (1, False),
                                             (0, True)])
def test_packed_checkerboard_packs_the_boards_halves(parity, reverse):
  x = tf.reshape(tf.range(2 * 4 * 6 * 3, dtype=tf.float32), [2, 4, 6, 3])
  partition = masks.PackedCheckerboardPartition(parity, reverse=reverse)
  x_a, x_b = partition.split(x)
  assert x_a.shape == x_b.shape == [2, 4, 3, 3]
  board = masks.checkerboard(4, 6, 3, parity=(parity + reverse) % 2) > 0
  # Row by row, the board's pixels in column order.
  np.testing.assert_array_equal(
      x_a, x.numpy()[:, board].reshape(2, 4, 3, 3))
  np.testing.assert_array_equal(
      x_b, x.numpy()[:, ~board].reshape(2, 4, 3, 3))
  np.testing.assert_array_equal(partition.merge(x_a, x, x_b), x)
  np.testing.assert_array_equal(partition.reduce(x_b, 3),
                                tf.reduce_sum(x_b, [1, 2, 3]))


def test_packed_checkerboard_refuses_odd_widths_and_other_parities():
  with pytest.raises(ValueError, match="even width W; got W = 5"):
    masks.PackedCheckerboardPartition(0).split(tf.zeros([1, 4, 5, 1]))
  with pytest.raises(ValueError, match="`parity` must be 0 or 1; got 2"):
    masks.PackedCheckerboardPartition(2)
