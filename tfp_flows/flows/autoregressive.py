"""MAF and IAF (Papamakarios et al. 2017; Kingma et al. 2016) as `tfd.TransformedDistribution`s.

One autoregressive layer is TFP's `tfb.MaskedAutoregressiveFlow` over a MADE
network (`tfb.AutoregressiveNetwork`). Its parameters (mu_i, alpha_i) depend
on y_{<i}, the entries of the layer's output in TFP's forward direction:

  y_i = x_i * exp(alpha_i(y_{<i})) + mu_i(y_{<i}),
  x_i = (y_i - mu_i(y_{<i})) * exp(-alpha_i(y_{<i})),

so `inverse` is one network pass on y while `forward` must build y one entry
at a time: D passes. The Jacobian is triangular: log |det dy/dx| = sum_i
alpha_i.

* MAF: latent -> data is that forward. `log_prob` (data -> latent) is
  parallel, one network evaluation per layer (TFP's layer runs it twice,
  transform and log-det): fast density, sequential sampling (D passes).
* IAF: the same stack inverted. Sampling is one pass per layer, `log_prob`
  needs D passes per layer: fast sampling, sequential density.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import conditional
from tfp_flows.flows import priors

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = ["MADE", "MaskedAutoregressiveFlow", "PERMUTATIONS", "iaf", "maf"]

PERMUTATIONS = ("reverse", "random")


class MADE(tfb.AutoregressiveNetwork):
  """TFP's MADE with outputs (shift, log-scale) per entry; optionally conditional.

  Shapes: x [B, D] (and c [B, C] or [C]) -> [B, D, 2]: the shift and the
  log-scale of each entry. The output layer starts at zero, so a new MAF
  layer is the identity. Conditional
  (`context_shape=[C]`), the context enters every layer through its own dense
  map (TFP's `conditional_input_layers="all_layers"`); a missing or wrongly
  shaped `conditional_input` raises a `ValueError` naming the argument, the
  expected and the received shape (TFP's own message names neither shape).
  """

  def __init__(self, event_size, hidden_units, context_shape=None,
               activation="relu", input_order="left-to-right", **kwargs):
    """Creates the network; `build([None, event_size])` creates its variables.

    Args:
      event_size: D.
      hidden_units: hidden layer sizes.
      context_shape: [C] for a conditional network, else None.
      activation: hidden activation.
      input_order: MADE's degree order of the inputs ("left-to-right",
        "right-to-left", "random" or a permutation of 1..D).
      **kwargs: `tf_keras` layer arguments (`name`, `dtype`).
    """
    self._context_shape = (None if context_shape is None else
                           conditional.as_context_shape(context_shape))
    super().__init__(
        params=2,
        event_shape=[int(event_size)],
        hidden_units=[int(u) for u in hidden_units],
        conditional=context_shape is not None,
        conditional_event_shape=(None if context_shape is None else
                                 self._context_shape.as_list()),
        input_order=input_order,
        activation=activation,
        **kwargs)

  @property
  def context_shape(self):
    """[C] for a conditional network, else None."""
    return self._context_shape

  def build(self, input_shape):
    super().build(input_shape)
    # Zero the output layer (and the context's dense map into it) so that a
    # new layer is the identity, as our couplings' nets are: on the 2-D toys
    # this trains markedly faster than TFP's Glorot start (8gaussians, 400
    # steps: 3.01 nats against 3.65). TFP applies one initializer to every
    # layer, so the output layer is found in its functional `_network`: the
    # Dense layers after the last hidden activation.
    layers = self._network.layers
    hidden = [i for i, layer in enumerate(layers)
              if isinstance(layer, tf_keras.layers.Activation)]
    for layer in layers[hidden[-1] + 1 if hidden else 0:]:
      if isinstance(layer, tf_keras.layers.Dense):
        layer.kernel.assign(tf.zeros_like(layer.kernel))

  def call(self, x, conditional_input=None):
    if self._context_shape is not None:
      conditional_input = conditional.check_context(
          conditional_input, self._context_shape, batch_shape=x.shape[:-1],
          owner=self.name, dtype=self.dtype)
    elif conditional_input is not None:
      raise ValueError(f"{self.name} is not conditional; got a "
                       "`conditional_input`.")
    return super().call(x, conditional_input=conditional_input)


class MaskedAutoregressiveFlow(tfb.MaskedAutoregressiveFlow):
  """`tfb.MaskedAutoregressiveFlow` that exposes its network as `conditioner`.

  Our couplings expose theirs the same way; `tfp_flows.conditional` finds a
  flow's conditional layers through it.
  """

  @property
  def conditioner(self):
    return self._shift_and_log_scale_fn


def _check_args(event_shape, num_layers, permutation):
  event_shape = [int(d) for d in event_shape]
  dim = int(np.prod(event_shape))
  if dim < 2:
    raise ValueError(f"`event_shape` must hold at least 2 entries; got "
                     f"{event_shape}.")
  if num_layers < 1:
    raise ValueError(f"`num_layers` must be >= 1; got {num_layers}.")
  if permutation not in PERMUTATIONS:
    raise ValueError(f"`permutation` must be one of {PERMUTATIONS}; got "
                     f"{permutation!r}.")
  return event_shape, dim


def _stack(dim, num_layers, hidden_units, context_shape, actnorm, permutation,
           activation, seed, validate_args, dtype, name):
  """MAF layers over [D] vectors in Chain order (data side first).

  Data to latent: per layer i, an optional ActNorm, MAF layer i, then a
  permutation of the entries (none after the last layer), so that every
  entry is conditioned on others somewhere in the stack.
  """
  rng = np.random.RandomState(seed)
  parts = []
  for i in range(num_layers):
    made = MADE(dim, hidden_units, context_shape=context_shape,
                activation=activation, dtype=dtype, name=f"{name}_made{i}")
    # AutoregressiveNetwork builds lazily; building now lists every variable
    # of the flow before it sees data.
    made.build([None, dim])
    if actnorm:
      parts.append(flow_bijectors.ActNorm(dim, event_ndims=1,
                                          validate_args=validate_args,
                                          dtype=dtype,
                                          name=f"{name}_actnorm{i}"))
    parts.append(MaskedAutoregressiveFlow(made, validate_args=validate_args,
                                          name=f"{name}_layer{i}"))
    if i < num_layers - 1:
      order = (np.arange(dim)[::-1] if permutation == "reverse" else
               rng.permutation(dim))
      # Chain's inverse runs the list left to right, so this Permute reorders
      # the latent side of layer i before layer i + 1.
      parts.append(tfb.Permute(order.astype(np.int32),
                               validate_args=validate_args,
                               name=f"{name}_permute{i}"))
  return parts


def _flow(event_shape, dim, core, prior, validate_args, dtype, name):
  # Unflatten first, even for vectors: it flattens images and names the
  # expected and the received shape when data of the wrong shape comes in.
  unflatten = flow_bijectors.Unflatten(event_shape,
                                       validate_args=validate_args)
  return tfd.TransformedDistribution(
      distribution=priors.standard_prior([dim], prior, dtype),
      bijector=tfb.Chain([unflatten] + core, validate_args=validate_args,
                         name=f"{name}_bijector"),
      validate_args=validate_args,
      name=name)


def maf(event_shape,
        num_layers=5,
        hidden_units=(64, 64),
        context_shape=None,
        actnorm=False,
        permutation="reverse",
        activation="relu",
        prior="gaussian",
        seed=0,
        validate_args=False,
        dtype=tf.float32,
        name="maf"):
  """Builds a masked autoregressive flow: fast density, sequential sampling.

  Data to latent: flatten, then per layer i an optional ActNorm and

    z_j = (x_j - mu_j(x_{<j}; c)) * exp(-alpha_j(x_{<j}; c)),

  with (mu, alpha) from a MADE (`MADE`), and a permutation between layers, so

    log p(x | c) = log p_Z(z) - sum_i sum_j alpha_ij (+ ActNorm's log-det).

  `log_prob` runs MADE twice per layer (TFP's layer: once for the transform,
  once for the log-det; tested); `sample` needs D passes per layer.

  Args:
    event_shape: data event shape, e.g. [2] or [8, 8, 1]; D >= 2 entries.
    num_layers: number of MAF layers (the paper: 5 on MNIST).
    hidden_units: hidden layer sizes of each MADE.
    context_shape: [C] for a conditional flow p(x | c) (see
      `tfp_flows.conditional`), else None.
    actnorm: an `ActNorm` (event_ndims=1) before each layer.
    permutation: "reverse" (the paper's) or "random" orders between layers.
    activation: MADE activation.
    prior: "gaussian" or "logistic" base.
    seed: seed of the "random" permutations.
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; layers are `{name}_layer{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.
  """
  event_shape, dim = _check_args(event_shape, num_layers, permutation)
  core = _stack(dim, num_layers, hidden_units, context_shape, actnorm,
                permutation, activation, seed, validate_args, dtype, name)
  return _flow(event_shape, dim, core, prior, validate_args, dtype, name)


def iaf(event_shape,
        num_layers=5,
        hidden_units=(64, 64),
        context_shape=None,
        actnorm=False,
        permutation="reverse",
        activation="relu",
        prior="gaussian",
        seed=0,
        validate_args=False,
        dtype=tf.float32,
        name="iaf"):
  """Builds an inverse autoregressive flow: fast sampling, sequential density.

  The `maf` stack inverted (`tfb.Invert`): latent to data is

    x_j = (z_j - mu_j(z_{<j}; c)) * exp(-alpha_j(z_{<j}; c)),

  one MADE pass per layer, so `sample` is fast, while `log_prob` must solve
  for z one entry at a time (D passes per layer). Maximum-likelihood training
  on data therefore pays D passes per layer and step; IAF suits variational
  posteriors and distillation, where samples and their own densities are
  what is needed. The arguments are `maf`'s.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.
  """
  event_shape, dim = _check_args(event_shape, num_layers, permutation)
  core = _stack(dim, num_layers, hidden_units, context_shape, actnorm,
                permutation, activation, seed, validate_args, dtype, name)
  inverted = tfb.Invert(
      tfb.Chain(core, validate_args=validate_args, name=f"{name}_maf"),
      validate_args=validate_args, name=f"{name}_inverse")
  return _flow(event_shape, dim, [inverted], prior, validate_args, dtype,
               name)
