"""Flows over [D] vectors: shape checks, stacks with permutations, the base (MAF, IAF, NSF, NICE, coupling_flow)."""

import numpy as np

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.flows import priors

__all__ = [
    "PERMUTATIONS", "built_made", "check_stack_args", "event_size",
    "layer_flow", "permuted_stack", "vector_flow"
]

PERMUTATIONS = ("reverse", "random")


def event_size(event_shape, minimum=2):
  """(event_shape as ints, D = its number of entries); ValueError if D < minimum.

  A coupling or autoregressive layer conditions entries on others, so a
  flow over vectors needs at least two; a layer that mixes every entry
  itself (planar, radial, Sylvester) one.
  """
  event_shape = [int(d) for d in event_shape]
  dim = int(np.prod(event_shape))
  if dim < minimum:
    raise ValueError(f"`event_shape` must hold at least {minimum} "
                     f"entr{'y' if minimum == 1 else 'ies'}; got "
                     f"{event_shape}.")
  return event_shape, dim


def check_stack_args(event_shape, num_layers, permutation=None, minimum=2):
  """`event_size(event_shape, minimum)`, `num_layers` >= 1 and `permutation` checked.

  `permutation` must be one of `PERMUTATIONS`, or None for a stack without
  permutations.
  """
  event_shape, dim = event_size(event_shape, minimum)
  if num_layers < 1:
    raise ValueError(f"`num_layers` must be >= 1; got {num_layers}.")
  if permutation is not None and permutation not in PERMUTATIONS:
    raise ValueError(f"`permutation` must be one of {PERMUTATIONS}; got "
                     f"{permutation!r}.")
  return event_shape, dim


def built_made(dim, hidden_units, context_shape, activation, dtype, name,
               params=2):
  """A `nets.MADE` over [D] vectors with every variable created.

  MADE (TFP's AutoregressiveNetwork) builds lazily; building it here lists
  every variable of the flow before it sees data. `params` outputs per entry.
  """
  made = nets.MADE(dim, hidden_units, context_shape=context_shape,
                   activation=activation, params=params, dtype=dtype,
                   name=name)
  made.build([None, dim])
  return made


def permuted_stack(dim, num_layers, make_layer, actnorm, permutation, seed,
                   validate_args, dtype, name):
  """Layers over [D] vectors in Chain order (data side first).

  Data to latent: per layer i, an optional ActNorm, `make_layer(i)`, then a
  permutation of the entries (none after the last layer), so that every
  entry is conditioned on others somewhere in the stack: a reversal, or
  with "random" a permutation drawn from `seed`; `permutation=None` for
  layers that mix every entry themselves (residual blocks): none.
  """
  rng = np.random.RandomState(seed)
  parts = []
  for i in range(num_layers):
    if actnorm:
      parts.append(flow_bijectors.ActNorm(dim, event_ndims=1,
                                          validate_args=validate_args,
                                          dtype=dtype,
                                          name=f"{name}_actnorm{i}"))
    parts.append(make_layer(i))
    if i < num_layers - 1 and permutation is not None:
      order = (np.arange(dim)[::-1] if permutation == "reverse" else
               rng.permutation(dim))
      # Chain's inverse runs the list left to right, so this Permute reorders
      # the latent side of layer i before layer i + 1. Ours, not tfb.Permute:
      # the same map with cheaper kernels (a reversal is tf.reverse).
      parts.append(flow_bijectors.Permute(order.astype(np.int32),
                                          validate_args=validate_args,
                                          name=f"{name}_permute{i}"))
  return parts


def vector_flow(event_shape, dim, core, prior, validate_args, dtype, name):
  """The flow Chain([Unflatten(event_shape)] + core) over a standard base on [D].

  Unflatten comes first even for vectors: it flattens images, and names the
  expected and the received shape when data of the wrong shape comes in.
  """
  unflatten = flow_bijectors.Unflatten(event_shape,
                                       validate_args=validate_args)
  return priors.flow_over_latents([unflatten] + list(core), [dim], None,
                                  validate_args, dtype, name, prior=prior)


def layer_flow(event_shape, num_layers, make_layer, context_shape, prior,
               validate_args, dtype, name):
  """A flow of `make_layer(D, i)`, i < `num_layers`, over a learned diagonal Gaussian.

  For layers that mix every entry themselves (planar, radial, Sylvester), so
  one entry suffices (D >= 1) and no permutations come between them. Their
  papers' base q0 = N(mu, diag sigma^2) is learned (an encoder's output):
  here an `ActNorm` on the latent, or with `context_shape` a `ContextAffine`
  (mu(c), sigma(c)); the layers cannot scale the whole space themselves.
  Sampling: z0 ~ base, then that affine map, then layers 0, 1, ...
  """
  event_shape, dim = check_stack_args(event_shape, num_layers, minimum=1)
  # Chain order: data side first, so layer 0 is last before the base.
  parts = [flow_bijectors.Unflatten(event_shape, validate_args=validate_args)]
  parts += [make_layer(dim, i) for i in reversed(range(num_layers))]
  if context_shape is None:
    parts.append(flow_bijectors.ActNorm(dim, event_ndims=1,
                                        validate_args=validate_args,
                                        dtype=dtype, name=f"{name}_base"))
  return priors.flow_over_latents(parts, [dim], context_shape, validate_args,
                                  dtype, name, prior=prior)
