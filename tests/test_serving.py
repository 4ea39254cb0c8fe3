"""Serving an exported flow: concurrency, memory, input checks, portability."""

import concurrent.futures
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfp_flows
from tfp_flows.flows import registry

# What the exported flow was trained on (its ActNorm init included).
_DATA = np.random.default_rng(0).uniform(size=[64, 8, 8, 1]).astype(np.float32)


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
  dist = registry.build("glow", [8, 8, 1], num_scales=2, num_layers=1,
                        hidden_units=8)
  model = tfp_flows.FlowModel(dist)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  model.fit(tf.data.Dataset.from_tensor_slices(_DATA).batch(16), epochs=1,
            verbose=0)
  path = str(tmp_path_factory.mktemp("serving") / "model")
  return tfp_flows.export_saved_model(dist, path)


def _files(path):
  """The bytes of every file under `path`, joined."""
  return b"".join(open(os.path.join(r, n), "rb").read()
                  for r, _, ns in os.walk(path) for n in ns)


def _rss_mib():
  with open("/proc/self/statm") as f:
    return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_eight_threads_match_sequential_calls(export_dir):
  served = tf.saved_model.load(export_dir)
  inputs = [tf.random.stateless_uniform([4, 8, 8, 1], [i, 1])
            for i in range(32)]
  sequential = [served.log_prob(x)["log_prob"].numpy() for x in inputs]
  with concurrent.futures.ThreadPoolExecutor(8) as pool:
    threaded = list(pool.map(lambda x: served.log_prob(x)["log_prob"].numpy(),
                             inputs))
  for a, b in zip(sequential, threaded):
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_memory_does_not_grow_over_1000_calls(export_dir):
  served = tf.saved_model.load(export_dir)
  x = tf.random.stateless_uniform([8, 8, 8, 1], [2, 2])
  # Warm-up: the first calls of each signature allocate caches and pools
  # (about 3 MiB for sample's); after them, growth is a leak.
  for _ in range(50):
    served.log_prob(x)
    served.sample(tf.constant(4), tf.constant(0.7))
  before = _rss_mib()
  for i in range(1000):
    served.log_prob(x)
    if i % 10 == 0:
      served.sample(tf.constant(4), tf.constant(0.7))
  growth = _rss_mib() - before
  print(f"RSS growth over 1000 serving calls: {growth:.1f} MiB")
  # Measured 0.0 MiB here; a leak of 1 KiB per call would add 1.
  assert growth < 1


def test_saved_model_holds_no_paths_of_the_exporting_machine(export_dir):
  markers = {os.getcwd(), os.path.dirname(export_dir),
             os.path.expanduser("~"), os.path.dirname(tfp_flows.__file__)}
  for root, _, names in os.walk(export_dir):
    for name in names:
      with open(os.path.join(root, name), "rb") as f:
        content = f.read()
      for marker in markers:
        assert marker.encode() not in content, (name, marker)


def test_saved_model_is_small_and_holds_no_data(export_dir, tmp_path):
  # Only the weights and the graph: none of the training images (each is
  # 256 distinctive bytes) was captured as a constant.
  content = _files(export_dir)
  assert len(content) < 5 * 2**20
  assert not [i for i, x in enumerate(_DATA) if x.tobytes() in content]
  # Control: an export that does capture the data is caught by this search.
  holder = tf.Module()
  holder.f = tf.function(lambda: tf.constant(_DATA) + 0., input_signature=[])
  tf.saved_model.save(holder, str(tmp_path / "captured"))
  captured = _files(tmp_path / "captured")
  assert all(x.tobytes() in captured for x in _DATA)