"""Shared test set-up: quiet TensorFlow, a per-session TFDS data dir, and
serving a SavedModel in a fresh process."""

import json
import os
import random

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import pytest
# pylint: enable=g-import-not-at-top,wrong-import-position


# Seconds each of the longest test files takes on 2 cores (pytest
# --durations, summed per file, 2026-12-05; tests marked slow excluded).
# `make test` runs each file whole on one worker (--dist loadfile) and hands
# files out in collection order (--no-loadscope-reorder): longest first, so
# the short files fill in at the end instead of a long one starting last
# while the other worker idles.
# Files not listed keep their order, after these.
_FILE_SECONDS = {
    "test_every_builder.py": 251, "test_far_from_data.py": 96,
    "test_cli.py": 83, "test_glow.py": 32, "test_training.py": 57,
    "test_examples.py": 44, "test_affine_coupling.py": 39,
    "test_distribute.py": 30, "test_faults.py": 21, "test_vi.py": 20,
    "test_logistic_mixture_coupling.py": 34, "test_flowpp.py": 32,
    "test_bench_peers.py": 30, "test_ffjord.py": 30, "test_realnvp.py": 8,
    "test_autoregressive.py": 25, "test_benchmarks.py": 23,
    "test_registry.py": 22, "test_dequantization.py": 19,
    "test_spline_coupling.py": 18, "test_nsf.py": 17,
    "test_gated_attention.py": 15, "test_context.py": 14,
    "test_invertible_conv1x1.py": 14, "test_chain.py": 12,
    "test_export.py": 12, "test_bad_input.py": 12, "test_sylvester.py": 25,
    "test_planar.py": 20, "test_radial.py": 10,
    "test_masked_autoregressive_sigmoidal.py": 20, "test_naf.py": 17,
    "test_residual_flow.py": 22, "test_invertible_residual.py": 17,
    "test_lipschitz_mlp.py": 9, "test_block_autoregressive.py": 30,
    "test_bnaf.py": 12, "test_transformers.py": 15,
    # Files whose tests run in `make test-claims` and `make test-slow` only
    # (tests/claims/, test_toys.py): their seconds in `make test-slow`
    # (README budgets; estimated from the README's train times), so the
    # longest starts first there and in `make test-claims`.
    "test_claims_digits.py": 700, "test_claims_vi.py": 250,
    "test_claims_toys.py": 200, "test_toys.py": 85,
}


def pytest_addoption(parser):
  parser.addoption(
      "--shuffle", type=int, default=None, metavar="SEED",
      help="run the files, and the tests within each file, in an order "
      "shuffled with SEED (tests must not depend on their order)")


def pytest_collection_modifyitems(config, items):
  seed = config.getoption("--shuffle")
  if seed is not None:
    rng = random.Random(seed)
    files = {}
    for item in items:
      files.setdefault(item.path, []).append(item)
    groups = list(files.values())
    rng.shuffle(groups)
    for group in groups:
      rng.shuffle(group)
    # Each file's tests stay together: --dist loadfile sends a file to one
    # worker, and the file order below is the shuffled one.
    items[:] = [item for group in groups for item in group]
    return
  # A stable sort: the tests of a file stay together and in order.
  items.sort(key=lambda item: -_FILE_SECONDS.get(item.path.name, 0))


@pytest.fixture(autouse=True)
def _seeded():
  """Seeds Python, NumPy and TensorFlow before every test.

  Keras initialisers without a seed draw from TensorFlow's global stream, so
  without this a test's weights would depend on which tests ran before it in
  the same worker (and tight tolerances fail for some draws).
  """
  import tf_keras  # pylint: disable=g-import-not-at-top
  tf_keras.utils.set_random_seed(0)


@pytest.fixture
def sources(tmp_path, monkeypatch):
  """A tiny MNIST and Fashion-MNIST's download files (`helpers.mnist_sources`)."""
  import helpers  # pylint: disable=g-import-not-at-top
  return helpers.mnist_sources(tmp_path, monkeypatch)


@pytest.fixture(scope="session")
def tfds_dir(tmp_path_factory):
  """A TFDS data dir shared by the session, so digits is prepared once."""
  path = tmp_path_factory.mktemp("tfds")
  os.environ["TFDS_DATA_DIR"] = str(path)
  return str(path)


# Loads a SavedModel in a new Python process that imports only TensorFlow and
# NumPy, and reports what its signatures return. argv: path, x.npy, context.npy
# or "-", JSON list of batch sizes.
_SERVE = r"""
import json, sys
import numpy as np
import tensorflow as tf

m = tf.saved_model.load(sys.argv[1])
x = tf.constant(np.load(sys.argv[2]))
context = None if sys.argv[3] == "-" else tf.constant(np.load(sys.argv[3]))

def given(n=None):
  return {} if context is None else {"context": context[:n]}

out = {"signatures": sorted(m.signatures)}
for n in json.loads(sys.argv[4]):
  z = m.encode(x=x[:n], **given(n))["z"]
  out[f"z{n}"] = z.numpy().tolist()
  out[f"decoded{n}"] = m.decode(z=z, **given(n))["x"].numpy().tolist()
  out[f"log_prob{n}"] = m.log_prob(x=x[:n], **given(n))["log_prob"].numpy().tolist()
if context is None:
  samples = m.sample(n=tf.constant(5), temperature=tf.constant(0.7))["samples"]
  out["empty_shape"] = m.sample(
      n=tf.constant(0), temperature=tf.constant(1.))["samples"].shape.as_list()
else:
  samples = m.sample(context=context, temperature=tf.constant(0.5))["samples"]
  try:
    m.log_prob(x=x, context=context[:, :-1])
    out["bad_context"] = "accepted"
  except (ValueError, TypeError):
    out["bad_context"] = "refused"
out["sample_shape"] = samples.shape.as_list()
out["sample_finite"] = bool(np.all(np.isfinite(samples.numpy())))
# Samples encode and decode back (root finders, ODE solves: all in the graph).
again = m.decode(z=m.encode(x=samples, **given())["z"], **given())["x"]
out["resampled"] = float(np.max(np.abs(again.numpy() - samples.numpy())))
out["imported"] = sorted(k for k in sys.modules
                         if k.startswith(("tfp_flows", "tensorflow_probability")))
print("RESULT" + json.dumps(out))
"""


@pytest.fixture
def serve_in_fresh_process(tmp_path):
  """Serves a SavedModel in a fresh process; returns what it computed.

  `serve(path, x, context=None, batch_sizes=None)` runs `encode`, `decode`
  and `log_prob` on `x[:n]` for each n of `batch_sizes` (default: all of x),
  keyed "z{n}", "decoded{n}", "log_prob{n}"; draws samples ("sample_shape",
  "sample_finite", "resampled": their decode(encode(.)) error); "empty_shape"
  (n = 0) or, with a context, "bad_context" (one context column short).
  It asserts that the process succeeded without importing tfp_flows or TFP.
  """
  def serve(path, x, context=None, batch_sizes=None):
    # Imported here: helpers imports TensorFlow, which this module keeps
    # until its log level is set.
    import helpers  # pylint: disable=g-import-not-at-top,import-outside-toplevel
    np.save(tmp_path / "serve_x.npy", x)
    context_file = "-"
    if context is not None:
      context_file = str(tmp_path / "serve_context.npy")
      np.save(context_file, context)
    sizes = json.dumps(list(batch_sizes or [len(x)]))
    out = helpers.script_result(_SERVE, str(path),
                                str(tmp_path / "serve_x.npy"), context_file,
                                sizes, log_level="3")
    assert out["imported"] == []
    return out
  return serve
