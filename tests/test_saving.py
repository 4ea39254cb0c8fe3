"""save_flow / load_flow, and the registry they rebuild flows with."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows
from tfp_flows.flows import registry


def test_round_trip_restores_weights_and_actnorm_state(tmp_path):
  dist = registry.build("glow", [4, 4, 1], num_scales=1, num_layers=1,
                        hidden_units=4)
  x = tf.random.stateless_uniform([6, 4, 4, 1], [0, 1])
  dist.log_prob(x)  # ActNorm init
  for v in dist.trainable_variables:
    v.assign_add(tf.random.stateless_normal(v.shape, [2, 3], stddev=0.05))
  # The flow records how it was built: nothing to re-describe.
  path = tfp_flows.save_flow(dist, str(tmp_path / "flow"), dataset="digits",
                             num_levels=17)
  loaded, config = tfp_flows.load_flow(path)
  assert config["flow"] == "glow" and config["num_levels"] == 17
  # A different batch must not re-initialise the restored ActNorm.
  y = x * 0.3
  np.testing.assert_array_equal(loaded.log_prob(y), dist.log_prob(y))
  with open(os.path.join(path, "config.json")) as f:
    saved = json.load(f)
  assert saved["build"]["arguments"]["num_layers"] == 1
  assert saved["image_shape"] == [4, 4, 1]


def test_chain_round_trip_restores_every_part(tmp_path):
  flows = tfp_flows.flows
  dist = flows.chain(flows.nice([2], hidden_units=[4]),
                     flows.maf([2], num_layers=2, hidden_units=[4]))
  x = tf.random.stateless_normal([5, 2], [0, 4])
  dist.log_prob(x)
  for i, v in enumerate(dist.trainable_variables):
    v.assign_add(tf.random.stateless_normal(v.shape, [3, i], stddev=0.3))
  loaded, config = tfp_flows.load_flow(
      tfp_flows.save_flow(dist, str(tmp_path / "flow")))
  assert config["flow"] == "chain"
  np.testing.assert_array_equal(loaded.log_prob(x), dist.log_prob(x))
  # Control: the perturbed weights matter (a chain rebuilt without them, or
  # with one part's weights lost, scores differently).
  fresh = flows.chain(flows.nice([2], hidden_units=[4]),
                      flows.maf([2], num_layers=2, hidden_units=[4]))
  assert not np.allclose(fresh.log_prob(x), dist.log_prob(x), rtol=1e-3)
  for part in range(2):
    reloaded, _ = tfp_flows.load_flow(str(tmp_path / "flow"))
    # The chain's members are its parts' bijectors, data side first.
    for v in reloaded.bijector.bijectors[part].trainable_variables:
      v.assign(tf.zeros_like(v))
    assert not np.allclose(reloaded.log_prob(x), dist.log_prob(x), rtol=1e-3)


def test_configs_written_before_build_configs_still_load(tmp_path):
  dist = registry.build("nice", [2, 2, 1], hidden_units=[4])
  path = str(tmp_path / "flow")
  tfp_flows.save_flow(dist, path)
  with open(os.path.join(path, "config.json")) as f:
    config = json.load(f)
  del config["build"]
  config.update(flow="nice", image_shape=[2, 2, 1],
                options=dict(hidden_units=[4]))
  with open(os.path.join(path, "config.json"), "w") as f:
    json.dump(config, f)
  loaded, _ = tfp_flows.load_flow(path)
  x = tf.random.stateless_uniform([3, 2, 2, 1], [0, 1])
  np.testing.assert_array_equal(loaded.log_prob(x), dist.log_prob(x))


def test_flows_no_builder_made_are_refused(tmp_path):
  import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top
  tfd, tfb = tfp.distributions, tfp.bijectors
  plain = tfd.TransformedDistribution(tfd.Normal(0., 1.), tfb.Exp())
  with pytest.raises(ValueError, match="not built by a tfp_flows builder"):
    tfp_flows.save_flow(plain, str(tmp_path / "a"))
  mixed = tfp_flows.flows.chain(tfb.Scale(2.), registry.build(
      "nice", [2, 2, 1], hidden_units=[4]))
  with pytest.raises(ValueError, match="that no tfp_flows builder made"):
    tfp_flows.save_flow(mixed, str(tmp_path / "b"))
  assert not os.listdir(tmp_path)


def test_save_replaces_atomically(tmp_path):
  dist = registry.build("nice", [2, 2, 1], hidden_units=[4])
  for _ in range(2):
    tfp_flows.save_flow(dist, str(tmp_path / "flow"))
  assert sorted(os.listdir(tmp_path)) == ["flow"]


def test_missing_config_and_unknown_names(tmp_path):
  with pytest.raises(ValueError, match="config.json is missing"):
    tfp_flows.load_flow(str(tmp_path))
  with pytest.raises(ValueError, match="Unknown flow 'maf2'"):
    registry.build("maf2", [2, 2, 1])
  with pytest.raises(ValueError, match=r"Options \['num_scales'\] do not apply"):
    registry.build("nice", [2, 2, 1], num_scales=3)


_RELEASE_0_1_0 = os.path.join(os.path.dirname(__file__), "fixtures",
                              "release-0.1.0")


@pytest.mark.parametrize("name", ["glow", "glow_maf_chain"])
def test_saves_of_release_0_1_0_load_as_they_were(name):
  # Saved by 0.1.0, whose Glow divided by sigmoid(h + 2) from data to
  # latent; the builder's default is now the paper's orientation, so only
  # the config's upgrade (version 0 -> scale_fn="sigmoid") keeps them.
  with open(os.path.join(_RELEASE_0_1_0, "log_prob.json")) as f:
    recorded = json.load(f)
  x = tf.constant(recorded["x"], tf.float32)
  loaded, config = tfp_flows.load_flow(os.path.join(_RELEASE_0_1_0, name))
  assert "version" not in config["build"]
  np.testing.assert_allclose(loaded.log_prob(x), recorded[name], rtol=1e-5)
  # Control: the same weights in the current default Glow score otherwise.
  current = tfp_flows.flows.build_config.upgrade(config["build"])
  assert current["version"] == tfp_flows.flows.build_config.VERSION

  def default_scale(arguments):
    arguments = dict(arguments)
    if arguments.get("scale_fn") == "sigmoid":
      arguments["scale_fn"] = "inverse_sigmoid"
    if "parts" in arguments:
      arguments["parts"] = [
          {"flow_config": dict(p["flow_config"], arguments=default_scale(
              p["flow_config"]["arguments"]))} for p in arguments["parts"]]
    return arguments

  other = tfp_flows.flows.build_config.rebuild(
      dict(current, arguments=default_scale(current["arguments"])))
  tf.train.Checkpoint(flow=other).read(
      os.path.join(_RELEASE_0_1_0, name, "weights")).assert_existing_objects_matched()
  assert np.max(np.abs(other.log_prob(x) - np.array(recorded[name]))) > 0.1


_CONFIG_V1 = os.path.join(os.path.dirname(__file__), "fixtures", "config-v1")
with open(os.path.join(_CONFIG_V1, "log_prob.json")) as _f:
  _V1_LOG_PROB = json.load(_f)


@pytest.mark.parametrize("name", sorted(set(_V1_LOG_PROB) - {"x", "context"}))
def test_saves_of_config_version_1_load_as_they_were(name):
  # Saved before the builders' contract: image_shape, depth,
  # hidden_channels, filters, num_coupling_layers, Flow++'s
  # dequantization="variational" (the flow of its pair).
  x = tf.constant(_V1_LOG_PROB["x"], tf.float32)
  loaded, config = tfp_flows.load_flow(os.path.join(_CONFIG_V1, name))
  assert config["build"]["version"] == 1
  kwargs = {}
  if name.endswith("_context"):
    kwargs = tfp_flows.context.bijector_kwargs(
        loaded, tf.constant(_V1_LOG_PROB["context"], tf.float32))
  np.testing.assert_allclose(loaded.log_prob(x, bijector_kwargs=kwargs),
                             _V1_LOG_PROB[name], rtol=1e-5, atol=1e-5)
  upgraded = tfp_flows.flows.build_config.upgrade(config["build"])
  assert upgraded["version"] == tfp_flows.flows.build_config.VERSION
  assert upgraded["arguments"]["event_shape"] == [4, 4, 1]
  # What the config records, the rebuilt flow's config repeats (options
  # added since take their defaults).
  rebuilt = tfp_flows.flows.build_config.build_config(loaded)["arguments"]
  assert {k: rebuilt[k] for k in upgraded["arguments"]} == \
      upgraded["arguments"]


_CONFIG_V2 = os.path.join(os.path.dirname(__file__), "fixtures", "config-v2")
with open(os.path.join(_CONFIG_V2, "log_prob.json")) as _f:
  _V2_LOG_PROB = json.load(_f)


@pytest.mark.parametrize("name", sorted(set(_V2_LOG_PROB) - {"x"}))
def test_saves_from_before_transformers_load_as_they_were(name):
  # Saved when each named coupling and MADE layer carried its own transform;
  # now they are presets of Coupling and Autoregressive with a transformer,
  # and a layer's own variables (scale_factor) stay on its checkpoint path.
  x = tf.constant(_V2_LOG_PROB["x"], tf.float32)
  path = os.path.join(_CONFIG_V2, name)
  loaded, config = tfp_flows.load_flow(path)
  assert config["build"]["version"] == 2
  np.testing.assert_allclose(loaded.log_prob(x), _V2_LOG_PROB[name],
                             rtol=1e-5, atol=1e-5)
  fresh = tfp_flows.flows.build_config.rebuild(config["build"])
  tf.train.Checkpoint(flow=fresh).read(
      os.path.join(path, "weights")).assert_consumed()


def test_configs_record_their_version_and_glow_its_scale():
  config = tfp_flows.flows.build_config.build_config(
      registry.build("glow", [4, 4, 1], num_scales=1, num_layers=1,
                     hidden_units=4))
  assert config["version"] == tfp_flows.flows.build_config.VERSION
  assert config["arguments"]["scale_fn"] == "inverse_sigmoid"
  with pytest.raises(ValueError, match="newer than this release"):
    tfp_flows.flows.build_config.rebuild(dict(config, version=99))
