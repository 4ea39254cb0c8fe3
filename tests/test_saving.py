"""save_flow / load_flow, and the registry they rebuild flows with."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows
from tfp_flows.flows import registry


def test_round_trip_restores_weights_and_actnorm_state(tmp_path):
  dist = registry.build("glow", [4, 4, 1], num_levels=1, depth=1,
                        hidden_channels=4)
  x = tf.random.stateless_uniform([6, 4, 4, 1], [0, 1])
  dist.log_prob(x)  # ActNorm init
  for v in dist.trainable_variables:
    v.assign_add(tf.random.stateless_normal(v.shape, [2, 3], stddev=0.05))
  path = tfp_flows.save_flow(dist, str(tmp_path / "flow"), "glow", [4, 4, 1],
                             dict(num_levels=1, depth=1, hidden_channels=4),
                             dataset="digits", num_levels=17)
  loaded, config = tfp_flows.load_flow(path)
  assert config["flow"] == "glow" and config["num_levels"] == 17
  # A different batch must not re-initialise the restored ActNorm.
  y = x * 0.3
  np.testing.assert_allclose(loaded.log_prob(y), dist.log_prob(y), rtol=1e-6)
  with open(os.path.join(path, "config.json")) as f:
    assert json.load(f)["options"]["depth"] == 1


def test_save_replaces_atomically(tmp_path):
  dist = registry.build("nice", [2, 2, 1], hidden_units=[4])
  for _ in range(2):
    tfp_flows.save_flow(dist, str(tmp_path / "flow"), "nice", [2, 2, 1],
                        dict(hidden_units=[4]))
  assert sorted(os.listdir(tmp_path)) == ["flow"]


def test_missing_config_and_unknown_names(tmp_path):
  with pytest.raises(ValueError, match="config.json is missing"):
    tfp_flows.load_flow(str(tmp_path))
  with pytest.raises(ValueError, match="Unknown flow 'maf2'"):
    registry.build("maf2", [2, 2, 1])
  with pytest.raises(ValueError, match=r"Options \['depth'\] do not apply"):
    registry.build("nice", [2, 2, 1], depth=3)
