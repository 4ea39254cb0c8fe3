"""Serving an exported flow: concurrency, memory, input checks, portability."""

import concurrent.futures
import os

import numpy as np
import pytest
import tensorflow as tf

import tfp_flows
from tfp_flows.flows import registry


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
  dist = registry.build("glow", [8, 8, 1], num_scales=2, depth=1,
                        hidden_channels=8)
  dist.log_prob(tf.random.stateless_uniform([16, 8, 8, 1], [0, 0]))
  path = str(tmp_path_factory.mktemp("serving") / "model")
  return tfp_flows.export_saved_model(dist, path)


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
  for _ in range(50):  # warm-up: first calls allocate caches and pools
    served.log_prob(x)
  before = _rss_mib()
  for i in range(1000):
    served.log_prob(x)
    if i % 10 == 0:
      served.sample(tf.constant(4), tf.constant(0.7))
  growth = _rss_mib() - before
  print(f"RSS growth over 1000 serving calls: {growth:.1f} MiB")
  assert growth < 50


def test_saved_model_holds_no_paths_of_the_exporting_machine(export_dir):
  markers = {os.getcwd(), os.path.dirname(export_dir),
             os.path.expanduser("~"), os.path.dirname(tfp_flows.__file__)}
  for root, _, names in os.walk(export_dir):
    for name in names:
      with open(os.path.join(root, name), "rb") as f:
        content = f.read()
      for marker in markers:
        assert marker.encode() not in content, (name, marker)


def test_saved_model_is_small_and_holds_no_data(export_dir):
  # Only the weights and the graph: no dataset was captured as a constant.
  size = sum(os.path.getsize(os.path.join(r, n))
             for r, _, ns in os.walk(export_dir) for n in ns)
  assert size < 5 * 2**20
