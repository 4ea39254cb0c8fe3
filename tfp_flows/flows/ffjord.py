"""FFJORD (Grathwohl et al. 2019), a continuous flow, as a `tfd.TransformedDistribution`.

The latent-to-data map is the solution at t = 1 of the ODE

  dz/dt = f(z(t), t),   z(0) = latent,   x = z(1),

with f a neural network, and the log-density follows the instantaneous
change of variables

  d log p(z(t))/dt = -tr(df/dz(t)),
  log p(x) = log p_Z(z(0)) - integral_0^1 tr(df/dz(t)) dt,

integrated alongside z backwards from x by an adaptive Dormand-Prince solver
(`tfp.math.ode.DormandPrince`). The trace is exact (D backward passes per
evaluation of f; fine for small D) or Hutchinson's unbiased estimate
eps^T (df/dz) eps with eps ~ N(0, I) (one pass, for large D). Both
directions cost one ODE solve, so density and sampling are equally fast.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows import bijectors as flow_bijectors
from tfp_flows import context as context_lib
from tfp_flows import nets
from tfp_flows.flows import build_config
from tfp_flows.flows import priors

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = ["FFJORD", "StateTimeNet", "TRACES", "ffjord"]

TRACES = ("exact", "hutchinson")


class StateTimeNet(tf_keras.layers.Layer):
  """The dynamics f(t, z) = MLP([z, t]): the time is one more input.

  Shapes: t scalar, z [B, D] -> dz/dt [B, D]. A smooth activation (tanh,
  the default) keeps f smooth, which the adaptive solver needs to take long
  steps. The output layer starts at zero, so a new flow is the identity
  (f = 0) and its first solves take a single step.

  Bound (far from the data): the hidden activations lie in (-1, 1) (tanh)
  and the output layer is affine, so |f| <= M = max_i (sum_j |W_out[j, i]|
  + |b_out[i]|) entrywise whatever z is, and one unit of time moves z by at
  most M: |z(0)| <= |x| + M. The trace is bounded by the weights too
  (tanh' <= 1): |tr(df/dz)| <= D prod_l ||W_l||_2, so the log-det lies
  within +-D prod_l ||W_l||_2. Both are fixed by the weights, not the input:
  a finite input gives a finite latent and log-det (a ReLU activation would
  give |f| growing with |z|, and e^(Lipschitz constant) growth).

  `tfb.FFJORD` calls it as `net(time, state)`, and with a context
  (`context_shape=[C]`) as `net(time, state, conditional_input=c)`: TFP
  hands the bijector kwargs to the ODE solver as constants of the dynamics.

  References:
    Grathwohl, W., Chen, R. T. Q., Bettencourt, J., Sutskever, I. & Duvenaud, D.
      (2019). FFJORD: Free-form Continuous Dynamics for Scalable Reversible
      Generative Models. ICLR. arXiv:1810.01367.
  """

  def __init__(self, event_size, hidden_units, activation="tanh",
               context_shape=None, **kwargs):
    """Creates the layers.

    Args:
      event_size: D.
      hidden_units: hidden layer sizes.
      activation: hidden activation.
      context_shape: [C] for conditional dynamics f(t, z; c), else None.
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    self.event_size = int(event_size)
    self.mlp = nets.MLP(hidden_units, self.event_size, activation=activation,
                        context_shape=context_shape, dtype=self.dtype,
                        name="mlp")
    self.context_shape = self.mlp.context_shape

  def build(self, input_shape):
    # input_shape is the time's; the MLP sees [z, t].
    self.mlp.build([None, self.event_size + 1])
    super().build(input_shape)

  def call(self, time, state, conditional_input=None):
    t = tf.ones_like(state[..., :1]) * tf.cast(time, state.dtype)
    return self.mlp(tf.concat([state, t], axis=-1),
                    conditional_input=conditional_input)

  def get_config(self):
    config = super().get_config()
    config.update(event_size=self.event_size,
                  hidden_units=self.mlp.hidden_units,
                  activation=self.mlp.activation,
                  context_shape=context_lib.shape_config(self.context_shape))
    return config


class FFJORD(tfb.FFJORD):
  """`tfb.FFJORD` on vectors [..., D], any batch rank, with its dynamics as `conditioner`.

  TFP's exact trace (`trace_jacobian_exact`) takes the first dim of the state
  for a batch: a single event [D] got the trace of a D x 1 "batch" (a wrong
  log-det), and a batch [2, 3, D] that of [2, 3 * D]. Every batch is folded
  into one dim [N, D] before the solve and unfolded after. The dynamics are
  exposed as `conditioner` so that the context of a conditional flow is
  routed to them, like to any layer whose conditioner has a `context_shape`
  (`tfp_flows.context`).

  References:
    Grathwohl, W., Chen, R. T. Q., Bettencourt, J., Sutskever, I. & Duvenaud, D.
      (2019). FFJORD: Free-form Continuous Dynamics for Scalable Reversible
      Generative Models. ICLR. arXiv:1810.01367.
  """

  @property
  def conditioner(self):
    return self._state_time_derivative_fn

  def _folded(self, method, value, kwargs):
    flat = tf.reshape(value, [-1, tf.shape(value)[-1]])
    out, attrs = method(flat, **kwargs)
    return (tf.reshape(out, tf.shape(value)),
            {k: tf.reshape(v, tf.shape(value)) for k, v in attrs.items()})

  def _augmented_forward(self, x, **condition_kwargs):
    return self._folded(super()._augmented_forward, x, condition_kwargs)

  def _augmented_inverse(self, y, **condition_kwargs):
    return self._folded(super()._augmented_inverse, y, condition_kwargs)


@build_config.records
def ffjord(event_shape,
           *,
           hidden_units=(64, 64, 64),
           activation="tanh",
           trace="exact",
           num_trace_samples=1,
           atol=1e-5,
           rtol=1e-5,
           context_shape=None,
           prior="gaussian",
           validate_args=False,
           dtype=tf.float32,
           name="ffjord"):
  """Builds FFJORD: `tfb.FFJORD` with a state-time MLP and a standard base.

  Data to latent: flatten, then solve the ODE above from t = 1 back to
  t = 0 with the log-det. The paper's toy model is 3 hidden layers of 64
  units (tanh) with atol = rtol = 1e-5; looser tolerances (1e-3) train faster
  and less exactly.

  Args:
    event_shape: data event shape, e.g. [2] or [8, 8, 1].
    hidden_units: hidden sizes of the dynamics network (`StateTimeNet`).
    activation: its activation; keep it smooth.
    trace: "exact" (`tfb.ffjord.trace_jacobian_exact`: D gradient passes per
      evaluation, deterministic) or "hutchinson" (stochastic estimate: one
      pass, but `log_prob` is then random).
    num_trace_samples: noise samples per Hutchinson estimate.
    atol: absolute tolerance of the Dormand-Prince solver.
    rtol: relative tolerance of the Dormand-Prince solver.
    context_shape: [C] for a conditional flow p(x | c) (dynamics
      f(t, z; c)), else None.
    prior: "gaussian" or "logistic" base.
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; the ODE bijector is `{name}_ode`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.

  References:
    Grathwohl, W., Chen, R. T. Q., Bettencourt, J., Sutskever, I. & Duvenaud, D.
      (2019). FFJORD: Free-form Continuous Dynamics for Scalable Reversible
      Generative Models. ICLR. arXiv:1810.01367.
    Chen, R. T. Q., Rubanova, Y., Bettencourt, J. & Duvenaud, D. (2018). Neural
      Ordinary Differential Equations. NeurIPS. arXiv:1806.07366.
  """
  event_shape = [int(d) for d in event_shape]
  dim = int(np.prod(event_shape))
  if trace not in TRACES:
    raise ValueError(f"`trace` must be one of {TRACES}; got {trace!r}.")
  for arg, value in (("atol", atol), ("rtol", rtol)):
    if not value > 0:
      raise ValueError(f"`{arg}` must be > 0; got {value!r}.")
  net = StateTimeNet(dim, hidden_units, activation=activation,
                     context_shape=context_shape, dtype=dtype,
                     name=f"{name}_dynamics")
  net.build([])
  if trace == "exact":
    augmentation = tfb.ffjord.trace_jacobian_exact
  else:
    def augmentation(ode_fn, state_shape, state_dtype):
      return tfb.ffjord.trace_jacobian_hutchinson(
          ode_fn, state_shape, state_dtype, num_samples=num_trace_samples)
  solver = tfp.math.ode.DormandPrince(atol=atol, rtol=rtol)
  # FFJORD tracks its dynamics through `state_time_derivative_fn`, so passing
  # the layer itself (not a closure) lets models see its variables.
  ode = FFJORD(state_time_derivative_fn=net,
                   ode_solve_fn=solver.solve,
                   trace_augmentation_fn=augmentation,
                   validate_args=validate_args,
                   dtype=dtype,
                   name=f"{name}_ode")
  # Unflatten first, even for vectors: it flattens images and names the
  # expected and the received shape when data of the wrong shape comes in.
  unflatten = flow_bijectors.Unflatten(event_shape,
                                       validate_args=validate_args)
  return tfd.TransformedDistribution(
      distribution=priors.standard_prior([dim], prior, dtype),
      bijector=tfb.Chain([unflatten, ode], validate_args=validate_args,
                         name=f"{name}_bijector"),
      validate_args=validate_args,
      name=name)
