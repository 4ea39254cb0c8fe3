"""Every registered builder x {unconditional, conditional}: one API for all.

For each flow of `registry.BUILDERS` (a new builder cannot skip this file:
it needs an entry in `test_registry.TINY`), without and with a context:
the harness checks on its bijector, one `FlowModel.fit` step on labelled
batches, `save_flow` -> `load_flow` (from the flow alone, no re-description)
with equal log-probs, and an export served in a fresh process (one process
for every export) with equal log-probs. The unconditional flows' harness and
all the exports run in the slow suite (`make test-slow`, run by CI).
"""

import json

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows import context
from tfp_flows import testing
from tfp_flows.flows import registry

import helpers

NUM_CLASSES = 3
SHAPES = {"ffjord": [2, 2, 1]}
CASES = [(name, conditional) for name in sorted(registry.BUILDERS)
         for conditional in (False, True)]


def shape_of(name):
  return SHAPES.get(name, [4, 4, 1])


def build(name, conditional, **kwargs):
  if conditional:
    kwargs["context_shape"] = [NUM_CLASSES]
  return registry.build(name, shape_of(name), **dict(helpers.TINY[name], **kwargs))


def batch(name, n=6, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.uniform(0.05, 0.95, [n] + shape_of(name)).astype(np.float32)
  y = (np.arange(n) % NUM_CLASSES).astype(np.int32)
  return x, y


def context_of(conditional, y):
  return tf.one_hot(y, NUM_CLASSES) if conditional else None


def case_id(case):
  return f"{case[0]}-{'conditional' if case[1] else 'plain'}"


# The unconditional flows' harness runs in each builder's own test file too,
# so the matrix runs it in the slow suite; the conditional ones here, except
# where the builder's own file checks its stack with a context on a smaller
# event: NAF's and BNAF's sampling directions nest a root finder in each of
# their D passes, and at these 16 entries their harness takes a minute on 2
# cores.
SLOW_HARNESS = {"naf", "residual_flow", "bnaf"}
# `make test` checks the conditional flows in float32, the slow suite in
# float64 too (half the matrix's time; each builder's own file runs float64).
HARNESS_CASES = [
    pytest.param(*case, dtype, id=f"{case_id(case)}-{dtype}",
                 marks=[] if (case[1] and case[0] not in SLOW_HARNESS and
                              dtype == "float32") else pytest.mark.slow)
    for case in CASES for dtype in ("float32", "float64")
    if not (case[0] == "ffjord" and dtype == "float64")]


def _harness(name, conditional, checks, dtype=tf.float32):
  # FFJORD's exact trace and adaptive solver: float32, no XLA (TFP's own
  # FFJORD does not compile); its float64 solve is checked in test_ffjord.
  ffjord = name == "ffjord"
  testing.check_bijector(
      lambda dtype: build(name, conditional, dtype=dtype).bijector,
      # Every builder's latent is a vector; data-like points on the other
      # side.
      [int(np.prod(shape_of(name)))],
      dtypes=(dtype,),
      batch_shape=(2,),
      checks=[c for c in checks if not (ffjord and c == "jit_compile")],
      sample_y=lambda shape, dtype, rng: rng.uniform(0.05, 0.95, shape),
      perturb_variables=0.05,
      tolerances=testing.DEEP_FLOW_TOLERANCES,
      context=np.eye(NUM_CLASSES)[1] if conditional else None)


@pytest.mark.parametrize("name,conditional,dtype", HARNESS_CASES)
def test_harness(name, conditional, dtype):
  checks = testing.ALL_CHECKS
  if name == "ffjord" and conditional:
    # Its Jacobian cannot be vectorised (the ODE solver's gradient with the
    # context among its constants): one gradient pass per entry, minutes on
    # 2 cores; in the slow suite below.
    checks = [c for c in checks if c != "jacobian"]
  _harness(name, conditional, checks, tf.as_dtype(dtype))


@pytest.mark.slow
def test_conditional_ffjord_jacobian():
  _harness("ffjord", True, ["jacobian"])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """case -> the flow after one fit step, saved and reloaded; built on demand."""
  root = tmp_path_factory.mktemp("every_builder")
  out = {}

  def get(name, conditional):
    if (name, conditional) not in out:
      tf_keras.utils.set_random_seed(0)
      dist = build(name, conditional)
      model = tfp_flows.FlowModel(
          dist, num_levels=17,
          num_classes=NUM_CLASSES if conditional else None)
      model.compile(tf_keras.optimizers.Adam(1e-2))
      x, y = batch(name)
      before = [v.numpy() for v in dist.trainable_variables]
      history = model.fit(tf.data.Dataset.from_tensors((x, y)), epochs=1,
                          verbose=0)
      path = str(root / f"{name}-{conditional}")
      tfp_flows.save_flow(dist, path + "-flow")
      loaded, config = tfp_flows.load_flow(path + "-flow")
      out[name, conditional] = dict(dist=dist, before=before,
                                    history=history, loaded=loaded,
                                    config=config, path=path)
    return out[name, conditional]

  return get


@pytest.mark.parametrize("name,conditional", CASES, ids=map(case_id, CASES))
def test_one_fit_step_and_save_load(trained, name, conditional):
  case = trained(name, conditional)
  dist = case["dist"]
  assert np.isfinite(case["history"].history["loss"][0])
  moved = [not np.array_equal(b, v.numpy())
           for b, v in zip(case["before"], dist.trainable_variables)]
  assert any(moved)
  assert (context.context_shape(dist) == [NUM_CLASSES]) == conditional
  x, y = batch(name, seed=1)
  c = context_of(conditional, y)
  want = tfp_flows.log_prob(dist, x, c)
  assert np.all(np.isfinite(want))
  assert case["config"]["flow"] == name
  # The same weights through the same ops: bit-identical, not just close.
  np.testing.assert_array_equal(tfp_flows.log_prob(case["loaded"], x, c),
                                want)
  if conditional:
    # The context matters, and a missing one is refused.
    other = tfp_flows.log_prob(dist, x, context_of(True, (y + 1) % 3))
    assert np.max(np.abs(other - want)) > 1e-4
    with pytest.raises(ValueError, match="`context` of shape"):
      tfp_flows.log_prob(dist, x)
  else:
    with pytest.raises(ValueError, match="is not conditional"):
      tfp_flows.log_prob(dist, x, tf.one_hot(y, NUM_CLASSES))


# Serves every export in one process that imports only TensorFlow.
_SERVE_ALL = r"""
import json, sys
import numpy as np
import tensorflow as tf
out = {}
for item in json.loads(sys.argv[1]):
  m = tf.saved_model.load(item["path"])
  kwargs = {"x": tf.constant(np.load(item["x"]))}
  if item["context"]:
    kwargs["context"] = tf.constant(np.load(item["context"]))
  out[item["path"]] = m.log_prob(**kwargs)["log_prob"].numpy().tolist()
out["imported"] = sorted(k for k in sys.modules
                         if k.startswith(("tfp_flows", "tensorflow_probability")))
print("RESULT" + json.dumps(out))
"""


# In the slow suite, both: a minute for every builder's export and one
# fresh process serving them all (`make test` serves exports in
# tests/test_export.py, a conditional one in tests/test_context.py).
@pytest.mark.slow
@pytest.mark.parametrize("conditional", [True, False])
def test_every_export_serves_in_a_fresh_process(trained, tmp_path,
                                                conditional):
  items, want = [], {}
  for name in sorted(registry.BUILDERS):
    case = trained(name, conditional)
    exported = tfp_flows.export_saved_model(case["dist"],
                                            case["path"] + "-model")
    x, y = batch(name, seed=2)
    c = context_of(conditional, y)
    item = {"path": exported, "context": None,
            "x": str(tmp_path / f"{name}x.npy")}
    np.save(item["x"], x)
    if conditional:
      item["context"] = str(tmp_path / f"{name}c.npy")
      np.save(item["context"], c.numpy())
    items.append(item)
    want[exported] = tfp_flows.log_prob(case["dist"], x, c).numpy()
  served = helpers.script_result(_SERVE_ALL, json.dumps(items), timeout=600,
                                 log_level="3")
  assert served.pop("imported") == []
  assert set(served) == set(want)
  for path, log_prob in want.items():
    np.testing.assert_allclose(served[path], log_prob, rtol=1e-5, atol=1e-4,
                               err_msg=path)
