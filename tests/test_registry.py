"""The flow registry: every builder by name, options from its own signature."""

import inspect

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import cli
from tfp_flows.flows import registry

import helpers

def test_every_builder_is_registered_and_trainable_from_the_cli():
  assert set(helpers.TINY) == set(registry.BUILDERS)
  assert set(cli.FLOWS) == set(registry.BUILDERS)
  assert set(registry.ARCHITECTURE_DEFAULTS) == set(registry.BUILDERS)
  for name, builder in registry.BUILDERS.items():
    assert getattr(tfp_flows.flows, name) is builder


@pytest.mark.parametrize("name", sorted(registry.BUILDERS))
def test_options_are_the_builders_keyword_arguments(name):
  signature = inspect.signature(registry.BUILDERS[name])
  valid = registry.options(name)
  assert set(registry.ARCHITECTURE_DEFAULTS[name]) <= set(valid)
  assert {"validate_args", "dtype"} <= set(valid)
  assert set(valid) <= set(list(signature.parameters)[1:])


@pytest.mark.parametrize("name", sorted(registry.BUILDERS))
def test_every_builder_keeps_the_contract(name):
  """builder(event_shape, *, ...): the shared options first and last, in the
  registry's orders, each meaning what CONCEPTS says."""
  builder = registry.BUILDERS[name]
  parameters = list(inspect.signature(builder).parameters.values())
  assert parameters[0].name == "event_shape"
  assert parameters[0].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
  keywords = [p.name for p in parameters[1:]]
  assert all(p.kind == inspect.Parameter.KEYWORD_ONLY for p in parameters[1:])
  leading = [k for k in keywords if k in registry.LEADING]
  trailing = [k for k in keywords if k in registry.TRAILING]
  assert keywords[:len(leading)] == leading
  assert leading == [k for k in registry.LEADING if k in leading]
  assert keywords[len(keywords) - len(trailing):] == trailing
  assert trailing == [k for k in registry.TRAILING if k in trailing]
  # Every builder takes a context, a base, validation, a dtype and a name.
  assert {"context_shape", "prior", "validate_args", "dtype",
          "name"} <= set(trailing)
  shape = [4, 4, 1]
  with pytest.raises(TypeError, match="positional argument"):
    builder(shape, list(helpers.TINY[name].values())[-1])
  with pytest.raises(TypeError, match=(
      rf"{name}\(\) got unknown keyword argument 'depht'; it takes "
      rf"{', '.join(keywords)}\.$")):
    builder(shape, depht=3)


def test_options_shared_by_builders_have_one_meaning():
  taken = {}
  for name, builder in registry.BUILDERS.items():
    for option in list(inspect.signature(builder).parameters)[1:]:
      taken.setdefault(option, []).append(name)
  shared = {option for option, names in taken.items() if len(names) > 1}
  assert shared <= set(registry.CONCEPTS), sorted(shared - set(registry.CONCEPTS))
  assert set(registry.CONCEPTS) <= set(taken)


def test_the_cli_reads_every_option_and_default_from_the_builders():
  # The CLI reads the builders' source (to answer --help without
  # TensorFlow): what it reads equals what the imported builders say.
  read = cli._architecture_options()  # pylint: disable=protected-access
  expected = {}
  for name, builder in registry.BUILDERS.items():
    for option, p in list(inspect.signature(builder).parameters.items())[1:]:
      if option in cli._NOT_FLAGS:  # pylint: disable=protected-access
        continue
      default = registry.ARCHITECTURE_DEFAULTS[name].get(option, p.default)
      expected.setdefault(option, {})[name] = default
  assert {option: defaults for option, (defaults, _) in read.items()} == \
      expected
  assert all(help_text for _, help_text in read.values())
  assert cli.TRAIN_DEFAULTS == registry.TRAIN_DEFAULTS
  assert cli.FLOWS == tuple(registry.BUILDERS)


def test_unknown_option_names_the_valid_ones():
  with pytest.raises(ValueError) as info:
    registry.build("maf", [4], num_scales=3)
  message = str(info.value)
  assert "Options ['num_scales'] do not apply to flow 'maf'" in message
  assert "'num_layers'" in message and "'hidden_units'" in message
  with pytest.raises(ValueError, match="Unknown flow 'made_up'"):
    registry.options("made_up")
  # Flow++'s variational dequantizer is built beside the flow.
  with pytest.raises(ValueError, match="do not apply"):
    registry.build("flowpp", [4, 4, 1], dequantization="variational")


# Also: every builder is `tfp_flows.flows.<name>`, and takes images to a
# vector latent (the vector flows flatten them; the multi-scale ones end
# with their factored-out parts gathered into one vector).
@pytest.mark.parametrize("name", sorted(registry.BUILDERS))
def test_save_and_load_every_builder(name, tmp_path):
  assert getattr(tfp_flows.flows, name) is registry.BUILDERS[name]
  shape = [4, 4, 1]
  dist = registry.build(name, shape, **helpers.TINY[name])
  assert dist.event_shape == shape and dist.distribution.event_shape == [16]
  x = tf.random.stateless_uniform([3] + shape, [1, 2])
  dist.log_prob(x)  # data-dependent initialisation (ActNorm)
  for v in dist.trainable_variables:  # weights a fresh build would not have
    v.assign(v + 0.01 * tf.random.stateless_normal(v.shape, [3, 4], dtype=v.dtype))
  want = dist.log_prob(x)
  assert np.all(np.isfinite(want))
  tfp_flows.save_flow(dist, str(tmp_path / "flow"))
  loaded, config = tfp_flows.load_flow(str(tmp_path / "flow"))
  assert config["flow"] == name
  np.testing.assert_allclose(loaded.log_prob(x), want, rtol=1e-4, atol=1e-4)


# 28x28 images (MNIST) in every builder whose training step stays cheap at
# D = 784: IAF's density takes 784 MADE passes per layer and FFJORD's exact
# trace 784 network passes per solver stage (both take such images, slowly).
# A Sylvester layer's density solves its 784 entries one after another
# (15 s for this step on 2 cores): in the slow suite.
MNIST_BUILDERS = sorted(set(registry.BUILDERS) - {"iaf", "ffjord"})
SLOW_MNIST_BUILDERS = {"sylvester"}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=[pytest.mark.slow] * (name in SLOW_MNIST_BUILDERS))
    for name in MNIST_BUILDERS])
def test_one_fit_step_on_28x28_images(name):
  options = dict(helpers.TINY[name])
  if "num_scales" in registry.ARCHITECTURE_DEFAULTS[name]:
    # The registry's squeeze schedule: 28 -> 14 -> 7 for Glow and RealNVP.
    options["num_scales"] = registry.ARCHITECTURE_DEFAULTS[name]["num_scales"]
  tf_keras.utils.set_random_seed(0)
  dist = registry.build(name, [28, 28, 1], **options)
  model = tfp_flows.FlowModel(dist, num_levels=256)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  images = helpers.saturated_images(4, 28, seed=0)
  data = tf.data.Dataset.from_tensors((images + 0.5) / 256.)
  history = model.fit(data, epochs=1, verbose=0)
  assert np.isfinite(history.history["loss"][0])
  assert dist.event_shape == [28, 28, 1]


def test_seed_is_taken_by_every_flow_and_draws_seeded_weights():
  # Builders without a seed of their own ignore it (`tfp-flows train --seed`
  # passes it to every flow).
  registry.build("nice", [4], seed=1, **helpers.TINY.get("nice", {}))
  for name in ("bnaf", "residual_flow"):
    kwargs = dict(helpers.TINY.get(name, {}))
    first = registry.build(name, [4], seed=0, **kwargs)
    again = registry.build(name, [4], seed=0, **kwargs)
    other = registry.build(name, [4], seed=1, **kwargs)
    same = [np.array_equal(a, b) for a, b in zip(first.trainable_variables,
                                                 again.trainable_variables)]
    differ = [not np.array_equal(a, b) for a, b in zip(
        first.trainable_variables, other.trainable_variables)]
    assert all(same) and any(differ), name
