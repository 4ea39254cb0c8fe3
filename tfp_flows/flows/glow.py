"""Glow (Kingma & Dhariwal, 2018) as a `tfd.TransformedDistribution`."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.bijectors import transformers
from tfp_flows.bijectors.transformers import affine
from tfp_flows.flows import build_config
from tfp_flows.flows import priors
from tfp_flows.flows import shapes as shapes_lib
from tfp_flows.flows import coupling_flow

tfb = tfp.bijectors

__all__ = ["glow", "COUPLINGS", "SPLINE_COUPLING"]

# The couplings of the vector builder, and splines.
COUPLINGS = coupling_flow.COUPLINGS + ("spline",)
# coupling="spline": `transformers.Spline` with these settings (any others:
# coupling=transformers.Spline(...)). Few bins
# keep the coupling networks' output convolutions (3K - 1 channels per
# transformed channel) near the affine Glow's size; ActNorm standardises
# each channel before the coupling, so [-5, 5] holds the data.
SPLINE_COUPLING = dict(num_bins=4, bound=5.)


def _step(channels, hidden_units, coupling, scale_fn, lu_decomposed,
          context_shape, validate_args, dtype, name):
  """One flow step in Chain order: [ActNorm, InvertibleConv1x1, coupling].

  Chain's inverse (data -> latent) applies them left to right: actnorm, then
  the 1x1 convolution, then the coupling, as in the paper.
  """
  kept = channels // 2
  changed = channels - kept
  if coupling == "spline":
    coupling = transformers.Spline(**SPLINE_COUPLING)

  def make_net(width):
    net = nets.GlowNet(hidden_units, width, context_shape=context_shape,
                       dtype=nets.layer_dtype(dtype), name=f"{name}_net")
    net.build([None, None, None, kept])
    return net

  layer = coupling_flow.coupling_layer(
      coupling, changed, make_net, f"{name}_coupling", num_masked=kept,
      event_ndims=3, scale_fn=scale_fn, validate_args=validate_args,
      dtype=dtype)
  return [
      flow_bijectors.ActNorm(channels, validate_args=validate_args,
                             dtype=dtype, name=f"{name}_actnorm"),
      flow_bijectors.InvertibleConv1x1(channels, lu_decomposed=lu_decomposed,
                                       validate_args=validate_args,
                                       dtype=dtype, name=f"{name}_conv1x1"),
      layer,
  ]


@build_config.records
def glow(event_shape,
         *,
         num_layers=4,
         num_scales=2,
         hidden_units=64,
         coupling="affine",
         scale_fn="inverse_sigmoid",
         lu_decomposed=False,
         learn_split_prior=True,
         context_shape=None,
         prior="gaussian",
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

  The paper's CIFAR-10 model: `glow([32, 32, 3], num_layers=32, num_scales=3,
  hidden_units=512)`.

  Class-conditional (the paper's section 5 model, `context_shape=[C]` for
  one-hot classes or any context vector c): every coupling network sees c
  (`nets.GlowNet`), every split prior is N(mu(h, c), sigma(h, c))
  (`nets.SplitPriorNet`), and the top prior is N(mu(c), sigma(c)) with mean
  and log-std a linear map of c (`bijectors.ContextAffine` on the latent).
  Pass the context as `context=` to `tfp_flows.sample`, `log_prob`, ...

  Args:
    event_shape: [H, W, C], H and W divisible by 2**num_scales.
    num_layers: K, flow steps per level (the paper's depth).
    num_scales: L, the number of squeezes.
    hidden_units: channels of each coupling network's hidden layers
      (`nets.GlowNet`).
    coupling: "affine" (`bijectors.AffineCoupling` with `scale_fn`),
      "additive", "spline" (`transformers.Spline(**SPLINE_COUPLING)`: a
      neural spline flow's coupling), or any
      `bijectors.transformers.Transformer` with its own options, e.g.
      `transformers.Spline(num_bins=8, bound=4.)`.
    scale_fn: the affine coupling's scale (`bijectors.AffineCoupling`):
      "inverse_sigmoid", the paper's (data to latent multiplies by
      sigmoid(h + 2), so every coupling contracts towards the latent);
      "sigmoid", the orientation of tfp-flows 0.1.0 (data to latent divides
      by it: amplifies, and spiked on MNIST), which its saved flows load
      with; or "exp_tanh" (RealNVP's). Only with `coupling="affine"` (a
      transformer carries its own: `transformers.Affine(scale_fn=...)`).
    lu_decomposed: LU-parameterised 1x1 convolutions.
    learn_split_prior: learned N(mu, sigma) priors at the splits; False for
      standard normal ones.
    context_shape: [C] for a conditional flow p(x | c), else None.
    prior: the base on the latent vector, "gaussian" (the paper's) or
      "logistic" (`priors.standard_prior`).
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution.

  Returns:
    `tfd.TransformedDistribution` over `event_shape`.

  References:
    Kingma, D. P. & Dhariwal, P. (2018). Glow: Generative Flow with Invertible
      1x1 Convolutions. NeurIPS. arXiv:1807.03039.
  """
  shapes_lib.check_image_shape(event_shape, num_scales)
  coupling_flow.check_coupling(coupling, COUPLINGS)
  if scale_fn not in affine.SCALE_FNS:
    raise ValueError(
        f"`scale_fn` must be one of "
        f"{affine.SCALE_FNS}; got {scale_fn!r}.")
  if num_layers < 1:
    raise ValueError(f"`num_layers` must be >= 1; got {num_layers}.")

  def make_steps(level, h, w, c, prefix):
    del level, h, w  # Glow's steps take any spatial size.
    return [bijector for k in range(num_layers)
            for bijector in _step(c, hidden_units, coupling, scale_fn,
                                  lu_decomposed, context_shape, validate_args,
                                  dtype, f"{prefix}_step{k}")]

  inner = shapes_lib.multiscale(event_shape, num_scales, make_steps,
                                learn_split_prior, context_shape,
                                validate_args, dtype, name)
  return priors.flow_over_latents(
      [tfb.Shift(tf.constant(0.5, dtype)), inner], event_shape, context_shape,
      validate_args, dtype, name, prior)
