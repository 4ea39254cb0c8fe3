"""What a trained flow is used for, as in the papers' figures.

Temperature sampling, encoding and decoding, latent interpolation, inpainting
by MAP (NICE) and attribute manipulation (Glow).

Every function takes a `tfd.TransformedDistribution` whose base is a standard
factorised distribution centred at 0 (what every tfp_flows builder returns):
`decode` is its bijector's `forward` (latent -> data), `encode` its `inverse`.

Every function takes `context=None`: the context c of a conditional flow
p(x | c), [C] (one for every example) or [B, C] (one per example), routed to
each conditional layer (`tfp_flows.context`). A conditional flow called
without a context, or an unconditional one given one, raises a `ValueError`
that names `context`, the expected and the received shape.
"""

import math

import tensorflow as tf

from tfp_flows import context as context_lib

__all__ = [
    "sample", "log_prob", "encode", "decode", "interpolate",
    "temperature_grid", "inpaint", "attribute_direction", "manipulate",
    "check_temperature", "check_num_samples", "unless_empty", "TEMPERATURES"
]

# The Glow paper's temperature grid (figure 8 uses 0 ... 1 in finer steps).
TEMPERATURES = (0., 0.5, 0.7, 0.85, 1.)


def check_temperature(temperature, dtype=tf.float32):
  """Returns `temperature` as a tensor, asserting 0 <= T < inf.

  T = 0 is valid (every latent at the base's mode, as in the Glow paper's
  temperature grid). A Python number is checked at once (ValueError); a tensor
  gets a run-time assertion (InvalidArgumentError).
  """
  if not tf.is_tensor(temperature):
    if not (isinstance(temperature, (int, float)) and
            math.isfinite(temperature) and temperature >= 0):
      raise ValueError("`temperature` must be a finite number >= 0; got "
                       f"{temperature!r}.")
    return tf.constant(temperature, dtype)
  temperature = tf.cast(temperature, dtype)
  checks = [
      tf.debugging.assert_all_finite(
          temperature, "`temperature` must be finite."),
      tf.debugging.assert_non_negative(
          temperature, message="`temperature` must be >= 0."),
  ]
  with tf.control_dependencies(checks):
    return tf.identity(temperature)


def check_num_samples(n):
  """Returns `n` as an int32 tensor, asserting it is an integer >= 0."""
  if not tf.is_tensor(n):
    if isinstance(n, bool) or int(n) != n or n < 0:
      raise ValueError(f"`n` must be an integer >= 0; got {n!r}.")
    return tf.constant(int(n), tf.int32)
  if not n.dtype.is_integer:
    raise TypeError(f"`n` must be an integer tensor; got dtype {n.dtype.name}.")
  n = tf.cast(n, tf.int32)
  with tf.control_dependencies(
      [tf.debugging.assert_non_negative(n, message="`n` must be >= 0.")]):
    return tf.identity(n)


def unless_empty(batch_size, compute, empty_shape, dtype):
  """compute(), or zeros of `empty_shape` when `batch_size` is 0.

  TF's convolutions reject empty batches on CPU (oneDNN's BiasAdd), so the
  sampling and serving entry points answer an empty request without running
  the networks. Static sizes decide in Python; dynamic ones with `tf.cond`.
  """
  static = tf.get_static_value(batch_size)
  if static is not None:
    return compute() if static > 0 else tf.zeros(empty_shape, dtype)
  return tf.cond(batch_size > 0, compute,
                 lambda: tf.zeros(empty_shape, dtype))


def sample(distribution, n, temperature=1.0, seed=None, context=None):
  """Draws `n` samples with the base's spread scaled by `temperature`.

  x = g(T * z; c), z ~ base, g the bijector's forward. T = 1 gives exactly
  `distribution.sample(n, seed=seed)`; T < 1 trades diversity for quality
  (Glow, section 5: T = 0.7); T = 0 decodes the base's mode.

  Args:
    distribution: `tfd.TransformedDistribution` with a zero-centred base.
    n: number of samples, Python int or int tensor (works in `tf.function`).
    temperature: T >= 0, number or scalar tensor.
    seed: TFP seed (int or stateless pair).
    context: c [C] (every sample) or [n, C] (one per sample) for a
      conditional flow, else None.

  Returns:
    Tensor [n, *event_shape].
  """
  context_lib.check_flow_context(distribution, context)
  n = check_num_samples(n)
  base = distribution.distribution
  temperature = check_temperature(temperature, base.dtype)

  def draw():
    z = base.sample(n, seed=seed)
    return decode(distribution, z * temperature, context)

  return unless_empty(n, draw, [0] + distribution.event_shape.as_list(),
                      distribution.dtype)


def log_prob(distribution, x, context=None):
  """log p(x) or log p(x | c): x [*batch, *event_shape] -> [*batch]."""
  # Only a flow takes bijector kwargs: any other distribution gets none.
  return context_lib.call_with_context(
      distribution,
      lambda x, kw: (distribution.log_prob(x, bijector_kwargs=kw) if kw
                     else distribution.log_prob(x)),
      x, distribution.event_shape.as_list(), context, "x")


def encode(distribution, x, context=None):
  """Maps data [B, *event_shape] to latents [B, *latent_shape] (given c)."""
  return context_lib.call_with_context(
      distribution, lambda x, kw: distribution.bijector.inverse(x, **kw), x,
      distribution.event_shape.as_list(), context, "x")


def decode(distribution, z, context=None):
  """Maps latents [B, *latent_shape] to data [B, *event_shape] (given c)."""
  return context_lib.call_with_context(
      distribution, lambda z, kw: distribution.bijector.forward(z, **kw), z,
      distribution.distribution.event_shape.as_list(), context, "z")


def interpolate(distribution, x1, x2, steps=8, context=None):
  """Decodes the straight line between the latents of two examples.

  z(a) = (1 - a) encode(x1) + a encode(x2) for a in linspace(0, 1, steps);
  Glow's figure 5 (and RealNVP's) show such paths between real images.

  Args:
    distribution: flow with a zero-centred base.
    x1, x2: two examples, each of shape event_shape.
    steps: number of points, >= 2, ends included.
    context: one context c [C] for the whole path (conditional flows).

  Returns:
    Tensor [steps, *event_shape]; its first and last rows reconstruct x1, x2.
  """
  if isinstance(steps, bool) or int(steps) != steps or steps < 2:
    raise ValueError(f"`steps` must be an integer >= 2; got {steps!r}.")
  z = encode(distribution, tf.stack([x1, x2]), context)
  a = tf.reshape(tf.linspace(tf.zeros([], z.dtype), 1., int(steps)),
                 [-1] + [1] * (z.shape.rank - 1))
  return decode(distribution, (1. - a) * z[:1] + a * z[1:], context)


def temperature_grid(distribution, n, temperatures=TEMPERATURES, seed=None,
                     context=None):
  """Decodes the same `n` base draws at each temperature.

  x[i, j] = g(T_j * eps_i; c), eps_i ~ base: row i shows one latent cooled
  from T = 1 to the mode at T = 0 (Glow, figure 8). `context`: [C] or [n, C].

  Returns:
    Tensor [n, len(temperatures), *event_shape].
  """
  context_lib.check_flow_context(distribution, context)
  eps = distribution.distribution.sample(check_num_samples(n), seed=seed)
  rows = [decode(distribution, eps * check_temperature(t, eps.dtype), context)
          for t in temperatures]
  return tf.stack(rows, axis=1)


def inpaint(distribution, x, observed, steps=300, learning_rate=0.05,
            low=0., high=1., context=None):
  """Fills the unobserved pixels of `x` by maximising log p(x) (NICE, 5.2).

  Projected gradient ascent over the missing pixels only: the observed ones
  stay fixed, the missing ones start at mid-range and follow Adam-normalised
  ascent steps on log p(x), projected back into [low, high) after each step.

  Args:
    distribution: the flow.
    x: images [B, *event_shape]; the values of missing pixels are ignored.
    observed: mask broadcastable to x, 1 where the pixel is known.
    steps: ascent steps.
    learning_rate: step size (in pixel units of [low, high)).
    low, high: the data range.
    context: c [C] or [B, C] for a conditional flow, else None.

  Returns:
    Tensor like x: the observed pixels of x, the inpainted others.
  """
  context_lib.check_flow_context(distribution, context)
  x = tf.convert_to_tensor(x, distribution.dtype)
  observed = tf.cast(tf.broadcast_to(observed, tf.shape(x)), x.dtype)
  missing = tf.Variable(tf.fill(tf.shape(x), tf.cast((low + high) / 2.,
                                                     x.dtype)))
  # Stay strictly inside the data range: a flow's density may be undefined
  # at the upper edge (RealNVP's logit).
  top = tf.cast(high - (high - low) * 1e-3, x.dtype)
  m = tf.Variable(tf.zeros_like(x))
  v = tf.Variable(tf.zeros_like(x))

  @tf.function
  def ascend():
    for t in tf.range(1, steps + 1):
      with tf.GradientTape() as tape:
        image = observed * x + (1. - observed) * missing
        objective = tf.reduce_sum(log_prob(distribution, image, context))
      grad = (1. - observed) * tape.gradient(objective, missing)
      # Adam's per-pixel normalisation: a flow's pixel gradients span orders
      # of magnitude, so one raw step size would not suit them all.
      m.assign(0.9 * m + 0.1 * grad)
      v.assign(0.999 * v + 0.001 * grad * grad)
      t = tf.cast(t, x.dtype)
      step = (m / (1. - 0.9**t)) / (tf.sqrt(v / (1. - 0.999**t)) + 1e-8)
      missing.assign(tf.clip_by_value(missing + learning_rate * step,
                                      tf.cast(low, x.dtype), top))

  if steps > 0:
    ascend()
  return observed * x + (1. - observed) * missing


def attribute_direction(distribution, without, with_attribute, context=None):
  """The latent direction of an attribute (Glow, section 5.3).

  d = mean(encode(with_attribute)) - mean(encode(without)): the difference of
  the mean latents of two groups of examples (on digits: two classes). Both
  groups are encoded with `context` ([C], conditional flows).

  Returns:
    Tensor [*latent_shape].
  """
  return (tf.reduce_mean(encode(distribution, with_attribute, context), 0) -
          tf.reduce_mean(encode(distribution, without, context), 0))


def manipulate(distribution, x, direction, scales=(-1., -0.5, 0., 0.5, 1.),
               context=None):
  """Decodes encode(x) + a * direction for each scale a (Glow, figure 6).

  `context`: c [C] or [B, C] for a conditional flow (encode and decode).

  Returns:
    Tensor [B, len(scales), *event_shape]; the column of a = 0 reconstructs x.
  """
  z = encode(distribution, x, context)
  rows = [decode(distribution, z + a * direction, context) for a in scales]
  return tf.stack(rows, axis=1)
