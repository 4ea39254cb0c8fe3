"""Partitions of an event into a conditioning part x_A and a transformed part x_B.

A coupling layer leaves x_A unchanged and transforms x_B given x_A. Two forms:

* `MaskPartition(mask)`: a binary mask b of (broadcastable) event shape;
  x_A = b * x and the transform acts where b == 0. Used for checkerboard and
  channel masks on images (RealNVP) and any hand-made pattern.
* `SplitPartition(num_masked)`: x_A = x[..., :d], x_B = x[..., d:] along the
  last axis (or the reverse). Cheaper than a mask because the conditioner and
  the transform see only the half they need.

Mask constructors return numpy arrays with 1 on the conditioning (x_A) entries.
"""

import numpy as np
import tensorflow as tf

__all__ = [
    "checkerboard", "channel_mask", "halves", "MaskPartition", "SplitPartition"
]


def checkerboard(height, width, channels=1, parity=0):
  """Spatial checkerboard mask of shape [height, width, channels].

  b[i, j, :] = 1 where (i + j + parity) is even.
  """
  ii, jj = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
  board = ((ii + jj + parity) % 2 == 0).astype(np.float32)
  return np.repeat(board[..., None], channels, axis=-1)


def channel_mask(channels, parity=0):
  """Channel-wise mask of shape [channels]: first half ones (second if parity)."""
  return halves(channels, parity)


def halves(dim, parity=0):
  """Vector mask of shape [dim]: ones on the first floor(dim/2) entries.

  With `parity=1` the ones are on the last ceil(dim/2) entries instead, so
  alternating parities transform every entry.
  """
  if dim < 2:
    raise ValueError(f"`dim` must be >= 2 to split into halves; got {dim}.")
  mask = np.zeros([dim], np.float32)
  if parity % 2 == 0:
    mask[:dim // 2] = 1.
  else:
    mask[dim // 2:] = 1.
  return mask


class MaskPartition:
  """x_A = b * x; the transform applies where b == 0."""

  def __init__(self, mask, reverse=False):
    mask = np.asarray(mask, np.float32)
    if not np.all((mask == 0) | (mask == 1)):
      raise ValueError("`mask` must contain only 0 and 1.")
    if reverse:
      mask = 1. - mask
    if mask.min() == mask.max():
      raise ValueError("`mask` must have both 0 and 1 entries; got a constant "
                       f"mask of {mask.flat[0]:g}.")
    self.mask = mask

  def split(self, x):
    """Returns (x_A, x_B): the masked input for the conditioner, and x itself."""
    b = tf.cast(self.mask, x.dtype)
    return x * b, x

  def merge(self, x_a, x, y_b):
    """y = x on the conditioning entries, y_b elsewhere."""
    del x_a
    # tf.where rather than b*x + (1-b)*y_b: an overflow in an unused entry of
    # y_b must not turn into inf * 0 = NaN.
    return tf.where(tf.cast(self.mask, tf.bool), x, y_b)

  def zero_conditioning(self, theta):
    """theta with zeros on the conditioning entries (where mask == 1)."""
    return tf.where(tf.cast(self.mask, tf.bool), tf.zeros([], theta.dtype),
                    theta)

  def reduce(self, ldj, event_ndims):
    """Sums an elementwise log-det over the transformed entries of the event."""
    ldj = tf.where(tf.cast(self.mask, tf.bool), tf.zeros([], ldj.dtype), ldj)
    return tf.reduce_sum(ldj, axis=list(range(-event_ndims, 0)))

  def event_shape(self, event_ndims):
    """The event shape the mask fixes, or None when it only broadcasts."""
    if self.mask.ndim == event_ndims:
      return self.mask.shape
    return None


class SplitPartition:
  """x_A = x[..., :d], x_B = x[..., d:] along the last axis (swapped if reverse)."""

  def __init__(self, num_masked, reverse=False):
    if int(num_masked) != num_masked or num_masked < 1:
      raise ValueError(
          f"`num_masked` must be a positive integer; got {num_masked!r}.")
    self.num_masked = int(num_masked)
    self.reverse = bool(reverse)

  def _check(self, x):
    size = x.shape[-1]
    if size is not None and size <= self.num_masked:
      raise ValueError(
          f"The last axis of `x` must be larger than num_masked="
          f"{self.num_masked}; got {size}.")

  def split(self, x):
    self._check(x)
    # One Split rather than two slices: its gradient is one concat, where
    # each slice's gradient writes a zero-padded copy of the whole input.
    if self.reverse:
      x_b, x_a = tf.split(x, [-1, self.num_masked], axis=-1)
      return x_a, x_b
    return tuple(tf.split(x, [self.num_masked, -1], axis=-1))

  def merge(self, x_a, x, y_b):
    del x
    if self.reverse:
      return tf.concat([y_b, x_a], axis=-1)
    return tf.concat([x_a, y_b], axis=-1)

  def zero_conditioning(self, theta):
    """theta unchanged: a split's x_B has no conditioning entries."""
    return theta

  def reduce(self, ldj, event_ndims):
    return tf.reduce_sum(ldj, axis=list(range(-event_ndims, 0)))

  def event_shape(self, event_ndims):
    del event_ndims
    return None
