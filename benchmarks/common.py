"""What the benchmarks share: flags, device set-up, timing, tables, results file.

`speed.py` and `density.py` import it as a sibling module (Python puts a
script's folder first on `sys.path`).
"""

import argparse
import datetime
import json
import os
import platform
import random
import socket
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras
# pylint: enable=g-import-not-at-top,wrong-import-position

# The benchmarks make many tf.functions on purpose; TF's retracing warnings
# about that would bury the tables.
tf.get_logger().setLevel("ERROR")

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                           "results")
DEVICES = ("cpu", "gpu")


def ints(text):
  """Comma-separated integers, e.g. "32,32,3"."""
  return [int(v) for v in text.split(",") if v.strip()]


def add_common_flags(parser, presets):
  """Adds --device, --size, --seed, --out and one override flag per preset key.

  Args:
    parser: `argparse.ArgumentParser`.
    presets: {preset name: {size key: default}}; every preset has the same
      keys. `--size NAME` picks a preset and `--KEY VALUE` overrides one entry
      of it (lists as comma-separated integers).
  """
  parser.add_argument("--device", choices=DEVICES, default="cpu",
                      help="where to run (default cpu; gpu fails at once "
                      "when TensorFlow sees no GPU)")
  parser.add_argument("--size", choices=sorted(presets), default="small",
                      help="preset of sizes: small (default: CPU, `make "
                      "bench`), full (the papers' sizes, for a GPU), tiny "
                      "(smoke test)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default=RESULTS_DIR,
                      help="folder of the results JSON (default: "
                      "benchmarks/results)")
  group = parser.add_argument_group(
      "sizes", "override one entry of the --size preset")
  for key, value in presets["small"].items():
    shown = ",".join(map(str, value)) if isinstance(value, list) else value
    group.add_argument("--" + key.replace("_", "-"), default=None,
                       type=ints if isinstance(value, list) else type(value),
                       help=f"(small preset: {shown})")


def sizes(args, presets):
  """The preset chosen by --size, with the command line's overrides."""
  return {key: default if getattr(args, key) is None else getattr(args, key)
          for key, default in presets[args.size].items()}


def setup_device(device, mixed_precision=False):
  """Makes `device` the only accelerator in use; returns its TF device name.

  Call before any tensor is made. `cpu` hides every GPU, so nothing lands on
  one by default; `gpu` exits with a message when none is visible (a GPU
  benchmark silently run on the CPU would report the wrong machine).
  `mixed_precision` sets the mixed_float16 Keras policy (GPU only: CPUs have
  no fast float16 kernels).
  """
  if mixed_precision and device != "gpu":
    raise SystemExit("error: --mixed-precision needs --device gpu (CPUs have "
                     "no fast float16 kernels).")
  if device == "cpu":
    tf.config.set_visible_devices([], "GPU")
    name = "/CPU:0"
  else:
    if not tf.config.list_physical_devices("GPU"):
      raise SystemExit(
          "error: --device gpu, but TensorFlow sees no GPU (tf.config."
          "list_physical_devices('GPU') is empty: no GPU, or no CUDA build "
          "or driver). Run with --device cpu.")
    name = "/GPU:0"
  if mixed_precision:
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
  return name


def machine_info():
  """Host and versions, for the results file."""
  return {
      "hostname": socket.gethostname(),
      "platform": platform.platform(),
      "python": platform.python_version(),
      "tensorflow": tf.__version__,
      "tensorflow_probability": tfp.__version__,
      "tf_keras": tf_keras.__version__,
      "numpy": np.__version__,
      "cpu_count": os.cpu_count(),
  }


def device_info(device):
  """{"kind": "cpu"} or {"kind": "gpu", "name": the first GPU's name}."""
  if device != "gpu":
    return {"kind": device}
  details = tf.config.experimental.get_device_details(
      tf.config.list_physical_devices("GPU")[0])
  return {"kind": device, "name": details.get("device_name", "unknown")}


def run(fn, args):
  """fn(*args) with every output copied to the host.

  The copy waits for the computation, so a timing covers all of it (a GPU
  runs asynchronously).
  """
  return tf.nest.map_structure(lambda t: t.numpy(), fn(*args))


def median_seconds(cases, repeats, warmup):
  """Median seconds per call of each case, the cases timed round-robin.

  Args:
    cases: list of (name, fn, args); names unique.
    repeats: timed calls per case.
    warmup: untimed calls per case before the timed ones; the first traces
      (and, with XLA, compiles).

  Returns:
    ({name: median seconds}, {name: seconds of the first call}).

  Interleaving spreads any slowdown of a shared machine over every case
  alike, which keeps the ratios steadier than timing the cases one by one.
  Each round runs the cases in a new (seeded) order: in a fixed order a case
  would always follow the same neighbour and inherit its cache state.
  """
  first = {}
  for name, fn, args in cases:
    start = time.perf_counter()
    run(fn, args)
    first[name] = time.perf_counter() - start
  for _ in range(warmup - 1):
    for _, fn, args in cases:
      run(fn, args)
  times = {name: [] for name, _, _ in cases}
  order = list(cases)
  shuffle = random.Random(0).shuffle
  for _ in range(repeats):
    shuffle(order)
    for name, fn, args in order:
      start = time.perf_counter()
      run(fn, args)
      times[name].append(time.perf_counter() - start)
  return {name: statistics.median(t) for name, t in times.items()}, first


def markdown_table(headers, rows, align=None):
  """A Markdown table; `align` holds one "l" or "r" per column (default l)."""
  align = align or "l" * len(headers)
  rule = ["---:" if a == "r" else "---" for a in align]
  lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(rule) + " |"]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def results_path(out_dir):
  """<out_dir>/<YYYY-MM-DD>-<hostname>.json: one file per machine and day."""
  day = datetime.date.today().isoformat()
  return os.path.join(out_dir, f"{day}-{socket.gethostname()}.json")


def write_results(out_dir, section, device, settings, results, markdown):
  """Stores one benchmark's figures as `section` of today's results file.

  speed.py and density.py write their own sections of the same file, so a
  `make bench` run ends with every figure side by side; a rerun replaces its
  section only. The file is written beside and renamed into place, so a
  killed run never leaves half a file.

  Returns:
    The path of the file.
  """
  os.makedirs(out_dir, exist_ok=True)
  path = results_path(out_dir)
  data = {}
  if os.path.exists(path):
    with open(path) as f:
      data = json.load(f)
  data["machine"] = machine_info()
  data[section] = {
      "finished": datetime.datetime.now().isoformat(timespec="seconds"),
      "command": " ".join([os.path.basename(sys.argv[0])] + sys.argv[1:]),
      "device": device_info(device),
      "settings": settings,
      "results": results,
      "markdown": markdown,
  }
  partial = path + ".partial"
  with open(partial, "w") as f:
    json.dump(data, f, indent=2)
  os.replace(partial, path)
  return path


def parser(doc):
  """An argument parser whose description is the first paragraph of `doc`."""
  return argparse.ArgumentParser(
      description=doc.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog=doc.split("\n\n", 1)[1] if "\n\n" in doc else None)
