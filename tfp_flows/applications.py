"""What a trained flow is used for: temperature sampling, encoding, decoding.

Every function takes a `tfd.TransformedDistribution` whose base is a standard
factorised distribution centred at 0 (what every tfp_flows builder returns):
`decode` is its bijector's `forward` (latent -> data), `encode` its `inverse`.
"""

import math

import tensorflow as tf

__all__ = [
    "sample", "encode", "decode", "interpolate", "check_temperature",
    "check_num_samples"
]


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
  z = base.sample(n, seed=seed)
  return distribution.bijector.forward(z * temperature)


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
