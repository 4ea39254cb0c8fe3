"""Shape checks and the multi-scale skeleton shared by the image-flow builders."""

import tensorflow_probability as tfp

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets

tfb = tfp.bijectors

__all__ = ["check_image_shape", "multiscale"]


def check_image_shape(event_shape, num_scales):
  """Returns `event_shape` as [H, W, C] ints; H and W divisible by 2**num_scales."""
  shape = [int(d) for d in event_shape]
  if len(shape) != 3 or min(shape) < 1:
    raise ValueError(
        f"`event_shape` must be [H, W, C] for this image flow; got "
        f"{list(event_shape)}.")
  factor = 2**num_scales
  if shape[0] % factor or shape[1] % factor:
    raise ValueError(
        f"`event_shape` {shape}: H and W must be divisible by 2**{num_scales} = "
        f"{factor} (each level squeezes by 2).")
  return shape


def multiscale(event_shape, num_scales, make_steps, learn_split_prior,
               context_shape, validate_args, dtype, name):
  """The bijector latent vector -> [H, W, C] of a multi-scale image flow.

  Data to latent, L = `num_scales` levels of

    squeeze -> make_steps(level, h, w, c, prefix) -> split,

  each split factoring half the channels out (`bijectors.FactorOut`) with a
  learned prior N(mu(kept), sigma(kept)) (Glow's; `nets.SplitPriorNet`,
  conditional with `context_shape`) or, without `learn_split_prior`, a
  standard normal one (RealNVP's); the last level has no split. Levels are
  built from the innermost out (each level's split wraps the next).

  Args:
    event_shape: [H, W, C], H and W divisible by 2**num_scales.
    num_scales: L >= 1.
    make_steps: (level, h, w, c, prefix) -> level l's bijectors (l = 0 the
      outermost) in data-to-latent order, acting on [h, w, c] (the squeezed
      shape).
    learn_split_prior: learned or standard normal split priors.
    context_shape: [C'] for conditional split priors, else None.
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: prefix of the levels' names (`{name}_level{l}`).
  """
  if num_scales < 1:
    raise ValueError(f"`num_scales` must be >= 1; got {num_scales}.")
  height, width, channels = check_image_shape(event_shape, num_scales)
  shapes = []
  for _ in range(num_scales):
    height, width, channels = height // 2, width // 2, channels * 4
    shapes.append((height, width, channels))
    channels = channels // 2
  inner = None
  for level in reversed(range(num_scales)):
    h, w, c = shapes[level]
    prefix = f"{name}_level{level}"
    if inner is None:
      tail = flow_bijectors.Unflatten([h, w, c], validate_args=validate_args)
    else:
      split_prior = None
      if learn_split_prior:
        split_prior = nets.SplitPriorNet(2 * (c - c // 2),
                                         context_shape=context_shape,
                                         dtype=nets.layer_dtype(dtype),
                                         name=f"{prefix}_prior")
        split_prior.build([None, h, w, c // 2])
      tail = flow_bijectors.FactorOut(inner, [h, w, c], prior_net=split_prior,
                                      validate_args=validate_args, dtype=dtype,
                                      name=f"{prefix}_split")
    steps = make_steps(level, h, w, c, prefix)
    squeeze = flow_bijectors.Squeeze(event_shape=[2 * h, 2 * w, c // 4],
                                     validate_args=validate_args)
    inner = tfb.Chain([tfb.Invert(squeeze)] + steps + [tail],
                      validate_args=validate_args, name=prefix)
  return inner
