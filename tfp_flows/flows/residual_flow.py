"""Residual flows (Behrmann et al. 2019; Chen et al. 2019) over vectors and images as `tfd.TransformedDistribution`s."""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.flows import build_config
from tfp_flows.flows import priors
from tfp_flows.flows import shapes as shapes_lib
from tfp_flows.flows import vector_stack

tfb = tfp.bijectors

__all__ = ["multiscale_residual_flow", "residual_flow"]


@build_config.records
def residual_flow(event_shape,
                  *,
                  num_layers=4,
                  hidden_units=(64, 64),
                  coefficient=0.97,
                  log_det="exact",
                  actnorm=True,
                  context_shape=None,
                  prior="gaussian",
                  seed=0,
                  validate_args=False,
                  dtype=tf.float32,
                  name="residual_flow"):
  """Builds a residual flow: invertible residual blocks x + g(x), Lip(g) < 1.

  Data to latent: flatten to [D], then per block i an optional ActNorm and
  a `bijectors.InvertibleResidual`,

    x_{i+1} = x_i + g_i(x_i; c),    Lip(g_i) <= coefficient^L < 1,

  g_i a `nets.LipschitzMLP` (kernels normalised by their exact spectral
  norms, LipSwish activations), so

    log p(x | c) = log p_Z(z) + sum_i log det(I + J_{g_i}(x_i))
                   (+ ActNorm's log-det).

  Every block mixes all entries: no permutations between them. With
  `log_det="exact"` (the default) the log-dets come from each block's
  [D, D] Jacobian: `log_prob` is exact and deterministic, O(D^3) per
  example; "estimate" uses Chen et al.'s unbiased Russian-roulette power
  series with the Neumann-series gradient, for events too large for that
  (see `bijectors.InvertibleResidual`). Sampling inverts each block by
  fixed-point iteration (an error if it does not converge).

  Args:
    event_shape: data event shape, e.g. [2] or [8, 8, 1]; D >= 1 entries.
    num_layers: residual blocks.
    hidden_units: hidden sizes of each block's network.
    coefficient: the bound on each kernel's spectral norm, in (0, 1):
      nearer 1 is more expressive, slower to invert.
    log_det: "exact" or "estimate".
    actnorm: an `ActNorm` (event_ndims=1) before each block.
    context_shape: [C] for a conditional flow p(x | c) (see
      `tfp_flows.context`), else None.
    prior: "gaussian" or "logistic" base.
    seed: seed of the networks' initial kernels and the estimator's noise
      (block i uses seed + i).
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; blocks are `{name}_block{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  #### Example

  ```python
  flow = tfp_flows.flows.residual_flow([2], num_layers=6,
                                       hidden_units=[64, 64])
  model = tfp_flows.FlowModel(flow)
  ```

  References:
    Behrmann, J., Grathwohl, W., Chen, R. T. Q., Duvenaud, D. & Jacobsen,
      J.-H. (2019). Invertible Residual Networks. ICML. arXiv:1811.00995.
    Chen, R. T. Q., Behrmann, J., Duvenaud, D. & Jacobsen, J.-H. (2019).
      Residual Flows for Invertible Generative Modeling. NeurIPS.
      arXiv:1906.02735.
  """
  event_shape, dim = vector_stack.check_stack_args(event_shape, num_layers,
                                                   minimum=1)

  def make_block(i):
    network = nets.LipschitzMLP(
        dim, hidden_units, coefficient=coefficient,
        context_shape=context_shape, seed=seed + i,
        dtype=nets.layer_dtype(dtype), name=f"{name}_net{i}")
    network.build([None, dim])
    return flow_bijectors.InvertibleResidual(
        network, log_det=log_det, seed=seed + i, validate_args=validate_args,
        dtype=dtype, name=f"{name}_block{i}")

  # Each block mixes every entry: no permutations between them.
  core = vector_stack.permuted_stack(dim, num_layers, make_block, actnorm,
                                     None, seed, validate_args, dtype, name)
  return vector_stack.vector_flow(event_shape, dim, core, prior,
                                  validate_args, dtype, name)


@build_config.records
def multiscale_residual_flow(event_shape,
                             *,
                             num_layers=4,
                             num_scales=2,
                             hidden_units=32,
                             coefficient=0.97,
                             log_det="estimate",
                             actnorm=True,
                             learn_split_prior=True,
                             context_shape=None,
                             prior="gaussian",
                             seed=0,
                             validate_args=False,
                             dtype=tf.float32,
                             name="multiscale_residual_flow"):
  """Builds a multi-scale residual flow over images in [0, 1) (Chen et al.'s image model).

  Data to latent: x - 0.5, then L levels of

    squeeze -> K x (ActNorm -> InvertibleResidual) -> split,

  Glow's multi-scale skeleton (`glow`: the splits' learned priors, one
  latent vector, temperature sampling) with invertible residual blocks
  v + g(v; c) for steps: g a `nets.LipschitzConvNet` on the level's
  [h, w, c] (3x3, 1x1, 3x3 circular convolutions, each normalised by its
  exact spectral norm, LipSwish), so

    log p(x | c) = log p_Z(z) + sum_blocks log det(I + J_g)
                   (+ ActNorm's, the split priors' log-dets).

  Every block mixes all of a level's channels and pixels: no permutations
  or 1x1 convolutions between them. With `log_det="estimate"` (the
  default; the papers' choice for images) each block's log-det is Chen et
  al.'s unbiased Russian-roulette power series with the Neumann-series
  gradient: `log_prob` returns an unbiased estimate of log p(x), not a
  bound, drawn from each block's seeded noise (`tfp_flows.evaluation`
  restarts it before evaluating, so evaluations repeat); "exact" builds
  each block's [D, D] Jacobian (D = h w c: D network passes and an
  O(D^3) factorisation per example, for small images). Sampling inverts
  each block by fixed-point iteration (an error if it does not converge).

  Args:
    event_shape: [H, W, C], H and W divisible by 2**num_scales.
    num_layers: K, residual blocks per level.
    num_scales: L, the number of squeezes.
    hidden_units: channels of each block's two hidden layers.
    coefficient: the bound on each convolution's spectral norm, in (0, 1).
    log_det: "estimate" or "exact" (`bijectors.InvertibleResidual`).
    actnorm: an `ActNorm` before each block.
    learn_split_prior: learned N(mu, sigma) priors at the splits; False for
      standard normal ones.
    context_shape: [C] for a conditional flow p(x | c) (every block's
      network and split prior sees c), else None.
    prior: "gaussian" or "logistic" base.
    seed: seed of the networks' initial kernels and the estimators' noise
      (the i-th block from the top level down uses seed + i).
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution.

  Returns:
    `tfd.TransformedDistribution` over `event_shape`.

  #### Example

  ```python
  flow = tfp_flows.flows.multiscale_residual_flow([8, 8, 1], num_layers=2,
                                                  hidden_units=16)
  x = tf.random.uniform([4, 8, 8, 1])
  log_p = flow.log_prob(x)  # an unbiased estimate
  ```

  References:
    Behrmann, J., Grathwohl, W., Chen, R. T. Q., Duvenaud, D. & Jacobsen,
      J.-H. (2019). Invertible Residual Networks. ICML. arXiv:1811.00995.
    Chen, R. T. Q., Behrmann, J., Duvenaud, D. & Jacobsen, J.-H. (2019).
      Residual Flows for Invertible Generative Modeling. NeurIPS.
      arXiv:1906.02735.
  """
  if num_layers < 1:
    raise ValueError(f"`num_layers` must be >= 1; got {num_layers}.")
  shapes_lib.check_image_shape(event_shape, num_scales)

  def make_steps(level, h, w, c, prefix):
    steps = []
    for k in range(num_layers):
      index = seed + level * num_layers + k
      network = nets.LipschitzConvNet(
          [h, w, c], hidden_units, coefficient=coefficient,
          context_shape=context_shape, seed=index,
          dtype=nets.layer_dtype(dtype), name=f"{prefix}_net{k}")
      network.build([None, h * w * c])
      block = flow_bijectors.InvertibleResidual(
          network, log_det=log_det, seed=index, validate_args=validate_args,
          dtype=dtype, name=f"{prefix}_residual{k}")
      flat = flow_bijectors.Unflatten([h, w, c], validate_args=validate_args,
                                      name=f"{prefix}_flatten{k}")
      if actnorm:
        steps.append(flow_bijectors.ActNorm(
            c, validate_args=validate_args, dtype=dtype,
            name=f"{prefix}_actnorm{k}"))
      # Chain order is data to latent: flatten, the block, unflatten.
      steps.append(tfb.Chain([flat, block, tfb.Invert(flat)],
                             validate_args=validate_args,
                             name=f"{prefix}_block{k}"))
    return steps

  inner = shapes_lib.multiscale(event_shape, num_scales, make_steps,
                                learn_split_prior, context_shape,
                                validate_args, dtype, name)
  return priors.flow_over_latents(
      [tfb.Shift(tf.constant(0.5, dtype)), inner], event_shape, context_shape,
      validate_args, dtype, name, prior)
