"""Transformers in the generic coupling and autoregressive layers, and in the builders.

Every transformer of `bijectors.transformers.TRANSFORMERS` runs the harness
in both layers (a coupling split, a coupling mask, a MADE), so a new
transformer cannot skip it: the core checks in float64 here, the full
harness (float32 too, tf.function, XLA, SavedModel) in the slow suite.
"""

import inspect

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import bijectors
from tfp_flows import flows
from tfp_flows import testing
from tfp_flows.bijectors import masks
from tfp_flows.bijectors import transformers
from tfp_flows.flows.glow import SPLINE_COUPLING
from tfp_flows.nets import MLP

import helpers

# Small instances of every transformer; affine once per scale function.
CASES = {
    "additive": lambda: transformers.Additive(),
    "affine_exp_tanh": lambda: transformers.Affine(),
    "affine_inverse_sigmoid": lambda: transformers.Affine(
        scale_fn="inverse_sigmoid"),
    "affine_sigmoid": lambda: transformers.Affine(scale_fn="sigmoid"),
    "affine_soft_tanh": lambda: transformers.Affine(scale_fn="soft_tanh"),
    "spline": lambda: transformers.Spline(num_bins=4, bound=2.),
    "logistic_mixture": lambda: transformers.LogisticMixture(
        num_components=3),
    "sigmoidal": lambda: transformers.Sigmoidal(num_sigmoids=3, bound=4.),
}
LAYOUTS = ("split", "mask", "autoregressive")
CORE_CHECKS = ("round_trip_forward", "round_trip_inverse", "log_det_inverse",
               "jacobian", "batch_shape", "trainable_variables")


def _layer(case, layout, dtype):
  """A seeded layer over [4] vectors with CASES[case] in `layout`."""
  transformer = CASES[case]()
  p = transformer.num_params
  if layout == "autoregressive":
    return bijectors.Autoregressive(
        helpers.made(4, [8], dtype=dtype, params=p, input_order="random"),
        transformer, dtype=dtype)
  if layout == "split":
    net = MLP([8], output_units=2 * p, dtype=dtype)
    net.build([None, 2])
    return bijectors.Coupling(net, transformer, num_masked=2, reverse=True,
                              channels=2, dtype=dtype)
  # A mask: the network sees the masked vector, predicts for every entry.
  net = MLP([8], output_units=4 * p, dtype=dtype)
  net.build([None, 4])
  return bijectors.Coupling(net, transformer, mask=masks.halves(4, parity=1),
                            channels=4, dtype=dtype)


def test_every_transformer_has_cases():
  public = {name for name in transformers.__all__
            if inspect.isclass(getattr(transformers, name)) and
            issubclass(getattr(transformers, name), transformers.Transformer)
            and name != "Transformer"}
  assert public == {t.__name__ for t in transformers.TRANSFORMERS}
  assert {type(make()).__name__ for make in CASES.values()} == public


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_core_harness(case, layout):
  testing.check_bijector(lambda dtype: _layer(case, layout, dtype), [4],
                         dtypes=(tf.float64,), checks=CORE_CHECKS,
                         perturb_variables=0.3, expect_trainable=True)


@pytest.mark.slow
@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_full_harness(case, layout):
  testing.check_bijector(lambda dtype: _layer(case, layout, dtype), [4],
                         perturb_variables=0.3, expect_trainable=True)


def _packed_layer(case, dtype):
  """A seeded coupling over [4, 4, 2] images, the checkerboard packed."""
  transformer = CASES[case]()
  net = tf_keras.Sequential([
      tf_keras.layers.Conv2D(4, 3, padding="same", activation="relu",
                             dtype=dtype),
      tf_keras.layers.Conv2D(2 * transformer.num_params, 3, padding="same",
                             dtype=dtype)])
  net.build([None, 4, 2, 2])
  return bijectors.Coupling(net, transformer, packed_checkerboard=1,
                            channels=2, dtype=dtype)


@pytest.mark.parametrize("case", sorted(CASES))
def test_packed_checkerboard_harness(case):
  testing.check_bijector(lambda dtype: _packed_layer(case, dtype), [4, 4, 2],
                         dtypes=(tf.float64,), checks=CORE_CHECKS,
                         perturb_variables=0.3, expect_trainable=True)


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_packed_checkerboard_full_harness(case):
  testing.check_bijector(lambda dtype: _packed_layer(case, dtype), [4, 4, 2],
                         perturb_variables=0.3, expect_trainable=True)


def test_packed_checkerboard_is_exclusive_with_the_other_partitions():
  with pytest.raises(ValueError, match="Exactly one of `mask`, `num_masked` "
                     r"and `packed_checkerboard` must be given; got \['mask', "
                     "'packed_checkerboard'\]"):
    bijectors.Coupling(lambda x: x, transformers.Additive(),
                       mask=masks.checkerboard(2, 2), packed_checkerboard=0)


@pytest.mark.parametrize("case", sorted(CASES))
def test_config_round_trip(case):
  transformer = CASES[case]()
  again = transformers.from_config(type(transformer).__name__,
                                   transformer.get_config())
  assert again == transformer and hash(again) == hash(transformer)
  assert type(transformer).__name__ in repr(transformer)


def test_unknown_names_and_objects_are_refused():
  with pytest.raises(ValueError, match="Unknown transformer 'Cubic'.*Spline"):
    transformers.from_config("Cubic", {})
  net = MLP([8], output_units=4)
  with pytest.raises(TypeError, match="must be a tfp_flows.bijectors"
                     ".transformers.Transformer.*got str"):
    bijectors.Coupling(net, "affine", num_masked=2)
  with pytest.raises(TypeError, match="Transformer.*got str"):
    bijectors.Autoregressive(helpers.made(4), "spline")
  with pytest.raises(ValueError, match="`scale_fn` must be one of"):
    transformers.Affine(scale_fn="exp")
  with pytest.raises(ValueError, match="`num_bins`"):
    transformers.Spline(num_bins=0)


def test_a_wrong_conditioner_width_names_the_transformer_layout():
  net = MLP([8], output_units=5)
  net.build([None, 2])
  layer = bijectors.Coupling(net, transformers.Spline(num_bins=4),
                             num_masked=2, name="c")
  with pytest.raises(ValueError, match=r"c: .* must be 2 \* 11 = 22 \(K raw "
                     "widths"):
    layer.forward(tf.zeros([1, 4]))


def test_one_transformer_serves_many_layers():
  """Options only, no weights: the per-layer variable belongs to the layer."""
  shared = transformers.Affine()
  layers = [_layer_with(shared) for _ in range(2)]
  assert layers[0].transformer is layers[1].transformer
  assert layers[0].trainable_variables[-1] is not (
      layers[1].trainable_variables[-1])
  names = {v.name.split("/")[-1] for v in layers[0].trainable_variables}
  assert "scale_factor:0" in names


def _layer_with(transformer):
  net = MLP([8], output_units=4)
  net.build([None, 2])
  return bijectors.Coupling(net, transformer, num_masked=2, channels=2)


def _perturbed(layer):
  layer.forward(tf.zeros([1, 4]))
  testing.perturb(layer, 0.3, seed=1)
  return layer


def _preset_pairs():
  """(preset layer, the generic layer with its transformer), same network."""
  def net(params):
    mlp = MLP([8], output_units=2 * params)
    mlp.build([None, 2])
    return mlp

  pairs = [
      (bijectors.AffineCoupling(
          net(2), num_masked=2, channels=2, scale_fn="inverse_sigmoid"),
       lambda: transformers.Affine(scale_fn="inverse_sigmoid")),
      (bijectors.AdditiveCoupling(net(1), num_masked=2),
       transformers.Additive),
      (bijectors.SplineCoupling(net(11), num_bins=4, num_masked=2),
       lambda: transformers.Spline(num_bins=4)),
      (bijectors.LogisticMixtureCoupling(net(11), num_components=3,
                                         num_masked=2),
       lambda: transformers.LogisticMixture(num_components=3,
                                            tolerance=1e-5)),
  ]
  pairs = [(_perturbed(a), make) for a, make in pairs]
  pairs = [(a, bijectors.Coupling(a.conditioner, make(), num_masked=2,
                                  channels=2)) for a, make in pairs]
  for params, preset, transformer in [
      (2, bijectors.MaskedAutoregressive,
       transformers.Affine(scale_fn="soft_tanh", tail_bound=None)),
      (11, lambda m: bijectors.MaskedAutoregressiveSpline(m, num_bins=4),
       transformers.Spline(num_bins=4)),
      (9, lambda m: bijectors.MaskedAutoregressiveSigmoidal(
          m, num_sigmoids=3), transformers.Sigmoidal(num_sigmoids=3)),
  ]:
    made = helpers.made(4, [8], params=params, scale=0.3)
    pairs.append((preset(made), bijectors.Autoregressive(made, transformer)))
  return pairs


def test_presets_are_the_generic_layers():
  """The named layers compute exactly what the generic layer with their
  transformer computes, with the same network: bit for bit."""
  x = tf.random.stateless_normal([6, 4], [3, 4])
  for a, b in _preset_pairs():
    assert a.transformer == b.transformer, a.name
    np.testing.assert_array_equal(a.inverse(x + 0.), b.inverse(x + 0.))
    np.testing.assert_array_equal(a.forward(x + 0.), b.forward(x + 0.))
    np.testing.assert_array_equal(
        a.inverse_log_det_jacobian(x + 0., 1),
        b.inverse_log_det_jacobian(x + 0., 1))


@pytest.mark.parametrize("name, kwargs", [
    ("glow", dict(coupling=transformers.Spline(num_bins=6, bound=4.))),
    ("coupling_flow", dict(coupling=transformers.LogisticMixture(
        num_components=2))),
    ("maf", dict(transformer=transformers.Spline(num_bins=5))),
    ("iaf", dict(transformer=transformers.Affine(scale_fn="exp_tanh"))),
])
def test_builders_take_transformers_and_save_them(name, kwargs, tmp_path):
  shape = [4, 4, 1] if name == "glow" else [4]
  options = dict(num_layers=2, hidden_units=8 if name == "glow" else [8])
  if name == "glow":
    options.update(num_scales=1)
  dist = flows.registry.build(name, shape, **options, **kwargs)
  transformer = next(iter(kwargs.values()))
  layers = [b for b in helpers.bijectors_of_type(
      dist, bijectors.Coupling if name in ("glow", "coupling_flow")
      else bijectors.Autoregressive)]
  assert layers and all(b.transformer == transformer for b in layers)
  testing.perturb(dist, 0.2, seed=2)
  x = tf.random.stateless_uniform([3] + shape, [5, 6])
  loaded, _ = tfp_flows.load_flow(tfp_flows.save_flow(
      dist, str(tmp_path / "flow")))
  np.testing.assert_allclose(loaded.log_prob(x), dist.log_prob(x), rtol=1e-5)
  config = flows.build_config.build_config(loaded)
  recorded = next(iter(
      v for k, v in config["arguments"].items() if k in kwargs))
  assert recorded == {"transformer": {"class": type(transformer).__name__,
                                      "config": transformer.get_config()}}


def test_glow_spline_preset_is_its_transformer():
  """coupling="spline" is transformers.Spline(**SPLINE_COUPLING)."""
  x = tf.random.stateless_uniform([2, 4, 4, 1], [7, 8])
  results = []
  for coupling in ("spline", transformers.Spline(**SPLINE_COUPLING)):
    tf_keras.utils.set_random_seed(0)
    dist = flows.glow([4, 4, 1], num_layers=1, num_scales=1, hidden_units=8,
                      coupling=coupling)
    testing.perturb(dist, 0.2, seed=3)
    results.append(dist.log_prob(x).numpy())
  np.testing.assert_array_equal(*results)


def test_builders_refuse_other_objects():
  with pytest.raises(ValueError, match="`coupling` must be one of.*or a "
                     "tfp_flows.bijectors.transformers.Transformer"):
    flows.coupling_flow([4], coupling="spline")
  with pytest.raises(TypeError, match="`transformer` must be None"):
    flows.maf([4], transformer="spline")
