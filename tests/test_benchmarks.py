"""The benchmarks run (tiny sizes, one repeat) so they cannot rot; no timing asserted."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_flowpp_sampling_benchmark_prints_its_table():
  proc = subprocess.run(
      [sys.executable, os.path.join(ROOT, "benchmarks", "flowpp_sampling.py"),
       "--image-shape", "4,4,1", "--batch-size", "4", "--filters", "4",
       "--num-heads", "0", "--repeats", "1", "--warmup", "1"],
      capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"))
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "sample" in proc.stdout
  assert "log_prob" in proc.stdout
