"""Deprecated names of conditional flows, kept for one release.

Conditional flows p(x | c) are now part of the one API: every builder takes
`context_shape=[C]`, `tfp_flows.FlowModel` trains them (`num_classes=` for
class labels), `tfp_flows.export_saved_model` exports them with context
inputs, and `tfp_flows.sample`, `encode`, `decode` (and the other
applications) take `context=`. The context convention and its routing live
in `tfp_flows.context`. Each name below forwards to its replacement with a
`DeprecationWarning`.
"""

import warnings

from tfp_flows import applications
from tfp_flows import export
from tfp_flows import nets
from tfp_flows import training
from tfp_flows.context import as_context_shape
from tfp_flows.context import bijector_kwargs
from tfp_flows.context import check_context
from tfp_flows.context import context_shape
from tfp_flows.flows.coupling_flow import COUPLINGS
from tfp_flows.flows.coupling_flow import coupling_flow as _coupling_flow

__all__ = [
    "ConditionalFlowModel", "ConditionalMLP", "COUPLINGS", "as_context_shape",
    "bijector_kwargs", "check_context", "context_shape", "coupling_flow",
    "decode", "encode", "export_conditional_saved_model", "log_prob", "sample"
]

def _deprecated(old, new):
  warnings.warn(f"tfp_flows.conditional.{old} is deprecated; use {new}.",
                DeprecationWarning, stacklevel=3)


class ConditionalMLP(nets.MLP):
  """Deprecated: `nets.MLP(hidden_units, output_units, context_shape=[C])`."""

  def __init__(self, hidden_units, output_units, context_shape,  # pylint: disable=redefined-outer-name
               activation="relu", **kwargs):
    _deprecated("ConditionalMLP", "tfp_flows.nets.MLP(..., context_shape=)")
    super().__init__(hidden_units, output_units, activation=activation,
                     context_shape=context_shape, **kwargs)


class ConditionalFlowModel(training.FlowModel):
  """Deprecated: `tfp_flows.FlowModel(dist, num_classes=...)`."""

  def __init__(self, distribution, num_classes=None, num_levels=None,
               **kwargs):
    _deprecated("ConditionalFlowModel",
                "tfp_flows.FlowModel(distribution, num_classes=...)")
    super().__init__(distribution, num_levels=num_levels,
                     num_classes=num_classes, **kwargs)
    if self.context_shape is None:
      raise ValueError(
          f"{distribution.name} has no conditional layers; build it with "
          "`context_shape=[C]`.")


def coupling_flow(*args, **kwargs):
  """Deprecated: `tfp_flows.flows.coupling_flow`."""
  _deprecated("coupling_flow", "tfp_flows.flows.coupling_flow")
  return _coupling_flow(*args, **kwargs)


def log_prob(dist, x, context):
  """Deprecated: `tfp_flows.applications.log_prob(dist, x, context)`."""
  _deprecated("log_prob", "tfp_flows.log_prob(dist, x, context)")
  return applications.log_prob(dist, x, context)


def encode(dist, x, context):
  """Deprecated: `tfp_flows.encode(dist, x, context)`."""
  _deprecated("encode", "tfp_flows.encode(dist, x, context)")
  return applications.encode(dist, x, context)


def decode(dist, z, context):
  """Deprecated: `tfp_flows.decode(dist, z, context)`."""
  _deprecated("decode", "tfp_flows.decode(dist, z, context)")
  return applications.decode(dist, z, context)


def sample(dist, n, context, temperature=1.0, seed=None):
  """Deprecated: `tfp_flows.sample(dist, n, temperature, seed, context)`."""
  _deprecated("sample", "tfp_flows.sample(dist, n, context=context)")
  return applications.sample(dist, n, temperature, seed, context=context)


def export_conditional_saved_model(model, path):
  """Deprecated: `tfp_flows.export_saved_model` (signatures from the flow)."""
  _deprecated("export_conditional_saved_model",
              "tfp_flows.export_saved_model")
  distribution = (model.distribution if isinstance(model, training.FlowModel)
                  else model)
  if context_shape(distribution) is None:
    raise ValueError(f"{distribution.name} has no conditional layers; build "
                     "it with `context_shape=[C]`.")
  return export.export_saved_model(model, path)
