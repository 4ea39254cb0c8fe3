"""Glow and RealNVP on MNIST at equal training time: ours against normflows'.

What it measures: for each family of --flows (default glow,realnvp), the
same flow built in each library -- ours: tfp_flows in a `FlowModel`;
normflows: its parts in a `MultiscaleFlow` -- trained on MNIST's 60,000
training images, uniformly dequantized to [0, 1), with Adam at the same
batch, learning rate and seed for --minutes of training time each (timed
steps, after one untimed training step in each library: ours the one `fit`
runs to build and trace Keras's train function, normflows its first), then the
bits/dim of the whole 10,000-image test set (uniform dequantization, one
draw; a density of the data in [0, 1), every preprocessing's log-det
counted, so the families' figures compare too). Reported: per family and
library, parameters, steps taken, training images per second and test
bits/dim; per family, throughput ours / normflows (> 1: ours faster) and
test bits/dim ours - normflows (< 0: ours better). Each (family, library)
trains in a process of its own, one after the other, on --threads cores
(torch: that many threads; ours: by default `FlowModel(batch_shards=2)`,
each batch computed in two concurrent halves, with TensorFlow's threads
from `training.set_shard_threads(2, cores=--threads)`, i.e. one thread per
op and two ops at a time on 2 cores; `--batch-shards 1` runs ours as one
batch with --threads intra- and inter-op threads), so a run takes about
2 x (families) x --minutes plus data loading and evaluation.

Glow (--levels, --depth, --channels, --lr): levels L, steps per level K and
hidden channels alike, data in [0, 1) without a logit, as normflows' Glow
example; ours: `tfp_flows.flows.glow`; normflows: the `MultiscaleFlow` of
`GlowBlock`s that benchmarks/peers/glow_normflows.py builds, as its example
does (what differs, e.g. the split priors: see that script).

RealNVP (--realnvp-*): ours is `tfp_flows.flows.realnvp` at the registry's
defaults (2 scales, ResNet conditioners of 10 channels and 1 residual block,
logit alpha 0.05) with our CLI's learning rate for it, 1e-3. normflows has
no image RealNVP of its own (its RealNVP examples are vector flows of
`MaskedAffineFlow`), so this script assembles the closest one from its
parts: `nf.flows.AffineCouplingBlock` (split_mode "checkerboard_inv" /
"checkerboard" / "channel" / "channel_inv", scale_map "exp"),
`nf.flows.Squeeze`, `nf.flows.Merge("channel")` and fixed (non-trainable)
`nf.distributions.DiagGaussian` priors in an `nf.MultiscaleFlow` whose
`transform` is `nf.transforms.Logit`. Matched:

* layout, data to latent: the logit, then per scale 3 checkerboard affine
  couplings of alternating parity (the same pixels conditioning in both),
  squeeze (2x2 space to depth; the same channel order for 1 channel), 3
  channel couplings of alternating halves, factor-out of the second half of
  the channels to a standard normal, and at the last scale 4 checkerboard
  couplings: 10 couplings at 2 scales, standard normal latents throughout;
* preprocessing: u = logit(alpha + (1 - 2 alpha) x) with alpha =
  --realnvp-alpha in both (ours `bijectors.Logit`, normflows
  `nf.transforms.Logit`), its log-det counted in both, so both bits/dim are
  of the data in [0, 1);
* conditioner: normflows' image nets are not ours (`nets.ConvNet2d` has no
  residual blocks, `nets.ConvResidualNet` 1x1 input and output convolutions
  and an output layer that does not start at zero), so the script writes
  ours (`nets.ResNet`) in torch: conv3x3 -> blocks of
  u + conv3x3(relu(conv3x3(relu(u)))) -> relu -> conv3x3 starting at zero,
  Glorot-uniform kernels and zero biases as Keras's defaults; same layers,
  same parameters (the table prints both counts);
* scale: ours is log s = clip(scale_factor * tanh(h), -3, 3) with a learned
  per-channel scale_factor starting at 1; normflows' "exp" map takes log s
  as the network gives it, unbounded, so the torch conditioner returns
  clamp(scale_factor * tanh(h), -3, 3) itself (scale_factor one of its
  parameters). Both couplings start as the identity, so at initialisation
  the two flows give the same log-density.

Checkerboards: normflows' split gathers the conditioning half of the
pixels into a [C, H, W/2] image, which the network maps to the parameters
of the other half, [C, H, W/2]. Ours does the same by default here
(`realnvp(checkerboard="packed")`, [H, W/2, C]: both networks run on half
the pixels); `--realnvp-checkerboard masked` runs ours as `realnvp`'s
default does, the network on the whole masked [H, W, C] image with the
outputs used where the mask is 0 (twice the network work at the
checkerboard couplings). normflows' checkerboard also alternates along channels (at 14x14x2 the
two channels have opposite boards; ours repeats one board). It needs an
even width at every scale, which on 28x28 allows at most 2 scales. Ours
also clips the shift to |t| <= 1e3 and continues linearly beyond |y| > 1e3:
never reached by these data.

Needs torch and normflows beside tfp_flows (benchmarks/peers/requirements.txt;
`make bench-peers` makes that venv, .venv-peers) and MNIST prepared in the TFDS
data dir (`make data-mnist` without the datasets' hosts). The table is
printed in Markdown and stored as section "peers_mnist_normflows" of
benchmarks/results/<date>-<host>.json: `rows` (one per family and library,
with a "family" key) and `comparisons` (the ratios per family).

  .venv-peers/bin/python benchmarks/peers/mnist_normflows.py --minutes 5
  .venv-peers/bin/python benchmarks/peers/mnist_normflows.py --flows realnvp
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
FAMILIES = ("glow", "realnvp")
LIBRARIES = ("ours", "normflows")
IMAGE_SHAPE = (28, 28, 1)
# Arguments of this process that its workers do not take.
_NOT_FORWARDED = ("worker", "arrays", "out", "flows", "family")


def parse_args(argv=None):
  doc = __doc__
  parser = argparse.ArgumentParser(
      description=doc.split("\n\n")[0],
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog=doc.split("\n\n", 1)[1])
  parser.add_argument("--flows", default="glow,realnvp",
                      help="comma-separated families among "
                      f"{','.join(FAMILIES)} (default glow,realnvp)")
  parser.add_argument("--minutes", type=float, default=5.,
                      help="training time per library and family "
                      "(default 5)")
  parser.add_argument("--levels", type=int, default=2, help="Glow's L")
  parser.add_argument("--depth", type=int, default=4, help="Glow's K")
  parser.add_argument("--channels", type=int, default=32,
                      help="Glow's hidden channels")
  parser.add_argument("--lr", type=float, default=1e-3,
                      help="Glow's Adam learning rate (default 1e-3)")
  parser.add_argument("--realnvp-scales", type=int, default=2,
                      help="RealNVP's scales (default 2; at most 2 on 28x28, "
                      "see above)")
  parser.add_argument("--realnvp-channels", type=int, default=10,
                      help="RealNVP's ResNet width (default 10)")
  parser.add_argument("--realnvp-blocks", type=int, default=1,
                      help="RealNVP's residual blocks per ResNet (default 1)")
  parser.add_argument("--realnvp-alpha", type=float, default=0.05,
                      help="RealNVP's logit constant, both libraries "
                      "(default 0.05)")
  parser.add_argument("--realnvp-checkerboard", default="packed",
                      choices=("packed", "masked"),
                      help="our RealNVP's checkerboard couplings: packed "
                      "into half-width images as normflows' (default), or "
                      "the whole masked image (realnvp's default)")
  parser.add_argument("--realnvp-lr", type=float, default=1e-3,
                      help="RealNVP's Adam learning rate (default 1e-3, our "
                      "CLI's)")
  parser.add_argument("--batch", type=int, default=64)
  parser.add_argument("--threads", type=int, default=2,
                      help="CPU threads of each library's process (default 2)")
  parser.add_argument("--batch-shards", type=int, default=2,
                      help="ours: FlowModel's batch_shards, TensorFlow's "
                      "threads set for it on --threads cores (default 2; "
                      "1: one batch, --threads intra- and inter-op threads)")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--data-dir", default=None,
                      help="TFDS data dir (default $TFDS_DATA_DIR or "
                      "~/tensorflow_datasets)")
  parser.add_argument("--out", default=os.path.join(BENCHMARKS, "results"))
  # Internal: run as one library's worker on the arrays in this .npz file.
  parser.add_argument("--worker", choices=LIBRARIES, help=argparse.SUPPRESS)
  parser.add_argument("--family", choices=FAMILIES, default="glow",
                      help=argparse.SUPPRESS)
  parser.add_argument("--arrays", help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  args.flows = [f for f in args.flows.split(",") if f]
  unknown = sorted(set(args.flows) - set(FAMILIES))
  if unknown or not args.flows:
    parser.error(f"unknown --flows {unknown}; choose among {list(FAMILIES)}")
  args.flows = list(dict.fromkeys(args.flows))
  # normflows' checkerboard split halves the width at every scale.
  if (args.realnvp_scales < 1 or
      IMAGE_SHAPE[1] % 2 ** args.realnvp_scales):
    parser.error(f"--realnvp-scales must be 1 or 2 on 28x28 images (got "
                 f"{args.realnvp_scales}): normflows' checkerboard split "
                 "needs an even width at every scale")
  return args


def _learning_rate(args, family):
  return args.lr if family == "glow" else args.realnvp_lr


def _describe(args, family):
  """One line on a family's model and settings."""
  if family == "glow":
    return (f"Glow L={args.levels} K={args.depth}, {args.channels} hidden "
            f"channels, no logit, Adam {args.lr:g}")
  couplings = 6 * (args.realnvp_scales - 1) + 4
  return (f"RealNVP {args.realnvp_scales} scales ({couplings} affine "
          f"couplings, our checkerboards {args.realnvp_checkerboard}), "
          f"ResNet conditioners of {args.realnvp_channels} "
          f"channels x {args.realnvp_blocks} block(s), "
          f"log s = clip(scale_factor tanh(h), -3, 3), logit alpha "
          f"{args.realnvp_alpha:g} (log-det counted), Adam "
          f"{args.realnvp_lr:g}")


def _bits_per_dim(nll_nats, dims=784):
  return nll_nats / (dims * 0.6931471805599453) + 8.


def _ours(args, train, test):
  """(parameters, train_step(), test_nll()) of our --family flow."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top
  import tfp_flows  # pylint: disable=g-import-not-at-top
  if args.batch_shards > 1:
    tfp_flows.training.set_shard_threads(args.batch_shards, cores=args.threads)
  else:
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  tf.get_logger().setLevel("ERROR")

  tf_keras.utils.set_random_seed(args.seed)
  if args.family == "glow":
    dist = tfp_flows.flows.glow(list(IMAGE_SHAPE), num_layers=args.depth,
                                num_scales=args.levels,
                                hidden_units=args.channels)
  else:
    dist = tfp_flows.flows.realnvp(
        list(IMAGE_SHAPE), num_scales=args.realnvp_scales,
        hidden_units=args.realnvp_channels,
        num_blocks=args.realnvp_blocks, alpha=args.realnvp_alpha,
        checkerboard=args.realnvp_checkerboard)
  model = tfp_flows.FlowModel(dist, num_levels=256,
                              batch_shards=args.batch_shards)
  model.compile(tf_keras.optimizers.Adam(_learning_rate(args, args.family)))
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


def build_normflows_realnvp(image_shape=IMAGE_SHAPE, scales=2, channels=10,
                            blocks=1, alpha=0.05):
  """normflows' parts assembled as `tfp_flows.flows.realnvp` (see __doc__).

  Args:
    image_shape: [H, W, C] (the model takes NCHW batches).
    scales: scales; the width must stay even at every one.
    channels: hidden channels of the ResNet conditioners.
    blocks: residual blocks per conditioner.
    alpha: the logit preprocessing's constant.

  Returns:
    An unconditional `nf.MultiscaleFlow`.
  """
  import normflows as nf  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top

  def conv(c_in, c_out):
    layer = nn.Conv2d(c_in, c_out, 3, padding=1)
    nn.init.xavier_uniform_(layer.weight)  # Keras's glorot_uniform
    nn.init.zeros_(layer.bias)
    return layer

  class ResNet(nn.Module):
    """Our `nets.ResNet` plus the "exp_tanh" log-scale, for scale_map="exp".

    x [B, c_in, H, W] -> [B, 2 c_out, H, W], interleaved as normflows'
    `AffineCoupling` reads it: shifts at even channels, log-scales
    clamp(scale_factor * tanh(h), -3, 3) at odd ones.
    """

    def __init__(self, c_in, c_out):
      super().__init__()
      self.conv_in = conv(c_in, channels)
      self.blocks = nn.ModuleList(
          [nn.ModuleList([conv(channels, channels), conv(channels, channels)])
           for _ in range(blocks)])
      self.conv_out = conv(channels, 2 * c_out)
      nn.init.zeros_(self.conv_out.weight)
      self.scale_factor = nn.Parameter(torch.ones(c_out))

    def forward(self, x):
      h = self.conv_in(x)
      for a, b in self.blocks:
        h = h + b(torch.relu(a(torch.relu(h))))
      shift, raw = self.conv_out(torch.relu(h)).chunk(2, dim=1)
      log_scale = torch.clamp(
          self.scale_factor[None, :, None, None] * torch.tanh(raw), -3., 3.)
      return torch.stack([shift, log_scale], dim=2).flatten(1, 2)

  def checkerboard(i, c):
    # Ours conditions on the pixels where (row + column + i) is even;
    # normflows' "checkerboard_inv" on those where row + column is even.
    return nf.flows.AffineCouplingBlock(
        ResNet(c, c), scale_map="exp",
        split_mode="checkerboard_inv" if i % 2 == 0 else "checkerboard")

  def channelwise(i, c):
    # c channels of 2 c: the first half conditions (ours reverse=False).
    return nf.flows.AffineCouplingBlock(
        ResNet(c, c), scale_map="exp",
        split_mode="channel" if i % 2 == 0 else "channel_inv")

  h, w, c = image_shape
  q0, merges, flows = [], [], []
  for level in range(scales):  # level 0: the innermost (last) scale.
    scale = scales - 1 - level
    sh, sw, sc = h // 2 ** scale, w // 2 ** scale, c * 2 ** scale
    if level == 0:
      data_first = [checkerboard(i, sc) for i in range(4)]
      q0.append(nf.distributions.DiagGaussian((sc, sh, sw), trainable=False))
    else:
      data_first = ([checkerboard(i, sc) for i in range(3)] +
                    [nf.flows.Squeeze()] +
                    [channelwise(i, 2 * sc) for i in range(3)])
      # Factor-out: the first half of the channels goes on to the inner
      # scale, the second half to this level's standard normal.
      merges.append(nf.flows.Merge("channel"))
      q0.append(nf.distributions.DiagGaussian((2 * sc, sh // 2, sw // 2),
                                              trainable=False))
    # A level's flows run latent side first (`forward`).
    flows.append(data_first[::-1])
  return nf.MultiscaleFlow(q0, flows, merges,
                           transform=nf.transforms.Logit(alpha),
                           class_cond=False)


def _normflows(args, train, test):
  """(parameters, train_step(), test_nll()) of normflows' --family flow."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  torch.set_num_threads(args.threads)
  torch.set_num_interop_threads(args.threads)
  torch.manual_seed(args.seed)
  if args.family == "glow":
    sys.path.insert(0, HERE)
    from glow_normflows import build_normflows  # pylint: disable=g-import-not-at-top
    model = build_normflows(dict(image_shape=list(IMAGE_SHAPE),
                                 levels=args.levels, depth=args.depth,
                                 channels=args.channels), lu=False)
  else:
    model = build_normflows_realnvp(
        IMAGE_SHAPE, scales=args.realnvp_scales,
        channels=args.realnvp_channels, blocks=args.realnvp_blocks,
        alpha=args.realnvp_alpha)
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

  if args.family == "glow":
    with torch.no_grad():
      model.forward_kld(batch())  # ActNorm's data-dependent init.
  optimizer = torch.optim.Adam(model.parameters(),
                               lr=_learning_rate(args, args.family))

  def train_step():
    optimizer.zero_grad()
    loss = model.forward_kld(batch())
    loss.backward()
    optimizer.step()

  # One untimed step, as ours takes in `fit`: a first step costs several
  # later ones (a few seconds on a loaded CPU), which a short budget would
  # count against normflows alone.
  train_step()

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
  """Trains one library's flow for the budget; prints one JSON line."""
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
  print(json.dumps(dict(family=args.family, library=args.worker,
                        parameters=int(params),
                        learning_rate=_learning_rate(args, args.family),
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


def _run_worker(args, family, library, arrays):
  argv_worker = [sys.executable, os.path.abspath(__file__), "--worker",
                 library, "--family", family, "--arrays", arrays] + [
                     f"--{k.replace('_', '-')}={v}"
                     for k, v in vars(args).items()
                     if k not in _NOT_FORWARDED and v is not None]
  proc = subprocess.run(argv_worker, capture_output=True, text=True,
                        check=False,
                        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                                 OMP_NUM_THREADS=str(args.threads)))
  if proc.returncode:
    raise RuntimeError(
        f"{family} {library} worker failed:\n{proc.stderr[-4000:]}")
  return json.loads(proc.stdout.strip().splitlines()[-1])


def comparisons(rows):
  """Per family: throughput ours / normflows, test bits/dim ours - theirs."""
  out = []
  for family in dict.fromkeys(r["family"] for r in rows):
    by = {r["library"]: r for r in rows if r["family"] == family}
    ours, theirs = by["ours"], by["normflows"]
    out.append(dict(
        family=family,
        throughput_ours_over_normflows=round(
            ours["images_per_second"] / theirs["images_per_second"], 3),
        bits_per_dim_ours_minus_normflows=round(
            ours["test_bits_per_dim"] - theirs["test_bits_per_dim"], 4)))
  return out


def render(rows, ratios, args, common):
  """The Markdown report: settings, one table of rows, one of ratios."""
  names = {"glow": "Glow", "realnvp": "RealNVP"}
  return "\n".join(
      [f"MNIST, batch {args.batch}, {args.minutes:g} min of training per "
       f"library and family, {args.threads} thread(s), ours in "
       f"{args.batch_shards} batch shard(s), seed {args.seed}; test "
       "bits/dim of the 10,000 test images in [0, 1) (uniform "
       "dequantization).", ""] +
      [f"- {names[f]}: {_describe(args, f)}." for f in args.flows] + [
          "",
          common.markdown_table(
              ["family", "library", "parameters", "steps", "images/s",
               "test bits/dim"],
              [[names[r["family"]], r["library"], f"{r['parameters']:,}",
                r["steps"], r["images_per_second"],
                f"{r['test_bits_per_dim']:.3f}"] for r in rows], "llrrrr"),
          "",
          common.markdown_table(
              ["family", "throughput ours / normflows",
               "test bits/dim ours - normflows"],
              [[names[c["family"]],
                f"{c['throughput_ours_over_normflows']:.2f}x",
                f"{c['bits_per_dim_ours_minus_normflows']:+.3f}"]
               for c in ratios], "lrr")])


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
    for family in args.flows:
      for library in LIBRARIES:
        print(f"training {family} {library} for {args.minutes:g} min",
              file=sys.stderr, flush=True)
        rows.append(_run_worker(args, family, library, arrays))
  ratios = comparisons(rows)
  markdown = render(rows, ratios, args, common)
  print(markdown)
  settings = {k: v for k, v in vars(args).items()
              if k not in ("worker", "arrays", "out", "family")}
  path = common.write_results(args.out, SECTION, "cpu", settings,
                              dict(rows=rows, comparisons=ratios), markdown)
  print(f"\nresults: {path}")


if __name__ == "__main__":
  main()
