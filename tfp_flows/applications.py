"""What a trained flow is used for, as in the papers' figures.

Temperature sampling, encoding and decoding, latent interpolation, inpainting
by MAP (NICE) and attribute manipulation (Glow).

Every function takes a `tfd.TransformedDistribution` whose base is a standard
factorised distribution centred at 0 (what every tfp_flows builder returns):
`decode` is its bijector's `forward` (latent -> data), `encode` its `inverse`.
"""

import math

import tensorflow as tf

__all__ = [
    "sample", "encode", "decode", "interpolate", "temperature_grid", "inpaint",
    "attribute_direction", "manipulate", "check_temperature",
    "check_num_samples", "unless_empty", "TEMPERATURES"
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


def sample(distribution, n, temperature=1.0, seed=None):
  """Draws `n` samples with the base's spread scaled by `temperature`.

  x = g(T * z), z ~ base, g the bijector's forward. T = 1 gives exactly
  `distribution.sample(n, seed=seed)`; T < 1 trades diversity for quality
  (Glow, section 5: T = 0.7); T = 0 decodes the base's mode.

  Args:
    distribution: `tfd.TransformedDistribution` with a zero-centred base.
    n: number of samples, Python int or int tensor (works in `tf.function`).
    temperature: T >= 0, number or scalar tensor.
    seed: TFP seed (int or stateless pair).

  Returns:
    Tensor [n, *event_shape].
  """
  n = check_num_samples(n)
  base = distribution.distribution
  temperature = check_temperature(temperature, base.dtype)

  def draw():
    z = base.sample(n, seed=seed)
    return distribution.bijector.forward(z * temperature)

  return unless_empty(n, draw, [0] + distribution.event_shape.as_list(),
                      distribution.dtype)


def encode(distribution, x):
  """Maps data [B, *event_shape] to latents [B, *latent_shape]."""
  return distribution.bijector.inverse(x)


def decode(distribution, z):
  """Maps latents [B, *latent_shape] to data [B, *event_shape]."""
  return distribution.bijector.forward(z)


def interpolate(distribution, x1, x2, steps=8):
  """Decodes the straight line between the latents of two examples.

  z(a) = (1 - a) encode(x1) + a encode(x2) for a in linspace(0, 1, steps);
  Glow's figure 5 (and RealNVP's) show such paths between real images.

  Args:
    distribution: flow with a zero-centred base.
    x1, x2: two examples, each of shape event_shape.
    steps: number of points, >= 2, ends included.

  Returns:
    Tensor [steps, *event_shape]; its first and last rows reconstruct x1, x2.
  """
  if isinstance(steps, bool) or int(steps) != steps or steps < 2:
    raise ValueError(f"`steps` must be an integer >= 2; got {steps!r}.")
  z = encode(distribution, tf.stack([x1, x2]))
  a = tf.reshape(tf.linspace(tf.zeros([], z.dtype), 1., int(steps)),
                 [-1] + [1] * (z.shape.rank - 1))
  return decode(distribution, (1. - a) * z[:1] + a * z[1:])


def temperature_grid(distribution, n, temperatures=TEMPERATURES, seed=None):
  """Decodes the same `n` base draws at each temperature.

  x[i, j] = g(T_j * eps_i), eps_i ~ base: row i shows one latent cooled from
  T = 1 to the mode at T = 0 (Glow, figure 8).

  Returns:
    Tensor [n, len(temperatures), *event_shape].
  """
  eps = distribution.distribution.sample(check_num_samples(n), seed=seed)
  rows = [decode(distribution, eps * check_temperature(t, eps.dtype))
          for t in temperatures]
  return tf.stack(rows, axis=1)


def inpaint(distribution, x, observed, steps=300, learning_rate=0.05,
            low=0., high=1.):
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

  Returns:
    Tensor like x: the observed pixels of x, the inpainted others.
  """
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
        objective = tf.reduce_sum(distribution.log_prob(image))
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


def attribute_direction(distribution, without, with_attribute):
  """The latent direction of an attribute (Glow, section 5.3).

  d = mean(encode(with_attribute)) - mean(encode(without)): the difference of
  the mean latents of two groups of examples (on digits: two classes).

  Returns:
    Tensor [*latent_shape].
  """
  return (tf.reduce_mean(encode(distribution, with_attribute), axis=0) -
          tf.reduce_mean(encode(distribution, without), axis=0))


def manipulate(distribution, x, direction, scales=(-1., -0.5, 0., 0.5, 1.)):
  """Decodes encode(x) + a * direction for each scale a (Glow, figure 6).

  Returns:
    Tensor [B, len(scales), *event_shape]; the column of a = 0 reconstructs x.
  """
  z = encode(distribution, x)
  rows = [decode(distribution, z + a * direction) for a in scales]
  return tf.stack(rows, axis=1)
