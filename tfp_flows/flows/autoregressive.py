"""MAF and IAF (Papamakarios et al. 2017; Kingma et al. 2016) as `tfd.TransformedDistribution`s.

One autoregressive layer is our `bijectors.MaskedAutoregressive` over a MADE
network (`nets.MADE`). Its parameters (mu_i, alpha_i) depend on y_{<i}, the
entries of the layer's output in TFP's forward direction:

  y_i = x_i * exp(alpha_i(y_{<i})) + mu_i(y_{<i}),
  x_i = (y_i - mu_i(y_{<i})) * exp(-alpha_i(y_{<i})),

with alpha = B tanh(h / B) (`log_scale_bound` B) and mu = clip(m, -S, S)
bounding MADE's raw outputs (m, h), so that no finite input overflows. So
`inverse` is one network pass on y while `forward` must build y one entry at
a time: D passes. The Jacobian is triangular: log |det dy/dx| = sum_i
alpha_i, and it comes out of the same passes as the transform.

* MAF: latent -> data is that forward. `log_prob` (data -> latent) is
  parallel, ONE network evaluation per layer (TFP's own layer runs it twice,
  transform and log-det): fast density, sequential sampling (D passes).
* IAF: the same stack inverted. Sampling is one pass per layer, `log_prob`
  needs D passes per layer: fast sampling, sequential density.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfp_flows import bijectors as flow_bijectors
from tfp_flows.bijectors import transformers
from tfp_flows.bijectors.transformers import affine
from tfp_flows.flows import build_config
from tfp_flows.flows import vector_stack
from tfp_flows.flows.vector_stack import PERMUTATIONS
from tfp_flows.nets.made import MADE

tfb = tfp.bijectors

__all__ = ["MADE", "MaskedAutoregressiveFlow", "PERMUTATIONS", "iaf", "maf"]


class MaskedAutoregressiveFlow(tfb.MaskedAutoregressiveFlow):
  """`tfb.MaskedAutoregressiveFlow` that exposes its network as `conditioner`.

  TFP's layer (two network passes per `log_prob`, unbounded log-scale), kept
  for stacks built by hand; `maf` and `iaf` use
  `bijectors.MaskedAutoregressive`. Our couplings expose their networks the
  same way; `tfp_flows.context` finds a flow's conditional layers
  through it.

  References:
    Papamakarios, G., Pavlakou, T. & Murray, I. (2017). Masked Autoregressive
      Flow for Density Estimation. NeurIPS. arXiv:1705.07057.
  """

  @property
  def conditioner(self):
    return self._shift_and_log_scale_fn


def _maf_stack(dim, num_layers, hidden_units, context_shape, actnorm,
               permutation, activation, log_scale_bound, transformer, seed,
               validate_args, dtype, name):
  """MAF layers over [D] vectors in Chain order (data side first)."""
  if not (transformer is None or
          isinstance(transformer, transformers.Transformer)):
    raise TypeError(
        "`transformer` must be None (MAF's affine layer) or a "
        "tfp_flows.bijectors.transformers.Transformer; got "
        f"{type(transformer).__name__}.")

  def make_layer(i):
    made = vector_stack.built_made(
        dim, hidden_units, context_shape, activation, dtype,
        f"{name}_made{i}",
        params=2 if transformer is None else transformer.num_params)
    common = dict(validate_args=validate_args, dtype=dtype,
                  name=f"{name}_layer{i}")
    if transformer is None:
      return flow_bijectors.MaskedAutoregressive(
          made, log_scale_bound=log_scale_bound, **common)
    return flow_bijectors.Autoregressive(made, transformer, **common)

  return vector_stack.permuted_stack(
      dim, num_layers, make_layer, actnorm, permutation, seed, validate_args,
      dtype, name)


@build_config.records
def maf(event_shape,
        *,
        num_layers=5,
        hidden_units=(64, 64),
        actnorm=False,
        permutation="reverse",
        activation="relu",
        log_scale_bound=affine.SOFT_TANH_LOG_SCALE_BOUND,
        transformer=None,
        context_shape=None,
        prior="gaussian",
        seed=0,
        validate_args=False,
        dtype=tf.float32,
        name="maf"):
  """Builds a masked autoregressive flow: fast density, sequential sampling.

  Data to latent: flatten, then per layer i an optional ActNorm and

    z_j = (x_j - mu_j(x_{<j}; c)) * exp(-alpha_j(x_{<j}; c)),

  with (mu, alpha) from a MADE (`nets.MADE`) through
  `bijectors.MaskedAutoregressive` (|alpha| < `log_scale_bound`, |mu| <=
  1e3), and a permutation between layers, so

    log p(x | c) = log p_Z(z) - sum_i sum_j alpha_ij (+ ActNorm's log-det).

  `log_prob` runs MADE once per layer (the transform and its log-det from
  the same pass; TFP's layer runs it twice; tested); `sample` needs D
  passes per layer, the log-det of a sample coming from the last.

  Args:
    event_shape: data event shape, e.g. [2] or [8, 8, 1]; D >= 2 entries.
    num_layers: number of MAF layers (the paper: 5 on MNIST).
    hidden_units: hidden layer sizes of each MADE.
    actnorm: an `ActNorm` (event_ndims=1) before each layer.
    permutation: "reverse" (the paper's) or "random" orders between layers.
    activation: MADE activation.
    log_scale_bound: B, each layer's |alpha| < B (scales within exp(+-B),
      the stack's within exp(+-num_layers * B); see
      `bijectors.MaskedAutoregressive` for the default 3), or None for
      TFP's unbounded log-scale.
    transformer: None for MAF's affine layer (`MaskedAutoregressive`), or
      a `bijectors.transformers.Transformer` for each layer's elementwise
      map instead (`log_scale_bound` then unused): e.g.
      `transformers.Spline(num_bins=8)` gives NSF-AR,
      `transformers.Sigmoidal(num_sigmoids=8)` NAF's layers, in MAF's
      arrangement (`iaf`: the inverse arrangement).
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

  References:
    Papamakarios, G., Pavlakou, T. & Murray, I. (2017). Masked Autoregressive
      Flow for Density Estimation. NeurIPS. arXiv:1705.07057.
    Germain, M., Gregor, K., Murray, I. & Larochelle, H. (2015). MADE: Masked
      Autoencoder for Distribution Estimation. ICML. arXiv:1502.03509.
  """
  event_shape, dim = vector_stack.check_stack_args(
      event_shape, num_layers, permutation)
  core = _maf_stack(dim, num_layers, hidden_units, context_shape, actnorm,
                    permutation, activation, log_scale_bound, transformer,
                    seed, validate_args, dtype, name)
  return vector_stack.vector_flow(event_shape, dim, core, prior,
                                  validate_args, dtype, name)


@build_config.records
def iaf(event_shape,
        *,
        num_layers=5,
        hidden_units=(64, 64),
        actnorm=False,
        permutation="reverse",
        activation="relu",
        log_scale_bound=affine.SOFT_TANH_LOG_SCALE_BOUND,
        transformer=None,
        context_shape=None,
        prior="gaussian",
        seed=0,
        validate_args=False,
        dtype=tf.float32,
        name="iaf"):
  """Builds an inverse autoregressive flow: fast sampling, sequential density.

  The `maf` stack inverted (`tfb.Invert`): latent to data is

    x_j = (z_j - mu_j(z_{<j}; c)) * exp(-alpha_j(z_{<j}; c)),

  one MADE pass per layer (the sample's log-det from the same pass), so
  `sample` is fast, while `log_prob` must solve for z one entry at a time
  (D passes per layer, the log-det from the last). Maximum-likelihood training
  on data therefore pays D passes per layer and step; IAF suits variational
  posteriors and distillation, where samples and their own densities are
  what is needed. The arguments are `maf`'s.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  References:
    Kingma, D. P., Salimans, T., Jozefowicz, R., Chen, X., Sutskever, I. &
      Welling, M. (2016). Improved Variational Inference with Inverse
      Autoregressive Flow. NeurIPS. arXiv:1606.04934.
    Germain, M., Gregor, K., Murray, I. & Larochelle, H. (2015). MADE: Masked
      Autoencoder for Distribution Estimation. ICML. arXiv:1502.03509.
  """
  event_shape, dim = vector_stack.check_stack_args(
      event_shape, num_layers, permutation)
  core = _maf_stack(dim, num_layers, hidden_units, context_shape, actnorm,
                    permutation, activation, log_scale_bound, transformer,
                    seed, validate_args, dtype, name)
  inverted = tfb.Invert(
      tfb.Chain(core, validate_args=validate_args, name=f"{name}_maf"),
      validate_args=validate_args, name=f"{name}_inverse")
  return vector_stack.vector_flow(event_shape, dim, [inverted], prior,
                                  validate_args, dtype, name)
