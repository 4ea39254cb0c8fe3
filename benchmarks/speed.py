"""Speed of tfp_flows against TFP's built-ins, measured the same way every time.

Every figure is the median over --repeats calls of a `tf.function` (XLA with
--jit on), after --warmup untimed calls (the first traces and compiles), with
every output copied to the host. The calls of one model (both
implementations, every pass, both jit settings) are timed round-robin, so a
slowdown of a shared machine hits them alike and the ratios stay steady.
Examples/s is the batch size over the median time; the comparison table also
shows each implementation's first call (tracing, with XLA compiling, and one
run), which a user waits for before the first step. Cases (--cases):

* realnvp: affine couplings with RealNVP's exp-tanh scale, log s = a tanh(h),
  ours (`bijectors.AffineCoupling`) against `tfb.RealNVP`, both given the
  same network architecture and the same shift and log-scale computation:
  - vectors: --coupling-layers couplings over --vector-dim entries, each
    transforming one half given the other (alternating halves:
    `num_masked=d/2` and `reverse`, TFP's `num_masked=+-d/2`), conditioned
    by `nets.MLP(--hidden-units)`;
  - images: the same stack on [H, W, C] images split along channels (the
    channel-wise couplings of RealNVP's scales; `tfb.RealNVP` cannot do
    its checkerboard masks), conditioned by `nets.ResNet`.
  Passes: log_prob, one training step (Adam on -mean log_prob), sample.
* glow: our `flows.glow` against `tfb.Glow` with the same levels, steps and
  hidden channels (`tfb.GlowDefaultNetwork`: Glow's conv3x3-conv1x1-zero
  conv3x3 network, as our `nets.GlowNet`; `tfb.GlowDefaultExitNetwork`,
  one zero conv3x3, as our split prior). Static batch (`tfb.Glow` needs
  it). Passes: training step, sample. Goal: 1.2x tfb.Glow's throughput.
* maf: our `flows.maf` (`bijectors.MaskedAutoregressive`: one MADE pass per
  layer and `log_prob`, bounded log-scale and shift) against a hand-written
  `tfb.MaskedAutoregressiveFlow` + `tfb.AutoregressiveNetwork` stack (same
  layers, sizes and reverse permutations; two MADE passes per layer and
  `log_prob`) in a `tfd.TransformedDistribution`. Goals: 1.8x TFP's
  throughput for log_prob and the training step; sampling (D passes per
  layer in both) within 5%.
* floor: a flow's training step against a training step of its conditioner
  networks alone, on the inputs they saw in one recorded `log_prob` (each
  network once, one after another, backpropagating into weights and
  inputs): the work no flow can avoid. Also counts the network calls
  per `log_prob` (TFP's couplings and MAF layers call each network
  twice). For glow, our `flows.realnvp` builder (checkerboards, logit,
  factor-out), the realnvp stacks, maf and nsf-vectors (spline
  couplings), ours and TFP's. Goals: at most 1.2 for glow and realnvp,
  1.3 for nsf-vectors.
* flowpp: our `flows.flowpp`: log_prob and encode (analytic), decode and
  sample (root finding in every coupling), each as a ratio to log_prob;
  decode / encode isolates the root finder (same networks). Its weights are
  moved by N(0, 0.05^2) after ActNorm's init, so the mixtures are not the
  near-identity of a new flow that the root finder inverts in a step.
* memory: peak memory of one glow training step at --memory-batch, ours and
  tfb.Glow, each in its own process (CPU: peak resident memory during the
  steps minus the resident memory after building and tracing; GPU: TF's
  peak allocation minus the allocation before the steps). No XLA.

--jit both (the default) runs every timed pass with and without XLA and adds
a table of the ratio; XLA on CPU makes convolutions slower, not faster.

  python benchmarks/speed.py                        # CPU, small sizes
  python benchmarks/speed.py --device gpu --size full --jit both
  python benchmarks/speed.py --cases glow,floor --repeats 20
  python benchmarks/speed.py --cases maf,floor --models maf  # MAF alone
  python benchmarks/speed.py --cases maf --threads 1  # the work, one core
"""

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys

import common  # pylint: disable=g-bad-import-order

# pylint: disable=g-import-not-at-top,wrong-import-order
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import tfp_flows
from tfp_flows import bijectors as flow_bijectors
from tfp_flows import nets
from tfp_flows.flows import registry
# pylint: enable=g-import-not-at-top,wrong-import-order

tfb = tfp.bijectors
tfd = tfp.distributions

CASES = ("realnvp", "glow", "maf", "floor", "flowpp", "memory")
JIT = {"off": (False,), "on": (True,), "both": (False, True)}
PRESETS = {
    "tiny": dict(vector_dim=8, vector_batch=8, coupling_layers=2,
                 hidden_units=[16], maf_layers=2, stack_shape=[4, 4, 4],
                 resnet_channels=4, resnet_blocks=1, image_shape=[4, 4, 3],
                 image_batch=2, glow_levels=1, glow_depth=1,
                 glow_channels=4, memory_batch=2, flowpp_shape=[4, 4, 1],
                 flowpp_batch=2, flowpp_filters=4, flowpp_components=2,
                 flowpp_heads=0),
    "small": dict(vector_dim=64, vector_batch=256, coupling_layers=4,
                  hidden_units=[256, 256], maf_layers=5,
                  stack_shape=[8, 8, 12], resnet_channels=16, resnet_blocks=1,
                  image_shape=[16, 16, 3], image_batch=16, glow_levels=2,
                  glow_depth=4, glow_channels=32, memory_batch=64,
                  flowpp_shape=[8, 8, 1], flowpp_batch=64, flowpp_filters=8,
                  flowpp_components=4, flowpp_heads=4),
    # The papers' image size and batch, Glow's 3 levels and 512 channels
    # (8 steps per level, not 32: tfb.Glow traces for minutes at 32).
    "full": dict(vector_dim=64, vector_batch=1024, coupling_layers=8,
                 hidden_units=[1024, 1024], maf_layers=5,
                 stack_shape=[16, 16, 12], resnet_channels=64,
                 resnet_blocks=4, image_shape=[32, 32, 3], image_batch=64,
                 glow_levels=3, glow_depth=8, glow_channels=512,
                 memory_batch=64, flowpp_shape=[32, 32, 3], flowpp_batch=16,
                 flowpp_filters=32, flowpp_components=8, flowpp_heads=4),
}
# The models each case times, with their passes ("networks": the floor's
# step of the networks alone).
CASE_MODELS = {
    "realnvp": {"realnvp-vectors": ("log_prob", "train", "sample"),
                "realnvp-images": ("log_prob", "train", "sample")},
    "glow": {"glow": ("train", "sample")},
    "maf": {"maf": ("log_prob", "train", "sample")},
    "floor": {model: ("train", "networks") for model in
              ("glow", "realnvp", "realnvp-images", "realnvp-vectors", "maf",
               "nsf-vectors")},
}
# Goals on ours / TFP throughput: (text, test), by model or (model, pass).
SPEEDUP_GOALS = {
    "glow": ("≥ 1.20x", lambda r: r >= 1.2),
    ("maf", "log_prob"): ("≥ 1.80x", lambda r: r >= 1.8),
    ("maf", "train"): ("≥ 1.80x", lambda r: r >= 1.8),
    ("maf", "sample"): ("within 5% (≥ 0.95x)", lambda r: r >= 0.95),
}
# Goals on the flow's step / its networks' step, by model.
FLOOR_GOALS = {"glow": 1.2, "realnvp": 1.2, "nsf-vectors": 1.3}
# Bins of the nsf-vectors splines (the builder's default).
NSF_BINS = 8
# Std of the noise added to every Flow++ weight (see the module docstring).
FLOWPP_PERTURB = 0.05
REFERENCE_NAMES = {"realnvp-vectors": "tfb.RealNVP",
                   "realnvp-images": "tfb.RealNVP", "glow": "tfb.Glow",
                   "maf": "TFP MAF by hand"}


def parse_args(argv=None):
  parser = common.parser(__doc__)
  common.add_common_flags(parser, PRESETS)
  parser.add_argument("--cases", default=",".join(CASES),
                      help=f"comma-separated subset of {','.join(CASES)}")
  parser.add_argument("--models", default=None,
                      help="comma-separated subset of the models that the "
                      "comparison and floor cases time (e.g. `--cases "
                      "maf,floor --models maf`: maf against TFP and its "
                      "floor, nothing else); default all")
  parser.add_argument("--jit", choices=sorted(JIT), default="both",
                      help="jit_compile of the timed functions (default both)")
  parser.add_argument("--mixed-precision", action="store_true",
                      help="mixed_float16 Keras policy for the networks "
                      "(GPU only)")
  parser.add_argument("--repeats", type=int, default=20)
  parser.add_argument("--warmup", type=int, default=2)
  parser.add_argument("--threads", type=int, default=0,
                      help="TensorFlow's intra- and inter-op threads (default "
                      "0: TF's choice, every core). 1 times the work of a "
                      "pass: with spare cores, the two MADE passes of TFP's "
                      "MAF run side by side and look free")
  # Internal: one memory measurement, run by the memory case in a fresh
  # process (peak resident memory only grows within a process).
  parser.add_argument("--memory-probe", choices=("ours", "tfp"),
                      help=argparse.SUPPRESS)
  args = parser.parse_args(argv)
  args.cases = [c for c in args.cases.split(",") if c]
  unknown = sorted(set(args.cases) - set(CASES))
  if unknown:
    parser.error(f"unknown cases {unknown}; choose from {','.join(CASES)}")
  models = sorted({m for case in CASE_MODELS.values() for m in case})
  args.models = (models if args.models is None else
                 [m for m in args.models.split(",") if m])
  unknown = sorted(set(args.models) - set(models))
  if unknown:
    parser.error(f"unknown models {unknown}; choose from {','.join(models)}")
  if args.repeats < 1 or args.warmup < 1:
    parser.error("--repeats and --warmup must be >= 1 (the first warm-up "
                 "call traces)")
  if args.threads < 0:
    parser.error("--threads must be >= 0 (0: TensorFlow's default)")
  return args


class ExpTanhShiftAndLogScale(tf.Module):
  """`tfb.RealNVP`'s shift_and_log_scale_fn computing our "exp_tanh" coupling.

  [t, h] = net(x_A) and log s = a * tanh(h) with a trainable per-channel a
  starting at 1: what `bijectors.AffineCoupling(scale_fn="exp_tanh")` does
  with the same network, so the two implementations do the same arithmetic.
  """

  def __init__(self, net, channels, name=None):
    super().__init__(name=name)
    self.net = net
    self.scale_factor = tf.Variable(tf.ones([channels]), name="scale_factor")

  def __call__(self, x_a, output_units):
    del output_units  # The network's output size is fixed at construction.
    shift, raw = tf.split(tf.cast(self.net(x_a), x_a.dtype), 2, axis=-1)
    return shift, self.scale_factor * tf.tanh(raw)


def _normal(event_shape):
  return tfd.Sample(tfd.Normal(0., 1.), list(event_shape))


def _coupling_stacks(event_shape, layers, make_net):
  """Ours and TFP's affine coupling stacks over `event_shape` (last-axis halves).

  `make_net(input_channels, output_channels)` builds one conditioner; each
  implementation gets its own networks of the same architecture.
  """
  channels = event_shape[-1]
  half = channels // 2
  ndims = len(event_shape)
  ours, theirs = [], []
  for i in range(layers):
    reverse = i % 2 == 1
    ours.append(flow_bijectors.AffineCoupling(
        make_net(half, 2 * half), num_masked=half, reverse=reverse,
        event_ndims=ndims, channels=half, name=f"ours_coupling{i}"))
    theirs.append(tfb.RealNVP(
        num_masked=-half if reverse else half,
        shift_and_log_scale_fn=ExpTanhShiftAndLogScale(
            make_net(half, 2 * half), half, name=f"tfp_fn{i}"),
        name=f"tfp_coupling{i}"))
  return [tfd.TransformedDistribution(_normal(event_shape), tfb.Chain(parts))
          for parts in (ours, theirs)]


def _float32_outputs(net):
  """`net` with float32 outputs under a mixed policy, for TFP's bijectors.

  Ours cast their networks' outputs themselves; TFP's Glow would mix
  float16 scales into float32 data. In float32 `net` is returned as is.
  """
  if tf_keras.mixed_precision.global_policy().compute_dtype == "float32":
    return net
  return tf_keras.Sequential(
      [net, tf_keras.layers.Activation("linear", dtype="float32")])


def build_model(model, s):
  """{"ours": dist, "tfp": dist} (only "ours" for the realnvp builder), x."""
  if model == "realnvp-vectors":
    d = s["vector_dim"]

    def mlp(inputs, outputs):
      net = nets.MLP(s["hidden_units"], outputs)
      net.build([None, inputs])
      return net

    dists = _coupling_stacks([d], s["coupling_layers"], mlp)
    x = tf.random.stateless_normal([s["vector_batch"], d], [0, 1])
  elif model == "realnvp-images":
    shape = s["stack_shape"]

    def resnet(inputs, outputs):
      net = nets.ResNet(s["resnet_channels"], outputs,
                        num_blocks=s["resnet_blocks"])
      net.build([None] + shape[:-1] + [inputs])
      return net

    dists = _coupling_stacks(shape, s["coupling_layers"], resnet)
    x = tf.random.stateless_normal([s["image_batch"]] + shape, [0, 2])
  elif model == "realnvp":
    dists = [tfp_flows.flows.realnvp(
        s["image_shape"], num_scales=2, hidden_units=s["resnet_channels"],
        num_blocks=s["resnet_blocks"])]
    x = tf.random.stateless_uniform([s["image_batch"]] + s["image_shape"],
                                    [0, 3])
  elif model == "glow":
    dists = [tfp_flows.flows.glow(
        s["image_shape"], num_layers=s["glow_depth"],
        num_scales=s["glow_levels"], hidden_units=s["glow_channels"]),
        _tfb_glow(s)]
    x = tf.random.stateless_uniform([s["image_batch"]] + s["image_shape"],
                                    [0, 4])
  elif model == "nsf-vectors":
    d = s["vector_dim"]
    dists = [tfp_flows.flows.nsf([d], num_layers=s["coupling_layers"],
                                 num_bins=NSF_BINS,
                                 hidden_units=s["hidden_units"])]
    x = tf.random.stateless_normal([s["vector_batch"], d], [0, 6])
  elif model == "maf":
    d = s["vector_dim"]
    dists = [tfp_flows.flows.maf([d], num_layers=s["maf_layers"],
                                 hidden_units=s["hidden_units"]),
             _tfp_maf(d, s["maf_layers"], s["hidden_units"])]
    x = tf.random.stateless_normal([s["vector_batch"], d], [0, 5])
  else:
    raise ValueError(f"unknown model {model!r}")
  return dict(zip(("ours", "tfp"), dists)), x


def _tfb_glow(s):
  shape = s["image_shape"]
  glow = tfb.Glow(
      output_shape=shape, num_glow_blocks=s["glow_levels"],
      num_steps_per_block=s["glow_depth"],
      coupling_bijector_fn=lambda input_shape: _float32_outputs(
          tfb.GlowDefaultNetwork(input_shape, num_hidden=s["glow_channels"])),
      exit_bijector_fn=lambda input_shape, output_chan: _float32_outputs(
          tfb.GlowDefaultExitNetwork(input_shape, output_chan)))
  return tfd.TransformedDistribution(_normal([int(np.prod(shape))]), glow)


def _tfp_maf(d, layers, hidden_units):
  """TFP's MAF by hand: MAF layers and reverse permutations, data side first."""
  parts = []
  for i in range(layers):
    # float32 even under a mixed policy: TFP's MAF takes the network's
    # outputs as they come.
    made = tfb.AutoregressiveNetwork(params=2, event_shape=[d],
                                     hidden_units=hidden_units,
                                     activation="relu", dtype="float32")
    parts.append(tfb.MaskedAutoregressiveFlow(made))
    if i < layers - 1:
      parts.append(tfb.Permute(np.arange(d)[::-1].astype(np.int32)))
  return tfd.TransformedDistribution(_normal([d]), tfb.Chain(parts))


def conditioner_networks(dist):
  """The outermost tf_keras layers of a flow: its conditioner networks."""
  layers = [m for m in dist.submodules
            if isinstance(m, tf_keras.layers.Layer)]
  inner = {id(sub) for layer in layers for sub in layer.submodules}
  return [layer for layer in layers if id(layer) not in inner]


@contextlib.contextmanager
def recorded_calls(layers):
  """Yields a list that fills with (layer, args, kwargs) of each call of `layers`.

  Patches `call` on the layers' classes for the duration; a layer calling
  its base class's `call` (or a wrapper calling the wrapped layer of the
  same class) is counted once.
  """
  targets = {id(layer) for layer in layers}
  calls, active, saved = [], set(), {}
  for cls in {type(layer) for layer in layers}:
    saved[cls] = cls.__dict__.get("call")

    def call(self, *args, _original=cls.call, **kwargs):
      if id(self) not in targets or id(self) in active:
        return _original(self, *args, **kwargs)
      calls.append((self, args, kwargs))
      active.add(id(self))
      try:
        return _original(self, *args, **kwargs)
      finally:
        active.discard(id(self))

    cls.call = call
  try:
    yield calls
  finally:
    for cls, original in saved.items():
      if original is None:
        del cls.call
      else:
        cls.call = original


def train_step(loss_fn, variables, jit, inputs=()):
  """A `tf.function` running one Adam step on `loss_fn(*args)`.

  It returns the loss and the sum of the gradients with respect to the
  tensors `inputs`: the floor's networks must backpropagate into their
  inputs, as they do inside a flow.
  """
  optimizer = tf_keras.optimizers.Adam(1e-4)
  # Slots made now: a step that created them would be traced twice.
  optimizer.build(variables)

  def step(*args):
    with tf.GradientTape() as tape:
      tape.watch(inputs)
      loss = loss_fn(*args)
    grads, input_grads = tape.gradient(loss, (variables, inputs))
    optimizer.apply_gradients(zip(grads, variables))
    # Returned (as one cheap sum) so that graph pruning keeps them.
    return loss, tf.add_n([tf.reduce_sum(g) for g in input_grads
                           if g is not None] + [tf.constant(0.)])

  return tf.function(step, jit_compile=jit)


def networks_step(dist, x, jit):
  """The floor: (training step of `dist`'s networks alone, calls, networks).

  One eager `log_prob` records every network call; the step runs each
  network once on its first recorded input, in the recorded order, sums the
  means of the outputs into a loss and backpropagates into the weights and
  the inputs.
  """
  networks = conditioner_networks(dist)
  with recorded_calls(networks) as calls:
    # A new tensor: the bijector cache would answer x from an earlier call.
    dist.log_prob(tf.identity(x))
  first = {}
  for layer, args, kwargs in calls:
    first.setdefault(id(layer), (layer, args, kwargs))

  def is_float(t):
    return isinstance(t, tf.Tensor) and t.dtype.is_floating

  def loss():
    # Each network's inputs get 0 x the previous network's outputs added: in
    # a flow the networks run one after another, and independent ones would
    # overlap on a CPU's cores (both ways) and undercut the floor.
    total, link = tf.constant(0.), tf.constant(0.)
    for layer, args, kwargs in first.values():
      args = [a + tf.cast(link, a.dtype) if is_float(a) else a for a in args]
      out = tf.add_n([tf.reduce_mean(tf.cast(o, tf.float32))
                      for o in tf.nest.flatten(layer(*args, **kwargs))])
      total += out
      link = 0. * out
    return total

  variables = [v for layer, _, _ in first.values()
               for v in layer.trainable_variables]
  inputs = [t for _, args, _ in first.values() for t in tf.nest.flatten(args)
            if is_float(t)]
  return train_step(loss, variables, jit, inputs), len(calls), len(first)


def passes(dist, x, ops, jit):
  """{op: (tf.function, args)} for the passes `ops` of `dist` on batch `x`.

  Also returns the floor's call counts when "networks" is among `ops`.
  """
  n = int(x.shape[0])
  fns, counts = {}, None
  if "log_prob" in ops:
    fns["log_prob"] = (tf.function(dist.log_prob, jit_compile=jit), (x,))
  if "train" in ops:
    fns["train"] = (train_step(lambda x: -tf.reduce_mean(dist.log_prob(x)),
                               dist.trainable_variables, jit), (x,))
  if "sample" in ops:
    # A Python int: tfb.Glow cannot sample a tensor n inside tf.function.
    fns["sample"] = (tf.function(lambda: dist.sample(n), jit_compile=jit), ())
  if "networks" in ops:
    step, calls, networks = networks_step(dist, x, jit)
    fns["networks"] = (step, ())
    counts = (calls, networks)
  return fns, counts


def time_model(model, ops, s, jits, args):
  """Times `ops` of each implementation of `model` and jit setting, round-robin.

  Returns:
    {(impl, op, jit): {"ms", "per_s", "first_call_s"}}, {impl: (calls,
    networks)} of the floor, and the batch size.
  """
  dists, x = build_model(model, s)
  for dist in dists.values():
    dist.log_prob(x)  # ActNorm's data-dependent init; lazy variables.
  cases, counts = [], {}
  for impl, dist in dists.items():
    for jit in jits:
      fns, count = passes(dist, x, ops, jit)
      if count:
        counts[impl] = count
      cases += [((impl, op, jit), fn, fn_args)
                for op, (fn, fn_args) in fns.items()]
  seconds, first = common.median_seconds(cases, args.repeats, args.warmup)
  batch = int(x.shape[0])
  timings = {key: dict(ms=1e3 * sec, per_s=batch / sec,
                       first_call_s=first[key])
             for key, sec in seconds.items()}
  return timings, counts, batch


def describe(model, s):
  """What one model is, in words, for the tables."""
  hidden = "-".join(map(str, s["hidden_units"]))
  shape = "x".join(map(str, s["image_shape"]))
  resnet = (f"ResNet {s['resnet_channels']} channels x "
            f"{s['resnet_blocks']} blocks")
  vectors, images = s["vector_batch"], s["image_batch"]
  return {
      "realnvp-vectors": f"RealNVP couplings, vectors d={s['vector_dim']} "
                         f"({s['coupling_layers']} layers, MLP {hidden}), "
                         f"batch {vectors}",
      "realnvp-images": "RealNVP channel couplings, images "
                        f"{'x'.join(map(str, s['stack_shape']))} "
                        f"({s['coupling_layers']} layers, {resnet}), "
                        f"batch {images}",
      "realnvp": f"RealNVP builder, {shape} (2 scales, {resnet}), "
                 f"batch {images}",
      "glow": f"Glow {shape} (L={s['glow_levels']}, K={s['glow_depth']}, "
              f"{s['glow_channels']} channels), batch {images}",
      "maf": f"MAF d={s['vector_dim']} ({s['maf_layers']} layers, MADE "
             f"{hidden}), batch {vectors}",
      "nsf-vectors": f"NSF spline couplings, vectors d={s['vector_dim']} "
                     f"({s['coupling_layers']} layers, {NSF_BINS} bins, MLP "
                     f"{hidden}), batch {vectors}",
  }[model]


def _goal(text, met):
  return f"{text} ({'met' if met else 'not met'})"


def comparison_rows(model, ops, timings, jits, s, batch):
  rows = []
  for op in ops:
    for jit in jits:
      ours, ref = timings[("ours", op, jit)], timings[("tfp", op, jit)]
      speedup = ref["ms"] / ours["ms"]
      goal = SPEEDUP_GOALS.get((model, op), SPEEDUP_GOALS.get(model))
      rows.append(dict(
          model=model, description=describe(model, s), op=op, jit=jit,
          batch=batch, ours_ms=ours["ms"], ours_per_s=ours["per_s"],
          reference=REFERENCE_NAMES[model], reference_ms=ref["ms"],
          reference_per_s=ref["per_s"], throughput_ratio=speedup,
          ours_first_call_s=ours["first_call_s"],
          reference_first_call_s=ref["first_call_s"],
          goal=goal[0] if goal else None,
          goal_met=goal[1](speedup) if goal else None))
  return rows


def floor_rows(model, timings, counts, jits, s):
  rows = []
  for impl, (calls, networks) in counts.items():
    for jit in jits:
      flow = timings[(impl, "train", jit)]["ms"]
      alone = timings[(impl, "networks", jit)]["ms"]
      goal = FLOOR_GOALS.get(model) if impl == "ours" else None
      rows.append(dict(
          model=model, description=describe(model, s),
          impl="ours" if impl == "ours" else REFERENCE_NAMES[model], jit=jit,
          network_calls=calls, networks=networks, flow_step_ms=flow,
          networks_step_ms=alone, ratio=flow / alone,
          goal=f"≤ {goal}" if goal else None,
          goal_met=flow / alone <= goal if goal else None))
  return rows


def xla_rows(timings, model, s):
  """Time without XLA / time with it, for every pass timed both ways."""
  rows = []
  for (impl, op, jit), t in timings.items():
    if jit and (impl, op, False) in timings:
      off = timings[(impl, op, False)]["ms"]
      rows.append(dict(model=model, description=describe(model, s),
                       impl=impl, op=op, off_ms=off, on_ms=t["ms"],
                       speedup=off / t["ms"]))
  return rows


def time_flowpp(s, jits, args):
  """Flow++'s four passes, each jit setting; rows and decode(encode) error."""
  tf.random.set_seed(args.seed)
  shape = s["flowpp_shape"]
  dist = registry.build("flowpp", shape, hidden_units=s["flowpp_filters"],
                        num_heads=s["flowpp_heads"],
                        num_components=s["flowpp_components"])
  x = tf.random.stateless_uniform([s["flowpp_batch"]] + shape, [0, 6])
  dist.log_prob(x)  # ActNorm's data-dependent initialisation.
  rng = np.random.default_rng(args.seed)
  for v in dist.trainable_variables:
    v.assign_add(tf.constant(rng.normal(0., FLOWPP_PERTURB, v.shape),
                             v.dtype))
  z = tfp_flows.encode(dist, x)
  n = tf.constant(s["flowpp_batch"])
  ops = {
      "log_prob": (dist.log_prob, (x,)),
      "encode": (lambda x: tfp_flows.encode(dist, x), (x,)),
      "decode": (lambda z: tfp_flows.decode(dist, z), (z,)),
      "sample": (lambda n: tfp_flows.sample(dist, n), (n,)),
  }
  cases = [((op, jit), tf.function(fn, jit_compile=jit), fn_args)
           for jit in jits for op, (fn, fn_args) in ops.items()]
  seconds, first = common.median_seconds(cases, args.repeats, args.warmup)
  # A fresh z: the bijector cache would answer decode(z) with x itself.
  error = float(tf.reduce_max(tf.abs(
      tfp_flows.decode(dist, tf.identity(z)) - x)))
  params = sum(int(np.prod(v.shape)) for v in dist.trainable_variables)
  rows = []
  for jit in jits:
    for op in ops:
      sec = seconds[(op, jit)]
      rows.append(dict(
          op=op, jit=jit, ms=1e3 * sec, per_s=s["flowpp_batch"] / sec,
          ratio_to_log_prob=sec / seconds[("log_prob", jit)],
          first_call_s=first[(op, jit)]))
  root_finding = {str(jit): seconds[("decode", jit)] / seconds[("encode", jit)]
                  for jit in jits}
  return dict(rows=rows, decode_over_encode=root_finding,
              reconstruction_error=error, parameters=params,
              description=f"Flow++ {'x'.join(map(str, shape))}, "
              f"{params:,} parameters, K={s['flowpp_components']}, "
              f"{s['flowpp_filters']} filters, batch {s['flowpp_batch']}")


def _resident_mib(field):
  """VmRSS (current) or VmHWM (peak) of this process, MiB (Linux)."""
  with open("/proc/self/status") as f:
    return int(re.search(field + r":\s+(\d+)", f.read()).group(1)) / 1024.


def memory_probe(args, device):
  """Prints the peak memory of a glow training step above the post-build level.

  Runs in its own process (see the module docstring). CPU (Linux): the
  peak resident set is reset after building and tracing
  (/proc/self/clear_refs), so neither counts.
  """
  s = common.sizes(args, PRESETS)
  dists, _ = build_model("glow", s)
  dist = dists[args.memory_probe]
  x = tf.random.stateless_uniform([s["memory_batch"]] + s["image_shape"],
                                  [0, 7])
  step = train_step(lambda x: -tf.reduce_mean(dist.log_prob(x)),
                    dist.trainable_variables, jit=False)
  step.get_concrete_function(x)  # Traced (optimizer slots made) outside.
  if device == "/GPU:0":
    tf.config.experimental.reset_memory_stats("GPU:0")
    baseline = tf.config.experimental.get_memory_info("GPU:0")["current"]
  else:
    baseline = _resident_mib("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
      f.write("5")  # Resets VmHWM to the current resident set.
  for _ in range(max(args.repeats // 2, 2)):
    common.run(step, (x,))
  if device == "/GPU:0":
    peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
    baseline, peak = baseline / 2**20, peak / 2**20
  else:
    peak = _resident_mib("VmHWM")
  print(json.dumps(dict(peak_mib=peak - baseline, baseline_mib=baseline)))


def measure_memory(args, s):
  """Runs the memory probe for ours and tfb.Glow, each in a fresh process."""
  rows = {}
  for impl in ("ours", "tfp"):
    command = [sys.executable, os.path.abspath(__file__), "--memory-probe",
               impl, "--device", args.device, "--repeats", str(args.repeats),
               "--threads", str(args.threads)]
    if args.mixed_precision:
      command.append("--mixed-precision")
    for key, value in s.items():
      command += ["--" + key.replace("_", "-"),
                  ",".join(map(str, value)) if isinstance(value, list)
                  else str(value)]
    proc = subprocess.run(command, capture_output=True, text=True,
                          check=False)
    if proc.returncode:
      raise RuntimeError(f"memory probe ({impl}) failed:\n"
                         f"{proc.stderr[-3000:]}")
    rows[impl] = json.loads(proc.stdout.strip().splitlines()[-1])
  return dict(
      description=describe("glow", s), batch=s["memory_batch"],
      ours_peak_mib=rows["ours"]["peak_mib"],
      reference_peak_mib=rows["tfp"]["peak_mib"],
      ratio=rows["ours"]["peak_mib"] / rows["tfp"]["peak_mib"],
      method=("GPU peak allocation minus allocation before the steps"
              if args.device == "gpu" else
              "peak resident memory during the steps minus resident memory "
              "after build and trace"))


def _ms(ms):
  return f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def _xla(jit):
  return "on" if jit else "off"


def render(results, s, args):
  """The Markdown tables of one run, with what each model is beneath them."""
  out = [f"Median of {args.repeats} calls after {args.warmup} warm-up "
         f"call(s), round-robin per model; device {args.device}"
         f"{', mixed_float16' if args.mixed_precision else ''}; XLA "
         f"{args.jit}; sizes --size {args.size}; "
         f"{args.threads or 'all'} thread(s)."]
  described = []
  if results["comparisons"]:
    rows = [[r["model"], r["op"], _xla(r["jit"]), _ms(r["ours_ms"]),
             f"{r['ours_per_s']:,.0f}", r["reference"], _ms(r["reference_ms"]),
             f"{r['reference_per_s']:,.0f}", f"{r['throughput_ratio']:.2f}x",
             f"{r['ours_first_call_s']:.1f} / {r['reference_first_call_s']:.1f}",
             _goal(r["goal"], r["goal_met"]) if r["goal"] else ""]
            for r in results["comparisons"]]
    out += ["", "### Ours against TFP's built-ins (time per batch)", "",
            common.markdown_table(
                ["model", "pass", "XLA", "ours ms", "ours ex/s", "reference",
                 "ref ms", "ref ex/s", "throughput ours / ref",
                 "first call s (trace, compile, run): ours / ref", "goal"],
                rows, "lllrrlrrrrl")]
    described += [r["model"] for r in results["comparisons"]]
  if results["floor"]:
    rows = [[r["model"], r["impl"], _xla(r["jit"]),
             f"{r['network_calls']} / {r['networks']}", _ms(r["flow_step_ms"]),
             _ms(r["networks_step_ms"]), f"{r['ratio']:.2f}",
             _goal(r["goal"], r["goal_met"]) if r["goal"] else ""]
            for r in results["floor"]]
    out += ["", "### Compute floor: a training step of the flow against one "
            "of its networks alone", "",
            common.markdown_table(
                ["model", "implementation", "XLA",
                 "network calls / networks per log_prob", "flow step ms",
                 "networks-only step ms", "flow / networks", "goal"],
                rows, "lllrrrrl")]
    described += [r["model"] for r in results["floor"]]
  if results["xla"]:
    rows = [[r["model"], r["impl"], r["op"], _ms(r["off_ms"]), _ms(r["on_ms"]),
             f"{r['speedup']:.2f}x"] for r in results["xla"]]
    out += ["", "### XLA: jit_compile=True against off (> 1: XLA faster)", "",
            common.markdown_table(
                ["model", "implementation", "pass", "off ms", "on ms",
                 "off / on"], rows, "lllrrr")]
  flowpp = results["flowpp"]
  if flowpp:
    rows = [[r["op"], _xla(r["jit"]), _ms(r["ms"]), f"{r['per_s']:,.0f}",
             f"{r['ratio_to_log_prob']:.2f}x"] for r in flowpp["rows"]]
    root = ", ".join(f"{v:.2f}x (XLA {_xla(k == 'True')})"
                     for k, v in flowpp["decode_over_encode"].items())
    out += ["", f"### Flow++ sampling (root finding) against log_prob: "
            f"{flowpp['description']}", "",
            common.markdown_table(
                ["pass", "XLA", "ms", "images/s", "time / log_prob"], rows,
                "llrrr"),
            "", f"Root finding, decode / encode (same networks): {root}; "
            "decode(encode(x)) max error "
            f"{flowpp['reconstruction_error']:.1e}."]
  memory = results["memory"]
  if memory:
    out += ["", "### Peak memory of one glow training step (no XLA)", "",
            common.markdown_table(
                ["model", "batch", "ours MiB", "tfb.Glow MiB",
                 "ours / tfb.Glow"],
                [["glow", memory["batch"], f"{memory['ours_peak_mib']:,.0f}",
                  f"{memory['reference_peak_mib']:,.0f}",
                  f"{memory['ratio']:.2f}"]], "lrrrr"),
            "", f"Measured: {memory['method']}."]
    described.append("glow")
  if described:
    out += ["", "Models:"]
    out += [f"- {model}: {describe(model, s)}"
            for model in dict.fromkeys(described)]
  return "\n".join(out)


def main(argv=None):
  args = parse_args(argv)
  device = common.setup_device(args.device, args.mixed_precision)
  if args.threads:
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
  if args.memory_probe:
    with tf.device(device):
      memory_probe(args, device)
    return
  s = common.sizes(args, PRESETS)
  tf_keras.utils.set_random_seed(args.seed)
  jits = JIT[args.jit]
  models = {}
  for case in args.cases:
    for model, ops in CASE_MODELS.get(case, {}).items():
      if model not in args.models:
        continue
      models[model] = list(dict.fromkeys(models.get(model, []) + list(ops)))
  results = dict(comparisons=[], floor=[], xla=[], flowpp=None, memory=None)
  with tf.device(device):
    for model, ops in models.items():
      print(f"timing {model}: {', '.join(ops)}", file=sys.stderr, flush=True)
      timings, counts, batch = time_model(model, ops, s, jits, args)
      for case in args.cases:
        if case != "floor" and model in CASE_MODELS.get(case, {}):
          results["comparisons"] += comparison_rows(
              model, CASE_MODELS[case][model], timings, jits, s, batch)
      results["floor"] += floor_rows(model, timings, counts, jits, s)
      results["xla"] += xla_rows(timings, model, s)
    if "flowpp" in args.cases:
      print("timing flowpp", file=sys.stderr, flush=True)
      results["flowpp"] = time_flowpp(s, jits, args)
  if "memory" in args.cases:
    print("measuring memory", file=sys.stderr, flush=True)
    results["memory"] = measure_memory(args, s)
  markdown = render(results, s, args)
  print(markdown)
  settings = dict(size=args.size, sizes=s, cases=args.cases,
                  models=args.models, jit=args.jit,
                  repeats=args.repeats, warmup=args.warmup, seed=args.seed,
                  mixed_precision=args.mixed_precision, threads=args.threads)
  path = common.write_results(args.out, "speed", args.device, settings,
                              results, markdown)
  print(f"\nresults: {path}")


if __name__ == "__main__":
  main()
