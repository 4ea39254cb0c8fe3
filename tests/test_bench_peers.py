"""benchmarks/peers/ in the project's venv: help, flags and our workers.

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
import pytest

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
MNIST_CHECKED = CHECKED.replace(repr(SCRIPT), repr(MNIST_SCRIPT))


def _run_mnist(flags):
  return subprocess.run(
      [sys.executable, "-c", MNIST_CHECKED] + flags, capture_output=True,
      text=True, timeout=300,
      env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT))


def test_mnist_peers_help_imports_neither_torch_nor_normflows():
  proc = _run_mnist(["--help"])
  assert proc.returncode == 0, proc.stderr[-3000:]
  for text in ("normflows", "--minutes", "--flows", "realnvp",
               "--realnvp-channels", "--realnvp-lr", "nf.transforms.Logit"):
    assert text in proc.stdout


def test_mnist_peers_flag_errors():
  proc = _run_mnist(["--flows", "glow,maf"])
  assert proc.returncode == 2
  assert "unknown --flows ['maf']" in proc.stderr
  # normflows' checkerboard split needs an even width at every scale.
  proc = _run_mnist(["--realnvp-scales", "3"])
  assert proc.returncode == 2
  assert "--realnvp-scales must be 1 or 2" in proc.stderr


# RealNVP at 28x28x1, 2 scales, ResNets of 4 channels and 1 block: a ResNet
# c_in -> c_out has 3x3 convolutions c_in -> 4, 4 -> 4 twice, 4 -> 2 c_out
# (with biases), and each coupling a scale_factor per transformed channel:
# 3 checkerboard (1 -> 1 channel), 3 channel-wise (2 -> 2), 4 checkerboard
# at 14x14x2 (2 -> 2).
_BLOCK = 2 * (9 * 4 * 4 + 4)
_REALNVP_4 = (3 * ((9 * 1 * 4 + 4) + _BLOCK + (9 * 4 * 2 + 2) + 1) +
              7 * ((9 * 2 * 4 + 4) + _BLOCK + (9 * 4 * 4 + 4) + 2))


@pytest.mark.parametrize("family, flags, parameters", [
    ("glow", ["--depth", "1", "--channels", "4"], None),
    ("realnvp", ["--realnvp-channels", "4"], _REALNVP_4),
])
def test_mnist_peers_our_worker(tmp_path, family, flags, parameters):
  # Our worker trains the family's flow on the arrays it is given and prints
  # one JSON line of results, without torch or normflows.
  rng = np.random.default_rng(0)
  arrays = tmp_path / "mnist.npz"
  np.savez(arrays, train=rng.integers(0, 256, (8, 28, 28, 1), np.uint8),
           test=rng.integers(0, 256, (4, 28, 28, 1), np.uint8))
  proc = _run_mnist(["--worker", "ours", "--family", family, "--arrays",
                     str(arrays), "--minutes", "0.001", "--batch", "4",
                     "--threads", "1"] + flags)
  assert proc.returncode == 0, proc.stderr[-3000:]
  row = json.loads(proc.stdout.strip().splitlines()[-1])
  assert row["family"] == family and row["library"] == "ours"
  assert row["steps"] >= 1 and row["learning_rate"] == 1e-3
  if parameters is not None:
    assert row["parameters"] == parameters
  assert 0 < row["test_bits_per_dim"] < 100
