"""Builders record the arguments they were called with, so a flow can be rebuilt.

Every builder of `tfp_flows.flows` is decorated with `records`: the flow it
returns carries its builder's name and every argument (defaults filled in)
as JSON, which `build_config(flow)` reads and `rebuild(config)` turns back
into an equal flow (new variables). `save_flow` / `load_flow` use them, so a
saved flow needs no re-description by the caller. A `chain` records the
configs of its parts; a part not built by a builder (a TFP bijector) has
none, and such a chain cannot be rebuilt.

Configs carry a `version` (`VERSION`); `rebuild` upgrades older ones
(`upgrade`), so flows saved by earlier releases rebuild as they were.
"""

import functools
import inspect
import json

import numpy as np
import tensorflow as tf

from tfp_flows.bijectors import transformers

__all__ = ["VERSION", "build_config", "rebuild", "records", "upgrade"]

_ATTRIBUTE = "_tfp_flows_build_config"

# Version of the configs `records` writes. Version 0 (no "version" key):
# tfp-flows 0.1.0, whose Glow had no `scale_fn` and divided by
# sigmoid(h + 2) from data to latent ("sigmoid"). Version 1: before every
# builder took one contract (`event_shape`, `num_layers`, `hidden_units`;
# `_RENAMED_IN_2`), when Flow++ built its variational dequantizer itself.
VERSION = 2

# Version 1 -> 2: builder -> {old argument: new argument}; None drops it.
_RENAMED_IN_2 = {
    "nice": {"image_shape": "event_shape", "num_coupling_layers": "num_layers"},
    "realnvp": {"image_shape": "event_shape", "hidden_channels": "hidden_units"},
    "glow": {"image_shape": "event_shape", "depth": "num_layers",
             "hidden_channels": "hidden_units"},
    # The flow of ("variational") is the flow of ("uniform"): the dequantizer
    # is saved apart (`saving.save_flow` never held it).
    "flowpp": {"image_shape": "event_shape", "filters": "hidden_units",
               "dequantization": None, "dequantizer_options": None},
}


class _NotRecordable(ValueError):
  pass


def _jsonable(value, where):
  """`value` as JSON data; flows (chain parts) and transformers become their configs."""
  if value is None or isinstance(value, (bool, int, float, str)):
    return value
  if isinstance(value, (np.integer, np.floating)):
    return value.item()
  if isinstance(value, tf.dtypes.DType):
    return {"dtype": value.name}
  if isinstance(value, tf.TensorShape):
    return value.as_list()
  if isinstance(value, (list, tuple)):
    return [_jsonable(v, where) for v in value]
  if isinstance(value, transformers.Transformer):
    return {"transformer": {"class": type(value).__name__,
                            "config": _jsonable(value.get_config(), where)}}
  if isinstance(value, dict):
    return {str(k): _jsonable(v, where) for k, v in value.items()}
  config = getattr(value, _ATTRIBUTE, None)
  if config is not None:
    return {"flow_config": json.loads(config)}
  raise _NotRecordable(
      f"{where} is a {type(value).__name__} ({getattr(value, 'name', '')!r}) "
      "that no tfp_flows builder made, so the flow cannot be saved as a "
      "config; save its weights with tf.train.Checkpoint instead.")


def _restore(value):
  """Inverse of `_jsonable`: dtypes, transformers and nested flows rebuilt."""
  if isinstance(value, list):
    return [_restore(v) for v in value]
  if isinstance(value, dict):
    if set(value) == {"dtype"}:
      return tf.as_dtype(value["dtype"])
    if set(value) == {"flow_config"}:
      return rebuild(value["flow_config"])
    if set(value) == {"transformer"}:
      return transformers.from_config(value["transformer"]["class"],
                                      value["transformer"]["config"])
    return {k: _restore(v) for k, v in value.items()}
  return value


def _check_keywords(builder, signature, kwargs):
  """A TypeError naming the valid keywords for a keyword `builder` lacks."""
  if any(p.kind == inspect.Parameter.VAR_KEYWORD
         for p in signature.parameters.values()):
    return
  valid = [name for name, p in signature.parameters.items()
           if p.kind == inspect.Parameter.KEYWORD_ONLY]
  unknown = sorted(set(kwargs) - set(signature.parameters))
  if unknown:
    raise TypeError(
        f"{builder.__name__}() got unknown keyword argument"
        f"{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
        f"it takes {', '.join(valid)}.")


def records(builder):
  """Decorates a builder so that its flows carry their build config.

  The decorated builder also refuses an unknown keyword in one line that
  lists the ones it takes.
  """
  signature = inspect.signature(builder)

  @functools.wraps(builder)
  def wrapper(*args, **kwargs):
    _check_keywords(builder, signature, kwargs)
    result = builder(*args, **kwargs)
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    # *parts of `chain` arrive as a tuple under their name.
    try:
      config = {"flow": builder.__name__, "version": VERSION,
                "arguments": _jsonable(arguments, f"An argument of "
                                       f"{builder.__name__}")}
    except _NotRecordable as e:
      config = {"error": str(e)}
    # A JSON string: a dict attribute would be wrapped by tf.Module tracking.
    setattr(result, _ATTRIBUTE, json.dumps(config))
    return result

  return wrapper


def build_config(flow):
  """{"flow": builder name, "arguments": {...}} of a flow a builder made.

  Raises:
    ValueError: `flow` was not made by a builder, or holds a part that was
      not (a chain with a TFP bijector, say).
  """
  config = getattr(flow, _ATTRIBUTE, None)
  if config is None:
    raise ValueError(
        f"{getattr(flow, 'name', flow)!r} was not built by a tfp_flows "
        "builder (tfp_flows.flows.*), so it has no build config to save; "
        "save its weights with tf.train.Checkpoint instead.")
  config = json.loads(config)
  if "error" in config:
    raise ValueError(config["error"])
  return config


def _upgrade_arguments(flow, arguments, version):
  """A version-`version` builder's `arguments` as the current one reads them."""
  arguments = dict(arguments)
  if (version < 1 and flow == "glow" and "scale_fn" not in arguments and
      arguments.get("coupling", "affine") == "affine"):
    arguments["scale_fn"] = "sigmoid"
  if version < 2:
    for old, new in _RENAMED_IN_2.get(flow, {}).items():
      if old in arguments:
        value = arguments.pop(old)
        if new is not None:
          arguments[new] = value
  for key, value in arguments.items():
    if isinstance(value, list):  # `chain`'s parts: nested configs.
      arguments[key] = [
          {"flow_config": upgrade(v["flow_config"], version=version)}
          if isinstance(v, dict) and set(v) == {"flow_config"} else v
          for v in value]
  return arguments


def upgrade(config, version=None, builder=None):
  """`config` (a `build_config`) as the current builders read it.

  Args:
    config: a config of any version.
    version: its version; None reads it from the config (0 when absent).
      A chain's parts are upgraded with the chain's version.
    builder: None, or the config's builder: its arguments the config lacks
      (added after the config was written) are then filled in with their
      defaults, as `records` would record them today.

  Returns:
    A config of version `VERSION` that rebuilds the flow it described.
  """
  version = config.get("version", 0) if version is None else version
  if version > VERSION:
    raise ValueError(
        f"The config is of version {version}, newer than this release's "
        f"{VERSION}: upgrade tfp-flows to rebuild it.")
  if version < VERSION:
    config = dict(config, version=VERSION,
                  arguments=_upgrade_arguments(config["flow"],
                                               config["arguments"], version))
  if builder is None:
    return config
  defaults = {name: _jsonable(p.default, f"{name} of {builder.__name__}")
              for name, p in inspect.signature(builder).parameters.items()
              if p.default is not inspect.Parameter.empty}
  return dict(config, arguments=dict(defaults, **config["arguments"]))


def rebuild(config):
  """The flow `config` describes (`build_config`), with fresh variables.

  A config of an earlier version is upgraded first (`upgrade`).
  """
  config = upgrade(config)
  # pylint: disable=g-import-not-at-top
  from tfp_flows.flows.chain import chain
  from tfp_flows.flows import registry
  builders = dict(registry.BUILDERS, chain=chain)
  name = config["flow"]
  if name not in builders:
    raise ValueError(f"Unknown flow {name!r} in the config; known: "
                     f"{sorted(builders)}.")
  builder = builders[name]
  arguments = _restore(config["arguments"])
  positional = [p.name for p in inspect.signature(builder).parameters.values()
                if p.kind == inspect.Parameter.VAR_POSITIONAL]
  args = arguments.pop(positional[0]) if positional else []
  return builder(*args, **arguments)
