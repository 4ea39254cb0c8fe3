"""The affine transform of RealNVP, Glow, MAF and IAF: g(x) = s x + t."""

import math

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors import base
from tfp_flows.bijectors.transformers import transformer

__all__ = ["Affine", "DEFAULT_LOG_SCALE_BOUNDS", "EXP_TANH_LOG_SCALE_BOUND",
           "MIN_SIGMOID_LOG_SCALE", "SCALE_FNS", "SOFT_TANH_LOG_SCALE_BOUND",
           "soft_bound"]

SCALE_FNS = ("exp_tanh", "sigmoid", "inverse_sigmoid", "soft_tanh")
# Floor of log sigmoid(h + 2) for both sigmoid scales. With "sigmoid" the
# inverse (data -> latent) divides by the sigmoid, so each coupling can
# amplify by at most exp(4) ~ 55; with "inverse_sigmoid" (Glow's) it
# multiplies by it and the floor only bounds sampling's expansion. Measured
# on the default Glow trained on digits (seed 0), in-distribution log s never
# goes below -2.33 (test set; 1st percentile of per-image minima -2.18), and
# retraining with the floor at -5 gave the same test bits/dim to 4 digits for
# seeds 0 and 1: the floor never binds in training. The former floor, -15
# (a factor 3.3e6 per layer), let inverted digits reach latents of 1e22 and a
# log_prob of -inf. -4 also makes the default Glow's 8 couplings provably
# finite at inputs 1e4 away (see `bijectors.AffineCoupling`).
MIN_SIGMOID_LOG_SCALE = -4.
# Bound of RealNVP's |log s| = |scale_factor * tanh(h)|: scale_factor is a
# trainable variable, so without it a trained layer is unbounded.
EXP_TANH_LOG_SCALE_BOUND = 3.
# MAF's and IAF's B in log s = B tanh(h / B): scales in [exp(-3), exp(3)]
# ~ [0.05, 20] per layer (`bijectors.MaskedAutoregressive` has the choice).
SOFT_TANH_LOG_SCALE_BOUND = 3.
DEFAULT_LOG_SCALE_BOUNDS = {"sigmoid": -MIN_SIGMOID_LOG_SCALE,
                            "inverse_sigmoid": -MIN_SIGMOID_LOG_SCALE,
                            "exp_tanh": EXP_TANH_LOG_SCALE_BOUND,
                            "soft_tanh": SOFT_TANH_LOG_SCALE_BOUND}
# With `log_scale_bound=None`, the sigmoid floor is float32's own limit.
_UNBOUNDED_SIGMOID_FLOOR = 80.


def soft_bound(raw, bound):
  """bound * tanh(raw / bound): the identity at 0 with unit slope, |.| < bound.

  Args:
    raw: float tensor.
    bound: positive Python float, or None for no bound (`raw` itself).

  Returns:
    A tensor like `raw`.
  """
  if bound is None:
    return raw
  return tf.constant(bound, raw.dtype) * tf.tanh(
      raw * tf.constant(1. / bound, raw.dtype))


def _sigmoid_floor_logit(bound, dtype):
  """The z where log sigmoid(z) = -B: logit(exp(-B)), rounded up in `dtype`.

  Flooring z there floors log s at -B (log sigmoid is increasing), and the
  rounding up keeps -log1p(exp(-z)) >= -B in `dtype` too. Without a bound,
  B = 80, float32's own floor (exp(-log s) must not overflow).
  """
  bound = _UNBOUNDED_SIGMOID_FLOOR if bound is None else bound
  logit = -bound - math.log1p(-math.exp(-bound))
  floor = np.array(logit, dtype.as_numpy_dtype)
  while -np.log1p(np.exp(-floor.astype(np.float64))) < -bound:
    floor = np.nextafter(floor, np.array(np.inf, floor.dtype))
  return float(floor)


class Affine(transformer.Transformer):
  """g(x; t, h) = s(h) x + t, log g'(x) = log s(h), with bounded s and t.

  P = 2: a raw shift t and a raw scale h per entry. A coupling's conditioner
  returns them as two halves [t | h] of its last axis (2 d_B entries); a
  MADE as [..., D, 2]. The log-scale comes from `scale_fn`:

  * "exp_tanh" (RealNVP): log s = clip(a tanh(h), -B, B), a = a trainable
    per-channel `scale_factor` of the layer, initialised to 1 (B = 3);
  * "inverse_sigmoid" (Glow): s = 1 / sigmoid(h + 2), so data to latent
    multiplies by sigmoid(h + 2) >= exp(-B) (B = 4): every layer contracts
    towards the latent;
  * "sigmoid": s = sigmoid(h + 2), data to latent divides by it (tfp-flows
    0.1.0's Glow, kept so its saved flows load);
  * "soft_tanh" (MAF, IAF): log s = B tanh(h / B) (B = 3), the identity
    with unit slope at h = 0, so a zero-initialised network starts at the
    identity.

  The shift is clipped to +-S (`shift_bound`, 1e3) and, beyond |g(x)| = T
  (`tail_bound`, 1e3 by default; None for none), the map continues with
  slope 1, so that a stack's growth on far inputs is additive.
  `bijectors.AffineCoupling` and `bijectors.MaskedAutoregressive` give the
  measurements behind each bound.

  #### Example

  ```python
  import tfp_flows

  tfb = tfp_flows.bijectors
  glow_affine = tfb.transformers.Affine(scale_fn="inverse_sigmoid")
  net = tfp_flows.nets.MLP([64, 64], output_units=2 * 2)
  layer = tfb.Coupling(net, glow_affine, num_masked=2)
  print(layer.inverse_log_det_jacobian(tf.ones([3, 4]), event_ndims=1))
  ```

  References:
    Dinh, L., Sohl-Dickstein, J. & Bengio, S. (2017). Density estimation using
      Real NVP. ICLR. arXiv:1605.08803.
    Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible
      1x1 Convolutions. NeurIPS. arXiv:1807.03039.
    Papamakarios, G., Pavlakou, T. & Murray, I. (2017). Masked Autoregressive
      Flow for Density Estimation. NeurIPS. arXiv:1705.07057.
  """

  num_params = 2
  params_description = "a raw shift and log-scale"
  zeroes_conditioning = True

  def __init__(self,
               scale_fn="exp_tanh",
               log_scale_bound="default",
               shift_bound=base.DEFAULT_SHIFT_BOUND,
               tail_bound=base.DEFAULT_SHIFT_BOUND):
    """Builds the transform's options.

    Args:
      scale_fn: "exp_tanh", "inverse_sigmoid", "sigmoid" or "soft_tanh"
        (class docstring).
      log_scale_bound: B > 0: |log s| <= B for "exp_tanh" and "soft_tanh",
        log s >= -B for "sigmoid", log sigmoid(h + 2) >= -B for
        "inverse_sigmoid"; "default" for `DEFAULT_LOG_SCALE_BOUNDS[scale_fn]`,
        None for no bound.
      shift_bound: S > 0, the shift is clipped to [-S, S]; None for no clip.
      tail_bound: T > 0: slope 1 beyond |y| = T on the data side; None for
        the affine map everywhere.

    Raises:
      ValueError: an unknown `scale_fn` or a bound that is not positive and
        finite (nor None).
    """
    if scale_fn not in SCALE_FNS:
      raise ValueError(
          f"`scale_fn` must be one of {SCALE_FNS}; got {scale_fn!r}.")
    if isinstance(log_scale_bound, str) and log_scale_bound == "default":
      log_scale_bound = DEFAULT_LOG_SCALE_BOUNDS[scale_fn]
    self._scale_fn = scale_fn
    self._log_scale_bound = base.check_bound(log_scale_bound,
                                             "log_scale_bound")
    self._shift_bound = base.check_bound(shift_bound, "shift_bound")
    self._tail_bound = base.check_bound(tail_bound, "tail_bound")

  @property
  def variable_names(self):
    return ("scale_factor",) if self._scale_fn == "exp_tanh" else ()

  @property
  def scale_fn(self):
    return self._scale_fn

  @property
  def log_scale_bound(self):
    return self._log_scale_bound

  @property
  def shift_bound(self):
    return self._shift_bound

  @property
  def tail_bound(self):
    return self._tail_bound

  def get_config(self):
    return {"scale_fn": self._scale_fn,
            "log_scale_bound": self._log_scale_bound,
            "shift_bound": self._shift_bound,
            "tail_bound": self._tail_bound}

  def params(self, theta, value, site):
    """(t, -log s, 1 / s), each shaped like `value`; 1 / s None for "soft_tanh"."""
    channels = value.shape[-1]
    if site.layout == transformer.AUTOREGRESSIVE:
      shift, raw = base.unstack_last(theta, 2)
    else:
      if channels is not None and theta.shape[-1] not in (None, 2 * channels):
        raise ValueError(
            f"{site.owner}: the last axis of the `conditioner` output must be "
            f"2 * {channels} = {2 * channels} (shift and raw scale for each "
            f"of the {channels} channels of x_B); got {theta.shape[-1]} in "
            f"shape {theta.shape.as_list()}.")
      shift, raw = tf.split(theta, 2, axis=-1)
    # A coupling's merge discards the outputs on a mask's conditioning
    # entries; zeroing them keeps a huge value there from overflowing y_b to
    # inf, whose discarded gradient would still be 0 * inf = NaN.
    shift = site.zero_conditioning(shift)
    raw = site.zero_conditioning(raw)
    shift = base.clip(shift, self._shift_bound)
    if self._scale_fn == "soft_tanh":
      return shift, -soft_bound(raw, self._log_scale_bound), None
    if self._scale_fn != "exp_tanh":
      # sigmoid(h + 2) with its log >= -B, i.e. h + 2 >= logit(exp(-B)):
      # with e = exp(-(h + 2)), 1 / sigmoid = 1 + e and -log sigmoid =
      # log1p(e), one exp for both (log_sigmoid is a softplus, several times
      # an exp's cost on a CPU). Written without chains of unary ops, which
      # grappler fuses into one slower, unvectorised op.
      e = tf.exp(base.clip_range(-2. - raw, high=-_sigmoid_floor_logit(
          self._log_scale_bound, value.dtype)))
      if self._scale_fn == "sigmoid":
        return shift, tf.math.log1p(e), 1. + e
      return shift, -tf.math.log1p(e), 1. / (1. + e)
    log_inverse_scale = -base.clip(
        site.variable("scale_factor", channels) * tf.tanh(raw),
        self._log_scale_bound)
    return shift, log_inverse_scale, tf.exp(log_inverse_scale)

  def forward(self, x, params):
    shift, log_inverse_scale, inverse_scale = params
    if self._tail_bound is None:
      if inverse_scale is None:
        return x * tf.exp(-log_inverse_scale) + shift, -log_inverse_scale
      return x / inverse_scale + shift, -log_inverse_scale
    if inverse_scale is None:
      inverse_scale = tf.exp(log_inverse_scale)
    # The latents of y = +-T bracket the affine part; beyond, slope 1.
    bound = tf.constant(self._tail_bound, x.dtype)
    inside = tf.clip_by_value(x, (-bound - shift) * inverse_scale,
                              (bound - shift) * inverse_scale)
    y = inside / inverse_scale + shift
    # Selects, so that inside the bracket values and gradients are the
    # affine map's to the bit (see `base.linear_tails`).
    is_inside = tf.equal(x, inside)
    return (tf.where(is_inside, y, y + (x - inside)),
            tf.where(is_inside, -log_inverse_scale,
                     tf.zeros_like(log_inverse_scale)))

  def inverse(self, y, params):
    shift, log_inverse_scale, inverse_scale = params
    if inverse_scale is None:
      if self._tail_bound is None:
        return (y - shift) * tf.exp(log_inverse_scale), -log_inverse_scale
      inverse_scale = tf.exp(log_inverse_scale)
    x, log_slope = base.linear_tails(
        lambda v: ((v - shift) * inverse_scale, log_inverse_scale), y,
        self._tail_bound)
    return x, -log_slope
