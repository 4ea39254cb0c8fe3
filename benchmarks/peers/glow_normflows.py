"""Glow training-step speed: tfp_flows against normflows (PyTorch), same CPU.

What it measures: the seconds of one training step -- mean negative
log-likelihood of a batch, backward pass, Adam update -- of Glow at each
--sizes preset, for

* ours: `tfp_flows.flows.glow(..., coupling="affine")` in a
  `tfp_flows.FlowModel`, compiled with `tf_keras.optimizers.Adam` (XLA
  `jit_compile` off and/or on, --jit) and stepped through Keras's own train
  function, as `fit` runs it (the model's default `LossScaleOptimizer` that
  skips non-finite steps included);
* normflows: `normflows.MultiscaleFlow` of `normflows.flows.GlowBlock`s with
  `Squeeze` and `Merge` as in normflows' Glow example (unconditional
  `GlowBase` priors), trained with `torch.optim.Adam`.

The two share: levels L, steps per level K, hidden channels, batch, image
shape (NHWC for ours, NCHW for normflows), the batch itself (uniform [0, 1)
from --seed), affine couplings with Glow's sigmoid scale and the coupling
network conv3x3-ReLU-conv1x1-ReLU-zero conv3x3, ActNorm with data-dependent
initialisation, and 1x1 convolutions (plain weights; --lu: LU-decomposed in
both). They differ where the libraries do: each split's prior is N(mu(h),
sigma(h)) from a zero 3x3 convolution of the kept half h in ours, a learned
per-channel Gaussian (`GlowBase`) in normflows; ours shifts x by -0.5 first.
The parameter counts are printed beside the times.

How: every (library, XLA) combination runs in a process of its own (TF and
torch keep their own thread pools and OpenMP runtimes), started with
--threads threads (default 1: `torch.set_num_threads`, TF's intra- and
inter-op parallelism, OMP/MKL environment), so that a shared machine's cores
do not decide the ratio. The processes build their model and run its ActNorm
initialisation on the batch (outside the timing), then wait. This process
drives them one step at a time over pipes with `common.median_seconds`, the
helper of benchmarks/speed.py: the first step of each (ours: building the
Keras train function, tracing and, with XLA, compiling, then running it;
normflows: its first step) is timed alone, then --warmup - 1 untimed steps,
then --repeats rounds in which every process runs one step, in a new seeded
order each round, so machine load hits all alike. Reported: median seconds
per step, the first step, throughput ours / normflows (normflows' median
over ours; > 1: ours faster), parameters, and each model's NLL of the batch
at its first step: same data and fresh ActNorm statistics, so the two agree
closely when the models compute the same thing. The table is printed in Markdown and stored as
section "peers_glow_normflows" of benchmarks/results/<date>-<host>.json.

Needs torch and normflows beside tfp_flows (benchmarks/peers/requirements.txt);
`make bench-peers` makes that venv (.venv-peers) and runs this script.
--help needs neither.

  python benchmarks/peers/glow_normflows.py                  # small and large
  python benchmarks/peers/glow_normflows.py --sizes small --repeats 20
  python benchmarks/peers/glow_normflows.py --sizes large --repeats 5 --jit off
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCHMARKS = os.path.dirname(HERE)

PRESETS = {
    # Smoke test of the machinery.
    "tiny": dict(image_shape=[4, 4, 1], levels=1, depth=1, channels=4,
                 batch=2),
    # Digits-sized (8x8 grey, as the project's offline dataset).
    "small": dict(image_shape=[8, 8, 1], levels=2, depth=4, channels=32,
                  batch=64),
    # CIFAR-sized images, a CPU-sized Glow (the paper: K=32, 512 channels).
    "large": dict(image_shape=[32, 32, 3], levels=3, depth=8, channels=128,
                  batch=16),
}
JIT = {"off": (False,), "on": (True,), "both": (False, True)}
SECTION = "peers_glow_normflows"


def parse_args(argv=None):
  doc = __doc__
  parser = argparse.ArgumentParser(
      description=doc.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog=doc.split("\n\n", 1)[1])
  parser.add_argument("--sizes", default="small,large",
                      help="comma-separated presets among "
                      f"{','.join(PRESETS)} (default small,large); "
                      + "; ".join(f"{k}: {_describe(v)}"
                                  for k, v in PRESETS.items()))
  parser.add_argument("--jit", choices=sorted(JIT), default="both",
                      help="XLA jit_compile of our step (default both; "
                      "normflows runs eagerly either way)")
  parser.add_argument("--repeats", type=int, default=10,
                      help="timed steps per process (default 10)")
  parser.add_argument("--warmup", type=int, default=2,
                      help="untimed steps per process, the first (timed "
                      "alone as 'first step') included (default 2)")
  parser.add_argument("--threads", type=int, default=1,
                      help="CPU threads of each process (default 1)")
  parser.add_argument("--lu", action="store_true",
                      help="LU-decomposed 1x1 convolutions in both")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--out", default=os.path.join(BENCHMARKS, "results"),
                      help="folder of the results JSON (default: "
                      "benchmarks/results)")
  parser.add_argument("--no-save", action="store_true",
                      help="print the table only, write no results JSON")
  # Internal: run as one library's worker process.
  parser.add_argument("--worker", choices=("ours", "normflows"),
                      help=argparse.SUPPRESS)
  parser.add_argument("--size", help=argparse.SUPPRESS)
  parser.add_argument("--xla", type=int, default=0, help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  args.sizes = [s for s in args.sizes.split(",") if s]
  unknown = sorted(set(args.sizes) - set(PRESETS))
  if unknown:
    parser.error(f"unknown --sizes {unknown}; choose among {list(PRESETS)}")
  if args.repeats < 1 or args.warmup < 1 or args.threads < 1:
    parser.error("--repeats, --warmup and --threads must be >= 1")
  return args


def _describe(s):
  return (f"{'x'.join(map(str, s['image_shape']))} L={s['levels']} "
          f"K={s['depth']} {s['channels']} channels batch {s['batch']}")


def _batch(s, seed):
  import numpy as np  # pylint: disable=g-import-not-at-top
  return np.random.default_rng(seed).uniform(
      size=[s["batch"]] + s["image_shape"]).astype(np.float32)


# ----------------------------------------------------------------- workers --


def _ours(s, args):
  """(parameters, step(), versions) of our Glow; ActNorm initialised."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(args.threads)
  tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  tf.config.set_visible_devices([], "GPU")
  tf.get_logger().setLevel("ERROR")
  import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  import tfp_flows  # pylint: disable=g-import-not-at-top

  tf_keras.utils.set_random_seed(args.seed)
  dist = tfp_flows.flows.glow(
      s["image_shape"], num_layers=s["depth"], num_scales=s["levels"],
      hidden_units=s["channels"], coupling="affine",
      lu_decomposed=args.lu)
  model = tfp_flows.FlowModel(dist)
  x = tf.constant(_batch(s, args.seed))
  model.initialize(x)  # ActNorm's data-dependent init, as `fit` does.
  model.compile(tf_keras.optimizers.Adam(1e-4), jit_compile=bool(args.xla))
  iterator = iter(tf.data.Dataset.from_tensors(x).repeat())
  params = sum(int(v.shape.num_elements()) for v in model.trainable_variables)
  state = {}

  def step():
    # The first call builds Keras's train function (tf.function, with XLA
    # when compiled so) and traces it: part of the first step's time.
    if "fn" not in state:
      state["fn"] = model.make_train_function()
    logs = state["fn"](iterator)
    return float(logs["loss"].numpy())

  versions = {"tensorflow": tf.__version__,
              "tensorflow_probability": tfp.__version__,
              "tf_keras": tf_keras.__version__}
  return params, step, versions


def build_normflows(s, lu):
  """normflows' Glow as in its example (examples/glow.ipynb), unconditional."""
  import normflows as nf  # pylint: disable=g-import-not-at-top
  h, w, c = s["image_shape"]
  levels = s["levels"]
  q0, merges, flows = [], [], []
  for i in range(levels):  # i = 0: the innermost (coarsest) level.
    blocks = [nf.flows.GlowBlock(c * 2 ** (levels + 1 - i), s["channels"],
                                 split_mode="channel", scale=True,
                                 use_lu=lu)
              for _ in range(s["depth"])]
    flows.append(blocks + [nf.flows.Squeeze()])
    if i > 0:
      merges.append(nf.flows.Merge())
      latent = (c * 2 ** (levels - i), h // 2 ** (levels - i),
                w // 2 ** (levels - i))
    else:
      latent = (c * 2 ** (levels + 1), h // 2 ** levels, w // 2 ** levels)
    q0.append(nf.distributions.GlowBase(latent))
  return nf.MultiscaleFlow(q0, flows, merges, class_cond=False)


def _normflows(s, args):
  """(parameters, step(), versions) of normflows' Glow; ActNorm initialised."""
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)
  torch.set_num_interop_threads(args.threads)
  import normflows as nf  # pylint: disable=g-import-not-at-top
  torch.manual_seed(args.seed)
  model = build_normflows(s, args.lu)
  x = torch.from_numpy(_batch(s, args.seed)).permute(0, 3, 1, 2).contiguous()
  with torch.no_grad():
    model.forward_kld(x)  # ActNorm's data-dependent init.
  optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
  params = sum(p.numel() for p in model.parameters() if p.requires_grad)

  def step():
    optimizer.zero_grad()
    loss = model.forward_kld(x)
    loss.backward()
    optimizer.step()
    return float(loss.item())

  versions = {"torch": torch.__version__, "normflows": nf.__version__}
  return params, step, versions


def worker(args):
  """Builds one model, then answers stdin's 'step' lines with JSON lines.

  The protocol runs on a copy of the original stdout; fd 1 itself is pointed
  at stderr, so nothing a library prints can break it.
  """
  proto = os.fdopen(os.dup(1), "w")
  os.dup2(2, 1)
  s = PRESETS[args.size]
  start = time.perf_counter()
  build = _ours if args.worker == "ours" else _normflows
  params, step, versions = build(s, args)
  ready = dict(parameters=params, build_s=time.perf_counter() - start,
               versions=versions)
  proto.write(json.dumps(ready) + "\n")
  proto.flush()
  for line in sys.stdin:
    if line.strip() != "step":
      break
    start = time.perf_counter()
    loss = step()
    proto.write(json.dumps(dict(seconds=time.perf_counter() - start,
                                loss=loss)) + "\n")
    proto.flush()


# ------------------------------------------------------------------ driver --


class Worker:
  """A worker process: started at once, `ready()` waits for its model."""

  def __init__(self, library, xla, size, args, log):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
      env[var] = str(args.threads)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env["PYTHONUNBUFFERED"] = "1"
    command = [sys.executable, os.path.abspath(__file__), "--worker", library,
               "--size", size, "--xla", str(int(xla)), "--threads",
               str(args.threads), "--seed", str(args.seed)]
    if args.lu:
      command.append("--lu")
    self.name = (library, xla)
    self.log = log
    self.proc = subprocess.Popen(command, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=log,
                                 text=True, env=env)
    self.losses = []
    self.seconds = []

  def _reply(self):
    line = self.proc.stdout.readline()
    if not line:
      self.proc.wait()
      self.log.flush()
      with open(self.log.name) as f:
        tail = f.read()[-4000:]
      raise RuntimeError(f"worker {self.name} exited "
                         f"({self.proc.returncode}):\n{tail}")
    return json.loads(line)

  def ready(self):
    return self._reply()

  def step(self):
    self.proc.stdin.write("step\n")
    self.proc.stdin.flush()
    reply = self._reply()
    self.losses.append(reply["loss"])
    self.seconds.append(reply["seconds"])
    return ()  # common.run copies nothing: the worker has finished its step.

  def close(self):
    """Ends the worker's loop (it exits by itself); see `wait`."""
    if self.proc.poll() is None:
      self.proc.stdin.close()

  def wait(self):
    try:
      self.proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
      self.proc.kill()
      self.proc.wait()


def time_size(size, args, common):
  """Times every library at one preset; returns its result rows."""
  s = PRESETS[size]
  combos = [("ours", xla) for xla in JIT[args.jit]] + [("normflows", False)]
  workers = {}
  with tempfile.TemporaryDirectory() as tmp:
    try:
      # Built one after another: building is not timed, but two builds at
      # once would slow the first step of neither and the machine of both.
      ready = {}
      for library, xla in combos:
        log = open(os.path.join(tmp, f"{library}-{int(xla)}.log"), "w")  # pylint: disable=consider-using-with
        workers[(library, xla)] = Worker(library, xla, size, args, log)
        ready[(library, xla)] = workers[(library, xla)].ready()
      cases = [(key, w.step, ()) for key, w in workers.items()]
      seconds, first = common.median_seconds(cases, args.repeats, args.warmup)
    finally:
      # All told at once: they shut down side by side.
      for w in workers.values():
        w.close()
      for w in workers.values():
        w.wait()
        w.log.close()
  theirs = seconds[("normflows", False)]
  rows = []
  for key in combos:
    library, xla = key
    rows.append(dict(
        size=size, description=_describe(s), library=library,
        xla=xla if library == "ours" else None,
        step_s=seconds[key], examples_per_s=s["batch"] / seconds[key],
        first_step_s=first[key], build_s=ready[key]["build_s"],
        parameters=ready[key]["parameters"],
        throughput_ours_over_normflows=theirs / seconds[key],
        first_step_nll=workers[key].losses[0],
        # Every step as the worker timed it (no pipe), the first included.
        worker_step_s=workers[key].seconds,
        versions=ready[key]["versions"]))
  return rows


def _library(row):
  if row["library"] == "ours":
    return "tfp_flows (TF)"
  return f"normflows {row['versions']['normflows']} (torch)"


def render(rows, args):
  table = [[r["size"], _library(r),
            {None: "n/a", False: "off", True: "on"}[r["xla"]],
            f"{r['step_s']:.4f}", f"{r['first_step_s']:.2f}",
            f"{r['parameters']:,}",
            f"{r['throughput_ours_over_normflows']:.2f}x"
            if r["library"] == "ours" else "1.00x (ref)"] for r in rows]
  head = ["size", "library", "XLA", "s/step (median)", "first step s",
          "parameters", "throughput ours / normflows"]
  lines = ["| " + " | ".join(head) + " |",
           "| " + " | ".join(["---", "---", "---", "---:", "---:", "---:",
                             "---:"]) + " |"]
  lines += ["| " + " | ".join(row) + " |" for row in table]
  sizes = dict.fromkeys(r["size"] for r in rows)
  notes = []
  for size in sizes:
    nll = {}
    for r in rows:
      if r["size"] == size:
        nll.setdefault(r["library"], r["first_step_nll"])
    notes.append(
        f"- {size}: Glow {_describe(PRESETS[size])}, affine couplings, "
        f"{'LU' if args.lu else 'plain'} 1x1 convolutions; NLL of the batch "
        f"at the first step (nats/example; same data, both just "
        f"initialised): ours {nll['ours']:.3f}, normflows "
        f"{nll['normflows']:.3f}")
  return "\n".join(
      [f"Glow training step (NLL, backward, Adam): median of {args.repeats} "
       f"steps after {args.warmup} untimed (the first timed alone), "
       f"round-robin, {args.threads} thread(s) per process, CPU.", ""]
      + lines + ["", "Models:"] + notes)


def main(argv=None):
  args = parse_args(argv)
  if args.worker:
    worker(args)
    return
  sys.path.insert(0, BENCHMARKS)
  import common  # pylint: disable=g-import-not-at-top
  rows = []
  for size in args.sizes:
    print(f"timing {size}: {_describe(PRESETS[size])}", file=sys.stderr,
          flush=True)
    rows += time_size(size, args, common)
  markdown = render(rows, args)
  print(markdown)
  if not args.no_save:
    settings = dict(sizes={k: PRESETS[k] for k in args.sizes}, jit=args.jit,
                    repeats=args.repeats, warmup=args.warmup,
                    threads=args.threads, lu=args.lu, seed=args.seed)
    path = common.write_results(args.out, SECTION, "cpu", settings,
                                dict(rows=rows), markdown)
    print(f"\nresults: {path}")


if __name__ == "__main__":
  main()
