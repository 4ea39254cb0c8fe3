"""Glow (Kingma & Dhariwal, 2018) as a `tfd.TransformedDistribution`."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.bijectors import rational_quadratic_spline as rqs
from tfp_flows.flows import priors
from tfp_flows.flows import shapes as shapes_lib

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = ["glow", "COUPLINGS", "SPLINE_COUPLING"]

COUPLINGS = ("affine", "additive", "spline")
# coupling="spline": rational-quadratic splines with these settings. Few bins
# keep the coupling networks' output convolutions (3K - 1 channels per
# transformed channel) near the affine Glow's size; ActNorm standardises
# each channel before the coupling, so [-5, 5] holds the data.
SPLINE_COUPLING = dict(num_bins=4, bound=5.)


def _zero_conv(channels_in, channels_out, dtype, name):
  """A zero-initialised 3x3 convolution, built: Glow's split-prior network."""
  conv = tf_keras.layers.Conv2D(channels_out, 3, padding="same",
                                kernel_initializer="zeros",
                                dtype=nets.layer_dtype(dtype), name=name)
  conv.build([None, None, None, channels_in])
  return conv


def _step(channels, hidden_channels, coupling, lu_decomposed, validate_args,
          dtype, name):
  """One flow step in Chain order: [ActNorm, InvertibleConv1x1, coupling].

  Chain's inverse (data -> latent) applies them left to right: actnorm, then
  the 1x1 convolution, then the coupling, as in the paper.
  """
  kept = channels // 2
  changed = channels - kept
  width = {"affine": 2 * changed, "additive": changed,
           "spline": changed * rqs.num_params(SPLINE_COUPLING["num_bins"])
           }[coupling]
  net = nets.GlowNet(hidden_channels, width, dtype=nets.layer_dtype(dtype),
                     name=f"{name}_net")
  net.build([None, None, None, kept])
  common = dict(num_masked=kept, event_ndims=3, validate_args=validate_args,
                dtype=dtype)
  if coupling == "affine":
    layer = flow_bijectors.AffineCoupling(net, scale_fn="sigmoid",
                                          name=f"{name}_coupling", **common)
  elif coupling == "spline":
    layer = flow_bijectors.SplineCoupling(net, name=f"{name}_coupling",
                                          **SPLINE_COUPLING, **common)
  else:
    layer = flow_bijectors.AdditiveCoupling(net, name=f"{name}_coupling",
                                            **common)
  return [
      flow_bijectors.ActNorm(channels, validate_args=validate_args,
                             dtype=dtype, name=f"{name}_actnorm"),
      flow_bijectors.InvertibleConv1x1(channels, lu_decomposed=lu_decomposed,
                                       validate_args=validate_args,
                                       dtype=dtype, name=f"{name}_conv1x1"),
      layer,
  ]


def glow(image_shape,
         num_levels=2,
         depth=4,
         hidden_channels=64,
         coupling="affine",
         lu_decomposed=False,
         learn_split_prior=True,
         validate_args=False,
         dtype=tf.float32,
         name="glow"):
  """Builds Glow's multi-scale flow over images in [0, 1).

  Data to latent: x - 0.5, then L levels of

    squeeze -> K x (ActNorm -> InvertibleConv1x1 -> coupling) -> split,

  where each split factors half the channels out with a learned Gaussian prior
  N(mu(h), sigma(h)) from a zero-initialised conv of the kept half h
  (`FactorOut`); the last level has no split. All latents form one vector with
  a standard normal base, so temperature sampling (`tfp_flows.sample`) scales
  every level's prior std, as in the paper.

  The paper's CIFAR-10 model: `glow([32, 32, 3], num_levels=3, depth=32,
  hidden_channels=512)`.

  Args:
    image_shape: [H, W, C], H and W divisible by 2**num_levels.
    num_levels: L, the number of squeezes.
    depth: K, flow steps per level.
    hidden_channels: width of each coupling network (`nets.GlowNet`).
    coupling: "affine" (scale sigmoid(h + 2)), "additive" or "spline"
      (`bijectors.SplineCoupling` with `SPLINE_COUPLING`'s settings: a
      neural spline flow's coupling).
    lu_decomposed: LU-parameterised 1x1 convolutions.
    learn_split_prior: learned N(mu, sigma) priors at the splits; False for
      standard normal ones.
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution.

  Returns:
    `tfd.TransformedDistribution` over `image_shape`.
  """
  if num_levels < 1:
    raise ValueError(f"`num_levels` must be >= 1; got {num_levels}.")
  height, width, channels = shapes_lib.check_image_shape(image_shape,
                                                         num_levels)
  if coupling not in COUPLINGS:
    raise ValueError(f"`coupling` must be one of {COUPLINGS}; got {coupling!r}.")
  if depth < 1:
    raise ValueError(f"`depth` must be >= 1; got {depth}.")
  # Built from the innermost level out: each level's FactorOut wraps the next.
  shapes = []
  for _ in range(num_levels):
    height, width, channels = height // 2, width // 2, channels * 4
    shapes.append((height, width, channels))
    channels = channels // 2
  inner = None
  for level in reversed(range(num_levels)):
    h, w, c = shapes[level]
    prefix = f"{name}_level{level}"
    if inner is None:
      tail = flow_bijectors.Unflatten([h, w, c], validate_args=validate_args)
    else:
      prior = None
      if learn_split_prior:
        prior = _zero_conv(c // 2, 2 * (c - c // 2), dtype, f"{prefix}_prior")
      tail = flow_bijectors.FactorOut(inner, [h, w, c], prior_net=prior,
                                      validate_args=validate_args, dtype=dtype,
                                      name=f"{prefix}_split")
    steps = []
    for k in range(depth):
      steps += _step(c, hidden_channels, coupling, lu_decomposed,
                     validate_args, dtype, f"{prefix}_step{k}")
    squeeze = flow_bijectors.Squeeze(event_shape=[2 * h, 2 * w, c // 4],
                                     validate_args=validate_args)
    inner = tfb.Chain(
        [tfb.Invert(squeeze)] +
        steps + [tail], validate_args=validate_args, name=prefix)
  latent_size = int(np.prod(image_shape))
  return tfd.TransformedDistribution(
      distribution=priors.standard_prior([latent_size], "gaussian", dtype),
      bijector=tfb.Chain([tfb.Shift(tf.constant(0.5, dtype)), inner],
                         validate_args=validate_args, name=f"{name}_bijector"),
      validate_args=validate_args,
      name=name)
