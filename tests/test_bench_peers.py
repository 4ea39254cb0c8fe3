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
