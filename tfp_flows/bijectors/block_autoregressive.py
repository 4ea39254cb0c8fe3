"""The block neural autoregressive flow (BNAF, De Cao et al. 2019): one monotone triangular network."""

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors import _parameters
from tfp_flows.bijectors import autoregressive
from tfp_flows.bijectors import base

__all__ = ["BlockAutoregressive", "DEFAULT_BOUND", "block_pass", "gated_pass",
           "leaky_tanh"]

# Linear tails beyond [-B, B], as NAF's: data standardised by ActNorm lies
# inside; the sampling direction's root finder searches this bracket.
DEFAULT_BOUND = 8.
# |raw log-weight| of a diagonal block entry <= this, so exp() of it and of
# twice it (the column norm) stays finite in float32.
LOG_WEIGHT_BOUND = 10.
# Hidden units' initial biases spread evenly over [-SPREAD, SPREAD]: the
# first layer's diagonal block is one positive weight per unit, which the
# weight normalisation makes 1 for every unit; without different biases the
# units of an entry would start (and stay) identical.
SPREAD = 2.
# The hidden layers' tanh is continued linearly beyond +-T (`leaky_tanh`).
TANH_LINEAR_BEYOND = 3.


def _log_tanh_slope(z):
  """log tanh'(z) = log(1 - tanh(z)^2) = 2 (log 2 - |z| - softplus(-2|z|))."""
  a = tf.abs(z)
  return 2. * (np.log(2.) - a - tf.math.softplus(-2. * a))


def leaky_tanh(z):
  """tanh on [-T, T], continued by its tangent lines beyond; (value, log slope).

  With T = `TANH_LINEAR_BEYOND` the slope never falls below
  sech^2(T) = 0.0099: a saturated tanh (slope 4e-7 at z = 8) would leave
  flat stretches in the network that float32 cannot invert (a root's
  position is then known only to rounding / slope), and the map would be
  bounded. FlowJAX's BNAF uses a leaky tanh of this kind (its `LeakyTanh`).
  """
  inside = tf.clip_by_value(z, -TANH_LINEAR_BEYOND, TANH_LINEAR_BEYOND)
  log_slope = _log_tanh_slope(inside)
  return tf.tanh(inside) + (z - inside) * tf.exp(log_slope), log_slope


def block_pass(y, weights, offsets=None):
  """The network on y [..., D] and log dx_i/dy_i, from the diagonal blocks.

  Layer l maps the hidden state h [..., D, a] (a units per entry; a = 1 at
  the input) to z [..., D, b] = h W_off + bias + diag(h), where W_off holds
  the blocks (i, j), i < j, and diag applies entry j's positive block
  [a, b] to h_j; `leaky_tanh` (phi) follows every layer but the last (b = 1
  there). The derivative of every unit of entry j with respect to y_j is
  positive, so its log follows layer by layer in log space (a logsumexp
  over the block):

    log dh_l[j, q]/dy_j = logsumexp_p(log dh_{l-1}[j, p]/dy_j
                                      + log W_jj[p, q]) + log phi'(z[j, q]).

  Args:
    y: [..., D].
    weights: per layer (W_off [D a, D b], W_diag [D, a, b], log W_diag
      [D, a, b], bias [D b] or [..., D b]).
    offsets: None, or per layer the [..., D, b] term h W_off + bias of
      another input y' (from an earlier call): the pass then evaluates, for
      every entry j at once, the network at (y'_<j, y_j), since entry j's
      units see only y_<j through W_off and y_j through the diagonal blocks.

  Returns:
    (x [..., D], log dx/dy [..., D] (the Jacobian's diagonal), the offsets
    of this pass).
  """
  h = y[..., None]
  log_slope = tf.zeros_like(h)
  dim = y.shape[-1]
  computed = []
  last = len(weights) - 1
  for l, (w_off, w_diag, log_w_diag, bias) in enumerate(weights):
    if offsets is None:
      width = w_off.shape[-1] // dim
      flat = tf.reshape(h, tf.concat([tf.shape(h)[:-2], [-1]], 0))
      offset = tf.einsum("...i,ij->...j", flat, w_off) + bias
      offset = tf.reshape(offset,
                          tf.concat([tf.shape(offset)[:-1], [dim, width]], 0))
    else:
      offset = offsets[l]
    computed.append(offset)
    z = offset + tf.einsum("...ja,jab->...jb", h, w_diag)
    log_slope = tf.reduce_logsumexp(log_slope[..., None] + log_w_diag,
                                    axis=-2)
    if l < last:
      h, log_act_slope = leaky_tanh(z)
      log_slope += log_act_slope
    else:
      h = z
  return h[..., 0], log_slope[..., 0], computed


def gated_pass(y, weights, offsets=None, gate=None):
  """`block_pass` with De Cao et al.'s gated residual connection when `gate` is given.

  With r = sigmoid(gate) the map is G(y) = r F(y) + (1 - r) y, and its
  diagonal derivative r F'_j + 1 - r, in log space

    log dG_j/dy_j = softplus(gate + log F'_j) - softplus(gate).

  Returns (G(y) [..., D], log dG/dy [..., D], the offsets of the pass).
  """
  value, log_slope, offsets = block_pass(y, weights, offsets)
  if gate is None:
    return value, log_slope, offsets
  rate = tf.sigmoid(gate)
  return (rate * value + (1. - rate) * y,
          tf.math.softplus(gate + log_slope) - tf.math.softplus(gate), offsets)


def _solve(target, weights, offsets, gate, bound, tolerance, max_iterations):
  """y in [-bound, bound] with gated_pass(y; offsets) = target, entrywise, no gradient."""
  def residual(y):
    return gated_pass(y, weights, offsets, gate)[0] - target
  # The bracket takes the targets' shape: the network needs whole [..., D]
  # inputs, not the scalar bounds broadcast later.
  ones = tf.ones_like(target)
  return base.search_root(residual, -bound * ones, bound * ones, tolerance,
                          max_iterations)


# Eagerly, the root finder's loop would dispatch op by op; traced once per
# signature it is one call (as NAF's). Inside a graph `_solve` is inlined.
_solve_eagerly = tf.function(_solve, autograph=False, reduce_retracing=True)


class BlockAutoregressive(_parameters.ParameterizedLayer):
  """From data y to latent x: x = F(y), F one block-triangular monotone network.

  De Cao et al.'s (2019) block neural autoregressive flow: instead of a
  conditioner that outputs the parameters of a monotone transformer (MAF,
  NAF), the transform is itself a network. With `hidden_units=(a_1, ...,
  a_L)` its layer l has D a_l units, a_l per entry; its kernel [D a_{l-1},
  D a_l] is block upper triangular (entry j's units see the units of
  entries i <= j), the diagonal blocks positive, and between layers
  phi = tanh continued by its tangent lines beyond +-3 (`leaky_tanh`, as
  FlowJAX's BNAF: no flat stretches that float32 could not invert):

    W_ij = 0 (i > j),   W_jj = exp(V_jj) > 0,   W_ij = V_ij (i < j),

  each column weight-normalised, w <- exp(s) w / ||w|| (the paper's). Then
  x_j = F_j(y_<=j) increases in y_j, so F is a triangular bijection onto its
  image, and

    log |det dx/dy| = sum_j log dF_j/dy_j,

  each term from the diagonal blocks alone (`block_pass`, in log space).
  Beyond [-B, B] each entry continues with slope 1 (`base.linear_tails`:
  F on the clipped input, plus the excess), which makes the map a bijection
  of R^D with a known bracket for its inverse whatever the weights, and
  keeps far inputs finite.

  * inverse (data -> latent; `log_prob`): closed form, one network pass
    gives x and the log-det.
  * forward (latent -> data; sampling): D passes. Pass d evaluates the
    network once at the current estimate and then solves, for every entry j
    at once, F_j(y_<j, v_j) = x_j by a bracketed root finder
    (`base.search_root` on [-B, B], by default until the bracket is a few
    ulps wide, at most `max_iterations` steps), each step a
    pass through the diagonal blocks only; after pass d entries 0..d are
    exact. The gradient is the implicit function's (`base.implicit_root`),
    chained through the passes.

  With `gated_residual=True` the layer is the paper's gated residual
  G(y) = r F(y) + (1 - r) y, r = sigmoid(a) with a learned scalar a
  (starting at 0): still increasing in y_j, with slope r F'_j + 1 - r >=
  1 - r, and slope 1 beyond [-B, B] as F.

  With `context_shape=[C]`, a zero-initialised linear map of the context c
  (`conditional_input`, [..., C]) shifts the first layer's biases: for a
  fixed c the map stays a monotone triangular bijection, and a new
  conditional layer is its unconditional self.

  Shapes: [..., D] <-> [..., D]; log-dets `batch_shape`.

  #### Example

  ```python
  layer = tfp_flows.bijectors.BlockAutoregressive(2, hidden_units=[16, 16])
  y = tf.random.normal([8, 2])
  x = layer.inverse(y)                  # one network pass
  ildj = layer.inverse_log_det_jacobian(y, event_ndims=1)
  y_again = layer.forward(x)            # D passes of root finding
  ```

  References:
    De Cao, N., Aziz, W. & Titov, I. (2019). Block Neural Autoregressive
      Flow. UAI. arXiv:1904.04676.
  """

  def __init__(self,
               event_size,
               hidden_units=(16, 16),
               bound=DEFAULT_BOUND,
               gated_residual=False,
               context_shape=None,
               tolerance=0.,
               max_iterations=60,
               seed=None,
               validate_args=False,
               dtype=tf.float32,
               name="block_autoregressive"):
    """Creates the layer's weights.

    Args:
      event_size: D >= 1.
      hidden_units: units per entry of each hidden layer (layer l has
        D * hidden_units[l] units); () for one positive-diagonal linear map.
      bound: B > 0: the network on [-B, B] per entry, slope 1 beyond.
      gated_residual: the gated residual connection r F(y) + (1 - r) y
        (class docstring), r = sigmoid of a learned scalar.
      context_shape: [C] for a layer conditioned on a context, else None.
      tolerance: the forward's stopping tolerance on |F_j - x_j|; by
        default 0: the search runs until its bracket is a few ulps wide,
        since where F_j is flat (slopes down to 0.0099^L) a tolerance on
        the residual leaves the root loose by tolerance / slope; None for
        `base.DEFAULT_ROOT_TOLERANCES` of the dtype.
      max_iterations: cap on the forward's root-finder steps per pass.
      seed: seed of the initial weights (numpy); None for numpy's global
        generator.
      validate_args: check inputs (finiteness) at run time.
      dtype: float dtype of the weights, inputs and outputs.
      name: name scope.

    Raises:
      ValueError: a bad `event_size`, `hidden_units` entry or `bound`.
    """
    parameters = dict(locals())
    with tf.name_scope(name) as name:
      dim = _parameters.check_event_size(event_size)
      units = [int(u) for u in hidden_units]
      if any(u < 1 or u != v for u, v in zip(units, hidden_units)):
        raise ValueError(f"`hidden_units` must be positive integers; got "
                         f"{hidden_units!r}.")
      self._bound = base.check_bound(bound, "bound")
      if self._bound is None:
        raise ValueError(f"`bound` must be a positive finite number; got "
                         f"{bound!r}.")
      self._gated_residual = bool(gated_residual)
      self._gate = (tf.Variable(tf.zeros([], dtype), name="gate")
                    if self._gated_residual else None)
      self._tolerance = tolerance
      self._max_iterations = int(max_iterations)
      self._hidden_units = tuple(units)
      sizes = [1] + units + [1]
      rng = _parameters.random_state(seed)
      self._masks, self._off, self._log_diag, self._log_scale = [], [], [], []
      self._biases = []
      for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        # Block (i, j) of an [D a, D b] kernel: rows i a.., columns j b...
        self._masks.append(np.kron(np.triu(np.ones([dim, dim]), 1),
                                   np.ones([a, b])))
        self._off.append(tf.Variable(
            tf.constant(rng.normal(size=[dim * a, dim * b]) /
                        np.sqrt(dim * a), dtype), name=f"off_diagonal{l}"))
        self._log_diag.append(tf.Variable(
            tf.constant(0.1 * rng.normal(size=[dim, a, b]) -
                        0.5 * np.log(a), dtype), name=f"log_diagonal{l}"))
        self._log_scale.append(tf.Variable(tf.zeros([dim * b], dtype),
                                           name=f"log_scale{l}"))
        spread = (np.tile(np.linspace(-SPREAD, SPREAD, b), dim)
                  if b > 1 else np.zeros([dim]))
        if l > 0:
          self._biases.append(tf.Variable(tf.constant(
              spread if l < len(units) else np.zeros([dim * b]), dtype),
                                          name=f"bias{l}"))
      # The first layer's biases are the amortised parameters: shifted by a
      # linear map of the context when there is one.
      first_spread = (np.tile(np.linspace(-SPREAD, SPREAD, sizes[1]), dim)
                      if sizes[1] > 1 else np.zeros([dim]))
      super().__init__(dim, first_spread, context_shape, validate_args, dtype,
                       parameters, name)

  @property
  def hidden_units(self):
    return self._hidden_units

  @property
  def bound(self):
    return self._bound

  @property
  def gated_residual(self):
    return self._gated_residual

  def _cast_gate(self, dtype):
    return None if self._gate is None else tf.cast(self._gate, dtype)

  def _weights(self, x, conditional_input):
    """Per layer (W_off, W_diag, log W_diag, bias), weight-normalised, x's dtype."""
    dtype = x.dtype
    dim = self.event_size
    weights = []
    for l, (mask, off, log_diag, log_scale) in enumerate(
        zip(self._masks, self._off, self._log_diag, self._log_scale)):
      w_off = tf.cast(off, dtype) * tf.constant(mask, dtype)
      log_w_diag = base.clip(tf.cast(log_diag, dtype), LOG_WEIGHT_BOUND)
      a, b = log_w_diag.shape[1], log_w_diag.shape[2]
      # Each column's squared norm: its off-diagonal rows plus its block.
      squares = (tf.reduce_sum(tf.reshape(tf.square(w_off), [dim * a, dim, b]),
                               0)
                 + tf.reduce_sum(tf.exp(2. * log_w_diag), 1))
      log_factor = (tf.reshape(tf.cast(log_scale, dtype), [dim, b])
                    - 0.5 * tf.math.log(squares))
      w_off *= tf.reshape(tf.exp(log_factor), [dim * b])
      log_w_diag += log_factor[:, None, :]
      bias = (self._theta(x, conditional_input) if l == 0 else
              tf.cast(self._biases[l - 1], dtype))
      weights.append((w_off, tf.exp(log_w_diag), log_w_diag, bias))
    return weights

  def _augmented_inverse(self, y, conditional_input=None):
    y = self._validate_input(y, "y", [self.event_size])
    weights = self._weights(y, conditional_input)
    gate = self._cast_gate(y.dtype)
    x, log_slope = base.linear_tails(
        lambda v: gated_pass(v, weights, gate=gate)[:2], y, self._bound)
    ildj = tf.reduce_sum(log_slope, axis=-1)
    return x, {"ildj": ildj, "fldj": -ildj}

  def _augmented_forward(self, x, conditional_input=None):
    x = self._validate_input(x, "x", [self.event_size])
    weights = self._weights(x, conditional_input)
    gate = self._cast_gate(x.dtype)
    bound = tf.constant(self._bound, x.dtype)
    tiny = np.finfo(x.dtype.as_numpy_dtype).tiny
    solve = _solve_eagerly if tf.executing_eagerly() else _solve

    def step(y):
      # Entry j's units see y_<j through the offsets only: with those of the
      # current estimate fixed, every entry is a scalar monotone equation.
      _, _, offsets = block_pass(base.clip(y, self._bound), weights)
      edges = [gated_pass(s * bound * tf.ones_like(x), weights, offsets,
                          gate)[0] for s in (-1., 1.)]
      # Beyond its values at +-B the map (gated or not) has slope 1
      # (`base.linear_tails`).
      target = tf.minimum(tf.maximum(x, edges[0]), edges[1])
      fixed = tf.nest.map_structure(tf.stop_gradient,
                                    (target, weights, offsets))
      fixed_gate = None if gate is None else tf.stop_gradient(gate)
      root = solve(*fixed, fixed_gate, bound, self._tolerance,
                   self._max_iterations)
      value, log_slope, _ = gated_pass(root, weights, offsets, gate)
      root = base.implicit_root(root, value - target,
                                tf.maximum(tf.exp(log_slope), tiny))
      _, log_slope, _ = gated_pass(root, weights, offsets, gate)
      inside = tf.cast(tf.equal(x, target), x.dtype)
      return root + (x - target), -log_slope * inside

    y, fldj = autoregressive.in_passes(step, x)
    return y, {"fldj": fldj, "ildj": -fldj}
