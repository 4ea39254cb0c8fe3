"""Every use of TensorFlow Probability's internals, in one module.

tfp_flows touches TFP beyond its public API in the few places below; each is
imported or looked up here, once, and `tests/test_tfp_internal.py` checks
each one, so that a TFP release that moves or changes one fails in this
module with a message naming it, not deep inside a bijector.

* `prefer_static` (`ps`): shape arithmetic that stays static when it can
  (TFP's own bijectors use it; `tf.shape` would make every shape dynamic).
* `assert_util`: TFP's run-time assertions (checks under `validate_args`).
* `cache_util.BijectorCacheWithGreedyAttrs`: the bijector cache that stores
  a log-det with the output, so one conditioner call serves both
  (`bijectors.base.AugmentedBijector`).
* `tensorshape_util`, `tensor_util`, `parameter_properties`: static shapes
  of shape tensors, variables as bijector parameters, and batch-shape
  declarations, as TFP's bijectors use them.
* `chain_members` and `inverted_bijector`: `tfb.Chain(...)` and
  `tfb.Invert(...)` build the private `_Chain` and `_Invert` classes when a
  member holds Keras layers (`isinstance(b, tfb.Chain)` is then False); the
  context of a conditional flow is routed through them.
* `unnest.get_innermost`: a field of nested MCMC kernel results (NeuTra's
  leapfrog counts, acceptance and step size, `tfp_flows.neutra`), as TFP's
  own examples read them.
* `autoregressive_network_layers`: the Keras layers inside a
  `tfb.AutoregressiveNetwork` (its private `_network`), so that `nets.MADE`
  can zero its output layer.
* `in_xla_context` (TensorFlow's own `control_flow_util`, the one TF
  internal): whether the graph being traced is compiled by XLA, the test
  `tf.function` makes before nesting a `jit_compile=True` function. The
  fused splines (`bijectors.rational_quadratic_spline.transform`) nest one
  only outside XLA: a compiled function nested in a compiled training step
  made every step recompile (2.0 s instead of 16 ms, TF 2.21 CPU).
* Protected hooks our bijectors override (TFP's subclass contract, checked
  by the tests, not wrapped): `Bijector._get_parameterization` (the cache
  key), `Bijector._parameter_properties` and the class attribute `_cache`.
"""

import importlib

import tensorflow as tf

__all__ = [
    "assert_util", "autoregressive_network_layers", "cache_util",
    "chain_members", "in_xla_context", "inverted_bijector", "unnest",
    "parameter_properties", "ps", "tensor_util", "tensorshape_util"
]

_PINNED = "tensorflow-probability 0.25"
_PINNED_TF = "tensorflow 2.21"


def _internal(module, attributes=()):
  """TFP's `tensorflow_probability.python.{module}`, with `attributes` checked."""
  path = f"tensorflow_probability.python.{module}"
  try:
    value = importlib.import_module(path)
  except ImportError as e:
    raise ImportError(
        f"tfp_flows needs the TFP internal module {path} (present in "
        f"{_PINNED}, which tfp_flows pins); this TFP does not have it: {e}"
    ) from e
  missing = [a for a in attributes if not hasattr(value, a)]
  if missing:
    raise ImportError(f"tfp_flows needs {missing} from {path} (present in "
                      f"{_PINNED}); this TFP does not have them.")
  return value


ps = _internal("internal.prefer_static",
               ["concat", "rank", "shape", "size"])
assert_util = _internal("internal.assert_util", [
    "assert_equal", "assert_greater", "assert_greater_equal",
    "assert_less_equal"
])
cache_util = _internal("internal.cache_util",
                       ["BijectorCacheWithGreedyAttrs"])
tensorshape_util = _internal("internal.tensorshape_util",
                             ["constant_value_as_shape"])
tensor_util = _internal("internal.tensor_util", ["convert_nonref_to_tensor"])
parameter_properties = _internal("internal.parameter_properties",
                                 ["ParameterProperties"])
unnest = _internal("internal.unnest", ["get_innermost"])
_control_flow_util = importlib.import_module(
    "tensorflow.python.ops.control_flow_util")
_chain = _internal("bijectors.chain", ["_Chain"])
_invert = _internal("bijectors.invert", ["_Invert"])


def chain_members(bijector):
  """The members of a `tfb.Chain` (data side first), or None for any other bijector.

  TFP hands a Chain's member `b` the bijector kwargs `kwargs[b.name]`.
  """
  if isinstance(bijector, _chain._Chain):  # pylint: disable=protected-access
    return list(bijector.bijectors)
  return None


def inverted_bijector(bijector):
  """The bijector a `tfb.Invert` inverts (it gets all the kwargs), else None."""
  if isinstance(bijector, _invert._Invert):  # pylint: disable=protected-access
    return bijector.bijector
  return None


def autoregressive_network_layers(network):
  """The Keras layers of a built `tfb.AutoregressiveNetwork`, input to output."""
  inner = getattr(network, "_network", None)
  if inner is None:
    raise AttributeError(
        "tfb.AutoregressiveNetwork no longer keeps its layers in `_network` "
        f"(it did in {_PINNED}); nets.MADE cannot zero its output layer.")
  return inner.layers


def in_xla_context():
  """True while tracing a function that XLA compiles (`jit_compile=True`)."""
  check = getattr(_control_flow_util, "GraphOrParentsInXlaContext", None)
  if check is None:
    raise AttributeError(
        "tensorflow.python.ops.control_flow_util no longer has "
        f"GraphOrParentsInXlaContext (it did in {_PINNED_TF}); the fused "
        "splines cannot tell whether they are traced for XLA.")
  return check(tf.compat.v1.get_default_graph())
