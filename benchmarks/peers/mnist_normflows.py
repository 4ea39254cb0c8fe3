"""MNIST test bits/dim after the same training time: our Glow against normflows'.

What it measures: Glow with the same levels L, steps per level K, hidden
channels, batch, learning rate and data -- MNIST's 60,000 training images,
uniformly dequantized to [0, 1), no logit, as normflows' Glow example -- in
each library (ours: `tfp_flows.flows.glow` in a `FlowModel`; normflows: the
`MultiscaleFlow` of `GlowBlock`s that benchmarks/peers/glow_normflows.py
builds, as its example does), trained with Adam for --minutes of training
time each, then the bits/dim of the whole 10,000-image test set (uniform
dequantization, one draw). Reported beside them: steps taken, training
images per second and parameters. Each library trains in a process of its
own, one after the other, with --threads threads (TF and torch keep their
own thread pools).

normflows has no multi-scale RealNVP for images (its RealNVP examples are
vector flows of `MaskedAffineFlow`), so Glow is the one image flow both
libraries build.

Needs torch and normflows beside tfp_flows (benchmarks/peers/requirements.txt;
`make bench-peers` makes that venv, .venv-peers) and MNIST prepared in the TFDS
data dir (`make data-mnist` without the datasets' hosts).

  .venv-peers/bin/python benchmarks/peers/mnist_normflows.py --minutes 5
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
SECTION = "peers_mnist_normflows"


def parse_args(argv=None):
  doc = __doc__
  parser = argparse.ArgumentParser(
      description=doc.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog=doc.split("\n\n", 1)[1])
  parser.add_argument("--minutes", type=float, default=5.,
                      help="training time per library (default 5)")
  parser.add_argument("--levels", type=int, default=2)
  parser.add_argument("--depth", type=int, default=4)
  parser.add_argument("--channels", type=int, default=32)
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--lr", type=float, default=1e-3)
  parser.add_argument("--threads", type=int, default=2,
                      help="CPU threads of each library's process (default 2)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--data-dir", default=None,
                      help="TFDS data dir (default $TFDS_DATA_DIR or "
                      "~/tensorflow_datasets)")
  parser.add_argument("--out", default=os.path.join(BENCHMARKS, "results"))
  # Internal: run as one library's worker on the arrays in this .npz file.
  parser.add_argument("--worker", choices=("ours", "normflows"),
                      help=argparse.SUPPRESS)
  parser.add_argument("--arrays", help=argparse.SUPPRESS)
  return parser.parse_args(argv)


def _bits_per_dim(nll_nats, dims=784):
  return nll_nats / (dims * 0.6931471805599453) + 8.


def _ours(args, train, test):
  """(parameters, train_step(), test_nll()) of our Glow."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.config.threading.set_intra_op_parallelism_threads(args.threads)
  tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  tf.get_logger().setLevel("ERROR")
  import tf_keras  # pylint: disable=g-import-not-at-top
  import tfp_flows  # pylint: disable=g-import-not-at-top

  tf_keras.utils.set_random_seed(args.seed)
  dist = tfp_flows.flows.glow([28, 28, 1], num_scales=args.levels,
                              depth=args.depth, hidden_channels=args.channels)
  model = tfp_flows.FlowModel(dist, num_levels=256)
  model.compile(tf_keras.optimizers.Adam(args.lr))
  data = tf.data.Dataset.from_tensor_slices(train).shuffle(
      len(train), seed=args.seed).repeat().batch(args.batch).map(
          lambda k: (tf.cast(k, tf.float32) + tf.random.uniform(
              tf.shape(k))) / 256.).prefetch(2)
  model.fit(data, steps_per_epoch=1, epochs=1, verbose=0)  # init + trace
  iterator = iter(data)
  step_fn = model.make_train_function()

  def train_step():
    step_fn(iterator)

  @tf.function
  def nll(x):
    return -tf.reduce_sum(dist.log_prob(x))

  def test_nll():
    rng = tf.random.Generator.from_seed(args.seed + 1)
    total = 0.
    for start in range(0, len(test), 500):
      k = tf.cast(test[start:start + 500], tf.float32)
      total += float(nll((k + rng.uniform(tf.shape(k))) / 256.))
    return total / len(test)

  params = sum(int(v.shape.num_elements()) for v in model.trainable_variables)
  return params, train_step, test_nll


def _normflows(args, train, test):
  """(parameters, train_step(), test_nll()) of normflows' Glow."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)
  torch.set_num_interop_threads(args.threads)
  sys.path.insert(0, HERE)
  from glow_normflows import build_normflows  # pylint: disable=g-import-not-at-top
  torch.manual_seed(args.seed)
  model = build_normflows(dict(image_shape=[28, 28, 1], levels=args.levels,
                               depth=args.depth, channels=args.channels),
                          lu=False)
  images = torch.from_numpy(train).permute(0, 3, 1, 2).float()
  rng = np.random.default_rng(args.seed)
  state = {"order": rng.permutation(len(train)), "at": 0}

  def batch():
    if state["at"] + args.batch > len(train):
      state["order"], state["at"] = rng.permutation(len(train)), 0
    index = state["order"][state["at"]:state["at"] + args.batch]
    state["at"] += args.batch
    k = images[index]
    return (k + torch.rand_like(k)) / 256.

  with torch.no_grad():
    model.forward_kld(batch())  # ActNorm's data-dependent init.
  optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)

  def train_step():
    optimizer.zero_grad()
    loss = model.forward_kld(batch())
    loss.backward()
    optimizer.step()

  def test_nll():
    generator = torch.Generator().manual_seed(args.seed + 1)
    x = torch.from_numpy(test).permute(0, 3, 1, 2).float()
    total = 0.
    with torch.no_grad():
      for start in range(0, len(x), 500):
        k = x[start:start + 500]
        u = torch.rand(k.shape, generator=generator)
        # y: the classes, unused by an unconditional MultiscaleFlow.
        total += float(-model.log_prob((k + u) / 256., None).sum())
    return total / len(x)

  params = sum(p.numel() for p in model.parameters() if p.requires_grad)
  return params, train_step, test_nll


def worker(args):
  """Trains one library for the budget; prints one JSON line of results."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  arrays = np.load(args.arrays)
  build = _ours if args.worker == "ours" else _normflows
  params, train_step, test_nll = build(args, arrays["train"], arrays["test"])
  budget, trained, steps = args.minutes * 60., 0., 0
  while trained < budget:
    start = time.perf_counter()
    train_step()
    trained += time.perf_counter() - start
    steps += 1
  nll = test_nll()
  print(json.dumps(dict(library=args.worker, parameters=int(params),
                        steps=steps, train_seconds=round(trained, 1),
                        images_per_second=round(steps * args.batch / trained,
                                                1),
                        test_bits_per_dim=round(_bits_per_dim(nll), 4))),
        flush=True)


def _mnist_arrays(args, path):
  """Writes MNIST's train and test pixels (uint8 [N, 28, 28, 1]) to `path`."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tfp_flows  # pylint: disable=g-import-not-at-top
  arrays = {}
  for split, count in (("train", 60000), ("test", 10000)):
    centres = next(iter(tfp_flows.data.load(
        "mnist", split, batch_size=count, dequantize=False, shuffle=False,
        data_dir=args.data_dir)))
    arrays[split] = np.floor(centres.numpy() * 256.).astype(np.uint8)
  np.savez(path, **arrays)


def main(argv=None):
  args = parse_args(argv)
  if args.worker:
    return worker(args)
  sys.path.insert(0, BENCHMARKS)
  import common  # pylint: disable=g-import-not-at-top
  rows = []
  with tempfile.TemporaryDirectory() as tmp:
    arrays = os.path.join(tmp, "mnist.npz")
    _mnist_arrays(args, arrays)
    for library in ("ours", "normflows"):
      print(f"training {library} for {args.minutes:g} min", file=sys.stderr,
            flush=True)
      argv_worker = [sys.executable, os.path.abspath(__file__), "--worker",
                     library, "--arrays", arrays] + [
                         f"--{k.replace('_', '-')}={v}"
                         for k, v in vars(args).items()
                         if k not in ("worker", "arrays", "out") and
                         v is not None]
      proc = subprocess.run(argv_worker, capture_output=True, text=True,
                            check=False,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                                     OMP_NUM_THREADS=str(args.threads)))
      if proc.returncode:
        raise RuntimeError(f"{library} worker failed:\n{proc.stderr[-4000:]}")
      rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
  ours, theirs = rows
  markdown = "\n".join([
      f"MNIST, Glow L={args.levels} K={args.depth} {args.channels} channels, "
      f"batch {args.batch}, Adam {args.lr:g}, {args.minutes:g} min of "
      f"training each, {args.threads} threads, seed {args.seed}.", "",
      common.markdown_table(
          ["library", "parameters", "steps", "images/s", "test bits/dim"],
          [[r["library"], f"{r['parameters']:,}", r["steps"],
            r["images_per_second"], f"{r['test_bits_per_dim']:.3f}"]
           for r in rows], "lrrrr"), "",
      f"Throughput ours / normflows: "
      f"{ours['images_per_second'] / theirs['images_per_second']:.2f}x; "
      f"test bits/dim ours - normflows: "
      f"{ours['test_bits_per_dim'] - theirs['test_bits_per_dim']:+.3f}."])
  print(markdown)
  settings = {k: v for k, v in vars(args).items()
              if k not in ("worker", "arrays", "out")}
  path = common.write_results(args.out, SECTION, "cpu", settings,
                              dict(rows=rows), markdown)
  print(f"\nresults: {path}")


if __name__ == "__main__":
  main()
