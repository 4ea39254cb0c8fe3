"""Saving a trained flow as (config, weights) and rebuilding it.

A folder written by `save_flow` holds `config.json` (the flow's build config:
its builder and every argument it was built with, see
`tfp_flows.flows.build_config`; its name and event shape, as `flow` and
`image_shape`; anything else the caller records) and a
TensorFlow checkpoint of the distribution's variables (ActNorm's
initialisation state included). `load_flow` rebuilds the distribution from
the config alone and restores the variables into it, so the whole Python API
(sampling, inpainting, export) works on a reloaded flow. Every builder is
covered, chains of builders and conditional flows included.
"""

import json
import os

import tensorflow as tf

from tfp_flows import files
from tfp_flows.flows import build_config as build_config_lib
from tfp_flows.flows import registry

__all__ = ["save_flow", "load_flow"]

_CONFIG = "config.json"
_WEIGHTS = "weights"


def save_flow(distribution, directory, **extra):
  """Writes config and weights of `distribution` to `directory`, atomically.

  The folder is written beside `directory` and renamed into place, so a run
  killed while saving leaves the previous save intact.

  Args:
    distribution: a flow built by a `tfp_flows.flows` builder (directly, by
      `registry.build`, or a `chain` of such flows).
    directory: output folder.
    **extra: JSON-serialisable facts to record (dataset, num_levels, ...).

  Returns:
    `directory`.

  Raises:
    ValueError: the flow was not built by a builder (or holds a part that
      was not).
  """
  build = build_config_lib.build_config(distribution)
  config = dict(extra, build=build, flow=build["flow"],
                image_shape=distribution.event_shape.as_list())
  with files.atomic_directory(directory) as staging:
    with open(os.path.join(staging, _CONFIG), "w") as f:
      json.dump(config, f, indent=2)
    tf.train.Checkpoint(flow=distribution).write(
        os.path.join(staging, _WEIGHTS))
  return directory


def load_flow(directory):
  """Rebuilds the flow saved in `directory`; returns (distribution, config).

  A save killed between its two renames (`files.atomic_directory`) left the
  previous save aside; it is put back first.
  """
  files.restore_interrupted(directory)
  path = os.path.join(directory, _CONFIG)
  if not os.path.exists(path):
    raise ValueError(f"No saved flow in {directory!r}: {_CONFIG} is missing "
                     "(write one with `tfp-flows train` or `save_flow`).")
  with open(path) as f:
    config = json.load(f)
  if "build" in config:
    distribution = build_config_lib.rebuild(config["build"])
  else:  # Written before flows recorded their build config.
    options = build_config_lib.upgrade(
        {"flow": config["flow"], "arguments": config["options"]})
    distribution = registry.build(config["flow"], config["image_shape"],
                                  **options["arguments"])
  tf.train.Checkpoint(flow=distribution).read(
      os.path.join(directory, _WEIGHTS)).assert_existing_objects_matched()
  return distribution, config
