"""Saving a trained flow as (config, weights) and rebuilding it.

A folder written by `save_flow` holds `config.json` (the flow's name, image
shape and builder options, plus anything else the caller records) and a
TensorFlow checkpoint of the distribution's variables (ActNorm's
initialisation state included). `load_flow` rebuilds the distribution with
`tfp_flows.flows.registry.build` and restores the variables into it, so the
whole Python API (sampling, inpainting, export) works on a reloaded flow.
"""

import json
import os

import tensorflow as tf

from tfp_flows import files
from tfp_flows.flows import registry

__all__ = ["save_flow", "load_flow"]

_CONFIG = "config.json"
_WEIGHTS = "weights"


def save_flow(distribution, directory, flow, image_shape, options=None,
              **extra):
  """Writes config and weights of `distribution` to `directory`, atomically.

  The folder is written beside `directory` and renamed into place, so a run
  killed while saving leaves the previous save intact.

  Args:
    distribution: the flow, built by `registry.build(flow, image_shape,
      **options)`.
    directory: output folder.
    flow: the flow's name in `registry.BUILDERS`.
    image_shape: [H, W, C].
    options: the builder options used.
    **extra: JSON-serialisable facts to record (dataset, num_levels, ...).

  Returns:
    `directory`.
  """
  config = dict(extra, flow=flow, image_shape=list(image_shape),
                options=dict(options or {}))
  with files.atomic_directory(directory) as staging:
    with open(os.path.join(staging, _CONFIG), "w") as f:
      json.dump(config, f, indent=2)
    tf.train.Checkpoint(flow=distribution).write(
        os.path.join(staging, _WEIGHTS))
  return directory


def load_flow(directory):
  """Rebuilds the flow saved in `directory`; returns (distribution, config)."""
  path = os.path.join(directory, _CONFIG)
  if not os.path.exists(path):
    raise ValueError(f"No saved flow in {directory!r}: {_CONFIG} is missing "
                     "(write one with `tfp-flows train` or `save_flow`).")
  with open(path) as f:
    config = json.load(f)
  distribution = registry.build(config["flow"], config["image_shape"],
                                **config["options"])
  tf.train.Checkpoint(flow=distribution).read(
      os.path.join(directory, _WEIGHTS)).assert_existing_objects_matched()
  return distribution, config
