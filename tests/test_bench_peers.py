"""benchmarks/peers/glow_normflows.py in the project's venv: help and our worker.

The comparison itself needs torch and normflows (`make bench-peers`, a venv
of its own, never the project's). What must work without them: `--help`,
which imports neither (checked, so the test fails whether or not torch
happens to be installed), and our side of the worker protocol.
"""

import json
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "benchmarks", "peers", "glow_normflows.py")
# Runs the script as __main__, then fails (exit 3) if it imported torch or
# normflows.
CHECKED = (
    "import runpy, sys\n"
    "sys.argv = [{script!r}] + sys.argv[1:]\n"
    "try:\n"
    "  runpy.run_path({script!r}, run_name='__main__')\n"
    "except SystemExit as e:\n"
    "  code = e.code\n"
    "else:\n"
    "  code = 0\n"
    "imported = sorted({{'torch', 'normflows'}} & set(sys.modules))\n"
    "if imported:\n"
    "  sys.exit(f'imported {{imported}}')\n"
    "sys.exit(code)\n").format(script=SCRIPT)


def _run(flags, stdin=None):
  return subprocess.run(
      [sys.executable, "-c", CHECKED] + flags, input=stdin,
      capture_output=True, text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT))


def test_help_imports_neither_torch_nor_normflows():
  proc = _run(["--help"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  for text in ("normflows", "--threads", "--sizes", "--jit", "make "
               "bench-peers"):
    assert text in proc.stdout


def test_unknown_size_is_an_error():
  proc = _run(["--sizes", "small,huge"])
  assert proc.returncode == 2
  assert "unknown --sizes ['huge']" in proc.stderr


def test_our_worker_answers_steps():
  # Our side of the protocol: ready line, then one JSON line per step.
  proc = _run(["--worker", "ours", "--size", "tiny", "--xla", "0"],
              stdin="step\nstep\n")
  assert proc.returncode == 0, proc.stderr[-3000:]
  ready, *steps = [json.loads(line) for line in proc.stdout.splitlines()]
  # tiny: one level, one step of 4x4x4 after the squeeze: ActNorm 2*4,
  # 1x1 conv 4*4, GlowNet 2->4 (3x3), 4->4 (1x1), 4->4 (3x3), with biases.
  assert ready["parameters"] == 8 + 16 + (72 + 4) + (16 + 4) + (144 + 4)
  assert "tensorflow" in ready["versions"]
  assert len(steps) == 2
  for step in steps:
    assert step["seconds"] > 0
    assert 0 < step["loss"] < 100


MNIST_SCRIPT = os.path.join(ROOT, "benchmarks", "peers", "mnist_normflows.py")


def test_mnist_peers_help_and_our_worker(tmp_path):
  # --help imports neither torch nor normflows; our worker trains on the
  # arrays it is given and prints one JSON line of results.
  checked = CHECKED.replace(repr(SCRIPT), repr(MNIST_SCRIPT))
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
  proc = subprocess.run([sys.executable, "-c", checked, "--help"],
                        capture_output=True, text=True, timeout=300, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert "normflows" in proc.stdout and "--minutes" in proc.stdout
  rng = np.random.default_rng(0)
  arrays = tmp_path / "mnist.npz"
  np.savez(arrays, train=rng.integers(0, 256, (8, 28, 28, 1), np.uint8),
           test=rng.integers(0, 256, (4, 28, 28, 1), np.uint8))
  proc = subprocess.run(
      [sys.executable, "-c", checked, "--worker", "ours", "--arrays",
       str(arrays), "--minutes", "0.001", "--batch", "4", "--depth", "1",
       "--channels", "4", "--threads", "1"],
      capture_output=True, text=True, timeout=300, env=env)
  assert proc.returncode == 0, proc.stderr[-3000:]
  row = json.loads(proc.stdout.strip().splitlines()[-1])
  assert row["library"] == "ours" and row["steps"] >= 1
  assert 0 < row["test_bits_per_dim"] < 100
