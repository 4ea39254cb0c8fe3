"""Neural spline flows (Durkan et al. 2019) as `tfd.TransformedDistribution`s.

Each layer transforms entries by monotone rational-quadratic splines with K
bins on [-B, B] and identity tails (`bijectors.rational_quadratic_spline`),
their parameters predicted by a network from other entries:

* coupling (NSF-C, `bijectors.SplineCoupling`): the last ceil(D / 2)
  entries given the first floor(D / 2), an MLP conditioner; one network
  pass per layer both ways.
* autoregressive (NSF-AR, `bijectors.MaskedAutoregressiveSpline`): entry i
  given the entries before it, a MADE conditioner; in MAF's arrangement one
  pass per layer for `log_prob`, D to sample; with `inverse=True` (IAF's)
  the other way round.

Layers alternate with permutations (reversals by default), as in `maf`.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.bijectors import rational_quadratic_spline as rqs
from tfp_flows.flows import build_config
from tfp_flows.flows import vector_stack

tfb = tfp.bijectors

__all__ = ["nsf"]


@build_config.records
def nsf(event_shape,
        *,
        num_layers=5,
        hidden_units=(64, 64),
        num_bins=8,
        bound=rqs.DEFAULT_BOUND,
        min_bin_width=rqs.DEFAULT_MIN_BIN_WIDTH,
        min_bin_height=rqs.DEFAULT_MIN_BIN_HEIGHT,
        min_derivative=rqs.DEFAULT_MIN_DERIVATIVE,
        autoregressive=False,
        inverse=False,
        actnorm=False,
        permutation="reverse",
        activation="relu",
        context_shape=None,
        prior="gaussian",
        seed=0,
        validate_args=False,
        dtype=tf.float32,
        name="nsf"):
  """Builds a neural spline flow over vectors (images are flattened).

  Data to latent: flatten, then per layer i an optional ActNorm, a spline
  layer and a permutation between layers, so that

    log p(x | c) = log p_Z(z) - sum_i sum_j log g_ij'(u_ij; c)
                   (+ ActNorm's log-det),

  with g_ij the spline of entry j in layer i (the identity outside [-B, B])
  and u_ij its input on the latent side. Coupling layers (default) use an
  MLP on the conditioning half (`nets.MLP`, conditional with a context),
  autoregressive ones a MADE (`nets.MADE(..., params=3K - 1)`,
  conditional with a context). Every conditioner starts at zero, so a new
  flow is the identity onto its base.

  Args:
    event_shape: data event shape, e.g. [2] or [8, 8, 1]; D >= 2 entries.
    num_layers: number of spline layers.
    hidden_units: hidden sizes of each MLP or MADE.
    num_bins: K, bins per spline.
    bound: B: splines act on [-B, B] (data and latents should lie mostly
      inside; the default 5 suits standardised data and images in [0, 1]).
    min_bin_width: smallest bin width, a fraction of 2B in [0, 1 / K).
    min_bin_height: smallest bin height, a fraction of 2B in [0, 1 / K).
    min_derivative: smallest interior derivative, in [0, 1).
    autoregressive: NSF-AR layers (MADE) instead of couplings.
    inverse: with `autoregressive`, the stack inverted (IAF's arrangement:
      one MADE pass per layer to sample, D for `log_prob`).
    actnorm: an `ActNorm` (event_ndims=1) before each layer.
    permutation: "reverse" or "random" orders between layers.
    activation: the networks' activation.
    context_shape: [C] for a conditional flow p(x | c) (see
      `tfp_flows.context`), else None.
    prior: "gaussian" or "logistic" base.
    seed: seed of the "random" permutations.
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; layers are `{name}_layer{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  Raises:
    ValueError: bad shapes, counts or spline settings, or `inverse` without
      `autoregressive`.

  References:
    Durkan, C., Bekasov, A., Murray, I. & Papamakarios, G. (2019). Neural Spline
      Flows. NeurIPS. arXiv:1906.04032.
  """
  event_shape, dim = vector_stack.check_stack_args(
      event_shape, num_layers, permutation)
  if inverse and not autoregressive:
    raise ValueError("`inverse=True` (IAF's arrangement) needs "
                     "`autoregressive=True`; got autoregressive=False.")
  spline = dict(
      zip(("num_bins", "bound", "min_bin_width", "min_bin_height",
           "min_derivative"),
          rqs.check_spline_args(num_bins, bound, min_bin_width,
                                min_bin_height, min_derivative)))
  params = rqs.num_params(spline["num_bins"])
  common = dict(validate_args=validate_args, dtype=dtype)
  half = dim // 2

  def coupling_layer(i):
    width = (dim - half) * params
    net = nets.MLP(hidden_units, width, activation=activation,
                   context_shape=context_shape, dtype=nets.layer_dtype(dtype),
                   name=f"{name}_net{i}")
    net.build([None, half])
    return flow_bijectors.SplineCoupling(net, num_masked=half,
                                         name=f"{name}_layer{i}", **spline,
                                         **common)

  def autoregressive_layer(i):
    made = vector_stack.built_made(dim, hidden_units, context_shape,
                                   activation, dtype, f"{name}_made{i}",
                                   params=params)
    return flow_bijectors.MaskedAutoregressiveSpline(
        made, name=f"{name}_layer{i}", **spline, **common)

  core = vector_stack.permuted_stack(
      dim, num_layers,
      autoregressive_layer if autoregressive else coupling_layer, actnorm,
      permutation, seed, validate_args, dtype, name)
  if inverse:
    core = [tfb.Invert(tfb.Chain(core, validate_args=validate_args,
                                 name=f"{name}_stack"),
                       validate_args=validate_args, name=f"{name}_inverse")]
  return vector_stack.vector_flow(
      event_shape, dim, core, prior, validate_args, dtype, name)
