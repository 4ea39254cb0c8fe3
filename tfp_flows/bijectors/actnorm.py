"""Glow's activation normalisation with data-dependent initialisation."""

import tensorflow as tf

from tfp_flows.tfp_internal import ps

from tfp_flows.bijectors import base

__all__ = ["ActNorm"]

# Added to the batch standard deviation at initialisation (Glow's value) so
# that a constant channel gets a large but finite scale.
_EPSILON = 1e-6


class ActNorm(base.FlowBijector):
  """Per-channel affine map y = x * exp(log_scale) + shift on the last axis.

  `shift` and `log_scale` are trainable variables of shape [C]. Every entry
  of the event shares its channel's parameters, so

    log |det J| = (number of entries per channel) * sum(log_scale),

  where the number of entries per channel is the product of the event dims
  except the last one: H * W for an [H, W, C] image (`event_ndims=3`) and 1
  for a [C] vector (`event_ndims=1`).

  Data-dependent initialisation (Glow, section 3.1): the first call sets the
  parameters so that THAT call's output has zero mean and unit variance per
  channel, over the batch and the non-channel event dims.
  `TransformedDistribution.log_prob(data)` runs `inverse` on the data, so in a
  flow the first training batch normalises the latent side:
  x = (y - mean(y)) / (std(y) + 1e-6). The first call may also be `forward`,
  or a log-det (which initialises from its input in the same direction).
  Initialise with a real batch: a constant input (such as the zeros that
  `TransformedDistribution.entropy` uses) gives every channel the scale 1e-6.

  The state lives in variables: `shift`, `log_scale` and the non-trainable
  boolean `initialized`. `tf.train.Checkpoint`, `tf.saved_model` and tf_keras
  weights therefore restore an initialised layer without initialising it
  again. The init is a `tf.cond` on `initialized`. It runs eagerly, in
  `tf.function` and under XLA (`jit_compile=True`). A function traced once
  the layer is initialised leaves the cond out (re-initialising by
  assigning False to `initialized` needs a fresh trace).

  The Jacobian is a constant diagonal, so the bijector is
  `is_constant_jacobian` (affine in TFP's sense).

  Bound (far from the data): the map is affine with fixed parameters, so
  data to latent |x| <= (|y| + max |shift|) exp(-min log_scale) entrywise
  and the log-det is a constant: a finite gain set by the variables (the
  flows' docstrings count it as a fixed factor per step, not bounded by
  construction).

  Shapes: x, y: `batch_shape + event_shape` with `event_shape[-1] == C`;
  log-det: scalar (constant over the batch, broadcast by TFP).

  #### Example

  ```python
  actnorm = tfp_flows.bijectors.ActNorm(channels=3)  # for [H, W, 3] images
  first_batch = 5. + 2. * tf.random.normal([16, 8, 8, 3])
  latent = actnorm.inverse(first_batch)  # initialises: latent ~ N(0, 1)
  ```

  References:
    Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible
      1x1 Convolutions. NeurIPS. arXiv:1807.03039.
  """

  def __init__(self,
               channels=None,
               event_ndims=3,
               validate_args=False,
               dtype=tf.float32,
               name="actnorm"):
    """Creates the bijector.

    Args:
      channels: size C of the last axis. If None, the variables are created
        on the first call, from that input's static last axis.
      event_ndims: rank of the event: 3 for [H, W, C] images, 1 for vectors.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype.
      name: name scope.

    Raises:
      ValueError: `channels` or `event_ndims` is not a positive integer.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      for arg, value in (("channels", channels), ("event_ndims", event_ndims)):
        if value is not None and (int(value) != value or value < 1):
          raise ValueError(
              f"`{arg}` must be a positive integer; got {value!r}.")
      self._event_ndims = int(event_ndims)
      self._initialized = tf.Variable(
          False, trainable=False, name="initialized")
      self._shift = None
      self._log_scale = None
      super().__init__(
          forward_min_event_ndims=self._event_ndims,
          is_constant_jacobian=True,
          validate_args=validate_args,
          dtype=dtype,
          parameters=parameters,
          name=name)
      if channels is not None:
        self._build(int(channels))

  @property
  def channels(self):
    """C, or None before the first call when built with `channels=None`."""
    return None if self._shift is None else self._shift.shape[0]

  @property
  def shift(self):
    return self._shift

  @property
  def log_scale(self):
    return self._log_scale

  @property
  def initialized(self):
    """The boolean variable that the data-dependent init sets."""
    return self._initialized

  def _build(self, channels):
    self._shift = tf.Variable(
        tf.zeros([channels], self.dtype), name="shift")
    self._log_scale = tf.Variable(
        tf.zeros([channels], self.dtype), name="log_scale")

  def _shift_and_log_scale(self, value, arg_name, inverse):
    """Validates `value` and returns (value, shift, log_scale).

    If the layer is not initialised yet, the parameters are first set from
    `value`'s moments so that this call's output (the inverse's x when
    `inverse`, else the forward's y) is normalised.
    """
    if self._shift is None:
      if value.shape.rank is None or value.shape[-1] is None:
        raise ValueError(
            f"{self.name}: the last axis of `{arg_name}` must be statically "
            f"known to create the variables; got shape {value.shape}.")
      self._build(value.shape[-1])
    value = self._validate_input(
        value, arg_name, [None] * (self._event_ndims - 1) + [self.channels])

    def current():
      return tf.identity(self._shift), tf.identity(self._log_scale)

    def initialize():
      axes = ps.range(ps.rank(value) - 1)
      mean = tf.reduce_mean(value, axis=axes)
      log_std = tf.math.log(
          tf.math.reduce_std(value, axis=axes) + _EPSILON)
      if inverse:
        shift, log_scale = mean, log_std
      else:
        log_scale = -log_std
        shift = -mean * tf.exp(log_scale)
      with tf.control_dependencies([
          self._shift.assign(shift),
          self._log_scale.assign(log_scale),
          self._initialized.assign(True)
      ]):
        # Read the variables back rather than return `shift`: gradients of
        # this first call then reach the variables, as in every later call.
        return current()

    if self._known_initialized():
      shift, log_scale = current()
    else:
      # An empty batch has no statistics: initialising from it would store
      # NaN.
      ready = tf.logical_or(self._initialized, tf.equal(tf.size(value), 0))
      shift, log_scale = tf.cond(ready, current, initialize)
    return value, shift, log_scale

  def _known_initialized(self):
    """Whether the init has run, read eagerly even while a function is traced.

    A function traced after the init (a training step after `FlowModel`'s
    eager init, an export) then holds no `tf.cond`: each cond is two
    branch functions to trace and to optimise, and they made up a quarter
    of the time to trace a Glow `log_prob`. A function traced before the
    init keeps the cond, and initialises when it first runs.
    """
    with tf.init_scope():
      if not tf.executing_eagerly():  # TF1-style graph building.
        return False
      return bool(self._initialized.numpy())

  def _entries_per_channel(self, value):
    shape = ps.shape(value)
    return tf.cast(
        ps.reduce_prod(shape[ps.rank(value) - self._event_ndims:-1]),
        self.dtype)

  def _forward(self, x):
    x, shift, log_scale = self._shift_and_log_scale(x, "x", inverse=False)
    return x * tf.exp(log_scale) + shift

  def _inverse(self, y):
    y, shift, log_scale = self._shift_and_log_scale(y, "y", inverse=True)
    return (y - shift) * tf.exp(-log_scale)

  def _forward_log_det_jacobian(self, x):
    x, _, log_scale = self._shift_and_log_scale(x, "x", inverse=False)
    return self._entries_per_channel(x) * tf.reduce_sum(log_scale)

  def _inverse_log_det_jacobian(self, y):
    y, _, log_scale = self._shift_and_log_scale(y, "y", inverse=True)
    return -self._entries_per_channel(y) * tf.reduce_sum(log_scale)
