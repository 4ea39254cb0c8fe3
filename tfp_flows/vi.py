"""Variational inference with flows: reverse-KL (ELBO / IWAE) training through Keras.

A flow q (any `tfd.Distribution`; best one that samples in one pass, such as
`flows.iaf`) is fitted to an unnormalised target density p~(x) = Z p(x) by
maximising, with reparameterised draws x_s = f(z_s), z_s ~ base,

  ELBO = E_q[log p~(x) - log q(x)] = log Z - KL(q || p),

estimated by (1/S) sum_s log w_s with log w_s = log p~(x_s) - log q(x_s), or
the importance-weighted bound of Burda et al. (2016) with K draws per term,

  IWAE_K = E[log (1/K) sum_k w_k],  ELBO = IWAE_1 <= IWAE_K <= log Z.

Each draw and its log q come from one pass through the flow in the sampling
direction (`tfd.TransformedDistribution.experimental_sample_and_log_prob`:
the bijector's forward and its forward log-det, which our one-call layers
compute together): for an IAF one MADE pass per layer.

Annealing (Rezende & Mohamed 2015) trains against p~^beta with beta rising
to 1, which keeps q from collapsing onto one mode of a multimodal target:
`annealing=tfp_flows.LinearWarmup(1., 2000)` gives beta = min(1, (t + 1) / 2000)
at optimizer step t.

Amortised VI: with a conditional flow q(x | c) (built with `context_shape`,
see `tfp_flows.context`), `fit` takes a dataset of contexts c [B, C] and
the target is called as `target_log_prob_fn(x, c)`.

#### Example

```python
target = tfp_flows.targets.banana()
flow = tfp_flows.flows.iaf(target.event_shape)
model = tfp_flows.vi.VariationalFlowModel(flow, target.log_prob)
model.compile(tf_keras.optimizers.Adam(1e-3))
model.fit(epochs=10, steps_per_epoch=200, callbacks=[tfp_flows.NaNGuard()])
tfp_flows.vi.importance_diagnostics(flow, target.log_prob)  # ESS, log Z, k-hat
```

A surrogate may be named instead, built at its builder's defaults: the
classic ones (`"planar"`, `"radial"`, `"sylvester"`) or any other flow of
`flows.registry.BUILDERS`:

```python
target = tfp_flows.targets.banana()
model = tfp_flows.vi.VariationalFlowModel(
    "sylvester", target.log_prob, event_shape=target.event_shape)
flow = model.flow
```
"""

import tensorflow as tf
import tf_keras

from tfp_flows import context as context_lib
from tfp_flows import diagnostics
from tfp_flows import evaluation
from tfp_flows import training
from tfp_flows.flows import registry

__all__ = ["VariationalFlowModel", "importance_diagnostics",
           "sample_and_log_prob"]


def _check_positive_int(value, arg_name):
  if isinstance(value, bool) or int(value) != value or value < 1:
    raise ValueError(f"`{arg_name}` must be an integer >= 1; got {value!r}.")
  return int(value)


def sample_and_log_prob(flow, num_samples, context=None, seed=None):
  """Reparameterised draws from `flow` and their log q, one flow pass.

  Args:
    flow: a `tfd.Distribution`; a conditional flow needs `context`.
    num_samples: S, int or int tensor.
    context: None, or contexts c [B, C] for a conditional flow.
    seed: TFP seed (an int, or a stateless [2] tensor).

  Returns:
    (x, log_q): x [S, *event] and log q(x) [S], or with a context
    x [S, B, *event] and log q(x | c_b) [S, B].
  """
  shape = context_lib.context_shape(flow)
  if shape is None:
    if context is not None:
      raise ValueError(f"{flow.name} has no conditional layers, so "
                       "`context` must be None; got a tensor of shape "
                       f"{tf.convert_to_tensor(context).shape.as_list()}.")
    return flow.experimental_sample_and_log_prob(num_samples, seed=seed)
  context = context_lib.check_context(context, shape, owner=flow.name,
                                      arg_name="context", dtype=flow.dtype)
  if context.shape.rank != 2:
    raise ValueError("`context` must have shape [B, C] (one row per context);"
                     f" got {context.shape.as_list()}.")
  batch = tf.shape(context)[0]
  # Sample-major: row s * B + b of the draws goes with context b.
  tiled = tf.tile(context, [num_samples, 1])
  x, log_q = flow.experimental_sample_and_log_prob(
      num_samples * batch, seed=seed,
      bijector_kwargs=context_lib.bijector_kwargs(flow, tiled))
  x = tf.reshape(x, tf.concat([[num_samples, batch],
                               flow.event_shape.as_list()], 0))
  return x, tf.reshape(log_q, [num_samples, batch])


def _target_log_prob(target_log_prob_fn, x, context, expected, check):
  """log p~(x) checked for shape (always) and for NaN / +inf (under `check`)."""
  log_p = (target_log_prob_fn(x) if context is None else
           target_log_prob_fn(x, context))
  log_p = tf.convert_to_tensor(log_p)
  if not log_p.shape.is_compatible_with(expected):
    raise ValueError(
        "`target_log_prob_fn` must return one log-density per draw: for "
        f"draws x of shape {x.shape.as_list()} a tensor of shape "
        f"{expected.as_list()}; got shape {log_p.shape.as_list()}. (Reduce "
        "over the event dimensions, keep the leading ones.)")
  log_p = tf.cast(log_p, x.dtype)
  if not check:
    return log_p
  bad = tf.reduce_sum(tf.cast(
      tf.math.is_nan(log_p) | tf.equal(log_p, float("inf")), tf.int32))
  assertion = tf.debugging.assert_equal(
      bad, 0, message=(
          "`target_log_prob_fn` returned NaN or +inf for some draws of the "
          "flow (their number follows); a log-density must be finite or "
          "-inf."))
  with tf.control_dependencies([assertion]):
    return tf.identity(log_p)


def _surrogate(flow, event_shape, seed):
  """`flow`, or for a builder's name that builder over `event_shape`."""
  if not isinstance(flow, str):
    if event_shape is not None:
      raise ValueError("`event_shape` is for a `flow` given by name; got a "
                       f"distribution ({flow.name}) and event_shape "
                       f"{event_shape!r}.")
    return flow
  if flow not in registry.BUILDERS:
    raise ValueError(f"Unknown flow {flow!r}; known: "
                     f"{sorted(registry.BUILDERS)}.")
  if event_shape is None:
    raise ValueError(f"A flow given by name ({flow!r}) needs `event_shape`, "
                     "the target's (e.g. `target.event_shape`).")
  # The model's seed also draws the builder's own initial weights (planar,
  # radial, Sylvester, bnaf, the residual flows) or permutations.
  own = {"seed": seed} if "seed" in registry.options(flow) else {}
  return registry.BUILDERS[flow](list(tf.TensorShape(event_shape)), **own)


class VariationalFlowModel(tf_keras.Model):
  """A tf_keras model that fits a flow to an unnormalised target by reverse KL.

  Each training step draws `sample_size` reparameterised samples from the
  flow (times `importance_samples`, K, when set), and minimises the negative
  ELBO (or the negative IWAE bound; see the module docstring) against
  beta * log p~, beta from `annealing`. There are no data: `fit` without
  `x` makes a dummy dataset, so only `epochs` and `steps_per_epoch` are
  needed; a conditional flow is fitted over a dataset of contexts instead.

  ```python
  target = tfp_flows.targets.banana()
  flow = tfp_flows.flows.iaf([2])
  model = tfp_flows.vi.VariationalFlowModel(flow, target.log_prob)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  model.fit(epochs=2, steps_per_epoch=100)             # plain VI

  # Amortised VI: a conditional flow q(z | c), fitted over contexts c of a
  # target p~(z | c) (here a Gaussian centred on c).
  flow = tfp_flows.flows.iaf([2], context_shape=[2])
  model = tfp_flows.vi.VariationalFlowModel(
      flow, lambda z, c: -0.5 * tf.reduce_sum(tf.square(z - c), -1))
  model.compile(tf_keras.optimizers.Adam(1e-3))
  contexts = tf.data.Dataset.from_tensor_slices(
      tf.random.normal([256, 2])).batch(32)
  model.fit(contexts, epochs=2)
  ```

  Metrics (means over the epoch's steps; each step's from its own draws, at
  beta = 1; `diagnostics` defines them):

  * `loss`: the negative bound minimised (annealed);
  * `elbo`: mean log w = log Z - KL(q || p) estimated;
  * `ess_fraction`, `log_z`: importance-sampling diagnostics of the step's
    S * K draws (per context, averaged over contexts);
  * `k_hat`: Pareto k-hat of those draws (when there are >= 25 per replica);
  * `beta`: the annealing factor, with `annealing`.

  Final figures want many more draws than a step: `importance_diagnostics`.

  Like `FlowModel`: `compile` wraps the optimizer so that a step with a
  non-finite loss or non-finite gradients (a draw where the target is
  -inf, say) changes no weight, and `tfp_flows.NaNGuard` stops `fit` on the
  non-finite loss it reports; callbacks and TensorBoard work as for any
  Keras model; under a `tf.distribute` strategy (model built and compiled in
  `strategy.scope()`) the `sample_size` draws of a step are split among the
  replicas (it must divide by their number), each drawing from its own
  random stream, and the loss is averaged over all of them.

  Target errors: a target that returns other than one log-density per draw
  raises a `ValueError` naming the shapes when `fit` traces its step; one
  that returns NaN or +inf stops `fit` with an `InvalidArgumentError` that
  says so (`check_target=False` drops that check). XLA
  (`compile(jit_compile=True)`) drops the check silently: the loss then
  turns NaN, no weight changes, and `NaNGuard` stops there.

  References:
    Rezende, D. J. & Mohamed, S. (2015). Variational Inference with Normalizing
      Flows. ICML. arXiv:1505.05770.
    Kingma, D. P., Salimans, T., Jozefowicz, R., Chen, X., Sutskever, I. &
      Welling, M. (2016). Improved Variational Inference with Inverse
      Autoregressive Flow. NeurIPS. arXiv:1606.04934.
    Burda, Y., Grosse, R. & Salakhutdinov, R. (2016). Importance Weighted
      Autoencoders. ICLR. arXiv:1509.00519.
  """

  def __init__(self, flow, target_log_prob_fn, sample_size=256,
               importance_samples=None, annealing=None, check_target=True,
               seed=0, event_shape=None, **kwargs):
    """Wraps `flow` and the target.

    Args:
      flow: a `tfd.Distribution` with trainable variables and a fully
        defined event shape (`flows.iaf(...)`, any TFP surrogate), or the
        name of a builder of `flows.registry.BUILDERS` ("iaf", "planar",
        "radial", "sylvester", ...), built at its own defaults over
        `event_shape` (the model's `flow` attribute then holds it).
      target_log_prob_fn: log p~(x): x [S, *event] -> [S]; for a conditional
        flow log p~(x | c): (x [S, B, *event], c [B, C]) -> [S, B].
      sample_size: S, the bound's terms per step (global batch).
      importance_samples: K for the IWAE bound (S * K draws per step), or
        None for the ELBO.
      annealing: callable, optimizer step -> beta (e.g. `LinearWarmup(1.,
        2000)`), or None for beta = 1.
      check_target: assert at run time that the target returns no NaN / +inf.
      seed: seed of the model's random stream (`tf.random.Generator`), and
        of a builder's own draws when `flow` names one.
      event_shape: the target's event shape, when `flow` is a builder's
        name (e.g. `target.event_shape`); else None.
      **kwargs: tf_keras.Model arguments (`name`).
    """
    flow = _surrogate(flow, event_shape, seed)
    kwargs.setdefault("dtype", flow.dtype)
    super().__init__(**kwargs)
    if not flow.event_shape.is_fully_defined():
      raise ValueError("`flow` must have a fully defined event shape; got "
                       f"{flow.event_shape}.")
    if not callable(target_log_prob_fn):
      raise TypeError("`target_log_prob_fn` must be callable; got "
                      f"{type(target_log_prob_fn).__name__}.")
    if annealing is not None and not callable(annealing):
      raise TypeError("`annealing` must be a callable (step -> beta) or None;"
                      f" got {type(annealing).__name__}.")
    self.flow = flow
    self.target_log_prob_fn = target_log_prob_fn
    self.sample_size = _check_positive_int(sample_size, "sample_size")
    self._draws_per_replica()  # Built in a strategy's scope: it must divide.
    self.importance_samples = (
        None if importance_samples is None else
        _check_positive_int(importance_samples, "importance_samples"))
    self.annealing = annealing
    self.check_target = check_target
    self.context_shape = context_lib.context_shape(flow)
    self._generator = tf.random.Generator.from_seed(seed)
    names = ["loss", "elbo", "ess_fraction", "log_z"]
    if self.sample_size * (self.importance_samples or 1) >= 25:
      names.append("k_hat")
    if annealing is not None:
      names.append("beta")
    self._trackers = {name: tf_keras.metrics.Mean(name=name)
                      for name in names}

  @property
  def metrics(self):
    return list(self._trackers.values())

  def _draws_per_replica(self):
    replicas = self.distribute_strategy.num_replicas_in_sync
    if self.sample_size % replicas:
      raise ValueError(f"`sample_size`={self.sample_size} must divide by the "
                       f"number of replicas, {replicas}.")
    return self.sample_size // replicas

  def _context(self, data):
    if self.context_shape is None:
      return None
    return context_lib.check_context(
        evaluation.split_batch(data)[0], self.context_shape,
        arg_name="context",
        owner=self.flow.name, dtype=self.flow.dtype)

  def _bound(self, data, beta):
    """(terms of the bound [S, (B)], log weights at beta = 1 [S * K, (B)])."""
    context = self._context(data)
    terms = self._draws_per_replica()
    k = self.importance_samples or 1
    seed = tf.cast(self._generator.make_seeds(1)[:, 0], tf.int32)
    x, log_q = sample_and_log_prob(self.flow, terms * k, context, seed)
    log_p = _target_log_prob(self.target_log_prob_fn, x, context,
                             log_q.shape, self.check_target)
    log_w = log_p - log_q
    annealed = beta * log_p - log_q
    if self.importance_samples is None:
      return annealed, log_w
    grouped = tf.reshape(annealed, tf.concat([[terms, k],
                                              tf.shape(annealed)[1:]], 0))
    return (tf.reduce_logsumexp(grouped, axis=1) -
            tf.math.log(tf.cast(k, grouped.dtype))), log_w

  def call(self, inputs=None, training=None):  # pylint: disable=redefined-outer-name
    """The terms of the bound at beta = 1: [S] (or [S, B] for contexts [B, C])."""
    del training  # The flow behaves the same in training and inference.
    return self._bound(inputs, tf.ones([], self.flow.dtype))[0]

  def _beta(self):
    if self.annealing is None:
      return tf.ones([], self.flow.dtype)
    return tf.cast(self.annealing(self.optimizer.iterations), self.flow.dtype)

  def _update_metrics(self, terms, log_w, beta):
    self._trackers["loss"].update_state(-tf.reduce_mean(terms))
    self._trackers["elbo"].update_state(tf.reduce_mean(log_w))
    self._trackers["ess_fraction"].update_state(
        tf.reduce_mean(diagnostics.ess_fraction(log_w)))
    self._trackers["log_z"].update_state(
        tf.reduce_mean(diagnostics.log_z(log_w)[0]))
    if "k_hat" in self._trackers and log_w.shape[0] >= 25:
      self._trackers["k_hat"].update_state(
          tf.reduce_mean(diagnostics.pareto_k_hat(log_w)))
    if "beta" in self._trackers:
      self._trackers["beta"].update_state(beta)
    return {name: m.result() for name, m in self._trackers.items()}

  def train_step(self, data):
    beta = self._beta()
    with tf.GradientTape() as tape:
      terms, log_w = self._bound(data, beta)
      # Averaged over every replica's terms: replicas' gradients are summed.
      loss = tf.nn.compute_average_loss(-tf.reshape(terms, [-1]))
      if self.losses:
        loss += tf.nn.scale_regularization_loss(tf.add_n(self.losses))
    grads_and_vars = self.optimizer.compute_gradients(
        loss, self.trainable_variables, tape=tape)
    # A draw where the target has no mass (log p = -inf) makes the loss
    # infinite while the gradients of log q stay finite: NaN gradients make
    # the optimizer skip that step as it skips any non-finite one.
    finite = tf.math.is_finite(loss)
    self.optimizer.apply_gradients(
        [(tf.where(finite, g, tf.constant(float("nan"), g.dtype)), v)
         for g, v in grads_and_vars if g is not None])
    return self._update_metrics(terms, log_w, beta)

  def test_step(self, data):
    beta = tf.ones([], self.flow.dtype)
    terms, log_w = self._bound(data, beta)
    return self._update_metrics(terms, log_w, beta)

  def compile(self, optimizer="adam", skip_nonfinite=True, **kwargs):
    """Keras `compile`; `skip_nonfinite` as in `FlowModel.compile`."""
    optimizer = tf_keras.optimizers.get(optimizer)
    if skip_nonfinite:
      optimizer = training.skipping_nonfinite(optimizer)
    super().compile(optimizer=optimizer, **kwargs)

  def _data(self, x, steps, method, steps_arg):
    """`x`, or for an unconditional flow without data a dummy stream."""
    if x is not None:
      return x
    if self.context_shape is not None:
      raise ValueError(
          f"{self.flow.name} is conditional (context shape "
          f"{self.context_shape.as_list()}): give `{method}` a dataset of "
          "contexts [B, C].")
    if steps is None:
      raise ValueError(f"Without data, `{method}` needs `{steps_arg}` (the "
                       "number of steps per epoch); got None.")
    # One element per replica: the strategy hands each replica one.
    replicas = self.distribute_strategy.num_replicas_in_sync
    return tf.data.Dataset.from_tensors(tf.zeros([replicas])).repeat()

  def fit(self, x=None, *args, **kwargs):
    """Keras `fit`; without `x` (plain VI) `steps_per_epoch` is required."""
    x = self._data(x, kwargs.get("steps_per_epoch"), "fit", "steps_per_epoch")
    if self.optimizer is not None:
      # Slots made now, not in the first traced step (see FlowModel.fit).
      with self.distribute_strategy.scope():
        self.optimizer.build(self.trainable_variables)
    return super().fit(x, *args, **kwargs)

  def evaluate(self, x=None, *args, **kwargs):
    """Keras `evaluate` at beta = 1; without `x`, `steps` is required."""
    return super().evaluate(self._data(x, kwargs.get("steps"), "evaluate",
                                       "steps"), *args, **kwargs)

  def get_config(self):
    # The flow and the target are Python state, not configs.
    return {"sample_size": self.sample_size,
            "importance_samples": self.importance_samples,
            "check_target": self.check_target}


def importance_diagnostics(flow, target_log_prob_fn, num_samples=10000,
                           context=None, seed=0, batch_size=4096):
  """ESS fraction, log Z (with its standard error) and k-hat of `flow` as q.

  Draws `num_samples` from the flow (in batches of `batch_size`) and
  summarises their log weights log p~(x) - log q(x) with
  `diagnostics.summary`. For a normalised target, log Z should be 0: its
  deviation measures the fit.

  Args:
    flow: the fitted flow.
    target_log_prob_fn: as for `VariationalFlowModel`.
    num_samples: n draws (>= 25 for k-hat).
    context: one context [C] for a conditional flow (the target is then
      called with x [n, 1, *event] and c [1, C]), else None.
    seed: int seed of the draws.
    batch_size: draws per flow call.

  Returns:
    {"ess_fraction", "log_z", "log_z_se", "k_hat"} as Python floats.
  """
  num_samples = _check_positive_int(num_samples, "num_samples")
  batch_size = _check_positive_int(batch_size, "batch_size")
  if context is not None:
    context = tf.reshape(tf.convert_to_tensor(context, flow.dtype), [1, -1])

  @tf.function
  def log_weights(n, seed):
    x, log_q = sample_and_log_prob(flow, n, context, seed)
    log_p = _target_log_prob(target_log_prob_fn, x, context, log_q.shape,
                             check=False)
    return tf.reshape(log_p - log_q, [-1])

  chunks, drawn = [], 0
  while drawn < num_samples:
    n = min(batch_size, num_samples - drawn)
    chunks.append(log_weights(n, tf.constant([seed, drawn], tf.int32)))
    drawn += n
  return {name: float(value) for name, value in
          diagnostics.summary(tf.concat(chunks, 0)).items()}
