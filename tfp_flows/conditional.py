"""Conditional flows p(x | c): context-aware conditioners, routing, training, export.

A conditional flow is one `tfd.TransformedDistribution` some of whose layers
take a context c (a one-hot class label or any vector) besides their input:

  log p(x | c) = log p_Z(f(x; c)) + log |det df(x; c)/dx|.

A layer is conditional when its conditioner has a `context_shape` (rank 1,
[C]): `ConditionalMLP` here (for our couplings, which pass bijector kwargs on
to their conditioner) and `nets.MADE` (for the `MaskedAutoregressive`
layers of MAF and IAF). TFP
gives the context to a layer as the bijector kwarg `conditional_input`, and a
`tfb.Chain` routes kwargs to its members BY NAME:

  dist.log_prob(x, bijector_kwargs={"maf_bijector": {"maf_layer0":
                                    {"conditional_input": c}, ...}})

`bijector_kwargs(dist, c)` builds that nested dict for every conditional layer
of a flow; `log_prob`, `sample`, `encode` and `decode` take the context and
use it. `ConditionalFlowModel` trains on `(x, y)` batches and
`export_conditional_saved_model` writes serving signatures that take the
context.

#### Example

```python
from tfp_flows import conditional
dist = conditional.coupling_flow([8, 8, 1], context_shape=[10])
model = conditional.ConditionalFlowModel(dist, num_classes=10)
model.compile(tf_keras.optimizers.Adam(1e-3))
model.fit(tfp_flows.data.load("digits", with_labels=True), epochs=50)
x = conditional.sample(dist, 8, tf.one_hot(3, 10))  # eight 3s
```
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tensorflow_probability.python.bijectors import chain as chain_lib
from tensorflow_probability.python.bijectors import invert as invert_lib

from tfp_flows import applications
from tfp_flows import bijectors as flow_bijectors
from tfp_flows import export
from tfp_flows import files
from tfp_flows import nets
from tfp_flows import training
from tfp_flows.bijectors import base
from tfp_flows.flows import priors

tfb = tfp.bijectors
tfd = tfp.distributions

__all__ = [
    "ConditionalFlowModel", "ConditionalMLP", "COUPLINGS", "as_context_shape",
    "bijector_kwargs", "check_context", "context_shape", "coupling_flow",
    "decode", "encode", "export_conditional_saved_model", "log_prob", "sample"
]

COUPLINGS = ("affine", "additive")


def as_context_shape(context_shape):
  """`context_shape` as a rank-1 `tf.TensorShape` [C], C >= 1."""
  shape = tf.TensorShape(context_shape)
  if shape.rank != 1 or not shape.is_fully_defined() or shape[0] < 1:
    raise ValueError("`context_shape` must be a rank-1 shape [C] with C >= 1 "
                     f"(a one-hot label or a context vector); got "
                     f"{context_shape!r}.")
  return shape


def check_context(context, context_shape, batch_shape=None,
                  arg_name="conditional_input", owner="this flow",
                  dtype=tf.float32):
  """Returns `context` as a `dtype` tensor, checking its static shape.

  Args:
    context: tensor [..., C], or None.
    context_shape: the expected event shape [C].
    batch_shape: static batch shape the context must broadcast to (the
      input's), or None to skip that check.
    arg_name: the argument named in error messages.
    owner: the layer or flow named in error messages.
    dtype: float dtype of the result (integer one-hot labels are cast).

  Raises:
    ValueError: `context` is None, its trailing shape is not `context_shape`,
      or its batch shape does not broadcast to `batch_shape`.
  """
  expected = tf.TensorShape(context_shape).as_list()
  if context is None:
    raise ValueError(f"{owner} is conditional: `{arg_name}` of shape "
                     f"[..., {', '.join(map(str, expected))}] is required; "
                     "got None.")
  context = tf.cast(tf.convert_to_tensor(context), dtype)
  base.check_event_shape(context, expected, arg_name)
  if batch_shape is not None and context.shape.rank is not None:
    got = context.shape[:context.shape.rank - len(expected)]
    try:
      tf.broadcast_static_shape(got, tf.TensorShape(batch_shape))
    except ValueError:
      raise ValueError(
          f"`{arg_name}` of {owner}: batch shape {got.as_list()} (in shape "
          f"{context.shape.as_list()}) does not broadcast to the input's "
          f"batch shape {tf.TensorShape(batch_shape).as_list()}.") from None
  return context


class ConditionalMLP(tf_keras.layers.Layer):
  """h = MLP([x, c]): `nets.MLP` on the input concatenated with a context c.

  Shapes: x [B, d_in] and c [B, C] (or [C], [1, C]: one context for the whole
  batch) -> h [B, output_units]. The output layer starts at zero, so a
  coupling using this network starts as the identity for every context. A
  missing or wrongly shaped c raises a `ValueError` that names
  `conditional_input`, the expected and the received shape.

  The coupling bijectors call it as `net(x_A, conditional_input=c)`.
  """

  def __init__(self, hidden_units, output_units, context_shape,
               activation="relu", **kwargs):
    """Creates the layers.

    Args:
      hidden_units: sizes of the hidden layers.
      output_units: size of h.
      context_shape: [C], the shape of one context.
      activation: activation of the hidden layers.
      **kwargs: tf_keras layer arguments (`name`, `dtype`).
    """
    super().__init__(**kwargs)
    self.context_shape = as_context_shape(context_shape)
    self.mlp = nets.MLP(hidden_units, output_units, activation=activation,
                        dtype=self.dtype, name="mlp")

  def build(self, input_shape):
    # Creates every variable up front (see nets.MLP.build).
    self.mlp.build([None, input_shape[-1] + self.context_shape[0]])
    super().build(input_shape)

  def call(self, x, conditional_input=None):
    c = check_context(conditional_input, self.context_shape,
                      batch_shape=x.shape[:-1], owner=self.name,
                      dtype=self.dtype)
    # One context for the batch ([C] or [1, C]) is repeated for each row.
    c = tf.broadcast_to(
        c, tf.concat([tf.shape(x)[:-1], self.context_shape.as_list()], 0))
    return self.mlp(tf.concat([x, c], axis=-1))

  def get_config(self):
    config = super().get_config()
    config.update(hidden_units=self.mlp.hidden_units,
                  output_units=self.mlp.output_units,
                  context_shape=self.context_shape.as_list(),
                  activation=self.mlp.activation)
    return config


def _layer_context_shape(bijector):
  """[C] when `bijector` is a conditional layer, else None."""
  return getattr(getattr(bijector, "conditioner", None), "context_shape", None)


def _members(bijector):
  """The bijectors that `bijector` hands its kwargs on to.

  TFP's Chain hands `kwargs[member.name]` to each member, and Invert all its
  kwargs to the bijector it inverts; other bijectors (FactorOut, say) hand
  none on, so conditional layers inside them cannot be reached.
  `tfb.Chain(...)` and `tfb.Invert(...)` build the private `_Chain` and
  `_Invert` when a member holds Keras layers, hence these classes.
  """
  if isinstance(bijector, invert_lib._Invert):  # pylint: disable=protected-access
    return [bijector.bijector]
  if isinstance(bijector, chain_lib._Chain):  # pylint: disable=protected-access
    return list(bijector.bijectors)
  return []


def _conditional_layers(bijector):
  """The conditional layers that kwargs of `bijector` reach."""
  if _layer_context_shape(bijector) is not None:
    return [bijector]
  return [layer for member in _members(bijector)
          for layer in _conditional_layers(member)]


def _route(bijector):
  """The kwargs of `bijector` that reach its conditional layers, True for c.

  Returns:
    {"conditional_input": True} for a conditional layer, the route of the
    inverted bijector for an Invert, a dict of member names to routes for a
    Chain, None when no conditional layer is reached.

  Raises:
    ValueError: two members of one chain share a name but need different
      kwargs (TFP would hand both the same ones).
  """
  if _layer_context_shape(bijector) is not None:
    return {"conditional_input": True}
  members = _members(bijector)
  if not isinstance(bijector, chain_lib._Chain):  # pylint: disable=protected-access
    return _route(members[0]) if members else None
  routes = {}
  for member in members:
    route = _route(member)
    if member.name in routes and routes[member.name] != route:
      raise ValueError(
          f"Chain {bijector.name!r} holds several members named "
          f"{member.name!r} that need different bijector kwargs; TFP routes "
          "kwargs by name, so give them distinct names.")
    routes[member.name] = route
  routes = {name: route for name, route in routes.items() if route is not None}
  return routes or None


def _bijector_of(flow):
  return flow.bijector if isinstance(flow, tfd.Distribution) else flow


def context_shape(flow):
  """The context shape [C] of a flow's conditional layers; None without any.

  Args:
    flow: `tfd.TransformedDistribution` or bijector.

  Raises:
    ValueError: its conditional layers expect different context shapes.
  """
  shapes = {}
  for layer in _conditional_layers(_bijector_of(flow)):
    shapes.setdefault(tuple(_layer_context_shape(layer).as_list()),
                      []).append(layer.name)
  if len(shapes) > 1:
    listing = "; ".join(f"{list(shape)} in {names}"
                        for shape, names in shapes.items())
    raise ValueError("The conditional layers of this flow expect different "
                     f"context shapes: {listing}.")
  return tf.TensorShape(list(next(iter(shapes)))) if shapes else None


def _require_context_shape(flow):
  shape = context_shape(flow)
  if shape is None:
    raise ValueError(
        f"{flow.name} has no conditional layers (none whose conditioner has "
        "a `context_shape`); build it with `context_shape=[C]`.")
  return shape


def bijector_kwargs(flow, context):
  """Kwargs of `flow.bijector` that give `context` to every conditional layer.

  Use as `dist.log_prob(x, bijector_kwargs=bijector_kwargs(dist, c))` or
  `dist.bijector.forward(z, **bijector_kwargs(dist, c))`. The context must
  match the input's batch: the helpers below fold and broadcast it for you.

  Args:
    flow: `tfd.TransformedDistribution` or bijector.
    context: tensor [B, C].

  Returns:
    Nested dict keyed by bijector names; {} for a flow without conditional
    layers.
  """
  route = _route(_bijector_of(flow)) or {}
  return tf.nest.map_structure(lambda _: context, route)


def _with_context(dist, fn, value, event_shape, context, arg_name):
  """fn(flat_value, kwargs) with value and context folded to one batch dim.

  `value` [*batch, *event_shape] is folded to [N, *event_shape] and the
  context, broadcast to [*batch, C], to [N, C]: the coupling conditioners
  fold their input's batch (`base.call_with_one_batch_dim`) but see the
  context as given, so both must arrive with the same single batch dim. The
  result's leading dim is unfolded to `batch`.
  """
  expected = _require_context_shape(dist)
  value = tf.convert_to_tensor(value, dist.dtype, name=arg_name)
  base.check_event_shape(value, event_shape, arg_name)
  rank = value.shape.rank - len(event_shape)
  context = check_context(context, expected, value.shape[:rank], "context",
                          dist.name, dist.dtype)
  batch = tf.shape(value)[:rank]
  flat = tf.reshape(value, tf.concat([[-1], event_shape], 0))
  flat_context = tf.reshape(
      tf.broadcast_to(context, tf.concat([batch, expected.as_list()], 0)),
      [-1, expected[0]])
  out = fn(flat, bijector_kwargs(dist, flat_context))
  return tf.reshape(out, tf.concat([batch, tf.shape(out)[1:]], 0))


def log_prob(dist, x, context):
  """log p(x | c): x [*batch, *event], c [*batch, C] or [C] -> [*batch]."""
  return _with_context(
      dist, lambda x, kw: dist.log_prob(x, bijector_kwargs=kw), x,
      dist.event_shape.as_list(), context, "x")


def encode(dist, x, context):
  """Data [*batch, *event_shape] to latents [*batch, *latent_shape] given c."""
  return _with_context(dist, lambda x, kw: dist.bijector.inverse(x, **kw), x,
                       dist.event_shape.as_list(), context, "x")


def decode(dist, z, context):
  """Latents [*batch, *latent_shape] to data [*batch, *event_shape] given c."""
  return _with_context(dist, lambda z, kw: dist.bijector.forward(z, **kw), z,
                       dist.distribution.event_shape.as_list(), context, "z")


def sample(dist, n, context, temperature=1.0, seed=None):
  """Draws x = f^-1(T z; c), z ~ base, for one context or one per sample.

  Temperature as in `tfp_flows.sample`: T = 1 samples p(x | c).

  Args:
    dist: a conditional flow.
    n: number of samples, int or int tensor.
    context: [C] (every sample), or [n, C] (one per sample).
    temperature: T >= 0.
    seed: TFP seed.

  Returns:
    Tensor [n, *event_shape].
  """
  n = applications.check_num_samples(n)
  temperature = applications.check_temperature(temperature,
                                               dist.distribution.dtype)

  def draw():
    return decode(dist, dist.distribution.sample(n, seed=seed) * temperature,
                  context)

  return applications.unless_empty(n, draw, [0] + dist.event_shape.as_list(),
                                   dist.dtype)


def coupling_flow(event_shape,
                  num_layers=4,
                  hidden_units=(64, 64),
                  coupling="affine",
                  context_shape=None,  # pylint: disable=redefined-outer-name
                  actnorm=False,
                  prior="gaussian",
                  activation="relu",
                  validate_args=False,
                  dtype=tf.float32,
                  name="coupling_flow"):
  """Builds a coupling flow over vectors, conditional on c if `context_shape`.

  Data to latent: flatten, then per layer i an optional ActNorm and a
  coupling on alternating halves (A the first floor(D/2) entries, then the
  last ones). In TFP's direction (latent u to data v) a coupling is

    affine (RealNVP):  v_B = u_B * exp(log s) + t,  log s = a * tanh(h)
    additive (NICE):   v_B = u_B + t

  with v_A = u_A and (t, h) = MLP(u_A) or MLP([u_A, c]) (`ConditionalMLP`),
  so that

    log p(x | c) = log p_Z(z) - sum_i sum_B log s_i(u_A, c) (- ActNorm's).

  RealNVP's couplings on vectors (2-D toys, flattened images); the image
  builders (`flows.realnvp`, `flows.glow`) use convolutions instead.

  Args:
    event_shape: data event shape, e.g. [2] or [8, 8, 1]; D >= 2 entries.
    num_layers: number of couplings.
    hidden_units: hidden sizes of each coupling's MLP.
    coupling: "affine" or "additive".
    context_shape: [C] for a conditional flow p(x | c), else None.
    actnorm: an `ActNorm` (event_ndims=1) before each coupling.
    prior: "gaussian" or "logistic" base.
    activation: the MLPs' activation.
    validate_args: check inputs of every bijector at run time.
    dtype: float dtype.
    name: name of the distribution; layers are `{name}_coupling{i}`.

  Returns:
    `tfd.TransformedDistribution` over `event_shape` with every variable
    created.
  """
  event_shape = [int(d) for d in event_shape]
  dim = int(np.prod(event_shape))
  if dim < 2:
    raise ValueError(f"`event_shape` must hold at least 2 entries; got "
                     f"{event_shape}.")
  if num_layers < 1:
    raise ValueError(f"`num_layers` must be >= 1; got {num_layers}.")
  if coupling not in COUPLINGS:
    raise ValueError(f"`coupling` must be one of {COUPLINGS}; got {coupling!r}.")
  if context_shape is not None:
    context_shape = as_context_shape(context_shape)
  half = dim // 2
  changed = dim - half
  width = 2 * changed if coupling == "affine" else changed
  common = dict(validate_args=validate_args, dtype=dtype)
  # Unflatten first, even for vectors: it flattens images and names the
  # expected and the received shape when data of the wrong shape comes in.
  parts = [flow_bijectors.Unflatten(event_shape, validate_args=validate_args)]
  for i in range(num_layers):
    prefix = f"{name}_coupling{i}"
    if context_shape is None:
      net = nets.MLP(hidden_units, width, activation=activation, dtype=dtype,
                     name=f"{prefix}_net")
    else:
      net = ConditionalMLP(hidden_units, width, context_shape,
                           activation=activation, dtype=dtype,
                           name=f"{prefix}_net")
    net.build([None, half])
    if actnorm:
      parts.append(flow_bijectors.ActNorm(dim, event_ndims=1,
                                          name=f"{name}_actnorm{i}", **common))
    partition = dict(num_masked=half, reverse=i % 2 == 1)
    if coupling == "affine":
      parts.append(flow_bijectors.AffineCoupling(
          net, channels=changed, name=prefix, **partition, **common))
    else:
      parts.append(flow_bijectors.AdditiveCoupling(
          net, name=prefix, **partition, **common))
  # In a Chain the data-side bijector comes first: `inverse` (data ->
  # latent) runs the list left to right.
  return tfd.TransformedDistribution(
      distribution=priors.standard_prior([dim], prior, dtype),
      bijector=tfb.Chain(parts, validate_args=validate_args,
                         name=f"{name}_bijector"),
      validate_args=validate_args,
      name=name)


def _pair(data):
  """`data` as an (x, y) pair, or a ValueError that says what came instead."""
  if isinstance(data, (tuple, list)) and len(data) == 2:
    return tuple(data)
  got = (f"{len(data)} items" if isinstance(data, (tuple, list)) else
         f"a single {type(data).__name__}")
  raise ValueError("ConditionalFlowModel needs `(x, y)` batches (data and "
                   f"class label or context); got {got}.")


class ConditionalFlowModel(training.FlowModel):
  """A `FlowModel` for p(x | y), trained on `(x, y)` batches.

  y is an integer class label [B], one-hot encoded to the context when
  `num_classes` is given, or else a context [B, C] itself. The loss is the
  mean of -log p(x | c(y)); metrics, the NaN guard and bits/dim are
  `FlowModel`'s.

  Example:

  ```python
  dist = conditional.coupling_flow([8, 8, 1], context_shape=[10])
  model = conditional.ConditionalFlowModel(dist, num_classes=10,
                                           num_levels=17)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  model.fit(tfp_flows.data.load("digits", with_labels=True), epochs=50)
  ```
  """

  def __init__(self, distribution, num_classes=None, num_levels=None,
               **kwargs):
    """Wraps a conditional flow.

    Args:
      distribution: a flow with conditional layers (`context_shape` [C]).
      num_classes: C for class labels (one-hot context); None when the
        batches carry context vectors.
      num_levels: K of the data for bits/dim, or None.
      **kwargs: tf_keras.Model arguments.

    Raises:
      ValueError: the flow has no conditional layers, or its context shape
        is not [num_classes].
    """
    super().__init__(distribution, num_levels=num_levels, **kwargs)
    shape = _require_context_shape(distribution)
    if num_classes is not None and shape.as_list() != [num_classes]:
      raise ValueError(
          f"`num_classes`={num_classes} needs a flow with context_shape "
          f"[{num_classes}] (one-hot labels); got {shape.as_list()}.")
    self.context_shape = shape
    self.num_classes = num_classes

  def context(self, y):
    """The context of labels y [B] (one-hot) or context vectors y [B, C]."""
    if self.num_classes is None:
      return y
    y = tf.convert_to_tensor(y)
    if not y.dtype.is_integer:
      raise TypeError("With `num_classes`, `y` must hold integer class labels; "
                      f"got dtype {y.dtype.name}.")
    # tf.one_hot maps an out-of-range label to a zero vector without a word.
    checks = [
        tf.debugging.assert_non_negative(
            y, message="class labels `y` must be >= 0"),
        tf.debugging.assert_less(
            y, tf.cast(self.num_classes, y.dtype),
            message=("class labels `y` must be < "
                     f"num_classes={self.num_classes}")),
    ]
    with tf.control_dependencies(checks):
      return tf.one_hot(y, self.num_classes, dtype=self.distribution.dtype)

  def call(self, inputs):
    """log p(x | c(y)) of each example: (x [B, *event], y) -> [B]."""
    x, y = _pair(inputs)
    return log_prob(self.distribution, x, self.context(y))

  def initialize(self, data):
    """Runs the data-dependent initialisation (ActNorm) on an `(x, y)` batch."""
    self(_pair(data))

  def fit(self, x=None, *args, **kwargs):
    # FlowModel.fit initialises on the first batch's data alone; a
    # conditional flow needs its labels too. Once initialised, FlowModel.fit
    # skips its own initialisation.
    if isinstance(x, tf.data.Dataset) and (self.uninitialized() or
                                           not self.built):
      self.initialize(next(iter(x)))
    return super().fit(x, *args, **kwargs)

  # FlowModel's steps evaluate self(first item of the batch): handing them the
  # (x, y) pair as that first item reuses the update, its non-finite guard
  # and the metrics unchanged.
  def train_step(self, data):
    return super().train_step((_pair(data),))

  def test_step(self, data):
    return super().test_step((_pair(data),))

  def _checked(self, inputs):
    # FlowModel's range check of the data (num_levels) applies to x, not y.
    x, y = _pair(inputs)
    return super()._checked(x), y

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self.num_classes)
    return config


def _assert_finite(value, arg_name):
  return tf.debugging.assert_all_finite(
      value, f"`{arg_name}` must be finite (no NaN or inf).")


class _ConditionalServingModule(tf.Module):
  """`export._ServingModule` with a context input on every signature."""

  def __init__(self, distribution, context_shape):  # pylint: disable=redefined-outer-name
    super().__init__(name="tfp_flows_conditional_serving")
    dtype = distribution.dtype
    event = distribution.event_shape.as_list()
    latent = distribution.distribution.event_shape.as_list()
    # Only the variables are tracked (see export._ServingModule).
    self.flow_variables = list(distribution.variables)
    x_spec = tf.TensorSpec([None] + event, dtype, name="x")
    z_spec = tf.TensorSpec([None] + latent, dtype, name="z")
    c_spec = tf.TensorSpec([None] + context_shape.as_list(), dtype,
                           name="context")

    def guarded(fn, value, arg_name, context, out_event):
      """fn(dist, value, context) after finiteness checks; empty batch: empty."""
      with tf.control_dependencies([_assert_finite(value, arg_name),
                                    _assert_finite(context, "context")]):
        value, context = tf.identity(value), tf.identity(context)
      return applications.unless_empty(
          tf.shape(value)[0], lambda: fn(distribution, value, context),
          [0] + out_event, dtype)

    @tf.function(input_signature=[x_spec, c_spec])
    def log_prob_fn(x, context):
      return {"log_prob": guarded(log_prob, x, "x", context, [])}

    @tf.function(input_signature=[
        c_spec, tf.TensorSpec([], dtype, name="temperature")])
    def sample_fn(context, temperature):
      with tf.control_dependencies([_assert_finite(context, "context")]):
        context = tf.identity(context)
      return {"samples": sample(distribution, tf.shape(context)[0], context,
                                temperature)}

    @tf.function(input_signature=[x_spec, c_spec])
    def encode_fn(x, context):
      return {"z": guarded(encode, x, "x", context, latent)}

    @tf.function(input_signature=[z_spec, c_spec])
    def decode_fn(z, context):
      return {"x": guarded(decode, z, "z", context, event)}

    self.log_prob = log_prob_fn
    self.sample = sample_fn
    self.encode = encode_fn
    self.decode = decode_fn


def export_conditional_saved_model(model, path):
  """Writes a conditional flow as a SavedModel; its signatures take a context.

  Signatures (dynamic batch; contexts c [B, C] float, one-hot for classes):

  * `log_prob(x, context)` -> {"log_prob": [B]}
  * `sample(context, temperature)` -> {"samples": [B, *event_shape]}, one
    sample per context row
  * `encode(x, context)` -> {"z": [B, *latent_shape]}
  * `decode(z, context)` -> {"x": [B, *event_shape]}

  As `tfp_flows.export_saved_model`: plain TensorFlow serves it, the write
  is atomic (`files.atomic_directory`), and a flow with non-finite weights
  is refused.

  Args:
    model: `ConditionalFlowModel` (or any `FlowModel`) or a conditional flow.
    path: output folder.

  Returns:
    The absolute `path`.

  Raises:
    ValueError: the flow has no conditional layers, or non-finite variables.
  """
  distribution = (model.distribution if isinstance(model, training.FlowModel)
                  else model)
  module = _ConditionalServingModule(distribution,
                                     _require_context_shape(distribution))
  export.check_finite_variables(module.flow_variables)
  with files.atomic_directory(path) as staging:
    tf.saved_model.save(
        module, staging,
        signatures={name: getattr(module, name) for name in export.SIGNATURES})
  return os.path.abspath(path)
