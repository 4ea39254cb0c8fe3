"""Coupling layers: the shared mechanism behind additive, affine and CDF couplings."""

import numpy as np
import tensorflow as tf

from tfp_flows.tfp_internal import ps

from tfp_flows.bijectors import base
from tfp_flows.bijectors import masks

__all__ = ["Coupling"]


class Coupling(base.AugmentedBijector):
  """Base class: y_A = x_A, y_B = g(x_B; theta), theta = conditioner(x_A).

  Subclasses define the elementwise transform g and its log-derivative by
  implementing `_forward_transform(x_b, theta) -> (y_b, ldj)` and
  `_inverse_transform(y_b, theta) -> (x_b, ldj)`, where `ldj` is the
  elementwise log |dg/dx_b| at the point (None when it is zero everywhere).

  The Jacobian is block triangular, so

    log |det J| = sum over B of log |dg/dx_b|.

  One conditioner call per pass (see `base.AugmentedBijector`): the transform
  and its log-det come out of the same call, so `log_prob` runs the network
  once. TFP's built-in couplings run it twice.

  The partition is a binary `mask` (x_A = mask * x, the transform acts where
  mask == 0) or a split of the last axis after `num_masked` entries;
  `reverse=True` swaps the two parts so consecutive layers alternate.

  With a mask the transform also runs on the conditioning entries, and its
  output there is discarded. A subclass that zeroes theta there
  (`self._partition.zero_conditioning`) and whose transform is finite at
  theta = 0 sets `_conditioning_zeroed = True`: the merge and the log-det
  sum then multiply by the mask instead of selecting, which costs less.

  References:
    Dinh, L., Krueger, D. & Bengio, Y. (2015). NICE: Non-linear Independent
      Components Estimation. ICLR workshop. arXiv:1410.8516.
    Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
      Real NVP. ICLR. arXiv:1605.08803.
  """

  # See the class docstring: True when theta is zeroed on a mask's
  # conditioning entries, so the transform's outputs there are finite.
  _conditioning_zeroed = False

  def __init__(self,
               conditioner,
               mask=None,
               num_masked=None,
               reverse=False,
               event_ndims=None,
               validate_args=False,
               dtype=tf.float32,
               parameters=None,
               name="coupling"):
    """Builds the partition and registers the conditioner.

    Args:
      conditioner: callable (a tf_keras layer, usually) mapping x_A of shape
        [B, *event] (one batch dimension), plus any bijector kwargs, to the
        parameters theta of the transform of x_B.
      mask: binary array, 1 on the conditioning entries, of event shape or
        broadcastable to it. Exclusive with `num_masked`.
      num_masked: int, size of x_A when splitting the last axis.
      reverse: swap the roles of the two parts.
      event_ndims: rank of the event; defaults to the mask's rank, else 1.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype of inputs and outputs.
      parameters: the subclass's `dict(locals())`.
      name: name scope of the bijector.
    """
    with tf.name_scope(name) as name:
      if (mask is None) == (num_masked is None):
        raise ValueError(
            "Exactly one of `mask` and `num_masked` must be given; got "
            f"mask={'None' if mask is None else 'an array'}, "
            f"num_masked={num_masked!r}.")
      if mask is not None:
        self._partition = masks.MaskPartition(mask, reverse=reverse)
        default_ndims = np.ndim(mask)
      else:
        self._partition = masks.SplitPartition(num_masked, reverse=reverse)
        default_ndims = 1
      self._event_ndims = int(default_ndims if event_ndims is None
                              else event_ndims)
      self._conditioner = conditioner
      super().__init__(
          forward_min_event_ndims=self._event_ndims,
          is_constant_jacobian=False,
          validate_args=validate_args,
          dtype=dtype,
          parameters=parameters,
          name=name)

  @property
  def conditioner(self):
    return self._conditioner

  def _forward_transform(self, x_b, theta):
    raise NotImplementedError

  def _inverse_transform(self, y_b, theta):
    raise NotImplementedError

  def _prepare(self, value, arg_name):
    return self._validate_input(
        value, arg_name, self._partition.event_shape(self._event_ndims))

  def _reduce(self, ldj, value):
    if ldj is None:
      return tf.zeros(ps.shape(value)[:ps.rank(value) - self._event_ndims],
                      value.dtype)
    return self._partition.reduce(
        ldj, self._event_ndims, conditioning_finite=self._conditioning_zeroed)

  def _augmented_forward(self, x, **kwargs):
    x = self._prepare(x, "x")
    x_a, x_b = self._partition.split(x)
    y_b, ldj = self._forward_transform(x_b, base.call_with_one_batch_dim(
        self._conditioner, x_a, self._event_ndims, **kwargs))
    fldj = self._reduce(ldj, x)
    y = self._partition.merge(x_a, x, y_b,
                              conditioning_finite=self._conditioning_zeroed)
    return y, {"fldj": fldj, "ildj": -fldj}

  def _augmented_inverse(self, y, **kwargs):
    y = self._prepare(y, "y")
    y_a, y_b = self._partition.split(y)
    x_b, ldj = self._inverse_transform(y_b, base.call_with_one_batch_dim(
        self._conditioner, y_a, self._event_ndims, **kwargs))
    fldj = self._reduce(ldj, y)
    x = self._partition.merge(y_a, y, x_b,
                              conditioning_finite=self._conditioning_zeroed)
    return x, {"fldj": fldj, "ildj": -fldj}
