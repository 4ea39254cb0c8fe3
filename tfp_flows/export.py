"""Export a flow as a SavedModel that plain TensorFlow can serve.

The SavedModel holds the flow's variables and four serving signatures, each
with a dynamic batch dimension:

* `log_prob(x)`: x [B, *event_shape] float32 -> {"log_prob": [B]}
* `sample(n, temperature)`: int32 n >= 0, float32 T >= 0 ->
  {"samples": [n, *event_shape]} (temperature sampling, see
  `tfp_flows.sample`)
* `encode(x)`: data -> {"z": [B, *latent_shape]}
* `decode(z)`: latents -> {"x": [B, *event_shape]}

A conditional flow (built with `context_shape=[C]`) gets the same four
signatures with a context input c [B, C] (one-hot for classes):
`log_prob(x, context)`, `sample(context, temperature)` (one sample per
context row), `encode(x, context)` and `decode(z, context)`.

Loading needs only TensorFlow (no tfp_flows, no TFP):

```python
dist = tfp_flows.flows.nice([8, 8, 1])  # trained first, in practice
tfp_flows.export_saved_model(dist, "saved_models/nice-digits")
m = tf.saved_model.load("saved_models/nice-digits")
images = tf.random.uniform([4, 8, 8, 1])
m.signatures["log_prob"](x=images)["log_prob"]
m.sample(tf.constant(16), tf.constant(0.7))  # also callable as functions
```

Loading a SavedModel runs its graph: load only models you trust.
"""

import os

import numpy as np
import tensorflow as tf

from tfp_flows import applications
from tfp_flows import context as context_lib
from tfp_flows import files
from tfp_flows import training

__all__ = ["check_finite_variables", "export_saved_model", "SIGNATURES"]

SIGNATURES = ("log_prob", "sample", "encode", "decode")


def _finite(value, arg_name):
  return tf.debugging.assert_all_finite(
      value, f"`{arg_name}` must be finite (no NaN or inf).")


class _ServingModule(tf.Module):
  """The exported object: the flow's variables and its serving functions."""

  def __init__(self, distribution):
    super().__init__(name="tfp_flows_serving")
    dtype = distribution.dtype
    event = distribution.event_shape.as_list()
    latent = distribution.distribution.event_shape.as_list()
    shape = context_lib.context_shape(distribution)
    # Only the variables are tracked, not the distribution: the SavedModel
    # then carries no Python objects that would need tfp_flows to revive.
    self.flow_variables = list(distribution.variables)

    x_spec = tf.TensorSpec([None] + event, dtype, name="x")
    z_spec = tf.TensorSpec([None] + latent, dtype, name="z")
    t_spec = tf.TensorSpec([], dtype, name="temperature")

    def guarded(fn, value, arg_name, out_event, context=None):
      """fn(value, context) after finiteness checks; empty batch: empty."""
      checks = [_finite(value, arg_name)]
      if context is not None:
        checks.append(_finite(context, "context"))
      with tf.control_dependencies(checks):
        value = tf.identity(value)
        context = None if context is None else tf.identity(context)
      return applications.unless_empty(
          tf.shape(value)[0], lambda: fn(distribution, value, context),
          [0] + out_event, dtype)

    if shape is None:
      @tf.function(input_signature=[x_spec])
      def log_prob(x):
        return {"log_prob": guarded(applications.log_prob, x, "x", [])}

      @tf.function(input_signature=[tf.TensorSpec([], tf.int32, name="n"),
                                    t_spec])
      def sample(n, temperature):
        return {"samples": applications.sample(distribution, n, temperature)}

      @tf.function(input_signature=[x_spec])
      def encode(x):
        return {"z": guarded(applications.encode, x, "x", latent)}

      @tf.function(input_signature=[z_spec])
      def decode(z):
        return {"x": guarded(applications.decode, z, "z", event)}
    else:
      c_spec = tf.TensorSpec([None] + shape.as_list(), dtype, name="context")

      @tf.function(input_signature=[x_spec, c_spec])
      def log_prob(x, context):
        return {"log_prob": guarded(applications.log_prob, x, "x", [],
                                    context)}

      @tf.function(input_signature=[c_spec, t_spec])
      def sample(context, temperature):
        with tf.control_dependencies([_finite(context, "context")]):
          context = tf.identity(context)
        return {"samples": applications.sample(
            distribution, tf.shape(context)[0], temperature,
            context=context)}

      @tf.function(input_signature=[x_spec, c_spec])
      def encode(x, context):
        return {"z": guarded(applications.encode, x, "x", latent, context)}

      @tf.function(input_signature=[z_spec, c_spec])
      def decode(z, context):
        return {"x": guarded(applications.decode, z, "z", event, context)}

    self.log_prob = log_prob
    self.sample = sample
    self.encode = encode
    self.decode = decode


def check_finite_variables(variables):
  """Raises ValueError naming the variables that hold NaN or inf values."""
  bad = [v.name for v in variables if not np.all(np.isfinite(v.numpy()))]
  if bad:
    raise ValueError(
        f"Refusing to export: variables {bad} hold NaN or inf values.")


def export_saved_model(model, path):
  """Writes `model` (a FlowModel or a distribution) as a SavedModel at `path`.

  The write is atomic: the SavedModel is built in a temporary folder beside
  `path` and moved into place, so an existing export is replaced only by a
  complete one. A flow with non-finite weights is refused.

  Args:
    model: `tfp_flows.FlowModel` or `tfd.TransformedDistribution`.
    path: output folder.

  Returns:
    `path`.

  Raises:
    ValueError: the flow has non-finite variables.
  """
  # Not getattr(model, "distribution"): a TransformedDistribution has one too
  # (its base).
  distribution = (model.distribution if isinstance(model, training.FlowModel)
                  else model)
  check_finite_variables(distribution.variables)
  module = _ServingModule(distribution)
  with files.atomic_directory(path) as staging:
    tf.saved_model.save(
        module, staging,
        signatures={name: getattr(module, name) for name in SIGNATURES})
  return os.path.abspath(path)
