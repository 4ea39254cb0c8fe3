"""RealNVP's logit preprocessing of pixel data."""

import math

import tensorflow as tf

from tfp_flows.tfp_internal import assert_util

from tfp_flows.bijectors import base

__all__ = ["Logit"]


class Logit(base.FlowBijector):
  """Maps latents to pixels: x = (sigmoid(z) - alpha) / (1 - 2 alpha).

  RealNVP (Dinh et al. 2016, section 4.1) models data x in [0, 1) through
  p = alpha + (1 - 2 alpha) x and z = logit(p). The alpha margin keeps the
  logit finite at x = 0 and at x = 1. In TFP's direction, `forward` maps the
  latent z to the data and `inverse` maps the data to the latent, so
  `TransformedDistribution(base, Logit()).log_prob(x)` runs `inverse` on the
  data:

    inverse(x) = logit(p) = log(p) - log1p(-p),
    forward(z) = (sigmoid(z) - alpha) / (1 - 2 alpha).

  The map is elementwise (`forward_min_event_ndims=0`, unreduced log-det):

    log |dx/dz| = log_sigmoid(z) + log_sigmoid(-z) - log(1 - 2 alpha)
                = -softplus(z) - softplus(-z) - log(1 - 2 alpha),
    log |dz/dx| = log(1 - 2 alpha) - log(p) - log1p(-p),

  for x in [0, 1]. Outside [0, 1] (alpha > 0) the map continues linearly with the
  slope it has at the ends, k = (1 - 2 alpha) / (alpha (1 - alpha)) (18.9
  for alpha = 0.05):

    inverse(x) = logit(alpha) + k x                for x < 0,
                 logit(1 - alpha) + k (x - 1)      for x > 1,
    log |dz/dx| = log k  there,

  and `forward` likewise for z outside [logit(alpha), logit(1 - alpha)].
  The map is then a C^1 bijection of the real line: data in [0, 1] get
  exactly the logit above, and a finite point outside it (an unscaled pixel,
  an outlier at 1e4) gets a finite latent, |z| <= k |x| + logit(1 - alpha),
  and a finite, very negative log-density instead of NaN (the plain logit
  of p outside (0, 1) is NaN). Sampling is unchanged inside [0, 1]; the
  base's mass beyond [logit(alpha), logit(1 - alpha)] maps to the linear
  tails instead of the margins (-alpha / (1 - 2 alpha), 0) and
  (1, (1 - alpha) / (1 - 2 alpha)). With alpha = 0 there are no tails (the
  logit itself, infinite at 0 and 1).

  Under `validate_args`, `inverse` accepts only data in [0, 1] and raises
  `tf.errors.InvalidArgumentError` otherwise. That catches unscaled pixels
  (such as [0, 255]). It also means that `inverse(forward(z))` rejects a z
  whose sigmoid is below alpha or above 1 - alpha.

  Shapes: elementwise; log-dets are shaped like the input.

  #### Example

  ```python
  import tensorflow_probability as tfp
  tfd = tfp.distributions
  base = tfd.Sample(tfd.Normal(0., 1.), [28, 28, 1])
  model = tfd.TransformedDistribution(base, tfp_flows.bijectors.Logit(0.05))
  pixels = tf.random.uniform([4, 28, 28, 1], 0., 256.)  # dequantised
  model.log_prob(pixels / 256.)
  ```

  References:
    Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
      Real NVP. ICLR. arXiv:1605.08803.
    Ho, J., Chen, X., Srinivas, A., Duan, Y. & Abbeel, P. (2019). Flow++:
      Improving Flow-Based Generative Models with Variational Dequantization and
      Architecture Design. ICML. arXiv:1902.00275.
  """

  def __init__(self,
               alpha=0.05,
               validate_args=False,
               dtype=tf.float32,
               name="logit"):
    """Creates the bijector.

    Args:
      alpha: Python float in [0, 0.5), the margin kept at each end of [0, 1].
      validate_args: check inputs (finiteness; data in [0, 1]) at run time.
      dtype: float dtype.
      name: name scope.

    Raises:
      ValueError: `alpha` is not in [0, 0.5).
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      if not 0. <= alpha < 0.5:
        raise ValueError(f"`alpha` must be in [0, 0.5); got {alpha!r}.")
      self._alpha = float(alpha)
      super().__init__(
          forward_min_event_ndims=0,
          is_constant_jacobian=False,
          validate_args=validate_args,
          dtype=dtype,
          parameters=parameters,
          name=name)

  @property
  def alpha(self):
    return self._alpha

  def _squash(self, x):
    """Validates the data x; returns (p, x - clip(x, 0, 1)).

    p = alpha + (1 - 2 alpha) clip(x, 0, 1): the logit's argument, clipped to
    [0, 1] where the linear tails take over (alpha > 0).
    """
    x = self._validate_input(x, "x")
    if self.validate_args:
      message = (f"{self.name}: the data `x` (input of `inverse`) must lie in "
                 "[0, 1].")
      in_range = [
          assert_util.assert_greater_equal(
              x, tf.zeros([], x.dtype), message=message),
          assert_util.assert_less_equal(
              x, tf.ones([], x.dtype), message=message),
      ]
      with tf.control_dependencies(in_range):
        x = tf.identity(x)
    if self._alpha > 0.:
      inside = tf.clip_by_value(x, 0., 1.)
      excess = x - inside
    else:
      inside, excess = x, None
    return self._alpha + (1. - 2. * self._alpha) * inside, excess

  def _log_width(self):
    return math.log1p(-2. * self._alpha)

  def _tail_slope(self):
    """k = dz/dx at the ends of [0, 1]: (1 - 2 alpha) / (alpha (1 - alpha))."""
    return (1. - 2. * self._alpha) / (self._alpha * (1. - self._alpha))

  def _clip_latent(self, z):
    """(clip(z, logit(alpha), logit(1 - alpha)), the excess); alpha > 0."""
    z = self._validate_input(z, "z")
    if self._alpha == 0.:
      return z, None
    edge = math.log1p(-self._alpha) - math.log(self._alpha)  # logit(1 - a)
    inside = tf.clip_by_value(z, -edge, edge)
    return inside, z - inside

  def _forward(self, z):
    inside, excess = self._clip_latent(z)
    x = (tf.sigmoid(inside) - self._alpha) / (1. - 2. * self._alpha)
    if excess is not None:
      x = x + excess * (1. / self._tail_slope())
    return x

  def _inverse(self, x):
    p, excess = self._squash(x)
    z = tf.math.log(p) - tf.math.log1p(-p)
    if excess is not None:
      z = z + excess * self._tail_slope()
    return z

  # On the tails the log-dets are the constants +-log k, which the formulas
  # below give at the clipped ends.
  def _forward_log_det_jacobian(self, z):
    inside, _ = self._clip_latent(z)
    return (-tf.nn.softplus(inside) - tf.nn.softplus(-inside) -
            self._log_width())

  def _inverse_log_det_jacobian(self, x):
    p, _ = self._squash(x)
    return self._log_width() - tf.math.log(p) - tf.math.log1p(-p)
