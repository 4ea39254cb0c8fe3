"""Training a flow with tf_keras: `FlowModel` (maximum likelihood, optional
dequantizer, context, spike skipping) and resuming from a backup.

Its metrics and scores are in `evaluation` (bits/dim), its callbacks in
`callbacks`.
"""

import math
import os

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from tfp_flows import applications
from tfp_flows import context as context_lib
from tfp_flows import evaluation

__all__ = ["FlowModel", "SPIKE_AVERAGE_DECAY", "resume_position",
           "set_shard_threads", "shard_threads", "skipping_nonfinite"]

# Entries of the samples that `importance_weighted_log_prob` evaluates
# together by default: 16 samples of an 8x8 image.
_ENTRIES_PER_PASS = 1024


def skipping_nonfinite(optimizer):
  """`optimizer` wrapped so that it skips any update with NaN or inf gradients.

  Keras's `LossScaleOptimizer` applies no update whose gradients hold NaN or
  inf, under any strategy. Under the "mixed_float16" policy it scales the
  loss as usual; otherwise its scale stays 1 and never grows, so skipping
  non-finite steps is all it does. An optimizer that is already a
  `LossScaleOptimizer` is returned as it is.
  """
  if isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer):
    return optimizer
  if tf_keras.mixed_precision.global_policy().name == "mixed_float16":
    return tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
  return tf_keras.mixed_precision.LossScaleOptimizer(
      optimizer, initial_scale=1., dynamic_growth_steps=2**31 - 1)


def shard_threads(batch_shards, cores=None):
  """(intra-op, inter-op) threads for `FlowModel(batch_shards=K)` on a CPU.

  K shards run at once, each of its ops on cores // K threads (at least
  1): intra-op max(1, cores // K), inter-op max(2, K). On 2 cores with
  K = 2 that is one thread per op and two ops at a time.

  Args:
    batch_shards: K >= 1.
    cores: the CPU cores to use; None for those this process may run on.

  Returns:
    (intra_op_threads, inter_op_threads).
  """
  batch_shards = _positive_int(batch_shards, "batch_shards")
  if cores is None:
    cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
             else os.cpu_count() or 1)
  return max(1, cores // batch_shards), max(2, batch_shards)


def set_shard_threads(batch_shards, cores=None):
  """Sets TensorFlow's CPU thread pools to `shard_threads(batch_shards, cores)`.

  Call it before TensorFlow runs its first op: the pools are fixed then.

  Args:
    batch_shards: K >= 1, as given to `FlowModel`.
    cores: as for `shard_threads`.

  Returns:
    (intra_op_threads, inter_op_threads) set.

  Raises:
    RuntimeError: TensorFlow has started with other thread counts; the
      message names them and the ones wanted.
  """
  intra, inter = shard_threads(batch_shards, cores)
  threading = tf.config.threading
  try:
    threading.set_intra_op_parallelism_threads(intra)
    threading.set_inter_op_parallelism_threads(inter)
  except RuntimeError:
    raise RuntimeError(
        f"batch_shards={batch_shards} wants {intra} intra-op and {inter} "
        "inter-op threads, but TensorFlow has already started with "
        f"{threading.get_intra_op_parallelism_threads()} and "
        f"{threading.get_inter_op_parallelism_threads()} (0: its default); "
        "call set_shard_threads before any TensorFlow op runs.") from None
  return intra, inter


def _positive_int(value, name):
  """int(value), or a ValueError naming `name` unless it is a whole number >= 1."""
  if isinstance(value, bool) or int(value) != value or value < 1:
    raise ValueError(f"`{name}` must be a positive integer; got {value!r}.")
  return int(value)


def _sharded(fn, data, count):
  """fn(data) of a batch computed as `count` independent parts, concatenated.

  `data` is a nest of [B, ...] tensors and fn maps one to [b] results. Part
  i holds examples [floor(i B / count), floor((i + 1) B / count)). None is
  empty, as oneDNN's convolutions reject an empty batch: with fewer
  examples than parts, an empty part runs on one example of its neighbour
  and its result is dropped.
  """
  flat = tf.nest.flatten(data)
  size = tf.shape(flat[0])[0]
  results = []
  for i in range(count):
    start, end = (i * size) // count, ((i + 1) * size) // count
    index = tf.minimum(tf.range(start, tf.maximum(end, start + 1)), size - 1)
    part = tf.nest.pack_sequence_as(data, [tf.gather(t, index) for t in flat])
    results.append(fn(part)[:end - start])
  return tf.concat(results, axis=0)


# Decay of the recent-NLL average that `compile(skip_spikes=)` compares
# each step with: about the last 50 applied steps.
SPIKE_AVERAGE_DECAY = 0.98


class FlowModel(tf_keras.Model):
  """A tf_keras model whose loss is the mean negative log-likelihood.

  `FlowModel(dist)` wraps any distribution with a `log_prob` (a flow built by
  `tfp_flows.flows`, or TFP's own) so that `compile` + `fit` train its
  variables with Keras progress bars, callbacks and distribution strategies.

  One model for every capability, each an optional argument:

  * Batches: images `x` [B, *event_shape], `(x, y)` tuples or dicts
    (`split_batch`, a public hook a subclass may override). For an
    unconditional flow y is ignored.
  * Conditional flows p(x | c) (built with `context_shape=[C]`): y is the
    context, an integer class label [B] one-hot encoded when `num_classes`
    is given (`context`), or else a context vector [B, C].
  * Dequantization: with a `dequantizer` (`dequantization.
    VariationalDequantizer` or `UniformDequantizer`) batches are bin centres
    x = (k + 0.5) / K (`data.load(..., dequantize=False)`) and the
    per-example objective is the dequantization bound
    L = log p(k/K + u/K | c) - log q(u | k, c), u ~ q (see
    `tfp_flows.dequantization`); its variables train with the flow's.
    Without one, the data are used as given (already dequantized).

  Metrics: `loss` (mean NLL in nats per example, plus any layer losses) and
  `bits_per_dim` (see the module docstring). With `num_levels` set, batches
  outside [0, 1] raise `InvalidArgumentError` naming `x` and the range.

  What the papers' training recipes need, from Keras itself:

  * learning-rate warm-up: `Adam(LinearWarmup(3e-4, 2000))`;
  * gradient-norm clipping: `Adam(..., global_clipnorm=1.)`;
  * an exponential moving average of the weights, used for evaluation and
    export: `Adam(..., use_ema=True, ema_momentum=0.999)` (`fit` writes the
    averages into the weights when it ends);
  * XLA: `compile(..., jit_compile=True)`;
  * mixed precision: `tf_keras.mixed_precision.set_global_policy(
    "mixed_float16")` (or "mixed_bfloat16") before building the flow: the
    conditioner networks compute in half precision while the couplings cast
    their outputs back, so transforms, log-dets and the loss stay float32;
  * any `tf.distribute` strategy: build and compile under `strategy.scope()`;
    the loss is the per-replica sum over the GLOBAL batch size, so gradients
    equal a single-device run's.

  Non-finite steps: `compile` wraps the optimizer in Keras's
  `LossScaleOptimizer`, which applies no update whose gradients hold NaN or
  inf, under any strategy (in float32 its scale stays 1, so nothing else
  changes). The weights stay those of the last good step and the reported
  loss is NaN, so that `NaNGuard` can stop the run.

  Loss spikes: `compile(..., skip_spikes=B)` skips, by the same mechanism,
  any step whose batch NLL lies more than B bits/dim above the recent
  steps' average (an exponential moving average, decay
  `SPIKE_AVERAGE_DECAY`, of the applied steps' NLLs, global over replicas):
  no update, Adam's moments untouched. A finite but astronomically large
  loss (a layer's log-det blowing up on one batch) would otherwise pass the
  non-finite check and its gradient wreck the moments for thousands of
  steps. The `skipped_steps` metric counts the skipped steps of the epoch;
  the reported loss includes them.

  Data-dependent initialisation (ActNorm): `fit` first runs `initialize` on
  its first batches, as many as hold `init_examples` examples (256, as
  Glow's code initialises from 256 images while it trains on batches of
  64), outside any replica context, so every replica starts from the same
  statistics of the same (global) batches. Under
  `MultiWorkerMirroredStrategy` every worker builds the same pipeline (same
  seed) and so initialises from the same global batches: no broadcast
  needed. One batch of 64 is too few for a flow that normalises every pixel
  on its own (NSF's ActNorm on flattened images): an MNIST pixel that is 0
  in all 64 images but inked in 1% of the others got a scale of ~900 (the
  dequantization noise's std), and the NSF scored 46 test bits/dim after 300
  steps against 17 with 256 examples and 5.0 with 2048.

  Batch shards (`batch_shards=K`): the training and evaluation steps cut
  each batch into K parts and compute their log-densities as independent
  branches of the step's graph (one log_prob call each), so TensorFlow's
  inter-op threads run them at the same time; the loss, and so the
  gradient, is the whole batch's (up to rounding). On a CPU this uses the
  cores better than splitting every small op across them, provided the
  thread pools are set for it before TensorFlow starts
  (`set_shard_threads(K)`): on 2 cores, the MNIST Glow and RealNVP of
  docs/mnist.md train 1.27x and 1.31x faster with K = 2. On a GPU leave
  K = 1. The data-dependent initialisation still sees whole batches.

  Example:

  ```python
  dist = tfp_flows.flows.glow([8, 8, 1])
  model = tfp_flows.FlowModel(dist, num_levels=17)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  model.fit(tfp_flows.data.load("digits"), epochs=5)

  # Class-conditional, variationally dequantized Flow++:
  dist = tfp_flows.flows.flowpp([8, 8, 1], context_shape=[10])
  deq = tfp_flows.dequantization.VariationalDequantizer([8, 8, 1],
                                                        context_shape=[10])
  model = tfp_flows.FlowModel(dist, num_levels=17, dequantizer=deq,
                              num_classes=10)
  model.compile(tf_keras.optimizers.Adam(1e-3))
  model.fit(tfp_flows.data.load("digits", dequantize=False,
                                with_labels=True), epochs=5)
  ```
  """

  def __init__(self, distribution, num_levels=None, dequantizer=None,
               num_classes=None, init_examples=256, batch_shards=1,
               **kwargs):
    """Wraps `distribution`.

    Args:
      distribution: a `tfd.Distribution` with a fully defined event shape.
      num_levels: K of the data (17 for digits, 256 for 8-bit images), for
        bits/dim; None for continuous data. Required with a dequantizer.
      dequantizer: anything with `sample_and_log_prob(k / K, seed, context)`
        returning (u, log q(u | k, c)); None to use the data as given.
      num_classes: for a conditional flow trained on class labels: C, the
        labels' one-hot size, which must equal the flow's context shape
        [C]; None when the batches carry context vectors.
      init_examples: at least this many examples (whole batches) of a
        dataset given to `fit` run the data-dependent initialisation.
      batch_shards: K >= 1: the training and evaluation steps compute each
        batch in K concurrent parts (class docstring).
      **kwargs: tf_keras.Model arguments (`name`).

    Raises:
      ValueError: no `num_levels` with a dequantizer; `num_classes` for an
        unconditional flow or one of another context shape; `init_examples`
        or `batch_shards` not a positive integer.
    """
    # The model's own policy is the flow's dtype: under a mixed-precision
    # global policy Keras would otherwise cast the data to half precision.
    kwargs.setdefault("dtype", distribution.dtype)
    super().__init__(**kwargs)
    event_shape = distribution.event_shape
    if not event_shape.is_fully_defined():
      raise ValueError("`distribution` must have a fully defined event shape; "
                       f"got {event_shape}.")
    if dequantizer is not None and not num_levels:
      raise ValueError("`num_levels` (K) is required to dequantize; got "
                       f"{num_levels!r}.")
    self.distribution = distribution
    self.num_levels = num_levels
    self.dequantizer = dequantizer
    self.context_shape = context_lib.context_shape(distribution)
    if num_classes is not None:
      if self.context_shape is None:
        raise ValueError(
            f"`num_classes`={num_classes} needs a conditional flow (built "
            f"with context_shape=[{num_classes}]); {distribution.name} is "
            "not conditional.")
      if self.context_shape.as_list() != [num_classes]:
        raise ValueError(
            f"`num_classes`={num_classes} needs a flow with context_shape "
            f"[{num_classes}] (one-hot labels); got "
            f"{self.context_shape.as_list()}.")
    self.num_classes = num_classes
    self.init_examples = _positive_int(init_examples, "init_examples")
    self.batch_shards = _positive_int(batch_shards, "batch_shards")
    self.event_size = int(np.prod(event_shape.as_list()))
    # B of `compile(skip_spikes=B)`; None: no spike check.
    self.skip_spikes = None
    self.loss_tracker = tf_keras.metrics.Mean(name="loss")
    self.bpd_tracker = tf_keras.metrics.Mean(name="bits_per_dim")

  @property
  def metrics(self):
    if self.skip_spikes is not None:
      return [self.loss_tracker, self.bpd_tracker, self.skipped_tracker]
    return [self.loss_tracker, self.bpd_tracker]

  def split_batch(self, data):
    """(x, y) of a batch; override for another batch layout (`split_batch`)."""
    return evaluation.split_batch(data)

  def context(self, y):
    """The flow's context from a batch's y; None for an unconditional flow.

    With `num_classes`, y holds integer labels [B], one-hot encoded (a label
    out of [0, num_classes) raises an error naming it); else y is the
    context [B, C] itself.
    """
    if self.context_shape is None:
      return None
    if y is None:
      raise ValueError(
          f"{self.distribution.name} is conditional (context shape "
          f"{self.context_shape.as_list()}): batches must be (x, y) with a "
          "class label or context y; got x alone.")
    if self.num_classes is None:
      return y
    y = tf.convert_to_tensor(y)
    if not y.dtype.is_integer:
      raise TypeError("With `num_classes`, `y` must hold integer class labels; "
                      f"got dtype {y.dtype.name}.")
    # tf.one_hot maps an out-of-range label to a zero vector without a word.
    checks = [
        tf.debugging.assert_non_negative(
            y, message="class labels `y` must be >= 0"),
        tf.debugging.assert_less(
            y, tf.cast(self.num_classes, y.dtype),
            message=("class labels `y` must be < "
                     f"num_classes={self.num_classes}")),
    ]
    with tf.control_dependencies(checks):
      return tf.one_hot(y, self.num_classes, dtype=self.distribution.dtype)

  def _dequantize(self, centres, seed, context):
    """(k/K + u/K, log q(u | k, c)) for bin centres (k + 0.5) / K, u ~ q."""
    levels = tf.cast(self.num_levels, centres.dtype)
    scaled = centres - 0.5 / levels
    kwargs = {}
    if getattr(self.dequantizer, "context_shape", None) is not None:
      kwargs["context"] = context
    u, log_q = self.dequantizer.sample_and_log_prob(scaled, seed=seed,
                                                    **kwargs)
    return scaled + u / levels, log_q

  def _log_weights(self, x, context, seed=None):
    """log p(x | c), or with a dequantizer log p(k/K + u/K | c) - log q."""
    if self.dequantizer is None:
      return applications.log_prob(self.distribution, x, context)
    x, log_q = self._dequantize(x, seed, context)
    return applications.log_prob(self.distribution, x, context) - log_q

  def call(self, inputs):
    """Per-example log-density (or dequantization bound) of a batch -> [B]."""
    x, y = self.split_batch(inputs)
    return self._log_weights(self._checked(x), self.context(y))

  def importance_weighted_log_prob(self, x, num_samples, seed=None,
                                   samples_per_pass=None, context=None):
    """log((1/S) sum_s p(k/K + u_s/K | c) / q(u_s | k, c)), u_s ~ q, per example.

    A lower bound on log P(k) + D log K that tightens with S (and equals the
    single-sample bound for S = 1). Needs a dequantizer.

    Args:
      x: bin centres [B, *event_shape].
      num_samples: S.
      seed: TFP seed; None draws a fresh one.
      samples_per_pass: samples evaluated together (memory: this many
        copies of the batch); must divide S. Default: the largest divisor
        of S with samples_per_pass * D <= `_ENTRIES_PER_PASS` (all 16 of
        an 8x8 image's in one pass, MNIST's one at a time: 16 copies of a
        28x28 batch ran Flow++'s attention out of memory).
      context: the flow's context [B, C] (conditional flows), else None.

    Returns:
      [B] tensor.
    """
    if self.dequantizer is None:
      raise ValueError("importance_weighted_log_prob needs a FlowModel with a "
                       "`dequantizer`.")
    per_pass = samples_per_pass
    if per_pass is None:
      per_pass = max(d for d in range(1, num_samples + 1)
                     if num_samples % d == 0 and
                     (d == 1 or d * self.event_size <= _ENTRIES_PER_PASS))
    if num_samples < 1 or per_pass < 1 or num_samples % per_pass:
      raise ValueError(
          f"`num_samples` ({num_samples}) must be a positive multiple of "
          f"`samples_per_pass` ({per_pass}).")
    seed = tfp.random.sanitize_seed(seed)
    batch = tf.shape(x)[0]

    def tile(t):
      return None if t is None else tf.reshape(
          tf.tile(t[tf.newaxis], [per_pass] + [1] * t.shape.rank),
          tf.concat([[-1], tf.shape(t)[1:]], 0))

    tiled, tiled_context = tile(x), tile(context)

    def one_pass(i, total):
      log_w = self._log_weights(
          tiled, tiled_context,
          tf.random.experimental.stateless_fold_in(seed, i))
      log_w = tf.reduce_logsumexp(tf.reshape(log_w, [per_pass, batch]), 0)
      return i + 1, tf.math.reduce_logsumexp(tf.stack([total, log_w]), 0)

    total = tf.fill([batch], tf.constant(-np.inf, x.dtype))
    _, total = tf.while_loop(lambda i, _: i < num_samples // per_pass,
                             one_pass, [tf.constant(0), total])
    return total - math.log(num_samples)

  def compile(self, optimizer="adam", skip_nonfinite=True, skip_spikes=None,
              **kwargs):
    """Keras `compile`, with the step guards of the class docstring.

    Args:
      optimizer: a tf_keras optimizer or its name.
      skip_nonfinite: skip the update of a step with NaN or inf gradients.
      skip_spikes: B > 0: also skip a step whose batch NLL exceeds the
        recent average by more than B bits/dim; None for no such check.
      **kwargs: tf_keras `compile` arguments (`jit_compile`, ...).

    Raises:
      ValueError: `skip_spikes` not a positive number, or given with
        `skip_nonfinite=False` (the skip is the non-finite one's).
    """
    if skip_spikes is not None:
      skip_spikes = float(skip_spikes)
      if not (math.isfinite(skip_spikes) and skip_spikes > 0.):
        raise ValueError("`skip_spikes` must be a positive number of bits/dim "
                         f"or None; got {skip_spikes!r}.")
      if not skip_nonfinite:
        raise ValueError("`skip_spikes` needs `skip_nonfinite=True`: a spike "
                         "is skipped as a non-finite step is.")
      # The average of the applied steps' NLLs (NaN before the first); one
      # value on every replica, so it is kept by the first.
      self.recent_nll = tf.Variable(
          np.nan, dtype=tf.float32, trainable=False, name="recent_nll",
          aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
      self.skipped_tracker = tf_keras.metrics.Sum(name="skipped_steps")
    self.skip_spikes = skip_spikes
    optimizer = tf_keras.optimizers.get(optimizer)
    if skip_nonfinite:
      optimizer = skipping_nonfinite(optimizer)
    super().compile(optimizer=optimizer, **kwargs)

  def uninitialized(self):
    """Sub-modules whose data-dependent init has not run (ActNorm, ...).

    Any module of the flow with a boolean `initialized` variable counts.
    """
    return [m for m in self.distribution.submodules
            if isinstance(getattr(m, "initialized", None), tf.Variable) and
            not m.initialized.numpy()]

  def initialize(self, data):
    """Runs the data-dependent initialisation (ActNorm) on a batch.

    Called eagerly and outside any replica context, so under a strategy every
    replica (and every worker, which reads the same first global batch) gets
    the statistics of this one batch. It also builds the model.
    """
    self(data)

  def fit(self, x=None, *args, **kwargs):
    # Built before Keras's `fit` starts: lazily created variables exist when
    # the optimizer is built, and BackupAndRestore restores into them.
    if isinstance(x, tf.data.Dataset) and (self.uninitialized() or
                                           not self.built):
      self.initialize(_first_examples(
          x, self.init_examples if self.uninitialized() else 1))
    return super().fit(x, *args, **kwargs)

  def make_train_function(self, force=False):
    # `fit`, `train_on_batch` and direct callers all come here first. The
    # optimizer's slots are made now rather than in the first traced step:
    # a tf.function that creates variables is traced twice, and the second
    # trace of a Glow training step costs as much as the first.
    if self.built and self.optimizer is not None:
      with self.distribute_strategy.scope():
        self.optimizer.build(self.trainable_variables)
    return super().make_train_function(force)

  def _checked(self, x):
    """x, asserted to lie in [0, 1] when the data are discrete (num_levels).

    Bits/dim assume pixels dequantized into [0, 1); data on another scale
    (0..255, say) would train and report a meaningless figure without error.
    """
    if self.num_levels is None:
      return x
    checks = [
        tf.debugging.assert_greater_equal(
            x, tf.zeros([], x.dtype), summarize=4, message=(
                "`x` must lie in [0, 1] (pixels dequantized to [0, 1) with "
                f"num_levels={self.num_levels}); found values below 0:")),
        tf.debugging.assert_less_equal(
            x, tf.ones([], x.dtype), summarize=4, message=(
                "`x` must lie in [0, 1] (pixels dequantized to [0, 1) with "
                f"num_levels={self.num_levels}); found values above 1:")),
    ]
    with tf.control_dependencies(checks):
      return tf.identity(x)

  def _nll_and_loss(self, data, training):
    """(mean NLL of this batch, loss to differentiate, loss to report)."""
    if self.batch_shards == 1:
      per_example = -self(data, training=training)
    else:
      per_example = -_sharded(
          lambda part: self(part, training=training), data, self.batch_shards)
    nll = tf.reduce_mean(per_example)
    # Sum over the GLOBAL batch: the optimizer sums replicas' gradients.
    loss = tf.nn.compute_average_loss(per_example)
    report = nll
    if self.losses:
      extra = tf.add_n(self.losses)
      loss += tf.nn.scale_regularization_loss(extra)
      report += extra
    return nll, loss, report

  def _update_metrics(self, nll, loss, training=False):
    self.loss_tracker.update_state(loss)
    self.bpd_tracker.update_state(
        evaluation.bits_per_dim(nll, self.event_size, self.num_levels))
    metrics = self.metrics if training else [self.loss_tracker,
                                             self.bpd_tracker]
    return {m.name: m.result() for m in metrics}

  def _spike_factor(self, nll):
    """1, or NaN for a spike (whose gradients the optimizer then skips).

    Updates the recent average with this step's NLL unless it is a spike.
    """
    context = tf.distribute.get_replica_context()
    if context is not None:
      nll = context.all_reduce(tf.distribute.ReduceOp.MEAN, nll)
    nll = tf.cast(nll, tf.float32)
    recent = self.recent_nll.read_value()
    known = tf.math.is_finite(recent)
    threshold = self.skip_spikes * self.event_size * math.log(2.)
    spike = tf.logical_and(known, nll > recent + threshold)
    average = tf.where(known, SPIKE_AVERAGE_DECAY * recent +
                       (1. - SPIKE_AVERAGE_DECAY) * nll, nll)
    keep = tf.logical_or(spike, tf.logical_not(tf.math.is_finite(nll)))
    self.recent_nll.assign(tf.where(keep, recent, average))
    self.skipped_tracker.update_state(tf.cast(spike, tf.float32))
    return tf.where(spike, tf.constant(np.nan, tf.float32), 1.)

  def train_step(self, data):
    with tf.GradientTape() as tape:
      nll, loss, report = self._nll_and_loss(data, training=True)
      if self.skip_spikes is not None:
        loss *= tf.cast(self._spike_factor(nll), loss.dtype)
    grads_and_vars = self.optimizer.compute_gradients(
        loss, self.trainable_variables, tape=tape)
    self.optimizer.apply_gradients(
        [(g, v) for g, v in grads_and_vars if g is not None])
    return self._update_metrics(nll, report, training=True)

  def test_step(self, data):
    nll, _, report = self._nll_and_loss(data, training=False)
    return self._update_metrics(nll, report)

  def get_config(self):
    # The distribution is Python state built by a builder, not a config.
    return {"num_levels": self.num_levels, "num_classes": self.num_classes,
            "init_examples": self.init_examples,
            "batch_shards": self.batch_shards}


def _first_examples(dataset, count):
  """The first batches of `dataset` holding >= `count` examples, as one batch."""
  batches, seen = [], 0
  for batch in dataset:
    batches.append(batch)
    seen += int(tf.shape(tf.nest.flatten(batch)[0])[0])
    if seen >= count:
      break
  if len(batches) == 1:
    return batches[0]
  return tf.nest.map_structure(lambda *parts: tf.concat(parts, 0), *batches)


def resume_position(backup_dir, steps_per_epoch, save_freq="epoch"):
  """(epoch, step) at which `fit` resumes from `BackupAndRestore(backup_dir)`.

  Reads the counters of the backup in `backup_dir` (the chief's, which every
  worker restores) and applies tf_keras's own rule: a backup at the end of
  epoch `e` (``save_freq="epoch"``, or an integer `save_freq` whose backup
  fell on the epoch's last step) resumes at ``(e + 1, 0)``; a backup after
  step `s` of epoch `e` resumes at ``(e, s + 1)``. `fit` itself then runs
  only the remaining steps of that epoch, but reads them from the start of
  whatever iterator it makes: give it a stream that starts at batch
  ``epoch * steps_per_epoch + step``, e.g.
  ``data.load(..., repeat=True, start_step=...)``, and the resumed run
  trains on exactly the batches an uninterrupted run would have.

  Call it before `fit`, with the `steps_per_epoch` and `save_freq` given to
  `fit` and `BackupAndRestore`.

  Returns:
    ``(0, 0)`` when there is no backup.
  """
  directory = os.path.join(backup_dir, "chief")
  path = tf.train.latest_checkpoint(directory) if tf.io.gfile.isdir(
      directory) else None
  if path is None:
    return 0, 0
  reader = tf.train.load_checkpoint(path)
  epoch, batch = (int(reader.get_tensor(f"{name}/.ATTRIBUTES/VARIABLE_VALUE"))
                  for name in ("ckpt_saved_epoch", "ckpt_saved_batch"))
  if save_freq == "epoch":
    return (epoch + 1, 0) if epoch >= 0 else (0, 0)
  if batch < 0:
    return 0, 0
  if batch == steps_per_epoch - 1:
    return epoch + 1, 0
  return epoch, batch + 1
