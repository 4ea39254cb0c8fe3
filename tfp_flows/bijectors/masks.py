"""Partitions of an event into a conditioning part x_A and a transformed part x_B.

A coupling layer leaves x_A unchanged and transforms x_B given x_A. Two forms:

* `MaskPartition(mask)`: a binary mask b of (broadcastable) event shape;
  x_A = b * x and the transform acts where b == 0. Used for checkerboard and
  channel masks on images (RealNVP) and any hand-made pattern.
* `SplitPartition(num_masked)`: x_A = x[..., :d], x_B = x[..., d:] along the
  last axis (or the reverse). Cheaper than a mask because the conditioner and
  the transform see only the half they need.
* `PackedCheckerboardPartition(parity)`: a checkerboard whose halves are
  packed into half-width images [H, W / 2, C], so that, as with a split,
  the conditioner and the transform see only the half they need.

Mask constructors return numpy arrays with 1 on the conditioning (x_A) entries.
"""

import numpy as np
import tensorflow as tf

from tfp_flows.tfp_internal import ps

__all__ = [
    "checkerboard", "channel_mask", "halves", "MaskPartition",
    "PackedCheckerboardPartition", "SplitPartition"
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

  # Multiplying by the 0/1 mask rather than selecting: TF's broadcasting
  # select on a CPU takes several times a multiply (and two more in its
  # gradient), and a coupling with a mask ran four of them per pass. A
  # product is exact here (x * 1 = x, y * 0 = 0) as long as the factor that
  # the mask zeroes is finite, which the callers below state.

  def merge(self, x_a, x, y_b, conditioning_finite=False):
    """y = x on the conditioning entries, y_b elsewhere.

    `conditioning_finite=True`: the caller guarantees y_b is finite on the
    conditioning entries (it zeroed theta there, `zero_conditioning`), so
    x_A + (1 - b) * y_b (x_A = b * x from `split`) is exact; otherwise a
    select, so that an overflow on an unused entry of y_b does not turn
    into inf * 0 = NaN.
    """
    if conditioning_finite:
      return x_a + y_b * tf.cast(1. - self.mask, y_b.dtype)
    return tf.where(tf.cast(self.mask, tf.bool), x, y_b)

  def zero_conditioning(self, theta):
    """theta with zeros on the conditioning entries (where mask == 1).

    theta * (1 - mask): finite outputs, however large, become 0 there, so a
    transform with finite settings stays finite on those entries.
    """
    return theta * tf.cast(1. - self.mask, theta.dtype)

  def reduce(self, ldj, event_ndims, conditioning_finite=False):
    """Sums an elementwise log-det over the transformed entries of the event.

    `conditioning_finite`: as for `merge`, ldj is finite on the conditioning
    entries, so they are zeroed by a product instead of a select.
    """
    if conditioning_finite:
      ldj = ldj * tf.cast(1. - self.mask, ldj.dtype)
    else:
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

  def merge(self, x_a, x, y_b, conditioning_finite=False):
    del x, conditioning_finite
    if self.reverse:
      return tf.concat([y_b, x_a], axis=-1)
    return tf.concat([x_a, y_b], axis=-1)

  def zero_conditioning(self, theta):
    """theta unchanged: x_B has no conditioning entries."""
    return theta

  def reduce(self, ldj, event_ndims, conditioning_finite=False):
    del conditioning_finite
    return tf.reduce_sum(ldj, axis=list(range(-event_ndims, 0)))

  def event_shape(self, event_ndims):
    del event_ndims
    return None


class PackedCheckerboardPartition(SplitPartition):
  """A checkerboard with both halves packed into half-width images.

  On events [..., H, W, C] (W even), x_A holds the pixels where (i + j +
  parity) is even (`checkerboard`'s ones; `reverse` swaps the halves), x_B
  the others, each packed along the width into [..., H, W / 2, C]: in row i
  the pair of columns (2k, 2k + 1) gives one pixel to each. So a coupling's
  conditioner runs on half the pixels and predicts parameters for the other
  half only (normflows' layout), where a
  `MaskPartition` runs it on the whole masked image and discards half its
  outputs. Neighbours in the packed image lie one column apart in the
  original on every other row, a different receptive field from the
  masked layout's.
  """

  # A split's zero_conditioning, reduce and event_shape hold: x_B has no
  # conditioning entries either.

  def __init__(self, parity=0, reverse=False):  # pylint: disable=super-init-not-called
    if parity not in (0, 1):
      raise ValueError(f"`parity` must be 0 or 1; got {parity!r}.")
    self.parity = (int(parity) + int(bool(reverse))) % 2

  def _rows(self, x):
    """[H, 1, 1] booleans: rows whose conditioning pixel is the even column."""
    height = x.shape[-3]
    if height is None:
      height = tf.shape(x)[-3]
    rows = tf.range(height)
    return tf.reshape(tf.equal((rows + self.parity) % 2, 0), [-1, 1, 1])

  def _pairs(self, x):
    width = x.shape[-2]
    if x.shape.rank is not None and x.shape.rank < 3:
      raise ValueError(
          f"A packed checkerboard needs events [H, W, C]; got shape "
          f"{x.shape.as_list()}.")
    if width is not None and width % 2:
      raise ValueError(
          f"A packed checkerboard needs an even width W; got W = {width} in "
          f"shape {x.shape.as_list()}.")
    pairs = tf.reshape(x, ps.concat(
        [ps.shape(x)[:-2], [-1, 2, ps.shape(x)[-1]]], 0))
    pairs.set_shape(x.shape[:-2].concatenate(
        [None if width is None else width // 2, 2, x.shape[-1]]))
    return tf.unstack(pairs, num=2, axis=-2)

  def split(self, x):
    """Returns (x_A, x_B), each [..., H, W / 2, C]."""
    even, odd = self._pairs(x)
    rows = self._rows(x)
    return tf.where(rows, even, odd), tf.where(rows, odd, even)

  def merge(self, x_a, x, y_b, conditioning_finite=False):
    """Interleaves x_A and y_B back into x's shape [..., H, W, C]."""
    del conditioning_finite
    rows = self._rows(x_a)
    pairs = tf.stack([tf.where(rows, x_a, y_b), tf.where(rows, y_b, x_a)],
                     axis=-2)
    out = tf.reshape(pairs, ps.shape(x))
    out.set_shape(x.shape)
    return out
