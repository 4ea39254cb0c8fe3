"""Shared plumbing for tfp_flows bijectors: identity-keyed caching and input checks."""

import math

import numpy as np

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows.tfp_internal import assert_util, cache_util, ps

tfb = tfp.bijectors

__all__ = [
    "AugmentedBijector", "VectorToEventShapes", "FlowBijector", "call_with_one_batch_dim",
    "DEFAULT_ROOT_TOLERANCES", "DEFAULT_SHIFT_BOUND", "check_bound",
    "check_event_shape", "clip", "clip_range", "implicit_root",
    "linear_tails", "search_root", "unstack_last"
]

# The clip of every layer's shift (couplings, MAF/IAF, FactorOut's mean):
# far beyond what a trained layer predicts on standardised data, near enough
# that an input far from the data cannot drive the next layers ever further.
DEFAULT_SHIFT_BOUND = 1e3

# Default stopping tolerance |g(x) - target| of `search_root`, by dtype:
# a few ulps of values of order 1 (the search also stops when its bracket is
# a few ulps of its ends wide).
DEFAULT_ROOT_TOLERANCES = {"float32": 1e-6, "float64": 1e-12}


def check_bound(value, arg_name):
  """`value` as a positive finite float, or None (no bound); else ValueError."""
  if value is None:
    return None
  value = float(value)
  if not (math.isfinite(value) and value > 0.):
    raise ValueError(f"`{arg_name}` must be a positive finite number or None "
                     f"(no bound); got {value!r}.")
  return value


def clip(value, bound):
  """`value` clipped to [-bound, bound]; unchanged when `bound` is None.

  A clip rather than a tanh: exact inside the bound and two cheap ops (a layer
  runs few ops besides its network, and each one costs time on a CPU).
  """
  if bound is None:
    return value
  return clip_range(value, -bound, bound)


def clip_range(value, low=None, high=None):
  """`value` clipped to [low, high], a None end unbounded.

  The gradient is `tf.clip_by_value`'s and `tf.maximum`'s (1 inside, ends
  included, 0 beyond) computed as g * [value == clipped value]: TF's takes a
  select per end, which were the largest share of a Glow step's work
  outside its networks. Two ops forward (the clip and the comparison), two
  backward.
  """
  if low is None and high is None:
    return value

  @tf.custom_gradient
  def clipped(value):
    if low is None:
      out = tf.minimum(value, tf.constant(high, value.dtype))
    elif high is None:
      out = tf.maximum(value, tf.constant(low, value.dtype))
    else:
      out = tf.clip_by_value(value, tf.constant(low, value.dtype),
                             tf.constant(high, value.dtype))
    # False for NaN, as TF's comparisons of the ends are.
    inside = tf.equal(value, out)

    def gradient(upstream):
      return upstream * tf.cast(inside, upstream.dtype)

    return out, gradient

  return clipped(value)


def linear_tails(transform, x, bound):
  """An elementwise map continued with slope 1 outside [-bound, bound].

  h(x) = transform(clip(x)) + (x - clip(x)): the map itself inside, and
  h(+-bound) + (x -+ bound) beyond, so an increasing map stays a continuous
  increasing bijection, and whatever it does inside, |h(x)| <= |x| + C with
  C = max |transform| on [-bound, bound]. The transform runs on the clipped
  input only, so the tails never evaluate it far out (no overflow or NaN in
  an unused branch, whose gradient would poison the others).

  Args:
    transform: x -> (y, log dy/dx), elementwise.
    x: input tensor.
    bound: T > 0, or None for `transform` itself.

  Returns:
    (h(x), log h'(x)), the log-derivative 0 in the tails.
  """
  if bound is None:
    return transform(x)
  inside, excess, is_inside = _split_at(x, bound)
  y, log_slope = transform(inside)
  # The excess is exactly 0 within the bound, so the values there are the
  # transform's to the bit, and so are the gradients (`_split_at`). The mask
  # multiplies rather than selects: a select's gradient takes two more, and
  # a layer's few ops besides its network are what a CPU step pays for.
  return y + excess, log_slope * is_inside


def _split_at(x, bound):
  """(clip(x), x - clip(x), [|x| <= bound]) for clip to [-bound, bound].

  One clip and one comparison serve the three. The gradient reaching x is
  the clipped part's inside the bound and the excess's beyond, as
  g_inside * m + g_excess * (1 - m) with the 0/1 mask m: inside it is the
  transform's gradient to the bit (autodiff of clip + excess would add
  g - g * m, which rounds), and two products cost less than a select on a
  CPU.
  """

  @tf.custom_gradient
  def split(x):
    inside = tf.clip_by_value(x, tf.constant(-bound, x.dtype),
                              tf.constant(bound, x.dtype))
    mask = tf.cast(tf.equal(x, inside), x.dtype)

    def gradient(d_inside, d_excess, _):
      grad = None if d_inside is None else d_inside * mask
      if d_excess is not None:
        outside = d_excess * (1. - mask)
        grad = outside if grad is None else grad + outside
      return tf.zeros_like(x) if grad is None else grad

    return (inside, x - inside, mask), gradient

  return split(x)


def search_root(fn, low, high, tolerance=None, max_iterations=60):
  """The x in [low, high] with fn(x) = 0 for an increasing fn, no gradient.

  Chandrupatla's bracketed method (`tfp.math.find_root_chandrupatla`),
  elementwise: it stops where |fn(x)| <= `tolerance` or the bracket is a few
  ulps of its ends wide, after at most `max_iterations` steps (60 halve a
  bracket of width 1e3 to float64 ulps even by pure bisection). `fn`'s
  tensors should be `tf.stop_gradient`ed by the caller: the search is not
  differentiated; `implicit_root` gives its result the implicit function's
  gradient.

  Args:
    fn: x -> tensor of x's shape, increasing in x with a root in the bracket.
    low, high: the bracket, broadcast to the roots' shape.
    tolerance: on |fn(x)|; None for `DEFAULT_ROOT_TOLERANCES` of the dtype.
    max_iterations: cap on the steps.

  Returns:
    The roots, without a gradient.
  """
  shape = tf.shape(low + high)
  low, high = tf.broadcast_to(low, shape), tf.broadcast_to(high, shape)
  dtype = low.dtype
  if tolerance is None:
    tolerance = DEFAULT_ROOT_TOLERANCES[dtype.name]
  eps = tf.constant(np.finfo(dtype.as_numpy_dtype).eps, dtype)
  ulps = 2. * eps * tf.maximum(tf.maximum(tf.abs(low), tf.abs(high)),
                               tf.ones([], dtype))
  result = tfp.math.find_root_chandrupatla(
      fn, low=low, high=high, position_tolerance=ulps,
      value_tolerance=tf.constant(tolerance, dtype),
      max_iterations=max_iterations)
  return tf.stop_gradient(result.estimated_root)


def implicit_root(root, residual, slope):
  """`root`'s value with the gradient of the implicit function g(x; theta) = t.

  With x0 a root found without a gradient (`search_root`), residual =
  g(x0; theta) - t computed with gradients and slope = dg/dx at x0 (its
  value used without one), returns x0 - (delta - stop_gradient(delta)),
  delta = residual / slope: exactly x0, and the derivative
  dx/dtheta = -(dg/dtheta - dt/dtheta) / (dg/dx) of the implicit function
  theorem (one Newton step's, without moving x0).
  """
  delta = residual / tf.stop_gradient(slope)
  return root - (delta - tf.stop_gradient(delta))


def unstack_last(value, num):
  """`tf.unstack(value, num, axis=-1)`: `num` tensors of shape `value.shape[:-1]`.

  Same values and gradient; the gradient stacks the `num` upstream tensors
  on a new first axis and moves it last in one transpose. TF's own (a stack
  on the last axis, an element-by-element copy when `num` is small) took
  5x longer at MADE's [256, 64, 2] (66 against 14 us, one CPU thread): in a
  MAF training step it was the largest op besides the network's.
  """
  rank = value.shape.rank
  if rank is None:
    return tf.unstack(value, num=num, axis=-1)

  @tf.custom_gradient
  def unstack(value):
    parts = tf.unstack(value, num=num, axis=-1)

    def gradient(*upstream):
      upstream = [tf.zeros_like(part) if g is None else g
                  for g, part in zip(upstream, parts)]
      return tf.transpose(tf.stack(upstream, axis=0),
                          list(range(1, rank)) + [0])

    return parts, gradient

  return unstack(value)


def layer_variable(layer, name, channels):
  """`layer`'s own variable `_{name}` of shape [channels], made at ones once.

  For a transformer's per-layer weights (`Affine("exp_tanh")`'s scale
  factor): stored as the layer's attribute `_{name}`, so a checkpoint finds
  it under the layer, and later calls get the same variable.

  Raises:
    ValueError: `channels` unknown at creation, or not the variable's size.
  """
  variable = getattr(layer, "_" + name, None)
  if variable is None:
    if channels is None:
      raise ValueError(
          f"{layer.name}: the last axis of `x` must be statically known to "
          f"create `{name}`; got None.")
    variable = tf.Variable(tf.ones([channels], layer.dtype), name=name)
    setattr(layer, "_" + name, variable)
  elif channels is not None and variable.shape[0] != channels:
    raise ValueError(
        f"{layer.name}: the transformed part x_B must keep its last axis of "
        f"{variable.shape[0]} entries (the size of `{name}`); got {channels}.")
  return variable


def check_event_shape(value, expected, arg_name="x"):
  """Raises `ValueError` when the static trailing shape of `value` is not `expected`.

  Args:
    value: tensor of shape `batch_shape + event_shape`.
    expected: the expected event shape (list or `tf.TensorShape`).
    arg_name: name used in the error message.
  """
  expected = tf.TensorShape(expected)
  shape = value.shape
  if shape.rank is None or expected.rank is None:
    return
  if shape.rank < expected.rank:
    raise ValueError(
        f"`{arg_name}` must have rank >= {expected.rank} with event shape "
        f"{expected.as_list()}; got shape {shape.as_list()}.")
  got = shape[shape.rank - expected.rank:]
  if not got.is_compatible_with(expected):
    raise ValueError(
        f"`{arg_name}` must have event shape {expected.as_list()} (the trailing "
        f"{expected.rank} dims); got {got.as_list()} in shape {shape.as_list()}.")


def call_with_one_batch_dim(fn, x, event_ndims, **kwargs):
  """fn(x) for networks that expect exactly one batch dimension, [B, *event].

  Any other batch rank, none included, is folded into one before the call and
  restored on every output tensor after it. Outputs are cast to x's dtype: a
  network may compute in half precision (mixed precision) while the flow's
  transforms and log-dets stay in x's precision.
  """
  rank = ps.rank(x)
  if x.shape.rank == event_ndims + 1:
    out = fn(x, **kwargs)
    return tf.nest.map_structure(lambda t: tf.cast(t, x.dtype), out)
  batch_shape = ps.shape(x)[:rank - event_ndims]
  flat = tf.reshape(x, ps.concat([[-1], ps.shape(x)[rank - event_ndims:]], 0))
  out = fn(flat, **kwargs)
  return tf.nest.map_structure(
      lambda t: tf.reshape(tf.cast(t, x.dtype),
                           ps.concat([batch_shape, ps.shape(t)[1:]], 0)),
      out)


class FlowBijector(tfb.Bijector):
  """Base class of the tfp_flows bijectors.

  TFP keys its bijector cache on `_get_parameterization()`, which defaults to
  the constructor arguments: two instances built with equal arguments (two
  `ActNorm()` layers, say) would then read each other's cached results even
  though they hold different variables. Our bijectors own state, so every
  instance is its own cache key.
  """

  def _get_parameterization(self):
    return id(self)

  @classmethod
  def _parameter_properties(cls, dtype):
    # Our bijectors hold variables, networks and static Python settings, not
    # tensor parameters to batch over; a subclass with one declares it.
    return dict()

  def _validate_input(self, value, arg_name, event_shape=None):
    """Checks `value`'s static event shape always, its finiteness under `validate_args`.

    Args:
      value: input tensor of `forward` / `inverse`.
      arg_name: "x" or "y", named in error messages.
      event_shape: the expected event shape, or None when unknown.

    Returns:
      `value`, with the run-time assertions attached as control dependencies.
    """
    if event_shape is not None:
      check_event_shape(value, event_shape, arg_name)
    if not self.validate_args:
      return value
    finite = assert_util.assert_equal(
        tf.reduce_all(tf.math.is_finite(value)), True,
        message=f"`{arg_name}` must be finite (no NaN or inf) for bijector "
        f"{self.name}.")
    with tf.control_dependencies([finite]):
      return tf.identity(value)


class AugmentedBijector(FlowBijector):
  """A bijector that computes its output and log-det in one pass.

  Subclasses implement `_augmented_forward(x) -> (y, attrs)` and
  `_augmented_inverse(y) -> (x, attrs)` with attrs = {"fldj": ..., "ildj": ...}
  (log-dets reduced over `forward_min_event_ndims`, resp. inverse). TFP's
  bijector cache stores attrs with the result, so `log_prob` (inverse, then
  inverse log-det at the same point) runs the networks inside once instead of
  twice, as TFP's FFJORD does for its ODE solve.
  """

  _cache = cache_util.BijectorCacheWithGreedyAttrs(
      forward_name="_augmented_forward", inverse_name="_augmented_inverse")

  def _forward(self, x, **kwargs):
    return self._augmented_forward(x, **kwargs)[0]

  def _inverse(self, y, **kwargs):
    return self._augmented_inverse(y, **kwargs)[0]

  def _forward_log_det_jacobian(self, x, **kwargs):
    attrs = self._cache.forward_attributes(x, **kwargs)
    if "fldj" not in attrs:
      attrs.update(self._augmented_forward(x, **kwargs)[1])
    return attrs["fldj"]

  def _inverse_log_det_jacobian(self, y, **kwargs):
    attrs = self._cache.inverse_attributes(y, **kwargs)
    if "ildj" not in attrs:
      attrs.update(self._augmented_inverse(y, **kwargs)[1])
    return attrs["ildj"]


class VectorToEventShapes:
  """Event-shape methods of a bijector from latent vectors to data events.

  forward: [..., D] -> [..., *event_shape]; inverse the other way. The class
  using it sets `self._event_shape` (a fully defined `tf.TensorShape`) and
  `self._latent_size` (D). TFP passes whole shapes, batch dims included.
  """

  def _forward_event_shape(self, input_shape):
    if input_shape.rank is None:
      return tf.TensorShape(None)
    return input_shape[:-1].concatenate(self._event_shape)

  def _forward_event_shape_tensor(self, input_shape):
    return ps.concat([input_shape[:-1], self._event_shape.as_list()], 0)

  def _inverse_event_shape(self, output_shape):
    if output_shape.rank is None:
      return tf.TensorShape(None)
    rank = output_shape.rank - self._event_shape.rank
    return output_shape[:rank].concatenate([self._latent_size])

  def _inverse_event_shape_tensor(self, output_shape):
    rank = ps.size(output_shape) - self._event_shape.rank
    return ps.concat([output_shape[:rank], [self._latent_size]], 0)
